"""Rendering the HTML report (issue: experiment runner, report and quickstart).

Target: the quickstart's report (60 vignettes, two checklists, every analysis,
eight teaching cases) in at most 10 s here. Also reported: a stratified run of
600 vignettes (agreement and failures; more points on the quadrant map).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks._harness import Row, measure
from dsk.experiment import VignetteSource, load_config, run_experiment
from dsk.report import render_report


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        quick = Path(tmp) / "quickstart"
        run_experiment(load_config("quickstart").model_copy(update={"bootstrap": 50}), quick,
                       report=False)
        seconds, peak, _ = measure(lambda: render_report(quick), repeat=2)
        rows.append(Row("report: quickstart (60 vignettes, every analysis)", 1, seconds, peak,
                        "reports", "<= 10 s", seconds <= 10))
        large = Path(tmp) / "stratified"
        config = load_config("quickstart").model_copy(update={
            "id": "bench-report", "bootstrap": 20, "analyses": ["agreement", "failures"],
            "vignettes": VignetteSource(design="stratified", n=600)})
        run_experiment(config, large, report=False)
        seconds, peak, _ = measure(lambda: render_report(large), repeat=1)
        rows.append(Row("report: stratified 600 vignettes (agreement, failures)", 1, seconds,
                        peak, "reports"))
    return rows
