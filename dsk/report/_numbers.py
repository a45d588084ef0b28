"""Checkable numbers: every figure in the report's text names the table row it comes from.

A number is rendered as::

    <span class="num" data-table="stats" data-row-key='{"analysis": ..., "stratum": "all"}'
          data-column="estimate" data-format="f2">0.58</span>

``data-row-key`` is the JSON of the columns that select the row(s); ``data-column`` the
column read. Without ``data-agg`` the selected rows must all hold the same value (the
stats table can repeat a row); with ``data-agg="share"`` the number is the share of the
selected rows whose column equals ``data-equals``, and with ``data-agg="count"`` the
number of such rows. ``data-format`` says how the value was rounded for display
(:data:`FORMATS`), so a reader, or a test, can select the row again and compare.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

__all__ = ["FORMATS", "NumberSource", "format_value"]

MINUS = "\u2212"

#: Display formats: name -> description.
FORMATS = {
    "f0": "no decimals",
    "f1": "one decimal",
    "f2": "two decimals",
    "f3": "three decimals",
    "pct0": "percentage, no decimals (value x 100)",
    "p": "p-value: '<0.001' below 0.001, else three decimals",
    "int": "integer",
}
# Whatever the format: infinity shows as ∞, and a magnitude of 1e5 or more (except "int") in
# scientific notation with one decimal (1.7e238), so that a runaway interval stays readable.


def format_value(value: float, fmt: str) -> str:
    """Round a value for display; negative numbers get a true minus sign.

    Examples
    --------
    >>> format_value(0.58032, "f2"), format_value(0.8167, "pct0"), format_value(-0.2, "f1")
    ('0.58', '82%', '−0.2')
    >>> format_value(0.00004, "p"), format_value(12.0, "int")
    ('<0.001', '12')
    >>> format_value(float("inf"), "f2"), format_value(1.73e238, "f2")
    ('∞', '1.7e238')
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown number format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if math.isinf(value):
        return "∞" if value > 0 else MINUS + "∞"
    if fmt == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if abs(value) >= 1e5 and fmt != "int":
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.replace('-', MINUS)}e{int(exponent)}"
    if fmt == "pct0":
        text = f"{100.0 * value:.0f}%"
    elif fmt == "int":
        text = f"{int(round(value))}"
    else:
        text = f"{value:.{fmt[1]}f}"
    if text.startswith("-"):
        text = text[1:] if float(text[1:].rstrip("%") or 0) == 0 else MINUS + text[1:]
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


class NumberSource:
    """Look values up in a run's tables and render them as checkable spans.

    Parameters
    ----------
    tables : mapping of table name to DataFrame
        The run's tables as read from its folder.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame]) -> None:
        self.tables = tables
        self._index: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], np.ndarray]] = {}

    def _rows(self, table: str, key: Mapping[str, Any]) -> pd.DataFrame:
        frame = self.tables.get(table)
        if frame is None or frame.empty or any(k not in frame.columns for k in key):
            return pd.DataFrame()
        columns = tuple(key)
        index = self._index.get((table, columns))
        if index is None:  # one pass per table and key shape; the template asks many times
            groups = frame.groupby(list(columns), sort=False, dropna=True).indices
            index = {(g if isinstance(g, tuple) else (g,)): np.asarray(rows)
                     for g, rows in groups.items()}
            self._index[(table, columns)] = index
        rows = index.get(tuple(_plain(key[c]) for c in columns))
        return frame.iloc[rows] if rows is not None else pd.DataFrame()

    def value(self, table: str, key: Mapping[str, Any], column: str = "estimate",
              agg: str | None = None, equals: Any = None) -> float | None:
        """The value the key selects, or None when there is no such row or it is missing.

        Raises
        ------
        ValueError
            When the selected rows disagree (the key does not identify one value).
        """
        rows = self._rows(table, key)
        if rows.empty or column not in rows.columns:
            return None
        if agg == "share":
            return float((rows[column] == equals).mean())
        if agg == "count":
            return float((rows[column] == equals).sum())
        if agg is not None:
            raise ValueError(f"unknown aggregate {agg!r}; expected share or count")
        values = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
        distinct = {round(v, 12) for v in values if not math.isnan(v)}
        if len(distinct) > 1:
            raise ValueError(f"{table} rows selected by {dict(key)} disagree on {column}: "
                             f"{sorted(distinct)}")
        if not distinct:
            return None
        return float(values[~np.isnan(values)][0])

    def span(self, table: str, key: Mapping[str, Any], column: str = "estimate", fmt: str = "f2",
             agg: str | None = None, equals: Any = None, missing: str = "n/a") -> Markup:
        """The value as a checkable ``<span class="num">``; ``missing`` text when absent."""
        value = self.value(table, key, column, agg, equals)
        if value is None or math.isnan(value):
            return Markup('<span class="num-missing">{}</span>').format(missing)
        key_json = json.dumps({k: _plain(v) for k, v in key.items()}, sort_keys=True)
        extra = Markup("")
        if agg is not None:
            extra = Markup(' data-agg="{}"').format(agg)
            if equals is not None:
                extra += Markup(' data-equals="{}"').format(_plain(equals))
        return Markup(
            '<span class="num" data-table="{}" data-row-key="{}" data-column="{}" '
            'data-format="{}"{}>{}</span>'
        ).format(table, key_json, column, fmt, extra, escape(format_value(value, fmt)))
