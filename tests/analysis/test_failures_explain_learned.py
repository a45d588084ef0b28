"""Explanations, failure points and learned checklists (dsk.analysis)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap

from dsk.analysis import (
    checklist_fidelity,
    divergence_model,
    factor_overlap,
    failure_points,
    learn_checklist,
    out_of_fold_fidelity,
    out_of_fold_levels,
    permutation_shap,
    shap_comparison,
    teaching_cases,
)
from dsk.analysis._features import ordinal_consensus, panel_summary
from dsk.catalogue import Catalogue
from dsk.design import generate, vignettes_from_specs
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.rules import Ruleset, bundled_rulesets, evaluate, load_ruleset


@pytest.fixture(scope="module")
def threshold(catalogue: Catalogue) -> Ruleset:
    return load_ruleset(bundled_rulesets()["threshold-of-need"], catalogue)


@pytest.fixture(scope="module")
def study(catalogue: Catalogue) -> pd.DataFrame:
    return generate("stratified", 150, 2, catalogue, narratives=False)


@pytest.fixture(scope="module")
def panel_judgements(study: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    profs = load_professions(catalogue=catalogue)
    return simulate_panel(study, load_panel("mixed-12", profs), professions=profs, catalogue=catalogue,
                          rationale=False)


def _judgements(levels_by_vignette: Mapping[str, Sequence[int]],
                cited: Mapping[tuple[str, int], list[str]] | None = None) -> pd.DataFrame:
    rows = []
    for vid, levels in levels_by_vignette.items():
        for k, level in enumerate(levels):
            rows.append({"vignette_id": vid, "rater_id": f"r{k}", "rater_kind": "human", "profession": "gp",
                         "panel_id": "p", "round": 1, "need_level": level, "confidence": 0.5, "risk": 5.0,
                         "salient_factors": (cited or {}).get((vid, k), []), "rationale": "",
                         "lead_agency": None, "seconds": 10.0})
    return pd.DataFrame(rows)


def test_ordinal_consensus_hand_computed() -> None:
    """Tastle & Wierman (2007): Cns = 1 + sum p log2(1 - |X - mu| / d), d = 3 for levels 1-4.

    All at one level: 1. Half at 1, half at 4: mu = 2.5, each term .5*log2(1 - 1.5/3) = -.5, so 0.
    Half at 1, half at 2: mu = 1.5, each term .5*log2(1 - .5/3) = -.13152, so 0.73697.
    """
    cns = ordinal_consensus(np.array([[7, 0, 0, 0], [5, 0, 0, 5], [1, 1, 0, 0]]))
    assert cns == pytest.approx([1.0, 0.0, 0.73697], abs=1e-5)


def test_failure_points_on_hand_built_cases(catalogue: Catalogue, threshold: Ruleset) -> None:
    specs = [
        {"id": "clear-off", "age_band": "primary", "factors": {"disclosure": 1}},
        {"id": "agreed", "age_band": "primary", "factors": {"school_attendance": 2}},
        {"id": "defaulted", "age_band": "primary", "factors": {}},
        {"id": "split", "age_band": "primary", "factors": {"hygiene": 1}},
    ]
    v = vignettes_from_specs(specs, "hand", 1, catalogue, narratives=False)
    d = evaluate(threshold, v, catalogue=catalogue).decisions()
    j = _judgements({"clear-off": [2] * 8, "agreed": [3] * 8, "defaulted": [1, 1, 4, 4, 1, 4, 4, 1],
                     "split": [1, 4, 2, 4, 1, 4, 2, 1]})
    f = failure_points(v, d, j, catalogue=catalogue, ruleset=threshold).set_index("vignette_id")
    assert f.loc["clear-off", "rule_level"] == 4 and f.loc["clear-off", "panel_median"] == 2
    assert f.loc["clear-off", "divergence"] == 2 and f.loc["clear-off", "panel_consensus"] == 1
    assert f.loc["clear-off", "quadrant"] == "checklist_off_consensus"
    assert f.loc["agreed", "quadrant"] == "agreed_and_clear"
    assert f.loc["defaulted", "quadrant"] == "both_uncertain"
    assert "defaulted" in f.loc["defaulted", "reasons"]
    assert f.loc["split", "quadrant"] == "panel_split"
    # at level 4 only removing the disclosure changes the decision (1 change of ~40);
    # at level 3 both changes of school attendance and every acute factor added flip it
    assert 0 < f.loc["clear-off", "brittleness"] < 0.05
    assert f.loc["agreed", "brittleness"] > 3 * f.loc["clear-off", "brittleness"]


def test_divergence_model_finds_the_driving_dimension() -> None:
    rng = np.random.default_rng(0)
    n = 400
    cx = pd.DataFrame({"vignette_id": [f"v{i}" for i in range(n)],
                       "cx_conflict": rng.random(n), "cx_turbulence": rng.random(n)})
    p = 1 / (1 + np.exp(-(-3 + 6 * cx["cx_conflict"])))
    diverge = rng.random(n) < p
    failures = pd.DataFrame({"vignette_id": cx["vignette_id"], "ruleset_id": "r",
                             "divergence": np.where(diverge, 2.0, 0.0)})
    model = divergence_model(failures, cx, dimensions=("cx_conflict", "cx_turbulence")).set_index("stratum")
    conflict = model.loc["dimension=cx_conflict"]
    assert conflict["estimate"] > 2 and conflict["ci_low"] > 1 and conflict["drives_breakdown"]
    turbulence = model.loc["dimension=cx_turbulence"]
    assert turbulence["ci_low"] < 1 < turbulence["ci_high"] and not turbulence["drives_breakdown"]


def test_teaching_cases_rank_clear_divergences_first() -> None:
    failures = pd.DataFrame({
        "vignette_id": ["a", "b", "c", "d"], "ruleset_id": "r", "rule_level": [4, 4, 2, 1],
        "panel_median": [2.0, 3.0, 4.0, 1.0], "panel_consensus": [0.9, 0.95, 0.4, 1.0],
        "divergence": [2.0, 1.0, -2.0, 0.0], "reasons": [[], ["cliff"], ["defaulted"], []]})
    vignettes = pd.DataFrame({"vignette_id": list("abcd"), "complexity": [0.1, 0.5, 0.6, 0.2]})
    ranked = teaching_cases(failures, vignettes)
    # the divergent by score (1.8, 1.2, 0.8), then the agreeing one
    assert list(ranked["vignette_id"]) == ["a", "b", "c", "d"]
    assert list(ranked["diverges"]) == [True, True, True, False]


def test_permutation_shap_matches_exact_shapley_values() -> None:
    """For two features an antithetic pair covers every ordering, so the estimate is exact;
    compare with SHAP's ExactExplainer on a non-additive function."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, (6, 2))
    bg = rng.integers(0, 4, (5, 2))

    def f(d: np.ndarray) -> np.ndarray:
        return d[:, 0] * d[:, 1] + 2.0 * d[:, 0] - (d[:, 1] > 2)

    ours = permutation_shap(f, X, bg, random_state=3)
    exact = shap.explainers.Exact(f, shap.maskers.Independent(bg, max_samples=len(bg)))(X).values
    assert np.allclose(ours, exact)
    # local accuracy with many features and interactions
    X = rng.integers(0, 3, (8, 6))
    bg = rng.integers(0, 3, (7, 6))

    def g(d: np.ndarray) -> np.ndarray:
        return d[:, 0] * d[:, 1] + d[:, 2] * d[:, 3] * d[:, 4] - d[:, 5]

    vals = permutation_shap(g, X, bg, random_state=0)
    assert np.allclose(vals.sum(axis=1), g(X) - g(bg).mean())
    assert np.array_equal(permutation_shap(g, X, bg, random_state=0), vals)
    # the orderings are random: another seed gives other (still locally accurate) values
    other = permutation_shap(g, X, bg, random_state=1)
    assert not np.allclose(other, vals) and np.allclose(other.sum(axis=1), vals.sum(axis=1))


