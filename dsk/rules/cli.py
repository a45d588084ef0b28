"""``dsk rules``: check, apply and explain rulesets from the command line.

Examples
--------
Each command takes a ruleset file or the id of a bundled ruleset (such as
``threshold-of-need``). ``dsk rules check`` lints a ruleset on a random sample
(exit status 1 on errors, all of them reported at once on standard error, each
with its line, column and a caret under the bad text); ``dsk rules apply``
writes the decisions table:

>>> import tempfile
>>> from pathlib import Path
>>> from typer.testing import CliRunner
>>> from dsk.catalogue import load_catalogue
>>> from dsk.io import read_table, write_table
>>> from dsk.rules import bundled_rulesets
>>> from dsk.rules.cli import app
>>> from dsk.sets import load_set
>>> runner = CliRunner()
>>> toxic_trio = str(bundled_rulesets()["toxic-trio"])
>>> result = runner.invoke(app, ["check", "toxic-trio", "--sample", "500"])
>>> result.exit_code, result.output.splitlines()[-1].endswith("toxic-trio.yaml: 0 errors, 1 warnings")
(0, True)
>>> with tempfile.TemporaryDirectory() as tmp:
...     vignettes = write_table(load_set("training-12", load_catalogue()), Path(tmp, "v.jsonl"))
...     decisions = Path(tmp, "decisions.csv")
...     result = runner.invoke(app, ["apply", toxic_trio, str(vignettes), "-o", str(decisions)])
...     levels = read_table(decisions, "decisions").set_index("vignette_id")["need_level"]
>>> print(result.output)
toxic-trio (durable): 12 vignettes -> .../decisions.csv
>>> levels[["tame-01-disclosure", "wicked-05-toxic-trio-baby"]].tolist()
[1, 4]

The checklist misses the disclosure of abuse, which names no toxic-trio
factor. ``dsk rules explain --id ...`` prints :func:`explanation` and
:func:`near_misses` for one vignette.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from dsk._cli import fail
from dsk.catalogue import CatalogueError, load_catalogue
from dsk.io import TableFileError, read_vignettes, write_table
from dsk.rules import (
    ENGINES,
    Evaluation,
    RulesetError,
    RulesInputError,
    bundled_rulesets,
    evaluate,
    load_ruleset,
)
from dsk.rules._errors import did_you_mean
from dsk.rules.durable import DurableRulesError
from dsk.rules.lint import lint_ruleset
from dsk.schema import SchemaError

__all__ = ["app"]

app = typer.Typer(help="Check, apply and explain rulesets (checklists).", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

_FAILURES = (RulesetError, RulesInputError, DurableRulesError, TableFileError, SchemaError,
             CatalogueError, FileNotFoundError)


def _engine(value: str) -> str:
    if value not in ENGINES:
        raise typer.BadParameter(f"expected one of {', '.join(ENGINES)}, got {value!r}")
    return value


_RULES_HELP = "Ruleset YAML file, or a bundled ruleset id such as threshold-of-need."


def ruleset_path(name: str) -> Path:
    """The file a ``dsk rules`` argument names: an existing file, else a bundled ruleset id.

    Examples
    --------
    >>> ruleset_path("toxic-trio").name
    'toxic-trio.yaml'
    """
    path = Path(name)
    if path.is_file():
        return path
    bundled = bundled_rulesets()
    if name in bundled:
        return bundled[name]
    hint = did_you_mean(name, bundled)
    raise fail(f"{name}: no such ruleset file, and no bundled ruleset with that id{hint} "
               f"(bundled: {', '.join(bundled)})")


@app.command()
def check(
    rules: Annotated[str, typer.Argument(help=_RULES_HELP)],
    sample: Annotated[int, typer.Option(help="Random vignettes to try the rules on.")] = 20000,
    seed: Annotated[int, typer.Option(help="Seed of the random sample.")] = 0,
) -> None:
    """Report errors (exit status 1), warnings and notes for a ruleset.

    Every error in the file is reported at once on standard error, each as
    file:line:column with the source line and a caret under the bad text.
    """
    path = ruleset_path(rules)
    try:
        cat = load_catalogue()
        ruleset = load_ruleset(path, cat)
    except RulesetError as exc:
        typer.echo(str(exc), err=True)
        typer.echo(f"{path}: {len(exc.errors)} errors, 0 warnings", err=True)
        raise typer.Exit(1) from exc
    except _FAILURES as exc:
        raise fail(str(exc)) from exc
    report = lint_ruleset(ruleset, cat, sample_size=sample, random_state=seed)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"{path}: {len(report.errors)} errors, {len(report.warnings)} warnings")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def apply(
    rules: Annotated[str, typer.Argument(help=_RULES_HELP)],
    vignettes: Annotated[Path, typer.Argument(help="Vignettes table (.jsonl, .parquet, .csv).")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Decisions table to write (.csv, .parquet, .jsonl).")],
    engine: Annotated[str, typer.Option(callback=_engine,
                                        help="durable (reference) or vector (fast).")] = "durable",
    trace: Annotated[Path | None, typer.Option(help="Also write the trace table here.")] = None,
) -> None:
    """Apply a ruleset to vignettes and write the decisions (and trace) tables."""
    try:
        cat = load_catalogue()
        ruleset = load_ruleset(ruleset_path(rules), cat)
        table = read_vignettes(vignettes, cat)
        result = evaluate(ruleset, table, engine=engine, margins=trace is not None, catalogue=cat)
        write_table(result.decisions(), output)
        if trace is not None:
            write_table(result.trace(), trace)
    except _FAILURES as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"{ruleset.id} ({engine}): {len(result):,} vignettes -> {output}"
               + (f", trace -> {trace}" if trace is not None else ""))


@app.command()
def explain(
    rules: Annotated[str, typer.Argument(help=_RULES_HELP)],
    vignettes: Annotated[Path, typer.Argument(help="Vignettes table (.jsonl, .parquet, .csv).")],
    vignette_id: Annotated[str, typer.Option("--id", help="The vignette to explain.")],
    engine: Annotated[str, typer.Option(callback=_engine)] = "durable",
    near: Annotated[int, typer.Option(help="How many near misses to show.")] = 5,
    changes: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--set", help="FACTOR=LEVEL: also explain the variant with this change (a minimal pair).")] = None,
) -> None:
    """Fired rules with their reasons, the decisive rule, and the near misses.

    With ``--set``, the vignette and its variant (:func:`dsk.vary.vary_vignette`)
    are explained one after the other, then whether the decision changed.
    """
    from dsk.vary import VaryError, parse_changes, vary_vignette

    try:
        cat = load_catalogue()
        ruleset = load_ruleset(ruleset_path(rules), cat)
        table = read_vignettes(vignettes, cat)
        rows = table.index[table["vignette_id"].astype(str) == vignette_id]
        if len(rows) == 0:
            raise fail(f"{vignettes}: no vignette with vignette_id {vignette_id!r}")
        one = table.loc[rows[:1]]
        result = evaluate(ruleset, one, engine=engine, margins=True, catalogue=cat)
        variant = None
        if changes:
            try:
                pair = vary_vignette(table, vignette_id, parse_changes(changes), cat)
            except VaryError as exc:
                raise fail(f"{vignettes}: " + "; ".join(exc.problems)) from exc
            variant = evaluate(ruleset, pair, engine=engine, margins=True, catalogue=cat)
    except _FAILURES as exc:
        raise fail(str(exc)) from exc
    typer.echo(explanation(result))
    if near and variant is None:
        typer.echo(near_misses(result, near))
    if variant is not None:
        typer.echo(f"\nwith {pair['variation'].iloc[0]}:")
        typer.echo(explanation(variant))
        typer.echo(pair_change(result, variant))


def pair_change(before: Evaluation, after: Evaluation) -> str:
    """One line: whether a minimal pair's decision changed, and which rules came or went."""
    a, b = int(before.need_level[0]), int(after.need_level[0])
    gone = [r for r in before.fired_ids(0) if r not in after.fired_ids(0)]
    new = [r for r in after.fired_ids(0) if r not in before.fired_ids(0)]
    moves = ([f"{', '.join(gone)} no longer fire{'s' if len(gone) == 1 else ''}"] if gone else []) + (
        [f"{', '.join(new)} now fire{'s' if len(new) == 1 else ''}"] if new else [])
    head = f"decision: level {a} -> level {b}" if a != b else f"decision unchanged at level {a}"
    return head + (": " + "; ".join(moves) if moves else "")


