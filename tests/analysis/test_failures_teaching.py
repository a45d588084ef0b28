"""The reason codes protective_ignored, turbulence_missed and uncorroborated, the evidence a cliff
needs, teaching_cases with agreeing cases, and teaching_check ("diverges for the taught reason"),
on small hand-built tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import pytest

from dsk.analysis import failure_points, teaching_cases, teaching_check
from dsk.analysis.failures import taught_codes
from dsk.catalogue import Catalogue
from dsk.design import vignettes_from_specs
from dsk.schema import REASONS

# Each vignette appears twice: the panel below the checklist ("-low") and above it ("-high").
SPECS = {
    # a protective factor of the catalogue (trusted_adult) beside an acute need
    "protected": {"age_band": "primary", "factors": {"parental_mental_health": "severe",
                                                     "trusted_adult": "present"}},
    # the same need without one
    "unprotected": {"age_band": "primary", "factors": {"parental_mental_health": "severe"}},
    # moves and a new partner: turbulence above 0
    "turbulent": {"age_band": "secondary", "factors": {"frequent_moves": 3, "new_partner": "present"}},
    # one low need: no turbulence, no protective factor
    "calm": {"age_band": "primary", "factors": {"hygiene": "sometimes_unkempt"}},
    # a parent who will not engage, and nothing else
    "disengaged": {"age_band": "preschool", "factors": {"non_compliance": "disengaged"}},
    # the same, with a concern about the child's care beside it
    "disengaged-neglected": {"age_band": "preschool", "factors": {"non_compliance": "disengaged",
                                                                  "basic_care": "poor"}},
    # disengagement with a strength beside it: a protective factor is not a concern
    "disengaged-supported": {"age_band": "preschool", "factors": {"non_compliance": "disengaged",
                                                                  "extended_family_support": "present"}},
}


def _judgements(levels: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    return pd.DataFrame([{"vignette_id": vid, "rater_id": f"r{k}", "rater_kind": "human", "round": 1,
                          "need_level": level}
                         for vid, chosen in levels.items() for k, level in enumerate(chosen)])


@pytest.fixture(scope="module")
def cases(catalogue: Catalogue) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vignettes and the failures table of a hand-set checklist (level 3) against hand-set
    panels: all at level 1 for "-low", all at level 4 for "-high"."""
    specs = [{"id": f"{name}-{side}", **spec} for name, spec in SPECS.items() for side in ("low", "high")]
    v = vignettes_from_specs(specs, "hand", 1, catalogue, narratives=False)
    ids = v["vignette_id"].tolist()
    decisions = pd.DataFrame({"vignette_id": ids, "ruleset_id": "r", "need_level": 3,
                              "defaulted": False, "conflict": False})
    j = _judgements({vid: [1] * 6 if vid.endswith("-low") else [4] * 6 for vid in ids})
    f = failure_points(v, decisions, j, catalogue=catalogue)  # no ruleset: no brittleness, no cliff
    return v, f


def test_the_fixtures_have_what_the_codes_look_for(cases: tuple[pd.DataFrame, pd.DataFrame],
                                                   catalogue: Catalogue) -> None:
    v, f = cases
    v = v.set_index("vignette_id")
    protective = [fid for fid, p in zip(catalogue.factor_ids, catalogue.protective_mask, strict=True) if p]
    assert "trusted_adult" in protective
    has = (v[protective] > 0).any(axis=1)
    assert has["protected-low"] and not has["unprotected-low"] and not has["turbulent-low"]
    assert v.loc["turbulent-low", "cx_turbulence"] > 0
    assert v.loc["calm-low", "cx_turbulence"] == 0 and v.loc["protected-low", "cx_turbulence"] == 0
    assert v.loc["calm-low", "cx_interconnection"] == 0 and v.loc["calm-low", "cx_conflict"] == 0
    f = f.set_index("vignette_id")
    assert (f["rule_level"] == 3).all()
    assert f.loc["calm-low", "panel_median"] == 1 and f.loc["calm-high", "panel_median"] == 4


