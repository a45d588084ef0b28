"""Vectorised agreement statistics for many bootstrap replicates at once (private).

Why our own code: the well-kept libraries (``krippendorff``, ``statsmodels``,
scikit-learn) compute one coefficient from one table. A two-way cluster
bootstrap needs the same coefficient for a thousand resamples of vignettes
*and* raters; calling a library a thousand times per metric, comparison and
stratum is far too slow, and statsmodels' Fleiss' kappa does not allow missing
ratings. Here a resample is a pair of multiplicity vectors (how often each
vignette and each rater was drawn), and every coefficient is computed from a
few sufficient statistics that are matrix products of those vectors with the
one-hot ratings. With all multiplicities 1 the formulas are exactly the
published ones; the tests check them against the libraries and against
published worked examples.

When a rater is drawn twice, the two copies are not treated as two raters who
agree with each other: pairs of copies of one rater are left out of every
pairwise count (otherwise resampling raters would inflate agreement).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

WEIGHTS = ("identity", "within_one", "linear", "quadratic")


def onehot(codes: np.ndarray, k: int) -> np.ndarray:
    """``codes`` (units x raters, -1 missing) as a 0/1 array (units x raters x k)."""
    out = np.zeros(codes.shape + (k,), dtype=np.float64)
    rows, cols = np.nonzero(codes >= 0)
    out[rows, cols, codes[rows, cols]] = 1.0
    return out


def weight_matrix(kind: str, values: np.ndarray) -> np.ndarray:
    """Agreement weights between categories with numeric ``values`` (1 on the diagonal)."""
    v = np.asarray(values, dtype=float)
    diff = np.abs(v[:, None] - v[None, :])
    span = float(v.max() - v.min()) if len(v) > 1 else 1.0
    span = span or 1.0
    if kind == "identity":
        return np.eye(len(v))
    if kind == "within_one":
        return (diff <= 1).astype(float)
    if kind == "linear":
        return 1.0 - diff / span
    if kind == "quadratic":
        return 1.0 - (diff / span) ** 2
    raise ValueError(f"weights: expected one of {', '.join(WEIGHTS)}, got {kind!r}")


def multiplicities(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``n_boot`` resamples (n_boot x n)."""
    draws = rng.integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return (
        np.bincount((draws + offsets).ravel(), minlength=n_boot * n)
        .reshape(n_boot, n)
        .astype(float)
    )


