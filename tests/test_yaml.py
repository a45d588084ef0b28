"""dsk._yaml: positions of keys and values, and the caret formatter other modules share."""

import pytest

from dsk._yaml import Span, YamlError, caret, line_of, loads_yaml, span_of

TEXT = """id: demo
rulesets: [threshold-of-need, cont-of-concerns]
panels:
  - panel: mixed-12
    studdy: 3
vignettes:
  set: core-60
"""


def test_spans_of_keys_values_and_list_items():
    data = loads_yaml(TEXT)
    assert span_of(data, ("rulesets", 1)) == Span(2, 31, 2, 47)
    assert span_of(data, ("panels", 0, "studdy"), key=True) == Span(5, 5, 5, 11)
    assert span_of(data, ("panels", 0, "studdy")) == Span(5, 13, 5, 14)
    assert span_of(data, ("vignettes", "set")) == Span(7, 8, 7, 15)
    # a missing key points at the key that should hold it
    assert span_of(data, ("vignettes", "design")) == Span(6, 1, 6, 10)
    assert line_of(data, ("panels", 0, "studdy")) == 5


def test_caret_underlines_the_bad_text():
    data = loads_yaml(TEXT)
    span = span_of(data, ("rulesets", 1))
    assert span is not None
    text = caret("x.yaml", TEXT, span.line, span.column, "unknown ruleset", length=span.length)
    assert text.splitlines() == [
        "x.yaml:2:31: unknown ruleset",
        "    2 | rulesets: [threshold-of-need, cont-of-concerns]",
        "      |                               ^^^^^^^^^^^^^^^^",
    ]


def test_caret_keeps_tabs_and_degrades_without_a_position():
    assert caret("x", "\tkey: 1\n", 1, 2, "bad").splitlines()[-1] == "      | \t^"
    assert caret("x", "a\n", 0, 0, "no position") == "x: no position"
    assert caret("x", "a\n", 1, 0, "no column").splitlines() == ["x:1: no column", "    1 | a"]
    assert caret("x", "a\n", 9, 1, "past the end") == "x:9:1: past the end"


def test_invalid_yaml_keeps_line_column_and_points():
    with pytest.raises(YamlError) as info:
        loads_yaml("a: 1\nb: [1, 2\n", "bad.yaml")
    assert str(info.value).startswith("bad.yaml, line 3: not valid YAML")
    assert (info.value.line, info.value.column) == (3, 1)
    assert info.value.pointed().splitlines()[0] == f"bad.yaml:3:1: {info.value.problem}"
