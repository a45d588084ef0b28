"""Agreement between raters: rules, simulated and human practitioners alike.

Every function takes long-format data (one row per unit x rater, with a
rating) plus the names of its columns, as pingouin does. The single
coefficients return a float; :func:`agreement`, :func:`agreement_stats` and
:func:`rules_as_rater` return the ``stats`` table of DESIGN.md (``analysis``,
``metric``, ``comparison``, ``stratum``, ``estimate``, ``ci_low``, ``ci_high``,
``n``), with percentile intervals from a seeded two-way cluster bootstrap
that resamples units (vignettes) and raters.

Which code computes what:

- Krippendorff's alpha: the ``krippendorff`` package; Cohen's kappa:
  scikit-learn; Fleiss' kappa on complete data: statsmodels.
- Fleiss' kappa with missing ratings, Gwet's AC1/AC2, Brennan-Prediger and
  percent agreement: our own code in :mod:`dsk.analysis._kernels`, because
  no well-kept Python library has them (statsmodels' Fleiss' kappa needs
  every rater on every unit; the small ``irrCAC`` port is not maintained).
- The tables and their bootstrap use the vectorised kernels for every
  coefficient (a thousand resamples in one pass); the tests check that they
  equal the libraries on the point estimates.

Categories are the integers from the lowest to the highest rating seen
unless ``categories`` is given; they matter for AC1/AC2 and
Brennan-Prediger (the number of categories) and for the weights.

Examples
--------
>>> import pandas as pd
>>> from dsk.analysis import agreement, fleiss_kappa
>>> data = pd.DataFrame({"vignette_id": [f"v{i}" for i in range(4) for _ in range(3)],
...                      "rater_id": ["a", "b", "c"] * 4,
...                      "need_level": [1, 1, 1, 2, 2, 3, 4, 4, 4, 3, 3, 3]})
>>> round(fleiss_kappa(data), 3)
0.774
>>> table = agreement(data, n_boot=200, seed=1)
>>> row = table.set_index("metric").loc["percent_exact"]
>>> round(float(row.estimate), 3), int(row.n), bool(row.ci_low <= row.estimate <= row.ci_high)
(0.833, 4, True)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from dsk.analysis import _kernels as K
from dsk.schema import BANDS, COMPLEXITY_COLUMNS, validate

__all__ = [
    "GROUP_METRICS",
    "MULTI_RATER_METRICS",
    "PAIR_METRICS",
    "AgreementInputError",
    "agreement",
    "agreement_stats",
    "brennan_prediger",
    "cohen_kappa",
    "complexity_strata",
    "fleiss_kappa",
    "gwet_ac",
    "krippendorff_alpha",
    "percent_agreement",
    "rules_as_rater",
]

ANALYSIS = "agreement"
STATS_COLUMNS = (
    "analysis",
    "metric",
    "comparison",
    "stratum",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
)

#: Metrics among many raters (within a panel, or any long-format file).
MULTI_RATER_METRICS = (
    "percent_exact",
    "percent_within_one",
    "fleiss_kappa",
    "brennan_prediger",
    "gwet_ac1",
    "gwet_ac2_linear",
    "gwet_ac2_quadratic",
    "krippendorff_alpha_nominal",
    "krippendorff_alpha_ordinal",
    "krippendorff_alpha_interval",
)
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


class AgreementInputError(ValueError):
    """Data that cannot be analysed; names the column, what was expected and what arrived."""


# --------------------------------------------------------------------------- data preparation


@dataclass(frozen=True)
class _Ratings:
    codes: np.ndarray  # units x raters, category index or -1
    values: np.ndarray  # category values
    units: np.ndarray
    raters: np.ndarray


def _integer_ratings(series: pd.Series, column: str, source: str | None) -> np.ndarray:
    where = f"{source}: " if source else ""
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna().to_numpy() | (numeric.to_numpy(dtype=float, na_value=np.nan) % 1 != 0)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise AgreementInputError(
            f"{where}column {column!r}: expected integer ratings, got "
            f"{series.iloc[pos]!r} at row {series.index[pos]}"
        )
    return numeric.to_numpy(dtype=float).astype(np.int64)


def _check_columns(data: pd.DataFrame, names: Iterable[str], source: str | None) -> None:
    where = f"{source}: " if source else ""
    if not isinstance(data, pd.DataFrame):
        raise AgreementInputError(f"{where}expected a pandas DataFrame, got {type(data).__name__}")
    for name in names:
        if name not in data.columns:
            raise AgreementInputError(
                f"{where}column {name!r} missing; the columns are "
                f"{', '.join(map(str, data.columns))}"
            )


def _ratings(
    data: pd.DataFrame,
    unit: str,
    rater: str,
    rating: str,
    categories: Sequence[int] | np.ndarray | None = None,
    source: str | None = None,
) -> _Ratings:
    """Long data to a units x raters matrix of category indices (-1 where missing)."""
    _check_columns(data, (unit, rater, rating), source)
    where = f"{source}: " if source else ""
    rows = data.loc[data[rating].notna(), [unit, rater, rating]]
    values = _integer_ratings(rows[rating], rating, source)
    if categories is None:
        if len(values) == 0:
            raise AgreementInputError(f"{where}column {rating!r}: no ratings")
        cats = np.arange(values.min(), values.max() + 1)
    else:
        cats = np.asarray(sorted(set(int(c) for c in categories)), dtype=np.int64)
        outside = ~np.isin(values, cats)
        if outside.any():
            raise AgreementInputError(
                f"{where}column {rating!r}: rating {values[outside][0]} is not "
                f"one of the categories {', '.join(map(str, cats))}"
            )
    unit_codes, units = pd.factorize(rows[unit].astype(str), sort=True)
    rater_codes, raters = pd.factorize(rows[rater].astype(str), sort=True)
    codes = np.full((len(units), len(raters)), -1, dtype=np.int64)
    flat = unit_codes * len(raters) + rater_codes
    dupes = pd.Series(flat).duplicated().to_numpy()
    if dupes.any():
        i = int(np.flatnonzero(dupes)[0])
        raise AgreementInputError(
            f"{where}rater {raters[rater_codes[i]]!r} rated unit {units[unit_codes[i]]!r} more "
            f"than once (columns {unit!r}, {rater!r}); keep one rating per unit and rater, "
            "e.g. one round"
        )
    codes[unit_codes, rater_codes] = np.searchsorted(cats, values)
    return _Ratings(
        codes, cats.astype(float), np.asarray(units, dtype=object), np.asarray(raters, dtype=object)
    )


def _weights(kind: str | None, values: np.ndarray) -> np.ndarray:
    return K.weight_matrix("identity" if kind in (None, "identity", "unweighted") else kind, values)


# --------------------------------------------------------------------------- single coefficients


def percent_agreement(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    tolerance: int = 0,
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
    r = _ratings(data, unit, rater, rating)
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


# --------------------------------------------------------------------------- bootstrap plumbing


def _rng(seed: int, comparison: str, stratum: str) -> np.random.Generator:
    """One generator per comparison and stratum, so adding one changes no other."""
    key = [int(seed), zlib.crc32(comparison.encode()), zlib.crc32(stratum.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


def _rows(
    metrics: Mapping[str, np.ndarray], comparison: str, stratum: str, n: int, ci: float, n_boot: int
) -> list[dict[str, object]]:
    """``metrics`` maps name to an array whose first entry is the estimate, the rest replicates."""
    out = []
    for name, values in metrics.items():
        estimate = float(values[0])
        low, high = (
            K.interval(values[1:], ci) if n_boot > 0 and np.isfinite(estimate) else (np.nan, np.nan)
        )
        out.append(
            {
                "analysis": ANALYSIS,
                "metric": name,
                "comparison": comparison,
                "stratum": stratum,
                "estimate": estimate,
                "ci_low": low,
                "ci_high": high,
                "n": int(n),
            }
        )
    return out


def _with_estimate(w: np.ndarray | None, size: int) -> np.ndarray:
    """Prepend the all-ones 'replicate' (the sample itself) to bootstrap multiplicities."""
    ones = np.ones((1, size))
    return ones if w is None else np.concatenate([ones, w])


def _draw(
    rng: np.random.Generator, n_boot: int, n_units: int, n_raters: int | Sequence[int]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit multiplicities (1 + n_boot rows) and rater multiplicities per rater group."""
    units = _with_estimate(K.multiplicities(rng, n_units, n_boot) if n_boot else None, n_units)
    groups = [n_raters] if isinstance(n_raters, int) else list(n_raters)
    raters = [
        _with_estimate(K.multiplicities(rng, g, n_boot) if n_boot else None, g) for g in groups
    ]
    return units, raters


