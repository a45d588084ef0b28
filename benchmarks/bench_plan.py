"""Study planning on Dask (issue 15): replications per second with 1 and 2 local workers.

Workload: 1,000 replications of a 48-vignette, 24-practitioner, 4-deck design (decks of 12,
6 practitioners per deck, the bundled mixed professions), planning for alpha, AC2 and the
divergence test; each replication generates a stratified design, deals the decks, simulates
the panel and analyses it. Targets: at most 60 s with 2 workers, and at least 1.7 times
faster than with 1. The clusters are started before the clock starts (their start-up is its
own row); the first task on each worker includes importing dsk. Peak memory is the largest
resident set of any worker process.

Beside each wall-clock row is the CPU time the workers spent (user + system, summed over the
worker processes): its ``seconds`` over ``items`` is the CPU time per replication, which a
busy machine distorts far less than the wall clock.

``DSK_BENCH_PLAN_REPLICATIONS`` runs fewer replications for a quick look;
``DSK_BENCH_PLAN_BATCH`` changes the replications per task (default: the plan's, 25, about a
third of a second each: a task costs the scheduler and the worker about a millisecond, and short
tasks keep the two workers' last tasks from finishing far apart).
"""

from __future__ import annotations

import logging
import os
import resource
import time

from benchmarks._harness import Row
from dsk.plan import PlanSpec, run_replicates


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run() -> list[Row]:
    from distributed import Client, LocalCluster

    n = int(os.environ.get("DSK_BENCH_PLAN_REPLICATIONS", "1000"))
    batch = int(os.environ.get("DSK_BENCH_PLAN_BATCH", str(PlanSpec().batch)))
    plan = PlanSpec(seed=1, replications=n, batch=batch, vignettes=[48], deck_size=[12], per_deck=[6],
                    quantities=["alpha", "ac2", "divergence"])
    rows = []
    seconds = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            started = time.perf_counter() - t0
            cpu0 = sum(client.run(_cpu_seconds).values())
            t0 = time.perf_counter()
            run_replicates(plan, scheduler=cluster.scheduler_address)
            seconds[workers] = time.perf_counter() - t0
            cpu = sum(client.run(_cpu_seconds).values()) - cpu0
            peak = max(client.run(_peak_mib).values())
        target, met = "", None
        if workers == 2:
            speedup = seconds[1] / seconds[2]
            target = f"<= 60 s and >= 1.7x 1 worker (got {speedup:.2f}x)"
            met = seconds[2] <= 60 and speedup >= 1.7
        rows.append(Row(f"plan: {n:,} replications of 48 vignettes x 24 practitioners, {workers} worker(s)",
                        n, seconds[workers], peak, "replications", target, met))
        rows.append(Row(f"plan: worker CPU time of those replications, {workers} worker(s) "
                        f"({cpu / n * 1000:.1f} ms a replication)", n, cpu, peak, "replications"))
        rows.append(Row(f"plan: starting a local cluster of {workers} worker(s)", workers, started, 0.0,
                        "workers"))
    return rows