def test_protective_ignored_fires_only_with_a_protective_factor_and_a_lower_panel(
        cases: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reasons = cases[1].set_index("vignette_id")["reasons"]
    assert "protective_ignored" in reasons["protected-low"]
    assert "protective_ignored" not in reasons["protected-high"]  # the panel is above the checklist
    assert "protective_ignored" not in reasons["unprotected-low"]  # no protective factor
    assert "protective_ignored" not in reasons["calm-low"]


def test_turbulence_missed_fires_only_with_turbulence_and_a_higher_panel(
        cases: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reasons = cases[1].set_index("vignette_id")["reasons"]
    assert "turbulence_missed" in reasons["turbulent-high"]
    assert "turbulence_missed" not in reasons["turbulent-low"]  # the panel is below the checklist
    assert "turbulence_missed" not in reasons["calm-high"]  # no turbulence
    assert "turbulence_missed" not in reasons["protected-high"]


def test_uncorroborated_fires_only_when_disengagement_stands_alone_and_the_panel_is_lower(
        cases: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reasons = cases[1].set_index("vignette_id")["reasons"]
    assert "uncorroborated" in reasons["disengaged-low"]
    assert "uncorroborated" in reasons["disengaged-supported-low"]  # a strength is no corroboration
    assert "uncorroborated" not in reasons["disengaged-high"]  # the panel is above the checklist
    assert "uncorroborated" not in reasons["disengaged-neglected-low"]  # a concern about care beside it
    assert "uncorroborated" not in reasons["calm-low"]  # no process concern


def test_reason_codes_come_in_the_order_of_REASONS(cases: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    assert REASONS[-3:] == ("protective_ignored", "turbulence_missed", "uncorroborated")
    for found in cases[1]["reasons"]:
        assert list(found) == [c for c in REASONS if c in found]


def test_the_report_explains_every_reason_code() -> None:
    from dsk.report._context import REASON_TEXT

    assert set(REASON_TEXT) == set(REASONS)
    assert "protective" in REASON_TEXT["protective_ignored"] and "lower" in REASON_TEXT["protective_ignored"]
    assert "turbulence" in REASON_TEXT["turbulence_missed"] and "higher" in REASON_TEXT["turbulence_missed"]
    assert "professionals" in REASON_TEXT["uncorroborated"] and "lower" in REASON_TEXT["uncorroborated"]


# ---------------------------------------------------------------- the evidence a cliff needs


def _cliff_case(catalogue: Catalogue, others: int) -> pd.DataFrame:
    """One vignette's failures row: a child whose clothes are sometimes unkempt, beside ``others``
    vignettes at each of the two hygiene levels (sometimes unkempt, poor hygiene), with a panel
    that gives level 2 to every case, whatever its hygiene."""
    from dsk.rules import bundled_rulesets, load_ruleset

    specs = [{"id": "case", "age_band": "primary", "factors": {"hygiene": "sometimes_unkempt"}}]
    specs += [{"id": f"{name}-{k}", "age_band": "primary", "factors": {"hygiene": name}}
              for name in ("sometimes_unkempt", "poor_hygiene") for k in range(others)]
    v = vignettes_from_specs(specs, "hand", 1, catalogue, narratives=False)
    ruleset = load_ruleset(bundled_rulesets()["threshold-of-need"], catalogue)
    from dsk.rules import evaluate

    decisions = evaluate(ruleset, v, catalogue=catalogue).decisions()
    j = _judgements({vid: [2] * 6 for vid in v["vignette_id"]})
    f = failure_points(v, decisions, j, catalogue=catalogue, ruleset=ruleset)
    return f.set_index("vignette_id").loc["case"]


def test_a_cliff_needs_the_panel_to_have_judged_both_levels(catalogue: Catalogue) -> None:
    # The threshold checklist moves poor hygiene a level above sometimes unkempt (3 against 2),
    # and the panel gives 2 to both: a cliff, once the panel has judged five cases at each level
    # (the case itself is one of the sometimes-unkempt ones).
    row = _cliff_case(catalogue, others=5)
    assert int(row["rule_level"]) == 2 and "cliff" in list(row["reasons"])
    # With only two poor-hygiene cases the surrogate cannot tell how the panel responds to the
    # change: it predicts no movement out of ignorance, and no cliff is claimed.
    row = _cliff_case(catalogue, others=2)
    assert "cliff" not in list(row["reasons"])


# ---------------------------------------------------------------- teaching_cases


def _failures() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two rulesets on five vignettes. Scores (|divergence| x consensus + 0.25 per code other
    than defaulted), by hand: r1: a 1.8, b 0.5 (agrees, two codes), c 0, d 0.4, e 0.25 (agrees);
    r2: a 0, b 0, c 2.0, d 0, e 0."""
    f = pd.DataFrame({
        "vignette_id": list("abcde") * 2,
        "ruleset_id": ["r1"] * 5 + ["r2"] * 5,
        "rule_level": [4, 2, 2, 3, 1, 2, 2, 4, 2, 1],
        "panel_median": [2.0, 2.0, 2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.0],
        "panel_consensus": [0.9, 0.6, 1.0, 0.4, 1.0, 0.9, 0.6, 1.0, 0.4, 1.0],
        "divergence": [2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0],
        "reasons": [[], ["cliff", "conflicting_reports"], [], [], ["cliff", "defaulted"],
                    [], [], [], [], ["defaulted"]],
    })
    v = pd.DataFrame({"vignette_id": list("abcde"), "complexity": [0.1, 0.2, 0.3, 0.4, 0.5]})
    return f, v


def test_teaching_cases_put_agreeing_cases_after_divergent_ones_once_each() -> None:
    f, v = _failures()
    ranked = teaching_cases(f, v, top=10)
    # c (r2, 2.0), a (r1, 1.8), d (r1, 0.4); then b (0.5) and e (0.25): b outscores d, but an
    # agreeing case never comes before a divergent one; each vignette once, with its best row
    assert ranked["vignette_id"].tolist() == ["c", "a", "d", "b", "e"]
    assert ranked["ruleset_id"].tolist() == ["r2", "r1", "r1", "r1", "r1"]
    assert ranked["diverges"].tolist() == [True, True, True, False, False]
    assert ranked["teaching_score"].round(6).tolist() == [2.0, 1.8, 0.4, 0.5, 0.25]


@pytest.mark.parametrize(("top", "expected"), [(0, []), (2, ["c", "a"]), (4, ["c", "a", "d", "b"]),
                                               (5, list("cadbe")), (50, list("cadbe"))])
def test_teaching_cases_return_top_cases_or_all_there_are(top: int, expected: list[str]) -> None:
    f, v = _failures()
    assert teaching_cases(f, v, top=top)["vignette_id"].tolist() == expected


def test_agreeing_cases_rank_by_score_then_complexity() -> None:
    f = pd.DataFrame({"vignette_id": list("xyz"), "ruleset_id": "r", "divergence": [0.0, 0.0, 0.0],
                      "panel_consensus": [1.0, 1.0, 1.0], "reasons": [[], ["cliff"], []]})
    v = pd.DataFrame({"vignette_id": list("xyz"), "complexity": [0.2, 0.1, 0.9]})
    assert teaching_cases(f, v, top=3)["vignette_id"].tolist() == ["y", "z", "x"]


# ---------------------------------------------------------------- teaching_check


def test_teaching_check_on_hand_built_tables() -> None:
    f = pd.DataFrame({
        "vignette_id": ["taught-hit", "taught-miss", "taught-agrees", "not-taught", "taught-hit"],
        "ruleset_id": ["r1", "r1", "r1", "r1", "r2"],
        "rule_level": [2, 4, 3, 4, 3],
        "panel_median": [4.0, 2.0, 3.0, 1.0, 4.0],
        "divergence": [-2.0, 2.0, 0.0, 3.0, -1.0],
        "reasons": [["cliff", "interaction_missed"], ["cliff"], ["conflicting_reports"], ["cliff"], ["cliff"]],
    })
    v = pd.DataFrame({"vignette_id": ["taught-hit", "taught-miss", "taught-agrees", "not-taught"],
                      "teaches": ["turbulence_missed;interaction_missed", "protective_ignored",
                                  "conflicting_reports", ""]})
    check = teaching_check(f, v)
    assert check[["vignette_id", "ruleset_id"]].values.tolist() == [
        ["taught-hit", "r1"], ["taught-miss", "r1"], ["taught-agrees", "r1"], ["taught-hit", "r2"]]
    assert check["diverges"].tolist() == [True, True, False, True]
    # r1 finds interaction_missed, which is taught; r2 diverges with only cliff, which is not;
    # taught-miss diverges for another reason; taught-agrees has the taught code but agrees
    assert check["for_taught_reason"].tolist() == [True, False, False, False]
    assert check["teaches"].iloc[0] == ["turbulence_missed", "interaction_missed"]
    assert check["reasons"].iloc[1] == ["cliff"]
    assert check["rule_level"].tolist() == [2, 4, 3, 3] and check["panel_median"].tolist() == [4, 2, 3, 4]
    every = teaching_check(f, v, taught_only=False)
    assert len(every) == 5 and not every.set_index("vignette_id").loc["not-taught", "for_taught_reason"]


def test_teaching_check_refuses_a_table_without_teaches_or_with_an_unknown_code() -> None:
    f, v = _failures()
    with pytest.raises(ValueError, match="no 'teaches' column"):
        teaching_check(f, v)
    with pytest.raises(ValueError, match="unknown reason code 'clif'"):
        teaching_check(f, v.assign(teaches="clif"))


def test_taught_codes_read_every_form_a_table_gives() -> None:
    assert taught_codes("cliff;interaction_missed") == ["cliff", "interaction_missed"]
    assert taught_codes(["cliff"]) == ["cliff"]
    assert taught_codes("") == [] and taught_codes(None) == [] and taught_codes(float("nan")) == []
    assert taught_codes(pd.NA) == []  # an empty cell of a CSV file
