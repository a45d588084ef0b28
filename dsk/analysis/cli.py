"""``dsk agree``: agreement among raters in any long-format file.

:func:`agree` is a plain function with typer annotations; ``dsk.cli`` mounts
it with ``app.command("agree")(agree)``.

The rating scale is never read off the data: ``--levels 1-4`` (or a list,
``--levels 0,1,2``) gives it, and ratings in a ``need_level`` column default to
the need scale 1-4. Inferring it from the lowest and highest rating seen would
shrink the scale whenever an end category goes unused, which shifts Gwet's
AC1/AC2 and Brennan-Prediger (their chance agreement depends on the number of
categories). ``--vignettes FILE`` joins a vignettes table on ``vignette_id`` so
that ``--by`` can name one of its columns, such as ``complexity_band``.

``--bootstrap-scheme`` chooses what the intervals resample: ``two-way`` (the
default: cases and raters, so the interval speaks to new raters on new cases)
or ``fixed-raters`` (cases only: these raters on new cases).

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
analysis,metric,comparison,stratum,estimate,ci_low,ci_high,n,boot_failed
agreement,percent_exact,within-raters,all,0.666...,,,3,
agreement,percent_within_one,within-raters,all,1.0,,,3,
...

The levels are parsed by :func:`parse_levels`:

>>> parse_levels("1-4"), parse_levels("0, 2, 5")
((1, 2, 3, 4), (0, 2, 5))
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer

from dsk._cli import fail
from dsk.analysis._bootstrap import DEFAULT_SCHEME, SCHEMES
from dsk.analysis.coefficients import AgreementInputError, agreement
from dsk.io import TableFileError, table_format
from dsk.schema import NEED_LEVELS

__all__ = ["agree", "parse_levels", "read_long_table"]

_RANGE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")
_LIST = re.compile(r"^\s*-?\d+\s*(,\s*-?\d+\s*)*,?\s*$")


def parse_levels(text: str) -> tuple[int, ...]:
    """The rating scale from ``"LOW-HIGH"`` (inclusive) or a comma-separated list of integers.

    Raises
    ------
    ValueError
        When the text is neither form, the range is empty or fewer than two levels result.

    Examples
    --------
    >>> parse_levels("1-5")
    (1, 2, 3, 4, 5)
    >>> parse_levels("4-1")
    Traceback (most recent call last):
    ...
    ValueError: --levels: the range 4-1 is empty; write the lowest level first, e.g. 1-4
    """
    match = _RANGE.match(text)
    if match is not None:
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise ValueError(f"--levels: the range {low}-{high} is empty; write the lowest "
                             f"level first, e.g. {high}-{low}")
        levels = tuple(range(low, high + 1))
    elif _LIST.match(text):
        levels = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    else:
        raise ValueError(f"--levels: expected a range such as 1-4 or a list such as 1,2,3,4, "
                         f"got {text!r}")
    if len(levels) < 2:
        raise ValueError(f"--levels: a rating scale needs two or more levels, got {text!r}")
    return levels


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


def _check(frame: pd.DataFrame, path: Path, where: str, rating: str, rater: str,
           levels: tuple[int, ...]) -> None:
    """Integer ratings on the scale, from two or more raters; errors name the line."""
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
    outside = ~numeric.isin(levels).to_numpy()
    if outside.any():
        label = present.index[int(np.flatnonzero(outside)[0])]
        raise AgreementInputError(
            f"{path}, {where} {label}: column {rating!r}: rating {_number(numeric[label])} is not on "
            f"the scale {_scale(levels)}; give the scale with --levels"
        )
    raters = frame.loc[series.notna(), rater].dropna().astype(str).unique()
    if len(raters) < 2:
        who = f" ({raters[0]!r})" if len(raters) else ""
        raise AgreementInputError(
            f"{path}: column {rater!r}: agreement needs two or more raters, the file has "
            f"{len(raters)}{who}"
        )


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else str(number)


def _scale(levels: tuple[int, ...]) -> str:
    if levels == tuple(range(levels[0], levels[-1] + 1)):
        return f"{levels[0]}-{levels[-1]}"
    return ",".join(map(str, levels))


def _require(frame: pd.DataFrame, path: Path, columns: list[str]) -> None:
    for col in columns:
        if col not in frame.columns:
            raise AgreementInputError(
                f"{path}: column {col!r} missing; the file has columns "
                f"{', '.join(map(str, frame.columns))}"
            )


def _default_levels(frame: pd.DataFrame, path: Path, rating: str) -> tuple[int, ...]:
    if rating == "need_level":
        return NEED_LEVELS
    numeric = pd.to_numeric(frame[rating], errors="coerce").dropna() if rating in frame else None
    seen = (f" (ratings seen run from {int(numeric.min())} to {int(numeric.max())})"
            if numeric is not None and len(numeric) and (numeric % 1 == 0).all() else "")
    raise AgreementInputError(
        f"{path}: column {rating!r}: give the rating scale with --levels, e.g. --levels 1-5{seen}; "
        "it is not inferred from the ratings seen, since an unused end level would change "
        "AC1, AC2 and Brennan-Prediger"
    )


def _join_vignettes(frame: pd.DataFrame, path: Path, vignettes: Path, unit: str,
                    by: str) -> pd.DataFrame:
    """``frame`` with the ``by`` column of the vignettes table, joined on its vignette_id."""
    table, where = read_long_table(vignettes)
    for col in ("vignette_id", by):
        if col not in table.columns:
            raise AgreementInputError(
                f"{vignettes}: column {col!r} missing; the file has columns "
                f"{', '.join(map(str, table.columns))}"
            )
    ids = table["vignette_id"].astype(str)
    dupes = ids.duplicated()
    if dupes.any():
        label = ids.index[int(np.flatnonzero(dupes.to_numpy())[0])]
        raise AgreementInputError(
            f"{vignettes}, {where} {label}: vignette_id {ids[label]!r} appears twice"
        )
    lookup = dict(zip(ids, table[by], strict=True))
    units = frame[unit].astype(str)
    unknown = sorted(set(units) - set(lookup))
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise AgreementInputError(
            f"{path}: column {unit!r}: {', '.join(map(repr, unknown[:3]))}{more} not in "
            f"{vignettes}"
        )
    out = frame.copy()
    out[by] = units.map(lookup).to_numpy()
    return out


def agree(
    file: Annotated[Path, typer.Argument(help="Long-format ratings: .csv, .jsonl or .parquet.")],
    unit: Annotated[str, typer.Option(help="Column naming the rated unit.")] = "vignette_id",
    rater: Annotated[str, typer.Option(help="Column naming the rater.")] = "rater_id",
    rating: Annotated[
        str, typer.Option(help="Column of integer ratings.")
    ] = "need_level",
    levels: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional
        typer.Option(help="The rating scale: a range such as 1-4 or a list such as 1,2,3,4 "
                          "(default 1-4 for need_level; required for other columns)."),
    ] = None,
    by: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional
        typer.Option(help="Also compute within each value of this column (of the ratings, "
                          "or of --vignettes)."),
    ] = None,
    vignettes: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional
        typer.Option(help="Vignettes table joined on vignette_id, so --by can name its "
                          "columns (e.g. complexity_band)."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Cluster-bootstrap replicates (0: no intervals).", min=0)
    ] = 1000,
    bootstrap_scheme: Annotated[
        str, typer.Option(help="What the bootstrap resamples: two-way (cases and raters: new "
                               "raters on new cases) or fixed-raters (cases only: these raters "
                               "on new cases).")
    ] = DEFAULT_SCHEME,
    seed: Annotated[
        int, typer.Option(help="Bootstrap seed; the same seed gives the same output.")
    ] = 0,
    output_format: Annotated[str, typer.Option("--format", help="Output: csv or json.")] = "csv",
) -> None:
    """Agreement among raters (percent agreement, Fleiss, Krippendorff, Gwet, Brennan-Prediger).

    Prints the stats table (metric, estimate, 95% interval from a cluster
    bootstrap, n units, replicates that failed) to standard output. With --by,
    also the difference of each metric between every pair of values, from
    one bootstrap draw shared by both.
    """
    if output_format not in ("csv", "json"):
        raise fail(f"--format: expected csv or json, got {output_format!r}")
    if bootstrap_scheme not in SCHEMES:
        raise fail(f"--bootstrap-scheme: expected one of {', '.join(SCHEMES)}, "
                   f"got {bootstrap_scheme!r}")
    try:
        scale = parse_levels(levels) if levels is not None else None
    except ValueError as exc:
        raise fail(str(exc)) from exc
    try:
        frame, where = read_long_table(file)
        if vignettes is not None:
            if by is None:
                raise AgreementInputError("--vignettes is only used with --by; name one of "
                                          "its columns, e.g. --by complexity_band")
            _require(frame, file, [unit])
            if by not in frame.columns:
                frame = _join_vignettes(frame, file, vignettes, unit, by)
        _require(frame, file, [unit, rater, rating] + ([by] if by else []))
        scale = scale if scale is not None else _default_levels(frame, file, rating)
        _check(frame, file, where, rating, rater, scale)
        table = agreement(
            frame, unit, rater, rating, by=by, n_boot=bootstrap, random_state=seed,
            categories=scale, source=str(file), bootstrap_scheme=bootstrap_scheme,
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
