"""The agreement comparisons of an experiment: rules against the panel, professions, rounds.

:func:`agreement_stats` computes every comparison of a judgements table (within
the panel, between professions, between rounds, each ruleset against the
panel's consensus and against each rater, the rules as one more rater), over
all vignettes and per stratum (:mod:`dsk.analysis.strata`), as the ``stats``
table. :func:`rules_as_rater` is the rules-as-one-more-rater part alone. The
coefficients are those of :mod:`dsk.analysis.coefficients`; the consensus level
is :func:`dsk.analysis.median_level` (docs/methods.md, "The panel's consensus
level", and "Agreement").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dsk.analysis import _kernels as K
from dsk.analysis._bootstrap import (
    DEFAULT_SCHEME,
    NO_OVERLAP,
    AgreementInputError,
    _check_columns,
    _differences,
    _draw,
    _frame,
    _integer_ratings,
    _joint_metrics,
    _rng,
    _rows,
    _within,
    check_scheme,
)
from dsk.analysis.strata import Strata, _strata_masks
from dsk.schema import NEED_LEVELS

__all__ = [
    "GROUP_METRICS",
    "NO_OVERLAP",
    "PAIR_METRICS",
    "RATER_METRICS",
    "agreement_stats",
    "rules_as_rater",
]

#: Metrics between two raters (or a rater and a panel consensus).
PAIR_METRICS = (
    "percent_exact",
    "percent_within_one",
    "cohen_kappa",
    "cohen_kappa_linear",
    "cohen_kappa_quadratic",
)
#: Metrics between two groups of raters (Vanbelle and Albert 2009).
GROUP_METRICS = (
    "percent_exact",
    "percent_within_one",
    "group_kappa",
    "group_kappa_linear",
    "group_kappa_quadratic",
)
_RULE_RATER_METRICS = ("percent_exact", "percent_within_one")
#: Metrics of each rater against the other raters of the panel (comparison
#: ``rater:ID~other-raters``): the rater's mean agreement with each of the others.
RATER_METRICS = tuple(f"mean_{m}" for m in _RULE_RATER_METRICS)

def _between_groups(
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    names: Sequence[str],
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    keep = (codes_a >= 0).any(axis=1) & (codes_b >= 0).any(axis=1)
    n = int(keep.sum())
    if n == 0:  # no vignette rated by both groups (they never shared a deck): say so, no NaN rows
        return _rows({NO_OVERLAP: np.array([0.0])}, comparison, stratum, 0, ci, 0)
    a, b = codes_a[keep], codes_b[keep]
    k = len(values)
    rng = _rng(random_state, comparison, stratum)
    if a.shape[1] == 1 and b.shape[1] == 1:  # two single raters: only vignettes are resampled
        units, _ = _draw(rng, n_boot, n, (), scheme)
        joint = K.pair_joint(a[:, 0], b[:, 0], k, units)
    else:
        units, (wa, wb) = _draw(rng, n_boot, n, (a.shape[1], b.shape[1]), scheme)
        joint, _ = K.group_joint(K.onehot(a, k), K.onehot(b, k), units, wa, wb)
    return _rows(_joint_metrics(joint, values, names), comparison, stratum, n, ci, n_boot)


def _rule_vs_each(
    rule: np.ndarray,
    panel: np.ndarray,
    values: np.ndarray,
    tag: str,
    raters: Sequence[str],
    stratum: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    """The rules against each rater (Cohen); one draw of vignettes serves every rater."""
    units, _ = _draw(
        _rng(random_state, f"{tag}~each-rater", stratum), n_boot, len(rule), (), scheme
    )
    out: list[dict[str, Any]] = []
    for j, rater_id in enumerate(raters):
        both = (rule >= 0) & (panel[:, j] >= 0)
        n = int(both.sum())
        comparison = f"{tag}~{rater_id}"
        if n == 0:  # the rater judged no vignette of the stratum (not in their deck)
            out += _rows({NO_OVERLAP: np.array([0.0])}, comparison, stratum, 0, ci, 0)
            continue
        joint = K.pair_joint(rule[both], panel[both, j], len(values), units[:, both])
        out += _rows(
            _joint_metrics(joint, values, PAIR_METRICS), comparison, stratum, n, ci, n_boot
        )
    return out


def _against_consensus(
    rule: np.ndarray,
    panel: np.ndarray,
    values: np.ndarray,
    comparisons: tuple[str, str],
    stratum: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    keep = (rule >= 0) & (panel >= 0).any(axis=1)
    n = int(keep.sum())
    k = len(values)
    out: list[dict[str, Any]] = []
    if n == 0:
        for comparison in comparisons:
            out += _rows(
                {name: np.array([np.nan]) for name in PAIR_METRICS}, comparison, stratum, 0, ci, 0
            )
        return out
    rule, panel = rule[keep], panel[keep]
    units, (raters,) = _draw(
        _rng(random_state, comparisons[0], stratum), n_boot, n, panel.shape[1], scheme
    )
    median, mode = K.consensus_parts(K.category_counts(K.onehot(panel, k), raters))
    for comparison, target in zip(comparisons, (mode, median), strict=True):
        joint = K.consensus_joint(rule, target, k, units)
        out += _rows(
            _joint_metrics(joint, values, PAIR_METRICS), comparison, stratum, n, ci, n_boot
        )
    return out


def _rounds(
    first: np.ndarray,
    second: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    both = (first >= 0) & (second >= 0)
    units_with = both.any(axis=1)
    n = int(units_with.sum())
    if n == 0:
        return _rows(
            {name: np.array([np.nan]) for name in PAIR_METRICS}, comparison, stratum, 0, ci, 0
        )
    units, (raters,) = _draw(
        _rng(random_state, comparison, stratum), n_boot, first.shape[0], first.shape[1], scheme
    )
    joint = K.rater_pair_joint(first, second, len(values), units, raters)
    return _rows(_joint_metrics(joint, values, PAIR_METRICS), comparison, stratum, n, ci, n_boot)


def _each_rater(
    panel: np.ndarray,
    values: np.ndarray,
    prefix: str,
    raters: Sequence[str],
    stratum: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    """Each rater's mean agreement with the other raters (:data:`RATER_METRICS`).

    For rater i: the mean over the other raters j of the share of vignettes
    both rated on which they agree (exactly, or within one level), the same
    per-rater mean behind ``raters_mean_*`` of :func:`rules_as_rater`. One
    draw of vignettes per stratum serves every rater (raters are not
    resampled: the rater is the subject of the row).
    """
    k = len(values)
    rated = panel >= 0
    units, _ = _draw(_rng(random_state, f"{prefix}rater~other-raters", stratum), n_boot,
                     panel.shape[0], (), scheme)
    onehot = K.onehot(panel, k)
    means: dict[str, np.ndarray] = {}
    for metric, kind in zip(_RULE_RATER_METRICS, ("identity", "within_one"), strict=True):
        agree, shared, _, _ = K.pairwise_rater_sums(onehot, K.weight_matrix(kind, values), None, units)
        ok = (shared > 0) & ~np.eye(len(raters), dtype=bool)[None]
        with np.errstate(invalid="ignore", divide="ignore"):
            pair = np.where(ok, agree / np.where(ok, shared, 1.0), 0.0)
            means[metric] = pair.sum(axis=2) / ok.sum(axis=2)
    out: list[dict[str, Any]] = []
    for i, rater_id in enumerate(raters):
        others = np.delete(rated, i, axis=1).any(axis=1)
        n = int((rated[:, i] & others).sum())
        comparison = f"{prefix}rater:{rater_id}~other-raters"
        if n == 0:  # no vignette of the stratum shared with another rater (not in their deck)
            out += _rows({NO_OVERLAP: np.array([0.0])}, comparison, stratum, 0, ci, 0)
            continue
        metrics = {f"mean_{m}": means[m][:, i] for m in _RULE_RATER_METRICS}
        out += _rows(metrics, comparison, stratum, n, ci, n_boot)
    return out


def _rule_as_rater(
    rule: np.ndarray,
    panel: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    keep = (rule >= 0) & ((panel >= 0).sum(axis=1) >= 1)
    n = int(keep.sum())
    names = [
        f"{kind}_{m}"
        for m in _RULE_RATER_METRICS
        for kind in ("rules_mean", "raters_mean", "rules_percentile")
    ]
    if n == 0 or panel.shape[1] < 2:
        return _rows({name: np.array([np.nan]) for name in names}, comparison, stratum, n, ci, 0)
    rule, panel = rule[keep], panel[keep]
    k = len(values)
    units, (raters,) = _draw(
        _rng(random_state, comparison, stratum), n_boot, n, panel.shape[1], scheme
    )
    onehot_panel = K.onehot(panel, k)
    onehot_rule = K.onehot(rule[:, None], k)[:, 0, :]
    metrics: dict[str, np.ndarray] = {}
    for metric, kind in zip(_RULE_RATER_METRICS, ("identity", "within_one"), strict=True):
        sums = K.pairwise_rater_sums(
            onehot_panel, K.weight_matrix(kind, values), onehot_rule, units
        )
        rule_mean, rater_mean, percentile = K.rule_percentile(*sums, raters)
        metrics[f"rules_mean_{metric}"] = rule_mean
        metrics[f"raters_mean_{metric}"] = rater_mean
        metrics[f"rules_percentile_{metric}"] = percentile
    return _rows(metrics, comparison, stratum, n, ci, n_boot)



def _matrix(
    frame: pd.DataFrame, units: np.ndarray, raters: Sequence[str], rating: str, cats: np.ndarray
) -> np.ndarray:
    """units x raters codes of ``frame`` (vignette_id, rater_id, rating) on a fixed unit order."""
    codes = np.full((len(units), len(raters)), -1, dtype=np.int64)
    if frame.empty:
        return codes
    u = pd.Index(units).get_indexer(pd.Index(frame["vignette_id"].astype(str)))
    r = pd.Index(list(raters)).get_indexer(pd.Index(frame["rater_id"].astype(str)))
    ok = (u >= 0) & (r >= 0)
    codes[u[ok], r[ok]] = np.searchsorted(cats, frame[rating].to_numpy(dtype=np.int64)[ok])
    return codes


def _prepare(judgements: pd.DataFrame, rating: str, categories: Sequence[int]) -> pd.DataFrame:
    need = ["vignette_id", "rater_id", "rater_kind", "round", rating]
    _check_columns(judgements, need, "judgements")
    frame = judgements.loc[judgements[rating].notna()].copy()
    frame[rating] = _integer_ratings(frame[rating], rating, "judgements")
    outside = ~frame[rating].isin(list(categories))
    if outside.any():
        raise AgreementInputError(
            f"judgements: column {rating!r}: rating {frame[rating][outside].iloc[0]} "
            f"is not one of {', '.join(map(str, categories))}"
        )
    for col in ("profession", "panel_id"):
        if col not in frame.columns:
            frame[col] = None
    frame["vignette_id"] = frame["vignette_id"].astype(str)
    frame["rater_id"] = frame["rater_id"].astype(str)
    dupes = frame.duplicated(["vignette_id", "rater_id", "round"])
    if dupes.any():
        row = frame[dupes].iloc[0]
        raise AgreementInputError(
            f"judgements: rater {row['rater_id']!r} judged vignette "
            f"{row['vignette_id']!r} twice in round {row['round']}"
        )
    return frame


def agreement_stats(
    judgements: pd.DataFrame,
    strata: Strata = None,
    *,
    n_boot: int = 1000,
    random_state: int = 0,
    ci: float = 0.95,
    rating: str = "need_level",
    categories: Sequence[int] = NEED_LEVELS,
    per_rater: bool = True,
    bootstrap_scheme: str = DEFAULT_SCHEME,
) -> pd.DataFrame:
    """Every agreement comparison of an experiment, overall and per stratum.

    Comparisons (the ``comparison`` column; ``P/`` is prefixed with the panel
    id when the judgements hold more than one panel):

    - ``within-panel``: the panel's raters in round 1
      (:data:`dsk.analysis.coefficients.MULTI_RATER_METRICS`); ``within-panel:round2`` after deliberation.
    - ``A~B`` for each pair of professions in the panel: agreement between
      a rater of one and a rater of the other (:data:`GROUP_METRICS`,
      Vanbelle and Albert's 2009 kappa between two groups of raters).
    - ``round1~round2``: each rater's round-2 rating against their round-1
      rating (:data:`PAIR_METRICS`, pooled over raters).
    - ``rules:R~RATER`` for ruleset R (a rater of kind ``rules``) against each
      panel rater (with ``per_rater``), ``rules:R~panel-mode`` against the
      panel majority and ``rules:R~panel-median`` against the panel median
      level (:data:`PAIR_METRICS`; the median is :func:`dsk.analysis.median_level`,
      the lower median on a tie), and ``rules:R~raters``: the rules as one more rater
      (:func:`rules_as_rater`).
    - ``rater:ID~other-raters`` for each panel rater: their mean agreement
      with the other raters (:data:`RATER_METRICS`), the practitioners'
      side of ``rules:R~raters``. These rows come last.

    A comparison between two professions, or of one rater (against the
    others, or the rules against them), that has no vignette in common in a
    stratum (with decks: the two never shared a deck, or the rater's deck
    holds no vignette of the stratum) gets one row of metric
    :data:`NO_OVERLAP` there, with estimate and ``n`` 0, instead of rows of
    missing coefficients.

    The within-panel comparisons also carry the spread of the levels
    (:data:`dsk.analysis.coefficients.SPREAD_METRICS`) and, when the strata
    include complexity bands, the difference of every coefficient between
    each pair of bands (stratum ``complexity_band:high-low`` is high minus
    low), from one bootstrap draw shared by both bands (docs/methods.md,
    "Comparing bands honestly").

    Intervals come from a cluster bootstrap seeded per comparison and stratum
    from ``random_state``: ``two-way`` (vignettes and the panel's raters;
    within each profession for ``A~B``) or ``fixed-raters`` (vignettes only).
    Each row's ``boot_failed`` counts the replicates that gave no value.

    Parameters
    ----------
    judgements : DataFrame
        The judgements table (vignette_id, rater_id, rater_kind, round,
        need_level; profession and panel_id where known).
    strata : DataFrame or mapping, optional
        A vignettes table (strata from :func:`dsk.analysis.complexity_strata`), a long table
        with ``vignette_id`` and ``stratum``, or a mapping from vignette id to
        stratum label(s). Every comparison is also computed per stratum.
    n_boot, random_state, ci : see :func:`dsk.analysis.agreement`.
    rating : str
        The rating column.
    categories : sequence of int
        The rating scale (need levels 1-4).
    per_rater : bool
        Include the rules against each single rater.
    bootstrap_scheme : {"two-way", "fixed-raters"}
        ``two-way`` (the default) resamples vignettes and raters: the interval
        speaks to new practitioners on new cases. ``fixed-raters`` resamples
        vignettes only: these practitioners on new cases.

    Returns
    -------
    DataFrame
        The ``stats`` table.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [(v, "r", "rules", None, lvl) for v, lvl in (("v1", 3), ("v2", 1), ("v3", 4))]
    >>> rows += [(v, f"s{i}", "simulated", "social_worker" if i < 2 else "police", lvl)
    ...          for v, levels in (("v1", [3, 3, 4, 3]), ("v2", [1, 2, 1, 1]), ("v3", [4, 4, 4, 3]))
    ...          for i, lvl in enumerate(levels)]
    >>> j = pd.DataFrame(rows, columns=["vignette_id", "rater_id", "rater_kind", "profession",
    ...                                 "need_level"]).assign(round=1, panel_id="p")
    >>> out = agreement_stats(j, n_boot=50, random_state=1)
    >>> sorted(c for c in out.comparison.unique() if not c.startswith("rater:"))[:4]
    ['police~social_worker', 'rules:r~panel-median', 'rules:r~panel-mode', 'rules:r~raters']
    >>> each = out.query("comparison == 'rater:s0~other-raters' and stratum == 'all'")
    >>> each.set_index("metric").estimate.round(3).to_dict()
    {'mean_percent_exact': 0.667, 'mean_percent_within_one': 1.0}
    >>> mode = out.query("comparison == 'rules:r~panel-mode' and metric == 'percent_exact'")
    >>> float(mode.estimate.iloc[0])
    1.0
    """
    check_scheme(bootstrap_scheme)
    frame = _prepare(judgements, rating, categories)
    with _one_blas_thread():
        return _agreement_rows(frame, strata, n_boot=n_boot, random_state=random_state, ci=ci,
                               rating=rating, categories=categories, per_rater=per_rater,
                               bootstrap_scheme=bootstrap_scheme)


def _one_blas_thread() -> threadpool_limits:
    """The bootstrap's matrix products are small (replicates x units by a dozen raters): on
    one thread they run several times faster than with BLAS threads waiting on each other,
    the more so when other work shares the cores."""
    return threadpool_limits(1, user_api="blas")


def _agreement_rows(frame: pd.DataFrame, strata: Strata, *, n_boot: int, random_state: int,
                    ci: float, rating: str, categories: Sequence[int], per_rater: bool,
                    bootstrap_scheme: str) -> pd.DataFrame:
    """:func:`agreement_stats` on prepared judgements (:func:`_prepare`)."""
    cats = np.asarray(sorted(set(int(c) for c in categories)), dtype=np.int64)
    values = cats.astype(float)
    units = np.asarray(sorted(frame["vignette_id"].unique()), dtype=object)
    masks = _strata_masks(strata, units, "vignette_id")
    bands = [(label.split("=", 1)[1], mask) for label, mask in masks
             if label.startswith("complexity_band=")]
    opts: dict[str, Any] = {"n_boot": n_boot, "random_state": random_state, "ci": ci,
                            "scheme": bootstrap_scheme}
    is_rules = frame["rater_kind"] == "rules"
    rules = frame[is_rules & (frame["round"] == 1)]
    people = frame[~is_rules]
    panel_ids = sorted(people["panel_id"].dropna().astype(str).unique())
    panels: list[tuple[str, pd.DataFrame]] = [("", people)]
    if len(panel_ids) > 1:
        panels = [(f"{p}/", people[people["panel_id"].astype(str) == p]) for p in panel_ids]
    rule_ids = sorted(rules["rater_id"].unique())
    rows: list[dict[str, Any]] = []
    first_rounds: list[tuple[str, list[str], np.ndarray]] = []
    for prefix, panel in panels:
        first = panel[panel["round"] == 1]
        second = panel[panel["round"] == 2]
        raters = sorted(panel["rater_id"].unique())
        r1 = _matrix(first, units, raters, rating, cats)
        r2 = _matrix(second, units, raters, rating, cats)
        first_rounds.append((prefix, raters, r1))
        professions = (
            first.drop_duplicates("rater_id")
            .set_index("rater_id")["profession"]
            .dropna()
            .astype(str)
        )
        prof_names = sorted(professions.unique())
        rule_codes = {
            r: _matrix(rules[rules["rater_id"] == r], units, [r], rating, cats)[:, 0]
            for r in rule_ids
        }
        for label, mask in masks:
            rows += _within(r1[mask], values, f"{prefix}within-panel", label, **opts)
            if not second.empty:
                rows += _within(r2[mask], values, f"{prefix}within-panel:round2", label, **opts)
                rows += _rounds(r1[mask], r2[mask], values, f"{prefix}round1~round2", label, **opts)
            if label == "all" and len(bands) > 1:  # band differences, after the "all" rows
                everyone = np.ones(len(raters), dtype=bool)
                groups = [(band, mask, everyone) for band, mask in bands]
                for codes, comparison in ((r1, "within-panel"), (r2, "within-panel:round2")):
                    if comparison.endswith("round2") and second.empty:
                        continue
                    rows += _differences(codes, values, f"{prefix}{comparison}", groups,
                                         "complexity_band", **opts)
            for i, a in enumerate(prof_names):
                for b in prof_names[i + 1 :]:
                    ia = [raters.index(r) for r in professions.index[professions == a]]
                    ib = [raters.index(r) for r in professions.index[professions == b]]
                    rows += _between_groups(
                        r1[mask][:, ia],
                        r1[mask][:, ib],
                        values,
                        f"{prefix}{a}~{b}",
                        label,
                        GROUP_METRICS,
                        **opts,
                    )
            for rule_id in rule_ids:
                rc = rule_codes[rule_id][mask]
                tag = f"{prefix}rules:{rule_id}"
                rows += _against_consensus(
                    rc,
                    r1[mask],
                    values,
                    (f"{tag}~panel-mode", f"{tag}~panel-median"),
                    label,
                    **opts,
                )
                rows += _rule_as_rater(rc, r1[mask], values, f"{tag}~raters", label, **opts)
                if per_rater:
                    rows += _rule_vs_each(rc, r1[mask], values, tag, raters, label, **opts)
    # after every other row, so that adding these left the rows above unchanged
    for prefix, raters, r1 in first_rounds:
        for label, mask in masks:
            rows += _each_rater(r1[mask], values, prefix, raters, label, **opts)
    return _frame(rows)


def rules_as_rater(
    judgements: pd.DataFrame,
    strata: Strata = None,
    *,
    n_boot: int = 1000,
    random_state: int = 0,
    ci: float = 0.95,
    rating: str = "need_level",
    categories: Sequence[int] = NEED_LEVELS,
    bootstrap_scheme: str = DEFAULT_SCHEME,
) -> pd.DataFrame:
    """Does the checklist judge like a practitioner? The rules as one more rater.

    For each ruleset (rater of kind ``rules``): its mean agreement with the
    panel's raters (``rules_mean_*``), the raters' mean agreement with each
    other (each rater's mean over the others, then averaged: ``raters_mean_*``),
    and the percentile (0-100, ties counted half) of the rules' mean among the
    raters' means (``rules_percentile_*``), for exact agreement and agreement
    within one level, round 1. A percentile near 50 says the rules agree with
    practitioners as a typical practitioner does. Intervals from the two-way
    cluster bootstrap (vignettes and raters; a rater drawn twice is not
    compared with itself), or with ``bootstrap_scheme="fixed-raters"`` from
    resampling vignettes only.

    Examples
    --------
    >>> import pandas as pd
    >>> levels = {"v1": [1, 1, 2], "v2": [3, 3, 3], "v3": [4, 3, 4], "v4": [2, 2, 1]}
    >>> rows = [(v, f"s{i}", "simulated", lvl)
    ...         for v, ls in levels.items() for i, lvl in enumerate(ls)]
    >>> rows += [(v, "checklist", "rules", ls[0]) for v, ls in levels.items()]
    >>> columns = ["vignette_id", "rater_id", "rater_kind", "need_level"]
    >>> j = pd.DataFrame(rows, columns=columns).assign(round=1)
    >>> out = rules_as_rater(j, n_boot=0).set_index("metric").estimate
    >>> float(out["rules_mean_percent_exact"]), float(out["raters_mean_percent_exact"])
    (0.75, 0.5)
    """
    check_scheme(bootstrap_scheme)
    frame = _prepare(judgements, rating, categories)
    cats = np.asarray(sorted(set(int(c) for c in categories)), dtype=np.int64)
    units = np.asarray(sorted(frame["vignette_id"].unique()), dtype=object)
    masks = _strata_masks(strata, units, "vignette_id")
    is_rules = frame["rater_kind"] == "rules"
    first = frame[~is_rules & (frame["round"] == 1)]
    raters = sorted(first["rater_id"].unique())
    panel = _matrix(first, units, raters, rating, cats)
    rows: list[dict[str, Any]] = []
    for rule_id in sorted(frame.loc[is_rules, "rater_id"].unique()):
        rule = frame[is_rules & (frame["rater_id"] == rule_id) & (frame["round"] == 1)]
        rc = _matrix(rule, units, [rule_id], rating, cats)[:, 0]
        for label, mask in masks:
            rows += _rule_as_rater(
                rc[mask],
                panel[mask],
                cats.astype(float),
                f"rules:{rule_id}~raters",
                label,
                n_boot=n_boot,
                random_state=random_state,
                ci=ci,
                scheme=bootstrap_scheme,
            )
    return _frame(rows)

