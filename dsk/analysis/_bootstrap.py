"""Shared by the agreement coefficients and the experiment comparisons (private).

Long data to a units x raters matrix of category codes, the seeded cluster
bootstrap (docs/methods.md, "Bootstrap intervals" and "Comparing bands
honestly"), and the rows of the ``stats`` table. The coefficients themselves
are computed by :mod:`dsk.analysis._kernels`.

Two bootstrap schemes (:data:`SCHEMES`): ``two-way`` resamples units and
raters (the interval speaks to new raters on new cases), ``fixed-raters``
resamples units only (these raters on new cases). Every row records in
``boot_failed`` how many replicates gave no value (NaN), rather than dropping
them silently. :func:`_differences` gives the difference of each coefficient
between two groups of units (complexity bands) from one shared draw per
replicate.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dsk.analysis import _kernels as K
from dsk.schema import STATS_COLUMNS, validate

ANALYSIS = "agreement"

#: Metrics among many raters (within a panel, or any long-format file).
MULTI_RATER_METRICS = (
    "percent_exact",
    "percent_within_one",
    "fleiss_kappa",
    "conger_kappa",
    "brennan_prediger",
    "gwet_ac1",
    "gwet_ac2_linear",
    "gwet_ac2_quadratic",
    "krippendorff_alpha_nominal",
    "krippendorff_alpha_ordinal",
    "krippendorff_alpha_interval",
)

#: The spread of the levels among the ratings of a table (or of a band): the variance of the
#: levels and the share of ratings at the most used level (the sample's; in each bootstrap
#: replicate the share at that same level), each vignette weighted equally (the mean over
#: vignettes of their share of ratings at each level). A narrow spread lowers
#: Krippendorff's alpha and the kappas even when raters agree as often (restricted range).
SPREAD_METRICS = ("level_variance", "modal_share")

#: Bootstrap schemes: ``two-way`` resamples units (vignettes) and raters; ``fixed-raters``
#: resamples units only.
SCHEMES = ("two-way", "fixed-raters")
#: The default scheme (docs/methods.md, "Comparing bands honestly").
DEFAULT_SCHEME = "two-way"


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



# --------------------------------------------------------------------------- bootstrap plumbing


def _rng(random_state: int, comparison: str, stratum: str) -> np.random.Generator:
    """One generator per comparison and stratum, so adding one changes no other."""
    key = [int(random_state), zlib.crc32(comparison.encode()), zlib.crc32(stratum.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


#: The metric of the one row a comparison gets where it has no vignette in common (two
#: professions that never shared a deck, a rater whose deck holds no vignette of the stratum):
#: its estimate is the number of shared vignettes, 0, and the comparison has no agreement rows.
NO_OVERLAP = "no_overlap"


def _rows(
    metrics: Mapping[str, np.ndarray], comparison: str, stratum: str, n: int, ci: float, n_boot: int
) -> list[dict[str, Any]]:
    """``metrics`` maps name to an array whose first entry is the estimate, the rest replicates.

    ``boot_failed`` counts the replicates without a value (NaN: e.g. a resample with every
    rating at one level leaves kappa and alpha undefined); the interval is taken over the
    others. It is missing when no bootstrap was run.
    """
    out = []
    for name, values in metrics.items():
        estimate = float(values[0])
        low, high = (
            K.interval(values[1:], ci) if n_boot > 0 and np.isfinite(estimate) else (np.nan, np.nan)
        )
        failed = int((~np.isfinite(values[1:])).sum()) if n_boot > 0 and len(values) > 1 else None
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
                "boot_failed": failed,
            }
        )
    return out


def _with_estimate(w: np.ndarray | None, size: int) -> np.ndarray:
    """Prepend the all-ones 'replicate' (the sample itself) to bootstrap multiplicities."""
    ones = np.ones((1, size))
    return ones if w is None else np.concatenate([ones, w])


def check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`SCHEMES`, else a plain error naming them."""
    if scheme not in SCHEMES:
        raise AgreementInputError(
            f"bootstrap scheme: expected one of {', '.join(SCHEMES)}, got {scheme!r}"
        )
    return scheme