def test_more_permutations_approach_the_exact_values() -> None:
    """With interactions among six features one antithetic pair is only an estimate; sixteen
    pairs come closer to SHAP's exact Shapley values, stay locally accurate, and are the same for
    the same seed. The first pair does not depend on the number of pairs."""
    rng = np.random.default_rng(5)
    X = rng.integers(0, 3, (12, 6))
    bg = rng.integers(0, 3, (6, 6))

    def g(d: np.ndarray) -> np.ndarray:
        return d[:, 0] * d[:, 1] * d[:, 2] + (d[:, 3] > 1) * d[:, 4] - d[:, 5] * d[:, 0]

    exact = shap.explainers.Exact(g, shap.maskers.Independent(bg, max_samples=len(bg)))(X).values
    one = permutation_shap(g, X, bg, random_state=2)
    assert np.array_equal(one, permutation_shap(g, X, bg, random_state=2, n_permutations=1))
    many = permutation_shap(g, X, bg, random_state=2, n_permutations=16)
    assert np.array_equal(many, permutation_shap(g, X, bg, random_state=2, n_permutations=16))
    assert np.allclose(many.sum(axis=1), g(X) - g(bg).mean())
    error_one, error_many = np.abs(one - exact).mean(), np.abs(many - exact).mean()
    assert error_one > 0.02 and error_many < error_one / 2  # 0.048 and 0.012
    with pytest.raises(ValueError, match="n_permutations: expected a whole number of at least 1"):
        permutation_shap(g, X, bg, n_permutations=0)


