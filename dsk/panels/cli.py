"""``dsk panel``: simulate panels and check their calibration.

Examples
--------
``dsk panel simulate`` writes a judgements table (here from the bundled
``social-workers-8`` panel on the ``training-12`` set), and ``dsk panel
calibrate`` runs a panel on 20 seeds (by default) and prints, per calibration
target, the mean, the range and the share of seeds inside the published
interval, then the pattern checks:

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
>>> output = " ".join(result.output.split())
>>> title = "Calibration targets: mixed-12, 20 seeds of 30 stratified vignettes (seeds spawned from 1)"
>>> result.exit_code, title in output, "seeds inside the published 95% interval 0.52-0.62" in output
(0, True, True)

A share of seeds inside an interval says little from fewer than 20 seeds, so fewer are refused:

>>> result = runner.invoke(app, ["calibrate", "--seeds", "5"])
>>> result.exit_code, result.output.startswith("error: calibration needs at least 20 seeds (got 5)")
(1, True)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from dsk._cli import fail
from dsk.catalogue import Catalogue, CatalogueError, load_catalogue
from dsk.io import TableFileError, read_vignettes, write_table
from dsk.panels.calibrate import MIN_SEEDS, Calibration
from dsk.panels.calibrate import calibrate as run_calibration
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
    vignette_id: Annotated[str | None, typer.Option(
        "--id", help="With --set: simulate this vignette and its variant only (a minimal pair).")] = None,
    changes: Annotated[list[str] | None, typer.Option(
        "--set", help="FACTOR=LEVEL, once per change, for the variant of --id.")] = None,
) -> None:
    """Simulate a panel's judgements on a vignette set and write the judgements table.

    With ``--id`` and ``--set``, the panel judges the vignette and its variant
    (:func:`dsk.vary.vary_vignette`) in one run, so the same raters judge both,
    and the two distributions of levels are printed side by side.
    """
    from dsk.vary import VaryError, parse_changes, vary_vignette

    pair = None
    try:
        cat = load_catalogue()
        profs = load_professions(professions, cat)
        spec = load_panel(panel, profs)
        frame = _vignettes(vignettes, cat)
        if bool(vignette_id) != bool(changes):
            raise fail("give --id and --set together: the vignette and what to change in it")
        if vignette_id and changes:
            try:
                variant = vary_vignette(frame, vignette_id, parse_changes(changes), cat)
            except VaryError as exc:
                raise fail(f"{vignettes}: " + "; ".join(exc.problems)) from exc
            pair = pd.concat([frame[frame["vignette_id"] == vignette_id], variant], ignore_index=True)
            frame = pair
        judgements = simulate_panel(frame, spec, random_state=seed, rounds=rounds, professions=profs,
                                    catalogue=cat, rationale=not no_rationale)
        write_table(judgements, output)
    except (PanelError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if pair is not None:
        console.print(_pair_table(judgements, pair, rounds))
    console.print(f"wrote {len(judgements)} judgements ({judgements['rater_id'].nunique()} raters x "
                  f"{judgements['vignette_id'].nunique()} vignettes x {rounds} round(s)) to {output}")


def _pair_table(judgements: pd.DataFrame, pair: pd.DataFrame, rounds: int) -> Table:
    """The levels the panel gave the original and the variant, side by side (last round)."""
    last = judgements[judgements["round"] == rounds]
    ids = pair["vignette_id"].tolist()
    table = Table(title=f"simulated panel: {ids[0]} (original) and {ids[1]} (variant: {pair['variation'].iloc[1]})")
    table.add_column("need level")
    for name in ("original", "variant"):
        table.add_column(name)
    counts = {vid: last.loc[last["vignette_id"] == vid, "need_level"].value_counts() for vid in ids}
    for level in (1, 2, 3, 4):
        table.add_row(str(level), *(f"{int(counts[v].get(level, 0))} ({counts[v].get(level, 0) / counts[v].sum():.0%})"
                                    for v in ids))
    table.add_row("median", *(f"{last.loc[last['vignette_id'] == v, 'need_level'].median():g}" for v in ids))
    return table


@app.command("calibrate")
def calibrate(
    panel: Annotated[str, typer.Argument(help="Panel file or bundled id.")] = "mixed-12",
    seeds: Annotated[int, typer.Option("--seeds", help=f"Seeds, each a fresh vignette set and panel draw "
                                                       f"(at least {MIN_SEEDS}).")] = MIN_SEEDS,
    n: Annotated[int, typer.Option("--n", help="Stratified vignettes per seed (a third per band).")] = 300,
    seed: Annotated[int, typer.Option(help="Seed the per-seed seeds are spawned from.")] = 1,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the per-seed table "
                                                "(.csv, .parquet, .jsonl).")] = None,
) -> None:
    """Check a panel against published agreement over many seeds, then the pattern checks."""
    cat = load_catalogue()
    try:
        profs = load_professions(catalogue=cat)
        spec = load_panel(panel, profs)
        result = run_calibration(spec, profs, cat, seeds=seeds, n=n, random_state=seed)
        if output is not None:
            write_table(result.per_seed, output)
    except (PanelError, TableFileError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(_targets_table(result))
    for t in result.targets.to_dict("records"):
        console.print(f"{t['target']}: {_count(t['inside'], t['seeds'])} seeds inside the published 95% "
                      f"interval {t['low']:.2f}-{t['high']:.2f}. The figure is the {t['figure']}; "
                      f"{t['source']} measured {t['measured']}. {t['note']}")
    console.print(_patterns_table(result))
    for c in result.patterns.to_dict("records"):
        verdict = "could not be computed: the panel lacks a profession it compares" if math.isnan(c["holds"]) \
            else f"holds ({c['rule']}) on {_count(c['holds'], c['seeds'])} seeds"
        console.print(f"{c['check']} {verdict}. The figure is the {c['figure']}; {c['source']}: "
                      f"{c['measured']}; not shown: {c['not_shown']}.")
    if output is not None:
        console.print(f"wrote the per-seed table ({len(result.per_seed)} seeds) to {output}")


def _count(share: float, seeds: int) -> str:
    """``share`` of ``seeds`` in words: ``15 of 20 (75%)``, or ``n/a`` when it could not be computed."""
    if math.isnan(share):
        return "n/a"
    return f"{round(share * seeds)} of {seeds} ({share:.0%})"


def _range(low: float, high: float) -> str:
    return "n/a" if math.isnan(low) else f"{low:.3f} to {high:.3f}"


def _targets_table(result: Calibration) -> Table:
    table = Table(title=f"Calibration targets: {result.panel_id}, {len(result.per_seed)} seeds of "
                        f"{result.n} stratified vignettes (seeds spawned from {result.random_state})")
    table.add_column("target (study)", min_width=13)
    table.add_column("published (95% interval)")
    for col in ("mean", "range", "seeds inside"):
        table.add_column(col, no_wrap=True)
    for t in result.targets.to_dict("records"):
        table.add_row(f"{t['target']}\n({t['study']})", f"{t['published']:.2f} ({t['low']:.2f}-{t['high']:.2f})",
                      f"{t['mean']:.3f}", _range(t["min"], t["max"]), _count(t["inside"], t["seeds"]))
    return table


def _patterns_table(result: Calibration) -> Table:
    table = Table(title="Pattern checks: a published direction, not a target (no interval)")
    table.add_column("check: rule (study)", min_width=26)
    for col in ("mean", "range", "holds on"):
        table.add_column(col, no_wrap=True)
    for c in result.patterns.to_dict("records"):
        mean = "n/a" if math.isnan(c["mean"]) else f"{c['mean']:.3f}"
        table.add_row(f"{c['check']}: {c['rule']} ({c['study']})", mean, _range(c["min"], c["max"]),
                      _count(c["holds"], c["seeds"]))
    return table


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
