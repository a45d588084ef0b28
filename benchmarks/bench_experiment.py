"""The main demonstration end to end: ``dsk run complexity-gradient`` (issue 15).

Workload: the bundled ``complexity-gradient`` config (2,000 stratified vignettes, three
checklists, the mixed panel of 12 in two rounds, 500 bootstrap replicates, every analysis,
the report), run as bundled (its analyses in 2 worker processes) and, as the reference in
the same process, with ``workers: 1`` (one analysis after another). Target: the bundled run
in at most 60 s. One row per stage of each run (the manifest's ``timings_seconds``; with
workers, each analysis is timed in its own process and ``analyses`` is all of them
together), the whole run including the report, and the CPU time of the run (user + system,
this process and its worker processes): a busy machine distorts the CPU time far less than
the wall clock. Peak memory is the largest resident set of this process or of a worker.
The two runs must write the same tables (checked here, by the tables' SHA-256 in the
manifests).

``DSK_BENCH_EXPERIMENT`` names another bundled config for a quick look (e.g. ``quickstart``).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from benchmarks._harness import Row
from dsk.experiment import load_config, run_experiment


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def run() -> list[Row]:
    name = os.environ.get("DSK_BENCH_EXPERIMENT", "complexity-gradient")
    bundled = load_config(name)
    workers = bundled.workers or 1
    runs = [(f"as bundled ({workers} worker(s))", bundled),
            ("reference: workers 1", bundled.model_copy(update={"workers": 1}))]
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    hashes: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, config in runs:
            cpu0 = _cpu_seconds()
            t0 = time.perf_counter()
            result = run_experiment(config, Path(tmp) / label.split()[0].strip(":"))
            seconds[label] = time.perf_counter() - t0
            cpu = _cpu_seconds() - cpu0
            peak = _peak_mib()
            hashes[label] = {t: entry["sha256"] for t, entry in result.manifest["tables"].items()}
            n = len(result.tables["vignettes"])
            for stage, s in result.manifest["timings_seconds"].items():
                rows.append(Row(f"experiment {name}, {label}: stage {stage}", n, s, peak, "vignettes"))
            target, met = "", None
            if config is bundled:
                target, met = "<= 60 s", seconds[label] <= 60
            rows.append(Row(f"experiment {name}, {label}: whole run with report", n, seconds[label], peak,
                            "vignettes", target, met))
            rows.append(Row(f"experiment {name}, {label}: CPU time of the run", n, cpu, peak, "vignettes"))
    (first, _), (reference, _) = runs
    same = hashes[first] == hashes[reference]
    ratio = seconds[reference] / seconds[first]
    rows.append(Row(f"experiment {name}: reference over bundled wall time ({ratio:.2f}x); same tables: "
                    f"{'yes' if same else 'NO'}", n, seconds[first], 0.0, "vignettes",
                    "same tables with 1 and 2 workers", same))
    return rows
