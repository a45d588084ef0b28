"""The Dask worker plugin that warms a worker for ``dsk plan`` (private; see :mod:`dsk.plan`).

Kept apart from :mod:`dsk.plan` because it imports ``distributed`` on import, which the plan's
summaries and pages do not need.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["WarmUp"]


class WarmUp(WorkerPlugin):
    """Runs :func:`dsk.plan.warm_worker` when a worker starts (or at once on those running).

    Registered once per cluster and checklist (``idempotent``: registering it again does not
    run it again), so a plan's tasks start on workers that have imported and loaded everything.

    Examples
    --------
    >>> WarmUp("threshold-of-need").name
    'dsk-plan-warm-up:threshold-of-need'
    """

    idempotent = True

    def __init__(self, ruleset: str, clmm: bool = False) -> None:
        self.ruleset = ruleset
        self.clmm = clmm
        self.name = f"dsk-plan-warm-up:{ruleset}" + (":clmm" if clmm else "")

    async def setup(self, worker: Any) -> None:
        """Warm the worker in a thread, so its event loop keeps answering the scheduler meanwhile."""
        import asyncio

        from dsk.plan import warm_worker

        await asyncio.to_thread(warm_worker, self.ruleset, self.clmm)
