"""Vignette designs and decks (dsk.design)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsk.design import (
    VignetteSetError,
    d_efficient_vignettes,
    generate,
    random_vignettes,
    stratified_vignettes,
    vignettes_from_specs,
)
from dsk.io import write_table
from dsk.schema import validate


def test_random_design_respects_every_exclusion(catalogue):
    v = random_vignettes(3000, random_state=2, catalogue=catalogue, narratives=False)
    levels = v[list(catalogue.factor_ids)].to_numpy()
    child = {a: v[a].to_numpy() for a in catalogue.child_ids}
    assert not catalogue.violations(levels, child).any()
    # and the exclusions do bite: infants never have school attendance problems
    infants = v[v["age_band"] == catalogue.level_code("age_band", "infant")]
    assert len(infants) > 100 and (infants["school_attendance"] == 0).all()
    # whereas without them school-age children do
    older = v[v["age_band"] >= catalogue.level_code("age_band", "primary")]
    assert (older["school_attendance"] > 0).mean() > 0.05


def test_factor_prevalence_follows_base_rates(catalogue):
    v = random_vignettes(5000, random_state=3, catalogue=catalogue, narratives=False)
    f = catalogue.factor("financial_hardship")  # no exclusion applies
    observed = (v[f.id] > 0).mean()
    assert abs(observed - f.base_rate) < 0.03


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path, catalogue):
    a = write_table(random_vignettes(50, random_state=9, catalogue=catalogue), tmp_path / "a.jsonl")
    b = write_table(random_vignettes(50, random_state=9, catalogue=catalogue), tmp_path / "b.jsonl")
    c = write_table(random_vignettes(50, random_state=10, catalogue=catalogue), tmp_path / "c.jsonl")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    s1 = write_table(stratified_vignettes({"high": 5}, random_state=1, catalogue=catalogue), tmp_path / "s1.parquet")
    s2 = write_table(stratified_vignettes({"high": 5}, random_state=1, catalogue=catalogue), tmp_path / "s2.parquet")
    assert s1.read_bytes() == s2.read_bytes()


def test_stratified_hits_the_requested_counts(catalogue):
    counts = {"low": 7, "medium": 11, "high": 13}
    v = stratified_vignettes(counts, random_state=4, catalogue=catalogue, narratives=False)
    assert v["complexity_band"].value_counts().to_dict() == counts
    assert list(v["complexity_band"]) == ["low"] * 7 + ["medium"] * 11 + ["high"] * 13
    means = v.groupby("complexity_band")["complexity"].mean()
    assert means["low"] < means["medium"] < means["high"]


def test_stratified_rejects_unknown_bands(catalogue):
    with pytest.raises(ValueError, match="unknown complexity bands"):
        stratified_vignettes({"extreme": 3}, random_state=1, catalogue=catalogue)


def test_generate_dispatch(catalogue):
    v = generate("stratified", 10, random_state=1, catalogue=catalogue, narratives=False)
    assert v["complexity_band"].value_counts().to_dict() == {"low": 4, "medium": 3, "high": 3}
    with pytest.raises(ValueError, match="unknown design 'latin'"):
        generate("latin", 10, random_state=1, catalogue=catalogue)


def test_d_efficient_design_is_efficient_and_plausible(catalogue):
    dims = ["domestic_abuse", "parental_substance_misuse", "parental_mental_health",
            "age_band", "extended_family_support", "school_attendance"]
    v = d_efficient_vignettes(dims, 40, random_state=7, catalogue=catalogue, narratives=False)
    validate(v, "vignettes", catalogue)
    assert len(v) == 40
    # school attendance is excluded below school age, so the full factorial is out of
    # reach; against the plausible combinations the search is near-optimal
    assert v.attrs["d_efficiency_plausible"] >= 0.95
    assert 0.5 < v.attrs["d_efficiency"] < v.attrs["d_efficiency_plausible"]
    # dimensions vary; everything else stays at its base value
    for dim in dims:
        assert v[dim].nunique() > 1, dim
    others = [f for f in catalogue.factor_ids if f not in dims]
    assert (v[others] == 0).all().all()
    levels = v[list(catalogue.factor_ids)].to_numpy()
    child = {a: v[a].to_numpy() for a in catalogue.child_ids}
    assert not catalogue.violations(levels, child).any()
    again = d_efficient_vignettes(dims, 40, random_state=7, catalogue=catalogue, narratives=False)
    assert again.equals(v)


def test_d_efficient_reaches_090_on_an_unrestricted_universe(catalogue):
    dims = ["domestic_abuse", "parental_substance_misuse", "parental_mental_health",
            "disability", "extended_family_support", "housing"]  # 4*4*4*2*2*3 = 768 combinations
    v = d_efficient_vignettes(dims, 40, random_state=7, catalogue=catalogue, narratives=False)
    assert v.attrs["d_efficiency"] >= 0.9
    assert v.attrs["d_efficiency"] == pytest.approx(v.attrs["d_efficiency_plausible"])


def test_d_efficient_rejects_unknown_dimensions(catalogue):
    with pytest.raises(ValueError, match="did you mean domestic_abuse"):
        d_efficient_vignettes(["domestic_abus"], 10, random_state=1, catalogue=catalogue)


def test_specs_build_hand_made_vignettes(catalogue):
    spec = {"id": "case-a", "age_band": "infant", "factors": {"parental_mental_health": "affecting_care"},
            "reports": [{"agency": "health_visitor", "factor": "parental_mental_health"}], "note": "why"}
    v = vignettes_from_specs([spec], "hand", random_state=1, catalogue=catalogue)
    assert v["vignette_id"].iloc[0] == "case-a" and v["note"].iloc[0] == "why"
    assert v["parental_mental_health"].iloc[0] == 2
    with pytest.raises(VignetteSetError, match="vignette 'bad', field 'factors.school_attendance'.*school-age-only"):
        vignettes_from_specs([{"id": "bad", "age_band": "infant", "factors": {"school_attendance": 1}}],
                             "hand", random_state=1, catalogue=catalogue)
    with pytest.raises(VignetteSetError, match="vignette 'x', field 'factors.hygiene': 'hygiene' has no level 'awful'"):
        vignettes_from_specs([{"id": "x", "age_band": "primary", "factors": {"hygiene": "awful"}}],
                             "hand", random_state=1, catalogue=catalogue)
    with pytest.raises(VignetteSetError, match="field 'reports': present factors nobody reports: offending"):
        vignettes_from_specs([{"id": "x", "age_band": "primary", "factors": {"hygiene": 1, "offending": 1},
                               "reports": [{"agency": "school", "factor": "hygiene"}]}],
                             "hand", random_state=1, catalogue=catalogue)


def test_reports_cover_present_factors_only_and_agencies_see_the_child(catalogue, random_set):
    for _, row in random_set.iterrows():
        present = {f for f in catalogue.factor_ids if row[f] > 0}
        reported = {r["factor"] for r in row["reports"]}
        concerns = {r["factor"] for r in row["reports"] if r["stance"] == "concern"}
        assert reported == present
        assert concerns | {f for f in present if catalogue.factor(f).protective} == present
        orders = sorted(r["order"] for r in row["reports"])
        assert orders == list(range(1, len(orders) + 1))
        for r in row["reports"]:
            assert row["age_band"] in catalogue.agency_ages[r["agency"]]
            assert r["agency"] in catalogue.factor(r["factor"]).agencies
    conflicted = (random_set["cx_conflict"] > 0).mean()
    assert 0.1 < conflicted < 0.35


def test_seeds_differ_per_vignette(random_set):
    assert random_set["seed"].nunique() == len(random_set)
    assert np.issubdtype(random_set["seed"].dtype, np.integer)


def test_stratified_can_cross_complexity_with_acuity(catalogue):
    v = stratified_vignettes({"low": 10, "medium": 10, "high": 10}, random_state=6, catalogue=catalogue,
                             narratives=False, acute_share=0.3)
    acute = catalogue.need_matrix(v[list(catalogue.factor_ids)].to_numpy()).max(axis=1) >= 4
    table = pd.crosstab(v["complexity_band"], acute)
    assert (table[True] == 3).all() and (table[False] == 7).all()
    with pytest.raises(ValueError, match="acute_share must be between 0 and 1"):
        stratified_vignettes({"low": 1}, random_state=1, catalogue=catalogue, acute_share=1.5)
