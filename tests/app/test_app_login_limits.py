"""Log-in back-off in the database, trusted proxies, and the access log without tokens.

The back-off tests move an injected clock instead of sleeping. Client addresses come
from ``TestClient(client=(ADDRESS, PORT))``; "two workers" are two apps on one database,
and a "restart" is a new app on the same database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Practitioner, Researcher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsk.app import create_app, create_researcher
from dsk.app._live import LiveServer, free_port
from dsk.app._logging import RedactLinks, log_config, redact
from dsk.app._models import LoginThrottle
from dsk.app._security import FORGET_AFTER, LoginLimiter

ATTACKER, OWNER, OTHER, PROXY = "203.0.113.7", "198.51.100.2", "192.0.2.44", "10.0.0.2"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 9, 0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def apps(db_url: str, clock: Clock) -> Iterator[list[FastAPI]]:
    """Apps built by ``build(**options)`` on one database, sharing ``clock``."""
    create_researcher(db_url, RESEARCHER, RESEARCHER_PASSWORD)
    made: list[FastAPI] = []
    yield made
    for app in made:
        app.state.core.engine.dispose()


def build(apps: list[FastAPI], db_url: str, clock: Clock, **options: object) -> FastAPI:
    options = {"login_attempts": 3, "login_delay": 10.0, "login_max_delay": 40.0} | options
    app = create_app(db_url, **options)  # type: ignore[arg-type]
    app.state.core.limiter.clock = clock
    apps.append(app)
    return app


def browser(app: FastAPI, address: str, **headers: str) -> Researcher:
    """A researcher's browser connecting from ``address``."""
    client = TestClient(app, base_url="http://127.0.0.1", client=(address, 40000),
                        headers=headers)
    return Researcher(client)


def failures(app: FastAPI) -> dict[str, int]:
    with app.state.core.db() as db:
        return {r.key: r.failures for r in db.scalars(select(LoginThrottle))}


def test_backoff_doubles_up_to_the_cap_and_is_forgotten_after_a_day(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock)
    attacker, limiter = browser(app, ATTACKER), app.state.core.limiter
    for _ in range(2):  # free failures
        assert attacker.login(password="guess").status_code == 401
        assert limiter.retry_after(RESEARCHER, ATTACKER) == 0
    waits = []
    for _ in range(6):
        assert attacker.login(password="guess").status_code == 401
        waits.append(limiter.retry_after(RESEARCHER, ATTACKER))
        r = attacker.login()  # even the right password waits, and is not counted
        assert r.status_code == 429
        assert f"try again in {int(waits[-1])} seconds" in r.text
        clock.advance(waits[-1] - 1)
        assert "try again in 1 second" in attacker.login().text
        clock.advance(1)
    assert waits == [10, 20, 40, 40, 40, 40]
    assert failures(app)[f"client:{ATTACKER}"] == 8
    assert failures(app)[f"account:{RESEARCHER}"] == 8
    clock.advance(FORGET_AFTER.total_seconds())  # a quiet day later, counting restarts
    assert attacker.login(password="guess").status_code == 401
    assert failures(app)[f"client:{ATTACKER}"] == 1
    assert limiter.retry_after(RESEARCHER, ATTACKER) == 0


