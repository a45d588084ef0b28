"""``dsk panel``: simulate panels and check their calibration.

Examples
--------
``dsk panel simulate`` writes a judgements table (here from the bundled
``social-workers-8`` panel on the ``training-12`` set), and ``dsk panel
calibrate`` prints the panel's agreement figures beside the published ones:

>>> import tempfile
>>> from pathlib import Path
>>> from typer.testing import CliRunner
>>> from dsk.io import read_table
>>> from dsk.panels.cli import app
>>> runner = CliRunner()
>>> with tempfile.TemporaryDirectory() as tmp:
...     out = Path(tmp, "judgements.csv")
...     result = runner.invoke(app, ["simulate", "social-workers-8", "training-12", "-o", str(out)])
...     judgements = read_table(out, "judgements")
>>> print(result.output)
wrote 96 judgements (8 raters x 12 vignettes x 1 round(s)) to ...
>>> judgements["profession"].unique().tolist(), bool(judgements["rationale"].str.len().gt(0).all())
(['social_worker'], True)
>>> result = runner.invoke(app, ["calibrate", "mixed-12", "--n", "30"])
>>> title = "Calibration of mixed-12 on 30 stratified vignettes (seed 1)"
>>> result.exit_code, title in " ".join(result.output.split())
(0, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from dsk._cli import fail
from dsk.catalogue import Catalogue, CatalogueError, load_catalogue
from dsk.io import TableFileError, read_vignettes, write_table
from dsk.panels.calibrate import calibration_figures
from dsk.panels.profiles import PanelError, load_panel, load_professions
from dsk.panels.simulate import simulate_panel
from dsk.schema import SchemaError

app = typer.Typer(help="Simulated practitioner panels.", no_args_is_help=True)
console = Console()


def _vignettes(spec: str, catalogue: Catalogue) -> pd.DataFrame:
    from dsk.sets import load_set

    try:
        return load_set(spec, catalogue) if not Path(spec).exists() else read_vignettes(spec, catalogue)
    except (TableFileError, SchemaError, CatalogueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from exc


@app.command("simulate")
def simulate(
    panel: Annotated[str, typer.Argument(help="Panel file, or a bundled panel id such as mixed-12.")],
    vignettes: Annotated[str, typer.Argument(help="Vignettes file, or a bundled set id such as core-60.")],
    seed: Annotated[int, typer.Option(help="Random seed (combined with the panel's own).")] = 1,
    rounds: Annotated[int, typer.Option(help="1, or 2 for a deliberation round.")] = 1,
    output: Annotated[Path, typer.Option("-o", "--output", help="Judgements file (.csv, .parquet, .jsonl).")] = Path(
        "judgements.csv"),
    professions: Annotated[Path | None, typer.Option(help="Profession profiles (default: bundled).")] = None,
    no_rationale: Annotated[bool, typer.Option("--no-rationale", help="Skip rationale text.")] = False,
) -> None:
    """Simulate a panel's judgements on a vignette set and write the judgements table."""
    try:
        cat = load_catalogue()
        profs = load_professions(professions, cat)
        spec = load_panel(panel, profs)
        frame = _vignettes(vignettes, cat)
        judgements = simulate_panel(frame, spec, random_state=seed, rounds=rounds, professions=profs,
                                    catalogue=cat, rationale=not no_rationale)
        write_table(judgements, output)
    except (PanelError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {len(judgements)} judgements ({judgements['rater_id'].nunique()} raters x "
                  f"{judgements['vignette_id'].nunique()} vignettes x {rounds} round(s)) to {output}")


@app.command("calibrate")
def calibrate(
    panel: Annotated[str, typer.Argument(help="Panel file or bundled id.")] = "mixed-12",
    n: Annotated[int, typer.Option("--n", help="Stratified vignettes (a third per band).")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Print the panel's agreement figures beside the published ones."""
    from dsk.design import generate

    cat = load_catalogue()
    try:
        profs = load_professions(catalogue=cat)
        spec = load_panel(panel, profs)
    except PanelError as exc:
        raise fail(str(exc)) from exc
    vignettes = generate("stratified", n, seed, cat, narratives=False)
    judgements = simulate_panel(vignettes, spec, random_state=seed, professions=profs, catalogue=cat,
                                rationale=False)
    figures = calibration_figures(judgements, vignettes)
    table = Table(title=f"Calibration of {spec.id} on {n} stratified vignettes (seed {seed})")
    for col in ("figure", "simulated", "published", "source", "target", "met"):
        table.add_column(col)
    for row in figures.itertuples(index=False):
        met = "" if row.met is None else ("yes" if row.met else "NO")
        table.add_row(str(row.figure), f"{row.simulated:.3f}", str(row.published), str(row.source),
                      str(row.target), met)
    console.print(table)
