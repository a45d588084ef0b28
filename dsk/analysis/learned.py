"""Learned checklists: the shortest rules that reproduce a panel, and where none can.

:func:`learn_checklist` fits a shallow decision tree (scikit-learn) to the
panel's median level per vignette and writes it out as a ruleset in dsk's
own YAML format: one rule per leaf, its condition the path to the leaf, its
level the leaf's majority level, hit policy ``first`` (leaves are disjoint,
so exactly one rule fires). The result runs through the rule engine like any
hand-written checklist. :func:`checklist_fidelity` compares learned and
hand-written checklists with the panel per complexity band: where even the
best short checklist cannot reproduce judgement, the case calls for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml

from dsk.analysis._features import panel_summary
from dsk.catalogue import Catalogue, load_catalogue
from dsk.schema import BANDS, validate

__all__ = ["LearnedChecklist", "checklist_fidelity", "learn_checklist", "learning_features"]


def learning_features(cat: Catalogue) -> list[str]:
    """Names a learned checklist may use: factors, child attributes and derived features."""
    return list(cat.names())


@dataclass(frozen=True)
class LearnedChecklist:
    """A fitted tree and the ruleset written from it."""

    ruleset_id: str
    depth: int
    yaml_text: str
    n_rules: int
    train_accuracy: float

    def ruleset(self, catalogue: Catalogue):  # type: ignore[no-untyped-def]
        """Parse the YAML through the rule engine (checks every name and value)."""
        from dsk.rules import ruleset_from_text

        return ruleset_from_text(self.yaml_text, source=f"<learned {self.ruleset_id}>", catalogue=catalogue)


def _value_text(cat: Catalogue, name: str, value: int) -> str:
    names = cat.level_names(name)
    return names[value] if names and 0 <= value < len(names) else str(value)


def learn_checklist(vignettes: pd.DataFrame, judgements: pd.DataFrame, *, max_depth: int = 3,
                    min_samples_leaf: int = 5, round_: int = 1, random_state: int = 0,
                    ruleset_id: str | None = None, catalogue: Catalogue | None = None) -> LearnedChecklist:
    """Fit a depth-limited tree to the panel's median level and write it as a ruleset."""
    from sklearn.tree import DecisionTreeClassifier

    cat = catalogue or load_catalogue()
    summary = panel_summary(judgements, round_)
    ids = [v for v in vignettes["vignette_id"] if v in summary.index]
    names = learning_features(cat)
    X = vignettes.set_index("vignette_id").loc[ids, names].to_numpy(dtype=np.int64)
    y = summary.loc[ids, "panel_median"].to_numpy(dtype=np.int64)  # the lower median level
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                                  random_state=random_state).fit(X, y)
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
    rid = ruleset_id or f"learned-depth-{max_depth}"
    majority = int(np.bincount(y).argmax())
    document = {
        "id": rid,
        "title": f"Checklist learned from the panel (tree of depth {max_depth})",
        "hit_policy": "first",
        "default_level": majority,
        "rules": rules,
    }
    header = ("# Learned by dsk.analysis.learned from panel judgements: each rule is one leaf of a\n"
              "# decision tree; the leaves are disjoint, so exactly one rule fires.\n")
    text = header + yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)
    return LearnedChecklist(rid, max_depth, text, len(rules), float(tree.score(X, y)))


def checklist_fidelity(vignettes: pd.DataFrame, judgements: pd.DataFrame, rulesets, *,  # type: ignore[no-untyped-def]
                       round_: int = 1, catalogue: Catalogue | None = None) -> pd.DataFrame:
    """Agreement of each checklist with the panel median, overall and per complexity band.

    Returns ``stats`` rows: metric ``exact_with_panel_median`` (share of
    vignettes where the checklist's level equals the panel median,
    :func:`dsk.analysis.median_level`)
    and ``within_one_of_panel_median``; comparison ``<ruleset>~panel``.
    """
    from dsk.rules import evaluate

    cat = catalogue or load_catalogue()
    summary = panel_summary(judgements, round_)
    ids = [v for v in vignettes["vignette_id"] if v in summary.index]
    table = vignettes.set_index("vignette_id").loc[ids].reset_index()
    median = summary.loc[ids, "panel_median"].to_numpy(dtype=float)
    bands = table["complexity_band"].to_numpy(dtype=object)
    rows = []
    for rs in rulesets:
        level = evaluate(rs, table, engine="vector", catalogue=cat).need_level
        for stratum, mask in [("all", np.ones(len(ids), dtype=bool))] + [
                (f"complexity_band={b}", bands == b) for b in BANDS]:
            if not mask.any():
                continue
            for metric, hit in (("exact_with_panel_median", level[mask] == median[mask]),
                                ("within_one_of_panel_median", np.abs(level[mask] - median[mask]) <= 1)):
                rows.append({"analysis": "learned_checklists", "metric": metric,
                             "comparison": f"{rs.id}~panel", "stratum": stratum,
                             "estimate": float(hit.mean()), "ci_low": np.nan, "ci_high": np.nan,
                             "n": int(mask.sum())})
    return validate(pd.DataFrame(rows), "stats")