def test_shap_direction_and_the_chart(study: pd.DataFrame, panel_judgements: pd.DataFrame,
                                      threshold: Ruleset, catalogue: Catalogue) -> None:
    """The importance table gains each side's direction (correlation of a feature's value with its
    SHAP value); n_permutations reaches it from shap_comparison; the chart leaves out features with
    zero importance on both sides and says how many, and draws negative directions to the left."""
    from dsk.analysis.explain import shap_direction
    from dsk.report._plots import shap_side_by_side

    result = shap_comparison(study, panel_judgements, threshold, background=10, random_state=1,
                             catalogue=catalogue, n_permutations=2)
    rule_level = evaluate(threshold, study, catalogue=catalogue).need_level
    assert np.allclose(result.rule_values.sum(axis=1) + result.rule_base, rule_level)
    importance = result.importance.set_index("feature")
    X = study[result.features].to_numpy()
    expected = pd.Series(shap_direction(X, result.rule_values), index=result.features)
    assert importance["rule_direction"].equals(expected.loc[importance.index].rename("rule_direction"))
    # no attribution, no direction; a concern the checklist escalates on pushes the level up
    zero = importance["rule_importance"] == 0
    assert zero.any() and importance.loc[zero, "rule_direction"].isna().all()
    assert importance.loc["disclosure", "rule_direction"] > 0.5
    assert importance.loc[~zero, "rule_direction"].notna().all()
    # the chart
    table = pd.DataFrame({"feature": ["up", "down", "unused", "panel_only"],
                          "rule_importance": [0.5, 0.3, 0.0, 0.0], "panel_importance": [0.4, 0.2, 0.0, 0.1],
                          "rule_direction": [0.9, -0.8, np.nan, np.nan],
                          "panel_direction": [0.7, -0.6, np.nan, 0.4]})
    svg = shap_side_by_side(table, {}, "demo")
    assert svg is not None
    assert svg.note == "1 feature with an importance of exactly 0 for both the checklist and the panel is left out."
    assert "unused" not in svg.markup and "panel_only" in svg.markup and "down" in svg.markup
    assert "\u2212" in svg.markup  # a bar to the left of 0: the axis has negative ticks
    unsigned = shap_side_by_side(table.drop(columns=["rule_direction", "panel_direction"]), {}, "demo")
    assert unsigned is not None and "\u2212" not in unsigned.markup
    assert shap_side_by_side(table.assign(rule_importance=0.0, panel_importance=0.0), {}, "demo") is None


def test_explanations_analysis_takes_shap_permutations(study: pd.DataFrame, panel_judgements: pd.DataFrame,
                                                      threshold: Ruleset, catalogue: Catalogue) -> None:
    """The experiment config's shap_permutations (at least 1) reaches the explanations analysis:
    two pairs give other (seeded, repeatable) importances than one."""
    from pydantic import ValidationError

    from dsk.analysis.registry import AnalysisSettings, get_analysis, run_one
    from dsk.experiment import ExperimentConfig, config_dict, load_config

    part = study.head(40)
    decisions = evaluate(threshold, part, catalogue=catalogue).decisions()
    tables = {"vignettes": part, "decisions": decisions,
              "judgements": panel_judgements[panel_judgements["vignette_id"].isin(part["vignette_id"])]}

    def importance(pairs: int) -> pd.DataFrame:
        settings = AnalysisSettings(shap_background=5, shap_permutations=pairs)
        return run_one(get_analysis("explanations"), tables, rulesets=[threshold], catalogue=catalogue,
                       settings=settings).tables["importance"]

    one, two = importance(1), importance(2)
    assert not one["panel_importance"].equals(two["panel_importance"])
    assert importance(2).equals(two)
    assert {"rule_direction", "panel_direction"} <= set(two.columns)
    config = config_dict(load_config("quickstart"))
    assert ExperimentConfig.model_validate({**config, "shap_permutations": 4}).shap_permutations == 4
    with pytest.raises(ValidationError, match="shap_permutations"):
        ExperimentConfig.model_validate({**config, "shap_permutations": 0})


