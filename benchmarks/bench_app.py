"""Scoring app latency under many concurrent simulated practitioners (issues 7 and 12).

Two set-ups, each a live server at 127.0.0.1 (``python -m dsk.app``):

- 50 practitioners on SQLite, one server process;
- 100 practitioners on PostgreSQL with 2 worker processes (``--workers 2``), on a
  throwaway PostgreSQL server started for the benchmark (skipped, saying so, when
  PostgreSQL's ``initdb`` is not installed).

Each practitioner consents and then scores a deck of 10 vignettes from core-60
(arriving at random over the first three seconds): load the scoring page, pause
(0.2-1.0 s of "reading", seeded), submit. Latency is client-side wall time per
request. Target: p95 under 100 ms for both the scoring page and a submission.

The load generator runs in its own process (``python -m benchmarks.bench_app``), so
that its work is measured apart from the server's: the rows "client CPU" and
"server CPU" give each side's processor time per measured request. It speaks
HTTP/1.1 itself over asyncio streams (one keep-alive connection and cookie jar per
practitioner): an ``httpx.AsyncClient`` costs about 2-3 ms of processor time per
request, which on a two-core machine competes with the server and shows up in the
measured tail.

Rows: one per measure; ``seconds`` is the latency (p50 or p95), or the processor time
used during the run by the server (with its workers), by PostgreSQL and by the load
generator; ``items`` is the number of requests measured.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np
import psutil

from benchmarks._harness import Row
from dsk.app import create_researcher
from dsk.app._live import LiveServer
from dsk.app._pgtest import PostgresServer, postgres_missing

DECK, TARGET = 10, 0.100
SETUPS = (("SQLite", 50, 1), ("PostgreSQL", 100, 2))  # (database, practitioners, workers)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM = re.compile(r'name="form_token" value="([^"]+)"')


def _setup(url: str, n: int) -> list[str]:
    """Log in, create a study of ``n`` participants, return their links."""
    with httpx.Client(base_url=url, follow_redirects=True, timeout=60) as c:
        token = _CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "bench", "password": "bench password",
                               "csrf_token": token})
        token = _CSRF.search(c.get("/").text).group(1)  # type: ignore[union-attr]
        r = c.post("/studies", data={"title": "bench", "set_id": "core-60",
                                     "deck_size": str(DECK), "n_participants": str(n),
                                     "rounds": "1", "seed": "1", "csrf_token": token})
        token = _CSRF.search(r.text).group(1)  # type: ignore[union-attr]
        r = c.post(str(r.url) + "/links", data={"csrf_token": token})
        links = re.findall(r'class="plink" href="([^"]+)"', r.text)
    assert len(links) == n, f"expected {n} links, got {len(links)}"
    return [html.unescape(link) for link in links]


# ------------------------------------------------------------- load generator
class _Browser:
    """One practitioner's HTTP/1.1 keep-alive connection and cookies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, form: list[tuple[str, str]] | None = None
                      ) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = urlencode(form).encode() if form is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if form is not None:
            head += ["Content-Type: application/x-www-form-urlencoded",
                     f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = (await self.reader.readline()).decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return status, (await self.reader.readexactly(length)).decode()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _practitioner(url: str, link: str, rng: random.Random,
                        pages: list[float], posts: list[float]) -> None:
    await asyncio.sleep(rng.uniform(0.0, 3.0))  # practitioners arrive over three seconds
    parts = urlsplit(url)
    browser = _Browser(parts.hostname or "127.0.0.1", parts.port or 80)
    try:
        path = urlsplit(link).path
        status, page = await browser.request("GET", path)
        assert status == 200, (status, page)
        status, page = await browser.request("POST", path, [
            ("profession", "social_worker"), ("experience_years", "5"), ("consent", "yes"),
            ("csrf_token", html.unescape(_CSRF.search(page).group(1)))])  # type: ignore[union-attr]
        assert status == 303, (status, page)
        for position in range(DECK):
            t0 = time.perf_counter()
            status, page = await browser.request("GET", "/s")
            pages.append(time.perf_counter() - t0)
            assert status == 200, (status, page)
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            form = [("need_level", str(1 + position % 4)), ("confidence", "70"), ("risk", "4"),
                    ("salient_factors", "domestic_abuse"), ("salient_factors", "housing"),
                    ("rationale", "bench"), ("lead_agency", "social_care"),
                    ("csrf_token", html.unescape(_CSRF.search(page).group(1))),  # type: ignore[union-attr]
                    ("form_token", html.unescape(_FORM.search(page).group(1)))]  # type: ignore[union-attr]
            t0 = time.perf_counter()
            status, page = await browser.request("POST", "/s/answer", form)
            posts.append(time.perf_counter() - t0)
            assert status == 303, (status, page)
    finally:
        browser.close()


async def _load(url: str, links: list[str]) -> tuple[list[float], list[float]]:
    pages: list[float] = []
    posts: list[float] = []
    await asyncio.gather(*(_practitioner(url, link, random.Random(i), pages, posts)
                           for i, link in enumerate(links)))
    return pages, posts


def _generate(url: str, links: list[str]) -> dict[str, object]:
    """Run the practitioners in this process; latencies and this process's CPU time."""
    before = time.process_time()
    pages, posts = asyncio.run(_load(url, links))
    return {"pages": pages, "posts": posts, "cpu": time.process_time() - before}


# ------------------------------------------------------------------ one set-up
def _cpu(pid: int) -> float:
    """Processor seconds used so far by process ``pid`` and its children."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _measure(db: str, label: str, n: int, workers: int,
             postgres: PostgresServer | None = None) -> list[Row]:
    create_researcher(db, "bench", "bench password")
    with LiveServer(db, workers=workers) as server:
        assert server.process is not None
        links = _setup(server.url, n)
        pids = {"server": server.process.pid}
        if postgres is not None:
            pids["PostgreSQL"] = postgres.pid()
        before = {name: _cpu(pid) for name, pid in pids.items()}
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_app", server.url],
                              input=json.dumps(links), capture_output=True, text=True,
                              check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
        used = {name: _cpu(pid) - before[name] for name, pid in pids.items()}
    result = json.loads(done.stdout)
    where = f"{n} practitioners, {label}" + (f", {workers} workers" if workers > 1 else "")
    rows = []
    measured = 0
    for name, samples in (("scoring page (GET)", result["pages"]),
                          ("submission (POST)", result["posts"])):
        values = np.asarray(samples)
        measured += len(values)
        p50, p95 = np.percentile(values, [50, 95])
        rows.append(Row(f"app: {name} p50, {where}", len(values), float(p50), 0.0, "requests"))
        rows.append(Row(f"app: {name} p95, {where}", len(values), float(p95), 0.0, "requests",
                        "p95 < 100 ms", bool(p95 < TARGET)))
    used["client"] = float(result["cpu"])
    for name, seconds in used.items():  # per second: requests per second of processor time
        rows.append(Row(f"app: {name} CPU time, {where}", measured, seconds, 0.0, "requests"))
    return rows


def run() -> list[Row]:
    rows = []
    for label, n, workers in SETUPS:
        if label == "SQLite":
            with tempfile.TemporaryDirectory() as tmp:
                rows += _measure(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", label, n, workers)
            continue
        missing = postgres_missing()
        if missing:
            print(f"bench_app: PostgreSQL half skipped: {missing}", file=sys.stderr)
            continue
        postgres = PostgresServer()
        try:
            rows += _measure(postgres.new_database(), label, n, workers, postgres)
        finally:
            postgres.stop()
    return rows


if __name__ == "__main__":  # the load generator: links as JSON on stdin, results on stdout
    print(json.dumps(_generate(sys.argv[1], json.loads(sys.stdin.read()))))
