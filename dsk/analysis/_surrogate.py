"""The panel surrogate: a scikit-learn regressor that reproduces a panel's mean level.

Kept apart from :mod:`dsk.analysis._features` so that importing the analyses
(and so starting the command line) does not import scikit-learn; the
explanation and failure analyses import it when they run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from dsk.analysis._features import base_features, with_derived
from dsk.catalogue import Catalogue

__all__ = ["PanelSurrogate"]


def _one_thread() -> threadpool_limits:
    """Run OpenMP code on one thread: on small data, HistGradientBoosting's threads spin-wait
    against each other (and any other busy core) and run many times slower."""
    return threadpool_limits(1)


class PanelSurrogate(RegressorMixin, BaseEstimator):
    """Gradient boosting on vignette features that reproduces a panel's mean level.

    A scikit-learn estimator wrapping a ``HistGradientBoostingRegressor``
    fitted to the panel's mean need level per vignette. With a
    ``catalogue``, its inputs are the shared feature space
    (:func:`base_features`, as a DataFrame with those columns or an array in
    that order) plus the catalogue's derived features computed from it, with
    monotonic constraints: need cannot fall when a concern rises, nor rise
    when a protective factor is added; predictions are clipped to the
    catalogue's need levels (1-4). Without a catalogue it is a plain
    gradient-boosting regressor on whatever numeric features it is given.
    Its fidelity (out-of-fold R squared, mean absolute error, and the share
    of vignettes whose rounded prediction equals the panel median) comes
    from 5-fold cross-validation in :meth:`fidelity`; see
    ``docs/methods.md`` (explanations).

    Parameters
    ----------
    catalogue : the factor catalogue whose feature space the inputs are, or None for generic
        numeric features (no derived features, no constraints, no clipping).
    max_depth, max_iter, learning_rate, min_samples_leaf : passed to the gradient boosting.
    random_state : seed of the gradient boosting and of the folds in :meth:`fidelity`.

    Attributes
    ----------
    model_ : the fitted ``HistGradientBoostingRegressor``.
    n_iter_ : its number of boosting iterations.
    input_names_ : the columns the model is fitted on (base then derived features with a catalogue).
    n_features_in_, feature_names_in_ : as in scikit-learn (with a catalogue, the base features).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.sets import load_set
    >>> cat = load_catalogue()
    >>> vignettes = load_set("core-60", catalogue=cat)
    >>> panel_mean = 1 + vignettes["n_concerns"].clip(upper=3).to_numpy()
    >>> surrogate = PanelSurrogate(cat, max_iter=50).fit(vignettes[base_features(cat)], panel_mean)
    >>> predicted = surrogate.predict(vignettes[base_features(cat)])
    >>> bool(predicted.min() >= 1 and predicted.max() <= 4)
    True
    >>> surrogate.input_names_[-3:]
    ['toxic_trio', 'n_protective', 'n_agencies']
    >>> fidelity = surrogate.fidelity(vignettes, panel_mean, panel_mean)
    >>> sorted(fidelity)
    ['mae', 'median_accuracy', 'r2']
    """

    def __init__(self, catalogue: Catalogue | None = None, *, max_depth: int = 3, max_iter: int = 200,
                 learning_rate: float = 0.08, min_samples_leaf: int = 5, random_state: int | None = 0) -> None:
        self.catalogue = catalogue
        self.max_depth = max_depth
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    # ------------------------------------------------------------ inputs
    def _base_frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """With a catalogue, X as a DataFrame of exactly the base features (in order)."""
        if self.catalogue is None:
            return X
        names = base_features(self.catalogue)
        if isinstance(X, pd.DataFrame):
            missing = [n for n in names if n not in X.columns]
            if missing:
                raise ValueError(f"X lacks {len(missing)} of the catalogue's features: "
                                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
            return X[names]
        values = np.asarray(X)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(f"X has shape {values.shape}; rows of the catalogue's {len(names)} base features "
                             f"({names[0]}, ..., {names[-1]}) were expected")
        return pd.DataFrame(values, columns=names)

    def _model_inputs(self, values: np.ndarray) -> pd.DataFrame | np.ndarray:
        """Validated base features -> what the gradient boosting sees (derived features added)."""
        if self.catalogue is None:
            return values
        return with_derived(values, self.catalogue).drop(columns="vignette_id")

    def _monotonic(self, columns: list[str]) -> list[int] | None:
        """+1 for concerns and counts of them, -1 for protective factors, 0 for child attributes."""
        if self.catalogue is None:
            return None
        protective = {f.id for f in self.catalogue.factors if f.protective}
        child = set(self.catalogue.child_ids)
        return [0 if c in child else (-1 if c in protective or c == "n_protective" else 1) for c in columns]

    def _bounds(self) -> tuple[float, float]:
        """Predictions stay on the catalogue's need-level scale (no bounds without a catalogue)."""
        if self.catalogue is None:
            return -np.inf, np.inf
        return float(min(self.catalogue.need_levels)), float(max(self.catalogue.need_levels))

    def _regressor(self, columns: list[str]) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(max_depth=self.max_depth, max_iter=self.max_iter,
                                             learning_rate=self.learning_rate,
                                             min_samples_leaf=self.min_samples_leaf,
                                             monotonic_cst=self._monotonic(columns), random_state=self.random_state)

    # ------------------------------------------------------------ estimator
    def fit(self, X: pd.DataFrame | np.ndarray, y: np.ndarray) -> PanelSurrogate:
        """Fit to the panel's mean level ``y`` per vignette (row of ``X``)."""
        values, target = validate_data(self, self._base_frame(X), y, y_numeric=True)
        inputs = self._model_inputs(values)
        self.input_names_ = (list(inputs.columns) if isinstance(inputs, pd.DataFrame)
                             else [f"x{k}" for k in range(values.shape[1])])
        with _one_thread():
            self.model_ = self._regressor(self.input_names_).fit(inputs, target)
        self.n_iter_ = int(self.model_.n_iter_)
        return self

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Expected panel level for each row (clipped to 1-4 with a catalogue)."""
        check_is_fitted(self)
        values = validate_data(self, self._base_frame(X), reset=False)
        with _one_thread():
            return np.clip(self.model_.predict(self._model_inputs(values)), *self._bounds())

    def predict_derived(self, table: pd.DataFrame) -> np.ndarray:
        """:meth:`predict` from the model's own inputs: the base and derived features, as
        :func:`dsk.analysis._features.with_derived` gives them without ``vignette_id``.

        For callers that already hold those columns (SHAP evaluates the rules on the same
        table). Unchecked, and without limiting threads: run it inside ``_one_thread()``.
        """
        check_is_fitted(self)
        if self.catalogue is None:
            raise ValueError("predict_derived needs a surrogate fitted with a catalogue")
        return np.clip(self.model_.predict(table[self.input_names_]), *self._bounds())

    def fidelity(self, X: pd.DataFrame | np.ndarray, panel_mean: np.ndarray,
                 panel_median: np.ndarray) -> dict[str, float]:
        """Out-of-fold fidelity to the panel (5-fold cross-validation, folds seeded by ``random_state``).

        Returns ``r2`` (NaN when the panel mean is constant), ``mae`` and
        ``median_accuracy`` (share of rounded predictions equal to the rounded panel median).
        Does not change the estimator.
        """
        values = check_array(self._base_frame(X))
        panel_mean = np.asarray(panel_mean, dtype=float)
        inputs = self._model_inputs(values)
        columns = list(inputs.columns) if isinstance(inputs, pd.DataFrame) else []
        folds = KFold(n_splits=5, shuffle=True, random_state=self.random_state)
        low, high = self._bounds()
        with _one_thread():
            pred = np.clip(cross_val_predict(self._regressor(columns), inputs, panel_mean, cv=folds), low, high)
        return {
            "r2": float(r2_score(panel_mean, pred)) if np.ptp(panel_mean) > 0 else float("nan"),
            "mae": float(mean_absolute_error(panel_mean, pred)),
            "median_accuracy": float(accuracy_score(np.rint(panel_median), np.clip(np.rint(pred), low, high))),
        }
