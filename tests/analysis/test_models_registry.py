"""The ``models`` analysis of an experiment run: the practitioners' CLMM and each checklist's
fixed-effects model as the tables ``model_terms`` and ``model_fit``, and the config's ``models``
option. (The fitting itself is checked against R and statsmodels in test_models.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsk.analysis.models import ModelSpec, clmm, run_models
from dsk.analysis.registry import AnalysisSettings, get_analysis, run_one
from dsk.catalogue import Catalogue
from dsk.design import generate
from dsk.experiment import load_config, run_experiment
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.rules import bundled_rulesets, evaluate, load_ruleset
from dsk.schema import validate


@pytest.fixture(scope="module")
def run_tables(catalogue: Catalogue) -> tuple[dict[str, pd.DataFrame], list]:
    vignettes = generate("stratified", 30, 5, catalogue, narratives=False)
    rulesets = [load_ruleset(bundled_rulesets()[n], catalogue) for n in ("threshold-of-need", "count-of-concerns")]
    decisions = pd.concat([evaluate(rs, vignettes, catalogue=catalogue).decisions() for rs in rulesets],
                          ignore_index=True)
    profs = load_professions(catalogue=catalogue)
    people = simulate_panel(vignettes, load_panel("mixed-12", profs), rounds=2, professions=profs,
                            catalogue=catalogue, rationale=False)
    rules = pd.DataFrame({"vignette_id": decisions["vignette_id"], "rater_id": decisions["ruleset_id"],
                          "rater_kind": "rules", "round": 1, "need_level": decisions["need_level"]})
    judgements = pd.concat([rules, people], ignore_index=True)
    return {"vignettes": vignettes, "decisions": decisions, "judgements": judgements}, rulesets


def test_models_analysis_writes_both_tables(run_tables, catalogue: Catalogue) -> None:  # noqa: ANN001
    tables, rulesets = run_tables
    result = run_one(get_analysis("models"), tables, rulesets=rulesets, catalogue=catalogue,
                     settings=AnalysisSettings())
    terms, fits = result.tables["model_terms"], result.tables["model_fit"]
    validate(terms, "model_terms")
    validate(fits, "model_fit")
    assert list(fits["model"]) == ["practitioners", "count-of-concerns", "threshold-of-need"]
    assert set(terms["model"]) == set(fits["model"])
    prac = fits.set_index("model").loc["practitioners"]
    # first round only: 12 practitioners x 30 vignettes, profession as a practitioner covariate
    assert prac["n_obs"] == 360 and prac["groups"] == "rater_id: 12, vignette_id: 30"
    assert "+ profession +" in prac["formula"] or "+ profession + (1|" in prac["formula"]
    assert set(terms.loc[terms["model"] == "practitioners", "kind"]) == {"threshold", "fixed", "sd"}
    checklist = terms[terms["model"] == "threshold-of-need"]
    assert "sd" not in set(checklist["kind"]) and (fits.set_index("model").loc["threshold-of-need", "n_obs"] == 30)
    # the practitioners' rows equal a direct fit of the same formula
    people = tables["judgements"]
    people = people[(people["rater_kind"] != "rules") & (people["round"] == 1)].merge(
        tables["vignettes"], on="vignette_id")
    direct = clmm(prac["formula"], people.reset_index(drop=True))
    mine = terms[terms["model"] == "practitioners"].set_index("term")["estimate"]
    np.testing.assert_allclose(mine.to_numpy(), direct.table["estimate"].to_numpy(), rtol=1e-10)


def test_checklist_separation_is_reported_not_printed_as_a_finding(run_tables) -> None:  # noqa: ANN001
    """A checklist's level is a function of the factors: a factor it sorts on exactly is
    reported as separated (estimate +/-inf, no SE), with the warning in model_fit."""
    tables, _ = run_tables
    vignettes = tables["vignettes"].copy()
    judgements = tables["judgements"]
    rules = judgements[judgements["rater_kind"] == "rules"].copy()
    # a made-up checklist: level 4 exactly when there is domestic abuse, else 1 or 2 by count
    flags = vignettes.set_index("vignette_id")
    ids = rules.loc[rules["rater_id"] == "threshold-of-need", "vignette_id"]
    da = flags.loc[ids, "domestic_abuse"].to_numpy() > 0
    level = np.where(da, 4, 1 + (flags.loc[ids, "n_concerns"].to_numpy() > 2))
    made = rules[rules["rater_id"] == "threshold-of-need"].assign(rater_id="made-up", need_level=level)
    assert da.any() and (~da).any()
    terms, fits = run_models(vignettes, made, ModelSpec(factors=("domestic_abuse", "n_concerns")))
    row = terms.set_index("term").loc["domestic_abuse"]
    assert row["estimate"] == np.inf and np.isnan(row["se"])
    fit = fits.set_index("model").loc["made-up"]
    assert "separation" in fit["warnings"] and "domestic_abuse" in fit["warnings"]
    assert not fit["converged"]


def test_a_constant_checklist_gets_a_row_saying_why(run_tables) -> None:  # noqa: ANN001
    tables, _ = run_tables
    rules = tables["judgements"][tables["judgements"]["rater_kind"] == "rules"]
    flat = rules[rules["rater_id"] == "count-of-concerns"].assign(need_level=3)
    terms, fits = run_models(tables["vignettes"], flat)
    assert terms.empty and list(fits["model"]) == ["count-of-concerns"]
    assert fits["warnings"].iloc[0].startswith("not fitted:") and "only one level" in fits["warnings"].iloc[0]
    validate(fits, "model_fit")


def test_spec_coding_interactions_and_unknown_factors(run_tables) -> None:  # noqa: ANN001
    tables, _ = run_tables
    spec = ModelSpec(factors=("domestic_abuse", "n_concerns"), coding="levels",
                     interactions=("domestic_abuse:n_concerns",), covariates=("profession", "nosuch"))
    people = tables["judgements"][tables["judgements"]["rater_kind"] != "rules"]
    terms, fits = run_models(tables["vignettes"], people, spec)
    formula = fits["formula"].iloc[0]
    assert formula.startswith("need_level ~ C(domestic_abuse) + C(n_concerns) + "
                              "C(domestic_abuse):C(n_concerns) + profession + (1|rater_id)")
    assert "nosuch" not in formula  # a covariate the judgements lack is left out
    with pytest.raises(ValueError, match="'abuse' are not columns of the vignettes"):
        run_models(tables["vignettes"], people, ModelSpec(factors=("abuse",)))
    with pytest.raises(ValueError, match="interaction 'domestic_abuse:housing'"):
        run_models(tables["vignettes"], people, ModelSpec(factors=("domestic_abuse",),
                                                          interactions=("domestic_abuse:housing",)))


def test_experiment_config_models_option_reaches_the_run(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("id: m\nseed: 2\nvignettes: {set: training-12}\nrulesets: [threshold-of-need]\n"
                    "panels:\n  - {panel: mixed-12}\nanalyses: [models]\nbootstrap: 0\n"
                    "models: {factors: [n_concerns], covariates: [profession]}\n")
    config = load_config(path)
    assert config.models is not None and config.models.factors == ["n_concerns"]
    run = run_experiment(config, tmp_path / "run", report=False)
    fits = pd.read_parquet(run.out_dir / "model_fit.parquet")
    terms = pd.read_parquet(run.out_dir / "model_terms.parquet")
    assert fits["formula"].iloc[0] == "need_level ~ n_concerns + profession + (1|rater_id) + (1|vignette_id)"
    assert set(terms["model"]) <= {"practitioners", "threshold-of-need"} and "n_concerns" in set(terms["term"])
    validate(terms, "model_terms")