def _multi_metrics(
    sums: K.PanelSums, values: np.ndarray, metrics: Sequence[str] = MULTI_RATER_METRICS
) -> dict[str, np.ndarray]:
    w = {kind: K.weight_matrix(kind, values) for kind in K.WEIGHTS}
    compute = {
        "percent_exact": lambda: K.percent_agreement(sums, w["identity"]),
        "percent_within_one": lambda: K.percent_agreement(sums, w["within_one"]),
        "fleiss_kappa": lambda: K.fleiss(sums, w["identity"]),
        "brennan_prediger": lambda: K.brennan_prediger(sums, w["identity"]),
        "gwet_ac1": lambda: K.gwet(sums, w["identity"]),
        "gwet_ac2_linear": lambda: K.gwet(sums, w["linear"]),
        "gwet_ac2_quadratic": lambda: K.gwet(sums, w["quadratic"]),
        "krippendorff_alpha_nominal": lambda: K.krippendorff(sums, "nominal", values),
        "krippendorff_alpha_ordinal": lambda: K.krippendorff(sums, "ordinal", values),
        "krippendorff_alpha_interval": lambda: K.krippendorff(sums, "interval", values),
    }
    unknown = [m for m in metrics if m not in compute]
    if unknown:
        raise AgreementInputError(
            f"metrics: unknown {', '.join(unknown)}; choose from {', '.join(MULTI_RATER_METRICS)}"
        )
    return {m: compute[m]() for m in metrics}


