"""Each complexity dimension moves the way its definition says (dsk.complexity)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsk.catalogue import Catalogue
from dsk.complexity import COMPLEXITY_COLUMNS, assign_band, complexity_of_frame
from dsk.design import vignettes_from_specs


def build(catalogue, age="primary", factors=None, reports=None, disability="none"):
    spec = {"id": "v", "age_band": age, "disability": disability, "factors": factors or {}}
    if reports is not None:
        spec["reports"] = reports
    return vignettes_from_specs([spec], "hand", random_state=1, catalogue=catalogue, narratives=False).iloc[0]


def concern(agency, factor):
    return {"agency": agency, "factor": factor, "stance": "concern"}


def test_an_empty_case_scores_zero_everywhere(catalogue):
    row = build(catalogue, reports=[])
    assert all(row[c] == 0 for c in COMPLEXITY_COLUMNS)
    assert row["complexity"] == 0 and row["complexity_band"] == "low"


def test_multiplicity_rises_with_concerns_and_domains(catalogue):
    one = build(catalogue, factors={"hygiene": 1}, reports=[concern("school", "hygiene")])
    same_domain = build(catalogue, factors={"hygiene": 1, "emotional_wellbeing": 1},
                        reports=[concern("school", "hygiene"), concern("school", "emotional_wellbeing")])
    two_domains = build(catalogue, factors={"hygiene": 1, "financial_hardship": 1},
                        reports=[concern("school", "hygiene"), concern("school", "financial_hardship")])
    assert 0 < one["cx_multiplicity"] < same_domain["cx_multiplicity"] < two_domains["cx_multiplicity"]
    # the other dimensions do not move
    for col in ("cx_interconnection", "cx_network", "cx_conflict"):
        assert one[col] == same_domain[col] == two_domains[col]


def test_protective_factors_are_not_concerns(catalogue):
    row = build(catalogue, factors={"extended_family_support": 1},
                reports=[{"agency": "school", "factor": "extended_family_support", "stance": "reassure"}])
    assert row["cx_multiplicity"] == 0 and row["cx_conflict"] == 0


def test_interconnection_needs_needs_that_amplify_each_other(catalogue):
    pair = {"parental_substance_misuse": 1, "domestic_abuse": 1}
    apart = build(catalogue, factors={"parental_substance_misuse": 1, "hygiene": 1})
    together = build(catalogue, factors=pair)
    trio = build(catalogue, factors={**pair, "parental_mental_health": 1})
    assert apart["cx_interconnection"] == 0
    assert 0 < together["cx_interconnection"] < trio["cx_interconnection"] < 1
    # a parent's serious difficulty weighs more with a baby than with a teenager
    baby = build(catalogue, age="infant", factors={"parental_mental_health": 2})
    teen = build(catalogue, age="secondary", factors={"parental_mental_health": 2})
    assert baby["cx_interconnection"] > teen["cx_interconnection"] == 0


def test_network_counts_distinct_agencies(catalogue):
    f = {"domestic_abuse": 2}
    one = build(catalogue, factors=f, reports=[concern("police", "domestic_abuse")])
    twice_same = build(catalogue, factors=f, reports=[concern("police", "domestic_abuse")] * 2)
    three = build(catalogue, factors=f, reports=[concern("police", "domestic_abuse"),
                                                 concern("school", "domestic_abuse"),
                                                 concern("domestic_abuse_service", "domestic_abuse")])
    assert one["cx_network"] == 0 == twice_same["cx_network"]
    assert three["cx_network"] > 0 and three["n_agencies"] == 3


def test_conflict_needs_a_reassurance_against_a_concern(catalogue):
    f = {"basic_care": 2}
    agreed = build(catalogue, factors=f, reports=[concern("school", "basic_care"), concern("gp", "basic_care")])
    split = build(catalogue, factors=f, reports=[
        concern("school", "basic_care"), {"agency": "gp", "factor": "basic_care", "stance": "reassure"}])
    assert agreed["cx_conflict"] == 0
    assert split["cx_conflict"] > 0
    assert split["cx_network"] == agreed["cx_network"]


def test_turbulence_rises_with_moves_and_change(catalogue):
    calm = build(catalogue, factors={"hygiene": 1})
    one_move = build(catalogue, factors={"hygiene": 1, "frequent_moves": 1})
    many_moves = build(catalogue, factors={"hygiene": 1, "frequent_moves": 3})
    plus_partner = build(catalogue, factors={"hygiene": 1, "frequent_moves": 3, "new_partner": 1})
    assert calm["cx_turbulence"] == 0
    assert 0 < one_move["cx_turbulence"] < many_moves["cx_turbulence"] < plus_partner["cx_turbulence"] < 1


def test_emotional_charge_from_injury_disclosure_and_infancy(catalogue):
    older = build(catalogue, age="secondary", factors={"hygiene": 1})
    baby = build(catalogue, age="infant", factors={"hygiene": 1})
    injury = build(catalogue, age="secondary", factors={"hygiene": 1, "non_accidental_injury": 1})
    injury_disclosed = build(catalogue, age="secondary",
                             factors={"hygiene": 1, "non_accidental_injury": 1, "disclosure": 1})
    assert older["cx_emotional"] == 0
    assert baby["cx_emotional"] > 0
    assert 0 < injury["cx_emotional"] < injury_disclosed["cx_emotional"] < 1


def test_a_small_case_by_hand(catalogue: Catalogue) -> None:
    """Every dimension of one small case, worked by hand from docs/methods.md, "Complexity dimensions".

    A primary-school child; domestic abuse at level 2 ("current", usual need 3, family
    environment) and parental substance misuse at level 1 ("occasional use", usual need 2,
    parenting capacity). The police report the abuse, the school reassures about it, the GP
    reports the substance misuse. Scales and weights are those of vignettes/factors.yaml.
    """
    row = build(catalogue, age="primary",
                factors={"domestic_abuse": 2, "parental_substance_misuse": 1},
                reports=[concern("police", "domestic_abuse"),
                         {"agency": "school", "factor": "domestic_abuse", "stance": "reassure"},
                         concern("gp", "parental_substance_misuse")])
    # multiplicity: c = 2 concerns at need 2+, in d = 2 CAF domains; concern_scale 4, domain_weight 0.5
    multiplicity = 0.5 * (1 - math.exp(-2 / 4)) + 0.5 * 2 / 3  # 0.196735 + 0.333333
    # interconnection: one active interaction (substance and domestic abuse, weight 1); scale 1.5
    interconnection = 1 - math.exp(-1.0 / 1.5)
    # network: police, school and GP report: 3 agencies, less one; scale 3
    network = 1 - math.exp(-(3 - 1) / 3)
    # conflict: domestic abuse has a concern and a reassurance; scale 1
    conflict = 1 - math.exp(-1 / 1)
    # turbulence: domestic abuse weighs 0.5, at level 2 of 3; scale 1.2
    turbulence = 1 - math.exp(-(0.5 * 2 / 3) / 1.2)
    # emotional charge: no anxiety-raising factor, and a primary-school child adds nothing
    emotional = 0.0
    expected = {"cx_multiplicity": 0.530068, "cx_interconnection": 0.486583, "cx_network": 0.486583,
                "cx_conflict": 0.632121, "cx_turbulence": 0.242535, "cx_emotional": 0.0}
    by_formula = dict(zip(COMPLEXITY_COLUMNS, (multiplicity, interconnection, network, conflict, turbulence,
                                               emotional), strict=True))
    for col in COMPLEXITY_COLUMNS:
        assert by_formula[col] == pytest.approx(expected[col], abs=1e-6), col
        assert row[col] == pytest.approx(expected[col], abs=1e-6), col
    # the composite: equal weights, so the plain mean, 2.377890 / 6; at or above 0.36 is high
    assert row["complexity"] == pytest.approx(0.396315, abs=1e-6)
    assert row["complexity_band"] == "high"
    assert (row["n_concerns"], row["n_domains"], row["n_agencies"]) == (2, 2, 3)


def test_composite_is_the_weighted_mean_and_bands_follow_cut_points(catalogue, random_set):
    spec = catalogue.complexity
    weights = np.array([spec.weights[c.removeprefix("cx_")] for c in COMPLEXITY_COLUMNS])
    expected = random_set[list(COMPLEXITY_COLUMNS)].to_numpy() @ weights / weights.sum()
    assert np.allclose(random_set["complexity"], expected, atol=1e-5)
    assert random_set["complexity"].between(0, 1).all()
    bands = assign_band(catalogue, np.array([0.0, spec.band_medium - 1e-9, spec.band_medium,
                                             spec.band_high, 0.99]))
    assert list(bands) == ["low", "low", "medium", "high", "high"]


def test_recomputing_from_the_table_matches_generation(catalogue, random_set):
    again = complexity_of_frame(catalogue, random_set)
    for col in (*COMPLEXITY_COLUMNS, "complexity"):
        assert np.allclose(again[col], random_set[col]), col
    assert (again["complexity_band"] == random_set["complexity_band"]).all()


@pytest.mark.parametrize("band", ["low", "medium", "high"])
def test_every_band_occurs_in_random_draws(random_set, band):
    assert (random_set["complexity_band"] == band).sum() >= 20
