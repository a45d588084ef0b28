"""Jinja2 rendering of the report (autoescaped; numbers through :mod:`dsk.report._numbers`)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from dsk.report._context import build_context, stratum_label
from dsk.report._load import RunData


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dsk.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["stratum"] = stratum_label
    env.filters["prepend"] = lambda value, prefix: f"{prefix}{value}"
    return env


def render(data: RunData) -> str:
    """Render the report of a loaded run."""
    ctx = build_context(data)
    numbers = ctx.numbers

    def stat(metric: str, comparison: str, stratum: str = "all", *, fmt: str = "f2",
             column: str = "estimate", analysis: str = "agreement", missing: str = "n/a") -> Any:
        key = {"analysis": analysis, "metric": metric, "comparison": comparison, "stratum": stratum}
        return numbers.span("stats", key, column, fmt, missing=missing)

    def val(metric: str, comparison: str, stratum: str = "all", *, column: str = "estimate",
            analysis: str = "agreement") -> float | None:
        key = {"analysis": analysis, "metric": metric, "comparison": comparison, "stratum": stratum}
        return numbers.value("stats", key, column)

    env = _environment()
    # our own stylesheet, inlined as is (it is not data from the run)
    css = Markup(resources.files("dsk.report").joinpath("templates/report.css")
                 .read_text(encoding="utf-8"))
    template = env.get_template("report.html.j2")
    return template.render(
        title=ctx.title, data=ctx.data, manifest=ctx.data.manifest, f=ctx.facts,
        figures=ctx.figures, css=css, stat=stat, val=val, num=numbers.span,
    )
