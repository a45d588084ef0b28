"""Reliability on a live server at 127.0.0.1: 50 concurrent practitioners, and a SIGKILL.

Each practitioner is a thread with its own httpx client (its own cookies). A
response counts as committed when the server answered the POST with its 303
redirect, which it sends only after the transaction committed.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
from app_bots import Practitioner, Researcher, csrf_of, default_answer, form_token_of
from sqlalchemy import select

from dsk.app import create_researcher, open_database
from dsk.app._live import LiveServer
from dsk.app._models import Participant, Response
from dsk.app._study import rater_id
from dsk.io import read_table

N, DECK = 50, 4


def _setup(server: LiveServer) -> tuple[Researcher, int, dict[str, str]]:
    bot = Researcher(httpx.Client(base_url=server.url, follow_redirects=True, timeout=60))
    assert bot.login().status_code == 200
    study = bot.create_study(title="Load", deck_size=DECK, n_participants=N, rounds=1)
    links = bot.links_with_raters(study)
    assert len(links) == N and all(link.startswith(server.url) for link in links)
    return bot, study, links


def _export(bot: Researcher, study: int, tmp_path: Path, db_url: str) -> pd.DataFrame:
    """Every saved answer of the study. The export holds only submitted rounds ("Submit
    my answers"), which these practitioners, stopped mid-deck, never reach; so the
    answers are read from the database, after checking the export answers."""
    r = bot.client.get(f"/studies/{study}/judgements.parquet")
    assert r.status_code == 200, r.text
    (tmp_path / "j.parquet").write_bytes(r.content)
    read_table(tmp_path / "j.parquet", "judgements")
    with open_database(db_url) as db:
        rows = db.execute(select(Participant.number, Response.vignette_id, Response.round,
                                 Response.need_level)
                          .join(Participant, Participant.id == Response.participant_id)
                          .where(Response.study_id == study)).all()
    return pd.DataFrame([(rater_id(study, n), v, r, lvl) for n, v, r, lvl in rows],
                        columns=["rater_id", "vignette_id", "round", "need_level"])


def _practitioner(url: str, link: str, committed: list, lock: threading.Lock,
                  stop: threading.Event | None = None) -> int:
    """Consent, then answer the deck; replay the first form at once from a second thread."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=60) as client:
        bot = Practitioner(client, link)
        r = bot.consent()
        assert r.status_code == 303, r.text
        answered = 0
        for position in range(DECK):
            if stop is not None and stop.is_set():
                break
            page = client.get("/s").text
            if 'name="form_token"' not in page:
                break
            data = default_answer(position) | {"csrf_token": csrf_of(page),
                                               "form_token": form_token_of(page)}
            if position == 0:  # a double click: the same form twice, concurrently
                with ThreadPoolExecutor(2) as pool:
                    results = list(pool.map(lambda _, d=data: client.post("/s/answer", data=d), [0, 1]))
                codes = sorted(r.status_code for r in results)
                assert codes == [303, 409], codes
            else:
                r = client.post("/s/answer", data=data)
                assert r.status_code == 303, r.text
            answered += 1
            with lock:
                committed.append((link, position, data["need_level"]))
        return answered


def test_fifty_concurrent_practitioners(db_url: str, tmp_path: Path) -> None:
    create_researcher(db_url, "ada", "correct horse battery")
    with LiveServer(db_url, log=tmp_path / "server.log") as server:
        bot, study, links = _setup(server)
        committed: list = []
        lock = threading.Lock()
        with ThreadPoolExecutor(N) as pool:
            done = list(pool.map(lambda link: _practitioner(server.url, link, committed, lock),
                                 links))
        assert done == [DECK] * N
        table = _export(bot, study, tmp_path, db_url)
    assert len(committed) == N * DECK
    assert len(table) == N * DECK  # none lost
    assert not table.duplicated(["rater_id", "vignette_id", "round"]).any()  # none doubled
    assert table["rater_id"].nunique() == N
    assert (table.groupby("rater_id").size() == DECK).all()


def test_killed_server_loses_no_committed_answer(db_url: str, tmp_path: Path) -> None:
    create_researcher(db_url, "ada", "correct horse battery")
    server = LiveServer(db_url, log=tmp_path / "server.log").start()
    try:
        bot, study, raters = _setup(server)
        links = list(raters)
        committed: list = []
        lock = threading.Lock()
        stop = threading.Event()

        def play(link: str) -> None:
            try:
                _practitioner(server.url, link, committed, lock, stop)
            except (httpx.TransportError, AssertionError):
                pass  # the server died under this practitioner

        def killer() -> None:
            while True:
                with lock:
                    if len(committed) >= N:
                        break
                threading.Event().wait(0.005)
            server.kill()  # SIGKILL mid-run
            stop.set()

        watcher = threading.Thread(target=killer)
        watcher.start()
        with ThreadPoolExecutor(N) as pool:
            list(pool.map(play, links))
        watcher.join()
        assert server.process is not None and server.process.returncode == -9
        confirmed = len(committed)
        assert N <= confirmed < N * DECK  # killed mid-run
        assert not any(link for link, *_ in committed if link not in raters)
        server = LiveServer(db_url, log=tmp_path / "server.log").start()
        bot.client = httpx.Client(base_url=server.url, follow_redirects=True, timeout=60,
                                  cookies=bot.client.cookies)
        table = _export(bot, study, tmp_path, db_url)
        assert not table.duplicated(["rater_id", "vignette_id", "round"]).any()
        assert len(table) >= confirmed  # every committed answer survived ...
        stored = {rid: set(group["need_level"]) for rid, group in table.groupby("rater_id")}
        for link, _position, level in committed:  # ... with the level that was sent
            assert int(level) in stored[raters[link]], (raters[link], level)
    finally:
        server.stop()

