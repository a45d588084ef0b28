"""The condition language of rulesets: tokenizer, recursive-descent parser, AST.

A condition compares catalogue names with whole numbers or named levels and
combines comparisons with ``and``, ``or``, ``not`` and parentheses::

    parental_substance_misuse >= affecting_care and (domestic_abuse >= 2 or not age_band > infant)

A bare name means "present" (``disclosure`` is ``disclosure >= 1``). Nothing
is ever passed to ``eval``: the text is tokenized and parsed into the small
frozen AST below, which every backend compiles from.

Grammar::

    condition := or_expr
    or_expr   := and_expr ("or" and_expr)*
    and_expr  := not_expr ("and" not_expr)*
    not_expr  := "not" not_expr | atom
    atom      := "(" or_expr ")" | NAME [OP value]
    OP        := "<" | "<=" | ">" | ">=" | "==" | "!="
    value     := INTEGER | NAME          (a named level of the compared name)

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> cat = load_catalogue()
>>> node = parse_condition("age_band <= infant and domestic_abuse >= current", cat)
>>> to_text(node)
'age_band <= 1 and domestic_abuse >= 2'
>>> to_text(negate(node))
'age_band > 1 or domestic_abuse < 2'
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsk.catalogue import Catalogue

__all__ = [
    "OPERATORS",
    "And",
    "Compare",
    "ConditionError",
    "Node",
    "Not",
    "Or",
    "evaluate_row",
    "names_in",
    "negate",
    "normalize",
    "parse_condition",
    "to_text",
]

OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
_NEGATED = {"<": ">=", ">=": "<", "<=": ">", ">": "<=", "==": "!=", "!=": "=="}
_KEYWORDS = ("and", "or", "not")


class ConditionError(ValueError):
    """A malformed condition. ``column`` is the 1-based position in the condition text.

    ``errors`` holds every problem found in the condition, in column order
    (this one first): unknown names, unknown levels and out-of-range values
    are all reported, and parsing stops at the first syntax error.
    """

    def __init__(self, problem: str, column: int, text: str) -> None:
        self.problem = problem
        self.column = column
        self.text = text
        self.errors: tuple[ConditionError, ...] = (self,)
        super().__init__(f"column {column}: {problem}")

    def pointer(self) -> str:
        """The condition with a caret under the offending position."""
        return f"    {self.text}\n    {' ' * (self.column - 1)}^"


@dataclass(frozen=True)
class Compare:
    """``name op value``; ``column`` is where the comparison starts in the text (1-based)."""

    name: str
    op: str
    value: int
    column: int = 0


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Compare | And | Or | Not


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    r"\s*(?:(?P<int>-?\d+(?:\.\d*)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>)|(?P<paren>[()])|(?P<bad>\S))"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # int | name | keyword | op | ( | ) | end
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:  # only trailing whitespace left
            break
        kind = match.lastgroup
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "bad":
            hint = " (use == to compare)" if value == "=" else ""
            if value in "&|!":
                hint = " (write and, or, not)"
            raise ConditionError(f"unexpected character {value!r}{hint}", column, text)
        if kind == "name" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        elif kind == "paren":
            kind = value
        tokens.append(_Token(kind, value, column))
        pos = match.end()
    tokens.append(_Token("end", "", len(text.rstrip()) + 1))
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, catalogue: Catalogue) -> None:
        self.text = text
        self.catalogue = catalogue
        self.tokens = _tokenize(text)
        self.i = 0
        self.found: list[ConditionError] = []  # problems that do not stop the parse

    def fail(self, problem: str, token: _Token) -> ConditionError:
        return ConditionError(problem, token.column, self.text)

    def note(self, problem: str, token: _Token) -> None:
        """Record a problem and carry on parsing, so that every one is reported."""
        self.found.append(self.fail(problem, token))

    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node:
        try:
            node = self._parse()
        except ConditionError as exc:
            self.found.append(exc)
        if self.found:
            found = sorted(self.found, key=lambda e: e.column)
            first = found[0]
            first.errors = tuple(found)
            raise first
        return node

    def _parse(self) -> Node:
        if self.peek.kind == "end":
            raise self.fail("empty condition", self.peek)
        node = self.or_expr()
        if self.peek.kind != "end":
            token = self.peek
            what = "')'" if token.kind == ")" else repr(token.text)
            raise self.fail(f"unexpected {what}; expected and, or or the end of the condition",
                            token)
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek.kind == "keyword" and self.peek.text == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.peek.kind == "keyword" and self.peek.text == "and":
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        if self.peek.kind == "keyword" and self.peek.text == "not":
            self.take()
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Node:
        token = self.take()
        if token.kind == "(":
            node = self.or_expr()
            if self.peek.kind != ")":
                raise self.fail(f"expected ')' to close the '(' at column {token.column}",
                                self.peek)
            self.take()
            return node
        if token.kind != "name":
            found = "the end of the condition" if token.kind == "end" else repr(token.text)
            raise self.fail(f"expected a catalogue name, got {found}", token)
        known = self.check_name(token)
        name = token.text
        if self.peek.kind != "op":
            if self.peek.kind in ("int", "name"):
                raise self.fail(f"expected a comparison (<, <=, >, >=, ==, !=) after {name!r}",
                                self.peek)
            value = self.check_value(name, 1, token) if known else 1
            return Compare(name, ">=", value, token.column)
        op = self.take().text
        value_token = self.take()
        value = self.value(name, value_token, known)
        return Compare(name, op, value, token.column)

    def check_name(self, token: _Token) -> bool:
        """Whether the name is in the catalogue; an unknown one is noted, with the closest."""
        name = token.text
        if name not in self.catalogue.names():
            hint = self.catalogue.closest_names(name)
            self.note(
                f"unknown name {name!r}"
                + (f"; did you mean {' or '.join(map(repr, hint))}?" if hint else ""),
                token,
            )
            return False
        return True

    def value(self, name: str, token: _Token, known: bool = True) -> int:
        if token.kind == "int":
            if "." in token.text:
                self.note(f"{name!r} takes whole numbers, got {token.text}", token)
                return 0
            return self.check_value(name, int(token.text), token) if known else int(token.text)
        if token.kind == "name":
            if not known:
                return 0
            levels = self.catalogue.level_names(name)
            if not levels:
                self.note(f"{name!r} is a count and takes numbers, not {token.text!r}", token)
                return 0
            if token.text not in levels:
                self.note(f"{name!r} has no level {token.text!r}; its levels are "
                          + ", ".join(f"{lv} ({i})" for i, lv in enumerate(levels)), token)
                return 0
            return levels.index(token.text)
        found = "the end of the condition" if token.kind == "end" else repr(token.text)
        raise self.fail(f"expected a number or a level of {name!r} after the comparison, "
                        f"got {found}", token)

    def check_value(self, name: str, value: int, token: _Token) -> int:
        lo, hi = self.catalogue.value_range(name)
        if not lo <= value <= hi:
            self.note(f"value {value} is out of range for {name!r} ({lo} to {hi})", token)
        return value


def parse_condition(text: str, catalogue: Catalogue) -> Node:
    """Parse and check one condition against the catalogue.

    Raises
    ------
    ConditionError
        With the 1-based ``column`` of the problem: a syntax error, an unknown
        name (with the closest catalogue names), an unknown level name or a
        value outside the name's range. Its ``errors`` lists every problem in
        the condition, up to the first syntax error.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> try:
    ...     parse_condition("toxic_trio >= 5 or disclosur", load_catalogue())
    ... except ConditionError as exc:
    ...     print([(e.column, e.problem) for e in exc.errors])
    [(15, "value 5 is out of range for 'toxic_trio' (0 to 3)"), \
(20, "unknown name 'disclosur'; did you mean 'disclosure'?")]
    """
    if not isinstance(text, str):
        raise ConditionError(f"expected condition text, got {type(text).__name__}", 1, str(text))
    return _Parser(text, catalogue).parse()


# ---------------------------------------------------------------- transformations


def negate(node: Node) -> Node:
    """The negation of ``node``, pushed down to the comparisons (De Morgan)."""
    if isinstance(node, Compare):
        return Compare(node.name, _NEGATED[node.op], node.value, node.column)
    if isinstance(node, And):
        return Or(tuple(negate(p) for p in node.parts))
    if isinstance(node, Or):
        return And(tuple(negate(p) for p in node.parts))
    return normalize(node.part)


def normalize(node: Node) -> Node:
    """Negation normal form: no ``Not`` nodes, nested and/or flattened."""
    if isinstance(node, Compare):
        return node
    if isinstance(node, Not):
        return negate(node.part)
    kind = type(node)
    parts: list[Node] = []
    for part in node.parts:
        part = normalize(part)
        same = isinstance(part, kind)
        parts.extend(part.parts if same else (part,))  # type: ignore[union-attr]
    return kind(tuple(parts))


def names_in(node: Node) -> tuple[str, ...]:
    """Names a condition reads, in order of first appearance."""
    seen: dict[str, None] = {}
    for cmp in _comparisons(node):
        seen.setdefault(cmp.name, None)
    return tuple(seen)


def _comparisons(node: Node) -> Iterator[Compare]:
    if isinstance(node, Compare):
        yield node
    elif isinstance(node, Not):
        yield from _comparisons(node.part)
    else:
        for part in node.parts:
            yield from _comparisons(part)


def to_text(node: Node, _parent: str = "") -> str:
    """Render a condition back to text (levels as numbers)."""
    if isinstance(node, Compare):
        return f"{node.name} {node.op} {node.value}"
    if isinstance(node, Not):
        return f"not {to_text(node.part, 'not')}"
    word = "and" if isinstance(node, And) else "or"
    text = f" {word} ".join(to_text(p, word) for p in node.parts)
    return f"({text})" if _parent and (_parent != word) else text


def compare(value: int, op: str, threshold: int) -> bool:
    """Apply one comparison operator."""
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    if op == ">=":
        return value >= threshold
    if op == "==":
        return value == threshold
    return value != threshold


def evaluate_row(node: Node, row: Mapping[str, int]) -> bool:
    """Evaluate a condition on one vignette (a mapping from name to value)."""
    if isinstance(node, Compare):
        return compare(int(row[node.name]), node.op, node.value)
    if isinstance(node, Not):
        return not evaluate_row(node.part, row)
    if isinstance(node, And):
        return all(evaluate_row(p, row) for p in node.parts)
    return any(evaluate_row(p, row) for p in node.parts)
