"""Rulesets: checklists as YAML, run on durable_rules (with full traces) or NumPy.

The public surface of the rule engine. A ruleset file is parsed once into a
:class:`Ruleset`; :func:`evaluate` applies it to a vignettes table with either
backend and returns an :class:`Evaluation`, whose ``decisions()`` and
``trace()`` are the tables of ``docs/architecture.md``.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
>>> import pandas as pd
>>> cat = load_catalogue()
>>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
>>> v = pd.DataFrame({"vignette_id": ["a"], **{n: [0] for n in rs.names}})
>>> evaluate(rs, v, engine="vector", catalogue=cat).decisions()["need_level"].tolist()
[1]
"""

from __future__ import annotations

import pandas as pd

from dsk.catalogue import Catalogue
from dsk.rules._evaluation import Evaluation, RulesInputError
from dsk.rules.durable import DurableRulesError, evaluate_durable
from dsk.rules.language import ConditionError, parse_condition
from dsk.rules.margins import branches
from dsk.rules.ruleset import (
    HIT_POLICIES,
    Rule,
    Ruleset,
    RulesetError,
    bundled_rulesets,
    load_ruleset,
    parse_ruleset,
    ruleset_from_text,
)
from dsk.rules.vector import evaluate_vector

__all__ = [
    "ENGINES",
    "HIT_POLICIES",
    "ConditionError",
    "DurableRulesError",
    "Evaluation",
    "Rule",
    "Ruleset",
    "RulesInputError",
    "RulesetError",
    "branches",
    "bundled_rulesets",
    "evaluate",
    "evaluate_durable",
    "evaluate_vector",
    "load_ruleset",
    "parse_condition",
    "parse_ruleset",
    "ruleset_from_text",
]

ENGINES = ("durable", "vector")


def evaluate(ruleset: Ruleset, vignettes: pd.DataFrame, engine: str = "vector",
             margins: bool = False, *, catalogue: Catalogue) -> Evaluation:
    """Apply ``ruleset`` to a vignettes table with the chosen backend.

    Parameters
    ----------
    engine : {"vector", "durable"}
        ``durable`` is the reference engine (durable_rules, one vignette at a
        time); ``vector`` gives the same results with NumPy, far faster.
    margins : bool
        Also compute each rule's margin on each vignette (needed for ``trace()``).
    catalogue : Catalogue
        The catalogue the ruleset was checked against.
    """
    if engine == "vector":
        return evaluate_vector(ruleset, vignettes, margins=margins, catalogue=catalogue)
    if engine == "durable":
        return evaluate_durable(ruleset, vignettes, margins=margins, catalogue=catalogue)
    raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