def test_shap_comparison_side_by_side(study: pd.DataFrame, panel_judgements: pd.DataFrame,
                                      threshold: Ruleset, catalogue: Catalogue) -> None:
    result = shap_comparison(study, panel_judgements, threshold, background=20, random_state=1,
                             catalogue=catalogue)
    assert result.rule_values.shape == (len(study), len(result.features))
    rule_level = evaluate(threshold, study, catalogue=catalogue).need_level
    assert np.allclose(result.rule_values.sum(axis=1) + result.rule_base, rule_level)
    stats = result.stats.set_index(["metric", "stratum"])["estimate"]
    assert stats[("surrogate_r2", "all")] > 0.6
    # a feature the checklist never reads (directly or through a derived count) gets no attribution
    importance = result.importance.set_index("feature")
    unread = [f for f in importance.index if f not in threshold.names]
    assert unread and (importance.loc[unread, "rule_importance"] == 0).all()
    assert (importance.drop(index=unread)["rule_importance"] > 0).any()


def test_shap_comparison_of_a_panel_that_follows_the_checklist(study: pd.DataFrame, threshold: Ruleset,
                                                               catalogue: Catalogue) -> None:
    """When every rater gives the checklist's level, the surrogate learns the checklist, so the two
    sides weigh the features in nearly the same order; an unrelated panel does not."""
    level = evaluate(threshold, study, catalogue=catalogue).need_level
    ids = np.repeat(study["vignette_id"].to_numpy(), 3)
    follow = pd.DataFrame({"vignette_id": ids, "rater_id": np.tile(["a", "b", "c"], len(study)),
                           "rater_kind": "human", "round": 1, "need_level": np.repeat(level, 3)})
    result = shap_comparison(study, follow, threshold, background=20, random_state=1, catalogue=catalogue)
    stats = result.stats.set_index(["metric", "stratum"])["estimate"]
    assert stats[("spearman_importance", "all")] > 0.9
    assert stats[("cosine_attributions", "all")] > 0.9
    noise = follow.assign(need_level=np.random.default_rng(0).integers(1, 5, len(follow)))
    unrelated = shap_comparison(study, noise, threshold, background=20, random_state=1, catalogue=catalogue)
    assert unrelated.stats.set_index(["metric", "stratum"]).loc[("cosine_attributions", "all"), "estimate"] < 0.5


def test_factor_overlap_jaccard(catalogue: Catalogue, threshold: Ruleset) -> None:
    v = vignettes_from_specs([{"id": "a", "age_band": "primary", "factors": {"disclosure": 1, "hygiene": 1}}],
                             "hand", 1, catalogue, narratives=False)
    d = evaluate(threshold, v, catalogue=catalogue).decisions()
    j = _judgements({"a": [4, 4]}, cited={("a", 0): ["disclosure"], ("a", 1): ["offending"]})
    per, stats = factor_overlap(v, d, j, threshold, catalogue=catalogue)
    # the rules read disclosure and hygiene: rater 0 shares 1 of 2, rater 1 none of 3
    assert per.loc[0, "jaccard"] == pytest.approx((1 / 2 + 0 / 3) / 2)
    assert stats.set_index("stratum").loc["all", "estimate"] == pytest.approx(0.25)


def test_factor_overlap_without_salient_factors(catalogue: Catalogue, threshold: Ruleset) -> None:
    """Salient factors not collected (column absent, or missing for a judgement): those judgements
    are left out, and with none left there are no rows."""
    v = vignettes_from_specs([{"id": "a", "age_band": "primary", "factors": {"disclosure": 1, "hygiene": 1}}],
                             "hand", 1, catalogue, narratives=False)
    d = evaluate(threshold, v, catalogue=catalogue).decisions()
    j = _judgements({"a": [4, 4]}, cited={("a", 0): ["disclosure"]})
    per, stats = factor_overlap(v, d, j.drop(columns="salient_factors"), threshold, catalogue=catalogue)
    assert per.empty and stats.empty and list(stats.columns)[:3] == ["analysis", "metric", "comparison"]
    j.loc[1, "salient_factors"] = None
    per, stats = factor_overlap(v, d, j, threshold, catalogue=catalogue)
    assert per.loc[0, "jaccard"] == pytest.approx(1 / 2) and stats.loc[0, "n"] == 1


