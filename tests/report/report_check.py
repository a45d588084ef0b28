"""An independent reader of the report's checkable numbers (``<span class="num">``).

Written apart from :mod:`dsk.report._numbers` on purpose: it re-reads the run's Parquet
tables itself and formats values by the documented display rules, so a wrong key, a
wrong column, a stale value or a wrong rounding in the report shows up as a mismatch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Number:
    """One checkable number as found in the HTML."""

    attrs: dict[str, str]
    text: str = ""
    section: str | None = None


@dataclass
class _State:
    numbers: list[Number] = field(default_factory=list)
    sections: list[str | None] = field(default_factory=list)


class NumberParser(HTMLParser):
    """Collect every ``span.num`` with the id of the ``<section>`` around it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.state = _State()
        self._open: Number | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "section":
            self.state.sections.append(attributes.get("id"))
        if tag == "span":
            if self._open is not None:
                self._depth += 1
            elif "num" in attributes.get("class", "").split():
                section = next((s for s in reversed(self.state.sections) if s), None)
                self._open = Number(attributes, section=section)
                self._depth = 0

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self.state.sections:
            self.state.sections.pop()
        if tag == "span" and self._open is not None:
            if self._depth:
                self._depth -= 1
            else:
                self.state.numbers.append(self._open)
                self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.text += data


def numbers_in(html: str) -> list[Number]:
    """Every checkable number of a report."""
    parser = NumberParser()
    parser.feed(html)
    return parser.state.numbers


def expected_text(value: float, fmt: str) -> str:
    """The display rules: documented in dsk.report._numbers.FORMATS."""
    if math.isinf(value):
        return "∞" if value > 0 else "\u2212∞"
    if fmt == "p":
        return "<0.001" if value < 0.001 else f"{value:.3f}"
    if abs(value) >= 100_000 and fmt != "int":
        mantissa, exponent = f"{value:.1e}".split("e")
        return mantissa.replace("-", "\u2212") + "e" + str(int(exponent))
    if fmt == "pct0":
        text = f"{value * 100:.0f}%"
    elif fmt == "int":
        text = str(int(round(value)))
    else:
        text = f"{value:.{int(fmt[1:])}f}"
    if text.startswith("-"):
        digits = text[1:].rstrip("%")
        text = text[1:] if float(digits) == 0 else "\u2212" + text[1:]
    return text


def table_value(run_dir: Path, number: Number, cache: dict[str, pd.DataFrame]) -> float:
    """Select the row(s) a number names, straight from the run's Parquet file."""
    name = number.attrs["data-table"]
    if name not in cache:
        path = run_dir / f"{name}.parquet"
        if not path.exists():  # e.g. model_terms or dependability in a run older than its analysis
            raise AssertionError(f"a number reads table {name}, which the run folder does not have")
        cache[name] = pd.read_parquet(path)
    frame = cache[name]
    key: dict[str, Any] = json.loads(number.attrs["data-row-key"])
    rows = frame
    for column, wanted in key.items():
        rows = rows[rows[column] == wanted]
    if rows.empty:
        raise AssertionError(f"no {name} row for {key}")
    column = number.attrs["data-column"]
    agg = number.attrs.get("data-agg")
    if agg == "share":
        return float((rows[column] == number.attrs["data-equals"]).mean())
    if agg == "count":
        return float((rows[column] == number.attrs["data-equals"]).sum())
    values = rows[column].astype(float)
    if values.nunique() != 1:
        raise AssertionError(f"{name} rows for {key} disagree on {column}: {sorted(values)}")
    return float(values.iloc[0])


def mismatches(html: str, run_dir: Path) -> list[str]:
    """Each number whose displayed text differs from its table row, as a message."""
    cache: dict[str, pd.DataFrame] = {}
    problems = []
    for number in numbers_in(html):
        try:
            value = table_value(run_dir, number, cache)
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        if math.isnan(value):
            problems.append(f"{number.attrs}: shown as {number.text!r} but the table has {value}")
            continue
        want = expected_text(value, number.attrs["data-format"])
        if number.text.strip() != want:
            problems.append(f"{number.attrs['data-row-key']} {number.attrs['data-column']}: "
                            f"shown {number.text!r}, table gives {want!r}")
    return problems
