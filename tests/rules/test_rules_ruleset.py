"""Ruleset files: errors naming file, line, rule and position; hit policies by hand."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from dsk.catalogue import load_catalogue
from dsk.rules import RulesetError, evaluate, load_ruleset, parse_ruleset, ruleset_from_text

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
                                                                      "when", 11)
    assert str(err) == (
        f"{path}:11:11: rule 'disclosure', field 'when': unknown name 'disclosur'; "
        "did you mean 'disclosure'?\n"
        "   11 |     when: disclosur\n"
        "      |           ^"
    )


def test_out_of_range_value_is_an_error_with_column(tmp_path):
    path = write(tmp_path, GOOD.format(policy="max").replace("toxic_trio >= 2", "toxic_trio >= 4"))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    assert (info.value.line, info.value.rule, info.value.column) == (7, "trio", 25)
    assert "out of range for 'toxic_trio' (0 to 3)" in str(info.value)
    assert str(info.value).splitlines()[1:] == ["    7 |     when: toxic_trio >= 4",
                                                "      |                         ^"]


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "rule", "field", "fragment"),
    [
        ("level: 3", "level: 5", 8, 12, "trio", "level", "expected a need level 1-4"),
        ("lead_agency: school", "lead_agency: schools", 18, 18, "hardship", "lead_agency",
         "unknown agency 'schools'; did you mean 'school'?"),
        ("hit_policy: max", "hit_policy: maximum", 3, 13, None, "hit_policy",
         "expected one of max, first, priority, collect, got 'maximum'; did you mean 'max'?"),
        ("    priority: 9\n", "    priority: 9\n    becuase: typo\n", 20, 5, "hardship", "becuase",
         "unknown field; did you mean 'because'? (rule fields are"),
        ("title: Demo", "titel: Demo", 2, 1, None, "titel",
         "unknown field; did you mean 'title'? (fields are"),
        ("id: disclosure", "id: trio", 10, 9, "trio", "id", "duplicate rule id (first at line 6)"),
        ("default_level: 1", "default_level: 0", 4, 16, None, "default_level", "need level 1-4"),
    ],
)
def test_field_errors_name_line_column_rule_and_field(tmp_path, old, new, line, column, rule,
                                                      field, fragment):
    path = write(tmp_path, GOOD.format(policy="max").replace(old, new, 1))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    err = info.value
    assert len(err.errors) == 1
    assert (err.line, err.column, err.rule, err.field) == (line, column, rule, field)
    assert fragment in str(err)
    heading, source, pointer = str(err).splitlines()
    assert heading.startswith(f"{path}:{line}:{column}: ")
    assert source == f"{line:>5} | " + path.read_text().splitlines()[line - 1]
    assert pointer.index("^") - pointer.index("|") - 2 == column - 1


BROKEN = """\
id: demo
hit_policy: maxx
rules:
  - id: trio
    when: toxic_trio >= 4 and disclosur
    level: 5
  - id: trio
    when: >
      domestic_abuse >= current and
      age_band <= toddler
    level: 3
    becuase: typo
  - id: paren
    when: "(disclosure or fgm_risk"
    level: 2
    lead_agency: schools
"""


def test_every_error_is_reported_in_one_pass(tmp_path):
    path = write(tmp_path, BROKEN)
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    found = [(e.line, e.column, e.rule, e.field, e.problem.split(";")[0])
             for e in info.value.errors]
    assert found == [
        (2, 13, None, "hit_policy", "expected one of max, first, priority, collect, got 'maxx'"),
        (5, 25, "trio", "when", "value 4 is out of range for 'toxic_trio' (0 to 3)"),
        (5, 31, "trio", "when", "unknown name 'disclosur'"),
        (6, 12, "trio", "level", "expected a need level 1-4, got int 5"),
        (7, 9, "trio", "id", "duplicate rule id (first at line 4)"),
        (10, 19, "trio", "when", "'age_band' has no level 'toddler'"),  # folded, second line
        (12, 5, "trio", "becuase", "unknown field"),
        (14, 35, "paren", "when", "expected ')' to close the '(' at column 12"),  # file column
        (16, 18, "paren", "lead_agency", "unknown agency 'schools'"),
    ]
    message = str(info.value)
    assert message.startswith(f"{path}: 9 errors\n{path}:2:13: field 'hit_policy': ")
    assert "   10 |       age_band <= toddler\n      |                   ^" in message
    assert message.count("^") == 9


def test_duplicate_keys_are_all_reported_with_their_column(tmp_path):
    path = write(tmp_path, GOOD.format(policy="max").replace("    level: 3\n",
                                                            "    level: 3\n    level: 2\n")
                 .replace("title: Demo\n", "title: Demo\ntitle: Again\n"))
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    assert [(e.line, e.column, e.problem) for e in info.value.errors] == [
        (3, 1, "duplicate key 'title' (first at line 2)"),
        (10, 5, "duplicate key 'level' (first at line 9)"),
    ]


def test_priority_policy_needs_priorities(tmp_path):
    path = write(tmp_path, GOOD.format(policy="priority").replace("    priority: 5\n", ""))
    with pytest.raises(RulesetError, match="rule 'disclosure', field 'priority'") as info:
        load_ruleset(path, CATALOGUE)
    assert (info.value.line, info.value.column) == (10, 5)


def test_invalid_yaml_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "id: x\nrules: [\n")
    with pytest.raises(RulesetError, match=r"broken\.yaml:3:1: not valid YAML"):
        load_ruleset(path, CATALOGUE)
    path = write(tmp_path, "id: x\nrules:\n  - id: a\n     when: b\n")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path, CATALOGUE)
    assert (info.value.line, info.value.column) == (4, 10)
    assert str(info.value).splitlines()[1] == "    4 |      when: b"


def test_parsed_data_without_text_still_names_the_line():
    from dsk._yaml import loads_yaml

    data = loads_yaml(GOOD.format(policy="max").replace("level: 3", "level: 7"))
    with pytest.raises(RulesetError) as info:
        parse_ruleset(data, "demo.yaml", catalogue=CATALOGUE)
    assert str(info.value) == ("demo.yaml:8: rule 'trio', field 'level': expected a need level "
                               "1-4, got int 7")


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
