"""Rulesets: YAML checklists parsed into frozen, catalogue-checked objects.

A ruleset file has ``id``, ``title``, ``hit_policy`` (``max``, ``first``,
``priority`` or ``collect``), ``default_level`` and ``rules``; each rule has
``id``, ``when`` (a condition, see :mod:`dsk.rules.language`), ``level`` and
optionally ``lead_agency``, ``because`` and ``priority`` (required, and only
meaningful, under ``hit_policy: priority``). A file is checked in one pass:
:class:`RulesetError` lists every problem (unknown fields and names, with the
closest valid one; out-of-range values; syntax errors in any number of
conditions; duplicate rule ids and keys), each as ``file:line:column`` with the
source line and a caret under the bad text.

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
from typing import Any, cast

from dsk._paths import data_path
from dsk._yaml import YamlError, line_of, loads_yaml
from dsk.catalogue import NEED_LEVELS, Catalogue
from dsk.rules._errors import Positions, did_you_mean, duplicate_keys, syntax_error
from dsk.rules._errors import caret as _caret
from dsk.rules.language import ConditionError, Node, names_in, normalize, parse_condition

__all__ = [
    "HIT_POLICIES",
    "Rule",
    "Ruleset",
    "RulesetError",
    "RulesetProblem",
    "bundled_rulesets",
    "load_ruleset",
    "parse_ruleset",
    "ruleset_from_text",
]

HIT_POLICIES = ("max", "first", "priority", "collect")
_TOP_KEYS = ("id", "title", "hit_policy", "default_level", "rules", "description")
_RULE_KEYS = ("id", "when", "level", "lead_agency", "because", "priority")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RulesetProblem:
    """One problem in a ruleset file: where it is (1-based line and column) and what it is.

    ``excerpt`` is the message with the offending source line and a caret under
    the column, when the file's text is known.
    """

    source: str
    problem: str
    line: int = 0
    column: int = 0
    rule: str | None = None
    field: str | None = None
    excerpt: str = ""

    @property
    def message(self) -> str:
        """The problem, prefixed with the rule and field it concerns."""
        what = []
        if self.rule is not None:
            what.append(f"rule {self.rule!r}")
        if self.field is not None:
            what.append(f"field {self.field!r}")
        return (", ".join(what) + ": " if what else "") + self.problem

    def __str__(self) -> str:
        return self.excerpt or _caret(self.source, "", self.line, self.column, self.message)


class RulesetError(ValueError):
    """A malformed ruleset, with every problem found in one pass (``errors``, in file order).

    Each problem names the file, line, column, rule and field, and shows the
    source line with a caret under the bad text. ``source``, ``line``,
    ``column``, ``rule``, ``field`` and ``problem`` are those of the first.
    """

    def __init__(self, source: str, errors: list[RulesetProblem] | tuple[RulesetProblem, ...]
                 ) -> None:
        if not errors:
            raise ValueError("a RulesetError needs at least one problem")
        self.errors = tuple(sorted(errors, key=lambda e: (e.line, e.column)))
        first = self.errors[0]
        self.source = source
        self.line, self.column = first.line, first.column
        self.rule, self.field, self.problem = first.rule, first.field, first.problem
        blocks = [str(e) for e in self.errors]
        if len(blocks) > 1:
            blocks.insert(0, f"{source}: {len(blocks)} errors")
        super().__init__("\n".join(blocks))


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
        Listing every problem in the file, each with its line, column, rule
        and field and a caret under the bad text.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesetError(source, [RulesetProblem(source, f"cannot read: {exc.strerror or exc}")]
                           ) from exc
    except UnicodeDecodeError as exc:
        raise RulesetError(source, [RulesetProblem(
            source, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from exc
    return ruleset_from_text(text, source, catalogue=catalogue)


def ruleset_from_text(text: str, source: str = "<ruleset>", *, catalogue: Catalogue) -> Ruleset:
    """Parse a ruleset from YAML text (handy in tests and notebooks).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> text = "\\n".join(["id: tiny", "rules:", "  - id: told", "    when: disclosure", "    level: 4"])
    >>> rs = ruleset_from_text(text, catalogue=load_catalogue())
    >>> rs.id, [r.level for r in rs.rules]
    ('tiny', [4])

    Every problem is reported at once, each under its line:

    >>> bad = text.replace("disclosure", "disclosur").replace("level: 4", "level: 5")
    >>> try:
    ...     ruleset_from_text(bad, "tiny.yaml", catalogue=load_catalogue())
    ... except RulesetError as exc:
    ...     print(exc)
    tiny.yaml: 2 errors
    tiny.yaml:4:11: rule 'told', field 'when': unknown name 'disclosur'; did you mean 'disclosure'?
        4 |     when: disclosur
          |           ^
    tiny.yaml:5:12: rule 'told', field 'level': expected a need level 1-4, got int 5
        5 |     level: 5
          |            ^
    """
    try:
        data = loads_yaml(text, source)
    except YamlError as exc:
        raise _yaml_error(source, text, exc) from exc
    return parse_ruleset(data, source, catalogue=catalogue, text=text)


def _yaml_error(source: str, text: str, exc: YamlError) -> RulesetError:
    """Syntax errors (the first) and duplicate keys (all of them), placed with a caret."""
    problems = [RulesetProblem(source, f"duplicate key {key!r} (first at line {first})", line,
                               column, excerpt=_caret(source, text, line, column,
                                                      f"duplicate key {key!r} (first at line "
                                                      f"{first})"))
                for line, column, key, first in duplicate_keys(text)]
    syntax = syntax_error(text)
    if syntax is not None:
        line, column, problem = syntax
        message = f"not valid YAML: {problem}"
        problems = [RulesetProblem(source, message, line, column,
                                   excerpt=_caret(source, text, line, column, message))]
    if not problems:
        message = str(exc).removeprefix(f"{source}: ")
        problems = [RulesetProblem(source, message, excerpt=_caret(source, "", 0, 0, message))]
    return RulesetError(source, problems)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


class _Problems:
    """Collects the problems of one ruleset, each placed in the file."""

    def __init__(self, source: str, text: str | None, data: Any) -> None:
        self.source = source
        self.text = text or ""
        self.data = data
        self._where: Positions | None = None
        self.found: list[RulesetProblem] = []

    @property
    def where(self) -> Positions:
        """Positions in the text, composed only once a problem needs them."""
        if self._where is None:
            self._where = Positions(self.text)
        return self._where

    def line(self, path: tuple[Any, ...], node: Any) -> int:
        """The line a parsed mapping starts on (from the data, else from the text)."""
        return getattr(node, "line", 0) or self.where.value(path)[0]

    def _line(self, path: tuple[Any, ...]) -> int:
        """The line from the parsed data, when the text is not known."""
        return line_of(self.data, path) if path else getattr(self.data, "line", 0)

    def add(self, problem: str, path: tuple[Any, ...], *, at: str = "value",
            rule: str | None = None, field: str | None = None,
            position: tuple[int, int] | None = None) -> None:
        """Record ``problem`` at the key or value (``at``) ending ``path``, or at ``position``."""
        if position is None:
            position = self.where.key(path) if at == "key" else self.where.value(path)
        line, column = position
        if not line:
            line, column = self._line(path), 0
        item = RulesetProblem(self.source, problem, line, column, rule, field)
        excerpt = _caret(self.source, self.text, line, column, item.message)
        self.found.append(RulesetProblem(self.source, problem, line, column, rule, field, excerpt))


def parse_ruleset(data: Any, source: str = "<ruleset>", *, catalogue: Catalogue,
                  text: str | None = None) -> Ruleset:
    """Check parsed YAML against the ruleset format and the catalogue.

    Every problem is collected before :class:`RulesetError` is raised, so one
    pass reports them all. ``text``, the YAML the data came from, lets each
    problem carry its column and a caret excerpt; without it problems carry the
    line (when ``data`` came from :func:`dsk._yaml.loads_yaml`).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> data = {"id": "tiny", "rules": [{"id": "told", "when": "disclosure", "level": 4}]}
    >>> parse_ruleset(data, catalogue=load_catalogue()).default_level
    1
    """
    cat = catalogue
    out = _Problems(source, text, data)
    if not isinstance(data, dict):
        out.add(f"expected a mapping at the top level, got {_describe(data)}", (),
                position=(1, 1) if text else (0, 0))
        raise RulesetError(source, out.found)
    for key in data:
        if key not in _TOP_KEYS:
            out.add(f"unknown field{did_you_mean(key, _TOP_KEYS)} (fields are "
                    f"{', '.join(_TOP_KEYS)})", (key,), at="key", field=str(key))

    def text_field(key: str, default: str | None) -> str | None:
        value = data.get(key, default)
        if value is None:
            out.add("missing", (), position=(1, 1) if text else (0, 0), field=key)
            return None
        if not isinstance(value, str) or not value.strip():
            out.add(f"expected text, got {_describe(value)}", (key,), field=key)
            return None
        return value

    rid = text_field("id", None)
    if rid is not None and not _ID.match(rid):
        out.add(f"ids are letters, digits, '-', '_' and '.', got {rid!r}", ("id",), field="id")
    title = text_field("title", rid or "ruleset") or ""
    description = data.get("description") or ""
    policy = text_field("hit_policy", "max")
    if policy is not None and policy not in HIT_POLICIES:
        out.add(f"expected one of {', '.join(HIT_POLICIES)}, got {policy!r}"
                f"{did_you_mean(policy, HIT_POLICIES)}", ("hit_policy",), field="hit_policy")
        policy = None
    default_level = data.get("default_level", 1)
    if isinstance(default_level, bool) or default_level not in NEED_LEVELS:
        out.add(f"expected a need level 1-4, got {_describe(default_level)}",
                ("default_level",), field="default_level")
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        out.add(f"expected a non-empty list of rules, got {_describe(raw_rules)}",
                ("rules",) if "rules" in data else (),
                position=None if "rules" in data else ((1, 1) if text else (0, 0)),
                field="rules")
    else:
        seen: dict[str, int] = {}
        for index, item in enumerate(raw_rules):
            rule = _parse_rule(item, index, out, cat, policy)
            if rule is not None:
                rules.append(rule)
            rule_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(rule_id, str):
                continue
            if rule_id in seen:
                out.add(f"duplicate rule id (first at line {seen[rule_id]})",
                        ("rules", index, "id"), rule=rule_id, field="id")
            else:
                seen[rule_id] = out.line(("rules", index), item)
    if out.found:
        raise RulesetError(source, out.found)
    assert rid is not None and policy is not None  # noqa: S101 - no problems were found
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


def _in_file(problem: str, out: _Problems, path: tuple[Any, ...], when: str) -> str:
    """A condition's message with "at column N" of the condition turned into the file's column."""
    if not out.text:
        return problem

    def place(match: re.Match[str]) -> str:
        line, column = out.where.in_scalar(path, when, int(match.group(1)))
        here = out.where.in_scalar(path, when, 1)[0]
        return f"at column {column}" if line == here else f"at line {line}, column {column}"

    return re.sub(r"at column (\d+)", place, problem)


def _parse_rule(item: Any, index: int, out: _Problems, cat: Catalogue,
                policy: str | None) -> Rule | None:
    """One rule, or None after recording its problems in ``out``."""
    here: tuple[Any, ...] = ("rules", index)
    position = index + 1
    if not isinstance(item, dict):
        out.add(f"rule {position} must be a mapping, got {_describe(item)}", here)
        return None
    before = len(out.found)
    line = out.line(here, item)
    rule_id = item.get("id")
    label = rule_id if isinstance(rule_id, str) and rule_id else f"#{position}"
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        out.add(f"rule {position} needs an id of letters, digits, '-', '_', '.', got "
                f"{_describe(rule_id)}", here + ("id",) if "id" in item else here, field="id")
    for key in item:
        if key not in _RULE_KEYS:
            out.add(f"unknown field{did_you_mean(key, _RULE_KEYS)} (rule fields are "
                    f"{', '.join(_RULE_KEYS)})", here + (key,), at="key", rule=label,
                    field=str(key))
    when = item.get("when")
    if isinstance(when, bool) or isinstance(when, int):
        when = str(when)
    condition: Node | None = None
    if not isinstance(when, str) or not when.strip():
        out.add(f"expected a condition, got {_describe(when)}",
                here + ("when",) if "when" in item else here, rule=label, field="when")
    else:
        when = when.strip().replace("\n", " ")  # folded YAML may carry newlines
        try:
            condition = normalize(parse_condition(when, cat))
        except ConditionError as exc:
            for error in exc.errors:
                out.add(_in_file(error.problem, out, here + ("when",), when), here + ("when",),
                        rule=label, field="when",
                        position=out.where.in_scalar(here + ("when",), when, error.column)
                        if out.text else None)
    level = item.get("level")
    if isinstance(level, bool) or level not in NEED_LEVELS:
        out.add(f"expected a need level 1-4, got {_describe(level)}",
                here + ("level",) if "level" in item else here, rule=label, field="level")
    lead = item.get("lead_agency")
    if lead is not None and lead not in cat.agencies:
        out.add(f"unknown agency {lead!r}{did_you_mean(str(lead), cat.agency_ids)} (agencies "
                f"are {', '.join(cat.agency_ids)})", here + ("lead_agency",), rule=label,
                field="lead_agency")
    because = item.get("because")
    if because is not None and (not isinstance(because, str) or not because.strip()):
        out.add(f"expected text, got {_describe(because)}", here + ("because",), rule=label,
                field="because")
    priority = item.get("priority")
    if policy == "priority" and priority is None:
        out.add("hit_policy priority needs a priority on every rule", here, rule=label,
                field="priority")
    elif priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        out.add(f"expected a whole number, got {_describe(priority)}", here + ("priority",),
                rule=label, field="priority")
    if len(out.found) > before or condition is None:
        return None
    return Rule(str(rule_id), str(when), condition, int(cast(int, level)), lead,
                " ".join(because.split()) if because else None, int(priority or 0), line)
