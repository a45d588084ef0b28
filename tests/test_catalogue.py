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
    # DOMAIN.md section 3: persistent absence is level 3, out of school level 4,
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


def _broken(tmp_path, old: str, new: str) -> Path:
    text = CATALOGUE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "factors.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    domain: family_environment\n    kind: ordinal\n    levels: [none, historic",
         "    domain: family_envirnment\n    kind: ordinal\n    levels: [none, historic",
         r"factor/entry 'domestic_abuse' field 'domain': expected one of"),
        ("    threshold: [1, 2, 3, 4]\n    agencies: [police, domestic_abuse_service",
         "    threshold: [1, 2, 3]\n    agencies: [police, domestic_abuse_service",
         r"'domestic_abuse' field 'threshold': expected 4 need levels"),
        ("agencies: [police, domestic_abuse_service, health_visitor, school]",
         "agencies: [police, domestic_abuse_servce, health_visitor, school]",
         r"'domestic_abuse' field 'agencies': unknown agencies \['domestic_abuse_servce'\]"),
        ("    kind: count\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]",
         "    kind: tally\n    levels: [0, 1, 2, 3]\n    threshold: [1, 3, 4, 4]",
         r"'missing_episodes' field 'kind': expected one of binary, ordinal, count, got 'tally'"),
        ("    base_rate: 0.12\n    phrases:\n      1: [\"there was domestic abuse",
         "    base_rate: 1.5\n    phrases:\n      1: [\"there was domestic abuse",
         r"'domestic_abuse' field 'base_rate': expected a probability"),
        ("max: {school_attendance: 0, school_exclusion: 0,",
         "max: {school_atendance: 0, school_exclusion: 0,",
         r"'school-age-only' field 'school_atendance': unknown factor; did you mean school_attendance"),
        ("\"a parent uses cannabis occasionally\"",
         "\"a parent is dependent on alcohol and drunk most days\"",
         r"is also used by"),
    ],
)
def test_malformed_catalogue_names_file_entry_field_and_line(tmp_path, old, new, expected):
    path = _broken(tmp_path, old, new)
    with pytest.raises(CatalogueError, match=expected) as info:
        load_catalogue(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line ")
    line = int(message.split(", line ")[1].split(":")[0])
    assert 1 < line <= len(path.read_text().splitlines())


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "factors.yaml"
    path.write_text("version: 1\nfactors: [\n  - id: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"factors.yaml, line \d+: not valid YAML"):
        load_catalogue(path)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "nope.yaml")
