"""Rulesets: YAML checklists parsed into frozen, catalogue-checked objects.

A ruleset file has ``id``, ``title``, ``hit_policy`` (``max``, ``first``,
``priority`` or ``collect``), ``default_level`` and ``rules``; each rule has
``id``, ``when`` (a condition, see :mod:`dsk.rules.language`), ``level`` and
optionally ``lead_agency``, ``because`` and ``priority`` (required, and only
meaningful, under ``hit_policy: priority``). Every error names the file, the
line, the rule and, for conditions, the column.

Hit policies (shared by every backend):

``max``
    the highest level among fired rules; the decisive rule is the first, in
    file order, of the fired rules at that level.
``first``
    the first fired rule in file order decides.
``priority``
    the fired rule with the highest ``priority`` decides (ties: file order).
``collect``
    every fired rule is reported; the decision is taken as under ``max``.

A vignette on which no rule fires gets ``default_level`` and is flagged
``defaulted``; fired rules that disagree on level flag ``conflict``.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.rules import load_ruleset, bundled_rulesets
>>> rs = load_ruleset(bundled_rulesets()["toxic-trio"], load_catalogue())
>>> rs.hit_policy, rs.default_level
('max', 1)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsk._paths import data_path
from dsk._yaml import LineDict, YamlError, load_yaml, loads_yaml
from dsk.catalogue import NEED_LEVELS, Catalogue
from dsk.rules.language import ConditionError, Node, names_in, normalize, parse_condition

__all__ = [
    "HIT_POLICIES",
    "Rule",
    "Ruleset",
    "RulesetError",
    "bundled_rulesets",
    "load_ruleset",
    "parse_ruleset",
    "ruleset_from_text",
]

HIT_POLICIES = ("max", "first", "priority", "collect")
_TOP_KEYS = ("id", "title", "hit_policy", "default_level", "rules", "description")
_RULE_KEYS = ("id", "when", "level", "lead_agency", "because", "priority")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RulesetError(ValueError):
    """A malformed ruleset; the message names file, line, rule, field and column."""

    def __init__(self, source: str, problem: str, line: int = 0, rule: str | None = None,
                 field: str | None = None, column: int = 0, pointer: str = "") -> None:
        where = source + (f", line {line}" if line else "")
        what = ""
        if rule is not None:
            what += f" rule {rule!r}"
        if field is not None:
            what += f" field {field!r}"
        if column:
            what += f" column {column}"
        message = f"{where}:{what}: {problem}"
        if pointer:
            message += "\n" + pointer
        super().__init__(message)
        self.source = source
        self.line = line
        self.rule = rule
        self.field = field
        self.column = column
        self.problem = problem


@dataclass(frozen=True)
class Rule:
    """One rule: when ``condition`` holds, the vignette is at least ``level``."""

    id: str
    when: str
    condition: Node
    level: int
    lead_agency: str | None = None
    because: str | None = None
    priority: int = 0
    line: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Catalogue names the condition reads."""
        return names_in(self.condition)


@dataclass(frozen=True)
class Ruleset:
    """A parsed, checked ruleset. ``version`` is a hash of its content."""

    id: str
    title: str
    hit_policy: str
    default_level: int
    rules: tuple[Rule, ...]
    version: str
    source: str = "<ruleset>"
    description: str = ""

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        """Every catalogue name the ruleset reads, sorted."""
        return tuple(sorted({n for r in self.rules for n in r.names}))

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"ruleset {self.id!r} has no rule {rule_id!r}")

    def decide(self, fired: list[int] | tuple[int, ...]) -> tuple[int, int | None]:
        """Need level and decisive rule index from fired rule indices (file order).

        This is the reference, one-vignette form of the hit policy; the vector
        backend implements the same in NumPy and the tests compare the two.
        """
        if not fired:
            return self.default_level, None
        if self.hit_policy == "first":
            best = fired[0]
        elif self.hit_policy == "priority":
            best = fired[0]
            for i in fired[1:]:
                if self.rules[i].priority > self.rules[best].priority:
                    best = i
        else:  # max, collect
            best = fired[0]
            for i in fired[1:]:
                if self.rules[i].level > self.rules[best].level:
                    best = i
        return self.rules[best].level, best


# ---------------------------------------------------------------- parsing


def bundled_rulesets() -> dict[str, Path]:
    """The rulesets shipped in ``experiments/rules/``, by file stem."""
    return {p.stem: p for p in sorted(data_path("experiments", "rules").glob("*.yaml"))}


def load_ruleset(path: str | Path, catalogue: Catalogue) -> Ruleset:
    """Read, parse and check a ruleset file.

    Raises
    ------
    RulesetError
        Naming the file, line, rule, field and (for conditions) column.
    """
    try:
        data = load_yaml(path)
    except YamlError as exc:
        raise _yaml_error(str(path), exc) from exc
    return parse_ruleset(data, str(path), catalogue=catalogue)


def _yaml_error(source: str, exc: YamlError) -> RulesetError:
    message = str(exc)
    match = re.match(re.escape(source) + r"(?:, line (\d+))?: (.*)", message, re.S)
    if match is None:
        return RulesetError(source, message)
    return RulesetError(source, match.group(2), int(match.group(1) or 0))


def ruleset_from_text(text: str, source: str = "<ruleset>", *, catalogue: Catalogue) -> Ruleset:
    """Parse a ruleset from YAML text (handy in tests and notebooks).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> text = "\\n".join(["id: tiny", "rules:", "  - id: told", "    when: disclosure", "    level: 4"])
    >>> rs = ruleset_from_text(text, catalogue=load_catalogue())
    >>> rs.id, [r.level for r in rs.rules]
    ('tiny', [4])
    """
    try:
        data = loads_yaml(text, source)
    except YamlError as exc:
        raise _yaml_error(source, exc) from exc
    return parse_ruleset(data, source, catalogue=catalogue)


