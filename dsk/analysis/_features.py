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

__all__ = ["PanelSurrogate", "base_features", "ordinal_consensus", "panel_summary", "with_derived"]


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
    split evenly between the two extremes (docs/methods.md, "Ordinal consensus").

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


def _one_thread():  # type: ignore[no-untyped-def]
    """Run OpenMP code on one thread: on small data, HistGradientBoosting's threads spin-wait
    against each other (and any other busy core) and run many times slower."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


class PanelSurrogate:
    """Gradient boosting on vignette features that reproduces a panel's mean level.

    A scikit-learn ``HistGradientBoostingRegressor`` fitted to the panel's
    mean need level per vignette. Its inputs are the shared feature space
    (:func:`base_features`) plus the catalogue's derived features computed
    from it, with monotonic constraints: need cannot fall when a concern
    rises, nor rise when a protective factor is added. Its fidelity
    (out-of-fold R squared, mean absolute error, and the share of vignettes
    whose rounded prediction equals the panel median) comes from 5-fold
    cross-validation in :meth:`fidelity`.
    """

    def __init__(self, catalogue: Catalogue, max_depth: int = 3, max_iter: int = 200,
                 learning_rate: float = 0.08, random_state: int = 0) -> None:
        self.catalogue = catalogue
        self.max_depth = max_depth
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state

    def _inputs(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        cat = self.catalogue
        if isinstance(X, np.ndarray):
            X = pd.DataFrame(X, columns=base_features(cat))
        return with_derived(X, cat).drop(columns="vignette_id")

    def _model(self, columns: list[str]):  # type: ignore[no-untyped-def]
        from sklearn.ensemble import HistGradientBoostingRegressor

        protective = {f.id for f in self.catalogue.factors if f.protective}
        child = set(self.catalogue.child_ids)
        monotonic = [0 if c in child else (-1 if c in protective or c == "n_protective" else 1)
                     for c in columns]
        return HistGradientBoostingRegressor(max_depth=self.max_depth, max_iter=self.max_iter,
                                             learning_rate=self.learning_rate, min_samples_leaf=5,
                                             monotonic_cst=monotonic, random_state=self.random_state)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PanelSurrogate:
        inputs = self._inputs(X)
        with _one_thread():
            self.model_ = self._model(list(inputs.columns)).fit(inputs, y)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Expected panel level (1-4) for base-feature rows."""
        with _one_thread():
            return np.clip(self.model_.predict(self._inputs(X)), 1.0, 4.0)

    def fidelity(self, X: pd.DataFrame, panel_mean: np.ndarray, panel_median: np.ndarray) -> dict[str, float]:
        """Out-of-fold fidelity to the panel (5-fold cross-validation)."""
        from sklearn.model_selection import KFold, cross_val_predict

        inputs = self._inputs(X)
        folds = KFold(n_splits=5, shuffle=True, random_state=self.random_state)
        with _one_thread():
            pred = np.clip(cross_val_predict(self._model(list(inputs.columns)), inputs, panel_mean, cv=folds),
                           1, 4)
        resid = panel_mean - pred
        total = ((panel_mean - panel_mean.mean()) ** 2).sum()
        return {
            "r2": float(1 - (resid**2).sum() / total) if total > 0 else float("nan"),
            "mae": float(np.abs(resid).mean()),
            "median_accuracy": float((np.clip(np.rint(pred), 1, 4) == np.rint(panel_median)).mean()),
        }
