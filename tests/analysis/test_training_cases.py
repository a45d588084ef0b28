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
}


def test_the_notes_teach_what_the_test_checks(training):
    v = training["vignettes"].set_index("vignette_id")
    taught = {vid: taught_codes(v.loc[vid, "teaches"]) for vid in v.index if vid.startswith("wicked-")}
    assert {vid: codes for vid, codes in taught.items() if codes} == {
        vid: [code] for vid, (code, *_) in TAUGHT.items()}
    assert len(taught) == 8


@pytest.mark.parametrize("vid", sorted(TAUGHT))
def test_a_taught_case_diverges_for_its_reason(training, vid):
    code, rule, panel, _ = TAUGHT[vid]
    row = training["check"].loc[vid]
    assert (int(row["rule_level"]), int(row["panel_median"])) == (rule, panel)
    assert bool(row["diverges"]) and bool(row["for_taught_reason"])
    assert code in list(row["reasons"])


def test_the_mechanism_a_note_names_produces_the_divergence(training):
    # wicked-05: without amplification the panel is back at or below the checklist's level;
    # wicked-08: without protective factors it agrees with the checklist
    for vid, (_, rule, _, mechanism) in TAUGHT.items():
        if mechanism is None:
            continue
        median = _median(training["judge"]((mechanism,)))
        assert median[vid] <= rule if mechanism == "amplification" else median[vid] == rule, vid


def test_the_untaught_wicked_cases_agree_as_their_notes_say(training):
    check = training["check"]
    for vid in ("wicked-06-conflicting-neglect", "wicked-07-count-cliff", "wicked-11-young-carer"):
        assert not bool(check.loc[vid, "diverges"]), vid
    # wicked-07 read item by item (every mechanism off) would be targeted help, as its note says
    item_reading = _median(training["judge"](tuple(m.id for m in MECHANISMS)))
    assert item_reading["wicked-07-count-cliff"] == 2
    # wicked-12: the panel is divided, as its note says (levels 3 and 4 each chosen by several)
    r1 = training["judgements"].query("round == 1 and vignette_id == 'wicked-12-disengagement'")
    counts = r1["need_level"].value_counts()
    assert counts.get(3, 0) >= 3 and counts.get(4, 0) >= 3


def test_the_tame_cases_agree(training):
    check = training["check"]
    tame = [vid for vid in check.index if vid.startswith("tame-")]
    assert len(tame) == 4
    assert not check.loc[tame, "diverges"].astype(bool).any()
