"""Ruleset files: errors naming file, line, rule and position; hit policies by hand."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from dsk.catalogue import load_catalogue
from dsk.rules import RulesetError, evaluate, load_ruleset, ruleset_from_text

CATALOGUE = load_catalogue()

GOOD = """\
id: demo
title: Demo
hit_policy: {policy}
default_level: 1
rules:
  - id: trio
    when: toxic_trio >= 2
    level: 3
    priority: 1
  - id: disclosure
    when: disclosure
    level: 4
    lead_agency: social_care
    priority: 5
  - id: hardship
    when: financial_hardship >= hardship
    level: 2
    lead_agency: school
    priority: 9
"""


def write(tmp_path, text: str):
    path = tmp_path / "broken.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_condition_error_names_file_line_rule_and_column(tmp_path):
    path = write(tmp_path, GOOD.format(policy="max").replace("disclosure\n    level: 4",
                                                            "disclosur\n    level: 4"))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    err = info.value
    assert (err.source, err.line, err.rule, err.field, err.column) == (str(path), 11, "disclosure",
                                                                      "when", 1)
    message = str(err)
    assert message.startswith(f"{path}, line 11: rule 'disclosure' field 'when' column 1:")
    assert "closest catalogue names: disclosure" in message


def test_out_of_range_value_is_an_error_with_column(tmp_path):
    path = write(tmp_path, GOOD.format(policy="max").replace("toxic_trio >= 2", "toxic_trio >= 4"))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    assert (info.value.line, info.value.rule, info.value.column) == (7, "trio", 15)
    assert "out of range for 'toxic_trio' (0 to 3)" in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "line", "rule", "field", "fragment"),
    [
        ("level: 3", "level: 5", 8, "trio", "level", "expected a need level 1-4"),
        ("lead_agency: school", "lead_agency: schools", 18, "hardship", "lead_agency",
         "unknown agency 'schools'"),
        ("hit_policy: max", "hit_policy: maximum", 3, None, "hit_policy",
         "expected one of max, first, priority, collect"),
        ("    priority: 9\n", "    priority: 9\n    becuase: typo\n", 20, "hardship", "becuase",
         "unknown field; rule fields are"),
        ("id: disclosure", "id: trio", 10, "trio", "id", "duplicate rule id (first at line 6)"),
        ("default_level: 1", "default_level: 0", 4, None, "default_level", "need level 1-4"),
    ],
)
def test_field_errors_name_line_rule_and_field(tmp_path, old, new, line, rule, field, fragment):
    path = write(tmp_path, GOOD.format(policy="max").replace(old, new, 1))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    err = info.value
    assert (err.line, err.rule, err.field) == (line, rule, field)
    assert fragment in str(err)
    assert str(path) in str(err)


def test_priority_policy_needs_priorities(tmp_path):
    path = write(tmp_path, GOOD.format(policy="priority").replace("    priority: 5\n", ""))
    with pytest.raises(RulesetError, match="rule 'disclosure' field 'priority'"):
        load_ruleset(path, CATALOGUE)


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "id: x\nrules: [\n")
    with pytest.raises(RulesetError, match=r"broken\.yaml.*line 3"):
        load_ruleset(path, CATALOGUE)


def test_version_is_a_content_hash():
    a = ruleset_from_text(GOOD.format(policy="max"), catalogue=CATALOGUE)
    b = ruleset_from_text(GOOD.format(policy="max") + "\n# a comment\n", catalogue=CATALOGUE)
    c = ruleset_from_text(GOOD.format(policy="max").replace("level: 2", "level: 3"), catalogue=CATALOGUE)
    assert a.version == b.version
    assert a.version != c.version


def vignettes(**values) -> pd.DataFrame:
    base = {"vignette_id": ["x"], "toxic_trio": [0], "disclosure": [0], "financial_hardship": [0]}
    base.update({k: [v] for k, v in values.items()})
    return pd.DataFrame(base)


@pytest.mark.parametrize("engine", ["vector", "durable"])
@pytest.mark.parametrize(
    ("policy", "level", "decisive", "lead"),
    [
        ("max", 4, "disclosure", "social_care"),
        ("collect", 4, "disclosure", "social_care"),
        ("first", 3, "trio", None),
        ("priority", 2, "hardship", "school"),
    ],
)
def test_hit_policies_by_hand(engine, policy, level, decisive, lead):
    rs = ruleset_from_text(GOOD.format(policy=policy), catalogue=CATALOGUE)
    row = evaluate(rs, vignettes(toxic_trio=2, disclosure=1, financial_hardship=1),
                   engine=engine, catalogue=CATALOGUE).decisions().iloc[0]
    assert row["need_level"] == level
    assert row["decisive_rule"] == decisive
    assert row["lead_agency"] == lead
    assert list(row["fired"]) == ["trio", "disclosure", "hardship"]
    assert row["n_fired"] == 3
    assert bool(row["conflict"]) is True
    assert bool(row["defaulted"]) is False


@pytest.mark.parametrize("engine", ["vector", "durable"])
def test_default_and_agreeing_rules(engine):
    rs = ruleset_from_text(GOOD.format(policy="max").replace("level: 3", "level: 4"), catalogue=CATALOGUE)
    table = evaluate(rs, pd.concat([vignettes(), vignettes(toxic_trio=3, disclosure=1)]),
                     engine=engine, margins=True, catalogue=CATALOGUE)
    first, second = table.decisions().to_dict("records")
    assert (first["need_level"], first["decisive_rule"], first["defaulted"]) == (1, None, True)
    assert first["lead_agency"] is None and first["n_fired"] == 0
    assert (second["need_level"], second["conflict"], second["decisive_rule"]) == (4, False, "trio")
    trace = table.trace()
    assert trace["margin"].tolist() == [2, 1, 1, 0, 0, 1]
    assert trace["decisive"].tolist() == [False, False, False, True, False, False]
