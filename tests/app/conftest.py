"""Fixtures for the scoring-app tests: databases (SQLite and a private PostgreSQL), apps, bots.

PostgreSQL: the session starts its own server (:class:`dsk.app._pgtest.PostgresServer`:
``initdb`` and ``pg_ctl`` in a temporary folder, listening only on 127.0.0.1 on a free
port, trust authentication for a superuser named ``dsk``; as ``nobody`` when the tests
run as root) and stops it at the end. Each test gets a fresh database. Set
``DSK_TEST_NO_POSTGRES=1`` to skip the PostgreSQL half explicitly; otherwise a missing
or broken PostgreSQL fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Researcher
from app_mail import Inbox, SmtpServer, free_port

from dsk.app import create_app, create_researcher
from dsk.app._pgtest import PostgresServer


def pytest_configure(config: pytest.Config) -> None:
    # Starlette's TestClient still uses httpx and says so on import.
    config.addinivalue_line("filterwarnings", "ignore:.*httpx2.*")
    config.addinivalue_line("markers", "postgres_reliability: the PostgreSQL reliability test "
                                       "(several workers, a killed worker, a server restart)")


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


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; ``smtp.inbox`` holds what it received."""
    server = SmtpServer(free_port(), Inbox())
    server.start()
    yield server
    server.stop()
