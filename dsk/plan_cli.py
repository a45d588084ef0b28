"""``dsk plan``: how many practitioners and vignettes a study needs (see :mod:`dsk.plan`).

Examples
--------
A plan with a deck larger than the study is refused before anything runs:

>>> import tempfile
>>> from pathlib import Path
>>> import typer
>>> from typer.testing import CliRunner
>>> cli = typer.Typer()
>>> _ = cli.command()(plan)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp) / "p.yaml"
...     _ = path.write_text("plan: {vignettes: [10], deck_size: [12]}\\n")
...     result = CliRunner().invoke(cli, [str(path)])
>>> result.exit_code, "a deck cannot be larger than the study" in result.output
(1, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["plan"]

console = Console()


def plan(
    config: Annotated[str, typer.Argument(help="A plan file, an experiment config with a plan: section, or a "
                                               "bundled id such as plan-pilot.")],
    workers: Annotated[int, typer.Option(help="Worker processes of the local Dask cluster (one thread each).")] = 2,
    scheduler: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        help="Use an existing Dask cluster at this scheduler address (tcp://HOST:PORT) instead.")] = None,
    replications: Annotated[Optional[int], typer.Option(  # noqa: UP045
        min=2, help="Override the plan's number of replications.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the tables and plan.html.")] = Path(
        "runs/plan"),
) -> None:
    """Simulate a grid of study designs on Dask: CI half-widths and power, with curves and a page."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dsk.plan import SIMULATED, PlanError, load_plan, run_plan, write_plan

    try:
        spec = load_plan(config)
    except PlanError as exc:
        if len(exc.problems) > 1:
            typer.echo(f"error: {len(exc.problems)} problems in the plan", err=True)
        typer.echo("\n\n".join(exc.problems), err=True)
        raise typer.Exit(code=1) from exc
    if replications is not None:
        spec = spec.model_copy(update={"replications": replications})
    where = scheduler or f"a local cluster of {workers} worker{'s' if workers != 1 else ''}"
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(f"replications on {escape(where)}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = run_plan(spec, workers=workers, scheduler=scheduler, progress=progress)
        except PlanError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=1) from exc
    page = write_plan(result, output)
    console.print(SIMULATED, highlight=False)
    for sentence in result.sentences[1:]:
        console.print(f"- {escape(sentence)}", highlight=False)
    console.print("Analytic cross-checks:", highlight=False)
    for sentence in result.check_sentences:
        console.print(f"- {escape(sentence)}", highlight=False)
    console.print(f"tables and page written to {output}; open {page.resolve()}", highlight=False)