def _joint_metrics(
    joint: np.ndarray, values: np.ndarray, names: Sequence[str]
) -> dict[str, np.ndarray]:
    exact, within, kappa, linear, quadratic = names
    return {
        exact: K.joint_agreement(joint, K.weight_matrix("identity", values)),
        within: K.joint_agreement(joint, K.weight_matrix("within_one", values)),
        kappa: K.joint_kappa(joint, K.weight_matrix("identity", values)),
        linear: K.joint_kappa(joint, K.weight_matrix("linear", values)),
        quadratic: K.joint_kappa(joint, K.weight_matrix("quadratic", values)),
    }


def _within(
    codes: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    *,
    n_boot: int,
    seed: int,
    ci: float,
    metrics: Sequence[str] = MULTI_RATER_METRICS,
) -> list[dict]:
    # Units with a single rating pair with nobody but count in the prevalence (Gwet 2014).
    per_unit = (codes >= 0).sum(axis=1)
    n = int((per_unit >= 2).sum())
    codes = codes[per_unit >= 1]
    codes = codes[:, (codes >= 0).any(axis=0)]
    if n == 0:
        return _rows({name: np.array([np.nan]) for name in metrics}, comparison, stratum, 0, ci, 0)
    units, (raters,) = _draw(
        _rng(seed, comparison, stratum), n_boot, codes.shape[0], codes.shape[1]
    )
    sums = K.panel_sums(K.onehot(codes, len(values)), units, raters)
    return _rows(_multi_metrics(sums, values, metrics), comparison, stratum, n, ci, n_boot)


