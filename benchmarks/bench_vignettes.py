"""Vignette generation throughput (issue: foundation).

Targets: >= 200,000 vignettes/s for the vectorised core (factor levels,
agency reports, derived features, complexity), >= 2,000 vignettes/s with
narratives (the full table with text).
"""

from __future__ import annotations

from benchmarks._harness import Row, measure
from dsk.catalogue import load_catalogue
from dsk.design import random_vignettes, sample_vignette_arrays


def run() -> list[Row]:
    cat = load_catalogue()
    rows: list[Row] = []
    n = 200_000
    seconds, peak, _ = measure(lambda: sample_vignette_arrays(n, random_state=1, catalogue=cat))
    rows.append(Row("vignettes: vectorised core (levels, reports, derived, complexity)", n, seconds, peak,
                    "vignettes", ">= 200,000/s", n / seconds >= 200_000))
    n_table = 20_000
    seconds, peak, _ = measure(lambda: random_vignettes(n_table, random_state=1, catalogue=cat, narratives=False),
                               repeat=2)
    rows.append(Row("vignettes: full table, no narratives", n_table, seconds, peak, "vignettes"))
    n_text = 5_000
    seconds, peak, _ = measure(lambda: random_vignettes(n_text, random_state=1, catalogue=cat), repeat=2)
    rows.append(Row("vignettes: full table with narratives", n_text, seconds, peak, "vignettes",
                    ">= 2,000/s", n_text / seconds >= 2_000))
    return rows
