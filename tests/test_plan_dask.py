"""dsk plan on Dask: the same tables with 1 or 2 local workers and on a real scheduler with two
``dask worker`` processes on loopback (started here, with bounded waits, always torn down)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsk.cli import app
from dsk.plan import PlanSpec, run_replicates

ROOT = Path(__file__).resolve().parents[1]

PLAN = """plan:
  seed: 11
  replications: 6
  batch: 2
  vignettes: [12]
  deck_size: [6]
  per_deck: [2, 4]
  professions:
    mixed: {social_worker: 1, police: 1, teacher: 1}
  quantities: [alpha, ac2, divergence]
"""


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    tmp = tmp_path_factory.mktemp("plan")
    (tmp / "plan.yaml").write_text(PLAN)
    out = {}
    for workers in (1, 2):
        result = CliRunner().invoke(app, ["plan", str(tmp / "plan.yaml"), "--workers", str(workers),
                                          "-o", str(tmp / f"w{workers}")])
        assert result.exit_code == 0, result.output
        out[workers] = tmp / f"w{workers}"
    return out


def test_one_and_two_workers_give_byte_identical_tables(local_runs: dict[int, Path]) -> None:
    for name in ("replicates.csv", "summary.csv", "checks.csv"):
        one, two = ((local_runs[w] / name).read_bytes() for w in (1, 2))
        assert one == two, name
    assert len((local_runs[1] / "replicates.csv").read_text().splitlines()) == 1 + 2 * 6
    page = (local_runs[1] / "plan.html").read_text()
    assert page.index("These results come from simulated practitioners") < page.index("<h1>")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scheduler() -> Iterator[str]:
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                 "--nworkers", "1", "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "30"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        deadline = time.monotonic() + 30
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        try:  # ask the scheduler to close itself and its workers, then make sure
            from distributed import Client

            with Client(address, timeout="5s") as client:
                client.shutdown()
        except (OSError, TimeoutError):
            pass
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def test_a_real_scheduler_gives_the_local_results(scheduler: str, local_runs: dict[int, Path]) -> None:
    from dsk.plan import load_plan

    plan: PlanSpec = load_plan(local_runs[1].parent / "plan.yaml")
    remote = run_replicates(plan, scheduler=scheduler)
    path = local_runs[1].parent / "remote.csv"
    remote.to_csv(path, index=False, lineterminator="\n")
    assert path.read_bytes() == (local_runs[1] / "replicates.csv").read_bytes()


def test_the_local_cluster_is_quiet_and_its_workers_warm_before_the_first_task() -> None:
    import dask
    from distributed import Client

    from dsk.plan import LOCAL_CLUSTER_CONFIG, local_cluster, warm_workers

    def state() -> tuple[dict[str, object], int]:
        from dsk.plan import _resources

        return {key: dask.config.get(key) for key in LOCAL_CLUSTER_CONFIG}, _resources.cache_info().currsize

    with local_cluster(1) as cluster, Client(cluster) as client:
        (config, loaded), = client.run(state).values()
        assert config == LOCAL_CLUSTER_CONFIG and loaded == 0  # the workers have the settings, nothing loaded yet
        warm_workers(client, PlanSpec(ruleset="count-of-concerns"))
        (_, loaded), = client.run(state).values()
        assert loaded == 1
    assert dask.config.get("distributed.worker.profile.enabled")  # this process keeps Dask's defaults