def test_two_workers_share_the_count_and_a_restart_keeps_it(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    one, two = build(apps, db_url, clock), build(apps, db_url, clock)
    assert browser(one, ATTACKER).login(password="guess 1").status_code == 401
    assert browser(two, ATTACKER).login(password="guess 2").status_code == 401
    assert browser(one, ATTACKER).login(password="guess 3").status_code == 401
    assert browser(two, ATTACKER).login().status_code == 429  # counted by both
    for app in (one, two):
        app.state.core.engine.dispose()
    restarted = build(apps, db_url, clock)
    r = browser(restarted, ATTACKER).login()
    assert r.status_code == 429 and "try again in 10 seconds" in r.text


def test_the_owner_logs_in_from_a_fresh_address_while_the_attacker_waits(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock)
    attacker, limiter = browser(app, ATTACKER), app.state.core.limiter
    for _ in range(6):
        assert attacker.login(password="guess").status_code == 401
        clock.advance(limiter.retry_after(RESEARCHER, ATTACKER))
    clock.advance(-1)
    assert attacker.login().status_code == 429
    owner = browser(app, OWNER)
    r = owner.login()
    assert r.status_code == 200 and str(r.url).endswith("/")
    assert attacker.login().status_code == 429  # the owner's success frees no one else
    # A distributed guesser: a new address gets one guess, then waits for the account.
    helper = browser(app, OTHER)
    assert helper.login(password="another guess").status_code == 401
    r = helper.login()
    assert r.status_code == 429 and "try again in 40 seconds" in r.text
    assert r.headers["retry-after"] == "40"
    assert failures(app)[f"account:{RESEARCHER}"] == 7  # the attacker's 6 and the helper's 1


def test_a_success_forgives_that_address_its_failures_on_that_account(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock, login_attempts=4)
    create_researcher(db_url, "grace", "grace's long password")
    typist = browser(app, OWNER)
    assert typist.login("grace", "not it").status_code == 401
    for _ in range(2):
        assert typist.login(password="typo").status_code == 401
    assert failures(app)[f"client:{OWNER}"] == 3
    assert typist.login().status_code == 200
    counts = failures(app)
    assert counts[f"client:{OWNER}"] == 1  # the failure on another account stays
    assert counts[f"account:{RESEARCHER}"] == 0
    assert f"account+client:{RESEARCHER}|{OWNER}" not in counts


def test_long_user_names_are_keyed_by_a_hash_and_old_counters_are_swept(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock)
    long_name = "x" * 5000  # the key column holds 200 characters
    assert browser(app, ATTACKER).login(long_name, "guess").status_code == 401
    keys = set(failures(app))
    assert f"account:sha256:{hashlib.sha256(long_name.encode()).hexdigest()}" in keys
    assert max(len(k) for k in keys) <= 200
    clock.advance(FORGET_AFTER.total_seconds() + 1)
    assert browser(app, OWNER).login().status_code == 200  # a success sweeps forgotten ones
    assert failures(app) == {}


def test_wrong_current_passwords_count_as_failed_log_ins(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock)
    owner = browser(app, OWNER)
    owner.login()
    for _ in range(3):
        assert owner.change_password("a wrong guess", "a brand new password").status_code == 422
    r = owner.change_password(RESEARCHER_PASSWORD, "a brand new password")
    assert r.status_code == 429 and "too many wrong passwords; try again in 10 seconds" in r.text
    assert browser(app, OWNER).login().status_code == 429
    assert browser(app, OTHER).login().status_code == 200


def test_concurrent_failures_are_all_counted(apps: list[FastAPI], db_url: str,
                                             clock: Clock) -> None:
    one, two = build(apps, db_url, clock), build(apps, db_url, clock)
    limiters: list[LoginLimiter] = [one.state.core.limiter, two.state.core.limiter]
    threads, each = 8, 5
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def fail(i: int) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(each):
                limiters[i % 2].failed(RESEARCHER, f"192.0.2.{i % 4}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=fail, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    assert not errors
    counts = failures(one)
    assert counts[f"account:{RESEARCHER}"] == threads * each
    assert [counts[f"client:192.0.2.{k}"] for k in range(4)] == [10, 10, 10, 10]
    assert counts[f"account+client:{RESEARCHER}|192.0.2.0"] == 10


def test_a_forged_forwarded_for_changes_nothing_without_a_trusted_proxy(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock)
    for n in range(3):
        attacker = browser(app, ATTACKER, **{"X-Forwarded-For": f"198.51.100.{n}"})
        assert attacker.login(password="guess").status_code == 401
    spoofed = browser(app, ATTACKER, **{"X-Forwarded-For": "198.51.100.99"})
    assert spoofed.login().status_code == 429
    assert [k for k in failures(app) if k.startswith("client:")] == [f"client:{ATTACKER}"]


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(
        apps: list[FastAPI], db_url: str, clock: Clock) -> None:
    app = build(apps, db_url, clock, trusted_proxies=["10.0.0.0/24", "127.0.0.1"])
    core = app.state.core
    # The client prepends a forged address; the proxy appends the real one.
    via = browser(app, PROXY, **{"X-Forwarded-For": f"10.0.0.9, {OTHER}, not-an-ip"})
    assert via.login(password="guess").status_code == 401
    direct = browser(app, ATTACKER, **{"X-Forwarded-For": OWNER})  # not through the proxy
    assert direct.login(password="guess").status_code == 401
    clients = sorted(k for k in failures(app) if k.startswith("client:"))
    assert clients == [f"client:{OTHER}", f"client:{ATTACKER}"]
    assert core.trusted_proxies[0].num_addresses == 256
    with pytest.raises(ValueError, match=r"--trusted-proxy: .* got 'proxy\.example\.org'"):
        create_app(db_url, trusted_proxies=["proxy.example.org"])


def test_the_access_log_filter_hides_links_and_query_values() -> None:
    assert redact("/p/abc_DEF-123") == "/p/[link]"
    assert redact("/p/abc/next?a=1&b=") == "/p/[link]/next?a=[value]&b=[value]"
    assert redact("/studies/4/export.csv") == "/studies/4/export.csv"
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s "%s %s" %d',
                               ("1.2.3.4:5", "GET", "/p/SECRET?x=SECRET", 200), None)
    assert RedactLinks().filter(record)
    assert "SECRET" not in record.getMessage() and "/p/[link]?x=[value]" in record.getMessage()
    assert log_config()["handlers"]["access"]["filters"] == ["redact"]


def test_the_access_log_of_a_live_server_names_no_token(sqlite_url: str, tmp_path: Path) -> None:
    create_researcher(sqlite_url, RESEARCHER, RESEARCHER_PASSWORD)
    log = tmp_path / "server.log"
    with LiveServer(sqlite_url, log=log) as server, httpx.Client(
            base_url=server.url, follow_redirects=True) as client:
        researcher = Researcher(client)
        assert researcher.login().status_code == 200
        link = researcher.links(researcher.create_study(n_participants=1))[0]
        token = link.rsplit("/", 1)[1]
        with httpx.Client(base_url=server.url, follow_redirects=True) as browser_of_p:
            assert Practitioner(browser_of_p, link).consent().status_code == 200
    text = log.read_text()
    assert re.search(r'"GET /p/\[link\] HTTP/1\.1" 200', text), text[-2000:]
    assert re.search(r'"POST /p/\[link\] HTTP/1\.1" 303', text), text[-2000:]
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert token not in text


def test_serve_access_log_option_writes_the_file(sqlite_url: str, tmp_path: Path) -> None:
    log, port = tmp_path / "access.log", free_port()
    secret = "x" * 43
    process = subprocess.Popen(
        [sys.executable, "-m", "dsk.app", "--db", sqlite_url, "--port", str(port),
         "--access-log", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(300):  # up to 30 s for the server to start
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/p/{secret}?next={secret}").status_code == 404
    finally:
        process.terminate()
        process.wait(timeout=10)
    text = log.read_text()
    assert '"GET /p/[link]?next=[value] HTTP/1.1" 404' in text and secret not in text


def test_serve_passes_trusted_proxies_and_the_log_to_uvicorn(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from dsk.cli import app as dsk_cli

    calls: list[tuple[FastAPI, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    runner = CliRunner()
    log = tmp_path / "access.log"
    done = runner.invoke(dsk_cli, ["serve", "--db", sqlite_url, "--trusted-proxy", "127.0.0.1",
                                   "--trusted-proxy", "fd00::/8", "--access-log", str(log)])
    assert done.exit_code == 0, done.output
    (app, options), = calls
    assert [str(n) for n in app.state.core.trusted_proxies] == ["127.0.0.1/32", "fd00::/8"]
    assert options["proxy_headers"] is False and options["access_log"] is True
    assert options["log_config"]["handlers"]["access"]["filename"] == str(log)  # type: ignore[index]
    app.state.core.engine.dispose()
    bad = runner.invoke(dsk_cli, ["serve", "--db", sqlite_url, "--trusted-proxy", "10.0.0.300"])
    assert bad.exit_code == 1
    assert "--trusted-proxy: expected an IP address or network" in bad.output
    assert "'10.0.0.300'" in bad.output and len(calls) == 1
