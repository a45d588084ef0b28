"""Learned checklists: the shortest rules that reproduce a panel, and where none can.

:func:`learn_checklist` fits a shallow decision tree (scikit-learn) to the
panel's consensus level per vignette and writes it out as a ruleset in dsk's
own YAML format: one rule per leaf, its condition the path to the leaf, its
level the leaf's majority level, hit policy ``first`` (leaves are disjoint,
so exactly one rule fires). The result runs through the rule engine like any
hand-written checklist.

:func:`checklist_fidelity` compares checklists with the panel per complexity
band. For a learned checklist that figure is *in-sample*: the tree was fitted
to the same vignettes it is scored on. :func:`out_of_fold_fidelity` gives the
honest figure: each vignette is scored by a checklist learned without it
(k-fold cross-validation, seeded). Where even the best short checklist cannot
reproduce judgement out of fold, the case calls for it. See
``docs/methods.md`` (learned checklists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from dsk.analysis._features import panel_summary
from dsk.catalogue import Catalogue
from dsk.schema import BANDS, validate

if TYPE_CHECKING:
    from sklearn.tree import DecisionTreeClassifier

    from dsk.rules import Ruleset

__all__ = [
    "LearnedChecklist",
    "checklist_fidelity",
    "learn_checklist",
    "learning_features",
    "out_of_fold_fidelity",
    "out_of_fold_levels",
]

#: Suffix of the out-of-fold metrics in the ``stats`` table.
OUT_OF_FOLD = "_out_of_fold"


def learning_features(cat: Catalogue) -> list[str]:
    """Names a learned checklist may use: factors, child attributes and derived features.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> names = learning_features(load_catalogue())
    >>> "disclosure" in names and "n_concerns" in names
    True
    """
    return list(cat.names())


@dataclass(frozen=True)
class LearnedChecklist:
    """A fitted tree and the ruleset written from it.

    ``train_accuracy`` is in-sample: the share of the training vignettes whose
    consensus level the tree reproduces. See :func:`out_of_fold_fidelity` for
    the out-of-fold figure.
    """

    ruleset_id: str
    depth: int
    yaml_text: str
    n_rules: int
    train_accuracy: float

    def ruleset(self, catalogue: Catalogue) -> Ruleset:
        """Parse the YAML through the rule engine (checks every name and value)."""
        from dsk.rules import ruleset_from_text

        return ruleset_from_text(self.yaml_text, source=f"<learned {self.ruleset_id}>", catalogue=catalogue)


def _value_text(cat: Catalogue, name: str, value: int) -> str:
    names = cat.level_names(name)
    return names[value] if names and 0 <= value < len(names) else str(value)


def _panel_levels(vignettes: pd.DataFrame, judgements: pd.DataFrame,
                  round_: int) -> tuple[list[str], np.ndarray]:
    """The vignettes the panel judged and the panel's consensus level on each.

    The consensus level is the ``panel_median`` of :func:`dsk.analysis._features.panel_summary`,
    the level the failures table and the report compare with (``docs/methods.md``); the trees
    learn it and the fidelity figures score against it.
    """
    summary = panel_summary(judgements, round_)
    ids = [v for v in vignettes["vignette_id"] if v in summary.index]
    return ids, summary.loc[ids, "panel_median"].to_numpy(dtype=np.int64)  # the lower median level


def _fit_tree(X: np.ndarray, y: np.ndarray, max_depth: int, min_samples_leaf: int,
              random_state: int) -> DecisionTreeClassifier:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                  random_state=random_state).fit(X, y)


def _tree_text(tree: DecisionTreeClassifier, y: np.ndarray, names: list[str], cat: Catalogue,
               ruleset_id: str, max_depth: int) -> tuple[str, int]:
    """The tree written as a ruleset (YAML text) and its number of rules."""
    t = tree.tree_
    rules: list[dict[str, object]] = []

    def walk(node: int, path: list[str]) -> None:
        if t.children_left[node] == -1:
            level = int(tree.classes_[int(np.argmax(t.value[node][0]))])
            n = int(t.n_node_samples[node])
            rules.append({
                "id": f"leaf-{len(rules) + 1}",
                "when": " and ".join(path) if path else "age_band >= 0",
                "level": level,
                "because": f"Learned from the panel: {n} training vignettes reach this leaf; "
                           f"most of the panel chose level {level}.",
            })
            return
        name = names[int(t.feature[node])]
        cut = int(np.floor(t.threshold[node]))  # integer features: x <= cut  vs  x >= cut + 1
        walk(int(t.children_left[node]), [*path, f"{name} <= {_value_text(cat, name, cut)}"])
        walk(int(t.children_right[node]), [*path, f"{name} >= {_value_text(cat, name, cut + 1)}"])

    walk(0, [])
    majority = int(np.bincount(y).argmax())
    document = {
        "id": ruleset_id,
        "title": f"Checklist learned from the panel (tree of depth {max_depth})",
        "hit_policy": "first",
        "default_level": majority,
        "rules": rules,
    }
    header = ("# Learned by dsk.analysis.learned from panel judgements: each rule is one leaf of a\n"
              "# decision tree; the leaves are disjoint, so exactly one rule fires.\n")
    return header + yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True), len(rules)


def learn_checklist(vignettes: pd.DataFrame, judgements: pd.DataFrame, *, catalogue: Catalogue,
                    max_depth: int = 3, min_samples_leaf: int = 5, round_: int = 1,
                    random_state: int = 0, ruleset_id: str | None = None) -> LearnedChecklist:
    """Fit a depth-limited tree to the panel's consensus level and write it as a ruleset.

    Parameters
    ----------
    vignettes : the vignettes table.
    judgements : the judgements table (rules rows are ignored).
    catalogue : the catalogue the vignettes were built with.
    max_depth, min_samples_leaf : the tree's size limits.
    round_ : the round of the panel's judgements to learn from.
    random_state : seed of the tree's tie-breaking between equally good splits.
    ruleset_id : id of the learned ruleset (default ``learned-depth-<max_depth>``).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 60, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> learned = learn_checklist(v, j, catalogue=cat, max_depth=2)
    >>> learned.ruleset_id, learned.n_rules <= 4, learned.ruleset(cat).hit_policy
    ('learned-depth-2', True, 'first')
    """
    ids, y = _panel_levels(vignettes, judgements, round_)
    names = learning_features(catalogue)
    X = vignettes.set_index("vignette_id").loc[ids, names].to_numpy(dtype=np.int64)
    tree = _fit_tree(X, y, max_depth, min_samples_leaf, random_state)
    rid = ruleset_id or f"learned-depth-{max_depth}"
    text, n_rules = _tree_text(tree, y, names, catalogue, rid, max_depth)
    return LearnedChecklist(rid, max_depth, text, n_rules, float(tree.score(X, y)))


def out_of_fold_levels(vignettes: pd.DataFrame, judgements: pd.DataFrame, *, catalogue: Catalogue,
                       max_depth: int = 3, min_samples_leaf: int = 5, round_: int = 1,
                       n_splits: int = 5, random_state: int = 0,
                       engine: str = "vector") -> pd.Series:
    """Each vignette's level from a checklist learned without it (k-fold cross-validation).

    The vignettes the panel judged are split into ``n_splits`` folds
    (scikit-learn ``KFold``, shuffled with ``random_state``). For each fold a
    checklist is learned from the other folds exactly as :func:`learn_checklist`
    does, written as a ruleset, and run through the rule engine ``engine`` on
    the held-out fold.

    Returns
    -------
    Series
        The out-of-fold level (int) per vignette id, in the order of ``vignettes``.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 60, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> levels = out_of_fold_levels(v, j, catalogue=cat, max_depth=2)
    >>> len(levels), sorted(set(levels)) == sorted(set(levels) & {1, 2, 3, 4})
    (60, True)
    """
    from sklearn.model_selection import KFold

    from dsk.rules import evaluate, ruleset_from_text

    ids, y = _panel_levels(vignettes, judgements, round_)
    if len(ids) < 2:
        raise ValueError(f"out-of-fold fidelity needs at least 2 judged vignettes, got {len(ids)}")
    names = learning_features(catalogue)
    table = vignettes.set_index("vignette_id").loc[ids].reset_index()
    X = table[names].to_numpy(dtype=np.int64)
    levels = np.zeros(len(ids), dtype=np.int64)
    folds = KFold(n_splits=min(n_splits, len(ids)), shuffle=True, random_state=random_state)
    for k, (train, test) in enumerate(folds.split(X)):
        tree = _fit_tree(X[train], y[train], max_depth, min_samples_leaf, random_state)
        rid = f"learned-depth-{max_depth}-fold-{k + 1}"
        text, _ = _tree_text(tree, y[train], names, catalogue, rid, max_depth)
        ruleset = ruleset_from_text(text, source=f"<learned {rid}>", catalogue=catalogue)
        levels[test] = evaluate(ruleset, table.iloc[test], engine=engine, catalogue=catalogue).need_level
    return pd.Series(levels, index=pd.Index(ids, name="vignette_id"), name="need_level")


def _fidelity_rows(comparison: str, level: np.ndarray, consensus: np.ndarray, bands: np.ndarray,
                   suffix: str = "") -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for stratum, mask in [("all", np.ones(len(level), dtype=bool))] + [
            (f"complexity_band={b}", bands == b) for b in BANDS]:
        if not mask.any():
            continue
        for metric, hit in (("exact_with_panel_median", level[mask] == consensus[mask]),
                            ("within_one_of_panel_median", np.abs(level[mask] - consensus[mask]) <= 1)):
            rows.append({"analysis": "learned_checklists", "metric": metric + suffix,
                         "comparison": comparison, "stratum": stratum,
                         "estimate": float(hit.mean()), "ci_low": np.nan, "ci_high": np.nan,
                         "n": int(mask.sum())})
    return rows


def checklist_fidelity(vignettes: pd.DataFrame, judgements: pd.DataFrame, rulesets: Sequence[Ruleset], *,
                       catalogue: Catalogue, round_: int = 1, engine: str = "vector") -> pd.DataFrame:
    """Agreement of each checklist with the panel's consensus level, overall and per complexity band.

    Returns ``stats`` rows: metric ``exact_with_panel_median`` (share of
    vignettes where the checklist's level equals the panel median,
    :func:`dsk.analysis.median_level`)
    and ``within_one_of_panel_median``; comparison ``<ruleset>~panel``. For a
    checklist learned from the same judgements these figures are in-sample.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.rules import bundled_rulesets, load_ruleset
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 30, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> stats = checklist_fidelity(v, j, [rs], catalogue=cat)
    >>> stats[["metric", "stratum", "n"]].head(2).values.tolist()
    [['exact_with_panel_median', 'all', 30], ['within_one_of_panel_median', 'all', 30]]
    """
    from dsk.rules import evaluate

    ids, consensus = _panel_levels(vignettes, judgements, round_)
    table = vignettes.set_index("vignette_id").loc[ids].reset_index()
    bands = table["complexity_band"].to_numpy(dtype=object)
    rows = []
    for rs in rulesets:
        level = evaluate(rs, table, engine=engine, catalogue=catalogue).need_level
        rows += _fidelity_rows(f"{rs.id}~panel", level, consensus.astype(float), bands)
    return validate(pd.DataFrame(rows), "stats")


def out_of_fold_fidelity(vignettes: pd.DataFrame, judgements: pd.DataFrame, depths: Sequence[int], *,
                         catalogue: Catalogue, min_samples_leaf: int = 5, round_: int = 1,
                         n_splits: int = 5, random_state: int = 0, engine: str = "vector") -> pd.DataFrame:
    """Out-of-fold fidelity of the checklists learned at each depth, overall and per band.

    Returns ``stats`` rows as :func:`checklist_fidelity` does, with metrics
    ``exact_with_panel_median_out_of_fold`` and
    ``within_one_of_panel_median_out_of_fold`` and comparison
    ``learned-depth-<d>~panel``; the levels come from :func:`out_of_fold_levels`.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 60, 1, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> stats = out_of_fold_fidelity(v, j, [2], catalogue=cat)
    >>> stats[["metric", "comparison", "stratum"]].iloc[0].tolist()
    ['exact_with_panel_median_out_of_fold', 'learned-depth-2~panel', 'all']
    """
    ids, consensus = _panel_levels(vignettes, judgements, round_)
    bands = vignettes.set_index("vignette_id").loc[ids, "complexity_band"].to_numpy(dtype=object)
    rows: list[dict[str, object]] = []
    for depth in depths:
        level = out_of_fold_levels(vignettes, judgements, catalogue=catalogue, max_depth=depth,
                                   min_samples_leaf=min_samples_leaf, round_=round_, n_splits=n_splits,
                                   random_state=random_state, engine=engine).to_numpy()
        rows += _fidelity_rows(f"learned-depth-{depth}~panel", level, consensus.astype(float), bands,
                               OUT_OF_FOLD)
    columns = ["analysis", "metric", "comparison", "stratum", "estimate", "ci_low", "ci_high", "n"]
    return validate(pd.DataFrame(rows, columns=columns), "stats")