def panel_counts(onehot_: np.ndarray, rater_w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, unit and category: weighted count of ratings and of squared weights."""
    n, m, k = onehot_.shape
    if rater_w is None:
        c = onehot_.sum(axis=1)[None]
        return c, c
    flat = onehot_.transpose(0, 2, 1).reshape(n * k, m)
    b = rater_w.shape[0]
    counts = (flat @ rater_w.T).reshape(n, k, b).transpose(2, 0, 1)
    squares = (flat @ (rater_w * rater_w).T).reshape(n, k, b).transpose(2, 0, 1)
    return counts, squares


def rater_counts(onehot_: np.ndarray, rater_w: np.ndarray | None) -> np.ndarray:
    """The counts of :func:`panel_counts` alone (B x n x k), without the squared weights."""
    n, m, k = onehot_.shape
    if rater_w is None:
        return onehot_.sum(axis=1)[None]
    flat = onehot_.transpose(0, 2, 1).reshape(n * k, m)
    return (flat @ rater_w.T).reshape(n, k, rater_w.shape[0]).transpose(2, 0, 1)


@dataclass(frozen=True)
class PanelSums:
    """Sufficient statistics of many raters on many units, one row per replicate.

    ``pairs[b, k, l]``: sum over units of (ordered pairs of ratings k, l from
    different raters) / (pairs in the unit); ``self_pairs[b, k]`` the diagonal
    correction; ``kpairs``/``kself`` the same weighted by the unit's number of
    ratings (Krippendorff's coincidences); ``n_pairable`` the (weighted) number
    of units with two or more raters; ``prevalence[b, k]`` the mean share of
    ratings in category k per rated unit; ``n_units`` units with any rating;
    ``rater_chance[b, k, l]`` the mean over ordered pairs of different raters
    (g, h) of p_gk p_hl, p_g a rater's own distribution of ratings over the
    units they rated (Conger's chance agreement; two copies of one rater drawn
    twice are not a pair).
    """

    pairs: np.ndarray
    self_pairs: np.ndarray
    kpairs: np.ndarray
    kself: np.ndarray
    n_pairable: np.ndarray
    prevalence: np.ndarray
    rater_chance: np.ndarray


def panel_sums(
    onehot_: np.ndarray,
    unit_w: np.ndarray | None = None,
    rater_w: np.ndarray | None = None,
    chunk: int = 100,
) -> PanelSums:
    """Sums for the multi-rater coefficients; ``unit_w`` (B x n) and ``rater_w`` (B x m)."""
    n = onehot_.shape[0]
    b_total = 1
    for w in (unit_w, rater_w):
        if w is not None:
            b_total = w.shape[0]
    parts: list[PanelSums] = []
    for start in range(0, b_total, chunk):
        stop = min(start + chunk, b_total)
        uw = np.ones((stop - start, n)) if unit_w is None else unit_w[start:stop]
        rw = None if rater_w is None else rater_w[start:stop]
        parts.append(_panel_chunk(onehot_, uw, rw))
    return PanelSums(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in PanelSums.__dataclass_fields__)
    )


def _panel_chunk(onehot_: np.ndarray, uw: np.ndarray, rw: np.ndarray | None) -> PanelSums:
    counts, squares = panel_counts(onehot_, rw)
    counts = np.broadcast_to(counts, (uw.shape[0],) + counts.shape[1:])
    squares = np.broadcast_to(squares, counts.shape)
    m = counts.sum(axis=2)
    n_pairs = m * m - squares.sum(axis=2)
    pairable = n_pairs > 0.5
    inv = np.where(pairable, uw / np.where(pairable, n_pairs, 1.0), 0.0)
    kinv = inv * m
    weighted = counts * inv[..., None]
    pairs = weighted.transpose(0, 2, 1) @ counts
    kpairs = (counts * kinv[..., None]).transpose(0, 2, 1) @ counts
    self_pairs = np.einsum("bn,bnk->bk", inv, squares)
    kself = np.einsum("bn,bnk->bk", kinv, squares)
    rated = m > 0
    share = np.where(rated, uw / np.where(rated, m, 1.0), 0.0)
    units = (uw * rated).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = np.einsum("bn,bnk->bk", share, counts) / units[:, None]
    return PanelSums(pairs, self_pairs, kpairs, kself, (uw * pairable).sum(axis=1), prevalence,
                     _rater_chance(onehot_, uw, rw))


def _rater_chance(onehot_: np.ndarray, uw: np.ndarray, rw: np.ndarray | None) -> np.ndarray:
    """Mean over ordered pairs of different raters of the outer product of their distributions.

    With every multiplicity 1 this is irrCAC's ``p.mean.k p.mean.k' - s2kl.mat / r`` of
    ``conger.kappa.raw``: the mean of p_g p_h' over g != h equals pbar pbar' - S / r, S the
    covariance of the raters' distributions (divisor r - 1). A rater none of whose units
    was drawn is left out of the replicate.
    """
    n, m, k = onehot_.shape
    classified = (uw @ onehot_.reshape(n, m * k)).reshape(-1, m, k)  # units per rater and category
    rated = classified.sum(axis=2)
    p = classified / np.where(rated > 0, rated, 1.0)[..., None]
    a = (np.ones_like(rated) if rw is None else rw) * (rated > 0)
    first = np.einsum("bg,bgk->bk", a, p)
    same = np.einsum("bg,bgk,bgl->bkl", a * a, p, p)
    pairs = a.sum(axis=1) ** 2 - (a * a).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (first[:, :, None] * first[:, None, :] - same) / pairs[:, None, None]


def percent_agreement(s: PanelSums, w: np.ndarray) -> np.ndarray:
    """Mean over units of the (weighted) share of agreeing pairs of raters."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (np.einsum("kl,bkl->b", w, s.pairs) - s.self_pairs.sum(axis=1)) / s.n_pairable
    return np.minimum(share, 1.0)  # a share; clip float rounding just above 1


def _chance_corrected(pa: np.ndarray, pe: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (pa - pe) / (1.0 - pe)
    return np.where(np.isclose(pe, 1.0), np.nan, np.minimum(out, 1.0))


def fleiss(s: PanelSums, w: np.ndarray) -> np.ndarray:
    """Fleiss' kappa; with missing ratings as in Gwet (2014), irrCAC ``fleiss.kappa.raw``."""
    pe = np.einsum("kl,bk,bl->b", w, s.prevalence, s.prevalence)
    return _chance_corrected(percent_agreement(s, w), pe)


def gwet(s: PanelSums, w: np.ndarray) -> np.ndarray:
    """Gwet's AC1 (identity weights) or AC2 (other weights), Gwet (2014) ch. 4-5."""
    q = w.shape[0]
    pe = w.sum() / (q * (q - 1)) * (s.prevalence * (1.0 - s.prevalence)).sum(axis=1)
    return _chance_corrected(percent_agreement(s, w), pe)


def conger(s: PanelSums, w: np.ndarray) -> np.ndarray:
    """Conger's (1980) kappa: chance agreement from each rater's own distribution of ratings.

    With missing ratings as in Gwet (2014), irrCAC ``conger.kappa.raw``: agreement as for
    Fleiss' kappa, chance agreement sum_kl w_kl mean_{g != h} p_gk p_hl, p_g the shares of
    rater g's ratings over the units g rated.
    """
    pe = np.einsum("kl,bkl->b", w, s.rater_chance)
    return _chance_corrected(percent_agreement(s, w), pe)


def brennan_prediger(s: PanelSums, w: np.ndarray) -> np.ndarray:
    """Brennan and Prediger (1981): chance agreement from uniform use of the q categories."""
    q = w.shape[0]
    pe = np.full(s.n_pairable.shape, w.sum() / q**2)
    return _chance_corrected(percent_agreement(s, w), pe)


def krippendorff(s: PanelSums, level: str, values: np.ndarray) -> np.ndarray:
    """Krippendorff's alpha from the coincidence matrix (Krippendorff 2011)."""
    k = len(values)
    coinc = s.kpairs - s.kself[:, :, None] * np.eye(k)[None]
    marg = coinc.sum(axis=2)
    total = marg.sum(axis=1)
    v = np.asarray(values, dtype=float)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(k), coinc.shape)
    elif level == "interval":
        delta = np.broadcast_to((v[:, None] - v[None, :]) ** 2, coinc.shape)
    elif level == "ordinal":
        cum = np.cumsum(marg, axis=1)
        delta = (cum[:, None, :] - cum[:, :, None] + (marg[:, :, None] - marg[:, None, :]) / 2) ** 2
    else:
        raise ValueError(f"level: expected nominal, ordinal or interval, got {level!r}")
    observed = (coinc * delta).sum(axis=(1, 2))
    expected = np.einsum("bk,bl,bkl->b", marg, marg, delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = 1.0 - (total - 1.0) * observed / expected
    return np.where(expected > 0, alpha, np.nan)


#: The largest table of (unit, rater of A, rater of B, k, l) :func:`group_joint` forms (float64
#: entries); beyond it, the sum is taken unit by unit.
_PAIR_TABLE_LIMIT = 4_000_000


def _codes(onehot_: np.ndarray) -> np.ndarray:
    """Category index per unit and rater (-1 where missing) from a one-hot array."""
    return np.where(onehot_.sum(axis=2) > 0, onehot_.argmax(axis=2), -1)


def _add_columns(w: np.ndarray, which: np.ndarray, size: int) -> np.ndarray:
    """``w`` (B x n) with its columns added up by ``which`` (n labels in 0..size-1): B x size."""
    b = w.shape[0]
    idx = (which[None, :] + (np.arange(b) * size)[:, None]).ravel()
    return np.bincount(idx, weights=np.ascontiguousarray(w).ravel(), minlength=b * size).reshape(b, size)


def group_joint(
    onehot_a: np.ndarray,
    onehot_b: np.ndarray,
    unit_w: np.ndarray | None = None,
    rater_w_a: np.ndarray | None = None,
    rater_w_b: np.ndarray | None = None,
    chunk: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Joint distribution of a rating from group A and one from group B on the same unit.

    ``joint[b, k, l]`` is the mean over units rated by both groups of the share
    of (A, B) rater pairs rating (k, l); returns it and the number of such
    units per replicate. With one rater per group it is the usual
    two-rater contingency table in proportions (Cohen); with groups it is the
    table behind Vanbelle and Albert's (2009) agreement between two groups.

    ``onehot_a`` and ``onehot_b`` are 0/1 ratings as :func:`onehot` gives them (units x
    raters x k, at most one 1 per unit and rater).

    How it is computed: units with the same ratings from every rater of A and B are
    interchangeable, so their multiplicities are added up first (a few hundred kinds of
    unit for two small groups, however many units); the sum over the kinds is then one
    product with each kind's table of (rater of A, rater of B, k, l), weighted by the two
    raters' multiplicities. No array of replicates x units x categories is formed. Where
    that table would be too large or no cheaper (many raters in both groups, as many kinds
    as units) the sum is taken unit by unit in chunks of replicates instead
    (:func:`_group_joint_direct`); the two agree to rounding.
    """
    n, ga, k = onehot_a.shape
    gb = onehot_b.shape[1]
    codes = np.concatenate([_codes(onehot_a), _codes(onehot_b)], axis=1)
    kinds, first, which = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    table_size = len(kinds) * ga * gb * k * k
    if table_size > _PAIR_TABLE_LIMIT or table_size > 3 * n * k * (ga + gb + k):
        return _group_joint_direct(onehot_a, onehot_b, unit_w, rater_w_a, rater_w_b, chunk)
    b_total = max((w.shape[0] for w in (unit_w, rater_w_a, rater_w_b) if w is not None), default=1)
    uw = np.ones((b_total, n)) if unit_w is None else np.broadcast_to(unit_w, (b_total, n))
    wa = np.ones((b_total, ga)) if rater_w_a is None else np.broadcast_to(rater_w_a, (b_total, ga))
    wb = np.ones((b_total, gb)) if rater_w_b is None else np.broadcast_to(rater_w_b, (b_total, gb))
    per_kind = _add_columns(uw, which.ravel(), len(kinds))  # B x kinds: multiplicities added up
    oa, ob = onehot_a[first], onehot_b[first]
    ma = wa @ oa.sum(axis=2).T  # B x kinds: weighted raters of A on a unit of each kind
    mb = wb @ ob.sum(axis=2).T
    both = (ma > 0) & (mb > 0)
    inv = np.where(both, per_kind / np.where(both, ma * mb, 1.0), 0.0)
    pairs = (oa[:, :, None, :, None] * ob[:, None, :, None, :]).reshape(len(kinds), -1)
    table = (inv @ pairs).reshape(b_total, ga, gb, k, k)
    joint = np.einsum("bg,bh,bghkl->bkl", wa, wb, table)
    count = (per_kind * both).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / count[:, None, None], count


def _group_joint_direct(
    onehot_a: np.ndarray,
    onehot_b: np.ndarray,
    unit_w: np.ndarray | None = None,
    rater_w_a: np.ndarray | None = None,
    rater_w_b: np.ndarray | None = None,
    chunk: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`group_joint` unit by unit, in chunks of replicates (for large groups)."""
    n = onehot_a.shape[0]
    b_total = max((w.shape[0] for w in (unit_w, rater_w_a, rater_w_b) if w is not None), default=1)
    joints, units = [], []
    for start in range(0, b_total, chunk):
        stop = min(start + chunk, b_total)
        uw = np.ones((stop - start, n)) if unit_w is None else unit_w[start:stop]
        ca = rater_counts(onehot_a, None if rater_w_a is None else rater_w_a[start:stop])
        cb = rater_counts(onehot_b, None if rater_w_b is None else rater_w_b[start:stop])
        ma, mb = ca.sum(axis=2), cb.sum(axis=2)
        both = (ma > 0) & (mb > 0)
        inv = np.where(both, uw / np.where(both, ma * mb, 1.0), 0.0)
        ca = np.broadcast_to(ca, (stop - start,) + ca.shape[1:])
        cb = np.broadcast_to(cb, ca.shape)
        joint = (ca * inv[..., None]).transpose(0, 2, 1) @ cb
        count = (uw * both).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            joints.append(joint / count[:, None, None])
        units.append(count)
    return np.concatenate(joints), np.concatenate(units)


def pair_joint(codes_a: np.ndarray, codes_b: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    """Joint distribution of paired ratings (both present) under ``weights`` (B x pairs)."""
    joint = _add_columns(weights, codes_a * k + codes_b, k * k).reshape(-1, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / weights.sum(axis=1)[:, None, None]


def rater_pair_joint(codes_a: np.ndarray, codes_b: np.ndarray, k: int, unit_w: np.ndarray,
                     rater_w: np.ndarray) -> np.ndarray:
    """Joint distribution of two ratings of the same unit by the same rater (e.g. two rounds).

    ``codes_a`` and ``codes_b`` are units x raters (-1 missing); a (unit, rater) with both
    ratings weighs ``unit_w[b, unit] * rater_w[b, rater]`` in replicate b. The same as
    :func:`pair_joint` on the list of such pairs with those weights, without forming the
    replicates x pairs weights: per rater, the unit multiplicities are added up by the
    pair of ratings, then weighted by the rater's multiplicity.
    """
    m = codes_a.shape[1]
    both = (codes_a >= 0) & (codes_b >= 0)
    cell = np.where(both, codes_a * k + codes_b, k * k)  # k * k: not a pair, dropped
    per_rater = np.stack([_add_columns(unit_w, cell[:, g], k * k + 1)[:, :-1] for g in range(m)],
                         axis=1)  # B x raters x cells
    joint = np.einsum("bg,bgc->bc", rater_w, per_rater).reshape(-1, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / joint.sum(axis=(1, 2))[:, None, None]


def joint_agreement(joint: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted share of agreeing pairs from a joint distribution."""
    return np.minimum(np.einsum("kl,bkl->b", w, joint), 1.0)


def joint_kappa(joint: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cohen's (weighted) kappa from a joint distribution; Vanbelle-Albert kappa for groups."""
    po = joint_agreement(joint, w)
    pe = np.einsum("kl,bk,bl->b", w, joint.sum(axis=2), joint.sum(axis=1))
    return _chance_corrected(po, pe)


def median_category(counts: np.ndarray) -> np.ndarray:
    """The consensus level of a panel: the lower median category of each row of counts.

    ``counts`` holds the (weighted) number of ratings per category along its
    last axis, categories in scale order; the result has the leading shape and
    holds the category index, -1 where a row has no ratings.

    Tie rule: the median is the lowest category at which the cumulative share
    of ratings reaches one half (the *lower* median). With an even split
    between two levels it is the lower of the two, never a half level: on an
    ordinal scale a mean of two levels has no meaning, and the lower median is
    always a level some rater chose. Every analysis that needs "the panel's
    level" (agreement against the panel median, failure points, learned
    checklists, the report) goes through this function; docs/methods.md,
    "Consensus level", gives the reasoning.
    """
    counts = np.asarray(counts)
    m = counts.sum(axis=-1)
    return np.where(m <= 0, -1, _lower_median([counts[..., c] for c in range(counts.shape[-1])], m))


def _lower_median(per: list[np.ndarray], m: np.ndarray) -> np.ndarray:
    """The lowest category whose cumulative count reaches ``m / 2``, for rows with ``m > 0``.

    ``per`` holds the counts of each category (in scale order), ``m`` their total. The
    cumulative counts only grow, so that category is the number of categories before which
    they fall short: a sum of ``k - 1`` comparisons, one category at a time (no arg-max
    along a short last axis, which numpy does slowly).
    """
    half = m / 2.0 - 1e-9
    cum = np.zeros(m.shape)
    median = np.zeros(m.shape, dtype=np.int64)
    for part in per[:-1]:
        cum += part
        median += cum < half
    return median


def consensus(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and majority category per replicate and unit from category counts (B x n x k).

    The median is :func:`median_category` (the lower median, always a category
    on the scale). The majority is the most frequent category; ties go to the
    one nearest the median, then the lower. Units without ratings get -1.
    """
    return consensus_parts([np.ascontiguousarray(counts[..., c]) for c in range(counts.shape[-1])])


def consensus_parts(per: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`consensus` from the counts of each category, one array (B x n) per category.

    Category by category, on whole arrays of replicates x units: numpy reduces a short
    last axis (the categories of ``B x n x k`` counts) many times more slowly.
    """
    k = len(per)
    m = per[0].copy()
    top = per[0].copy()
    for part in per[1:]:
        m += part
        np.maximum(top, part, out=top)
    top -= 1e-9
    empty = m <= 0
    median = _lower_median(per, m)
    # the most used category nearest the median, then the lower: each category's distance
    # key (2 |c - median|, plus 1 above the median) is distinct, so the first best wins.
    # With few categories, the categories at the top are a bit mask and the winner is
    # looked up from (median, mask) in a table made once.
    if k <= 8:
        mask = np.zeros(m.shape, dtype=np.int64)
        for c, part in enumerate(per):
            mask |= (part >= top).astype(np.int64) << c
        mode = _mode_table(k)[np.maximum(median, 0) * (1 << k) + mask]
    else:
        mode = np.full(m.shape, -1, dtype=np.int64)
        best = np.full(m.shape, 10 * k, dtype=np.int64)
        for c in range(k):
            key = np.abs(c - median) * 2 + (c > median)
            better = (per[c] >= top) & (key < best)
            np.copyto(mode, c, where=better)
            np.copyto(best, key, where=better)
    return np.where(empty, -1, median), np.where(empty, -1, mode)


@functools.cache
def _mode_table(k: int) -> np.ndarray:
    """The majority category for each (median, bit mask of the most used categories)."""
    table = np.full(k << k, -1, dtype=np.int64)
    for median in range(k):
        for mask in range(1, 1 << k):
            top = [c for c in range(k) if mask >> c & 1]
            table[median * (1 << k) + mask] = min(top, key=lambda c: 2 * abs(c - median) + (c > median))
    return table


def category_counts(onehot_: np.ndarray, rater_w: np.ndarray) -> list[np.ndarray]:
    """Per category, the weighted count of ratings per replicate and unit (k arrays B x n)."""
    return [rater_w @ onehot_[:, :, c].T for c in range(onehot_.shape[2])]


def consensus_joint(
    rule_codes: np.ndarray, target: np.ndarray, k: int, unit_w: np.ndarray
) -> np.ndarray:
    """Joint distribution of a fixed rater's codes (n) against per-replicate codes (B x n)."""
    valid = (target >= 0) & (rule_codes[None, :] >= 0)
    cell = np.where(valid, rule_codes[None, :] * k + np.maximum(target, 0), 0)
    b = target.shape[0]
    idx = (cell + (np.arange(b) * k * k)[:, None]).ravel()
    joint = np.bincount(idx, weights=(unit_w * valid).ravel(), minlength=b * k * k).reshape(b, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / (unit_w * valid).sum(axis=1)[:, None, None]


def pairwise_rater_sums(
    onehot_: np.ndarray, w: np.ndarray, rule_onehot: np.ndarray | None, unit_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per replicate: agreeing and shared units for every pair of raters, and for the rule.

    Returns ``agree`` and ``shared`` (B x m x m), ``rule_agree`` and
    ``rule_shared`` (B x m). Each is a product of the unit multiplicities with a
    per-unit table, so one matrix product covers all replicates.
    """
    n, m, k = onehot_.shape
    rated = onehot_.sum(axis=2)
    smooth = onehot_ @ w.T
    per_unit = np.einsum("ijc,ikc->ijk", onehot_, smooth).reshape(n, m * m)
    both = (rated[:, :, None] * rated[:, None, :]).reshape(n, m * m)
    agree = (unit_w @ per_unit).reshape(-1, m, m)
    shared = (unit_w @ both).reshape(-1, m, m)
    if rule_onehot is None:
        return agree, shared, np.zeros((len(unit_w), m)), np.zeros((len(unit_w), m))
    rule_rated = rule_onehot.sum(axis=1)
    rule_agree = unit_w @ np.einsum("ic,ijc->ij", rule_onehot, smooth)
    rule_shared = unit_w @ (rule_rated[:, None] * rated)
    return agree, shared, rule_agree, rule_shared


def rule_percentile(
    agree: np.ndarray,
    shared: np.ndarray,
    rule_agree: np.ndarray,
    rule_shared: np.ndarray,
    rater_w: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rule's mean agreement with the raters, raters' mean agreement with each other, and the
    rule's percentile (0-100, ties counted half) among the raters' means, per replicate."""
    m = agree.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        pair = agree / shared
        rule = rule_agree / rule_shared
    off = ~np.eye(m, dtype=bool)[None]
    ok = np.isfinite(pair) & off
    wk = rater_w[:, None, :] * ok
    with np.errstate(invalid="ignore", divide="ignore"):
        rater_mean = (np.where(ok, pair, 0.0) * wk).sum(axis=2) / wk.sum(axis=2)
        rok = np.isfinite(rule)
        rule_mean = (np.where(rok, rule, 0.0) * rater_w).sum(axis=1) / (rater_w * rok).sum(axis=1)
        has = np.isfinite(rater_mean)
        wr = rater_w * has
        below = ((rater_mean < rule_mean[:, None] - 1e-12) * wr).sum(axis=1)
        tied = ((np.abs(rater_mean - rule_mean[:, None]) <= 1e-12) * wr).sum(axis=1)
        percentile = 100.0 * (below + 0.5 * tied) / wr.sum(axis=1)
        raters = (np.where(has, rater_mean, 0.0) * wr).sum(axis=1) / wr.sum(axis=1)
    return rule_mean, raters, percentile


def interval(replicates: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (undefined replicates left out)."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - ci) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)
