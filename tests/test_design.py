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


# ---------------------------------------------------------------- D-efficient designs with interactions

TRIO = ["domestic_abuse", "parental_mental_health", "parental_substance_misuse"]
TRIO_PAIRS = ["domestic_abuse:parental_mental_health", "domestic_abuse:parental_substance_misuse",
              "parental_mental_health:parental_substance_misuse"]


def test_main_effects_designs_are_unchanged_by_interaction_support(catalogue):
    """Known answer recorded before interactions and balancing existed: the levels of this design
    (SHA-256 of its dimension columns as int64) and its two D-efficiencies."""
    import hashlib

    dims = ["domestic_abuse", "parental_substance_misuse", "parental_mental_health",
            "age_band", "extended_family_support", "school_attendance"]
    v = d_efficient_vignettes(dims, 40, random_state=7, catalogue=catalogue, narratives=False)
    levels = np.ascontiguousarray(v[dims].to_numpy(np.int64))
    assert hashlib.sha256(levels.tobytes()).hexdigest() == (
        "212190a5ffac992b122775f3198c5840f2133628b50c8ddce25e6b389f20fd67")
    assert v.attrs["d_efficiency"] == pytest.approx(0.8784305525699215, rel=1e-12)
    assert v.attrs["d_efficiency_plausible"] == pytest.approx(0.9885069769622103, rel=1e-12)
    assert v.attrs["interactions"] == [] and v.attrs["balance_swaps"] == 0


def test_toxic_trio_interactions_give_a_balanced_design(catalogue):
    from dsk._doe import d_efficiency, model_matrix

    v = d_efficient_vignettes(TRIO, 48, random_state=2, catalogue=catalogue, narratives=False,
                              interactions=TRIO_PAIRS)
    assert v.attrs["interactions"] == TRIO_PAIRS
    assert v.attrs["level_counts"] == {d: [12, 12, 12, 12] for d in TRIO}
    for dim in TRIO:  # the table agrees with the counts it reports
        assert v[dim].value_counts().sort_index().tolist() == [12, 12, 12, 12]
    runs = v[TRIO].to_numpy()
    pairs = [(0, 1), (0, 2), (1, 2)]
    assert v.attrs["d_efficiency"] == pytest.approx(d_efficiency(runs, [4, 4, 4], interactions=pairs),
                                                    rel=1e-12)
    assert v.attrs["d_efficiency"] >= 0.85
    assert np.linalg.matrix_rank(model_matrix(runs, [4, 4, 4], pairs)) == 37  # every interaction estimable
    # every combination of the three is plausible, so the two efficiencies coincide and the note says so
    assert v.attrs["d_efficiency_plausible"] == pytest.approx(v.attrs["d_efficiency"])
    assert "every combination is plausible" in v.attrs["d_efficiency_note"]
    again = d_efficient_vignettes(TRIO, 48, random_state=2, catalogue=catalogue, narratives=False,
                                  interactions=[tuple(p.split(":")) for p in TRIO_PAIRS])
    assert again.equals(v)


def test_restricted_design_reports_both_efficiencies_in_words_that_match_the_numbers(catalogue):
    """School attendance exists only at school age, so the plausible set is smaller than the
    factorial: the figure against it is the larger one, and the note gives both numbers."""
    dims = ["domestic_abuse", "parental_mental_health", "age_band", "school_attendance"]
    v = d_efficient_vignettes(dims, 60, random_state=1, catalogue=catalogue, narratives=False,
                              interactions=["domestic_abuse:parental_mental_health",
                                            "age_band:domestic_abuse"])
    full, plausible = v.attrs["d_efficiency"], v.attrs["d_efficiency_plausible"]
    assert 0 < full < plausible
    note = v.attrs["d_efficiency_note"]
    assert f"{full:.4g} against the full factorial" in note
    assert f"{plausible:.4g} against the plausible combinations" in note
    assert "a figure above 1 is correct" in note
    assert "domestic_abuse:parental_mental_health, domestic_abuse:age_band" in note
    levels = v[list(catalogue.factor_ids)].to_numpy()
    child = {a: v[a].to_numpy() for a in catalogue.child_ids}
    assert not catalogue.violations(levels, child).any()


