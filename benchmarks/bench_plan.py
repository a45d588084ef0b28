"""Study planning on Dask (issue 15): replications per second with 1 and 2 local workers.

Workload: 1,000 replications of a 48-vignette, 24-practitioner, 4-deck design (decks of 12,
6 practitioners per deck, the bundled mixed professions), planning for alpha, AC2 and the
divergence test; each replication generates a stratified design, deals the decks, simulates
the panel and analyses it. Targets: at most 60 s with 2 workers, and at least 1.7 times
faster than with 1.

Both clusters are started first (:func:`dsk.plan.local_cluster`) and their workers warmed
(:func:`dsk.plan.warm_workers`: imports, catalogue, checklist); each of the two is its own row,
outside the clock of the replications. The 1,000 replications are then run as two plans of 500
(seeds 1 and 2) in the order 1 worker, 2 workers, 2 workers, 1 worker, so that a load that
other processes put on the machine and that grows or shrinks during the benchmark weighs on
both about equally; a row's seconds are the sum of its two runs. The 1- and 2-worker tables are
checked to be identical. The target's speed-up is that of the replications; the one "with
start-up" adds each cluster's start and warm-up to its replications.

Beside each wall-clock row is the CPU time the workers spent (user + system, summed over the
worker processes): its ``seconds`` over ``items`` is the CPU time per replication, which a busy
machine distorts far less than the wall clock, and over the row's wall-clock seconds it is the
cores the workers actually got. Two workers can only be twice as fast as one if they get two
cores: when other sessions keep the machine busy, Linux's autogroup scheduling (on by default
on many distributions) shares the cores between sessions, so the benchmark's processes together
get about their session's share whether there are one or two workers. Then comes the CPU time
of this process (the scheduler and the client), which competes with the workers for the same
cores. Peak memory is the largest resident set of any worker process.

``DSK_BENCH_PLAN_REPLICATIONS`` runs fewer replications for a quick look;
``DSK_BENCH_PLAN_BATCH`` changes the replications per task (default: the plan's, 25, about a
third of a second each: a task costs the scheduler and the worker about a millisecond; the last
tasks of a plan are a quarter of that, see ``dsk.plan._tasks``).
"""

from __future__ import annotations

import os
import resource
import time

from benchmarks._harness import Row
from dsk.plan import PlanSpec, local_cluster, run_replicates, warm_workers


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run() -> list[Row]:
    from contextlib import ExitStack

    from distributed import Client

    n = int(os.environ.get("DSK_BENCH_PLAN_REPLICATIONS", "1000"))
    batch = int(os.environ.get("DSK_BENCH_PLAN_BATCH", str(PlanSpec().batch)))
    halves = [PlanSpec(seed=seed, replications=size, batch=batch, vignettes=[48], deck_size=[12], per_deck=[6],
                       quantities=["alpha", "ac2", "divergence"])
              for seed, size in ((1, n // 2), (2, n - n // 2))]
    counts = (1, 2)
    started: dict[int, float] = {}
    warmed: dict[int, float] = {}
    seconds = dict.fromkeys(counts, 0.0)
    cpu = dict.fromkeys(counts, 0.0)
    own = dict.fromkeys(counts, 0.0)
    tables: dict[tuple[int, int], str] = {}
    with ExitStack() as stack:
        clusters, clients = {}, {}
        for workers in counts:
            t0 = time.perf_counter()
            clusters[workers] = stack.enter_context(local_cluster(workers))
            clients[workers] = stack.enter_context(Client(clusters[workers]))
            started[workers] = time.perf_counter() - t0
            t0 = time.perf_counter()
            warm_workers(clients[workers], halves[0])
            warmed[workers] = time.perf_counter() - t0
        for workers, half in ((1, 0), (2, 0), (2, 1), (1, 1)):
            client = clients[workers]
            cpu0, own0 = sum(client.run(_cpu_seconds).values()), _cpu_seconds()
            t0 = time.perf_counter()
            table = run_replicates(halves[half], scheduler=clusters[workers].scheduler_address)
            seconds[workers] += time.perf_counter() - t0
            own[workers] += _cpu_seconds() - own0
            cpu[workers] += sum(client.run(_cpu_seconds).values()) - cpu0
            tables[workers, half] = table.to_csv(index=False)
        peak = {w: max(clients[w].run(_peak_mib).values()) for w in counts}
    for half in range(len(halves)):
        if tables[1, half] != tables[2, half]:
            raise AssertionError(f"plan with seed {halves[half].seed}: 1 and 2 workers gave different tables")
    speedup = seconds[1] / seconds[2]
    overall = (started[1] + warmed[1] + seconds[1]) / (started[2] + warmed[2] + seconds[2])
    rows = []
    for workers in counts:
        target, met = "", None
        if workers == 2:
            target = f"<= 60 s and >= 1.7x 1 worker (got {speedup:.2f}x; {overall:.2f}x with start-up)"
            met = seconds[2] <= 60 and speedup >= 1.7
        rows.append(Row(f"plan: {n:,} replications of 48 vignettes x 24 practitioners, {workers} worker(s)",
                        n, seconds[workers], peak[workers], "replications", target, met))
        rows.append(Row(f"plan: worker CPU time of those replications, {workers} worker(s) "
                        f"({cpu[workers] / n * 1000:.1f} ms a replication; {cpu[workers] / seconds[workers]:.2f} "
                        "cores used on average)", n, cpu[workers], peak[workers], "replications"))
        rows.append(Row(f"plan: scheduler and client CPU time (this process) during them, {workers} worker(s)",
                        n, own[workers], 0.0, "replications"))
        rows.append(Row(f"plan: starting a local cluster of {workers} worker(s)", workers, started[workers], 0.0,
                        "workers"))
        rows.append(Row(f"plan: warming its workers (imports, catalogue, checklist), {workers} worker(s)", workers,
                        warmed[workers], 0.0, "workers"))
    return rows
