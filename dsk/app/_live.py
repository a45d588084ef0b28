"""A scoring-app server in a child process on 127.0.0.1, for tests and benchmarks.

``python -m dsk.app`` runs in its own process (and process group) so that it can be
killed outright (SIGKILL) and restarted on the same database. With ``workers`` > 1
(PostgreSQL only) that process is uvicorn's supervisor and the requests are served by
its worker processes, which it replaces when one dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """``with LiveServer(db_url) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(self, db_url: str, port: int | None = None, log: Path | None = None,
                 workers: int = 1) -> None:
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LiveServer:
        out: Any = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dsk.app", "--db", self.db_url, "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers)],
            stdout=out, stderr=subprocess.STDOUT if self.log else subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scoring app exited with {self.process.returncode} "
                                   f"before it answered (log: {self.log})")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"scoring app did not answer on {self.url} within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL the server and its workers: no shutdown handlers, no flushing: what a
        crash looks like."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._kill_group()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._kill_group()

    def _kill_group(self) -> None:
        """SIGKILL whatever is left of the server's process group (orphaned workers)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