def explanation(result: Evaluation) -> str:
    """Decision, decisive rule and fired rules of the first vignette in ``result``.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> ruleset = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
    >>> vignettes = load_set("training-12", cat)
    >>> baby = vignettes[vignettes["vignette_id"] == "wicked-05-toxic-trio-baby"]
    >>> print(explanation(evaluate(ruleset, baby, engine="vector", catalogue=cat)))
    vignette wicked-05-toxic-trio-baby: need level 4 under toxic-trio (max, version ...)
      decisive rule: two-of-three-with-baby (level 4, lead agency social_care)
      conflict: the fired rules disagree on the level
    fired (4):
      - two-of-three-with-baby [level 4] when toxic_trio >= 2 and age_band <= infant
          because: Two toxic-trio factors around an unborn baby or infant put ...
      - all-three-present [level 3] when toxic_trio == 3
          because: ...
      - two-of-three [level 3] when toxic_trio >= 2
          because: ...
      - one-present [level 2] when toxic_trio >= 1
          because: ...
    """
    rs = result.ruleset
    lines = [f"vignette {result.vignette_ids[0]}: need level {int(result.need_level[0])} "
             f"under {rs.id} ({rs.hit_policy}, version {rs.version})"]
    decisive = int(result.decisive[0])
    if decisive < 0:
        lines.append(f"  no rule fired: default level {rs.default_level}")
    else:
        rule = rs.rules[decisive]
        lead = f", lead agency {rule.lead_agency}" if rule.lead_agency else ""
        lines.append(f"  decisive rule: {rule.id} (level {rule.level}{lead})")
    if result.conflict[0]:
        lines.append("  conflict: the fired rules disagree on the level")
    fired = np.flatnonzero(result.fired[0])
    lines.append(f"fired ({len(fired)}):")
    for j in fired:
        rule = rs.rules[j]
        lines.append(f"  - {rule.id} [level {rule.level}] when {rule.when}")
        if rule.because:
            lines.append(f"      because: {rule.because}")
    return "\n".join(lines)


