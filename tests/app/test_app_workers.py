"""Several worker processes: ``dsk serve --workers N`` (PostgreSQL), and database outages.

The reliability test (marked ``postgres_reliability``) runs 100 concurrent
practitioners against a live server with 2 uvicorn workers on the session's private
PostgreSQL server. While they score, one worker is killed with SIGKILL and then the
PostgreSQL server is restarted. Practitioners retry (a bounded number of times, with
a small back-off) on connection errors and on the app's 503 "try again" page,
re-sending the same form. A POST counts as confirmed only when it got its 303.
Afterwards every confirmed answer is in the export exactly once, and everyone has
finished their deck.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest
from app_bots import Practitioner, Researcher, csrf_of, default_answer, form_token_of
from typer.testing import CliRunner

from dsk.app import create_researcher
from dsk.app._live import LiveServer
from dsk.app._pgtest import PostgresServer
from dsk.cli import app as dsk_cli
from dsk.io import read_table

N, DECK, WORKERS = 100, 4, 2
#: Tries of one request before a practitioner gives up (0.05 s, 0.1 s, ... up to 1 s apart).
TRIES = 40


def _retrying(send: Callable[[], httpx.Response]) -> httpx.Response:
    """``send()`` until it is answered with anything but a 503; connection errors and 503s
    are retried at most :data:`TRIES` times."""
    for attempt in range(TRIES):
        try:
            r = send()
        except httpx.TransportError:
            pass
        else:
            if r.status_code != 503:
                return r
            assert r.headers["retry-after"] == "2", r.headers
            assert "the database is not reachable; try again in a moment" in r.text
        time.sleep(min(0.05 * 2 ** attempt, 1.0))
    raise AssertionError(f"no answer after {TRIES} tries")


def _workers(server: LiveServer) -> list[psutil.Process]:
    """uvicorn's worker processes: the supervisor's children started by multiprocessing."""
    assert server.process is not None
    found = []
    for child in psutil.Process(server.process.pid).children():
        try:  # a killed worker is a zombie until the supervisor reaps it: not a worker
            if (child.status() != psutil.STATUS_ZOMBIE
                    and any("spawn_main" in part for part in child.cmdline())):
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


def _wait_for_workers(server: LiveServer, exclude: int | None = None) -> list[int]:
    for _ in range(300):
        pids = [w.pid for w in _workers(server) if w.pid != exclude and w.is_running()]
        if len(pids) == WORKERS:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"{WORKERS} workers did not come up: {pids}")


class _Run:
    """What the practitioners have confirmed (a 303 to their POST), shared by the threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.confirmed: list[tuple[str, str]] = []  # (link, rationale)
        self.replayed = 0  # POSTs answered 409: committed earlier, the 303 was lost

    def count(self) -> int:
        with self.lock:
            return len(self.confirmed)


