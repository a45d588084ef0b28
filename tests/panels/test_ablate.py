"""Which assumption produces which finding (dsk.panels.ablate, ``dsk panel ablate``, the run's stage).

No simulated number is written down here: the simulator is being retuned. The tests check
properties instead: a mechanism that has nothing to act on changes nothing; with every
mechanism already neutral every variant is the full model and the item reading decides every
level; the findings equal the same statistics computed another way (the ``krippendorff``
package, the percent agreement of :mod:`dsk.analysis.coefficients`, the run's own stats
table); and the produced-by rule on hand-made tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dsk.analysis import krippendorff_alpha, median_level, percent_agreement
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.panels import Ablation, ablate, load_panel, load_professions, simulate_panel
from dsk.panels.ablate import FULL, ITEM_READING_VARIANT, PRODUCED_BY_RULE, produced_by, variants
from dsk.panels.mechanisms import MECHANISMS
from dsk.panels.simulate import neutral_profiles
from dsk.rules import bundled_rulesets, evaluate, load_ruleset
from dsk.schema import validate

SEED = 4


@pytest.fixture(scope="module")
def setting() -> dict[str, object]:
    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    vignettes = generate("stratified", 150, 2, cat, narratives=False)
    rulesets = [load_ruleset(bundled_rulesets()[r], cat) for r in ("threshold-of-need", "count-of-concerns")]
    return {"cat": cat, "profs": profs, "vignettes": vignettes, "panel": load_panel("mixed-12", profs),
            "rulesets": rulesets}


def _decisions(setting: dict[str, object], vignettes: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([evaluate(r, vignettes, catalogue=setting["cat"]).decisions()  # type: ignore[arg-type]
                      for r in setting["rulesets"]], ignore_index=True)  # type: ignore[attr-defined]


def _ablate(setting: dict[str, object], vignettes: pd.DataFrame, **kw: object) -> Ablation:
    kw = {"professions": setting["profs"], **kw}
    return ablate(vignettes, setting["panel"], catalogue=setting["cat"],  # type: ignore[arg-type]
                  decisions=_decisions(setting, vignettes), random_state=SEED, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def result(setting: dict[str, object]) -> Ablation:
    return _ablate(setting, setting["vignettes"], teaching_ids=list(setting["vignettes"]["vignette_id"][:20]))  # type: ignore[index]


def _variant(findings: pd.DataFrame, variant: str) -> pd.DataFrame:
    part = findings[(findings["variant"] == variant) & (findings["finding"] != "item_reading_share")]
    return part.drop(columns="variant").reset_index(drop=True)


def test_every_variant_has_every_finding(result: Ablation) -> None:
    """Full model, one variant per mechanism of the registry, item reading alone; each with the
    same rows (findings x rulesets x strata); the tables pass their schemas."""
    assert result.variants == variants()
    assert result.variants == (FULL, *(f"without_{m.id}" for m in MECHANISMS), ITEM_READING_VARIANT)
    validate(result.findings, "ablation")
    validate(result.summary, "ablation_produced_by")
    shapes = {v: _variant(result.findings, v)[["finding", "ruleset", "stratum"]].fillna("")
              for v in result.variants}
    for v in result.variants:
        assert shapes[v].equals(shapes[FULL]), v
    full = shapes[FULL]
    strata = set(full.loc[full["finding"] == "alpha_ordinal", "stratum"])
    assert strata == {"complexity_band=low", "complexity_band=medium", "complexity_band=high",
                      "complexity_band:high-low"}
    assert set(full.loc[full["finding"] == "checklist_exact", "ruleset"]) == {"threshold-of-need",
                                                                              "count-of-concerns"}
    assert set(full.loc[full["finding"] == "divergence_driver", "stratum"]) == {
        f"dimension={c}" for c in ("cx_multiplicity", "cx_interconnection", "cx_network", "cx_conflict",
                                   "cx_turbulence", "cx_emotional")}
    shares = result.findings[result.findings["finding"] == "item_reading_share"]
    assert set(shares["variant"]) == {FULL}
    assert shares["stratum"].tolist() == ["all", "complexity_band=low", "complexity_band=medium",
                                          "complexity_band=high"]


def test_differences_are_highest_band_minus_lowest(result: Ablation) -> None:
    f = result.findings
    for (variant, finding, ruleset), part in f[f["finding"].isin(["alpha_ordinal", "exact_agreement",
                                                                  "checklist_exact"])].fillna(
            {"ruleset": ""}).groupby(["variant", "finding", "ruleset"]):
        value = part.set_index("stratum")["value"]
        assert value["complexity_band:high-low"] == pytest.approx(
            value["complexity_band=high"] - value["complexity_band=low"], nan_ok=True), (variant, finding, ruleset)


def test_full_model_findings_equal_an_independent_computation(setting: dict[str, object],
                                                              result: Ablation) -> None:
    """Alpha from the ``krippendorff`` package (Castro 2017) and exact agreement from
    dsk.analysis.percent_agreement (Gwet 2014's pa) on the simulated panel's round 1, band by
    band; the checklist's share at the lower median, and the teaching divergences, by counting."""
    vignettes = setting["vignettes"]
    judgements = simulate_panel(vignettes, setting["panel"], random_state=SEED,  # type: ignore[arg-type]
                                professions=setting["profs"], catalogue=setting["cat"],  # type: ignore[arg-type]
                                rationale=False)
    band = judgements["vignette_id"].map(vignettes.set_index("vignette_id")["complexity_band"])  # type: ignore[union-attr]
    full = result.findings[result.findings["variant"] == FULL].fillna({"ruleset": ""})
    value = full.set_index(["finding", "ruleset", "stratum"])["value"]
    for b in ("low", "medium", "high"):
        part = judgements[band == b]
        assert value["alpha_ordinal", "", f"complexity_band={b}"] == pytest.approx(krippendorff_alpha(part))
        assert value["exact_agreement", "", f"complexity_band={b}"] == pytest.approx(percent_agreement(part))
    median = median_level(judgements)
    decisions = _decisions(setting, vignettes)  # type: ignore[arg-type]
    teaching = set(vignettes["vignette_id"][:20])  # type: ignore[index]
    bands = vignettes.set_index("vignette_id")["complexity_band"]  # type: ignore[union-attr]
    for rid, own in decisions.groupby("ruleset_id"):
        level = own.set_index("vignette_id")["need_level"]
        agree = level == median.reindex(level.index)
        for b in ("low", "medium", "high"):
            assert value["checklist_exact", rid, f"complexity_band={b}"] == pytest.approx(
                agree[bands.reindex(level.index) == b].mean())
        off = (level - median.reindex(level.index)).abs() >= 1
        assert value["teaching_divergent", rid, "all"] == off[off.index.isin(teaching)].sum()


def test_divergence_findings_equal_the_divergence_model_on_the_failures_table(
        setting: dict[str, object], result: Ablation) -> None:
    """The odds ratios and drivers of the full model are those of dsk.analysis.divergence_model
    on dsk.analysis.failure_points (the run's own path), ruleset by ruleset."""
    from dsk.analysis import divergence_model, failure_points

    vignettes = setting["vignettes"]
    judgements = simulate_panel(vignettes, setting["panel"], random_state=SEED,  # type: ignore[arg-type]
                                professions=setting["profs"], catalogue=setting["cat"],  # type: ignore[arg-type]
                                rationale=False)
    decisions = _decisions(setting, vignettes)  # type: ignore[arg-type]
    failures = pd.concat([failure_points(vignettes, own, judgements, catalogue=setting["cat"])  # type: ignore[arg-type]
                          for _, own in decisions.groupby("ruleset_id")], ignore_index=True)
    model = divergence_model(failures, vignettes)  # type: ignore[arg-type]
    assert not model.empty
    full = result.findings[result.findings["variant"] == FULL]
    for row in model.itertuples():
        rid = row.comparison.removesuffix("~panel")
        mine = full[(full["ruleset"] == rid) & (full["stratum"] == row.stratum)].set_index("finding")["value"]
        assert mine["divergence_odds_ratio"] == pytest.approx(row.estimate)
        assert mine["divergence_driver"] == float(row.drives_breakdown)


def test_a_mechanism_with_nothing_to_act_on_changes_nothing(setting: dict[str, object]) -> None:
    """On vignettes without interacting needs, switching amplification off changes no finding;
    on vignettes without protective factors, switching protective factors off changes none."""
    cat = setting["cat"]
    vignettes = setting["vignettes"]
    protective = np.array(cat.factor_ids)[cat.protective_mask]  # type: ignore[attr-defined]
    cases = {
        "amplification": vignettes[vignettes["cx_interconnection"] == 0],  # type: ignore[index]
        "protective": vignettes[(vignettes[list(protective)] == 0).all(axis=1)],  # type: ignore[index]
    }
    for mechanism, subset in cases.items():
        assert subset["complexity_band"].nunique() == 3  # all bands still there
        found = _ablate(setting, subset.reset_index(drop=True)).findings
        pd.testing.assert_frame_equal(_variant(found, f"without_{mechanism}"), _variant(found, FULL))
        # and the check can fail: some other mechanism does change a finding here
        assert not _variant(found, "without_thresholds").equals(_variant(found, FULL))


def test_with_every_mechanism_neutral_the_item_reading_decides_every_level(setting: dict[str, object]) -> None:
    """Profiles whose mechanisms are already at their neutral values: every variant is the full
    model, and the item-reading share is 1 overall and in every band."""
    neutral = neutral_profiles(setting["profs"], [m.id for m in MECHANISMS])  # type: ignore[arg-type]
    found = _ablate(setting, setting["vignettes"].iloc[:60], professions=neutral)  # type: ignore[union-attr]
    for v in variants():
        pd.testing.assert_frame_equal(_variant(found.findings, v), _variant(found.findings, FULL))
    assert found.item_reading_share.tolist() == [1.0] * len(found.item_reading_share)
    assert found.summary["produced_by"].map(len).sum() == 0


def test_same_seed_same_table(setting: dict[str, object]) -> None:
    subset = setting["vignettes"].iloc[:45]  # type: ignore[union-attr]
    first, again = _ablate(setting, subset), _ablate(setting, subset)
    pd.testing.assert_frame_equal(again.findings, first.findings)
    pd.testing.assert_frame_equal(again.summary, first.summary)


def test_teaching_ids_default_to_the_wicked_cases(setting: dict[str, object]) -> None:
    from dsk.sets import load_set

    training = load_set("training-12", setting["cat"])  # type: ignore[arg-type]
    found = _ablate(setting, training).findings
    n = found.loc[found["finding"] == "teaching_divergent", "n"]
    assert set(n) == {int(training["vignette_id"].str.startswith("wicked-").sum())} and set(n) != {0}
    none = _ablate(setting, setting["vignettes"].iloc[:30]).findings  # type: ignore[union-attr]
    assert set(none.loc[none["finding"] == "teaching_divergent", "value"]) == {0.0}


def test_bad_decisions_are_refused_by_name(setting: dict[str, object]) -> None:
    vignettes = setting["vignettes"].iloc[:20]  # type: ignore[union-attr]
    decisions = _decisions(setting, vignettes)
    common = {"professions": setting["profs"], "catalogue": setting["cat"], "random_state": 1}
    with pytest.raises(ValueError, match="decisions: column 'defaulted' missing"):
        ablate(vignettes, setting["panel"], decisions=decisions.drop(columns="defaulted"), **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decisions: vignettes not in the vignettes table"):
        ablate(vignettes.iloc[:10], setting["panel"], decisions=decisions, **common)  # type: ignore[arg-type]


def _table(rows: list[tuple[str, str, float]], ruleset: str | None = None) -> pd.DataFrame:
    return pd.DataFrame([{"panel_id": "p", "variant": v, "finding": f, "ruleset": ruleset, "stratum": s,
                          "value": x, "n": 10} for v, (f, s, x) in
                         ((row[0], row[1:]) for row in rows)])  # type: ignore[misc]


def test_produced_by_for_a_difference() -> None:
    """0.2 without a mechanism falling to 0.1 is exactly half-way (produced); to 0.11, not; a
    reversal to -0.01 is produced; a missing value is not; removal that widens it is not."""
    d = "complexity_band:high-low"
    rows = [("full", "alpha_ordinal", d, 0.2), ("without_amplification", "alpha_ordinal", d, 0.1),
            ("without_protective", "alpha_ordinal", d, 0.11), ("without_trajectory", "alpha_ordinal", d, -0.01),
            ("without_lens", "alpha_ordinal", d, float("nan")), ("without_noise", "alpha_ordinal", d, 0.5),
            ("item_reading", "alpha_ordinal", d, 0.0)]
    out = produced_by(_table(rows))
    assert out["produced_by"].tolist() == [["amplification", "trajectory"]]
    assert out["value"].tolist() == [0.2] and out["item_reading"].tolist() == [0.0]
    negative = produced_by(_table([(v, f, s, -x) for v, f, s, x in rows]))
    assert negative["produced_by"].tolist() == [["amplification", "trajectory"]]
    zero = produced_by(_table([("full", "alpha_ordinal", d, 0.0), ("without_noise", "alpha_ordinal", d, 0.3)]))
    assert zero["produced_by"].tolist() == [[]]
    # the band values themselves are not findings to attribute
    assert produced_by(_table([("full", "alpha_ordinal", "complexity_band=low", 0.5),
                               ("without_noise", "alpha_ordinal", "complexity_band=low", 0.1)])).empty


def test_produced_by_for_drivers_and_teaching_cases() -> None:
    s = "dimension=cx_conflict"
    drivers = _table([("full", "divergence_driver", s, 1.0), ("without_anchoring", "divergence_driver", s, 0.0),
                      ("without_lens", "divergence_driver", s, float("nan")),
                      ("without_noise", "divergence_driver", s, 1.0)], "threshold-of-need")
    assert produced_by(drivers)["produced_by"].tolist() == [["anchoring", "lens"]]
    not_driver = drivers.assign(value=np.where(drivers["variant"] == "full", 0.0, drivers["value"]))
    assert produced_by(not_driver).empty  # not a driver of the full model: nothing to attribute
    teaching = _table([("full", "teaching_divergent", "all", 5.0), ("without_anchoring", "teaching_divergent", "all", 3.0),
                       ("without_lens", "teaching_divergent", "all", 5.0),
                       ("without_noise", "teaching_divergent", "all", 6.0)], "threshold-of-need")
    out = produced_by(teaching)
    assert out["produced_by"].tolist() == [["anchoring"]] and out["ruleset"].tolist() == ["threshold-of-need"]
    assert "half-way to zero" in PRODUCED_BY_RULE and "lowers their count" in PRODUCED_BY_RULE


def test_cli_prints_a_table_per_finding_and_writes_both_tables(tmp_path: Path) -> None:
    from dsk.cli import app

    out = tmp_path / "ablation.csv"
    result = CliRunner().invoke(app, ["panel", "ablate", "mixed-12", "training-12", "--ruleset",
                                      "threshold-of-need", "--ruleset", "count-of-concerns", "--seed", "2",
                                      "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for title in ("Krippendorff's alpha (ordinal) among the practitioners (mixed-12, seed 2)",
                  "Exact agreement among the practitioners", "Share of vignettes on which the checklist gives the "
                  "panel median", "Teaching cases on which the checklist", "Complexity dimensions that drive "
                  "divergence", "Item-reading share", "Which mechanisms produce which finding"):
        assert title in text, title
    for row in ("full model", "without trajectory (assumption)", "without anchoring (supported)",
                "item reading alone"):
        assert row in text
    table = pd.read_csv(out)
    assert set(table["variant"]) == set(variants()) and set(table["panel_id"]) == {"mixed-12"}
    summary = pd.read_csv(tmp_path / "ablation_produced_by.csv")
    assert {"finding", "produced_by"} <= set(summary.columns)
    share = table[(table["finding"] == "item_reading_share") & (table["stratum"] == "all")]["value"].iloc[0]
    assert f"all {share:.3f}" in text
    bad = CliRunner().invoke(app, ["panel", "ablate", "mixed-12", "training-12", "--ruleset", "no-such"])
    assert bad.exit_code == 1 and "--ruleset 'no-such'" in bad.output


RUN = """id: ablation-run
seed: 6
vignettes: {design: stratified, n: 45, set_id: abl}
rulesets: [threshold-of-need, count-of-concerns]
panels:
  - {panel: mixed-12}
rounds: 1
analyses: [agreement, failures]
bootstrap: 0
teaching_cases: 5
"""


def test_a_run_writes_the_ablation_of_its_simulated_panel(tmp_path: Path) -> None:
    """The stage runs, both tables are written and in the manifest; the full model's alpha by
    band is the stats table's round-1 alpha (the same draws); its teaching divergences count
    the teaching table's cases where the failures table has |divergence| >= 1."""
    from dsk.experiment import run_experiment

    (tmp_path / "exp.yaml").write_text(RUN)
    run = run_experiment(tmp_path / "exp.yaml", tmp_path / "run", report=False)
    assert "ablation" in run.manifest["timings_seconds"]
    for name in ("ablation", "ablation_produced_by"):
        assert run.manifest["tables"][name]["rows"] > 0
        validate(pd.read_parquet(run.out_dir / f"{name}.parquet"), name)
    ablation = pd.read_parquet(run.out_dir / "ablation.parquet")
    stats = run.tables["stats"]
    full = ablation[(ablation["variant"] == FULL) & (ablation["finding"] == "alpha_ordinal")]
    for row in full[full["stratum"].str.startswith("complexity_band=")].itertuples():
        own = stats[(stats["analysis"] == "agreement") & (stats["metric"] == "krippendorff_alpha_ordinal")
                    & (stats["comparison"] == "within-panel") & (stats["stratum"] == row.stratum)]
        assert row.value == pytest.approx(float(own["estimate"].iloc[0]))
    teaching, failures = run.tables["teaching"], run.tables["failures"]
    ids = set(teaching["vignette_id"])
    for rid in ("threshold-of-need", "count-of-concerns"):
        mine = failures[(failures["ruleset_id"] == rid) & failures["vignette_id"].isin(ids)]
        row = ablation[(ablation["variant"] == FULL) & (ablation["finding"] == "teaching_divergent")
                       & (ablation["ruleset"] == rid)]
        assert row["value"].iloc[0] == (mine["divergence"].abs() >= 1).sum()
        assert row["n"].iloc[0] == len(ids)


def test_a_run_without_a_simulated_panel_writes_empty_tables(tmp_path: Path) -> None:
    from dsk.experiment import run_experiment
    from dsk.io import write_table
    from dsk.sets import load_set

    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    people = simulate_panel(load_set("training-12", cat), load_panel("mixed-12", profs), random_state=1,
                            professions=profs, catalogue=cat, rationale=False).assign(rater_kind="human")
    write_table(people, tmp_path / "answers.csv")
    (tmp_path / "exp.yaml").write_text(
        "id: humans\nseed: 1\nvignettes: {set: training-12}\nrulesets: [threshold-of-need]\n"
        "panels:\n  - {judgements: answers.csv}\nrounds: 1\nanalyses: [agreement]\nbootstrap: 0\n")
    run = run_experiment(tmp_path / "exp.yaml", tmp_path / "run", report=False)
    assert "ablation" not in run.manifest["timings_seconds"]
    assert run.manifest["tables"]["ablation"]["rows"] == 0
    assert pd.read_parquet(run.out_dir / "ablation_produced_by.parquet").empty
