"""The vectorised backend: a ruleset evaluated with NumPy over a whole vignettes table.

Each comparison becomes one array operation over a column (shared between
rules that repeat it); ``and``/``or`` become ``&``/``|``. The hit policy is a
preference order over rules: the decisive rule is the fired rule ranked best.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules import load_ruleset, bundled_rulesets
>>> from dsk.rules.vector import evaluate_vector
>>> import pandas as pd
>>> cat = load_catalogue()
>>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
>>> v = pd.DataFrame({"vignette_id": ["a", "b"], **{n: [0, 0] for n in rs.names}})
>>> v.loc[1, ["parental_substance_misuse", "domestic_abuse", "parental_mental_health"]] = 2
>>> evaluate_vector(rs, v, catalogue=cat).need_level.tolist()
[1, 4]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.rules._evaluation import Evaluation, vignette_columns
from dsk.rules.language import And, Compare, Node, Or
from dsk.rules.margins import branches, margin_matrix
from dsk.rules.ruleset import Ruleset

__all__ = ["evaluate_vector", "fired_matrix", "preference_rank"]

_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _mask(node: Node, columns: Mapping[str, np.ndarray],
           memo: dict[tuple[str, str, int], np.ndarray]) -> np.ndarray:
    if isinstance(node, Compare):
        key = (node.name, node.op, node.value)
        if key not in memo:
            memo[key] = _OPS[node.op](columns[node.name], node.value)
        return memo[key]
    if isinstance(node, And):
        out = _mask(node.parts[0], columns, memo).copy()
        for part in node.parts[1:]:
            out &= _mask(part, columns, memo)
        return out
    if isinstance(node, Or):
        out = _mask(node.parts[0], columns, memo).copy()
        for part in node.parts[1:]:
            out |= _mask(part, columns, memo)
        return out
    raise TypeError(f"not a normalized condition node: {node!r}")


def fired_matrix(ruleset: Ruleset, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """(n, n_rules) bool: which rules fire on which vignette."""
    fired = np.empty((n, len(ruleset.rules)), dtype=bool)
    memo: dict[tuple[str, str, int], np.ndarray] = {}
    for j, rule in enumerate(ruleset.rules):
        fired[:, j] = _mask(rule.condition, columns, memo)
    return fired


def preference_rank(ruleset: Ruleset) -> np.ndarray:
    """Rank of each rule under the hit policy, 0 = preferred when several fire."""
    idx = np.arange(len(ruleset.rules))
    if ruleset.hit_policy == "first":
        order = idx
    elif ruleset.hit_policy == "priority":
        order = np.lexsort((idx, -np.array([r.priority for r in ruleset.rules])))
    else:  # max, collect
        order = np.lexsort((idx, -np.array([r.level for r in ruleset.rules])))
    rank = np.empty_like(idx)
    rank[order] = idx
    return rank


def evaluate_vector(ruleset: Ruleset, vignettes: pd.DataFrame, margins: bool = False, *,
                    catalogue: Catalogue) -> Evaluation:
    """Apply ``ruleset`` to every vignette at once.

    Parameters
    ----------
    ruleset : Ruleset
    vignettes : DataFrame
        ``vignette_id`` and one int column per name the ruleset reads.
    margins : bool
        Also compute each rule's margin on each vignette (see :mod:`dsk.rules.margins`).
    catalogue : Catalogue
        The catalogue the ruleset was checked against (for ranges and margins).
    """
    cat = catalogue
    ids, columns = vignette_columns(vignettes, ruleset, cat)
    n, k = len(ids), len(ruleset.rules)
    fired = fired_matrix(ruleset, columns, n)
    levels = np.array([r.level for r in ruleset.rules], dtype=np.int64)
    order = np.argsort(preference_rank(ruleset), kind="stable")
    any_fired = fired.any(axis=1)
    # the decisive rule: the first fired rule in preference order
    best = order[fired[:, order].argmax(axis=1)] if k else np.zeros(n, dtype=np.int64)
    decisive = np.where(any_fired, best, -1)
    need = np.where(any_fired, levels[best], ruleset.default_level)
    n_levels = np.zeros(n, dtype=np.int8)
    for level in np.unique(levels):
        n_levels += fired[:, levels == level].any(axis=1)
    conflict = n_levels > 1
    margin_table = None
    if margins:
        margin_table = np.empty((n, k), dtype=np.int64)
        for j, rule in enumerate(ruleset.rules):
            margin_table[:, j] = margin_matrix(branches(rule.condition, cat), columns, cat, n)
    return Evaluation(ruleset, "vector", ids, fired, need.astype(np.int64),
                      decisive.astype(np.int64), conflict, np.logical_not(any_fired),
                      margin_table)
