"""YAML loading that remembers line numbers, so errors can name the line.

PyYAML's safe loader already knows where each node starts; we keep that
position on the mappings it builds. ``LineDict.line`` is the 1-based line of
the mapping, and ``LineDict.key_line(key)`` the line of one of its keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["LineDict", "YamlError", "line_of", "load_yaml", "loads_yaml"]


class YamlError(ValueError):
    """A file that is not valid YAML; the message names the file and line."""


class LineDict(dict[Any, Any]):
    """A dict that knows the line it, and each of its keys, came from."""

    line: int = 0
    key_lines: dict[Any, int]

    def key_line(self, key: Any) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
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
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def loads_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML text; mappings become :class:`LineDict`."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        raise YamlError(f"{where}: not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {exc}") from exc


def load_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return loads_yaml(text, source=str(path))


def line_of(data: Any, path: tuple[Any, ...]) -> int:
    """The line of the deepest key on ``path`` (keys and list indices) that exists in ``data``.

    Used to place a validation error (e.g. a pydantic error location) in the file; 0 when unknown.
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