def near_misses(result: Evaluation, limit: int) -> str:
    """Rules that did not fire, fewest changes first (higher levels first among equals).

    A rule's margin is the number of one-step factor changes it needs to fire;
    ``result`` must come from ``evaluate(..., margins=True)``.

    Examples
    --------
    The disclosure vignette falls to the default level under the toxic-trio
    checklist; one more toxic-trio factor would fire ``one-present``:

    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> ruleset = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
    >>> vignettes = load_set("training-12", cat)
    >>> disclosure = vignettes[vignettes["vignette_id"] == "tame-01-disclosure"]
    >>> print(near_misses(evaluate(ruleset, disclosure, engine="vector", margins=True,
    ...                            catalogue=cat), 2))
    near misses (fewest one-step changes to fire, top 2):
      - one-present [level 2] needs 1 change: when toxic_trio >= 1
      - two-of-three [level 3] needs 2 changes: when toxic_trio >= 2
    """
    rs = result.ruleset
    if result.margins is None:
        raise ValueError("near misses need an evaluation with margins=True")
    margins = result.margins[0]
    order = sorted((int(margins[j]), -rs.rules[j].level, j) for j in range(len(rs.rules))
                   if not result.fired[0, j] and margins[j] > 0)
    lines = [f"near misses (fewest one-step changes to fire, top {limit}):"]
    for margin, _, j in order[:limit]:
        rule = rs.rules[j]
        lines.append(f"  - {rule.id} [level {rule.level}] needs {margin} change"
                     f"{'s' if margin != 1 else ''}: when {rule.when}")
    if len(lines) == 1:
        lines.append("  (none)")
    return "\n".join(lines)
