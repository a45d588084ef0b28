"""The report's plots: matplotlib (Agg) figures rendered to deterministic inline SVG.

Every function returns an :class:`Svg` (markup plus a title for screen readers) or
None when there is nothing to draw. Output is deterministic: a fixed ``svg.hashsalt``
per figure (which also keeps element ids unique across the page), no dates or
creator metadata, and text kept as text (``svg.fonttype = none``) so that it stays
searchable and prints sharply.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from markupsafe import Markup, escape  # noqa: E402

from dsk.schema import BANDS, CLEAR_CONSENSUS  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLUE, ORANGE, GREEN, VERMILION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
SKY, PURPLE, YELLOW, GREY, INK = "#56B4E9", "#CC79A7", "#F0E442", "#8C8C8C", "#222222"
SERIES = (BLUE, ORANGE, GREEN, PURPLE, SKY, VERMILION)
QUADRANT_COLOURS = {
    "agreed_and_clear": GREEN,
    "checklist_off_consensus": VERMILION,
    "panel_split": SKY,
    "both_uncertain": PURPLE,
}
QUADRANT_LABELS = {
    "agreed_and_clear": "agreed, panel clear",
    "checklist_off_consensus": "checklist off a clear panel",
    "panel_split": "panel split",
    "both_uncertain": "both uncertain",
}
BAND_ORDER = BANDS

_RC: Any = {  # matplotlib types rc keys as literals; this dict is checked at run time
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "text.color": INK,
    "axes.labelcolor": INK,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
}


@dataclass(frozen=True)
class Svg:
    """An inline SVG figure: ``markup`` (safe to insert) and its accessible ``title``."""

    slug: str
    title: str
    markup: Markup
    note: str = ""  # a sentence for the caption (what the figure leaves out)


def _to_svg(fig: plt.Figure, slug: str, title: str, description: str = "") -> Svg:
    buffer = io.StringIO()
    salted: Any = {**_RC, "svg.hashsalt": f"dsk-report-{slug}"}
    with matplotlib.rc_context(salted):
        fig.savefig(buffer, format="svg", bbox_inches="tight", pad_inches=0.05,
                    metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # matplotlib numbers its element ids per figure (figure_1, axes_1, ...): prefix every id
    # and every reference to one, so that ids stay unique when many SVGs share one page
    text = re.sub(r'(\sid="|url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{slug}-{m.group(2)}",
                  text)
    title_id = f"fig-{slug}-title"
    head = (f'<svg role="img" aria-labelledby="{title_id}" class="plot" '
            f'preserveAspectRatio="xMinYMin meet"')
    text = text.replace("<svg", head, 1)
    desc = f"<desc>{escape(description)}</desc>" if description else ""
    text = re.sub(r"(<svg[^>]*>)", lambda m: f'{m.group(1)}<title id="{title_id}">'
                  f"{escape(title)}</title>{desc}", text, count=1)
    return Svg(slug, title, Markup(text))


def _figure(width: float, height: float, ncols: int = 1, **kwargs: Any) -> tuple[Figure, list[Axes]]:
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False, **kwargs)
    return fig, list(axes[0])


def _style(ax: Axes) -> None:
    with matplotlib.rc_context(_RC):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.set_axisbelow(True)


# --------------------------------------------------------------------------- agreement


def agreement_by_band(alpha: pd.DataFrame, exact: pd.DataFrame, slug: str = "bands",
                      left: tuple[str, str] = ("Panel agreement (Krippendorff's α, ordinal)", "α"),
                      ) -> Svg | None:
    """Panel agreement by complexity band, and each checklist's exact agreement.

    Parameters
    ----------
    alpha : rows with ``series`` (a measure or round label), ``band``, ``estimate``, ``ci_low``,
        ``ci_high``.
    exact : the same columns, ``series`` the ruleset id (exact agreement with the panel median).
    left : the left panel's title and y-axis label.
    """
    if alpha.empty and exact.empty:
        return None
    parts = [(alpha, *left),
             (exact, "Checklist vs panel median (exact agreement)", "share of vignettes")]
    parts = [p for p in parts if not p[0].empty]
    with matplotlib.rc_context(_RC):
        tall = any(frame["series"].nunique() > 2 for frame, _, _ in parts)
        fig, axes = _figure(3.5 * len(parts) + 0.4, 3.6 if tall else 2.9, ncols=len(parts))
        for ax, (frame, title, ylabel) in zip(axes, parts, strict=True):
            series = list(dict.fromkeys(frame["series"]))
            bands = [b for b in BAND_ORDER if b in set(frame["band"])]
            x = np.arange(len(bands))
            width = 0.7 / max(len(series), 1)
            for i, name in enumerate(series):
                part = frame[frame["series"] == name].set_index("band").reindex(bands)
                xs = x - 0.35 + width * (i + 0.5)
                est = part["estimate"].to_numpy(dtype=float)
                low = part["ci_low"].to_numpy(dtype=float)
                high = part["ci_high"].to_numpy(dtype=float)
                color = SERIES[i % len(SERIES)]
                # The interval is drawn as it is: a percentile interval of a small or sparse
                # sample need not contain its estimate, so it is not an error bar around it.
                shown = ~(np.isnan(low) | np.isnan(high))
                ax.vlines(xs[shown], low[shown], high[shown], color=color, linewidth=1.4)
                ax.hlines(np.concatenate([low[shown], high[shown]]),
                          np.tile(xs[shown] - 0.04, 2), np.tile(xs[shown] + 0.04, 2),
                          color=color, linewidth=1.4)
                ax.plot(xs, est, "o", color=color, markersize=5, label=name)
            ax.set_xticks(x, [f"{b}" for b in bands])
            ax.set_xlabel("complexity band")
            ax.set_ylabel(ylabel)
            ax.set_title(title, loc="left")
            top = max(1.0, float(np.nanmax(frame["ci_high"].to_numpy(dtype=float), initial=1.0)))
            bottom = min(0.0, float(np.nanmin(frame["ci_low"].to_numpy(dtype=float), initial=0.0)))
            ax.set_ylim(bottom - 0.05, top + 0.05)
            ax.axhline(0, color="#999999", linewidth=0.6)
            if len(series) > 2:  # below the axes, clear of the points
                ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.22), ncols=2)
            else:
                ax.legend(loc="lower left", ncols=1)
            _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "Agreement by complexity band, with 95% bootstrap intervals",
                   "Points are estimates, bars are percentile bootstrap intervals.")


def rules_among_raters(means: pd.DataFrame, slug: str = "rules-as-rater") -> Svg | None:
    """Each practitioner's mean exact agreement with the others, and each checklist's with them.

    Parameters
    ----------
    means : rows with ``label``, ``kind`` (``rules`` or a profession), ``mean``.
    """
    if means.empty:
        return None
    frame = means.sort_values(["mean", "label"]).reset_index(drop=True)
    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(6.6, 0.24 * len(frame) + 0.9)
        y = np.arange(len(frame))
        is_rules = (frame["kind"] == "rules").to_numpy()
        ax.hlines(y, 0, frame["mean"], color="#d0d0d0", linewidth=1)
        ax.scatter(frame["mean"][~is_rules], y[~is_rules], color=GREY, s=22, zorder=3,
                   label="practitioner (mean agreement with the other raters)")
        ax.scatter(frame["mean"][is_rules], y[is_rules], color=VERMILION, marker="D", s=36,
                   zorder=4, label="checklist (mean agreement with the raters)")
        ax.set_yticks(y, frame["label"])
        for tick, rules in zip(ax.get_yticklabels(), is_rules, strict=True):
            if rules:
                tick.set_color(VERMILION)
                tick.set_fontweight("bold")
        ax.set_xlim(0, 1)
        ax.set_xlabel("mean exact agreement (share of shared vignettes), round 1")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=1)
        _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "The checklists ranked among the panel's raters by mean exact agreement",
                   "A checklist ranked among practitioners agrees with them as a practitioner does.")


# --------------------------------------------------------------------------- explanations


def shap_side_by_side(importance: pd.DataFrame, labels: Mapping[str, str], ruleset_id: str,
                      top: int = 15, slug: str = "shap") -> Svg | None:
    """Paired horizontal bars: mean |SHAP| per feature for the checklist and the panel, signed.

    Each bar's length is the feature's mean absolute SHAP value; it points right
    when the feature's direction (``rule_direction``/``panel_direction``, the
    correlation of its value with its SHAP value) is positive, left when it is
    negative (tables without the direction columns are drawn unsigned). Features
    whose importance is exactly 0 on both sides are left out; the figure's
    ``note`` says how many, for the caption.
    """
    if importance.empty:
        return None
    used = importance[(importance["rule_importance"] > 0) | (importance["panel_importance"] > 0)]
    dropped = len(importance) - len(used)
    note = ("No feature had an importance of exactly 0 on both sides." if dropped == 0 else
            f"{dropped} feature{'s' if dropped != 1 else ''} with an importance of exactly 0 for both "
            "the checklist and the panel "
            f"{'are' if dropped != 1 else 'is'} left out.")
    if used.empty:
        return None
    frame = used.assign(key=used[["rule_importance", "panel_importance"]].max(axis=1))
    frame = frame.sort_values(["key", "feature"], ascending=[False, True]).head(top)
    frame = frame.iloc[::-1]

    def signed(side: str) -> np.ndarray:
        size = frame[f"{side}_importance"].to_numpy(dtype=float)
        column = f"{side}_direction"
        if column not in frame:
            return size
        direction = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        return np.where(direction < 0, -size, size)

    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(6.6, 0.27 * len(frame) + 1.2)
        y = np.arange(len(frame))
        ax.barh(y + 0.2, signed("rule"), height=0.38, color=VERMILION,
                label=f"checklist ({ruleset_id})")
        ax.barh(y - 0.2, signed("panel"), height=0.38, color=BLUE,
                label="panel (surrogate of the panel's mean level)")
        ax.axvline(0.0, color="0.3", linewidth=0.8)
        ax.set_yticks(y, [labels.get(f, f) for f in frame["feature"]])
        ax.set_xlabel("mean |SHAP value| (need levels); left: higher values lower the level")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2)
        _style(ax)
        fig.tight_layout()
    svg = _to_svg(fig, slug, f"Feature importance (mean absolute SHAP) and direction for {ruleset_id} "
                  "and the panel",
                  f"Top {len(frame)} features by the larger of the two importances; bars point right "
                  f"where higher values raise the level and left where they lower it. {note}")
    return Svg(svg.slug, svg.title, svg.markup, note)


# --------------------------------------------------------------------------- failures


def forest(model: pd.DataFrame, labels: Mapping[str, str], slug: str = "forest") -> Svg | None:
    """Odds ratios of divergence per standard deviation of each complexity dimension.

    Parameters
    ----------
    model : stats rows of the divergence model with ``ruleset``, ``dimension``, ``estimate``,
        ``ci_low``, ``ci_high``, ``significant``.
    """
    if model.empty:
        return None
    rulesets = list(dict.fromkeys(model["ruleset"]))
    dims = list(dict.fromkeys(model["dimension"]))
    lo_lim, hi_lim = 1 / 20, 20
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(3.1 * len(rulesets) + 1.4, 0.34 * len(dims) + 1.1,
                            ncols=len(rulesets), sharey=True)
        for ax, rid in zip(axes, rulesets, strict=True):
            part = model[model["ruleset"] == rid].set_index("dimension").reindex(dims)
            y = np.arange(len(dims))[::-1]
            for yi, (_, row) in zip(y, part.iterrows(), strict=True):
                if not np.isfinite(row["estimate"]):
                    continue
                colour = VERMILION if row["significant"] else BLUE
                low = float(np.clip(np.nan_to_num(row["ci_low"], nan=lo_lim), lo_lim, hi_lim))
                high = float(np.clip(np.nan_to_num(row["ci_high"], nan=hi_lim), lo_lim, hi_lim))
                ax.plot([low, high], [yi, yi], color=colour, linewidth=1.6)
                if row["ci_low"] < lo_lim or not np.isfinite(row["ci_low"]):
                    ax.plot(lo_lim, yi, marker="<", color=colour, markersize=5)
                if row["ci_high"] > hi_lim or not np.isfinite(row["ci_high"]):
                    ax.plot(hi_lim, yi, marker=">", color=colour, markersize=5)
                est = float(np.clip(row["estimate"], lo_lim, hi_lim))
                ax.plot(est, yi, marker="s", color=colour, markersize=6)
            ax.axvline(1, color="#777777", linewidth=0.9, linestyle="--")
            ax.set_xscale("log")
            ax.set_xlim(lo_lim / 1.3, hi_lim * 1.3)
            ax.set_xticks([0.1, 0.25, 0.5, 1, 2, 4, 10], ["0.1", "0.25", "0.5", "1", "2", "4", "10"])
            ax.minorticks_off()
            ax.set_yticks(np.arange(len(dims))[::-1], [labels.get(d, d) for d in dims])
            ax.set_title(rid, loc="left")
            ax.set_xlabel("odds ratio per SD (log scale)")
            ax.grid(axis="y", visible=False)
            _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "Divergence model: odds ratio of the checklist parting from the panel, "
                   "per complexity dimension",
                   "Squares are odds ratios with 95% Wald intervals; red marks odds ratio above 1 "
                   "with p below 0.05; arrows mark intervals cut at the axis.")


def quadrant_map(failures: pd.DataFrame, clear: float = CLEAR_CONSENSUS, slug: str = "quadrants") -> Svg | None:
    """Panel consensus against divergence, one panel per ruleset, coloured by quadrant."""
    if failures.empty:
        return None
    rulesets = sorted(failures["ruleset_id"].unique())
    with matplotlib.rc_context(_RC):
        fig, axes = _figure(3.6 * len(rulesets) + 0.6, 3.4, ncols=len(rulesets), sharey=True)
        for ax, rid in zip(axes, rulesets, strict=True):
            part = failures[failures["ruleset_id"] == rid].sort_values("vignette_id")
            rng = np.random.default_rng(7)  # fixed jitter so the same table draws the same map
            jitter = rng.uniform(-0.13, 0.13, len(part))
            for quadrant, colour in QUADRANT_COLOURS.items():
                mask = (part["quadrant"] == quadrant).to_numpy()
                ax.scatter(part["panel_consensus"].to_numpy()[mask],
                           part["divergence"].to_numpy(dtype=float)[mask] + jitter[mask],
                           s=16, color=colour, alpha=0.85, edgecolors="white", linewidths=0.4,
                           label=QUADRANT_LABELS[quadrant])
            ax.axvline(clear, color="#777777", linewidth=0.8, linestyle="--")
            # divergence moves in half levels: |d| < 1 (not off) is the band within 0.75
            ax.axhspan(-0.75, 0.75, color="#f0f0f0", zorder=0)
            ax.set_xlim(0, 1.02)
            ax.set_xlabel("panel consensus (Tastle-Wierman)")
            ax.set_title(rid, loc="left")
            _style(ax)
        axes[0].set_ylabel("checklist − panel median (levels)")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncols=4, bbox_to_anchor=(0.5, -0.02),
                   markerscale=1.8)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _to_svg(fig, slug, "Quadrant map: panel consensus against the checklist's divergence",
                   f"The dashed line marks a clear panel (consensus {clear}); the grey band is "
                   "the checklist within half a level of the panel median (not off); points are "
                   "jittered vertically.")


# --------------------------------------------------------------------------- gallery


def level_distribution(counts: Mapping[int, Sequence[int]], rule_levels: Mapping[str, int],
                       slug: str, title: str) -> Svg:
    """Small grouped bars: how many raters chose each level in round 1 (and round 2)."""
    levels = np.arange(1, 5)
    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(3.2, 1.9)
        rounds = sorted(counts)
        width = 0.8 / max(len(rounds), 1)
        for i, rnd in enumerate(rounds):
            ax.bar(levels - 0.4 + width * (i + 0.5), counts[rnd], width=width * 0.92,
                   color=(BLUE, SKY)[i % 2], label=f"round {rnd}")
        top = max((max(c) for c in counts.values()), default=1)
        for j, (rid, level) in enumerate(sorted(rule_levels.items())):
            ax.annotate(rid, xy=(level, top * 1.02), xytext=(level, top * (1.28 + 0.2 * j)),
                        ha="center", fontsize=7, color=VERMILION,
                        arrowprops={"arrowstyle": "-|>", "color": VERMILION, "linewidth": 0.8})
        ax.set_ylim(0, top * (1.4 + 0.2 * len(rule_levels)))
        ax.set_xticks(levels, ["1", "2", "3", "4"])
        ax.set_xlabel("need level")
        ax.set_ylabel("raters")
        step = max(1, int(np.ceil(top / 4)))
        ax.set_yticks(np.arange(0, top + 1, step))  # no ticks above the panel's size
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, fontsize=7)
        _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, title)


# --------------------------------------------------------------------------- learned


def fidelity_by_band(fidelity: pd.DataFrame, learned: Sequence[str],
                     slug: str = "fidelity") -> Svg | None:
    """Exact agreement with the panel median per band, learned beside hand-written checklists.

    Parameters
    ----------
    fidelity : rows with ``checklist``, ``band`` (``all`` or a band), ``estimate``.
    learned : ids of the learned checklists (drawn hatched).
    """
    if fidelity.empty:
        return None
    checklists = list(dict.fromkeys(fidelity["checklist"]))
    bands = [b for b in ("all", *BAND_ORDER) if b in set(fidelity["band"])]
    x = np.arange(len(bands))
    width = 0.82 / len(checklists)
    with matplotlib.rc_context(_RC):
        fig, (ax,) = _figure(7.4, 3.0)
        hand = [c for c in checklists if c not in learned]
        for i, name in enumerate(checklists):
            part = fidelity[fidelity["checklist"] == name].set_index("band").reindex(bands)
            is_learned = name in learned
            colour = (GREEN, SKY, PURPLE, YELLOW)[learned.index(name) % 4] if is_learned else \
                (VERMILION, ORANGE, GREY)[hand.index(name) % 3]
            ax.bar(x - 0.41 + width * (i + 0.5), part["estimate"], width=width * 0.9, color=colour,
                   hatch="//" if is_learned else None, edgecolor="white", linewidth=0.3,
                   label=f"{name} (learned)" if is_learned else name)
        ax.set_xticks(x, ["all\nvignettes" if b == "all" else f"{b}\ncomplexity" for b in bands])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("exact agreement with panel median")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        _style(ax)
        fig.tight_layout()
    return _to_svg(fig, slug, "Fidelity to the panel median by complexity band: learned and "
                   "hand-written checklists")