def _practitioner(url: str, link: str, run: _Run, consented: threading.Barrier) -> str:
    """Consent, wait for everyone, then answer the whole deck; return the last page."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
        bot = Practitioner(client, link)
        r = bot.consent()
        assert r.status_code == 303, r.text
        consented.wait(timeout=120)
        for _ in range(DECK + 5):
            page = _retrying(lambda: client.get("/s"))
            assert page.status_code == 200, page.text
            if 'action="/s/submit"' in page.text:  # every case answered: the review page
                data = {"csrf_token": csrf_of(page.text), "round": "1"}
                r = _retrying(lambda d=data: client.post("/s/submit", data=d))  # type: ignore[misc]
                assert r.status_code == 303, r.text
                continue
            if 'name="form_token"' not in page.text:
                return page.text
            case = re.search(r"<h1>Case (\d+) of", page.text)
            assert case, page.text
            position = int(case.group(1)) - 1
            data = default_answer(position) | {"csrf_token": csrf_of(page.text),
                                               "form_token": form_token_of(page.text)}
            r = _retrying(lambda d=data: client.post("/s/answer", data=d))  # type: ignore[misc]
            assert r.status_code in (303, 409), r.text
            with run.lock:
                if r.status_code == 303:
                    run.confirmed.append((link, data["rationale"]))
                else:
                    assert "already submitted" in r.text, r.text
                    run.replayed += 1
        raise AssertionError(f"{link}: the deck did not end after {DECK} answers")


@pytest.mark.postgres_reliability
def test_two_workers_survive_a_killed_worker_and_a_postgres_restart(
        postgres: PostgresServer, tmp_path: Path) -> None:
    db = postgres.new_database()
    create_researcher(db, "ada", "correct horse battery")
    with LiveServer(db, log=tmp_path / "server.log", workers=WORKERS) as server:
        first = _wait_for_workers(server)
        bot = Researcher(httpx.Client(base_url=server.url, follow_redirects=True, timeout=60))
        assert bot.login().status_code == 200
        study = bot.create_study(title="Workers", deck_size=DECK, n_participants=N, rounds=1)
        raters = bot.links_with_raters(study)
        assert len(raters) == N

        run = _Run()
        consented = threading.Barrier(N)
        events: dict[str, int] = {}

        def chaos() -> None:
            """Kill a worker a quarter of the way in, restart PostgreSQL halfway."""
            for name, at in (("kill", N * DECK // 4), ("restart", N * DECK // 2)):
                for _ in range(6000):
                    if run.count() >= at:
                        break
                    time.sleep(0.005)
                events[name] = run.count()
                if name == "kill":
                    victim = _workers(server)[0]
                    events["victim"] = victim.pid
                    victim.send_signal(signal.SIGKILL)
                else:
                    postgres.restart()
            events["after"] = run.count()

        troublemaker = threading.Thread(target=chaos)
        troublemaker.start()
        with ThreadPoolExecutor(N) as pool:
            last = list(pool.map(lambda link: _practitioner(server.url, link, run, consented),
                                 raters))
        troublemaker.join(timeout=120)

        # both blows landed while practitioners were still answering
        assert events["kill"] < N * DECK and events["after"] < N * DECK, events
        # the killed worker was replaced by uvicorn's supervisor
        now = _wait_for_workers(server, exclude=events["victim"])
        assert events["victim"] in first and events["victim"] not in now
        r = _retrying(lambda: bot.client.get(f"/studies/{study}/judgements.parquet"))
        assert r.status_code == 200, r.text
        (tmp_path / "j.parquet").write_bytes(r.content)
        table: pd.DataFrame = read_table(tmp_path / "j.parquet", "judgements")

    assert all("All done" in page for page in last)  # everyone carried on to the end
    assert len(run.confirmed) + run.replayed == N * DECK
    assert len(set(run.confirmed)) == len(run.confirmed)
    assert len(table) == N * DECK
    assert not table.duplicated(["rater_id", "vignette_id", "round"]).any()
    stored = list(zip(table["rater_id"], table["rationale"], strict=True))
    assert len(set(stored)) == N * DECK
    for link, rationale in run.confirmed:  # every confirmed answer, exactly once
        assert stored.count((raters[link], rationale)) == 1, (raters[link], rationale)


def test_an_unreachable_database_answers_503_and_the_form_can_be_sent_again(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import IntegrityError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from dsk.app import _study as st
    from dsk.app import create_app

    create_researcher(sqlite_url, "ada", "correct horse battery")
    app = create_app(sqlite_url)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        bot = Researcher(client)
        bot.client.follow_redirects = True
        assert bot.login().status_code == 200
        study = bot.create_study(deck_size=2, n_participants=1, rounds=1)
        link = bot.links(study)[0]
        bot.client.follow_redirects = False
        practitioner = Practitioner(client, link)
        assert practitioner.consent().status_code == 303
        page = practitioner.page().text
        real = st.save_answer

        def down(*args: object, **kwargs: object) -> None:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection "
                                                           "unexpectedly"))

        def no_connection(*args: object, **kwargs: object) -> None:
            raise PoolTimeout("QueuePool limit of size 20 overflow 20 reached")

        for failure in (down, no_connection):
            monkeypatch.setattr(st, "save_answer", failure)
            r = practitioner.submit(page, default_answer(0))
            assert r.status_code == 503
            assert r.headers["retry-after"] == "2"
            assert "the database is not reachable; try again in a moment" in r.text
        monkeypatch.setattr(st, "save_answer", real)
        r = practitioner.submit(page, default_answer(0))  # the same form, sent again
        assert r.status_code == 303
        r = practitioner.submit(page, default_answer(0))  # now it has been used
        assert r.status_code == 409

        def broken(*args: object, **kwargs: object) -> None:
            raise IntegrityError("INSERT", {}, Exception("a bug, not an outage"))

        monkeypatch.setattr(st, "deck_and_done", broken)
        with pytest.raises(IntegrityError):  # other database errors are not hidden as 503
            practitioner.page()
    app.state.core.engine.dispose()


def test_a_worker_builds_its_app_from_every_setting_the_parent_gave(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dsk.app import _asgi

    create_researcher(sqlite_url, "ada", "correct horse battery")  # migrated by the "parent"
    settings = {"db_url": sqlite_url, "public_url": "https://study.example.org:8443",
                "secure_cookies": True, "threads": 3}
    monkeypatch.setenv(_asgi.SETTINGS, _asgi.settings_json(settings))
    app = _asgi.create()
    core = app.state.core
    assert (core.public_url, core.secure_cookies, core.threads) == (
        "https://study.example.org:8443", True, 3)
    assert core.csrf_cookie == "__Host-dsk_csrf"
    core.engine.dispose()


def test_worker_connections_send_without_waiting_for_acks() -> None:
    """The workers' listening socket is marked as TCP, so asyncio turns Nagle's algorithm
    off on every accepted connection (uvicorn's own socket leaves it on)."""
    import asyncio
    import socket

    import uvicorn

    from dsk.app._asgi import tcp_listener

    def nodelay(listener: socket.socket) -> int:
        async def accept_one() -> int:
            accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            class Probe(asyncio.Protocol):
                def connection_made(self, transport: asyncio.BaseTransport) -> None:
                    sock = transport.get_extra_info("socket")
                    accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                    transport.close()

            server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            result = await asyncio.wait_for(accepted, 10)
            writer.close()
            server.close()
            return result

        # in a thread of its own: an earlier test (Playwright's sync API) may have left an
        # event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, accept_one()).result()

    listener = tcp_listener(uvicorn.Config("dsk.app._asgi:create", host="127.0.0.1", port=0))
    assert listener.proto == socket.IPPROTO_TCP
    assert nodelay(listener) != 0


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "app.sqlite3"
    result = CliRunner().invoke(dsk_cli, ["serve", "--db", f"sqlite:///{db}", "--workers", "2"])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert message.startswith("error: workers: --workers 2 needs PostgreSQL; SQLite has one "
                              "writer at a time"), message
    assert not db.exists()  # refused before the database was touched
    result = CliRunner().invoke(dsk_cli, ["serve", "--db", f"sqlite:///{db}", "--workers", "0"])
    assert result.exit_code == 1
    assert "workers: expected at least 1 worker process, got 0" in result.output
