"""YAML loading that remembers where things are, so errors can point at them.

PyYAML's safe loader already knows where each node starts and ends; we keep
those positions on the mappings it builds. ``LineDict.line`` and
``LineDict.column`` are the 1-based position of the mapping,
``LineDict.key_line(key)`` the line of one of its keys, and :func:`span_of`
the :class:`Span` of any key or value on a path of keys and list indices.
:func:`caret` formats one error as ``file:line:column: message`` followed by
the offending line and a caret under the bad text.

Examples
--------
>>> data = loads_yaml("id: demo\\nrulesets: [a, bee]\\n")
>>> data.key_line("rulesets"), span_of(data, ("rulesets", 1))
(2, Span(line=2, column=15, end_line=2, end_column=18))
>>> print(caret("demo.yaml", "id: demo\\nrulesets: [a, bee]\\n", 2, 15, "unknown ruleset 'bee'",
...             length=3))
demo.yaml:2:15: unknown ruleset 'bee'
    2 | rulesets: [a, bee]
      |               ^^^
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import yaml

__all__ = ["LineDict", "Span", "YamlError", "caret", "line_of", "load_yaml", "loads_yaml", "span_of"]


class YamlError(ValueError):
    """A file that is not valid YAML; the message names the file and line.

    ``source``, ``line``, ``column`` (1-based; 0 when unknown), ``problem`` and the file's
    ``text`` are kept, and :meth:`pointed` formats them with :func:`caret`.
    """

    def __init__(self, message: str, *, source: str = "", line: int = 0, column: int = 0,
                 problem: str = "", text: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem or message
        self.text = text

    def pointed(self) -> str:
        """``file:line:column: problem`` with the offending line and a caret (see :func:`caret`)."""
        if not self.line:
            return str(self)
        return caret(self.source, self.text, self.line, self.column, self.problem)


class Span(NamedTuple):
    """Where a node is in its file: 1-based line and column of its first character, and of the
    character after its last one."""

    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def length(self) -> int:
        """How many characters a caret should underline (at least 1; the rest of the line when
        the node spans several lines)."""
        return max(1, self.end_column - self.column) if self.end_line == self.line else 1


def _span(node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


class LineDict(dict[Any, Any]):
    """A dict that knows where it, each of its keys and each of its values came from."""

    line: int = 0
    column: int = 0
    key_lines: dict[Any, int]
    key_spans: dict[Any, Span]
    value_spans: dict[Any, Span]
    #: For a value that is a list: the span of each item.
    item_spans: dict[Any, list[Span]]

    def key_line(self, key: Any) -> int:
        """The 1-based line of ``key`` (the mapping's own line when the key is not there)."""
        return getattr(self, "key_lines", {}).get(key, self.line)

    def key_span(self, key: Any) -> Span | None:
        """Where ``key`` is written; None when it is not in the mapping."""
        return getattr(self, "key_spans", {}).get(key)

    def value_span(self, key: Any) -> Span | None:
        """Where the value of ``key`` is written; None when it is not in the mapping."""
        return getattr(self, "value_spans", {}).get(key)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.column = node.start_mark.column + 1
    result.key_lines, result.key_spans, result.value_spans, result.item_spans = {}, {}, {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from exc
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
        result.key_spans[key] = _span(key_node)
        result.value_spans[key] = _span(value_node)
        if isinstance(value_node, yaml.SequenceNode):
            result.item_spans[key] = [_span(item) for item in value_node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def loads_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text; mappings become :class:`LineDict`.

    Raises
    ------
    YamlError
        ``source, line N: not valid YAML: ...``; :meth:`YamlError.pointed` adds the column,
        the offending line and a caret.

    Examples
    --------
    >>> loads_yaml("a: [1, 2]")["a"]
    [1, 2]
    >>> try:
    ...     loads_yaml("a: [1, 2", "x.yaml")
    ... except YamlError as exc:
    ...     print(exc.pointed())
    x.yaml:1:9: not valid YAML: expected ',' or ']', but got '<stream end>'
        1 | a: [1, 2
          |         ^
    """
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = f"not valid YAML: {exc.problem or exc}"
        if mark is None:
            raise YamlError(f"{source}: {problem}", source=source, problem=problem) from exc
        line, column = mark.line + 1, mark.column + 1
        raise YamlError(f"{source}, line {line}: {problem}", source=source, line=line,
                        column=column, problem=problem, text=text) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {exc}", source=source) from exc


def load_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file; errors name the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror or exc}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)) from exc
    return loads_yaml(text, source=str(path))


def line_of(data: Any, path: tuple[Any, ...]) -> int:
    """The line of the deepest key on ``path`` (keys and list indices) that exists in ``data``.

    Used to place a validation error (e.g. a pydantic error location) in the file; 0 when unknown.

    Examples
    --------
    >>> line_of(loads_yaml("a:\\n  b: 1\\n"), ("a", "b", "c"))
    2
    """
    node, line = data, 0
    for part in path:
        if isinstance(node, dict) and part in node:
            line = node.key_line(part) if isinstance(node, LineDict) else line
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def span_of(data: Any, path: tuple[Any, ...], *, key: bool = False) -> Span | None:
    """The span of the deepest node on ``path`` (keys and list indices) that exists in ``data``.

    With ``key=True`` and the whole path present, the span of the last key rather than of its
    value (for an unknown key). When the path stops early (a missing key), the span is that of
    the deepest key found; None when nothing on the path has a position.

    Examples
    --------
    >>> data = loads_yaml("panels:\\n  - panel: mixed\\n    studdy: 3\\n")
    >>> span_of(data, ("panels", 0, "studdy"), key=True)
    Span(line=3, column=5, end_line=3, end_column=11)
    >>> span_of(data, ("panels", 0, "panel"))
    Span(line=2, column=12, end_line=2, end_column=17)
    """
    node: Any = data
    found: Span | None = None
    if isinstance(data, LineDict) and data.line:
        found = Span(data.line, data.column, data.line, data.column + 1)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LineDict) and part in node:
            span = node.key_span(part) if last and key else node.value_span(part)
            if not last or not key:
                # a missing key further down points at the key that holds it
                found = node.key_span(part) or found
            if last:
                return span or found
            items = node.item_spans.get(part) if hasattr(node, "item_spans") else None
            node = node[part]
            if isinstance(node, list) and items is not None and i + 1 < len(path):
                index = path[i + 1]
                if isinstance(index, int) and 0 <= index < len(items):
                    if i + 1 == len(path) - 1:
                        return items[index]
                    found = items[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, LineDict) and last:
                return Span(node.line, node.column, node.line, node.column + 1)
        else:
            break
    return found


def caret(path_or_label: str | Path, text: str, line: int, column: int, message: str, *,
          length: int = 1) -> str:
    """One error as ``file:line:column: message``, then the offending line and a caret under it.

    ``line`` and ``column`` are 1-based; ``length`` is how many characters to underline. With
    ``line`` 0 (position unknown) only ``file: message``; with ``column`` 0 the line is shown
    without a caret.

    Examples
    --------
    >>> print(caret("x.yaml", "id: a\\nrounds: 3\\n", 2, 9, "rounds must be 1 or 2"))
    x.yaml:2:9: rounds must be 1 or 2
        2 | rounds: 3
          |         ^
    >>> caret("x.yaml", "", 0, 0, "no id")
    'x.yaml: no id'
    """
    label = str(path_or_label)
    if line <= 0:
        return f"{label}: {message}"
    lines = text.splitlines()
    where = f"{label}:{line}:{column}" if column > 0 else f"{label}:{line}"
    if line > len(lines):
        return f"{where}: {message}"
    source = lines[line - 1].rstrip("\r\n")
    gutter = f"{line:>5} | "
    out = [f"{where}: {message}", f"{gutter}{source}"]
    if column > 0:
        # keep tabs so the caret lines up however the terminal shows them
        pad = "".join(ch if ch == "\t" else " " for ch in source[:column - 1])
        pad += " " * max(0, column - 1 - len(source))
        width = max(1, min(length, max(1, len(source) - column + 1)))
        out.append(f"{' ' * (len(gutter) - 2)}| {pad}{'^' * width}")
    return "\n".join(out)