def _between_groups(
    codes_a: np.ndarray,
    codes_b: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    names: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    ci: float,
) -> list[dict]:
    keep = (codes_a >= 0).any(axis=1) & (codes_b >= 0).any(axis=1)
    n = int(keep.sum())
    if n == 0:
        return _rows({name: np.array([np.nan]) for name in names}, comparison, stratum, 0, ci, 0)
    a, b = codes_a[keep], codes_b[keep]
    k = len(values)
    rng = _rng(seed, comparison, stratum)
    if a.shape[1] == 1 and b.shape[1] == 1:  # two single raters: only vignettes are resampled
        units, _ = _draw(rng, n_boot, n, ())
        joint = K.pair_joint(a[:, 0], b[:, 0], k, units)
    else:
        units, (wa, wb) = _draw(rng, n_boot, n, (a.shape[1], b.shape[1]))
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
    seed: int,
    ci: float,
) -> list[dict]:
    """The rules against each rater (Cohen); one draw of vignettes serves every rater."""
    units, _ = _draw(_rng(seed, f"{tag}~each-rater", stratum), n_boot, len(rule), ())
    out: list[dict] = []
    for j, rater_id in enumerate(raters):
        both = (rule >= 0) & (panel[:, j] >= 0)
        n = int(both.sum())
        comparison = f"{tag}~{rater_id}"
        if n == 0:
            out += _rows(
                {name: np.array([np.nan]) for name in PAIR_METRICS}, comparison, stratum, 0, ci, 0
            )
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
    seed: int,
    ci: float,
) -> list[dict]:
    keep = (rule >= 0) & (panel >= 0).any(axis=1)
    n = int(keep.sum())
    k = len(values)
    out: list[dict] = []
    if n == 0:
        for comparison in comparisons:
            out += _rows(
                {name: np.array([np.nan]) for name in PAIR_METRICS}, comparison, stratum, 0, ci, 0
            )
        return out
    rule, panel = rule[keep], panel[keep]
    units, (raters,) = _draw(_rng(seed, comparisons[0], stratum), n_boot, n, panel.shape[1])
    counts, _ = K.panel_counts(K.onehot(panel, k), raters)
    median, mode = K.consensus(counts)
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
    seed: int,
    ci: float,
) -> list[dict]:
    both = (first >= 0) & (second >= 0)
    units_with = both.any(axis=1)
    n = int(units_with.sum())
    if n == 0:
        return _rows(
            {name: np.array([np.nan]) for name in PAIR_METRICS}, comparison, stratum, 0, ci, 0
        )
    unit_idx, rater_idx = np.nonzero(both)
    units, (raters,) = _draw(
        _rng(seed, comparison, stratum), n_boot, first.shape[0], first.shape[1]
    )
    weights = units[:, unit_idx] * raters[:, rater_idx]
    joint = K.pair_joint(
        first[unit_idx, rater_idx], second[unit_idx, rater_idx], len(values), weights
    )
    return _rows(_joint_metrics(joint, values, PAIR_METRICS), comparison, stratum, n, ci, n_boot)


def _rule_as_rater(
    rule: np.ndarray,
    panel: np.ndarray,
    values: np.ndarray,
    comparison: str,
    stratum: str,
    *,
    n_boot: int,
    seed: int,
    ci: float,
) -> list[dict]:
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
    units, (raters,) = _draw(_rng(seed, comparison, stratum), n_boot, n, panel.shape[1])
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


# --------------------------------------------------------------------------- strata


