"""The factor catalogue: content, derived features and error messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsk.catalogue import DOMAINS, CatalogueError, load_catalogue

CATALOGUE = Path(__file__).resolve().parents[1] / "vignettes" / "factors.yaml"


def test_catalogue_covers_the_caf_triangle(catalogue):
    assert len(catalogue.factors) >= 36
    per_domain = {d: [f for f in catalogue.factors if f.domain == d] for d in DOMAINS}
    assert all(len(v) >= 8 for v in per_domain.values()), {d: len(v) for d, v in per_domain.items()}
    assert sum(f.protective for f in catalogue.factors) >= 3
    kinds = {f.kind for f in catalogue.factors}
    assert kinds == {"binary", "ordinal", "count"}


def test_every_factor_is_complete(catalogue):
    for f in catalogue.factors:
        assert f.label and f.topic and f.agencies
        assert len(f.threshold) == f.n_levels
        assert set(f.phrases) == set(range(1, f.n_levels))
        if not f.protective:
            assert f.threshold[0] == 1 and max(f.threshold) >= 2


def test_child_attributes(catalogue):
    assert catalogue.child["age_band"].levels == ("unborn", "infant", "preschool", "primary", "secondary")
    assert catalogue.child["disability"].levels == ("none", "disabled")
    assert catalogue.level_code("age_band", "secondary") == 4


def test_threshold_levels_follow_the_published_documents(catalogue):
    # The published threshold documents (docs/methods.md): persistent absence is level 3, out of school level 4,
    # disclosure and non-accidental injury always level 4.
    att = catalogue.factor("school_attendance")
    assert att.threshold[att.levels.index("persistent_absence")] == 3
    assert att.threshold[att.levels.index("out_of_school")] == 4
    assert catalogue.factor("disclosure").threshold == (1, 4)
    assert catalogue.factor("non_accidental_injury").threshold == (1, 4)


def test_exclusions_cap_implausible_factors(catalogue):
    child = {"age_band": np.array([0, 1, 3]), "disability": np.array([0, 0, 0])}
    caps = catalogue.caps(child)
    j_school = catalogue.factor_index("school_attendance")
    j_self_harm = catalogue.factor_index("self_harm")
    assert caps[0, j_school] == 0 and caps[1, j_school] == 0 and caps[2, j_school] == 3
    assert caps[0, j_self_harm] == 0 and caps[2, j_self_harm] == 3


def test_derived_features_count_as_declared(catalogue):
    levels = np.zeros((1, len(catalogue.factors)), dtype=int)
    set_to = {"domestic_abuse": 2, "parental_substance_misuse": 1, "school_attendance": 3,
              "extended_family_support": 1, "positive_parenting": 1}
    for fid, lv in set_to.items():
        levels[0, catalogue.factor_index(fid)] = lv
    d = catalogue.derive(levels, n_agencies=np.array([4]))
    # domestic abuse current -> 3, substance occasional -> 2, out of school -> 4
    assert d["n_concerns"][0] == 3
    assert d["n_concerns_l3"][0] == 2
    assert d["n_concerns_l4"][0] == 1
    assert d["n_concerns_family_environment"][0] == 1
    assert d["n_concerns_parenting_capacity"][0] == 1
    assert d["n_domains"][0] == 3
    assert d["toxic_trio"][0] == 2
    assert d["n_protective"][0] == 2
    assert d["n_agencies"][0] == 4


def test_names_and_ranges(catalogue):
    assert "toxic_trio" in catalogue.names() and "age_band" in catalogue.names()
    assert catalogue.value_range("toxic_trio") == (0, 3)
    assert catalogue.value_range("n_domains") == (0, 3)
    with pytest.raises(KeyError, match="closest catalogue names: domestic_abuse"):
        catalogue.value_range("domestic_abus")


def _broken(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """A copy of the bundled catalogue with each ``(old, new)`` text replaced once."""
    text = CATALOGUE.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "factors.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line(path: Path, *anchors: str) -> int:
    """1-based line of the last anchor, each searched for after the one before."""
    text = path.read_text(encoding="utf-8")
    at = 0
    for anchor in anchors:
        at = text.index(anchor, at)
    return text.count("\n", 0, at) + 1


@pytest.mark.parametrize(
    ("old", "new", "entry", "field", "expected", "anchors"),
    [
        ("    domain: family_environment\n    kind: ordinal\n    levels: [none, historic",
         "    domain: family_envirnment\n    kind: ordinal\n    levels: [none, historic",
         "factor 'domestic_abuse'", "domain", "expected one of child_development, parenting_capacity, "
         "family_environment, got 'family_envirnment'", ("family_envirnment",)),
        ("    threshold: [1, 2, 3, 4]\n    agencies: [police, domestic_abuse_service",
         "    threshold: [1, 2, 3]\n    agencies: [police, domestic_abuse_service",
         "factor 'domestic_abuse'", "threshold", "expected 4 need levels (1-4), one per level",
         ("id: domestic_abuse", "threshold:")),
        ("agencies: [police, domestic_abuse_service, health_visitor, school]",
         "agencies: [police, domestic_abuse_servce, health_visitor, school]",
         "factor 'domestic_abuse'", "agencies",
         "unknown agencies ['domestic_abuse_servce']; did you mean domestic_abuse_service?",
         ("domestic_abuse_servce",)),
        ("    kind: count\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]",
         "    kind: tally\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]",
         "factor 'missing_episodes'", "kind", "expected one of binary, ordinal, count, got 'tally'",
         ("kind: tally",)),
        ("    base_rate: 0.12\n    phrases:\n      1:\n        - \"{carer} was beaten by a former partner",
         "    base_rate: 1.5\n    phrases:\n      1:\n        - \"{carer} was beaten by a former partner",
         "factor 'domestic_abuse'", "base_rate", "expected a probability in [0, 1], got 1.5",
         ("base_rate: 1.5",)),
        ("max: {school_attendance: 0, school_exclusion: 0,",
         "max: {school_atendance: 0, school_exclusion: 0,",
         "exclusion 'school-age-only'", "max.school_atendance",
         "unknown factor; did you mean school_attendance?", ("school_atendance",)),
        ("- text: \"{carer} was too drunk to collect {name} from school twice this term and a neighbour stepped in\"",
         "- text: \"{carer} drinks heavily on Friday and Saturday nights but is sober and up early in the week\"",
         "factor 'parental_substance_misuse'", "phrases",
         "phrase '{carer} drinks heavily on Friday and Saturday nights but is sober and up early in the week' is "
         "also used by 'parental_substance_misuse' level 1", ("id: parental_substance_misuse", "phrases:")),
    ],
)
def test_malformed_catalogue_names_file_entry_field_and_line(
        tmp_path: Path, old: str, new: str, entry: str, field: str, expected: str,
        anchors: tuple[str, ...]) -> None:
    path = _broken(tmp_path, (old, new))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    line = _line(path, *anchors)
    error = info.value
    assert (error.source, error.line, error.entry, error.field) == (str(path), line, entry, field)
    assert [p.problem for p in error.problems] == [expected]
    assert str(error) == f"{path}, line {line}: {entry}, field {field!r}: {expected}"


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    """Mistakes in a factor, another factor, an exclusion and a derived feature, found together, in file order."""
    path = _broken(
        tmp_path,
        ("    threshold: [1, 2, 3, 4]\n    agencies: [police, domestic_abuse_service",
         "    threshold: [1, 2, 3]\n    agencies: [police, domestic_abuse_service"),
        ("    kind: count\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]",
         "    kind: tally\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]"),
        ("max: {school_attendance: 0, school_exclusion: 0,", "max: {school_atendance: 0, school_exclusion: 0,"),
        ("count: {min_threshold: 3}", "count: {min_threshold: 5}"),
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    found = [(p.line, p.entry, p.field, p.problem) for p in info.value.problems]
    assert found == [
        (_line(path, "kind: tally"), "factor 'missing_episodes'", "kind",
         "expected one of binary, ordinal, count, got 'tally'"),
        (_line(path, "id: domestic_abuse", "threshold:"), "factor 'domestic_abuse'", "threshold",
         "expected 4 need levels (1-4), one per level"),
        (_line(path, "school_atendance"), "exclusion 'school-age-only'", "max.school_atendance",
         "unknown factor; did you mean school_attendance?"),
        (_line(path, "min_threshold: 5"), "derived feature 'n_concerns_l3'", "count.min_threshold",
         "expected a need level 1-4"),
    ]
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 4 problems in the catalogue:"
    assert lines[1:] == [f"  {path}, line {line}: {entry}, field {field!r}: {problem}"
                         for line, entry, field, problem in found]
    # the first problem in the file is the error's own
    assert (info.value.line, info.value.entry, info.value.field) == found[0][:3]


def test_several_problems_in_one_entry(tmp_path: Path) -> None:
    path = _broken(tmp_path, ("  - id: school_exclusion\n    label: Exclusion from school\n    domain: child_development\n"
                              "    kind: ordinal\n",
                              "  - id: school_exclusion\n    domain: child_develop\n    kind: ordinal\n"
                              "    protectve: true\n"))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    entry_line = _line(path, "- id: school_exclusion")
    found = sorted((p.line, p.entry, p.field, p.problem) for p in info.value.problems)
    assert found == sorted([
        (entry_line, "factor 'school_exclusion'", "label", "missing"),
        (entry_line + 1, "factor 'school_exclusion'", "domain",
         "expected one of child_development, parenting_capacity, family_environment, got 'child_develop'"),
        (entry_line + 3, "factor 'school_exclusion'", "protectve", "unknown field; did you mean protective?"),
    ])


def test_a_broken_entry_is_reported_once(tmp_path: Path) -> None:
    """domestic_abuse is used by toxic_trio, interactions and turbulence: its own mistake is the only problem."""
    path = _broken(tmp_path, ("levels: [none, historic, current, escalating_involving_child]",
                              "levels: none, historic, current, escalating_involving_child"))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert [(p.entry, p.field) for p in info.value.problems] == [("factor 'domestic_abuse'", "levels")]
    assert info.value.problems[0].problem.startswith("expected a list, got str 'none, historic")


def test_every_plausible_factor_needs_an_agency_that_sees_the_age(tmp_path: Path) -> None:
    """Without the school-age exclusion, school attendance is plausible for under-fives, whom no school sees."""
    path = _broken(tmp_path, ("max: {school_attendance: 0, school_exclusion: 0,", "max: {school_exclusion: 0,"))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert [(p.line, p.entry, p.field, p.problem) for p in info.value.problems] == [
        (_line(path, "id: school_attendance", "agencies:"), "factor 'school_attendance'", "agencies",
         "no listed agency sees a child aged 'unborn', 'infant', 'preschool'; add one or exclude the factor "
         "for that age")]


def test_unknown_sections_and_missing_ones(tmp_path: Path) -> None:
    path = _broken(tmp_path, ("exclusions:\n", "exclusion:\n"), ("complexity:\n", "complexty:\n"))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    found = {(p.line, p.field, p.problem) for p in info.value.problems}
    assert (_line(path, "exclusion:\n"), "exclusion", "unknown field; did you mean exclusions?") in found
    assert (_line(path, "complexty:\n"), "complexty", "unknown field; did you mean complexity?") in found
    assert (0, "complexity", "missing") in found
    assert len(found) == 3


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text("version: 1\nfactors: [\n  - id: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"factors.yaml, line \d+: not valid YAML"):
        load_catalogue(path)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "nope.yaml")


def test_an_unreadable_entry_hides_no_other_problem_and_causes_none(tmp_path: Path) -> None:
    """A factor that is not a mapping has no readable id, so names it might hold are not called unknown
    (school_exclusion is used by an exclusion and by turbulence); problems elsewhere are still reported."""
    path = _broken(tmp_path,
                   ("  - id: school_exclusion\n", "  - school_exclusion\n  - id: School_Exclusion\n"),
                   ("base_rate: 0.12\n", "base_rate: -0.12\n"))
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    assert [(p.line, p.entry, p.field, p.problem) for p in info.value.problems] == [
        # a bare list item has no line of its own: the error points at its section
        (_line(path, "factors:"), "factor #3", None, "expected a mapping, got str 'school_exclusion'"),
        (_line(path, "  - id: School_Exclusion\n"), "factor 'School_Exclusion'", "id",
         "ids are lower-case snake_case identifiers"),
        (_line(path, "base_rate: -0.12"), "factor 'developmental_delay'", "base_rate",
         "expected a probability in [0, 1], got -0.12"),
    ]


def test_phrases_that_do_not_fit_are_named_in_one_pass(tmp_path: Path) -> None:
    """Unknown ages and roles and an undeclared placeholder, all at once, each with its line."""
    path = _broken(
        tmp_path,
        ('        - text: "{carer} was slurring and unsteady when {carer_he} came to collect {name} from nursery"\n'
         '          ages: [infant, preschool]',
         '        - text: "{carer} was slurring and unsteady when {adult} came to collect {name} from nursery"\n'
         '          ages: [infants, preschool]\n          needs: [uncle]'),
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    text = str(info.value)
    assert "unknown age band 'infants'" in text
    assert "unknown roles ['uncle']" in text
    assert "placeholder {adult} cannot be used here: it names the role 'adult'" in text
    assert len(info.value.problems) == 3
    assert all(p.line is not None for p in info.value.problems)


def test_every_age_a_factor_can_occur_at_has_a_phrase(tmp_path: Path) -> None:
    path = _broken(
        tmp_path,
        ('from nursery"\n          ages: [infant, preschool]', 'from nursery"\n          ages: [secondary]'),
        ('no adult awake in the home"\n          ages: [infant, preschool, primary, secondary]',
         'no adult awake in the home"\n          ages: [primary, secondary]'),
    )
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    problems = [p.problem for p in info.value.problems]
    assert problems == [
        "no phrase for level 2 (affecting_care) fits a child aged 'infant'; add one or widen a phrase's ages",
        "no phrase for level 2 (affecting_care) fits a child aged 'preschool'; add one or widen a phrase's ages",
    ]