def _line(node: Any, key: str | None = None) -> int:
    if isinstance(node, LineDict):
        return node.key_line(key) if key is not None else node.line
    return 0


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def parse_ruleset(data: Any, source: str = "<ruleset>", *, catalogue: Catalogue) -> Ruleset:
    """Check parsed YAML against the ruleset format and the catalogue.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> data = {"id": "tiny", "rules": [{"id": "told", "when": "disclosure", "level": 4}]}
    >>> parse_ruleset(data, catalogue=load_catalogue()).default_level
    1
    """
    cat = catalogue
    if not isinstance(data, dict):
        raise RulesetError(source, f"expected a mapping at the top level, got {_describe(data)}")
    for key in data:
        if key not in _TOP_KEYS:
            raise RulesetError(source, f"unknown field; fields are {', '.join(_TOP_KEYS)}",
                               _line(data, key), field=str(key))

    def text(key: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise RulesetError(source, "missing", _line(data), field=key)
        if not isinstance(value, str) or not value.strip():
            raise RulesetError(source, f"expected text, got {_describe(value)}",
                               _line(data, key), field=key)
        return value

    rid = text("id")
    if not _ID.match(rid):
        raise RulesetError(source, f"ids are letters, digits, '-', '_' and '.', got {rid!r}",
                           _line(data, "id"), field="id")
    title = text("title", rid)
    description = data.get("description") or ""
    policy = text("hit_policy", "max")
    if policy not in HIT_POLICIES:
        raise RulesetError(source, f"expected one of {', '.join(HIT_POLICIES)}, got {policy!r}",
                           _line(data, "hit_policy"), field="hit_policy")
    default_level = data.get("default_level", 1)
    if isinstance(default_level, bool) or default_level not in NEED_LEVELS:
        raise RulesetError(source, f"expected a need level 1-4, got {_describe(default_level)}",
                           _line(data, "default_level"), field="default_level")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesetError(source, f"expected a non-empty list of rules, got "
                           f"{_describe(raw_rules)}", _line(data, "rules"), field="rules")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for position, item in enumerate(raw_rules, start=1):
        rule = _parse_rule(item, position, source, cat, policy, _line(data, "rules"))
        if rule.id in seen:
            raise RulesetError(source, f"duplicate rule id (first at line {seen[rule.id]})",
                               rule.line, rule=rule.id, field="id")
        seen[rule.id] = rule.line
        rules.append(rule)
    canonical = {
        "id": rid, "title": title, "hit_policy": policy, "default_level": default_level,
        "rules": [
            {"id": r.id, "when": r.when, "level": r.level, "lead_agency": r.lead_agency,
             "because": r.because, "priority": r.priority}
            for r in rules
        ],
    }
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]
    return Ruleset(rid, title, policy, int(default_level), tuple(rules), digest, source,
                   str(description))


def _parse_rule(item: Any, position: int, source: str, cat: Catalogue, policy: str,
                list_line: int) -> Rule:
    if not isinstance(item, dict):
        raise RulesetError(source, f"rule {position} must be a mapping, got {_describe(item)}",
                           list_line)
    line = _line(item)
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RulesetError(source, f"rule {position} needs an id of letters, digits, '-', '_', "
                           f"'.', got {_describe(rule_id)}", _line(item, "id"), field="id")
    for key in item:
        if key not in _RULE_KEYS:
            raise RulesetError(source, f"unknown field; rule fields are {', '.join(_RULE_KEYS)}",
                               _line(item, key), rule=rule_id, field=str(key))
    when = item.get("when")
    if isinstance(when, bool) or isinstance(when, int):
        when = str(when)
    if not isinstance(when, str) or not when.strip():
        raise RulesetError(source, f"expected a condition, got {_describe(when)}",
                           _line(item, "when"), rule=rule_id, field="when")
    when = when.strip().replace("\n", " ")  # folded YAML may carry newlines
    try:
        condition = normalize(parse_condition(when, cat))
    except ConditionError as exc:
        raise RulesetError(source, exc.problem, _line(item, "when"), rule=rule_id, field="when",
                           column=exc.column, pointer=exc.pointer()) from exc
    level = item.get("level")
    if isinstance(level, bool) or level not in NEED_LEVELS:
        raise RulesetError(source, f"expected a need level 1-4, got {_describe(level)}",
                           _line(item, "level") if "level" in item else line, rule=rule_id,
                           field="level")
    lead = item.get("lead_agency")
    if lead is not None and lead not in cat.agencies:
        hint = ", ".join(cat.agency_ids)
        raise RulesetError(source, f"unknown agency {lead!r}; agencies are {hint}",
                           _line(item, "lead_agency"), rule=rule_id, field="lead_agency")
    because = item.get("because")
    if because is not None and (not isinstance(because, str) or not because.strip()):
        raise RulesetError(source, f"expected text, got {_describe(because)}",
                           _line(item, "because"), rule=rule_id, field="because")
    priority = item.get("priority")
    if policy == "priority" and priority is None:
        raise RulesetError(source, "hit_policy priority needs a priority on every rule", line,
                           rule=rule_id, field="priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        raise RulesetError(source, f"expected a whole number, got {_describe(priority)}",
                           _line(item, "priority"), rule=rule_id, field="priority")
    return Rule(rule_id, when, condition, int(level), lead,
                " ".join(because.split()) if because else None, int(priority or 0), line)