def _draw(
    rng: np.random.Generator,
    n_boot: int,
    n_units: int,
    n_raters: int | Sequence[int],
    scheme: str = DEFAULT_SCHEME,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit multiplicities (1 + n_boot rows) and rater multiplicities per rater group.

    Units are drawn first, so both schemes draw the same units from the same seed; with
    ``fixed-raters`` every rater keeps multiplicity 1.
    """
    check_scheme(scheme)
    units = _with_estimate(K.multiplicities(rng, n_units, n_boot) if n_boot else None, n_units)
    groups = [n_raters] if isinstance(n_raters, int) else list(n_raters)
    if scheme == "fixed-raters":
        return units, [np.ones((1 + n_boot, g)) for g in groups]
    raters = [
        _with_estimate(K.multiplicities(rng, g, n_boot) if n_boot else None, g) for g in groups
    ]
    return units, raters


def _stratified(rng: np.random.Generator, n_boot: int, labels: np.ndarray) -> np.ndarray:
    """Multiplicities (1 + n_boot rows) drawn within each stratum of ``labels`` (-1: never)."""
    out = np.zeros((1 + n_boot, len(labels)))
    for label in np.unique(labels[labels >= 0]):
        idx = np.flatnonzero(labels == label)
        out[:, idx] = _with_estimate(
            K.multiplicities(rng, len(idx), n_boot) if n_boot else None, len(idx)
        )
    return out


def _spread(sums: K.PanelSums, values: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    """:data:`SPREAD_METRICS` from the prevalences (mean share of ratings per level)."""
    v = np.asarray(values, dtype=float)
    mean = sums.prevalence @ v
    return {
        "level_variance": lambda: sums.prevalence @ (v * v) - mean * mean,
        # the share at the sample's modal level (the first entry), held fixed over the
        # replicates: the largest share of each replicate would be biased upwards
        "modal_share": lambda: sums.prevalence[:, int(np.nanargmax(sums.prevalence[0]))],
    }


def _multi_metrics(
    sums: K.PanelSums, values: np.ndarray, metrics: Sequence[str] = MULTI_RATER_METRICS
) -> dict[str, np.ndarray]:
    w = {kind: K.weight_matrix(kind, values) for kind in K.WEIGHTS}
    compute = {
        **_spread(sums, values),
        "percent_exact": lambda: K.percent_agreement(sums, w["identity"]),
        "percent_within_one": lambda: K.percent_agreement(sums, w["within_one"]),
        "fleiss_kappa": lambda: K.fleiss(sums, w["identity"]),
        "conger_kappa": lambda: K.conger(sums, w["identity"]),
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
            f"metrics: unknown {', '.join(unknown)}; choose from "
            f"{', '.join(MULTI_RATER_METRICS + SPREAD_METRICS)}"
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
    random_state: int,
    ci: float,
    metrics: Sequence[str] = MULTI_RATER_METRICS + SPREAD_METRICS,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    # Units with a single rating pair with nobody but count in the prevalence (Gwet 2014).
    per_unit = (codes >= 0).sum(axis=1)
    n = int((per_unit >= 2).sum())
    codes = codes[per_unit >= 1]
    codes = codes[:, (codes >= 0).any(axis=0)]
    if n == 0:
        return _rows({name: np.array([np.nan]) for name in metrics}, comparison, stratum, 0, ci, 0)
    units, (raters,) = _draw(
        _rng(random_state, comparison, stratum), n_boot, codes.shape[0], codes.shape[1], scheme
    )
    sums = K.panel_sums(K.onehot(codes, len(values)), units, raters)
    return _rows(_multi_metrics(sums, values, metrics), comparison, stratum, n, ci, n_boot)


def difference_label(prefix: str, later: str, earlier: str) -> str:
    """The ``stratum`` of a difference row: ``complexity_band:high-low`` is high minus low."""
    return f"{prefix}:{later}-{earlier}"


def _differences(
    codes: np.ndarray,
    values: np.ndarray,
    comparison: str,
    groups: Sequence[tuple[str, np.ndarray, np.ndarray]],
    prefix: str,
    *,
    n_boot: int,
    random_state: int,
    ci: float,
    metrics: Sequence[str] = MULTI_RATER_METRICS + SPREAD_METRICS,
    scheme: str = DEFAULT_SCHEME,
) -> list[dict[str, Any]]:
    """The difference of each coefficient between groups, later minus earlier, per pair.

    ``groups`` holds (name, unit mask, rater mask) over ``codes`` (units x raters), in order
    (e.g. complexity bands low, medium, high). Each replicate is one draw for all groups:
    units within each group when the groups' units are disjoint (the bands are strata of
    the design, so each keeps its size), and raters once, shared by every group (within
    each group when their raters are disjoint; never with ``fixed-raters``). Each group's
    coefficient is computed on that same draw and the difference taken per replicate, so
    the interval of the difference reflects that both bands were rated by the same raters.
    The rows have stratum ``prefix:later-earlier`` (:func:`difference_label`) and ``n``
    the units rated by two or more raters of either group (each unit once).
    """
    check_scheme(scheme)
    units_by = np.full(codes.shape[0], -1)
    raters_by = np.full(codes.shape[1], -1)
    unit_masks = [m for _, m, _ in groups]
    rater_masks = [m for _, _, m in groups]
    disjoint_units = int(np.sum(unit_masks, axis=0).max(initial=0)) <= 1
    disjoint_raters = int(np.sum(rater_masks, axis=0).max(initial=0)) <= 1
    for i, (_, umask, rmask) in enumerate(groups):
        units_by[umask] = i if disjoint_units else 0
        raters_by[rmask] = i if disjoint_raters else 0
    rng = _rng(random_state, comparison, f"{prefix}:differences")
    unit_w = _stratified(rng, n_boot, units_by)
    rater_w = (
        np.ones((1 + n_boot, codes.shape[1])) if scheme == "fixed-raters"
        else _stratified(rng, n_boot, raters_by)
    )
    per_group: list[tuple[dict[str, np.ndarray], np.ndarray]] = []
    for _, umask, rmask in groups:
        pairable = umask & ((codes[:, rmask] >= 0).sum(axis=1) >= 2)
        if not pairable.any():
            per_group.append(({m: np.full(1 + n_boot, np.nan) for m in metrics}, pairable))
            continue
        sub = codes[np.ix_(umask, rmask)]
        sums = K.panel_sums(K.onehot(sub, len(values)), unit_w[:, umask], rater_w[:, rmask])
        per_group.append((_multi_metrics(sums, values, metrics), pairable))
    out: list[dict[str, Any]] = []
    for j in range(len(groups)):
        for i in range(j):
            (early, n_early), (late, n_late) = per_group[i], per_group[j]
            diff = {m: late[m] - early[m] for m in metrics}
            label = difference_label(prefix, groups[j][0], groups[i][0])
            out += _rows(diff, comparison, label, int((n_early | n_late).sum()), ci, n_boot)
    return out



def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*STATS_COLUMNS, "boot_failed"])
    for col in ("analysis", "metric", "comparison", "stratum"):
        frame[col] = frame[col].astype(object)
    for col in ("estimate", "ci_low", "ci_high"):
        frame[col] = frame[col].astype(float)
    frame["n"] = frame["n"].astype(np.int64)
    frame["boot_failed"] = pd.array(
        [None if v is None or pd.isna(v) else int(v) for v in frame["boot_failed"]], dtype="Int64"
    )
    return validate(frame, "stats")

