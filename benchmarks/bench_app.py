"""Scoring app latency under 50 concurrent simulated practitioners (issue 7).

A live uvicorn server (``python -m dsk.app``, one process) on SQLite at 127.0.0.1;
50 practitioners, each an ``httpx.AsyncClient`` with its own cookies, consent and
then score a deck of 10 vignettes from core-60 (arriving at random over the first
three seconds): load the scoring page, pause
(0.2-1.0 s of "reading", seeded), submit. Latency is client-side wall time per
request. Target: p95 under 150 ms for both the scoring page and a submission.

Rows: one per measure; ``seconds`` is the latency (p50 or p95), ``items`` the
number of requests measured.
"""

from __future__ import annotations

import asyncio
import random
import re
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks._harness import Row
from dsk.app import create_researcher
from dsk.app._live import LiveServer

N_PRACTITIONERS, DECK, TARGET = 50, 10, 0.150
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM = re.compile(r'name="form_token" value="([^"]+)"')


def _setup(url: str) -> list[str]:
    with httpx.Client(base_url=url, follow_redirects=True, timeout=60) as c:
        token = _CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "bench", "password": "bench password",
                               "csrf_token": token})
        token = _CSRF.search(c.get("/").text).group(1)  # type: ignore[union-attr]
        r = c.post("/studies", data={"title": "bench", "set_id": "core-60",
                                     "deck_size": str(DECK), "n_participants": str(N_PRACTITIONERS),
                                     "rounds": "1", "seed": "1", "csrf_token": token})
        token = _CSRF.search(r.text).group(1)  # type: ignore[union-attr]
        r = c.post(str(r.url) + "/links", data={"csrf_token": token})
        return re.findall(r'class="plink" href="([^"]+)"', r.text)


async def _practitioner(url: str, link: str, rng: random.Random,
                        pages: list[float], posts: list[float]) -> None:
    await asyncio.sleep(rng.uniform(0.0, 3.0))  # practitioners arrive over three seconds
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        page = (await c.get(link)).text
        await c.post(link, data={"profession": "social_worker", "experience_years": "5",
                                 "consent": "yes",
                                 "csrf_token": _CSRF.search(page).group(1)})  # type: ignore[union-attr]
        for position in range(DECK):
            t0 = time.perf_counter()
            r = await c.get("/s")
            pages.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            data = {"need_level": str(1 + position % 4), "confidence": "70", "risk": "4",
                    "salient_factors": ["domestic_abuse", "housing"], "rationale": "bench",
                    "lead_agency": "social_care",
                    "csrf_token": _CSRF.search(r.text).group(1),  # type: ignore[union-attr]
                    "form_token": _FORM.search(r.text).group(1)}  # type: ignore[union-attr]
            t0 = time.perf_counter()
            r = await c.post("/s/answer", data=data)
            posts.append(time.perf_counter() - t0)
            assert r.status_code == 303, r.text


async def _load(url: str, links: list[str]) -> tuple[list[float], list[float]]:
    pages: list[float] = []
    posts: list[float] = []
    await asyncio.gather(*(_practitioner(url, link, random.Random(i), pages, posts)
                           for i, link in enumerate(links)))
    return pages, posts


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        create_researcher(db, "bench", "bench password")
        with LiveServer(db) as server:
            links = _setup(server.url)
            pages, posts = asyncio.run(_load(server.url, links))
    rows = []
    for label, samples in (("scoring page (GET)", pages), ("submission (POST)", posts)):
        values = np.asarray(samples)
        p50, p95 = np.percentile(values, [50, 95])
        rows.append(Row(f"app: {label} p50, {N_PRACTITIONERS} practitioners, SQLite", len(values),
                        float(p50), 0.0, "requests"))
        rows.append(Row(f"app: {label} p95, {N_PRACTITIONERS} practitioners, SQLite", len(values),
                        float(p95), 0.0, "requests", "p95 < 150 ms", bool(p95 < TARGET)))
    return rows
