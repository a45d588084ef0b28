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
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from dsk.rules import Ruleset

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


def _ablation_rulesets(names: list[str], catalogue: Catalogue) -> list[Ruleset]:
    from dsk.rules import RulesetError, bundled_rulesets, load_ruleset

    bundled = bundled_rulesets()
    out = []
    for name in names:
        path = Path(name) if Path(name).suffix else bundled.get(name)
        if path is None or not Path(path).is_file():
            raise fail(f"--ruleset {name!r}: no such file, and not a bundled ruleset "
                       f"(bundled: {', '.join(sorted(bundled))})")
        try:
            out.append(load_ruleset(path, catalogue))
        except RulesetError as exc:
            raise fail(str(exc)) from exc
    return out


def _cell(value: float, fmt: str = ".3f") -> str:
    return "n/a" if pd.isna(value) else format(value, fmt)


def _short(stratum: str) -> str:
    """``complexity_band=high`` as ``high``, ``complexity_band:high-low`` as ``high-low``."""
    return stratum.removeprefix("complexity_band=").removeprefix("complexity_band:")


def _variant_row(variant: str) -> str:
    from dsk.panels.ablate import FULL, ITEM_READING_VARIANT
    from dsk.panels.mechanisms import MECHANISMS_BY_ID

    if variant in (FULL, ITEM_READING_VARIANT):
        return "full model" if variant == FULL else "item reading alone"
    mechanism = MECHANISMS_BY_ID[variant.removeprefix("without_")]
    return f"without {mechanism.id} ({mechanism.support})"


@app.command("ablate")
def ablate_command(
    panel: Annotated[str, typer.Argument(help="Panel file, or a bundled panel id such as mixed-12.")],
    vignettes: Annotated[str, typer.Argument(help="Vignettes file, or a bundled set id such as core-60.")],
    ruleset: Annotated[list[str] | None, typer.Option(
        "--ruleset", help="Checklist (bundled id or file); repeat for several. Default: threshold-of-need.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (combined with the panel's own).")] = 1,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write the ablation table here (.csv, .parquet), and the produced-by "
                               "summary beside it (NAME_produced_by.EXT).")] = None,
    professions: Annotated[Path | None, typer.Option(help="Profession profiles (default: bundled).")] = None,
) -> None:
    """Which assumption produces which finding: the panel with each mechanism switched off in turn."""
    from dsk.panels.ablate import FINDINGS, PRODUCED_BY_RULE, ablate
    from dsk.rules import evaluate

    cat = load_catalogue()
    try:
        profs = load_professions(professions, cat)
        spec = load_panel(panel, profs)
    except PanelError as exc:
        raise fail(str(exc)) from exc
    frame = _vignettes(vignettes, cat)
    checklists = _ablation_rulesets(ruleset or ["threshold-of-need"], cat)
    decisions = pd.concat([evaluate(r, frame, catalogue=cat).decisions() for r in checklists],
                          ignore_index=True)
    try:
        result = ablate(frame, spec, professions=profs, catalogue=cat, decisions=decisions, random_state=seed)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    labels = {v: _variant_row(v) for v in result.variants}
    for name in ("alpha_ordinal", "exact_agreement", "checklist_exact", "teaching_divergent"):
        wide = result.finding(name)
        table = Table(title=f"{FINDINGS[name].capitalize()} ({spec.id}, seed {seed})")
        table.add_column("variant")
        columns: list[Any] = list(wide.columns)
        for rid, stratum in columns:
            table.add_column(f"{rid}\n{_short(str(stratum))}".strip(), justify="right")
        fmt = ".0f" if name == "teaching_divergent" else ".3f"
        for variant, values in wide.iterrows():
            table.add_row(labels[str(variant)], *(_cell(x, fmt) for x in values))
        console.print(table)
    drivers = result.findings[result.findings["finding"] == "divergence_driver"]
    table = Table(title=f"Complexity dimensions that drive divergence ({spec.id}, seed {seed})")
    table.add_column("variant")
    rids = sorted(drivers["ruleset"].dropna().unique())
    for rid in rids:
        table.add_column(str(rid))
    for variant in result.variants:
        cells = []
        for rid in rids:
            part = drivers[(drivers["variant"] == variant) & (drivers["ruleset"] == rid)]
            if part["value"].isna().all():
                cells.append("not fitted")
            else:
                cells.append(", ".join(s.removeprefix("dimension=") for s in part.loc[part["value"] == 1, "stratum"])
                             or "none")
        table.add_row(labels[variant], *cells)
    console.print(table)
    share = result.item_reading_share
    console.print("Item-reading share (the full model's levels that the item reading alone decides): "
                  + "; ".join(f"{_short(str(s))} {_cell(x)}" for s, x in share.items()))
    table = Table(title="Which mechanisms produce which finding")
    for col in ("finding", "ruleset", "stratum", "full model", "item reading alone", "produced by"):
        table.add_column(col)
    for record in result.summary.to_dict("records"):
        fmt = ".0f" if record["finding"] in ("teaching_divergent", "divergence_driver") else ".3f"
        rid = record["ruleset"] if isinstance(record["ruleset"], str) else ""
        table.add_row(str(record["finding"]), rid, _short(str(record["stratum"])), _cell(record["value"], fmt),
                      _cell(record["item_reading"], fmt),
                      ", ".join(str(m) for m in record["produced_by"]) or "none of them")
    console.print(table)
    console.print(PRODUCED_BY_RULE)
    if output is not None:
        try:
            write_table(result.findings, output)
            write_table(result.summary, output.with_name(f"{output.stem}_produced_by{output.suffix}"))
        except (TableFileError, ValueError) as exc:
            raise fail(str(exc)) from exc
        console.print(f"wrote {len(result.findings)} rows to {output}")
