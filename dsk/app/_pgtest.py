"""A throwaway PostgreSQL server on 127.0.0.1, for the app's tests and benchmarks.

:class:`PostgresServer` starts its own cluster with ``initdb`` and ``pg_ctl`` in a
temporary folder, listening only on 127.0.0.1 on a free port, with trust
authentication for a superuser named ``dsk``; :meth:`PostgresServer.stop` removes it.
``initdb`` refuses to run as root, so when run as root the server runs as the
unprivileged ``nobody`` user through ``runuser -u nobody --`` (util-linux, in every
Debian base image); its folder is created directly under ``/tmp`` (world-traversable)
and handed to ``nobody``. As a normal user it runs as that user.
:func:`postgres_missing` says why no server can be started, if it cannot.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from ._live import free_port


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def postgres_missing() -> str | None:
    """Why :class:`PostgresServer` cannot start here (its programs are missing), or None."""
    if _pg_bin("initdb") and _pg_bin("pg_ctl"):
        return None
    return ("PostgreSQL's initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin; "
            "`make test` installs them")


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1; ``url(db)`` gives SQLAlchemy URLs."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError(f"{postgres_missing()} (or set DSK_TEST_NO_POSTGRES=1 to skip)")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="dsk-pg-", dir="/tmp"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "nobody", "--"]
        self.data = self.root / "data"
        self.port = free_port()
        self._run([initdb, "-D", str(self.data), "-U", "dsk", "--auth=trust", "-E", "UTF8",
                   "--no-sync", "--no-instructions"])
        self.options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                        "-c max_connections=300 -c shared_buffers=32MB")
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-o",
                   self.options, "-w", "-t", "60", "start"])
        self._counter = itertools.count()

    def _run(self, args: list[str]) -> None:
        done = subprocess.run(self.prefix + args, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): "
                               f"{done.stderr.strip()} {tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://dsk@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        name = f"t{next(self._counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=dsk dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def pid(self) -> int:
        """The process id of the server (the postmaster, parent of every backend)."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -m fast -w``): every client connection is
        cut, and the server is back when this returns."""
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-o",
                   self.options, "-m", "fast", "-w", "-t", "60", "restart"])

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
