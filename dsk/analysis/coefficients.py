"""Agreement coefficients among raters: long data plus column names in, as pingouin does.

Every function takes long-format data (one row per unit x rater, with a
rating) plus the names of its columns. The single coefficients
(:func:`percent_agreement`, :func:`cohen_kappa`, :func:`fleiss_kappa`,
:func:`conger_kappa`, :func:`krippendorff_alpha`, :func:`gwet_ac`,
:func:`brennan_prediger`) return
the point estimate as a float; :func:`agreement` returns any of them in the
``stats`` table (``analysis``, ``metric``, ``comparison``, ``stratum``,
``estimate``, ``ci_low``, ``ci_high``, ``n``), with percentile intervals from
a seeded two-way cluster bootstrap that resamples units (vignettes) and
raters. The comparisons of an experiment (rules against the panel, between
professions, between rounds) are in :mod:`dsk.analysis.comparisons`; the
formulas and their sources are in docs/methods.md, "Agreement coefficients".

Which code computes what:

- Krippendorff's alpha: the ``krippendorff`` package; Cohen's kappa:
  scikit-learn; Fleiss' kappa on complete data: statsmodels.
- Fleiss' kappa with missing ratings, Conger's kappa, Gwet's AC1/AC2,
  Brennan-Prediger and percent agreement: our own code in :mod:`dsk.analysis._kernels`, because
  no well-kept Python library has them (statsmodels' Fleiss' kappa needs
  every rater on every unit; the small ``irrCAC`` port is not maintained).
- The tables and their bootstrap use the vectorised kernels for every
  coefficient (a thousand resamples in one pass); the tests check that they
  equal the libraries on the point estimates.

Every function takes ``categories``, the rating scale (e.g. ``(1, 2, 3, 4)``
for need levels, :data:`dsk.schema.NEED_LEVELS`). Pass it: when it is left
out, the scale is taken as the integers from the lowest to the highest rating
seen, which is only right when both end levels were used. The number of
categories q enters the chance agreement of Gwet's AC1/AC2 and of
Brennan-Prediger (and the weights of AC2 and Krippendorff's alpha), so a
scale shrunk by an unused end level moves them (with level 4 unused, two
raters at 75% exact agreement get AC1 0.68 on the 1-4 scale but 0.63 on 1-3,
and AC2 0.83 against 0.72).
Fleiss' kappa and percent agreement do not depend on unused levels. The
experiment's analyses and ``dsk agree`` always pass the scale.

Examples
--------
>>> import pandas as pd
>>> from dsk.analysis import agreement, fleiss_kappa
>>> data = pd.DataFrame({"vignette_id": [f"v{i}" for i in range(4) for _ in range(3)],
...                      "rater_id": ["a", "b", "c"] * 4,
...                      "need_level": [1, 1, 1, 2, 2, 3, 4, 4, 4, 3, 3, 3]})
>>> round(fleiss_kappa(data), 3)
0.774
>>> table = agreement(data, n_boot=200, random_state=1)
>>> row = table.set_index("metric").loc["percent_exact"]
>>> round(float(row.estimate), 3), int(row.n), bool(row.ci_low <= row.estimate <= row.ci_high)
(0.833, 4, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from dsk.analysis import _kernels as K
from dsk.analysis._bootstrap import (
    DEFAULT_SCHEME,
    MULTI_RATER_METRICS,
    NO_OVERLAP,
    SCHEMES,
    SPREAD_METRICS,
    AgreementInputError,
    _check_columns,
    _differences,
    _frame,
    _ratings,
    _rows,
    _weights,
    _within,
    check_scheme,
)
from dsk.schema import BANDS

__all__ = [
    "MULTI_RATER_METRICS",
    "SCHEMES",
    "SPREAD_METRICS",
    "AgreementInputError",
    "agreement",
    "brennan_prediger",
    "cohen_kappa",
    "conger_kappa",
    "fleiss_kappa",
    "gwet_ac",
    "krippendorff_alpha",
    "percent_agreement",
]

def percent_agreement(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    tolerance: int = 0,
    categories: Sequence[int] | None = None,
) -> float:
    """Mean share of pairs of raters whose ratings differ by at most ``tolerance``.

    Averaged first over the pairs within a unit, then over the units rated by
    two or more raters (Gwet 2014, irrCAC ``pa.coeff.raw``). ``tolerance=1``
    gives agreement within one level.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": ["v1"] * 3 + ["v2"] * 3, "rater_id": list("abcabc"),
    ...                      "need_level": [2, 2, 3, 1, 4, 4]})
    >>> round(percent_agreement(data), 3), round(percent_agreement(data, tolerance=1), 3)
    (0.333, 0.667)
    """
    r = _ratings(data, unit, rater, rating, categories)
    diff = np.abs(r.values[:, None] - r.values[None, :])
    w = (diff <= tolerance).astype(float)
    return float(K.percent_agreement(K.panel_sums(K.onehot(r.codes, len(r.values))), w)[0])


def cohen_kappa(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    weights: str | None = None,
    raters: tuple[str, str] | None = None,
    categories: Sequence[int] | None = None,
) -> float:
    """Cohen's kappa between two raters, unweighted or with ``linear``/``quadratic`` weights.

    Uses the units both raters rated. ``raters`` picks two raters when the
    data hold more. Computed by :func:`sklearn.metrics.cohen_kappa_score`.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 2, 2, 3, 3, 4, 4], "rater_id": list("abababab"),
    ...                      "need_level": [1, 1, 2, 2, 3, 4, 4, 4]})
    >>> round(cohen_kappa(data), 3), round(cohen_kappa(data, weights="quadratic"), 3)
    (0.667, 0.917)
    """
    from sklearn.metrics import cohen_kappa_score

    r = _ratings(data, unit, rater, rating, categories)
    if raters is None:
        if len(r.raters) != 2:
            raise AgreementInputError(
                f"column {rater!r}: Cohen's kappa needs two raters, got "
                f"{len(r.raters)}; pass raters=(a, b)"
            )
        idx = [0, 1]
    else:
        idx = []
        for name in raters:
            hits = np.flatnonzero(r.raters == str(name))
            if not hits.size:
                raise AgreementInputError(f"column {rater!r}: no rater {name!r}")
            idx.append(int(hits[0]))
    a, b = r.codes[:, idx[0]], r.codes[:, idx[1]]
    both = (a >= 0) & (b >= 0)
    if weights not in (None, "linear", "quadratic"):
        raise AgreementInputError(
            f"weights: expected None, 'linear' or 'quadratic', got {weights!r}"
        )
    return float(
        cohen_kappa_score(a[both], b[both], labels=np.arange(len(r.values)), weights=weights)
    )


def fleiss_kappa(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    categories: Sequence[int] | None = None,
) -> float:
    """Fleiss' kappa among many raters; missing ratings allowed.

    With every rater on every unit this is statsmodels'
    :func:`~statsmodels.stats.inter_rater.fleiss_kappa`. With missing ratings
    it is Gwet's (2014) generalisation (irrCAC ``fleiss.kappa.raw``): agreement
    averaged over units with two or more ratings, category prevalence averaged
    over units with any rating. statsmodels does not handle missing ratings,
    hence our own code for that case.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 1, 2, 2, 2, 3, 3], "rater_id": list("abcabcab"),
    ...                      "need_level": [1, 1, 2, 3, 3, 3, 2, 2]})
    >>> round(fleiss_kappa(data), 3)
    0.654
    """
    r = _ratings(data, unit, rater, rating, categories)
    k = len(r.values)
    if (r.codes >= 0).all():
        from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

        table = np.stack([(r.codes == c).sum(axis=1) for c in range(k)], axis=1)
        return float(sm_fleiss(table, method="fleiss"))
    return float(K.fleiss(K.panel_sums(K.onehot(r.codes, k)), np.eye(k))[0])


def conger_kappa(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    weights: str | None = None,
    categories: Sequence[int] | None = None,
) -> float:
    """Conger's (1980) kappa among many raters, unweighted or ``linear``/``quadratic``.

    The multi-rater generalisation of Cohen's kappa: agreement as for Fleiss'
    kappa, chance agreement from each rater's own distribution of ratings
    (averaged over pairs of different raters) instead of the pooled one. With
    two raters it is Cohen's kappa. Missing ratings as in Gwet (2014) and
    irrCAC's ``conger.kappa.raw``: agreement over units rated by two or more
    raters, each rater's distribution over the units that rater rated. Our own
    code: no maintained Python library has it.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 1, 2, 2, 2, 3, 3], "rater_id": list("abcabcab"),
    ...                      "need_level": [1, 1, 2, 3, 3, 3, 2, 2]})
    >>> round(conger_kappa(data), 3), round(fleiss_kappa(data), 3)
    (0.667, 0.654)
    """
    r = _ratings(data, unit, rater, rating, categories)
    if weights not in (None, "linear", "quadratic"):
        raise AgreementInputError(
            f"weights: expected None, 'linear' or 'quadratic', got {weights!r}"
        )
    k = len(r.values)
    return float(K.conger(K.panel_sums(K.onehot(r.codes, k)), _weights(weights, r.values))[0])


def krippendorff_alpha(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    level: str = "ordinal",
    categories: Sequence[int] | None = None,
) -> float:
    """Krippendorff's alpha (``nominal``, ``ordinal`` or ``interval``); missing ratings allowed.

    Computed by the ``krippendorff`` package (Castro 2017) on the rating values.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 2, 2, 3, 3, 4], "rater_id": list("abababa"),
    ...                      "need_level": [1, 1, 2, 3, 4, 4, 2]})
    >>> round(krippendorff_alpha(data, level="interval"), 3)
    0.912
    """
    import krippendorff as kd

    if level not in ("nominal", "ordinal", "interval"):
        raise AgreementInputError(f"level: expected nominal, ordinal or interval, got {level!r}")
    r = _ratings(data, unit, rater, rating, categories)
    values = np.where(r.codes >= 0, r.values[np.maximum(r.codes, 0)], np.nan)
    return float(
        kd.alpha(
            reliability_data=values.T,
            value_domain=r.values,
            level_of_measurement=cast(Literal["nominal", "ordinal", "interval"], level),
        )
    )


def gwet_ac(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    weights: str | None = None,
    categories: Sequence[int] | None = None,
) -> float:
    """Gwet's AC1 (``weights=None``) or AC2 (``linear``/``quadratic`` weights).

    Follows Gwet (2014, ch. 4-5) and irrCAC's ``gwet.ac1.raw``; missing ratings
    allowed. Our own code: no maintained Python library has it.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 1, 2, 2, 2, 3, 3], "rater_id": list("abcabcab"),
    ...                      "need_level": [1, 1, 2, 3, 3, 3, 2, 2]})
    >>> round(gwet_ac(data), 3)
    0.673
    """
    r = _ratings(data, unit, rater, rating, categories)
    return float(
        K.gwet(K.panel_sums(K.onehot(r.codes, len(r.values))), _weights(weights, r.values))[0]
    )


def brennan_prediger(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    weights: str | None = None,
    categories: Sequence[int] | None = None,
) -> float:
    """Brennan and Prediger's (1981) coefficient: chance agreement 1/q for q categories.

    Missing ratings allowed; our own code (irrCAC ``bp.coeff.raw`` formulas).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"vignette_id": [1, 1, 2, 2], "rater_id": list("abab"),
    ...                      "need_level": [1, 1, 2, 3]})
    >>> round(brennan_prediger(data), 3)
    0.25
    """
    r = _ratings(data, unit, rater, rating, categories)
    k = len(r.values)
    return float(
        K.brennan_prediger(K.panel_sums(K.onehot(r.codes, k)), _weights(weights, r.values))[0]
    )



def agreement(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    by: str | None = None,
    n_boot: int = 1000,
    random_state: int = 0,
    ci: float = 0.95,
    categories: Sequence[int] | None = None,
    metrics: Sequence[str] = MULTI_RATER_METRICS + SPREAD_METRICS,
    comparison: str = "within-raters",
    source: str | None = None,
    bootstrap_scheme: str = DEFAULT_SCHEME,
) -> pd.DataFrame:
    """Agreement among all raters in any long-format table, as a ``stats`` table.

    Parameters
    ----------
    data : DataFrame
        One row per unit x rater; missing ratings allowed.
    unit, rater, rating : str
        Column names; ratings must be integers (any range).
    by : str, optional
        Also compute every metric within each value of this column (rows are
        subset, so it may describe units, e.g. ``complexity_band``, or raters,
        e.g. ``profession``); stratum ``by=value``. Then the difference of each
        metric between every pair of values, later minus earlier (complexity
        bands in their order low, medium, high; other values sorted), stratum
        ``by:later-earlier``, from one bootstrap draw shared by both values.
    n_boot : int
        Cluster bootstrap replicates; 0 for none.
    random_state : int
        Seed of the bootstrap; the same seed gives the same table.
    ci : float
        Coverage of the percentile interval.
    categories : sequence of int, optional
        The rating scale, e.g. ``(1, 2, 3, 4)``. Default: the integers from the
        lowest to the highest rating seen (see the module notes: pass the
        scale when an end level may be unused).
    metrics : sequence of str
        A subset of :data:`MULTI_RATER_METRICS` and :data:`SPREAD_METRICS`.
    bootstrap_scheme : {"two-way", "fixed-raters"}
        ``two-way`` (default) resamples units and raters: the interval speaks
        to new raters on new units. ``fixed-raters`` resamples units only:
        these raters on new units.

    Returns
    -------
    DataFrame
        The ``stats`` table: analysis, metric, comparison, stratum, estimate,
        ci_low, ci_high, n (units rated by two or more raters), and
        ``boot_failed``, the replicates that gave no value (missing without a
        bootstrap).

    Raises
    ------
    AgreementInputError
        When a column is missing, a rating is not an integer on the scale, or
        the data hold fewer than two raters.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3], "coder": list("ababab"),
    ...                      "score": [1, 1, 2, 3, 5, 5]})
    >>> out = agreement(data, "case", "coder", "score", n_boot=0, metrics=["percent_exact"])
    >>> out[["metric", "stratum", "estimate", "n"]].values.tolist()
    [['percent_exact', 'all', 0.6666666666666666, 3]]
    """
    check_scheme(bootstrap_scheme)
    columns = [unit, rater, rating] + ([by] if by else [])
    _check_columns(data, columns, source)
    whole = _ratings(data, unit, rater, rating, categories, source)
    if len(whole.raters) < 2:
        where = f"{source}: " if source else ""
        who = f" ({whole.raters[0]!r})" if len(whole.raters) else ""
        raise AgreementInputError(
            f"{where}column {rater!r}: agreement needs two or more raters, got "
            f"{len(whole.raters)}{who}"
        )
    values = whole.values
    cats = values.astype(np.int64)
    opts: dict[str, Any] = {"n_boot": n_boot, "random_state": random_state, "ci": ci, "metrics": metrics,
            "scheme": bootstrap_scheme}
    rows = _within(whole.codes, values, comparison, "all", **opts)
    if by:
        found = list(data[by].dropna().unique())
        order = sorted(found, key=lambda v: (BANDS.index(v), "") if v in BANDS else (9, str(v)))
        groups = []
        for value in order:
            part = _ratings(data[data[by] == value], unit, rater, rating, cats, source)
            if not ((part.codes >= 0).sum(axis=1) >= 2).any():  # no case rated twice here
                rows += _rows({NO_OVERLAP: np.array([0.0])}, comparison, f"{by}={value}", 0, ci, 0)
                continue
            rows += _within(part.codes, values, comparison, f"{by}={value}", **opts)
            umask = np.isin(whole.units, part.units)
            rmask = np.isin(whole.raters, part.raters)
            # the value's ratings are exactly a block of units x raters (a band, a profession)
            if int((whole.codes[np.ix_(umask, rmask)] >= 0).sum()) == int((part.codes >= 0).sum()):
                groups.append((str(value), umask, rmask))
        if len(groups) > 1:
            rows += _differences(whole.codes, values, comparison, groups, by, **opts)
    return _frame(rows)