def test_plausible_figure_above_one_is_explained(catalogue):
    """Main effects only, with school attendance by age band: the plausible set piles up
    school-age children, so a design that spreads the ages beats it (figure above 1)."""
    v = d_efficient_vignettes(["age_band", "school_attendance", "domestic_abuse"], 30, random_state=1,
                              catalogue=catalogue, narratives=False)
    assert v.attrs["d_efficiency_plausible"] > 1
    assert v.attrs["d_efficiency"] < 1
    assert f"{v.attrs['d_efficiency_plausible']:.4g} against the plausible" in v.attrs["d_efficiency_note"]


def test_interaction_the_plausible_set_cannot_estimate_is_a_clear_error(catalogue):
    with pytest.raises(ValueError, match=r"the plausible combinations of these dimensions cannot estimate all "
                                         r"main effects and interactions .*cannot estimate "
                                         r"age_band:school_attendance \(only 3 of its 12 columns are\)"):
        d_efficient_vignettes(["domestic_abuse", "age_band", "school_attendance"], 40, random_state=1,
                              catalogue=catalogue, interactions=["age_band:school_attendance"])


def test_bad_interactions_are_named_all_at_once(catalogue):
    with pytest.raises(ValueError) as info:
        d_efficient_vignettes(TRIO, 48, random_state=1, catalogue=catalogue,
                              interactions=["domestic_abuse:domestic_abuse", "parental_mental_helth:age_band",
                                            "domestic_abuse", "parental_mental_health:domestic_abuse",
                                            "domestic_abuse:parental_mental_health"])
    assert str(info.value) == (
        "interactions: 4 problems: 'domestic_abuse:domestic_abuse' names domestic_abuse twice; "
        "'parental_mental_helth:age_band': 'parental_mental_helth' and 'age_band' are not among the design's "
        "dimensions; did you mean 'parental_mental_health'?; 'domestic_abuse': expected two dimension names, "
        "as A:B; 'domestic_abuse:parental_mental_health': the interaction "
        "domestic_abuse:parental_mental_health is given twice (dimensions: domestic_abuse, "
        "parental_mental_health, parental_substance_misuse)")


def test_too_few_vignettes_for_the_interactions_say_how_many_are_needed(catalogue):
    with pytest.raises(ValueError, match=r"n \(the number of vignettes\): the model with main effects and 3 "
                                         "two-way interactions for levels \\[4, 4, 4\\] has 37 parameters, so at "
                                         "least 37 runs are needed, got 30"):
        d_efficient_vignettes(TRIO, 30, random_state=1, catalogue=catalogue, interactions=TRIO_PAIRS)


def test_interactions_only_apply_to_the_d_efficient_design(catalogue):
    with pytest.raises(ValueError, match="interactions apply only to the d-efficient design, not 'random'"):
        generate("random", 5, 1, catalogue, interactions=["a:b"])
    v = generate("d-efficient", 24, 1, catalogue, narratives=False, dimensions=TRIO[:2] + ["disability"],
                 interactions=[TRIO_PAIRS[0]])
    assert v.attrs["interactions"] == [TRIO_PAIRS[0]]


def test_cli_generates_a_design_with_interactions_and_explains_its_efficiencies(tmp_path, catalogue):
    from typer.testing import CliRunner

    from dsk.cli import app
    from dsk.io import read_vignettes

    runner = CliRunner()
    out = tmp_path / "trio.jsonl"
    args = ["vignettes", "generate", "-n", "48", "--design", "d-efficient", "--dimensions", ",".join(TRIO),
            "--no-narratives", "-o", str(out), "--seed", "2"]
    for pair in TRIO_PAIRS:
        args += ["--interaction", pair]
    result = runner.invoke(app, args, terminal_width=400)
    assert result.exit_code == 0, result.output
    same = d_efficient_vignettes(TRIO, 48, random_state=2, catalogue=catalogue, narratives=False,
                                 interactions=TRIO_PAIRS, set_id="d-efficient-2")
    written = read_vignettes(out, catalogue)
    assert written[TRIO].equals(same[TRIO])
    assert same.attrs["d_efficiency_note"] in " ".join(result.output.split())
    assert ("Vignettes per level: domestic_abuse 12/12/12/12; parental_mental_health 12/12/12/12; "
            "parental_substance_misuse 12/12/12/12.") in " ".join(result.output.split())
    bad = runner.invoke(app, ["vignettes", "generate", "-n", "48", "--design", "d-efficient", "--dimensions",
                              ",".join(TRIO), "-o", str(out), "--interaction", "domestic_abuse:age_band",
                              "--interaction", "housing"], terminal_width=400)
    assert bad.exit_code == 1
    assert ("--interaction: 2 problems: 'domestic_abuse:age_band': 'age_band' is not among the design's "
            "dimensions; 'housing': expected two dimension names, as A:B") in " ".join(bad.output.split())
    other = runner.invoke(app, ["vignettes", "generate", "-n", "5", "-o", str(out), "--interaction", "a:b"])
    assert other.exit_code == 1
    assert "--interaction: interactions apply only to --design d-efficient, not 'random'" in other.output


