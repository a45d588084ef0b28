"""``dsk rules check``: errors and warnings about a ruleset file.

Errors (the file cannot be used): YAML problems, unknown fields, names,
levels and agencies, type and range errors in conditions. Warnings and notes
come from the catalogue's ranges and from a large random sample of designed
vignettes:

* a rule that can never fire given the catalogue's ranges (warning);
* under ``hit_policy: first``, a rule shadowed by earlier rules, either
  always (its condition implies an earlier one) or on the whole sample (warning);
* a rule that never fires on the sample (warning);
* a rule without a ``because`` text (note);
* the share of sample vignettes that fall to the default level (note);
* pairs of rules that fire together with different levels, most frequent
  first (note).

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules import bundled_rulesets
>>> report = check_ruleset(bundled_rulesets()["toxic-trio"], load_catalogue(), sample_size=2000)
>>> report.ok
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.rules.margins import Branch, branches
from dsk.rules.ruleset import Ruleset, RulesetError, load_ruleset
from dsk.rules.vector import evaluate_vector

__all__ = ["Finding", "LintReport", "check_ruleset", "lint_ruleset"]

SEVERITIES = ("error", "warning", "note")


@dataclass(frozen=True)
class Finding:
    """One problem or observation; ``line`` and ``rule`` locate it in the file."""

    severity: str
    message: str
    line: int = 0
    rule: str | None = None
    column: int = 0

    def format(self, source: str) -> str:
        where = source + (f":{self.line}" if self.line else "") + (
            f":{self.column}" if self.line and self.column else "")
        who = f" rule {self.rule!r}:" if self.rule else ""
        return f"{where}: {self.severity}:{who} {self.message}"


@dataclass
class LintReport:
    source: str
    findings: list[Finding] = field(default_factory=list)
    ruleset: Ruleset | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings and notes allowed)."""
        return not self.errors

    def lines(self) -> list[str]:
        return [f.format(self.source) for f in self.findings]


def check_ruleset(path: str | Path, catalogue: Catalogue,
                  sample: pd.DataFrame | None = None, sample_size: int = 20000,
                  random_state: int = 0) -> LintReport:
    """Check a ruleset file; every parse error becomes an error finding (line and column).

    ``sample`` (default: ``sample_size`` random vignettes drawn with
    ``random_state``) is what the rules are tried on.
    """
    cat = catalogue
    try:
        ruleset = load_ruleset(path, cat)
    except RulesetError as exc:
        findings = [Finding("error", (f"field {e.field!r}: " if e.field else "") + e.problem,
                            e.line, e.rule, e.column) for e in exc.errors]
        return LintReport(str(path), findings)
    return lint_ruleset(ruleset, cat, sample, sample_size, random_state)


def _implies(branch: Branch, other: Branch) -> bool:
    """Every vignette in ``branch`` is in ``other``."""
    mine = dict(branch)
    for name, allowed in other:
        if name not in mine or not mine[name] <= allowed:
            return False
    return True


def lint_ruleset(ruleset: Ruleset, catalogue: Catalogue,
                 sample: pd.DataFrame | None = None, sample_size: int = 20000,
                 random_state: int = 0) -> LintReport:
    """Warnings and notes for a parsed ruleset (see the module docstring).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.rules import bundled_rulesets, load_ruleset
    >>> cat = load_catalogue()
    >>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], cat)
    >>> [f.severity for f in lint_ruleset(rs, cat, sample_size=500).findings if f.severity == "error"]
    []
    """
    cat = catalogue
    report = LintReport(ruleset.source, ruleset=ruleset)
    add = report.findings.append
    rule_branches = [branches(rule.condition, cat) for rule in ruleset.rules]
    for rule, bs in zip(ruleset.rules, rule_branches, strict=True):
        if not bs:
            add(Finding("warning", f"can never fire: no values within the catalogue's ranges "
                        f"satisfy {rule.when!r}", rule.line, rule.id))
        if not rule.because:
            add(Finding("note", "no 'because' text to explain the rule", rule.line, rule.id))
    if ruleset.hit_policy == "first":
        for j, rule in enumerate(ruleset.rules):
            earlier = [b for bs in rule_branches[:j] for b in bs]
            if rule_branches[j] and all(any(_implies(b, e) for e in earlier)
                                        for b in rule_branches[j]):
                add(Finding("warning", "shadowed under hit_policy first: whenever it holds, an "
                            "earlier rule holds too, so it can never decide", rule.line, rule.id))
    if sample is None:
        from dsk.design import random_vignettes

        sample = random_vignettes(sample_size, random_state, cat, narratives=False)
    result = evaluate_vector(ruleset, sample, catalogue=cat)
    n = len(result)
    fired = result.fired
    already = {(f.rule, f.message.split(":")[0]) for f in report.findings}
    for j, rule in enumerate(ruleset.rules):
        if rule_branches[j] and not fired[:, j].any():
            add(Finding("warning", f"never fired on {n:,} random vignettes", rule.line, rule.id))
        elif (ruleset.hit_policy == "first" and fired[:, j].any()
              and (rule.id, "shadowed under hit_policy first") not in already
              and not (result.decisive == j).any()):
            add(Finding("warning", f"shadowed under hit_policy first on all {n:,} random "
                        "vignettes: it fired but never decided", rule.line, rule.id))
    add(Finding("note", f"{result.defaulted.mean():.1%} of {n:,} random vignettes fall to the "
                f"default level {ruleset.default_level}"))
    levels = np.array([r.level for r in ruleset.rules])
    together = fired.T.astype(np.int64) @ fired.astype(np.int64)
    pairs = [(int(together[i, j]), i, j) for i in range(len(levels))
             for j in range(i + 1, len(levels)) if levels[i] != levels[j] and together[i, j]]
    pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
    if pairs:
        shown = "; ".join(f"{ruleset.rules[i].id} (level {levels[i]}) with "
                          f"{ruleset.rules[j].id} (level {levels[j]}): {count:,}"
                          for count, i, j in pairs[:5])
        add(Finding("note", f"{len(pairs)} pairs of rules with different levels fire together "
                    f"on the sample; most often: {shown}"))
    return report
