"""Shared measuring helpers for the benchmarks, and the plain-text form of their table."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Columns of the benchmark table, in order.
COLUMNS = ("benchmark", "items", "seconds", "per second", "peak MiB", "target", "met")
#: Columns aligned left; the numbers are aligned right.
LEFT = ("benchmark", "target")


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

    def cells(self) -> tuple[str, ...]:
        """The row's cells as printed, in the order of :data:`COLUMNS`."""
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return (self.name, f"{self.items:,}", f"{self.seconds:.3f}",
                f"{self.per_second:,.0f} {self.unit}/s", f"{self.peak_mib:,.1f}", self.target, met)


def markdown_table(rows: Sequence[Row], title: str = "dsk benchmarks") -> str:
    """The benchmark table as a Markdown table, never wrapped, for logs and pipes.

    Columns are padded to their widest cell so the text also reads as fixed
    columns; a ``|`` inside a cell is escaped.

    Examples
    --------
    >>> print(markdown_table([Row("rules", 1000, 0.5, 2.0, "vignettes", "> 1k/s", True)]))
    dsk benchmarks
    <BLANKLINE>
    | benchmark | items | seconds |        per second | peak MiB | target | met |
    |:----------|------:|--------:|------------------:|---------:|:-------|----:|
    | rules     | 1,000 |   0.500 | 2,000 vignettes/s |      2.0 | > 1k/s | yes |
    """
    body = [tuple(c.replace("|", "\\|") for c in row.cells()) for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in body]) for i, col in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if col in LEFT else c.rjust(w)
                  for c, w, col in zip(cells, widths, COLUMNS, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join((":" + "-" * (w + 1)) if col in LEFT else ("-" * (w + 1) + ":")
                          for w, col in zip(widths, COLUMNS, strict=True)) + "|"
    return "\n".join([title, "", line(COLUMNS), rule] + [line(r) for r in body])


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
