"""The panel surrogate as a scikit-learn estimator (dsk.analysis._surrogate.PanelSurrogate)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from dsk.analysis._features import base_features, with_derived
from dsk.analysis._surrogate import PanelSurrogate
from dsk.catalogue import Catalogue


def _expected_failed_checks(estimator: BaseEstimator) -> dict[str, str]:
    """Checks of scikit-learn's contract that the surrogate is expected to fail, with the reason.

    None: without a catalogue the surrogate is a plain regressor on numeric
    features and passes every check. (``check_array_api_input`` is skipped by
    scikit-learn itself unless ``SCIPY_ARRAY_API=1`` is set; the surrogate does
    not claim array-API support.) The checks cannot run with a catalogue,
    because their generic data is not a catalogue's feature space: that mode is
    tested below.
    """
    return {}


@parametrize_with_checks([PanelSurrogate(), PanelSurrogate(max_iter=20, learning_rate=0.3, random_state=3)],
                         expected_failed_checks=_expected_failed_checks, xfail_strict=True)
def test_scikit_learn_contract(estimator: PanelSurrogate, check: Callable[[BaseEstimator], Any]) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def cases(random_set: pd.DataFrame, catalogue: Catalogue) -> tuple[pd.DataFrame, np.ndarray]:
    """Base features of 400 random vignettes and a panel-like mean level that rises with concerns."""
    X = random_set[base_features(catalogue)].reset_index(drop=True)
    mean = 1 + 0.6 * random_set["n_concerns"].to_numpy() - 0.3 * random_set["n_protective"].to_numpy()
    return X, mean


@pytest.fixture(scope="module")
def fitted(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue) -> PanelSurrogate:
    X, mean = cases
    return PanelSurrogate(catalogue, max_iter=60).fit(X, mean)


def test_constructor_only_stores_its_arguments(catalogue: Catalogue) -> None:
    surrogate = PanelSurrogate(catalogue, max_depth=2, random_state=7)
    assert surrogate.get_params() == {"catalogue": catalogue, "max_depth": 2, "max_iter": 200,
                                      "learning_rate": 0.08, "min_samples_leaf": 5, "random_state": 7}
    assert not [k for k in vars(surrogate) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        surrogate.predict(np.zeros((1, len(base_features(catalogue))), dtype=np.int64))
    copy = clone(surrogate)
    assert copy.get_params()["max_depth"] == 2 and copy.get_params()["catalogue"].factor_ids == catalogue.factor_ids


def test_same_model_as_gradient_boosting_built_by_hand(cases: tuple[pd.DataFrame, np.ndarray],
                                                       catalogue: Catalogue, fitted: PanelSurrogate) -> None:
    """The documented model: derived features added, +1 constraints on concerns and counts, -1 on
    protective factors and their count, none on child attributes, predictions clipped to 1-4."""
    X, mean = cases
    inputs = with_derived(X, catalogue).drop(columns="vignette_id")
    protective = {f.id for f in catalogue.factors if f.protective} | {"n_protective"}
    cst = [0 if c in catalogue.child_ids else -1 if c in protective else 1 for c in inputs.columns]
    assert cst.count(-1) == len(protective) and cst.count(0) == 2
    by_hand = HistGradientBoostingRegressor(max_depth=3, max_iter=60, learning_rate=0.08, min_samples_leaf=5,
                                            monotonic_cst=cst, random_state=0).fit(inputs, mean)
    np.testing.assert_array_equal(fitted.predict(X), np.clip(by_hand.predict(inputs), 1, 4))
    assert fitted.input_names_ == list(inputs.columns)
    assert fitted.n_features_in_ == len(base_features(catalogue))
    assert fitted.n_iter_ == by_hand.n_iter_


def test_predictions_stay_on_the_need_scale(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue) -> None:
    X, mean = cases
    stretched = PanelSurrogate(catalogue, max_iter=60).fit(X, 3 * mean - 4)  # targets from -4 to above 10
    predicted = stretched.predict(X)
    assert (3 * mean - 4).min() < 1 and (3 * mean - 4).max() > 4
    assert predicted.min() == 1.0 and predicted.max() == 4.0
    generic = PanelSurrogate(max_iter=60).fit(X.to_numpy(dtype=float), 3 * mean - 4)
    assert generic.predict(X.to_numpy(dtype=float)).max() > 4  # no catalogue, no need scale


def test_need_never_falls_as_a_concern_rises(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue,
                                             fitted: PanelSurrogate) -> None:
    X, _ = cases
    before = fitted.predict(X)
    for f in catalogue.factors:
        raised = X.copy()
        raised[f.id] = np.minimum(raised[f.id] + 1, f.max_level)
        after = fitted.predict(raised)
        if f.protective:
            assert (after <= before + 1e-12).all(), f.id
        else:
            assert (after >= before - 1e-12).all(), f.id


def test_inputs_by_name_or_position(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue,
                                    fitted: PanelSurrogate) -> None:
    X, _ = cases
    expected = fitted.predict(X)
    shuffled = X[list(reversed(X.columns))].assign(vignette_id="v")
    np.testing.assert_array_equal(fitted.predict(shuffled), expected)
    np.testing.assert_array_equal(fitted.predict(X.to_numpy()), expected)
    with pytest.raises(ValueError, match="X lacks 1 of the catalogue's features: domestic_abuse"):
        fitted.predict(X.drop(columns="domestic_abuse"))
    with pytest.raises(ValueError, match=r"X has shape \(400, 3\); rows of the catalogue's"):
        fitted.predict(X.to_numpy()[:, :3])


def test_fidelity_is_out_of_fold(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue) -> None:
    """R squared, MAE and median accuracy of predictions made by models that did not see the vignette."""
    X, mean = cases
    median = np.rint(mean)
    surrogate = PanelSurrogate(catalogue, max_iter=40, random_state=5)
    fidelity = surrogate.fidelity(X, mean, median)
    assert not hasattr(surrogate, "model_")  # evaluating does not fit the estimator
    oof = np.empty(len(X))
    for train, test in KFold(n_splits=5, shuffle=True, random_state=5).split(X):
        model = clone(surrogate).fit(X.iloc[train], mean[train])
        oof[test] = model.predict(X.iloc[test])
    r2 = 1 - ((mean - oof) ** 2).sum() / ((mean - mean.mean()) ** 2).sum()
    assert fidelity["r2"] == pytest.approx(r2, rel=1e-12)
    assert fidelity["mae"] == pytest.approx(np.abs(mean - oof).mean(), rel=1e-12)
    assert fidelity["median_accuracy"] == pytest.approx((np.clip(np.rint(oof), 1, 4) == median).mean())
    assert 0.8 < fidelity["r2"] < 1  # the target is a smooth function of the features
    in_sample = PanelSurrogate(catalogue, max_iter=40, random_state=5).fit(X, mean).score(X, mean)
    assert in_sample > fidelity["r2"]


def test_fidelity_of_a_constant_panel(cases: tuple[pd.DataFrame, np.ndarray], catalogue: Catalogue) -> None:
    """R squared is undefined when the panel mean does not vary; the surrogate then reproduces it exactly."""
    X, _ = cases
    constant = np.full(len(X), 2.0)
    fidelity = PanelSurrogate(catalogue, max_iter=10).fidelity(X, constant, constant)
    assert math.isnan(fidelity["r2"])
    assert fidelity["mae"] == pytest.approx(0.0, abs=1e-12)
    assert fidelity["median_accuracy"] == 1.0
