"""Shared measuring helpers for the benchmarks."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    """One measured line of the benchmark table."""

    name: str
    items: int
    seconds: float
    peak_mib: float
    unit: str = "items"
    target: str = ""
    met: bool | None = None

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


def measure(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, float, Any]:
    """Best wall time of ``repeat`` runs, and peak traced memory (MiB) of one run.

    Memory is traced in a separate run so tracing does not slow the timed ones.
    """
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20, result