def test_learned_checklist_runs_through_the_engine(study: pd.DataFrame, panel_judgements: pd.DataFrame,
                                                   catalogue: Catalogue) -> None:
    learned = learn_checklist(study, panel_judgements, catalogue=catalogue, max_depth=3)
    ruleset = learned.ruleset(catalogue)
    assert ruleset.hit_policy == "first" and len(ruleset.rules) == learned.n_rules >= 2
    decisions = evaluate(ruleset, study, catalogue=catalogue).decisions()
    assert (decisions["n_fired"] == 1).all()  # leaves are disjoint
    median = np.rint(panel_summary(panel_judgements).loc[study["vignette_id"], "panel_median"].to_numpy())
    assert (decisions["need_level"].to_numpy() == median).mean() == pytest.approx(learned.train_accuracy)
    deeper = learn_checklist(study, panel_judgements, catalogue=catalogue, max_depth=5)
    assert deeper.train_accuracy >= learned.train_accuracy


def test_checklist_fidelity_per_band(study: pd.DataFrame, panel_judgements: pd.DataFrame,
                                     threshold: Ruleset, catalogue: Catalogue) -> None:
    learned = learn_checklist(study, panel_judgements, catalogue=catalogue, max_depth=3).ruleset(catalogue)
    stats = checklist_fidelity(study, panel_judgements, [threshold, learned], catalogue=catalogue)
    table = stats.pivot_table(index="comparison", columns=["metric", "stratum"], values="estimate")
    assert table.shape[0] == 2
    exact = table["exact_with_panel_median"]
    assert exact.loc["learned-depth-3~panel", "all"] >= exact.loc["threshold-of-need~panel", "all"] - 0.05
    # the overall figure is the band figures weighted by band size
    n = stats.pivot_table(index="comparison", columns=["metric", "stratum"], values="n")["exact_with_panel_median"]
    bands = [f"complexity_band={b}" for b in ("low", "medium", "high")]
    for c in table.index:
        weighted = (exact.loc[c, bands] * n.loc[c, bands]).sum() / n.loc[c, bands].sum()
        assert exact.loc[c, "all"] == pytest.approx(weighted)
    assert (table["within_one_of_panel_median"] >= exact).all().all()


def test_checklist_fidelity_hand_counted(catalogue: Catalogue, threshold: Ruleset) -> None:
    """Four hand-built cases: the checklist gives 4, 3, 1 and 2; the panel medians (odd panels,
    so no tie rule is involved) are 2, 3, 2 and 2."""
    specs = [
        {"id": "clear-off", "age_band": "primary", "factors": {"disclosure": 1}},
        {"id": "agreed", "age_band": "primary", "factors": {"school_attendance": 2}},
        {"id": "defaulted", "age_band": "primary", "factors": {}},
        {"id": "split", "age_band": "primary", "factors": {"hygiene": 1}},
    ]
    v = vignettes_from_specs(specs, "hand", 1, catalogue, narratives=False)
    assert evaluate(threshold, v, catalogue=catalogue).need_level.tolist() == [4, 3, 1, 2]
    j = _judgements({"clear-off": [2] * 7, "agreed": [3] * 7, "defaulted": [1, 2, 2, 4, 4],
                     "split": [1, 2, 2]})
    stats = checklist_fidelity(v, j, [threshold], catalogue=catalogue)
    overall = stats[stats["stratum"] == "all"].set_index("metric")["estimate"]
    assert overall["exact_with_panel_median"] == pytest.approx(2 / 4)  # "agreed" and "split"
    assert overall["within_one_of_panel_median"] == pytest.approx(3 / 4)  # all but "clear-off"


