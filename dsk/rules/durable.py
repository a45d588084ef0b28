"""The durable-rules backend: the reference engine, recording every rule that fires.

A parsed ruleset compiles to a durable_rules 2.0.28 JSON ruleset; each
vignette is asserted into it and every action records ``(vignette, rule)``.
The backend handles the engine's known behaviour (docs/architecture.md, "Rule backends"):

* **Facts, not events.** A posted event is consumed by the first rule that
  matches it; an asserted fact lets every matching rule fire.
* **Guard field.** Every rule, and the catch-all, tests
  ``dsk_type == "dsk.vignette"``, so no rule is made only of absence tests.
* **Catch-all rule.** ``dsk$seen`` matches every vignette. Without it a
  vignette on which no rule fires raises ``MessageNotHandledException``, and
  deleting that vignette's state afterwards crashes the process (observed on
  2.0.28). It also lets us check that every vignette was seen exactly once.
* **One state per vignette, deleted after use.** The engine keeps at most
  1,024 live state ids per ruleset; each vignette gets a fresh ``sid`` and its
  state is deleted as soon as it is evaluated, so any number of vignettes runs.
* **One host per process, behind a lock.** A ``Host`` is not thread-safe and
  starts timer threads that never stop (and that may run queued actions on
  their own thread). This module keeps one host for the process, built with
  those timer threads switched off (we never use timers or queued events),
  and every use goes through one re-entrant lock.
* **Content-hashed names.** A ruleset name cannot be registered twice on a
  host; compiled rulesets are named by a hash of their compiled content and
  registered once, so re-evaluating (or editing and reloading) a ruleset is
  safe.
* **Exceptions in actions are surfaced.** The engine stores an exception
  raised in an action in the vignette's state instead of raising it; the
  backend checks the state after every assertion and raises
  :class:`DurableRulesError`.
* **An ``or`` fires once per satisfied branch.** A fact satisfying both sides
  of ``$or`` fires the rule twice; fired sets are de-duplicated.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules import load_ruleset, bundled_rulesets
>>> from dsk.rules.durable import evaluate_durable
>>> import pandas as pd
>>> cat = load_catalogue()
>>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
>>> v = pd.DataFrame({"vignette_id": ["a", "b"], **{n: [0, 0] for n in rs.names}})
>>> v.loc[1, ["parental_substance_misuse", "domestic_abuse", "parental_mental_health"]] = 2
>>> evaluate_durable(rs, v, catalogue=cat).need_level.tolist()
[1, 4]
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from durable.engine import Host

from dsk.catalogue import Catalogue
from dsk.rules._evaluation import Evaluation, vignette_columns
from dsk.rules.language import And, Compare, Node, Or
from dsk.rules.margins import branches, margin_of_row
from dsk.rules.ruleset import Ruleset

__all__ = [
    "GUARD_FIELD",
    "GUARD_VALUE",
    "SEEN_RULE",
    "DurableRulesError",
    "compile_ruleset",
    "compiled_name",
    "engine_lock",
    "evaluate_durable",
    "get_host",
]

GUARD_FIELD = "dsk_type"
GUARD_VALUE = "dsk.vignette"
ROW_FIELD = "dsk_row"
SEEN_RULE = "dsk$seen"

_OPS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}


class DurableRulesError(RuntimeError):
    """durable_rules failed on a vignette (an action raised, or a vignette went unseen)."""


class _Host(Host):
    """A durable_rules host without the dispatch and timer threads.

    ``Host._run`` starts two self-rearming timer threads that poll every
    ruleset forever; we only assert facts and run their actions synchronously,
    so the threads would only add a second thread touching the engine.
    """

    def _run(self) -> None:  # noqa: D401 - overriding the thread starter
        return None


_LOCK = threading.RLock()
_HOST: _Host | None = None
_SIDS = itertools.count()


def engine_lock() -> threading.RLock:
    """The lock every use of the process-wide host must hold."""
    return _LOCK


def get_host() -> Host:
    """The process-wide durable_rules host (created on first use)."""
    global _HOST
    with _LOCK:
        if _HOST is None:
            _HOST = _Host()
        return _HOST


def next_sid() -> str:
    """A state id never used before in this process."""
    with _LOCK:
        return f"s{next(_SIDS)}"


def _expression(node: Node) -> dict[str, Any]:
    if isinstance(node, Compare):
        if node.op == "==":
            return {node.name: node.value}
        return {_OPS[node.op]: {node.name: node.value}}
    if isinstance(node, And):
        return {"$and": [_expression(p) for p in node.parts]}
    if isinstance(node, Or):
        return {"$or": [_expression(p) for p in node.parts]}
    raise TypeError(f"not a normalized condition node: {node!r}")


def compile_ruleset(ruleset: Ruleset) -> dict[str, dict[str, Any]]:
    """The durable_rules JSON definition (without actions): rule id -> rule.

    Every rule is guarded by the type field; ``dsk$seen`` is the catch-all.
    """
    guard = {GUARD_FIELD: GUARD_VALUE}
    definition: dict[str, dict[str, Any]] = {
        rule.id: {"all": [{"m": {"$and": [guard, _expression(rule.condition)]}}]}
        for rule in ruleset.rules
    }
    definition[SEEN_RULE] = {"all": [{"m": guard}]}
    return definition


def compiled_name(definition: dict[str, Any], prefix: str = "dsk") -> str:
    """A ruleset name derived from the compiled content."""
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:20]
    return f"{prefix}.{digest}"


@dataclass
class _Compiled:
    name: str
    rule_ids: tuple[str, ...]
    fired: list[tuple[int, int]] = field(default_factory=list)


_COMPILED: dict[str, _Compiled] = {}


def _recorder(compiled: _Compiled, index: int) -> Callable[[Any], None]:
    record = compiled.fired.append

    def action(c: Any) -> None:
        record((c.m[ROW_FIELD], index))

    return action


def _register(ruleset: Ruleset) -> _Compiled:
    definition = compile_ruleset(ruleset)
    name = compiled_name(definition)
    with _LOCK:
        if name in _COMPILED:
            return _COMPILED[name]
        compiled = _Compiled(name, ruleset.rule_ids)
        with_actions = {}
        for index, (rule_id, rule) in enumerate(definition.items()):
            with_actions[rule_id] = {**rule, "run": _recorder(compiled, index)}
        get_host().register_rulesets({name: with_actions})
        _COMPILED[name] = compiled
        return compiled


def facts(vignettes_columns: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """One fact per vignette: the guard, the row number and the values the rules read."""
    return [{GUARD_FIELD: GUARD_VALUE, ROW_FIELD: i, **values}
            for i, values in enumerate(_records(vignettes_columns, n))]


def _records(columns: dict[str, np.ndarray], n: int) -> list[dict[str, int]]:
    if not columns:
        return [{} for _ in range(n)]
    records = pd.DataFrame(columns).to_dict("records")  # native Python ints
    return records  # type: ignore[return-value]


def _run(compiled: _Compiled, batch: list[dict[str, Any]],
         ids: np.ndarray) -> list[tuple[int, int]]:
    host = get_host()
    name = compiled.name
    with _LOCK:
        compiled.fired.clear()
        for fact in batch:
            sid = f"s{next(_SIDS)}"
            fact["sid"] = sid
            state = host.assert_fact(name, fact)
            host.delete_state(name, sid)
            if state and "exception" in state:
                row = fact[ROW_FIELD]
                raise DurableRulesError(f"durable_rules: an action failed on vignette "
                                        f"{ids[row]!r}: {state['exception']}")
        fired = list(compiled.fired)
        compiled.fired.clear()
    return fired


def evaluate_durable(ruleset: Ruleset, vignettes: pd.DataFrame, margins: bool = False, *,
                     catalogue: Catalogue) -> Evaluation:
    """Apply ``ruleset`` with durable_rules, one vignette (fact) at a time.

    Parameters are as for :func:`dsk.rules.vector.evaluate_vector`. Decisions
    follow :meth:`Ruleset.decide` per vignette; margins follow
    :func:`dsk.rules.margins.margin_of_row`.

    Raises
    ------
    DurableRulesError
        When an action raised inside the engine or a vignette was not seen.
    """
    cat = catalogue
    ids, columns = vignette_columns(vignettes, ruleset, cat)
    n, k = len(ids), len(ruleset.rules)
    compiled = _register(ruleset)
    pairs = _run(compiled, facts(columns, n), ids)
    hits: list[list[int]] = [[] for _ in range(n)]
    seen = np.zeros(n, dtype=np.int64)
    for row, index in pairs:
        if index == k:
            seen[row] += 1
        else:
            hits[row].append(index)
    if (seen != 1).any():
        row = int(np.flatnonzero(seen != 1)[0])
        raise DurableRulesError(f"durable_rules: vignette {ids[row]!r} was seen {seen[row]} "
                                "times by the catch-all rule, expected once")
    fired = np.zeros((n, k), dtype=bool)
    need = np.empty(n, dtype=np.int64)
    decisive = np.empty(n, dtype=np.int64)
    conflict = np.zeros(n, dtype=bool)
    levels = [rule.level for rule in ruleset.rules]
    for row, found in enumerate(hits):
        unique = sorted(set(found))  # an or fires once per satisfied branch
        fired[row, unique] = True
        level, best = ruleset.decide(unique)
        need[row] = level
        decisive[row] = -1 if best is None else best
        conflict[row] = len({levels[i] for i in unique}) > 1
    margin_table = None
    if margins:
        margin_table = _margins(ruleset, columns, fired, cat)
    defaulted = np.logical_not(fired.any(axis=1))
    return Evaluation(ruleset, "durable", ids, fired, need, decisive, conflict, defaulted,
                      margin_table)


def _margins(ruleset: Ruleset, columns: dict[str, np.ndarray], fired: np.ndarray,
             catalogue: Catalogue) -> np.ndarray:
    n, k = fired.shape
    table = np.zeros((n, k), dtype=np.int64)
    rule_branches = [branches(rule.condition, catalogue) for rule in ruleset.rules]
    for i, row in enumerate(_records(columns, n)):
        for j in range(k):
            if fired[i, j]:
                continue
            margin = margin_of_row(rule_branches[j], row)
            table[i, j] = -1 if margin is None else margin
    return table
