"""Margins: for a rule that did not fire, the fewest one-step changes that make it fire.

Definition
----------
A *step* moves one name the condition reads by one (a factor up or down one
level, ``age_band`` one band, ``disability`` on or off, a derived feature up
or down by one). The margin of a rule on a vignette is the smallest number of
steps after which its condition holds; it is 0 exactly when the rule fires,
and ``None`` when no values within the catalogue's ranges satisfy it.

The condition is put into negation normal form and expanded into its
``or``-branches (disjunctive normal form). Within a branch, the comparisons on
one name intersect into a set of allowed values; the branch costs the sum,
over its names, of the distance from the vignette's value to the nearest
allowed value. The margin is the cheapest branch.

Derived features (``n_concerns``, ``n_domains``, ``toxic_trio``,
``n_agencies`` ...) are treated as *dials*: a comparison on a derived feature
costs the distance of the derived value itself, and a step on a factor the
condition also reads is not propagated into the derived features. One step
on a factor moves any count feature by at most one, so for a condition on a
derived feature alone the margin is a lower bound on the factor changes
needed; where a condition mixes a factor with a derived feature that counts
it, the two are costed independently. Exclusions (implausible combinations)
are not applied. Both backends use this definition: the durable backend
through :func:`margin_of_row` (plain Python, one vignette at a time), the
vector backend through :func:`margin_matrix` (NumPy lookup tables); the tests
check that they agree.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules.language import parse_condition
>>> cat = load_catalogue()
>>> node = parse_condition("domestic_abuse >= 2 and (n_concerns >= 4 or disclosure)", cat)
>>> bs = branches(node, cat)
>>> margin_of_row(bs, {"domestic_abuse": 0, "n_concerns": 1, "disclosure": 0})
3
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from dsk.rules.language import And, Compare, Node, Or, compare, normalize

if TYPE_CHECKING:
    from dsk.catalogue import Catalogue

__all__ = ["MAX_BRANCHES", "Branch", "branches", "can_fire", "margin_matrix", "margin_of_row"]

MAX_BRANCHES = 4096
Branch = tuple[tuple[str, frozenset[int]], ...]
"""One or-branch: for each name it constrains, the values that satisfy it (sorted by name)."""


def _allowed(cmp: Compare, catalogue: Catalogue) -> frozenset[int]:
    lo, hi = catalogue.value_range(cmp.name)
    return frozenset(v for v in range(lo, hi + 1) if compare(v, cmp.op, cmp.value))


def _expand(node: Node, catalogue: Catalogue) -> list[dict[str, frozenset[int]]]:
    if isinstance(node, Compare):
        allowed = _allowed(node, catalogue)
        return [{node.name: allowed}] if allowed else []
    if isinstance(node, Or):
        out: list[dict[str, frozenset[int]]] = []
        for part in node.parts:
            out.extend(_expand(part, catalogue))
            if len(out) > MAX_BRANCHES:
                raise ValueError(f"condition has more than {MAX_BRANCHES} or-branches")
        return out
    if isinstance(node, And):
        acc: list[dict[str, frozenset[int]]] = [{}]
        for part in node.parts:
            nxt: list[dict[str, frozenset[int]]] = []
            for left in acc:
                for right in _expand(part, catalogue):
                    merged = dict(left)
                    ok = True
                    for name, values in right.items():
                        merged[name] = merged[name] & values if name in merged else values
                        if not merged[name]:
                            ok = False
                            break
                    if ok:
                        nxt.append(merged)
                if len(nxt) > MAX_BRANCHES:
                    raise ValueError(f"condition has more than {MAX_BRANCHES} or-branches")
            acc = nxt
        return acc
    raise TypeError(f"not a normalized condition node: {node!r}")


def branches(node: Node, catalogue: Catalogue) -> tuple[Branch, ...]:
    """The satisfiable or-branches of a condition (empty when it can never hold)."""
    unique: dict[Branch, None] = {}
    for branch in _expand(normalize(node), catalogue):
        unique.setdefault(tuple(sorted(branch.items())), None)
    return tuple(unique)


def can_fire(bs: tuple[Branch, ...]) -> bool:
    """Whether any values within the catalogue's ranges satisfy the condition."""
    return bool(bs)


def margin_of_row(bs: tuple[Branch, ...], row: Mapping[str, int]) -> int | None:
    """Margin of one rule on one vignette (plain Python reference form)."""
    best: int | None = None
    for branch in bs:
        cost = 0
        for name, allowed in branch:
            value = int(row[name])
            if value not in allowed:
                cost += min(abs(value - u) for u in allowed)
        if best is None or cost < best:
            best = cost
            if best == 0:
                break
    return best


def _distance_table(allowed: frozenset[int], hi: int) -> np.ndarray:
    values = np.arange(hi + 1)
    targets = np.array(sorted(allowed))
    return np.abs(values[:, None] - targets[None, :]).min(axis=1)


def margin_matrix(bs: tuple[Branch, ...], columns: Mapping[str, np.ndarray],
                  catalogue: Catalogue, n: int) -> np.ndarray:
    """Margins of one rule on every vignette; -1 where it can never fire.

    ``columns`` maps each name to an int array of values within the name's
    range (the backends check the ranges on input).
    """
    if not bs:
        return np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    for branch in bs:
        cost = np.zeros(n, dtype=np.int64)
        for name, allowed in branch:
            table = _distance_table(allowed, catalogue.value_range(name)[1])
            cost += table[columns[name]]
        np.minimum(best, cost, out=best)
    return best
