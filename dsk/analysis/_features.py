"""Feature matrices shared by the explanation, failure and learned-rule analyses.

The common feature space is what a vignette *is*: the catalogue factors, the
child attributes and the number of agencies involved. Derived features
(counts of concerns, toxic-trio count, ...) are functions of these and are
recomputed from them whenever a ruleset needs them, so that a perturbation
of one factor moves every count that depends on it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsk.analysis.consensus import median_level
from dsk.catalogue import Catalogue
from dsk.schema import NEED_LEVELS

__all__ = ["base_features", "ordinal_consensus", "panel_summary", "with_derived"]


def base_features(cat: Catalogue) -> list[str]:
    """Column names of the shared feature space."""
    return [*cat.factor_ids, *cat.child_ids, "n_agencies"]


def with_derived(X: pd.DataFrame | np.ndarray, cat: Catalogue, ids: np.ndarray | None = None) -> pd.DataFrame:
    """A vignettes-like table (ids, factors, child attributes, derived features) from base features."""
    names = base_features(cat)
    if isinstance(X, pd.DataFrame):
        values = X[names].to_numpy(dtype=np.int64)
    else:
        values = np.asarray(X, dtype=np.int64)
    n_factors = len(cat.factor_ids)
    derived = cat.derive(values[:, :n_factors], n_agencies=values[:, -1])
    out: dict[str, np.ndarray] = {
        "vignette_id": ids if ids is not None else np.arange(len(values)).astype(str).astype(object)}
    for k, name in enumerate(names[:-1]):
        out[name] = values[:, k]
    out.update(derived)
    return pd.DataFrame(out, copy=False)


def panel_summary(judgements: pd.DataFrame, round_: int = 1) -> pd.DataFrame:
    """Per vignette: the panel's mean, median, mode, consensus and number of raters.

    Practitioner rows only (rules rows are left out). ``panel_median`` is the
    panel's consensus level, :func:`dsk.analysis.median_level` (the lower
    median on a tie, always a level some rater chose); ``panel_consensus`` is
    :func:`ordinal_consensus`; ``panel_mode`` the most frequent level, the
    lowest on a tie.

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"vignette_id": ["v1"] * 4 + ["v2"] * 2, "rater_id": list("abcdab"),
    ...                   "rater_kind": "simulated", "round": 1, "need_level": [3, 3, 4, 4, 2, 2]})
    >>> panel_summary(j)[["panel_median", "panel_mode", "n_raters"]].values.tolist()
    [[3.0, 3.0, 4.0], [2.0, 2.0, 2.0]]
    """
    people = judgements[(judgements["rater_kind"] != "rules") & (judgements["round"] == round_)]
    if people.empty:
        raise ValueError(f"no practitioner judgements in round {round_}")
    grouped = people.groupby("vignette_id")["need_level"]
    counts = people.pivot_table(index="vignette_id", columns="need_level", values="rater_id",
                                aggfunc="count", fill_value=0)
    for level in NEED_LEVELS:
        if level not in counts.columns:
            counts[level] = 0
    counts = counts[list(NEED_LEVELS)]
    return pd.DataFrame({
        "panel_mean": grouped.mean(),
        "panel_median": median_level(people).astype(float),
        "panel_mode": counts.idxmax(axis=1),
        "panel_consensus": ordinal_consensus(counts.to_numpy()),
        "n_raters": grouped.size(),
    })


def ordinal_consensus(counts: np.ndarray | list[list[int]]) -> np.ndarray:
    """Tastle & Wierman's (2007) consensus for ordinal ratings, per row of category counts.

    ``Cns = 1 + sum_i p_i * log2(1 - |X_i - mu| / d)`` with ``d`` the width of
    the scale (3 for levels 1-4): 1 when everyone agrees, 0 when the raters
    split evenly between the two extremes (docs/methods.md, "Consensus level").

    Examples
    --------
    >>> ordinal_consensus([[4, 0, 0, 0], [2, 0, 0, 2], [1, 1, 1, 1]]).round(3).tolist()
    [1.0, 0.0, 0.368]
    """
    counts = np.asarray(counts, dtype=float)
    levels = np.arange(1, counts.shape[1] + 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    mu = (p * levels).sum(axis=1, keepdims=True)
    width = levels[-1] - levels[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(1 - np.abs(levels - mu) / width), 0.0)
    return np.clip(1 + terms.sum(axis=1), 0.0, 1.0)