def complexity_strata(vignettes: pd.DataFrame, unit: str = "vignette_id") -> pd.DataFrame:
    """Strata of vignettes: complexity band, and tertile of each complexity dimension.

    Returns a long table (``unit``, ``stratum``) with labels such as
    ``complexity_band=high`` and ``cx_conflict=tertile3``. Tertiles are cut on
    the average rank among the vignettes given, so tied values share a tertile.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"vignette_id": ["a", "b", "c"], "complexity_band": ["low", "low", "high"],
    ...                   "cx_conflict": [0.0, 0.5, 1.0]})
    >>> complexity_strata(v).stratum.tolist()
    ['complexity_band=low', 'complexity_band=low', 'complexity_band=high', 'cx_conflict=tertile1', \
'cx_conflict=tertile2', 'cx_conflict=tertile3']
    """
    _check_columns(vignettes, (unit,), None)
    parts = []
    ids = vignettes[unit].astype(str).to_numpy()
    if "complexity_band" in vignettes.columns:
        band = vignettes["complexity_band"]
        order = {b: i for i, b in enumerate(BANDS)}
        frame = pd.DataFrame(
            {
                unit: ids,
                "stratum": "complexity_band=" + band.astype(str).to_numpy(),
                "_o": [order.get(b, len(order)) for b in band],
            }
        )
        parts.append(frame.sort_values("_o", kind="stable").drop(columns="_o"))
    for col in COMPLEXITY_COLUMNS:
        if col not in vignettes.columns:
            continue
        values = pd.to_numeric(vignettes[col], errors="coerce")
        rank = values.rank(method="average").to_numpy()
        count = int(values.notna().sum())
        tertile = np.clip(np.ceil(3 * rank / max(count, 1) - 1e-9), 1, 3)
        frame = pd.DataFrame(
            {
                unit: ids,
                "stratum": [f"{col}=tertile{int(t)}" if np.isfinite(t) else "" for t in tertile],
                "_t": np.nan_to_num(tertile),
            }
        )
        frame = frame[frame.stratum != ""].sort_values("_t", kind="stable").drop(columns="_t")
        parts.append(frame)
    if not parts:
        return pd.DataFrame({unit: pd.Series(dtype=object), "stratum": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


Strata = pd.DataFrame | Mapping[str, "str | Sequence[str]"] | None


def _strata_masks(strata: Strata, units: np.ndarray, unit: str) -> list[tuple[str, np.ndarray]]:
    """``[("all", all units), (label, mask), ...]`` in a stable order."""
    out = [("all", np.ones(len(units), dtype=bool))]
    if strata is None:
        return out
    if isinstance(strata, pd.DataFrame):
        table = strata if "stratum" in strata.columns else complexity_strata(strata, unit)
        _check_columns(table, (unit, "stratum"), None)
        pairs = list(zip(table[unit].astype(str), table["stratum"].astype(str), strict=True))
    else:
        pairs = []
        for key, labels in strata.items():
            for label in [labels] if isinstance(labels, str) else labels:
                pairs.append((str(key), str(label)))
    position = {u: i for i, u in enumerate(units)}
    masks: dict[str, np.ndarray] = {}
    for key, label in pairs:
        mask = masks.setdefault(label, np.zeros(len(units), dtype=bool))
        if key in position:
            mask[position[key]] = True
    return out + list(masks.items())


# --------------------------------------------------------------------------- tables


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(STATS_COLUMNS))
    for col in ("analysis", "metric", "comparison", "stratum"):
        frame[col] = frame[col].astype(object)
    for col in ("estimate", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    frame["n"] = frame["n"].astype(np.int64)
    return validate(frame, "stats")


def agreement(
    data: pd.DataFrame,
    unit: str = "vignette_id",
    rater: str = "rater_id",
    rating: str = "need_level",
    *,
    by: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    categories: Sequence[int] | None = None,
    metrics: Sequence[str] = MULTI_RATER_METRICS,
    comparison: str = "within-raters",
    source: str | None = None,
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
        e.g. ``profession``); stratum ``by=value``.
    n_boot : int
        Two-way cluster bootstrap replicates (units and raters); 0 for none.
    seed : int
        Seed of the bootstrap; the same seed gives the same table.
    ci : float
        Coverage of the percentile interval.
    categories : sequence of int, optional
        The rating scale; default the integers from the lowest to the highest rating.
    metrics : sequence of str
        A subset of :data:`MULTI_RATER_METRICS`.

    Returns
    -------
    DataFrame
        The ``stats`` table: analysis, metric, comparison, stratum, estimate,
        ci_low, ci_high, n (units rated by two or more raters).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3], "coder": list("ababab"),
    ...                      "score": [1, 1, 2, 3, 5, 5]})
    >>> out = agreement(data, "case", "coder", "score", n_boot=0, metrics=["percent_exact"])
    >>> out[["metric", "stratum", "estimate", "n"]].values.tolist()
    [['percent_exact', 'all', 0.6666666666666666, 3]]
    """
    columns = [unit, rater, rating] + ([by] if by else [])
    _check_columns(data, columns, source)
    whole = _ratings(data, unit, rater, rating, categories, source)
    values = whole.values
    cats = values.astype(np.int64)
    rows = _within(
        whole.codes, values, comparison, "all", n_boot=n_boot, seed=seed, ci=ci, metrics=metrics
    )
    if by:
        for value in sorted(data[by].dropna().unique(), key=str):
            part = _ratings(data[data[by] == value], unit, rater, rating, cats, source)
            rows += _within(
                part.codes,
                values,
                comparison,
                f"{by}={value}",
                n_boot=n_boot,
                seed=seed,
                ci=ci,
                metrics=metrics,
            )
    return _frame(rows)


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
    seed: int = 0,
    ci: float = 0.95,
    rating: str = "need_level",
    categories: Sequence[int] = (1, 2, 3, 4),
    per_rater: bool = True,
) -> pd.DataFrame:
    """Every agreement comparison of an experiment, overall and per stratum.

    Comparisons (the ``comparison`` column; ``P/`` is prefixed with the panel
    id when the judgements hold more than one panel):

    - ``within-panel``: the panel's raters in round 1
      (:data:`MULTI_RATER_METRICS`); ``within-panel:round2`` after deliberation.
    - ``A~B`` for each pair of professions in the panel: agreement between
      a rater of one and a rater of the other (:data:`GROUP_METRICS`,
      Vanbelle and Albert's 2009 kappa between two groups of raters).
    - ``round1~round2``: each rater's round-2 rating against their round-1
      rating (:data:`PAIR_METRICS`, pooled over raters).
    - ``rules:R~RATER`` for ruleset R (a rater of kind ``rules``) against each
      panel rater (with ``per_rater``), ``rules:R~panel-mode`` against the
      panel majority and ``rules:R~panel-median`` against the panel median
      level (:data:`PAIR_METRICS`; see :func:`dsk.analysis._kernels.consensus`
      for ties), and ``rules:R~raters``: the rules as one more rater
      (:func:`rules_as_rater`).

    Intervals come from a two-way cluster bootstrap (vignettes and the panel's
    raters; within each profession for ``A~B``), seeded per comparison and
    stratum from ``seed``.

    Parameters
    ----------
    judgements : DataFrame
        The judgements table (vignette_id, rater_id, rater_kind, round,
        need_level; profession and panel_id where known).
    strata : DataFrame or mapping, optional
        A vignettes table (strata from :func:`complexity_strata`), a long table
        with ``vignette_id`` and ``stratum``, or a mapping from vignette id to
        stratum label(s). Every comparison is also computed per stratum.
    n_boot, seed, ci : see :func:`agreement`.
    rating : str
        The rating column.
    categories : sequence of int
        The rating scale (need levels 1-4).
    per_rater : bool
        Include the rules against each single rater.

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
    >>> out = agreement_stats(j, n_boot=50, seed=1)
    >>> sorted(out.comparison.unique())[:4]
    ['police~social_worker', 'rules:r~panel-median', 'rules:r~panel-mode', 'rules:r~raters']
    >>> mode = out.query("comparison == 'rules:r~panel-mode' and metric == 'percent_exact'")
    >>> float(mode.estimate.iloc[0])
    1.0
    """
    frame = _prepare(judgements, rating, categories)
    cats = np.asarray(sorted(set(int(c) for c in categories)), dtype=np.int64)
    values = cats.astype(float)
    units = np.asarray(sorted(frame["vignette_id"].unique()), dtype=object)
    masks = _strata_masks(strata, units, "vignette_id")
    opts: dict[str, Any] = {"n_boot": n_boot, "seed": seed, "ci": ci}
    is_rules = frame["rater_kind"] == "rules"
    rules = frame[is_rules & (frame["round"] == 1)]
    people = frame[~is_rules]
    panel_ids = sorted(people["panel_id"].dropna().astype(str).unique())
    panels: list[tuple[str, pd.DataFrame]] = [("", people)]
    if len(panel_ids) > 1:
        panels = [(f"{p}/", people[people["panel_id"].astype(str) == p]) for p in panel_ids]
    rule_ids = sorted(rules["rater_id"].unique())
    rows: list[dict] = []
    for prefix, panel in panels:
        first = panel[panel["round"] == 1]
        second = panel[panel["round"] == 2]
        raters = sorted(panel["rater_id"].unique())
        r1 = _matrix(first, units, raters, rating, cats)
        r2 = _matrix(second, units, raters, rating, cats)
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
    return _frame(rows)


def rules_as_rater(
    judgements: pd.DataFrame,
    strata: Strata = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    rating: str = "need_level",
    categories: Sequence[int] = (1, 2, 3, 4),
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
    compared with itself).

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
    frame = _prepare(judgements, rating, categories)
    cats = np.asarray(sorted(set(int(c) for c in categories)), dtype=np.int64)
    units = np.asarray(sorted(frame["vignette_id"].unique()), dtype=object)
    masks = _strata_masks(strata, units, "vignette_id")
    is_rules = frame["rater_kind"] == "rules"
    first = frame[~is_rules & (frame["round"] == 1)]
    raters = sorted(first["rater_id"].unique())
    panel = _matrix(first, units, raters, rating, cats)
    rows: list[dict] = []
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
                seed=seed,
                ci=ci,
            )
    return _frame(rows)
