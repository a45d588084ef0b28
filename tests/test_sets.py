"""Hand-authored vignette sets (dsk.sets.build_set, dsk.design.vignettes_from_specs): every
problem in one pass, each with file, line, column, vignette and field; and docs/vignettes.md,
whose example builds and whose example error output is what the code prints."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dsk.analysis.failures import taught_codes
from dsk.catalogue import Catalogue
from dsk.design import SetProblem, VignetteSetError, check_specs, vignettes_from_specs
from dsk.io import read_vignettes, write_table
from dsk.sets import build_set, bundled_sets, sets_dir

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "vignettes.md"

GOOD = textwrap.dedent("""\
    id: mine
    seed: 3
    vignettes:
      - id: a
        age_band: primary
        factors: {hygiene: sometimes_unkempt}
      - id: b
        age_band: infant
        factors: {parental_mental_health: 2}
        reports:
          - {agency: health_visitor, factor: parental_mental_health}
    """)


def _build(tmp_path: Path, text: str, catalogue: Catalogue, name: str = "set.yaml") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text(text)
    return build_set(path, catalogue)


def _problems(tmp_path: Path, text: str, catalogue: Catalogue) -> VignetteSetError:
    with pytest.raises(VignetteSetError) as info:
        _build(tmp_path, text, catalogue)
    return info.value


def _heads(error: VignetteSetError, tmp_path: Path) -> list[str]:
    """The first line of each problem, with the folder taken out."""
    return [p.splitlines()[0].replace(f"{tmp_path}/", "") for p in error.problems]


# ---------------------------------------------------------------- good sets


def test_a_good_set_builds_with_its_ids_and_levels(tmp_path: Path, catalogue: Catalogue) -> None:
    frame = _build(tmp_path, GOOD, catalogue)
    assert frame["vignette_id"].tolist() == ["a", "b"]
    assert frame["set_id"].unique().tolist() == ["mine"]
    assert frame["hygiene"].tolist() == [1, 0] and frame["parental_mental_health"].tolist() == [0, 2]
    assert frame["reports"].iloc[1] == [{"agency": "health_visitor", "factor": "parental_mental_health",
                                         "stance": "concern", "order": 1}]
    again = _build(tmp_path, GOOD, catalogue, "again.yaml")
    a = write_table(frame, tmp_path / "a.jsonl").read_bytes()
    assert a == write_table(again, tmp_path / "b.jsonl").read_bytes()


def test_bundled_sets_build_byte_identically(tmp_path: Path, catalogue: Catalogue) -> None:
    for name in bundled_sets():
        built = build_set(sets_dir() / f"{name}.yaml", catalogue)
        fresh = write_table(built, tmp_path / f"{name}.jsonl").read_bytes()
        assert fresh == (sets_dir() / f"{name}.jsonl").read_bytes(), name


# ---------------------------------------------------------------- one pass, with positions


def test_every_problem_is_reported_together_with_line_and_column(tmp_path: Path,
                                                                 catalogue: Catalogue) -> None:
    text = textwrap.dedent("""\
        id: mine
        seed: abc
        sed: 4
        vignettes:
          - id: a
            factors: {hygene: 1, offending: 1}
          - id: a
            age_band: primary
            factors: {hygiene: awful, emotional_wellbeing: 9}
        """)
    error = _problems(tmp_path, text, catalogue)
    assert _heads(error, tmp_path) == [
        "set.yaml:2:7: field 'seed': expected a whole number, got 'abc'",
        "set.yaml:3:1: field 'sed': unknown key 'sed'; did you mean 'seed'? (keys of a set: id, seed, "
        "vignettes, design, n, bands, acute_share, max_present, dimensions)",
        "set.yaml:5:5: vignette 'a', field 'age_band': missing key 'age_band': the child's age band, one of "
        "unborn, infant, preschool, primary, secondary",
        "set.yaml:6:15: vignette 'a', field 'factors.hygene': unknown factor 'hygene'; did you mean 'hygiene'?",
        "set.yaml:7:9: vignette 'a', field 'id': duplicate id 'a', already used at line 5",
        "set.yaml:9:24: vignette 'a', field 'factors.hygiene': 'hygiene' has no level 'awful'; levels are "
        "none, sometimes_unkempt, poor_hygiene",
        "set.yaml:9:52: vignette 'a', field 'factors.emotional_wellbeing': level 9 is outside 0-2 "
        "(levels: 0 none, 1 low_mood, 2 significant_difficulties)",
    ]
    message = str(error)
    assert message.splitlines()[0] == f"{tmp_path}/set.yaml: 7 problems in the vignette set"
    assert "    6 |     factors: {hygene: 1, offending: 1}\n      |               ^^^^^^\n" in message
    assert [d.field for d in error.details] == ["seed", "sed", "age_band", "factors.hygene", "id",
                                                 "factors.hygiene", "factors.emotional_wellbeing"]
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(("change", "expected"), [
    (("seed: 3", "seed: -1"), "set.yaml:2:7: field 'seed': must be at least 0, got -1"),
    (("seed: 3", "seed: 2.5"), "set.yaml:2:7: field 'seed': expected a whole number, got the number 2.5"),
    (("seed: 3\n", ""), "set.yaml:1:1: field 'seed': missing key 'seed': the seed of the set's random "
                        "stream, a whole number"),
    (("id: mine", "id: [a]"), "set.yaml:1:5: field 'id': expected text, got a list"),
    (("id: mine", "id: my set"), "set.yaml:1:5: field 'id': may contain only letters, digits, '_', '.' "
                                 "and '-', got 'my set'"),
    (("seed: 3", "seed: 3\nn: 4"), "set.yaml:4:1: field 'vignettes': give either vignettes or a design, "
                                   "not both (this set also has n)"),
    (("age_band: primary", "age_band: primry"), "set.yaml:5:15: vignette 'a', field 'age_band': "
                                                "'age_band' has no level 'primry'; levels are unborn, infant, "
                                                "preschool, primary, secondary (did you mean primary?)"),
    (("age_band: primary", "age_band: 3"), "set.yaml:5:15: vignette 'a', field 'age_band': expected a level "
                                           "name (unborn, infant, preschool, primary, secondary), got the "
                                           "number 3"),
    (("age_band: primary", "age_band: primary\n    disability: blind"),
     "set.yaml:6:17: vignette 'a', field 'disability': 'disability' has no level 'blind'; levels are none, "
     "disabled"),
    (("age_band: primary", "age_band: primary\n    colour: red"),
     "set.yaml:6:5: vignette 'a', field 'colour': unknown key 'colour' (keys of a vignette: id, age_band, "
     "disability, factors, reports, note, teaches, facts)"),
    (("age_band: primary", "age_band: primary\n    note: [x]"),
     "set.yaml:6:11: vignette 'a', field 'note': expected text, got a list"),
    (("age_band: primary", "age_band: primary\n    teaches: cliff"),
     "set.yaml:6:14: vignette 'a', field 'teaches': expected a list of reason codes (defaulted, "
     "conflict, cliff, interaction_missed, conflicting_reports, protective_ignored, turbulence_missed, "
     "uncorroborated), "
     "got 'cliff'"),
    (("age_band: primary", "age_band: primary\n    teaches: [cliff, clif]"),
     "set.yaml:6:22: vignette 'a', field 'teaches[1]': unknown reason code 'clif'; did you mean 'cliff'? "
     "(reason codes: defaulted, conflict, cliff, "),
    (("age_band: primary", "age_band: primary\n    teaches: [cliff, 3]"),
     "set.yaml:6:22: vignette 'a', field 'teaches[1]': expected a reason code (defaulted, "),
    (("age_band: primary", "age_band: primary\n    teaches: [cliff, cliff]"),
     "set.yaml:6:22: vignette 'a', field 'teaches[1]': reason code 'cliff' is given twice"),
    (("age_band: primary", "age_band: primary\n    teaches: []"), None),  # nothing taught: fine
    (("- id: a\n    age_band: primary", "- age_band: primry"),
     "set.yaml:4:15: vignette 1, field 'age_band': 'age_band' has no level 'primry'"),
    (("{hygiene: sometimes_unkempt}", "{hygiene: true}"),
     "set.yaml:6:24: vignette 'a', field 'factors.hygiene': expected a level name or a number 0-2, got "
     "true (a yes/no value) (levels: 0 none, 1 sometimes_unkempt, 2 poor_hygiene)"),
    (("{hygiene: sometimes_unkempt}", "{age_band: primary}"),
     "set.yaml:6:15: vignette 'a', field 'factors.age_band': 'age_band' is a child attribute, not a "
     "factor: give it as the vignette's own key 'age_band'"),
    (("{hygiene: sometimes_unkempt}", "{n_concerns: 2}"),
     "set.yaml:6:15: vignette 'a', field 'factors.n_concerns': 'n_concerns' is derived from the factors "
     "and cannot be set"),
    (("{hygiene: sometimes_unkempt}", "[hygiene]"),
     "set.yaml:6:14: vignette 'a', field 'factors': expected a mapping of factor id to level, got a list"),
    (("age_band: infant", "age_band: infant\n    disability: disabled"),
     None),  # a good change: nothing to report
    (("{hygiene: sometimes_unkempt}", "{missed_antenatal: present}"),
     "set.yaml:6:33: vignette 'a', field 'factors.missed_antenatal': level 'present' is not plausible for "
     "this child (age_band primary, disability none); catalogue exclusion 'antenatal-only-before-birth': "
     "Antenatal care only applies before the child is born."),
    (("{agency: health_visitor, factor: parental_mental_health}", "{agency: health_visiter, "
                                                                  "factor: parental_mental_health}"),
     "set.yaml:11:18: vignette 'b', field 'reports[0].agency': unknown agency 'health_visiter'; did you "
     "mean 'health_visitor'? (agencies: school, early_years, health_visitor, midwife, gp, paediatrics, "
     "camhs, adult_mental_health, substance_service, police, youth_justice, housing, "
     "domestic_abuse_service, social_care)"),
    (("{agency: health_visitor, factor: parental_mental_health}", "{agency: school, "
                                                                  "factor: parental_mental_health}"),
     "set.yaml:11:18: vignette 'b', field 'reports[0].agency': 'school' does not see a child of this age "
     "(age_band infant); it sees primary, secondary"),
    (("factor: parental_mental_health}", "factor: parental_mental_healt}"),
     "set.yaml:11:42: vignette 'b', field 'reports[0].factor': unknown factor 'parental_mental_healt'; "
     "did you mean 'parental_mental_health'?"),
    (("factor: parental_mental_health}", "factor: parental_mental_health, stance: worried}"),
     "set.yaml:11:74: vignette 'b', field 'reports[0].stance': expected concern or reassure, got 'worried'"),
    (("factor: parental_mental_health}", "factor: parental_mental_health, by: gp}"),
     "set.yaml:11:66: vignette 'b', field 'reports[0].by': unknown key 'by' (keys of a report: agency, "
     "factor, stance)"),
    (("{agency: health_visitor, factor: parental_mental_health}", "{agency: gp}"),
     "set.yaml:11:9: vignette 'b', field 'reports[0].factor': missing key 'factor': the factor the agency "
     "reports on"),
    (("factor: parental_mental_health}", "factor: parental_mental_health}\n      "
                                         "- {agency: gp, factor: hygiene}"),
     "set.yaml:12:30: vignette 'b', field 'reports[1].factor': factor 'hygiene' is not present in this "
     "vignette (its level is 0): give it a level under factors, or report on a present factor"),
    (("{parental_mental_health: 2}", "{parental_mental_health: 2, social_isolation: present}"),
     "set.yaml:10:5: vignette 'b', field 'reports': present factors nobody reports: social_isolation (each "
     "present factor needs a report; a concern unless the factor is protective)"),
    (("factor: parental_mental_health}", "factor: parental_mental_health, stance: reassure}"),
     "set.yaml:10:5: vignette 'b', field 'reports': present factors nobody reports: parental_mental_health"),
    (("      - {agency: health_visitor, factor: parental_mental_health}\n", "      - 3\n"),
     "set.yaml:11:9: vignette 'b', field 'reports[0]': expected a mapping with agency, factor and stance, "
     "got the number 3"),
])
def test_each_kind_of_problem(tmp_path: Path, catalogue: Catalogue, change: tuple[str, str],
                              expected: str | None) -> None:
    old, new = change
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    if expected is None:
        assert len(_build(tmp_path, text, catalogue)) == 2
        return
    error = _problems(tmp_path, text, catalogue)
    heads = _heads(error, tmp_path)
    assert len(heads) == 1, heads
    assert heads[0].startswith(expected), heads[0]


def test_teaches_problems_come_with_the_others_in_one_pass(tmp_path: Path,
                                                           catalogue: Catalogue) -> None:
    text = GOOD.replace("factors: {hygiene: sometimes_unkempt}",
                        "factors: {hygiene: sometimes_unkempt}\n    teaches: [clif]\n    note: [x]")
    text = text.replace("factors: {parental_mental_health: 2}",
                        "factors: {parental_mental_health: 2}\n    teaches: cliff")
    error = _problems(tmp_path, text, catalogue)
    assert [(d.vignette, d.field) for d in error.details] == [("a", "teaches[0]"), ("a", "note"),
                                                               ("b", "teaches")]
    heads = _heads(error, tmp_path)
    assert heads[0].startswith("set.yaml:7:15: vignette 'a', field 'teaches[0]': unknown reason code "
                               "'clif'; did you mean 'cliff'?")
    assert heads[2].startswith("set.yaml:12:14: vignette 'b', field 'teaches': expected a list of "
                               "reason codes")
    assert str(error).splitlines()[0] == f"{tmp_path}/set.yaml: 3 problems in the vignette set"


def test_teaches_is_kept_joined_and_round_trips(tmp_path: Path, catalogue: Catalogue) -> None:
    text = GOOD.replace("factors: {hygiene: sometimes_unkempt}",
                        "factors: {hygiene: sometimes_unkempt}\n    teaches: [cliff, interaction_missed]")
    frame = _build(tmp_path, text, catalogue)
    assert frame["teaches"].tolist() == ["cliff;interaction_missed", ""]
    for suffix in (".jsonl", ".parquet", ".csv"):
        back = read_vignettes(write_table(frame, tmp_path / f"taught{suffix}"), catalogue)
        assert [taught_codes(t) for t in back["teaches"]] == [["cliff", "interaction_missed"], []], suffix
    # a set without the key has no column, so sets written before it keep their bytes
    assert "teaches" not in _build(tmp_path, GOOD, catalogue, "plain.yaml").columns


def test_training_set_teaches_what_its_wicked_notes_say(catalogue: Catalogue) -> None:
    from dsk.sets import load_set

    v = load_set("training-12", catalogue).set_index("vignette_id")
    taught = {vid: taught_codes(t) for vid, t in v["teaches"].items()}
    assert taught == {
        "tame-01-disclosure": [], "tame-02-universal": [], "tame-03-injury": [], "tame-04-hardship": [],
        "wicked-05-toxic-trio-baby": ["interaction_missed"],
        "wicked-06-conflicting-neglect": [],  # the panel splits around the checklist's level
        "wicked-07-count-cliff": [],  # the same level, and no one mechanism makes it
        "wicked-08-protective": ["protective_ignored"],
        "wicked-09-turbulence": ["turbulence_missed"],
        "wicked-10-exploitation-signs": ["interaction_missed"],
        "wicked-11-young-carer": [],  # the same level for other reasons
        "wicked-12-disengagement": ["uncorroborated"],  # the panel reads disengagement alone a level lower
    }
    assert all(v["note"].str.len() > 60)


def test_top_level_shapes_and_designs(tmp_path: Path, catalogue: Catalogue) -> None:
    cases = {
        "- a\n- b\n": "set.yaml: a set source is a mapping with the keys id, seed and vignettes (or a "
                      "design), got a list",
        "id: x\nseed: 1\n": "set.yaml:1:1: a set needs its vignettes: hand-built ones under vignettes, or a "
                            "design (design, n or bands, dimensions)",
        "id: x\nseed: 1\nvignettes: []\n": "set.yaml:3:12: no vignettes: give at least one",
        "id: x\nseed: 1\nvignettes: {a: 1}\n": "set.yaml:3:12: expected a list of vignettes, got a mapping",
        "id: x\nseed: 1\ndesign: stratifed\nn: 6\n": "set.yaml:3:9: field 'design': unknown design "
                                                    "'stratifed'; did you mean 'stratified'?",
        "id: x\nseed: 1\ndesign: random\nn: 0\n": "set.yaml:4:4: field 'n': must be at least 1, got 0",
        "id: x\nseed: 1\ndesign: random\nn: 6\nbands: {low: 6}\n": "set.yaml:5:1: field 'bands': bands apply "
                                                                  "only to the stratified design",
        "id: x\nseed: 1\ndesign: stratified\nbands: {lo: 6}\n": "set.yaml:4:8: field 'bands': unknown "
                                                               "complexity band 'lo'",
        "id: x\nseed: 1\ndesign: stratified\nn: 5\nbands: {low: 6}\n": "set.yaml:4:4: field 'n': n is 5 but "
                                                                       "the bands add up to 6",
        "id: x\nseed: 1\ndesign: d-efficient\nn: 8\n": "set.yaml:3:9: field 'design': the d-efficient design "
                                                       "needs dimensions",
        "id: x\nseed: 1\ndesign: d-efficient\nn: 8\ndimensions: [domestic_abus]\n":
            "set.yaml:5:13: field 'dimensions': 'domestic_abus' is not a factor or child attribute; did you "
            "mean 'domestic_abuse'?",
        "id: x\nseed: 1\ndesign: stratified\nbands: {low: 2}\nacute_share: 2\n":
            "set.yaml:5:14: field 'acute_share': expected a share from 0 to 1, got the number 2",
    }
    for text, expected in cases.items():
        error = _problems(tmp_path, text, catalogue)
        heads = _heads(error, tmp_path)
        assert len(heads) == 1 and heads[0].startswith(expected), (text, heads)


def test_a_design_set_builds_as_generate_does(tmp_path: Path, catalogue: Catalogue) -> None:
    from dsk.design import generate

    frame = _build(tmp_path, "id: six\nseed: 4\ndesign: stratified\nbands: {low: 2, medium: 2, high: 2}\n",
                   catalogue)
    expected = generate("stratified", 6, 4, catalogue, set_id="six", bands={"low": 2, "medium": 2, "high": 2})
    pd.testing.assert_frame_equal(frame, expected)


# ---------------------------------------------------------------- Python dicts


def test_dicts_name_the_vignette_and_field_without_a_line(catalogue: Catalogue) -> None:
    specs: list[Any] = [
        {"id": "a", "age_band": "primary", "factors": {"hygene": 1}},
        {"age_band": "teen", "factors": {"offending": 5}, "reports": "police"},
        "not a mapping",
        {"id": "a", "age_band": "infant", "factors": {"disclosure": "present"}},
    ]
    with pytest.raises(VignetteSetError) as info:
        vignettes_from_specs(specs, "hand", 1, catalogue, source="my specs")
    assert info.value.problems == [
        "my specs: vignette 'a', field 'factors.hygene': unknown factor 'hygene'; did you mean 'hygiene'?",
        "my specs: vignette 2, field 'age_band': 'age_band' has no level 'teen'; levels are unborn, infant, "
        "preschool, primary, secondary",
        "my specs: vignette 2, field 'factors.offending': level 5 is outside 0-2 (levels: 0 none, "
        "1 low_level_offending, 2 gang_involvement)",
        "my specs: vignette 2, field 'reports': expected a list of reports, each {agency, factor, stance}, "
        "got 'police'",
        "my specs: vignette 3: expected a mapping with the keys id, age_band, disability, factors, reports, "
        "note, teaches, facts, got 'not a mapping'",
        "my specs: vignette 'a', field 'id': duplicate id 'a', already used by vignette 1",
        "my specs: vignette 'a', field 'factors.disclosure': level 'present' is not plausible for this "
        "child (age_band infant, disability none); catalogue exclusion 'infants-do-not-disclose': A baby "
        "cannot self-harm, go missing, disclose abuse or need boundaries.",
    ]
    assert str(info.value).splitlines()[0] == "my specs: 7 problems in the vignette set"
    assert check_specs(specs[:1], catalogue) == [
        SetProblem((0, "factors", "hygene"), "a", "factors.hygene",
                   "unknown factor 'hygene'; did you mean 'hygiene'?", True, 1)]
    one = {"id": "ok", "age_band": "primary", "factors": {"hygiene": 1}}
    assert check_specs([one], catalogue) == []
    with pytest.raises(VignetteSetError, match=r"^<specs>: no vignettes: give at least one$"):
        vignettes_from_specs([], "hand", 1, catalogue)


def test_dicts_and_yaml_give_the_same_vignettes(tmp_path: Path, catalogue: Catalogue) -> None:
    import yaml

    specs = yaml.safe_load(GOOD)["vignettes"]
    pd.testing.assert_frame_equal(vignettes_from_specs(specs, "mine", 3, catalogue),
                                  _build(tmp_path, GOOD, catalogue))


# ---------------------------------------------------------------- docs/vignettes.md


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def test_the_docs_example_builds_and_reads_as_the_doc_says(tmp_path: Path, catalogue: Catalogue) -> None:
    section = _section("A complete example")
    (example,) = _blocks(section, "yaml")
    frame = _build(tmp_path, example, catalogue, "cases.yaml")
    assert frame["vignette_id"].tolist() == ["baby-low-mood", "toddler-strengths", "teen-missing",
                                             "school-hardship"]
    assert set(frame["set_id"]) == {"pilot-cases"}
    quoted = [line.removeprefix("> ") for line in section.splitlines() if line.startswith("> ")]
    assert frame["narrative"].iloc[0].split("\n\n") == quoted
    assert frame["note"].iloc[0].startswith("The GP thinks") and frame["note"].iloc[1] == ""
    # the file round-trips through the other formats the doc lists
    for suffix in (".jsonl", ".parquet", ".csv"):
        back = read_vignettes(write_table(frame, tmp_path / f"cases{suffix}"), catalogue)
        assert back["vignette_id"].tolist() == frame["vignette_id"].tolist()
        assert back["complexity_band"].tolist() == frame["complexity_band"].tolist()


def test_the_docs_error_output_is_what_the_code_prints(tmp_path: Path, catalogue: Catalogue,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    section = _section("Errors")
    (bad,) = _blocks(section, "yaml")
    (shown,) = _blocks(section, "text")
    (tmp_path / "cases.yaml").write_text(bad)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VignetteSetError) as info:
        build_set("cases.yaml", catalogue)
    assert str(info.value) == shown.rstrip("\n")
    count = re.match(r"cases\.yaml: (\d+) problems", shown)
    assert count is not None and int(count.group(1)) == len(info.value.problems)


def test_the_docs_list_every_key(catalogue: Catalogue) -> None:
    from dsk.design import REPORT_KEYS, SPEC_KEYS
    from dsk.sets import SET_KEYS

    keys = _section("The keys of a set") + _section("The keys of a vignette")
    for key in (*SET_KEYS, *SPEC_KEYS):
        assert f"`{key}`" in keys, key
    reports = _section("Reports and stances")
    for key in REPORT_KEYS:
        assert f"`{key}`" in reports, key
    for agency in catalogue.agency_ids:
        assert f"`{agency}`" in reports, agency
    assert "[docs/vignettes.md](docs/vignettes.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "[vignettes.md](vignettes.md)" in (ROOT / "docs" / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- where sets are used


def test_an_experiment_stops_on_a_bad_set_before_anything_runs(tmp_path: Path) -> None:
    from dsk.experiment import run_experiment

    (tmp_path / "cases.yaml").write_text(GOOD.replace("age_band: primary", "age_band: primry"))
    config = tmp_path / "exp.yaml"
    config.write_text("id: t\nseed: 1\nvignettes: {file: cases.yaml}\nrulesets: [threshold-of-need]\n"
                      "panels:\n  - {panel: mixed-12}\nrounds: 1\nanalyses: [agreement]\nbootstrap: 20\n"
                      "output: out\n")
    with pytest.raises(VignetteSetError) as info:
        run_experiment(config)
    assert str(info.value).startswith(f"{tmp_path}/cases.yaml:5:15: vignette 'a', field 'age_band': "
                                      "'age_band' has no level 'primry'")
    assert not (tmp_path / "out").exists()


def test_a_set_read_twice_is_read_afresh_when_its_file_changes(tmp_path: Path,
                                                               catalogue: Catalogue) -> None:
    """load_set keeps what it read, but never hands out a stale or shared table."""
    import os

    from dsk.sets import load_set

    path = tmp_path / "mine.jsonl"
    write_table(load_set("training-12", catalogue).head(3), path)
    first = load_set(str(path), catalogue)
    first.loc[0, "narrative"] = "changed by the caller"
    first["reports"].iloc[0].clear()
    again = load_set(str(path), catalogue)
    assert again.loc[0, "narrative"] != "changed by the caller" and again["reports"].iloc[0]
    write_table(load_set("training-12", catalogue).head(2), path)
    os.utime(path, ns=(1, 1))  # a rewrite within the clock's resolution still has a new size
    assert len(load_set(str(path), catalogue)) == 2


def test_max_present_is_checked_and_caps_the_factors(tmp_path: Path, catalogue: Catalogue) -> None:
    """A bad max_present is named with its line; a good one caps every vignette's factors."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: a\nseed: 1\ndesign: random\nn: 5\nmax_present: 0\n", encoding="utf-8")
    with pytest.raises(VignetteSetError, match=r"bad.yaml:5:\d+: field 'max_present': expected a whole number"):
        build_set(bad, catalogue)
    bad.write_text("id: a\nseed: 1\ndesign: d-efficient\nn: 4\nmax_present: 3\ndimensions: [housing]\n",
                   encoding="utf-8")
    with pytest.raises(VignetteSetError, match="max_present applies only to the random and stratified"):
        build_set(bad, catalogue)
    good = tmp_path / "good.yaml"
    good.write_text("id: b\nseed: 2\ndesign: stratified\nbands: {high: 5}\nmax_present: 6\n",
                    encoding="utf-8")
    frame = build_set(good, catalogue)
    assert ((frame[list(catalogue.factor_ids)] > 0).sum(axis=1) <= 6).all()
