"""A ruleset as a scikit-learn classifier.

:class:`RulesetClassifier` wraps a ruleset so that it can sit wherever a
scikit-learn estimator can: ``clone``, ``cross_val_score``, pipelines, and
model-agnostic explainers such as SHAP (through ``predict_proba``). The rules
are fixed, not learned: ``fit`` only records the classes (the need levels 1-4)
and the feature names, and checks the ruleset and the data.

Columns are matched to catalogue names by the DataFrame's column names, by
the ``feature_names`` parameter, or (for a bare array with exactly as many
columns as the ruleset reads) in the order of ``Ruleset.names``. With
``missing="absent"``, names the ruleset reads but the data lacks are taken
as 0 (absent); the default, ``"error"``, refuses such data.

Estimator checks: the class passes ``sklearn.utils.estimator_checks`` with the
checks in :data:`EXPECTED_FAILED_CHECKS` skipped, each for the reason given
there; ``tests/rules/test_rules_sklearn.py`` runs them.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.design import random_vignettes
>>> from sklearn.model_selection import cross_val_score
>>> from dsk.rules import bundled_rulesets, load_ruleset
>>> cat = load_catalogue()
>>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
>>> X = random_vignettes(200, 1, cat, narratives=False)[list(rs.names)]
>>> clf = RulesetClassifier(rs, catalogue=cat)
>>> scores = cross_val_score(clf, X, clf.fit(X, [1] * len(X)).predict(X), cv=3)
>>> scores.tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from dsk.catalogue import NEED_LEVELS, Catalogue, load_catalogue
from dsk.rules.ruleset import Ruleset, bundled_rulesets, load_ruleset

if TYPE_CHECKING:
    from sklearn.utils import Tags

__all__ = ["EXPECTED_FAILED_CHECKS", "RulesetClassifier"]

_FIXED = ("the rules are fixed, not learned from y: predictions are need levels 1-4 whatever "
          "labels y uses")

#: Estimator checks that cannot pass for a fixed ruleset, and why.
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_classifiers_classes": _FIXED + ", so classes_ is never the set of labels in y",
    "check_classifiers_train": _FIXED + ", so predict_proba has one column per need level, "
    "not per label of y (accuracy checks are already waived by the poor_score tag)",
}


class RulesetClassifier(ClassifierMixin, BaseEstimator):
    """Predict need levels (1-4) with a ruleset.

    Parameters
    ----------
    ruleset : str, Path, Ruleset or None
        A ruleset file, a parsed ruleset, or None for the bundled
        ``threshold-of-need``.
    engine : {"vector", "durable"}
        Backend used by ``predict``.
    feature_names : sequence of str or None
        Catalogue names of the columns of array input.
    missing : {"error", "absent"}
        What to do when the data lacks a name the ruleset reads.
    catalogue : Catalogue or None
        The catalogue to check and run the ruleset with; None for the bundled
        one (an estimator is an entry point, and scikit-learn needs every
        parameter to have a default). ``fit`` stores the one used in
        ``catalogue_``.
    """

    def __init__(self, ruleset: str | Path | Ruleset | None = None, engine: str = "vector",
                 feature_names: list[str] | tuple[str, ...] | None = None,
                 missing: str = "error", catalogue: Catalogue | None = None) -> None:
        self.ruleset = ruleset
        self.engine = engine
        self.feature_names = feature_names
        self.missing = missing
        self.catalogue = catalogue

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a fixed checklist, not fitted to the data
        return tags

    # ------------------------------------------------------------ fitting
    def _resolve(self) -> Ruleset:
        if isinstance(self.ruleset, Ruleset):
            return self.ruleset
        if self.ruleset is None:
            return load_ruleset(bundled_rulesets()["threshold-of-need"], self.catalogue_)
        if isinstance(self.ruleset, (str, Path)):
            return load_ruleset(self.ruleset, self.catalogue_)
        raise TypeError(f"ruleset: expected a path, a Ruleset or None, got "
                        f"{type(self.ruleset).__name__}")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RulesetClassifier:
        """Check the ruleset and data; learn ``classes_`` and the feature names.

        ``y`` and ``sample_weight`` are checked but do not change the rules.
        """
        if self.engine not in ("vector", "durable"):
            raise ValueError(f"engine: expected 'vector' or 'durable', got {self.engine!r}")
        if self.missing not in ("error", "absent"):
            raise ValueError(f"missing: expected 'error' or 'absent', got {self.missing!r}")
        X, y = validate_data(self, X, y, dtype="numeric", ensure_all_finite=True)
        check_classification_targets(y)
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
            if not weights.any():
                raise ValueError("sample_weight: all weights are zero")
        self.catalogue_ = self.catalogue if self.catalogue is not None else load_catalogue()
        self.ruleset_ = self._resolve()
        self.classes_ = np.array(NEED_LEVELS)
        self.columns_ = self._column_names(X.shape[1])
        return self

    def _column_names(self, n_columns: int) -> list[str]:
        rs = self.ruleset_
        if self.feature_names is not None:
            names = [str(n) for n in self.feature_names]
            if len(names) != n_columns:
                raise ValueError(f"feature_names has {len(names)} names for {n_columns} columns")
        elif hasattr(self, "feature_names_in_"):
            names = [str(n) for n in self.feature_names_in_]
        elif n_columns == len(rs.names):
            names = list(rs.names)
        else:
            names = [f"x{i}" for i in range(n_columns)]
        lacking = [n for n in rs.names if n not in names]
        if lacking and self.missing == "error":
            raise ValueError(f"the data lacks {', '.join(lacking)} (read by ruleset {rs.id!r}); "
                             "name the columns, pass feature_names, or set missing='absent'")
        return names

    # ------------------------------------------------------------ predicting
    def _vignettes(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=True)
        X = np.asarray(X)
        table: dict[str, Any] = {"vignette_id": [str(i) for i in range(X.shape[0])]}
        for name in self.ruleset_.names:
            if name in self.columns_:
                table[name] = X[:, self.columns_.index(name)]
            else:
                table[name] = np.zeros(X.shape[0], dtype=np.int64)
        return pd.DataFrame(table)

    def predict(self, X: Any) -> np.ndarray:
        """Need level (1-4) of each row."""
        from dsk.rules import evaluate

        vignettes = self._vignettes(X)
        result = evaluate(self.ruleset_, vignettes, engine=self.engine, catalogue=self.catalogue_)
        return result.need_level.astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """One-hot probabilities over ``classes_`` (a ruleset is certain)."""
        levels = self.predict(X)
        return (levels[:, None] == self.classes_[None, :]).astype(float)
