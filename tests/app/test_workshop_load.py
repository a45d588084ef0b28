"""A room of 60 phones on loopback: every vote counted once, no state missed.

Against a live server (:class:`dsk.app._live.LiveServer`), 60 phones join one
workshop and listen to its Server-Sent Events. On each of 3 cases every phone votes
(some change their vote, some send the same vote twice at once), the trainer reveals
the room's answers and moves on. A third of the phones drop their event stream while
the trainer moves on and reconnect; the stream sends the current state on connect,
so they catch up. Checks: each case's count is 60 and the export has each phone's
last vote once; every phone's versions only grow, the phones that stayed connected
saw every version, and every phone ends on the final one.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
from app_bots import csrf_of

from dsk.app import create_researcher
from dsk.app._live import LiveServer

PHONES = 60
_CODE = re.compile(r'id="code">([A-Z0-9]+)<')


class Listener:
    """One phone's event stream in a thread: the versions it saw, in order."""

    def __init__(self, base: str, cookies: httpx.Cookies) -> None:
        self.base, self.cookies = base, cookies
        self.versions: list[int] = []
        self.seen = threading.Condition()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None

    def start(self) -> None:
        self.stop.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        client = httpx.Client(base_url=self.base, cookies=self.cookies, timeout=30)
        try:
            with client.stream("GET", "/w/events") as stream:
                self.sock = stream.extensions["network_stream"].get_extra_info("socket")
                for line in stream.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("data:"):
                        state = json.loads(line[5:])
                        with self.seen:
                            self.versions.append(int(state["version"]))
                            self.seen.notify_all()
                        if state["status"] != "open":
                            return
        except httpx.HTTPError:
            if not self.stop.is_set():  # only a drop closes the stream early
                raise
        finally:
            client.close()

    def drop(self) -> None:
        """Cut the connection (a phone locked or out of Wi-Fi) at once, not at the next ping."""
        self.stop.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on reading
            except OSError:
                pass  # the stream had ended already
        if self.thread is not None:
            self.thread.join(timeout=30)
            assert not self.thread.is_alive(), "a dropped stream did not close"

    def wait_for(self, version: int, timeout: float = 20.0) -> bool:
        with self.seen:
            return self.seen.wait_for(lambda: bool(self.versions) and
                                      self.versions[-1] >= version, timeout)


def _trainer(base: str, db_url: str) -> httpx.Client:
    create_researcher(db_url, "tina", "correct horse battery")
    import sqlite3

    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE researchers SET is_trainer = 1")
    client = httpx.Client(base_url=base, follow_redirects=True, timeout=30)
    page = client.get("/login").text
    client.post("/login", data={"username": "tina", "password": "correct horse battery",
                                "csrf_token": csrf_of(page)})
    return client


def _step(trainer: httpx.Client, action: str) -> int:
    page = trainer.get("/workshops/1").text
    r = trainer.post("/workshops/1/step", data={"csrf_token": csrf_of(page), "action": action})
    assert r.status_code == 200, r.text
    return int(trainer.get("/workshops/1/state").json()["version"])


def _vote(client: httpx.Client, token: str, case: str, level: int) -> int:
    return client.post("/w/vote", data={"csrf_token": token, "vignette_id": case,
                                        "need_level": str(level)}).status_code


def test_sixty_phones(sqlite_url: str, tmp_path: Path) -> None:
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server:
        base = server.url
        trainer = _trainer(base, sqlite_url)
        page = trainer.get("/workshops").text
        data = {"csrf_token": csrf_of(page), "title": "Load", "set_id": "training-12",
                "cases": "tame-01-disclosure, tame-02-universal, wicked-05-toxic-trio-baby",
                "reference": "", "panel_seed": "1"}
        r = trainer.post("/workshops", data=data)
        code = _CODE.search(r.text).group(1)  # type: ignore[union-attr]

        phones = [httpx.Client(base_url=base, follow_redirects=True, timeout=30)
                  for _ in range(PHONES)]

        def join(phone: httpx.Client) -> str:
            token = csrf_of(phone.get("/w").text)
            assert phone.post("/w", data={"csrf_token": token, "code": code}).status_code == 200
            return token

        tokens = [join(phone) for phone in phones]  # in order: phone i is rater i
        listeners = [Listener(base, phone.cookies) for phone in phones]
        for listener in listeners:
            listener.start()
        version = int(trainer.get("/workshops/1/state").json()["version"])
        assert all(listener.wait_for(version) for listener in listeners)

        cases = ["tame-01-disclosure", "tame-02-universal", "wicked-05-toxic-trio-baby"]
        expected: dict[tuple[str, int], int] = {}
        dropped = listeners[::3]
        for n, case in enumerate(cases):
            def votes(i: int, case: str = case) -> list[int]:
                first = 1 + (i % 4)
                codes = [_vote(phones[i], tokens[i], case, first)]
                if i % 5 == 0:  # a changed vote
                    codes.append(_vote(phones[i], tokens[i], case, 1 + (first % 4)))
                if i % 7 == 0:  # the same vote twice at once
                    with ThreadPoolExecutor(2) as twice:
                        codes += list(twice.map(
                            lambda _: _vote(phones[i], tokens[i], case, 2), range(2)))
                return codes

            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(votes, range(PHONES)))
            assert all(code in (200, 409) for codes in results for code in codes)
            for i in range(PHONES):
                final = 1 + (i % 4)
                if i % 5 == 0:
                    final = 1 + (final % 4)
                if i % 7 == 0:
                    final = 2
                expected[(case, i)] = final
            assert trainer.get("/workshops/1/state").json()["voted"] == PHONES
            version = _step(trainer, "reveal")
            assert all(listener.wait_for(version) for listener in listeners)
            if n < len(cases) - 1:
                if n == 1:
                    for listener in dropped:
                        listener.drop()
                version = _step(trainer, "next")
                if n == 1:
                    time.sleep(0.5)
                    for listener in dropped:
                        listener.start()
                assert all(listener.wait_for(version) for listener in listeners), \
                    "a phone did not reach the trainer's state"
        version = _step(trainer, "end")
        assert all(listener.wait_for(version) for listener in listeners)
        for listener in listeners:
            listener.drop()

        for listener in listeners:
            assert listener.versions == sorted(listener.versions)
            assert listener.versions[-1] == version
        kept = [listener for listener in listeners if listener not in dropped]
        for listener in kept:
            assert sorted(set(listener.versions)) == list(range(1, version + 1))

        export = trainer.get("/workshops/1/judgements.csv")
        table = pd.read_csv(io.StringIO(export.text))
        assert len(table) == PHONES * len(cases)
        assert not table.duplicated(["vignette_id", "rater_id", "round"]).any()
        raters = sorted(table["rater_id"].unique())
        got = {(row.vignette_id, raters.index(row.rater_id)): row.need_level
               for row in table.itertuples()}
        assert got == expected
        for client in [*phones, trainer]:
            client.close()
