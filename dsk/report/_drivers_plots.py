"""Plots of the "What drives practitioners' levels" section (deterministic inline SVG).

They share the report's matplotlib set-up, colours and SVG writer (:mod:`dsk.report._plots`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from dsk.report._plots import _RC, BLUE, GREY, INK, SERIES, Svg, _figure, _style, _to_svg

__all__ = ["LIMIT", "Svg", "coefficients", "dependability"]

#: Log-odds beyond which an interval is cut at the axis (and marked with an arrow).
LIMIT = 8.0
_MARKERS = ("o", "s", "D", "^", "v", "P")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def coefficients(rows: Sequence[Mapping[str, Any]], models: Sequence[str],
                 titles: Mapping[str, str], slug: str = "drivers") -> Svg | None:
    """Log-odds of each vignette factor, practitioners' model beside each checklist's.

    Parameters
    ----------
    rows : one mapping per (factor, model) with ``label``, ``model``, ``estimate``, ``ci_low``,
        ``ci_high`` (None or NaN when missing; an infinite estimate is a term the levels
        separate, drawn as an arrow at the axis with the word "separation").
    models : the models in drawing order (the practitioners' first).
    titles : legend names of the models.

    Examples
    --------
    >>> rows = [{"label": "Domestic abuse", "model": "practitioners", "estimate": 0.7,
    ...          "ci_low": 0.2, "ci_high": 1.2},
    ...         {"label": "Domestic abuse", "model": "c", "estimate": float("inf"),
    ...          "ci_low": None, "ci_high": None}]
    >>> svg = coefficients(rows, ["practitioners", "c"], {})
    >>> svg.slug, "separation" in svg.markup
    ('drivers', True)
    >>> coefficients([], ["practitioners"], {}) is None
    True
    """
    if not rows or not models:
        return None
    factors = list(dict.fromkeys(str(r["label"]) for r in rows))
    finite = [abs(v) for r in rows for v in (_finite(r.get("estimate")), _finite(r.get("ci_low")),
                                             _finite(r.get("ci_high"))) if v is not None]
    reach = min(max(finite, default=1.0), LIMIT)
    edge = max(1.0, math.ceil(reach * 1.15 * 2) / 2)
    step = 0.8 / max(len(models), 1)
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(6.4, 0.42 * len(factors) * max(1, len(models) / 2) + 1.6)
        ax = axes[0]
        handles: list[Line2D] = []
        for i, model in enumerate(models):
            colour = SERIES[i % len(SERIES)]
            marker = _MARKERS[i % len(_MARKERS)]
            offset = (len(models) - 1) / 2 * step - i * step
            own = {str(r["label"]): r for r in rows if r["model"] == model}
            handles.append(Line2D([], [], color=colour, marker=marker, markersize=5.5, linewidth=1.5,
                                  label=titles.get(model, model)))
            for j, factor in enumerate(factors):
                row = own.get(factor)
                if row is None or row.get("estimate") is None or np.isnan(float(row["estimate"])):
                    continue
                y = len(factors) - 1 - j + offset
                estimate = float(row["estimate"])
                if math.isinf(estimate):
                    x = edge if estimate > 0 else -edge
                    ax.plot(x, y, marker=">" if estimate > 0 else "<", color=colour, markersize=7,
                            linestyle="none")
                    ax.annotate("separation", (x, y), xytext=(-4 if estimate > 0 else 4, 0),
                                textcoords="offset points", va="center", fontsize=7, color=colour,
                                ha="right" if estimate > 0 else "left")
                    continue
                low, high = _finite(row.get("ci_low")), _finite(row.get("ci_high"))
                if low is not None and high is not None:
                    ax.plot([max(low, -edge), min(high, edge)], [y, y], color=colour, linewidth=1.5)
                    if low < -edge:
                        ax.plot(-edge, y, marker="<", color=colour, markersize=4)
                    if high > edge:
                        ax.plot(edge, y, marker=">", color=colour, markersize=4)
                ax.plot(float(np.clip(estimate, -edge, edge)), y, marker=marker, color=colour,
                        markersize=5.5, linestyle="none")
        ax.axvline(0, color="#777777", linewidth=0.9, linestyle="--")
        ax.set_xlim(-edge * 1.05, edge * 1.05)
        ax.set_ylim(-0.6, len(factors) - 0.4)
        ax.set_yticks(np.arange(len(factors))[::-1], factors)
        ax.set_xlabel("log-odds of a higher level (0: no effect)")
        ax.grid(axis="y", visible=False)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  ncol=min(len(models), 3))
        _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "What drives the levels: log-odds of each factor for the practitioners "
                   "and for each checklist",
                   "Points are log-odds estimates with 95% Wald intervals; right of the dashed line a "
                   "factor raises the level. Arrows mark intervals cut at the axis, or a term the "
                   "levels separate (no finite estimate).")


def dependability(table: pd.DataFrame, reliable: float, slug: str = "dependability") -> Svg | None:
    """The dependability (phi) and generalizability (g) of the mean of k practitioners.

    Examples
    --------
    >>> table = pd.DataFrame({"k": [1, 2, 3], "phi": [0.5, 0.67, 0.75], "g": [0.6, 0.75, 0.82]})
    >>> dependability(table, 0.8).slug
    'dependability'
    >>> dependability(table.iloc[:0], 0.8) is None
    True
    """
    if table.empty or table["phi"].isna().all():
        return None
    table = table.sort_values("k")
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(6.4, 2.3)
        ax = axes[0]
        ax.plot(table["k"], table["phi"], marker="o", color=BLUE, markersize=4,
                label="dependability φ (absolute)")
        if "g" in table:
            ax.plot(table["k"], table["g"], marker="s", color=GREY, markersize=3.5, linewidth=1,
                    label="generalizability (ranking)")
        ax.axhline(reliable, color=INK, linewidth=0.8, linestyle=":")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(table["k"].astype(int).tolist())
        ax.set_xlabel("practitioners averaged (k)")
        ax.set_ylabel("reliability")
        ax.legend(loc="lower right")
        _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "Reliability of the mean level of k practitioners",
                   f"Dependability phi and the generalizability coefficient for k = 1 to "
                   f"{int(table['k'].max())}; the dotted line marks {reliable:g}.")
