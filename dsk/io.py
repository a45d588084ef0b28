"""Reading and writing the tables: JSON Lines, Parquet and CSV.

The format follows the file extension (``.jsonl``, ``.parquet``, ``.csv``).
List columns (``reports``, ``fired``, ``salient_factors``, ``reasons``) are
stored natively in JSON Lines and Parquet, and as JSON text in CSV. Writers
are deterministic: the same table gives the same bytes.

A bad file raises :class:`TableFileError` naming the file, the line (for JSON
Lines and CSV, the line in the file; for Parquet, the row) and the field.
Nothing is silently dropped: a file either reads whole or not at all.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.narrative import Reports, ReportsError, reports_to_lists
from dsk.schema import SchemaError, columns, validate

__all__ = ["FORMATS", "TableFileError", "fill_optional", "read_table", "read_vignettes", "table_format",
           "write_table"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
LIST_COLUMNS = ("reports", "fired", "salient_factors", "reasons", "factors")


class TableFileError(ValueError):
    """A table file that cannot be read; names the file, line and field."""


def table_format(path: str | Path) -> str:
    """``jsonl``, ``parquet`` or ``csv`` from the file extension.

    Examples
    --------
    >>> table_format("run/judgements.JSONL"), table_format("decisions.pq")
    ('jsonl', 'parquet')
    >>> table_format("vignettes.xlsx")
    Traceback (most recent call last):
        ...
    dsk.io.TableFileError: vignettes.xlsx: unknown file type '.xlsx'; use .jsonl, .parquet or .csv
    """
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        raise TableFileError(
            f"{path}: unknown file type {suffix or '(none)'!r}; use .jsonl, .parquet or .csv"
        ) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is None:
        return None
    return value


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table; the format comes from the extension. Returns the path.

    Missing parent folders are created. The file is written beside its final
    name and then moved into place, so a failed write never leaves half a table.

    Examples
    --------
    List columns become JSON text in CSV and stay lists in JSON Lines:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> decisions = pd.DataFrame({"vignette_id": ["v1", "v2"], "need_level": [4, 1],
    ...                           "fired": [["disclosure", "one-present"], []]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     csv = write_table(decisions, Path(tmp, "out", "decisions.csv"))
    ...     jsonl = write_table(decisions, Path(tmp, "out", "decisions.jsonl"))
    ...     print(csv.read_text(), jsonl.read_text(), sep="")
    vignette_id,need_level,fired
    v1,4,"[""disclosure"",""one-present""]"
    v2,1,[]
    {"vignette_id":"v1","need_level":4,"fired":["disclosure","one-present"]}
    {"vignette_id":"v2","need_level":1,"fired":[]}
    """
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "jsonl":
        cols = list(df.columns)
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for row in df.itertuples(index=False, name=None):
                record = {c: _jsonable(v) for c, v in zip(cols, row, strict=True)}
                fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    elif fmt == "parquet":
        out = df.reset_index(drop=True)
        for col in out.columns:
            if out[col].dtype == object and any(isinstance(v, (list, tuple, np.ndarray)) for v in out[col]):
                out[col] = [_jsonable(v) for v in out[col]]
        out.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")
    else:
        out = df.copy()
        for col in out.columns:
            if any(isinstance(v, (list, tuple, dict, np.ndarray)) for v in out[col]):
                out[col] = [json.dumps(_jsonable(v), ensure_ascii=False, separators=(",", ":"))
                            for v in out[col]]
        out.to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(path)  # never leave a half-written file under the real name
    return path


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[int]]:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TableFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TableFileError(f"{path}, line {number}: not valid JSON: {exc.msg} (column {exc.colno})") from exc
        if not isinstance(record, dict):
            raise TableFileError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records), lines


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[int]]:
    try:
        df = pd.read_csv(path, keep_default_na=True, dtype_backend="numpy_nullable")
    except UnicodeDecodeError as exc:
        raise TableFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except pd.errors.ParserError as exc:
        raise TableFileError(f"{path}: not valid CSV: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise TableFileError(f"{path}: empty file, expected a header line") from exc
    for col in df.columns:
        if col in LIST_COLUMNS:
            parsed = []
            for i, v in enumerate(df[col]):
                if isinstance(v, str):
                    try:
                        parsed.append(json.loads(v))
                    except json.JSONDecodeError as exc:
                        raise TableFileError(f"{path}, line {i + 2}, field {col!r}: not valid JSON: {exc.msg}") from exc
                else:
                    parsed.append(None if pd.isna(v) else v)
            df[col] = pd.Series(parsed, index=df.index, dtype=object)
    return df, [i + 2 for i in range(len(df))]


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[int]]:
    try:
        df = pd.read_parquet(path, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds
        raise TableFileError(f"{path}: not a readable Parquet file: {exc}") from exc
    for col in df.columns:
        if col in LIST_COLUMNS:
            df[col] = pd.Series([_to_python(v) for v in df[col]], index=df.index, dtype=object)
    return df, [i + 1 for i in range(len(df))]


def _to_python(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_to_python(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    return value


def _read_any(path: str | Path) -> tuple[pd.DataFrame, list[int], str, Path]:
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise TableFileError(f"{path}: no such file")
    reader = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}[fmt]
    df, lines = reader(path)
    return df, lines, fmt, path


def _rewrap(exc: SchemaError, path: Path, fmt: str, df: pd.DataFrame, lines: list[int]) -> TableFileError:
    """Turn 'row N' in a schema error into the file's line (or Parquet row)."""
    message = str(exc)
    match = re.search(r"at row (\d+)", message)
    where = str(path)
    if match:
        row = int(match.group(1))
        pos = list(df.index).index(row) if row in df.index else row
        label = "row" if fmt == "parquet" else "line"
        where += f", {label} {lines[pos]}"
        message = message.replace(match.group(0), "").replace("  ", " ")
    message = message.replace(f"{where}: ", "")
    return TableFileError(f"{where}: {message}")


def _coerce_ints(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    for col in names:
        if col in df.columns and df[col].notna().all():
            numeric = pd.to_numeric(df[col], errors="coerce")
            if numeric.notna().all() and (numeric % 1 == 0).all():
                df[col] = numeric.astype(np.int64)
    return df


def read_table(path: str | Path, table: str) -> pd.DataFrame:
    """Read a table file and validate it against the schema of ``table``.

    Vignettes are read with :func:`read_vignettes`, which checks them against
    the catalogue. Every required column the file lacks is named at once; a
    judgements file may leave out the optional columns (profession, confidence,
    rationale and so on, see :data:`dsk.schema.TABLES`), which are then added
    empty (:func:`fill_optional`).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"analysis": ["agreement"], "metric": ["alpha"], "comparison": ["within-panel"],
    ...                      "stratum": ["all"], "estimate": [0.58], "ci_low": [0.52], "ci_high": [0.62],
    ...                      "n": [285]})
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = read_table(write_table(rows, Path(tmp) / "stats.csv"), "stats")
    >>> back["estimate"].tolist(), back["n"].tolist()
    ([0.58], [285])
    """
    if table == "vignettes":
        raise TableFileError(f"{path}: read vignettes with read_vignettes(path, catalogue), which checks "
                             "them against the catalogue")
    df, lines, fmt, p = _read_any(path)
    cols = columns(table)
    df = _coerce_ints(df, [c.name for c in cols if c.kind == "int"])
    for c in cols:
        if c.kind == "str" and c.name in df.columns:
            df[c.name] = pd.Series([None if pd.isna(v) else (v if isinstance(v, str) else str(v))
                                    for v in df[c.name]], index=df.index, dtype=object)
        if c.kind == "bool" and c.name in df.columns and df[c.name].notna().all():
            if df[c.name].isin([True, False]).all():
                df[c.name] = df[c.name].astype(bool)
        if c.kind == "float" and c.name in df.columns:
            df[c.name] = pd.to_numeric(df[c.name], errors="coerce").astype(float)
    try:
        validate(df, table)
    except SchemaError as exc:
        raise _rewrap(exc, p, fmt, df, lines) from exc
    if table == "judgements":
        df = fill_optional(df, table)
    return df


def fill_optional(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` with every optional column of ``table`` it lacks added, empty.

    Empty means missing values (None for text and lists, NaN for numbers, a
    missing integer for integers), so that an analysis finds the column and
    sees that nothing was collected. Columns already present are left as they are.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"vignette_id": ["v1"], "rater_id": ["p1"], "rater_kind": ["human"],
    ...                   "round": [1], "need_level": [3]})
    >>> full = fill_optional(j, "judgements")
    >>> full["confidence"].isna().all(), full["salient_factors"].tolist(), full["position"].dtype
    (np.True_, [None], Int64Dtype())
    """
    out = df.copy()
    n = len(out)
    for col in columns(table):
        if col.required or col.name in out.columns:
            continue
        if col.kind == "float":
            out[col.name] = pd.Series(np.full(n, np.nan), index=out.index, dtype=float)
        elif col.kind == "int":
            out[col.name] = pd.Series(pd.array([pd.NA] * n, dtype="Int64"), index=out.index)
        elif col.kind == "bool":
            out[col.name] = pd.Series(pd.array([pd.NA] * n, dtype="boolean"), index=out.index)
        else:
            out[col.name] = pd.Series([None] * n, index=out.index, dtype=object)
    return out


def read_vignettes(path: str | Path, catalogue: Catalogue) -> pd.DataFrame:
    """Read a vignettes file (JSON Lines, Parquet or CSV) and check it fully.

    Beyond the schema, every report must name a known factor, agency and
    stance and carry its order (read by :meth:`dsk.narrative.Reports.from_column`,
    and written back in that one form), and no vignette may break a
    catalogue exclusion.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import random_vignettes
    >>> cat = load_catalogue()
    >>> v = random_vignettes(3, 1, cat)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = read_vignettes(write_table(v, Path(tmp) / "v.jsonl"), cat)
    >>> list(back["reports"]) == list(v["reports"])
    True
    """
    cat = catalogue
    df, lines, fmt, p = _read_any(path)
    label = "row" if fmt == "parquet" else "line"
    if df.empty:
        raise TableFileError(f"{p}: no vignettes")
    df = _coerce_ints(df, [c.name for c in columns("vignettes", cat) if c.kind == "int"])
    for col in ("vignette_id", "set_id", "narrative", "complexity_band"):
        if col in df.columns:
            df[col] = pd.Series([v if isinstance(v, str) or v is None else (None if pd.isna(v) else str(v))
                                 for v in df[col]], index=df.index, dtype=object)
    for col in ("cx_multiplicity", "cx_interconnection", "cx_network", "cx_conflict", "cx_turbulence",
                "cx_emotional", "complexity"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    try:
        validate(df, "vignettes", cat)
    except SchemaError as exc:
        raise _rewrap(exc, p, fmt, df, lines) from exc
    dupes = df["vignette_id"].duplicated()
    if dupes.any():
        i = int(np.flatnonzero(dupes.to_numpy())[0])
        raise TableFileError(f"{p}, {label} {lines[i]}: field 'vignette_id': duplicate id {df['vignette_id'].iloc[i]!r}")
    try:
        reports = Reports.from_column(cat, df["reports"])
    except ReportsError as exc:
        raise TableFileError(f"{p}, {label} {lines[exc.row]}: field {exc.field!r}: {exc.problem}") from exc
    df["reports"] = pd.Series(reports_to_lists(cat, reports), index=df.index, dtype=object)
    levels = df[list(cat.factor_ids)].to_numpy(dtype=np.int64)
    child = {a: df[a].to_numpy(dtype=np.int64) for a in cat.child_ids}
    bad = cat.violations(levels, child)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        fid = cat.factor_ids[j]
        rule = next((e for e in cat.exclusions if fid in e.caps
                     and all(child[a][i] in codes for a, codes in e.when.items())), None)
        why = f" (exclusion {rule.id!r}: {rule.why})" if rule else ""
        raise TableFileError(f"{p}, {label} {lines[i]}: field {fid!r}: level {levels[i, j]} is not plausible for "
                             f"this child{why}")
    return df.reset_index(drop=True)
