"""``dsk model``: a cumulative-link (mixed) model for any long-format file.

:func:`model` is a plain function with typer annotations; ``dsk.cli`` mounts it with
``app.command("model")(model)``. The formula uses the file's own column names; ``--vignettes
FILE`` joins a vignettes table on ``vignette_id`` so the formula can name its columns (the
factors of each vignette). Bad formulas, unknown or incomplete columns and unreadable files
are reported in plain words, every problem at once, with exit status 2.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from typer.testing import CliRunner
>>> from dsk.cli import app
>>> ratings = pd.DataFrame({"level": [1, 1, 2, 2, 3, 3, 1, 2, 3, 2, 3, 3],
...                         "x": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1]})
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp, "ratings.csv")
...     ratings.to_csv(path, index=False)
...     result = CliRunner().invoke(app, ["model", str(path), "--formula", "level ~ x",
...                                       "--format", "csv"])
>>> print(result.output)  # doctest: +ELLIPSIS
term,kind,estimate,odds_ratio,se,z,p,ci_low,ci_high
1|2,threshold,-0.354...
2|3,threshold,1.286...
x,fixed,1.547...
<BLANKLINE>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from dsk.analysis.cli import read_long_table
from dsk.analysis.models import FormulaError, ModelResult, clmm
from dsk.io import TableFileError

__all__ = ["join_vignettes", "model"]

FORMATS = ("table", "csv", "json")


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def join_vignettes(frame: pd.DataFrame, path: Path, vignettes: pd.DataFrame, vpath: Path) -> pd.DataFrame:
    """``frame`` with every column of ``vignettes`` it lacks, joined on ``vignette_id``.

    Raises
    ------
    FormulaError
        When either table has no ``vignette_id`` column, a vignette appears twice in the
        vignettes table, or the ratings name vignettes the table lacks.

    Examples
    --------
    >>> r = pd.DataFrame({"vignette_id": ["a", "b", "a"], "level": [1, 2, 2]})
    >>> v = pd.DataFrame({"vignette_id": ["a", "b"], "neglect": [0, 1]})
    >>> join_vignettes(r, Path("r.csv"), v, Path("v.csv"))["neglect"].tolist()
    [0, 1, 0]
    """
    problems = [f"{p}: column 'vignette_id' missing; the file has columns {', '.join(map(str, t.columns))}"
                for p, t in ((path, frame), (vpath, vignettes)) if "vignette_id" not in t.columns]
    if problems:
        raise FormulaError(problems)
    ids = vignettes["vignette_id"].astype(str)
    if ids.duplicated().any():
        problems.append(f"{vpath}: vignette_id {ids[ids.duplicated()].iloc[0]!r} appears twice")
    unknown = sorted(set(frame["vignette_id"].astype(str)) - set(ids))
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        problems.append(f"{path}: column 'vignette_id': {', '.join(map(repr, unknown[:3]))}{more} "
                        f"not in {vpath}")
    if problems:
        raise FormulaError(problems)
    extra = [c for c in vignettes.columns if c not in frame.columns]
    lookup = vignettes.assign(vignette_id=ids).set_index("vignette_id")[extra]
    joined = lookup.reindex(frame["vignette_id"].astype(str).to_numpy())
    joined.index = frame.index
    return pd.concat([frame, joined], axis=1)


def model(
    file: Annotated[Path, typer.Argument(help="Long-format data: .csv, .jsonl or .parquet, one row per judgement.")],
    formula: Annotated[str, typer.Option(
        help="lme4-style formula with the file's column names, e.g. "
             "'need_level ~ domestic_abuse + profession + position + (1|rater_id) + (1|vignette_id)'. "
             "Text columns enter as levels (first level the reference; "
             "C(x, contr.treatment(base='b')) picks another), numbers as numbers (C(x) makes levels); "
             "a:b and a*b give interactions.")],
    vignettes: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Option(help="Vignettes table joined on vignette_id, so the formula can name its columns."),
    ] = None,
    nagq: Annotated[int, typer.Option(
        help="1: Laplace approximation (as R's clmm by default); more, with one random term: "
             "adaptive Gauss-Hermite quadrature on that many nodes (R's nAGQ).")] = 1,
    output_format: Annotated[str, typer.Option("--format", help="Output: table, csv or json.")] = "table",
) -> None:
    """Fit a proportional-odds (cumulative logit) model, with crossed random intercepts (1|g).

    Prints the terms (thresholds, fixed effects as log-odds with odds ratios, SEs, z, p and 95%
    intervals, random-effect SDs), the fit (log-likelihood, AIC, observations, groups,
    convergence) and any warnings (singular fit, separation).
    """
    if output_format not in FORMATS:
        raise _usage_error(f"--format: expected table, csv or json, got {output_format!r}")
    try:
        frame, _ = read_long_table(file)
        if vignettes is not None:
            vtable, _ = read_long_table(vignettes)
            frame = join_vignettes(frame, file, vtable, vignettes)
        result = clmm(formula, frame.reset_index(drop=True), nagq=nagq)
    except TableFileError as exc:
        raise _usage_error(str(exc)) from exc
    except FormulaError as exc:
        raise _usage_error(f"{file}: " + "; ".join(exc.problems)) from exc
    if output_format == "csv":
        sys.stdout.write(result.table.to_csv(index=False, lineterminator="\n"))
        for warning in result.warnings:
            typer.echo(f"warning: {warning}", err=True)
    elif output_format == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=1, default=_plain) + "\n")
    else:
        console = Console()
        print_result(result, console if console.is_terminal else Console(width=160))


def _fmt(value: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}f}"


def _p(value: float) -> str:
    if not np.isfinite(value):
        return ""
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def print_result(result: ModelResult, console: Console) -> None:
    """The terms as a rich table, then the fit and the warnings."""
    table = Table(title=f"Cumulative-link model: {result.formula}")
    table.add_column("term", justify="left", overflow="fold")
    table.add_column("kind", justify="left", no_wrap=True)
    for col in ("estimate", "odds ratio", "SE", "z", "p", "2.5%", "97.5%"):
        table.add_column(col, justify="right", no_wrap=True)
    for rec in result.table.to_dict(orient="records"):
        num = {k: float(rec[k]) for k in ("estimate", "odds_ratio", "se", "z", "p", "ci_low", "ci_high")}
        table.add_row(str(rec["term"]), str(rec["kind"]), _fmt(num["estimate"]), _fmt(num["odds_ratio"]),
                      _fmt(num["se"]), _fmt(num["z"], 2), _p(num["p"]), _fmt(num["ci_low"]),
                      _fmt(num["ci_high"]))
    console.print(table)
    groups = ", ".join(f"{g} {n}" for g, n in result.n_groups.items()) or "none"
    console.print(f"log-likelihood {result.loglik:.3f}, AIC {result.aic:.2f}, {result.n_obs} observations, "
                  f"groups: {groups}", highlight=False)
    console.print(f"converged: {'yes' if result.converged else 'no'} (max |gradient| "
                  f"{result.max_gradient:.1e}, condition number of the Hessian "
                  f"{result.condition_number:.1e})", highlight=False)
    for warning in result.warnings:
        console.print(f"[bold]warning:[/bold] {warning}", highlight=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
