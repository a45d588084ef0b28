"""Fixtures for the scoring-app tests: databases (SQLite and a private PostgreSQL), apps, bots.

PostgreSQL: the session starts its own server with ``initdb`` and ``pg_ctl`` in a
temporary folder, listening only on 127.0.0.1 on a free port, with trust
authentication for a superuser named ``dsk``, and stops it at the end. ``initdb``
refuses to run as root, so when the tests run as root the server runs as the
unprivileged ``nobody`` user through ``runuser -u nobody --`` (util-linux, in every
Debian base image); its folder is created directly under the system temporary
directory (world-traversable) and handed to ``nobody``. As a normal user it runs as
that user. Each test gets a fresh database. Set ``DSK_TEST_NO_POSTGRES=1`` to skip
the PostgreSQL half explicitly; otherwise a missing or broken PostgreSQL fails.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Researcher

from dsk.app import create_app, create_researcher


def pytest_configure(config: pytest.Config) -> None:
    # Starlette's TestClient still uses httpx and says so on import.
    config.addinivalue_line("filterwarnings", "ignore:.*httpx2.*")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1; ``url(db)`` gives SQLAlchemy URLs."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("PostgreSQL's initdb/pg_ctl not found on PATH or in "
                               "/usr/lib/postgresql/*/bin; `make test` installs them "
                               "(or set DSK_TEST_NO_POSTGRES=1 to skip)")
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
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c max_connections=300 -c shared_buffers=32MB")
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                   "-w", "-t", "60", "start"])
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
        import psycopg

        name = f"t{next(self._counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=dsk dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if os.environ.get("DSK_TEST_NO_POSTGRES") == "1":
        pytest.skip("DSK_TEST_NO_POSTGRES=1: PostgreSQL tests skipped on request")
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.sqlite3'}"


@pytest.fixture
def make_client(db_url: str):  # type: ignore[no-untyped-def]
    """Build a TestClient (a fresh browser) on the app; one researcher account exists."""
    from fastapi.testclient import TestClient

    create_researcher(db_url, RESEARCHER, RESEARCHER_PASSWORD)
    apps: dict[tuple, object] = {}
    clients: list[TestClient] = []

    def build(**options: object) -> TestClient:
        key = tuple(sorted(options.items()))
        if key not in apps:
            apps[key] = create_app(db_url, **options)  # type: ignore[arg-type]
        client = TestClient(apps[key], base_url="http://127.0.0.1", follow_redirects=True)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
    for app in apps.values():
        app.state.core.engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def researcher(make_client) -> Researcher:  # type: ignore[no-untyped-def]
    bot = Researcher(make_client())
    bot.login()
    return bot
