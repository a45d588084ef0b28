"""The condition language: parsing, catalogue checks, errors with positions."""

from __future__ import annotations

import pytest

from dsk.rules.language import (
    And,
    Compare,
    ConditionError,
    Not,
    Or,
    evaluate_row,
    names_in,
    negate,
    normalize,
    parse_condition,
    to_text,
)


def test_precedence_and_binds_tighter_than_or(catalogue):
    node = parse_condition("disclosure or fgm_risk and risk_person", catalogue)
    assert node == Or((Compare("disclosure", ">=", 1, 1),
                       And((Compare("fgm_risk", ">=", 1, 15), Compare("risk_person", ">=", 1, 28)))))


def test_parentheses_and_not(catalogue):
    node = parse_condition("not (domestic_abuse >= 2 or housing == 0)", catalogue)
    assert node == Not(Or((Compare("domestic_abuse", ">=", 2, 6), Compare("housing", "==", 0, 29))))
    assert to_text(normalize(node)) == "domestic_abuse < 2 and housing != 0"


def test_named_levels_become_codes(catalogue):
    node = parse_condition("age_band <= infant and domestic_abuse >= current", catalogue)
    assert node == And((Compare("age_band", "<=", 1, 1), Compare("domestic_abuse", ">=", 2, 24)))


def test_keywords_are_case_insensitive(catalogue):
    node = parse_condition("disclosure AND NOT fgm_risk", catalogue)
    assert to_text(normalize(node)) == "disclosure >= 1 and fgm_risk < 1"


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("domestc_abuse >= 2", 1, "unknown name 'domestc_abuse'; did you mean 'domestic_abuse'"),
        ("domestic_abuse >= 9", 19, "out of range for 'domestic_abuse' (0 to 3)"),
        ("domestic_abuse >= -1", 19, "out of range"),
        ("age_band <= toddler", 13, "has no level 'toddler'; its levels are unborn (0)"),
        ("n_concerns >= many", 15, "is a count and takes numbers"),
        ("domestic_abuse = 2", 16, "use == to compare"),
        ("disclosure && fgm_risk", 12, "write and, or, not"),
        ("(disclosure or fgm_risk", 24, "expected ')' to close the '(' at column 1"),
        ("disclosure fgm_risk", 12, "expected a comparison"),
        ("disclosure or", 14, "expected a catalogue name, got the end of the condition"),
        ("disclosure >=", 14, "expected a number or a level"),
        ("age_band >= 1.5", 13, "takes whole numbers"),
        ("", 1, "empty condition"),
        ("disclosure)", 11, "unexpected ')'"),
        ("2 <= age_band", 1, "expected a catalogue name, got '2'"),
    ],
)
def test_errors_name_the_column(catalogue, text, column, fragment):
    with pytest.raises(ConditionError) as info:
        parse_condition(text, catalogue)
    assert info.value.column == column
    assert fragment in str(info.value)
    assert info.value.pointer().splitlines()[1].index("^") - 4 == column - 1


def test_every_problem_in_a_condition_is_reported(catalogue):
    text = "domestc_abuse >= 2 and toxic_trio >= 9 or age_band <= toddler and n_concerns >= many"
    with pytest.raises(ConditionError) as info:
        parse_condition(text, catalogue)
    found = [(e.column, e.problem.split(";")[0]) for e in info.value.errors]
    assert found == [
        (1, "unknown name 'domestc_abuse'"),
        (38, "value 9 is out of range for 'toxic_trio' (0 to 3)"),
        (55, "'age_band' has no level 'toddler'"),
        (81, "'n_concerns' is a count and takes numbers, not 'many'"),
    ]
    assert info.value is info.value.errors[0]


def test_problems_before_a_syntax_error_are_kept(catalogue):
    with pytest.raises(ConditionError) as info:
        parse_condition("disclosur or (fgm_risk >= 5", catalogue)
    assert [e.column for e in info.value.errors] == [1, 27, 28]
    assert "expected ')' to close the '(' at column 14" in info.value.errors[2].problem


def test_negate_flips_every_operator():
    pairs = {"<": ">=", "<=": ">", "==": "!=", "!=": "==", ">": "<=", ">=": "<"}
    for op, flipped in pairs.items():
        assert negate(Compare("housing", op, 1)) == Compare("housing", flipped, 1)


def test_negation_normal_form_agrees_with_direct_evaluation(catalogue):
    text = "not (age_band <= infant and not (housing == 1 or disability))"
    node = parse_condition(text, catalogue)
    nnf = normalize(node)
    for age in range(5):
        for housing in range(3):
            for disability in range(2):
                row = {"age_band": age, "housing": housing, "disability": disability}
                expected = not (age <= 1 and not (housing == 1 or disability >= 1))
                assert evaluate_row(node, row) is expected
                assert evaluate_row(nnf, row) is expected


def test_names_in_keeps_first_appearance_order(catalogue):
    node = parse_condition("housing == 1 or (disclosure and housing == 2)", catalogue)
    assert names_in(node) == ("housing", "disclosure")
