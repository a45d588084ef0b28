"""Where a ruleset error is in its file: positions of YAML nodes and the caret excerpt.

:func:`caret` (the one formatter of :mod:`dsk._yaml`, shared with the experiment
configs) formats one problem as ``file:line:column: message`` followed by the
offending source line and a caret under the column. :class:`Positions`
composes the YAML text once (PyYAML keeps the start of every node) so a
problem found in the parsed data can be placed on the key or the value it came
from, and :meth:`Positions.in_scalar` maps a column of a condition (after YAML
has folded it onto one line) back to the file.

Examples
--------
>>> text = "id: demo\\nrules:\\n  - id: r\\n    when: disclosur\\n"
>>> where = Positions(text)
>>> where.value(("rules", 0, "when"))
(4, 11)
>>> print(caret("demo.yaml", text, 4, 11, "unknown name 'disclosur'"))
demo.yaml:4:11: unknown name 'disclosur'
    4 |     when: disclosur
      |           ^
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import yaml

from dsk._yaml import caret

__all__ = ["Positions", "caret", "did_you_mean", "duplicate_keys", "syntax_error"]

Path_ = tuple[Any, ...]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing.

    >>> did_you_mean("becuase", ["because", "level"])
    "; did you mean 'because'?"
    """
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def syntax_error(text: str) -> tuple[int, int, str] | None:
    """Line, column and problem of the first YAML syntax error in ``text``, if any."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = str(exc.problem or exc.context or exc)
        if mark is None:
            return 0, 0, problem
        return mark.line + 1, mark.column + 1, problem
    except yaml.YAMLError as exc:
        return 0, 0, str(exc)
    return None


def duplicate_keys(text: str) -> list[tuple[int, int, str, int]]:
    """Every repeated mapping key: (line, column, key, line of its first use)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    found: list[tuple[int, int, str, int]] = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
                if name and name in first:
                    found.append((key.start_mark.line + 1, key.start_mark.column + 1, name,
                                  first[name]))
                first.setdefault(name, key.start_mark.line + 1)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found)


class Positions:
    """Start positions (1-based line, column) of the keys and values of a YAML text.

    Paths are tuples of mapping keys and list indices, as in the parsed data.
    Unknown paths give ``(0, 0)``; an empty text knows no positions.
    """

    def __init__(self, text: str | None) -> None:
        self.root: yaml.Node | None = None
        self.lines = (text or "").splitlines()
        if text:
            try:
                self.root = yaml.compose(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self.root = None

    def _find(self, path: Path_) -> tuple[yaml.Node | None, yaml.Node | None]:
        """(key node, value node) at the end of ``path``."""
        key_node: yaml.Node | None = None
        node = self.root
        for part in path:
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        key_node, node = k, v
                        break
                else:
                    return None, None
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                    and 0 <= part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                return None, None
        return key_node, node

    @staticmethod
    def _at(node: yaml.Node | None) -> tuple[int, int]:
        if node is None:
            return 0, 0
        return node.start_mark.line + 1, node.start_mark.column + 1

    def key(self, path: Path_) -> tuple[int, int]:
        """Where the key ending ``path`` is (the value's position for a list item)."""
        key_node, node = self._find(path)
        return self._at(key_node if key_node is not None else node)

    def value(self, path: Path_) -> tuple[int, int]:
        """Where the value at ``path`` starts."""
        return self._at(self._find(path)[1])

    def in_scalar(self, path: Path_, text: str, column: int) -> tuple[int, int]:
        """File position of ``column`` (1-based) of ``text``, the folded, stripped scalar at ``path``.

        Counts non-blank characters, which folding and stripping keep: the
        ``k``-th non-blank character of ``text`` is the ``k``-th of the scalar in
        the file. A column past the end of ``text`` lands just after its last
        character. Falls back to the start of the value.
        """
        node = self._find(path)[1]
        if not isinstance(node, yaml.ScalarNode) or not self.lines:
            return self._at(node)
        wanted = sum(1 for ch in text[: max(column - 1, 0)] if not ch.isspace())
        line, col = node.start_mark.line, node.start_mark.column
        end_line, end_col = node.end_mark.line, node.end_mark.column
        if node.style in ("|", ">"):  # block scalar: the text starts on the next line
            line, col = line + 1, 0
        elif node.style in ("'", '"'):
            col, end_col = col + 1, end_col - 1
        seen, last = 0, self._at(node)
        while line < len(self.lines) and (line, col) < (end_line, end_col + 1):
            source = self.lines[line]
            while col < len(source) and (line, col) < (end_line, end_col):
                if not source[col].isspace():
                    if seen == wanted:
                        return line + 1, col + 1
                    seen += 1
                    last = (line + 1, col + 2)
                col += 1
            line, col = line + 1, 0
        return last