def test_config_key_interactions_reaches_the_design_and_the_manifest(tmp_path):
    from dsk.experiment import ConfigError, run_experiment

    config = """id: t
seed: 3
vignettes: {design: d-efficient, n: 24, set_id: pilot-24,
            dimensions: [domestic_abuse, parental_mental_health, disability],
            interactions: [domestic_abuse:parental_mental_health]}
rulesets: [threshold-of-need]
panels:
  - {panel: mixed-12}
rounds: 1
analyses: [agreement]
bootstrap: 0
"""
    path = tmp_path / "exp.yaml"
    path.write_text(config)
    run = run_experiment(path, tmp_path / "run", report=False)
    entry = run.manifest["design"]
    assert entry["interactions"] == ["domestic_abuse:parental_mental_health"]
    assert entry["level_counts"] == {"domestic_abuse": [6, 6, 6, 6], "parental_mental_health": [6, 6, 6, 6],
                                     "disability": [12, 12]}
    assert f"{entry['d_efficiency']:.4g} against the full factorial" in entry["d_efficiency_note"]
    # the report's table of the design shows the same figures as its sentence
    from dsk.report._context import _parameters

    shown = dict(_parameters(entry))
    assert f"{shown['d efficiency']} against the full factorial" in shown["d efficiency note"]
    assert shown["interactions"] == "domestic_abuse:parental_mental_health"
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.replace("interactions: [domestic_abuse:parental_mental_health]",
                                  "interactions: [domestic_abuse:housing]"))
    with pytest.raises(ConfigError, match="interactions: 'domestic_abuse:housing': 'housing' is not among the "
                                          "design's dimensions"):
        run_experiment(bad, tmp_path / "run2", report=False)


@pytest.mark.parametrize("design", ["random", "stratified", "d-efficient"])
def test_skipping_validation_gives_the_same_table_and_skips_only_the_check(design, catalogue, monkeypatch, tmp_path):
    import dsk.design as D

    kwargs = {"dimensions": ["domestic_abuse", "parental_mental_health"]} if design == "d-efficient" else {}
    checked = generate(design, 12, 5, catalogue, narratives=False, **kwargs)
    calls: list[str] = []
    real = D.validate_table

    def counting(frame: pd.DataFrame, table: str, cat: object = None) -> pd.DataFrame:
        calls.append(table)
        return real(frame, table, cat)

    monkeypatch.setattr(D, "validate_table", counting)
    trusted = generate(design, 12, 5, catalogue, narratives=False, validate=False, **kwargs)
    assert calls == []
    again = generate(design, 12, 5, catalogue, narratives=False, **kwargs)
    assert calls == ["vignettes"]
    pd.testing.assert_frame_equal(trusted, checked)
    assert trusted.attrs == checked.attrs == again.attrs
    write_table(checked, tmp_path / "checked.csv")
    write_table(trusted, tmp_path / "trusted.csv")
    assert (tmp_path / "trusted.csv").read_bytes() == (tmp_path / "checked.csv").read_bytes()


def test_one_take_of_many_rows_is_the_single_takes_concatenated(catalogue):
    # stratified_vignettes takes every picked vignette at once from the concatenated batches;
    # that must give what taking them one by one and concatenating gives (reports included)
    from dsk.design import _concat, sample_vignette_arrays

    parts = [sample_vignette_arrays(40, seed, catalogue, conflict_rate=0.6) for seed in (1, 2)]
    rows = np.random.default_rng(3).permutation(80)[:30]
    offsets = [0, 40]
    one = _concat(parts).take(rows)
    single = _concat([parts[r // 40].take(np.array([r - offsets[r // 40]])) for r in rows])
    assert one.reports.vignette.size > 30  # conflicting reports too
    a, b = one.to_frame(catalogue, "t"), single.to_frame(catalogue, "t")
    pd.testing.assert_frame_equal(a, b)
