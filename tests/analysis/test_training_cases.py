"""The training-12 teaching cases against the threshold-of-need checklist and the bundled mixed
panel, as the training experiment (experiments/training.yaml) runs them: each wicked case whose
note teaches a reason diverges for it, the others do what their notes say, the tame cases agree.

The notes were written from what the simulated panel does (docs/vignettes.md, "What a case
teaches"); if a change to the simulator breaks one of these, rewrite the note honestly rather
than tuning the case.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dsk.analysis import failure_points, median_level, teaching_check
from dsk.analysis._features import with_derived
from dsk.analysis.failures import taught_codes
from dsk.catalogue import Catalogue
from dsk.experiment import load_config
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.panels.mechanisms import MECHANISMS
from dsk.rules import bundled_rulesets, evaluate, load_ruleset
from dsk.sets import load_set


@pytest.fixture(scope="module")
def training(catalogue: Catalogue) -> dict[str, pd.DataFrame]:
    config = load_config("training")
    vignettes = load_set(config.vignettes.set, catalogue)
    professions = load_professions(catalogue=catalogue)
    panel = load_panel(config.panels[0].panel, professions)
    ruleset = load_ruleset(bundled_rulesets()["threshold-of-need"], catalogue)
    decisions = evaluate(ruleset, vignettes, catalogue=catalogue, margins=True).decisions()

    def judge(off: tuple[str, ...] = ()) -> pd.DataFrame:
        return simulate_panel(vignettes, panel, random_state=config.seed, rounds=config.rounds,
                              professions=professions, catalogue=catalogue, rationale=False, off=off)

    judgements = judge()
    failures = failure_points(vignettes, decisions, judgements, catalogue=catalogue, ruleset=ruleset,
                              random_state=config.seed)
    check = teaching_check(failures, vignettes, taught_only=False).set_index("vignette_id")
    return {"vignettes": vignettes, "check": check, "judgements": judgements, "judge": judge,
            "decisions": decisions}


def _median(judgements: pd.DataFrame) -> pd.Series:
    return median_level(judgements[judgements["round"] == 1])


TAUGHT = {  # case -> (reason code, the checklist's level, the panel median, the mechanism that makes it)
    "wicked-05-toxic-trio-baby": ("interaction_missed", 3, 4, "amplification"),
    "wicked-08-protective": ("protective_ignored", 4, 3, "protective"),
    "wicked-09-turbulence": ("turbulence_missed", 3, 4, None),
    "wicked-10-exploitation-signs": ("interaction_missed", 3, 4, None),
    "wicked-12-disengagement": ("uncorroborated", 4, 3, "corroboration"),
}
#: Wicked cases on which the panel agrees with the checklist, as their notes say (and why not more).
AGREE = ("wicked-06-conflicting-neglect", "wicked-07-count-cliff", "wicked-11-young-carer")


def test_the_notes_teach_what_the_test_checks(training):
    v = training["vignettes"].set_index("vignette_id")
    taught = {vid: taught_codes(v.loc[vid, "teaches"]) for vid in v.index if vid.startswith("wicked-")}
    assert {vid: codes for vid, codes in taught.items() if codes} == {
        vid: [code] for vid, (code, *_) in TAUGHT.items()}
    assert len(taught) == 8 and set(taught) == set(TAUGHT) | set(AGREE)


@pytest.mark.parametrize("vid", sorted(TAUGHT))
def test_a_taught_case_diverges_for_its_reason(training, vid):
    code, rule, panel, _ = TAUGHT[vid]
    row = training["check"].loc[vid]
    assert (int(row["rule_level"]), int(row["panel_median"])) == (rule, panel)
    assert bool(row["diverges"]) and bool(row["for_taught_reason"])
    assert code in list(row["reasons"])


def _round1(judgements: pd.DataFrame, vid: str) -> pd.Series:
    return judgements.query("round == 1 and vignette_id == @vid")["need_level"]


def test_the_mechanism_a_note_names_produces_the_divergence(training):
    # wicked-05: without amplification the panel is back at or below the checklist's level;
    # wicked-08: without protective factors it agrees with the checklist
    for vid, (_, rule, _, mechanism) in TAUGHT.items():
        if mechanism in (None, "corroboration"):
            continue
        median = _median(training["judge"]((mechanism,)))
        assert median[vid] <= rule if mechanism == "amplification" else median[vid] == rule, vid
    # wicked-12: three of twelve at the checklist's level; without corroboration half the panel
    # (the lower median of an even split still falls a level below, so the test counts raters)
    vid = "wicked-12-disengagement"
    assert (_round1(training["judgements"], vid) == 4).sum() <= 3
    assert (_round1(training["judge"](("corroboration",)), vid) == 4).sum() >= 6


def test_one_word_moves_the_checklist_a_level_on_disengagement_and_the_panel_about_half(training, catalogue):
    # one word down ("not complying" for "not engaging"): the checklist drops a level, the panel
    # about half a level, so not a cliff by the failures table's tolerance (less than 0.3 of a
    # level for each level the checklist moves), as the note no longer claims
    from dsk.design import vignettes_from_specs

    reports = [{"agency": "health_visitor", "factor": "non_compliance"}]
    specs = [{"id": vid, "age_band": "preschool", "factors": {"non_compliance": level}, "reports": reports}
             for vid, level in (("not-engaging", 2), ("one-word-down", 1))]
    pair = vignettes_from_specs(specs, "pair", random_state=1, catalogue=catalogue, narratives=False)
    ruleset = load_ruleset(bundled_rulesets()["threshold-of-need"], catalogue)
    assert evaluate(ruleset, pair, catalogue=catalogue).decisions()["need_level"].tolist() == [4, 3]
    config = load_config("training")
    professions = load_professions(catalogue=catalogue)
    panel = load_panel(config.panels[0].panel, professions)
    j = simulate_panel(pair, panel, random_state=config.seed, professions=professions, catalogue=catalogue,
                       rationale=False)
    mean = j.groupby("vignette_id")["need_level"].mean()
    assert 0.3 <= mean["not-engaging"] - mean["one-word-down"] < 1


def test_no_cliff_is_claimed_on_the_training_set(training):
    # twelve cases are too few for the surrogate to show how the panel responds to most one-step
    # changes; without asking for that evidence every case would be flagged (docs/methods.md)
    assert not any("cliff" in list(r) for r in training["check"]["reasons"])


def test_the_untaught_wicked_cases_agree_as_their_notes_say(training):
    check = training["check"]
    for vid in AGREE:
        assert not bool(check.loc[vid, "diverges"]), vid
    judgements, judge = training["judgements"], training["judge"]
    # wicked-06: split around the checklist's level, a third a level below and half a level above
    counts = _round1(judgements, "wicked-06-conflicting-neglect").value_counts()
    assert counts.get(2, 0) >= 4 and counts.get(4, 0) >= 6
    # wicked-07: no one mechanism lifts it to a team around the child; read item by item (every
    # mechanism off) it would be targeted help, as its note says
    for m in MECHANISMS:
        assert _median(judge((m.id,)))["wicked-07-count-cliff"] == 3, m.id
    assert _median(judge(tuple(m.id for m in MECHANISMS)))["wicked-07-count-cliff"] == 2
    # wicked-11: the whole panel at the statutory level; without amplification most still are
    assert (_round1(judgements, "wicked-11-young-carer") == 4).all()
    assert (_round1(judge(("amplification",)), "wicked-11-young-carer") == 4).sum() > 6


def test_count_of_concerns_sits_one_need_short_of_its_cliff_on_wicked_07(training, catalogue):
    v = training["vignettes"]
    case = v[v["vignette_id"] == "wicked-07-count-cliff"]
    sixth = case.assign(vignette_id="a-sixth-need", school_attendance=1)
    pair = with_derived(pd.concat([case, sixth], ignore_index=True), catalogue)
    levels = {name: evaluate(load_ruleset(bundled_rulesets()[name], catalogue), pair,
                             catalogue=catalogue).decisions()["need_level"].tolist()
              for name in ("threshold-of-need", "count-of-concerns")}
    assert levels == {"threshold-of-need": [3, 3], "count-of-concerns": [3, 4]}


def test_the_tame_cases_agree(training):
    check = training["check"]
    tame = [vid for vid in check.index if vid.startswith("tame-")]
    assert len(tame) == 4
    assert not check.loc[tame, "diverges"].astype(bool).any()