def _one_factor_panel(study: pd.DataFrame, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """A panel whose level is a function of one factor (hygiene present: 4, else 1), or noise."""
    present = study["hygiene"].to_numpy() > 0
    levels = np.where(present, 4, 1) if rng is None else rng.integers(1, 5, len(study))
    return _judgements(dict(zip(study["vignette_id"], ([int(x)] * 3 for x in levels), strict=True)))


def test_out_of_fold_fidelity_known_answers(study: pd.DataFrame, catalogue: Catalogue) -> None:
    """A panel that follows one factor is learned in every fold (out-of-fold exact = 1); a panel of
    noise is fitted in-sample better than chance but out of fold no better than chance (1/4)."""
    clean = _one_factor_panel(study)
    assert study["hygiene"].gt(0).sum() >= 30
    oof = out_of_fold_fidelity(study, clean, [1], catalogue=catalogue, random_state=0)
    assert oof.set_index(["metric", "stratum"]).loc[("exact_with_panel_median_out_of_fold", "all"),
                                                    "estimate"] == 1.0
    noise = _one_factor_panel(study, np.random.default_rng(3))
    learned = learn_checklist(study, noise, catalogue=catalogue, max_depth=4, min_samples_leaf=2)
    oof = out_of_fold_fidelity(study, noise, [4], catalogue=catalogue, min_samples_leaf=2, random_state=0)
    oof_exact = oof.set_index(["metric", "stratum"]).loc[("exact_with_panel_median_out_of_fold", "all"),
                                                         "estimate"]
    assert learned.train_accuracy > 0.4 and oof_exact < 0.35 and learned.train_accuracy - oof_exact > 0.1
    assert set(oof["metric"]) == {"exact_with_panel_median_out_of_fold", "within_one_of_panel_median_out_of_fold"}


def test_out_of_fold_level_ignores_the_vignettes_own_judgement(study: pd.DataFrame,
                                                               panel_judgements: pd.DataFrame,
                                                               catalogue: Catalogue) -> None:
    """No leakage: changing the panel's judgements of one vignette does not change the level the
    out-of-fold checklist gives that vignette (it was learned without it)."""
    levels = out_of_fold_levels(study, panel_judgements, catalogue=catalogue, max_depth=3, random_state=4)
    assert list(levels.index) == list(study["vignette_id"])
    assert np.array_equal(levels, out_of_fold_levels(study, panel_judgements, catalogue=catalogue,
                                                     max_depth=3, random_state=4))
    people = panel_judgements[panel_judgements["round"] == 1]
    for vid in study["vignette_id"].iloc[:5]:
        flipped = people.copy()
        mine = flipped["vignette_id"] == vid
        flipped.loc[mine, "need_level"] = 5 - levels[vid]  # the panel now disagrees with the prediction
        again = out_of_fold_levels(study, flipped, catalogue=catalogue, max_depth=3, random_state=4)
        assert again[vid] == levels[vid]
    other = out_of_fold_levels(study, panel_judgements, catalogue=catalogue, max_depth=3, random_state=5)
    assert not np.array_equal(levels, other)  # the folds, hence the levels, depend on the seed


def _learned_keys(html: str) -> list[dict[str, str]]:
    """Row keys of the learned checklists' numbers in the report's learned section."""
    import json
    import re
    from html import unescape

    section = html[html.index('id="learned-h"'):]
    keys = [json.loads(unescape(k)) for k in re.findall(r'data-row-key="([^"]*)"', section)]
    return [k for k in keys if k.get("analysis") == "learned_checklists"
            and k["comparison"].startswith("learned-")]


def test_report_shows_learned_fidelity_out_of_fold(tmp_path: Path) -> None:
    """The report's figures for learned checklists are the out-of-fold rows; a run folder without
    them (written before they existed) shows the in-sample rows, labelled in-sample."""
    from dsk.experiment import load_config, run_experiment
    from dsk.io import write_table
    from dsk.report import render_html

    config = load_config("training").model_copy(update={"analyses": ["learned"], "bootstrap": 0})
    run = run_experiment(config, tmp_path, report=False)
    html = render_html(tmp_path)
    keys = _learned_keys(html)
    assert keys and all(k["metric"].endswith("_out_of_fold") for k in keys)
    assert "learned, out of fold" in html and "learned, in-sample" not in html
    stats = run.tables["stats"]
    old = stats[~stats["metric"].str.endswith("_out_of_fold")].reset_index(drop=True)
    write_table(old, tmp_path / "stats.parquet")
    write_table(old, tmp_path / "stats.csv")
    html = render_html(tmp_path)
    keys = _learned_keys(html)
    assert keys and not any(k["metric"].endswith("_out_of_fold") for k in keys)
    assert "learned, in-sample" in html and "learned, out of fold" not in html
