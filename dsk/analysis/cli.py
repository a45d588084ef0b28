"""``dsk agree``: agreement among raters in any long-format file.

:func:`agree` is a plain function with typer annotations; ``dsk.cli`` mounts
it with ``app.command("agree")(agree)``.

Examples
--------
Two raters on three cases agree exactly on two (1/1 and 4/4) and are one level
apart on the third (2/3):

>>> import tempfile
>>> from pathlib import Path
>>> from typer.testing import CliRunner
>>> from dsk.cli import app
>>> ratings = pd.DataFrame({"vignette_id": ["a", "a", "b", "b", "c", "c"],
...                         "rater_id": ["x", "y"] * 3, "need_level": [1, 1, 2, 3, 4, 4]})
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = Path(tmp, "ratings.csv")
...     ratings.to_csv(path, index=False)
...     result = CliRunner().invoke(app, ["agree", str(path), "--bootstrap", "0"])
>>> print(result.output)  # doctest: +ELLIPSIS
analysis,metric,comparison,stratum,estimate,ci_low,ci_high,n
agreement,percent_exact,within-raters,all,0.666...,,,3
agreement,percent_within_one,within-raters,all,1.0,,,3
...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer

from dsk._cli import fail
from dsk.analysis.coefficients import AgreementInputError, agreement
from dsk.io import TableFileError, table_format

__all__ = ["agree", "read_long_table"]


def read_long_table(path: Path) -> tuple[pd.DataFrame, str]:
    """Read a CSV, JSON Lines or Parquet file as it is; return it and the word for its rows.

    Rows are counted as lines of the file for CSV (the header is line 1) and
    JSON Lines, and as rows (from 1) for Parquet.
    """
    fmt = table_format(path)
    if not path.exists():
        raise TableFileError(f"{path}: no such file")
    try:
        if fmt == "csv":
            frame = pd.read_csv(path)
            frame.index = frame.index + 2
        elif fmt == "jsonl":
            records, lines = [], []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    records.append(json.loads(line))
                    lines.append(number)
            if not all(isinstance(r, dict) for r in records):
                raise TableFileError(f"{path}: expected one JSON object per line")
            frame = pd.DataFrame.from_records(records, index=lines)
        else:
            frame = pd.read_parquet(path)
            frame.index = frame.index + 1
    except TableFileError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise TableFileError(f"{path}: cannot read as {fmt}: {exc}") from exc
    if frame.empty:
        raise TableFileError(f"{path}: no rows")
    return frame, "row" if fmt == "parquet" else "line"


def _check(frame: pd.DataFrame, path: Path, where: str, columns: list[str], rating: str) -> None:
    for col in columns:
        if col not in frame.columns:
            raise AgreementInputError(
                f"{path}: column {col!r} missing; the file has columns "
                f"{', '.join(map(str, frame.columns))}"
            )
    series = frame[rating]
    present = series.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    bad = numeric.isna().to_numpy() | (numeric.to_numpy(dtype=float, na_value=np.nan) % 1 != 0)
    if bad.any():
        label = present.index[int(np.flatnonzero(bad)[0])]
        raise AgreementInputError(
            f"{path}, {where} {label}: column {rating!r}: expected an integer "
            f"rating, got {present[label]!r}"
        )
    if present.empty:
        raise AgreementInputError(f"{path}: column {rating!r}: no ratings")


def agree(
    file: Annotated[Path, typer.Argument(help="Long-format ratings: .csv, .jsonl or .parquet.")],
    unit: Annotated[str, typer.Option(help="Column naming the rated unit.")] = "vignette_id",
    rater: Annotated[str, typer.Option(help="Column naming the rater.")] = "rater_id",
    rating: Annotated[
        str, typer.Option(help="Column of integer ratings (any range).")
    ] = "need_level",
    by: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional
        typer.Option(help="Also compute within each value of this column."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Cluster-bootstrap replicates (0: no intervals).", min=0)
    ] = 1000,
    seed: Annotated[
        int, typer.Option(help="Bootstrap seed; the same seed gives the same output.")
    ] = 0,
    output_format: Annotated[str, typer.Option("--format", help="Output: csv or json.")] = "csv",
) -> None:
    """Agreement among raters (percent agreement, Fleiss, Krippendorff, Gwet, Brennan-Prediger).

    Prints the stats table (metric, estimate, 95% interval from a two-way
    cluster bootstrap over units and raters, n units) to standard output.
    """
    if output_format not in ("csv", "json"):
        raise fail(f"--format: expected csv or json, got {output_format!r}")
    try:
        frame, where = read_long_table(file)
        _check(frame, file, where, [unit, rater, rating] + ([by] if by else []), rating)
        table = agreement(
            frame, unit, rater, rating, by=by, n_boot=bootstrap, random_state=seed, source=str(file)
        )
    except (TableFileError, AgreementInputError) as exc:
        raise fail(str(exc)) from exc
    if output_format == "csv":
        sys.stdout.write(table.to_csv(index=False, lineterminator="\n"))
    else:
        records = [
            {
                k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in row.items()
            }
            for row in table.to_dict(orient="records")
        ]
        sys.stdout.write(json.dumps(records, indent=1, default=_plain) + "\n")


def _plain(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
