"""Workshop mode with a room of 60 phones on loopback (``python -m dsk.app``, SQLite).

60 phones join one workshop and listen to its Server-Sent Events; on each of 5 cases
every phone votes once at a moment drawn uniformly over the first 5 seconds (seeded:
a room does not press at the same millisecond), then the trainer reveals the room's
answers and moves to the next case. Measured: the latency of a vote submission (the
POST, up to its redirect) and the time from the trainer sending a reveal to each
phone receiving the new state on its event stream. The phones are threads of this
process, so their own time is included in the numbers.

Rows: p50 and p95 of each; targets: vote p95 < 100 ms, reveal-to-phone p95 < 500 ms.
"""

from __future__ import annotations

import random
import re
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from benchmarks._harness import Row
from dsk.app import create_researcher
from dsk.app._live import LiveServer

PHONES, CASES = 60, 5
SPREAD, SEED = 5.0, 20261202
VOTE_TARGET, REVEAL_TARGET = 0.100, 0.500
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODE = re.compile(r'id="code">([A-Z0-9]+)<')


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "page has no CSRF token"
    return found.group(1)


def _listen(base: str, cookies: httpx.Cookies, arrivals: dict[int, float],
            stop: list[bool]) -> None:
    import json

    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as client, \
            client.stream("GET", "/w/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                state = json.loads(line[5:])
                arrivals.setdefault(int(state["version"]), time.perf_counter())
                if state["status"] != "open" or stop[0]:
                    return


def _measure(db: str) -> list[Row]:
    import threading

    create_researcher(db, "bench", "bench password")
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE researchers SET is_trainer = 1")
    with LiveServer(db) as server:
        base = server.url
        trainer = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
        page = trainer.get("/login").text
        trainer.post("/login", data={"username": "bench", "password": "bench password",
                                     "csrf_token": _csrf(page)})
        page = trainer.get("/workshops").text
        r = trainer.post("/workshops", data={"csrf_token": _csrf(page), "title": "Bench",
                                             "set_id": "training-12", "cases": "",
                                             "reference": "", "panel_seed": "1"})
        code = _CODE.search(r.text).group(1)  # type: ignore[union-attr]
        cases = re.findall(r"Case 1 of (\d+)", r.text)
        assert cases and int(cases[0]) >= CASES
        phones, tokens = [], []
        for _ in range(PHONES):
            phone = httpx.Client(base_url=base, follow_redirects=True, timeout=60)
            token = _csrf(phone.get("/w").text)
            phone.post("/w", data={"csrf_token": token, "code": code})
            phones.append(phone)
            tokens.append(token)
        arrivals: list[dict[int, float]] = [{} for _ in phones]
        stop = [False]
        threads = [threading.Thread(target=_listen, args=(base, p.cookies, a, stop),
                                    daemon=True) for p, a in zip(phones, arrivals, strict=True)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        votes: list[float] = []
        reveals: list[float] = []

        rng = random.Random(SEED)

        def vote(i: int, case: str, at: float) -> float:
            time.sleep(max(0.0, at - time.perf_counter()))
            start = time.perf_counter()
            r = phones[i].post("/w/vote", data={"csrf_token": tokens[i], "vignette_id": case,
                                                "need_level": str(1 + i % 4)},
                               follow_redirects=False)
            assert r.status_code == 303, r.text[-300:]
            return time.perf_counter() - start

        for n in range(CASES):
            case = trainer.get("/workshops/1/state").json()["case"]
            begin = time.perf_counter()
            moments = [begin + rng.uniform(0.0, SPREAD) for _ in range(PHONES)]
            with ThreadPoolExecutor(PHONES) as pool:
                votes += list(pool.map(vote, range(PHONES), [case] * PHONES, moments))
            page = trainer.get("/workshops/1").text
            sent = time.perf_counter()
            trainer.post("/workshops/1/step", data={"csrf_token": _csrf(page),
                                                    "action": "reveal"})
            version = trainer.get("/workshops/1/state").json()["version"]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all(version in a for a in arrivals):
                time.sleep(0.01)
            reveals += [a[version] - sent for a in arrivals if version in a]
            if n < CASES - 1:
                page = trainer.get("/workshops/1").text
                trainer.post("/workshops/1/step", data={"csrf_token": _csrf(page),
                                                        "action": "next"})
                time.sleep(0.3)
        stop[0] = True
        page = trainer.get("/workshops/1").text
        trainer.post("/workshops/1/step", data={"csrf_token": _csrf(page), "action": "end"})
        for t in threads:
            t.join(timeout=10)
        for client in [*phones, trainer]:
            client.close()
    where = f"{PHONES} phones, SQLite"
    rows = []
    for name, samples, target in (("vote (POST)", votes, VOTE_TARGET),
                                  ("reveal to phone (SSE)", reveals, REVEAL_TARGET)):
        values = np.asarray(samples)
        p50, p95 = np.percentile(values, [50, 95])
        rows.append(Row(f"workshop: {name} p50, {where}", len(values), float(p50), 0.0,
                        "requests"))
        rows.append(Row(f"workshop: {name} p95, {where}", len(values), float(p95), 0.0,
                        "requests", f"p95 < {int(target * 1000)} ms", bool(p95 < target)))
    missed = PHONES * CASES - len(reveals)
    if missed:
        print(f"bench_workshop: {missed} reveals never reached their phone", file=sys.stderr)
    return rows


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return _measure(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
