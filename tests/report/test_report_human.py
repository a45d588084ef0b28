"""The report on practitioners' own judgements: optional columns, wording, methods, summaries.

Two human runs on the bundled core-60 set, each from a judgements file of one round: one with
only the required columns, one with some optional columns, two sites, submission times and two
decks that no two professions across them share. Summary sentences are checked against tables
edited to hold known values (a Holm case, an alpha near zero beside high exact agreement).
"""

from __future__ import annotations

import html as html_lib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_check import mismatches

from dsk.analysis.failures import divergence_model, holm_adjust
from dsk.catalogue import load_catalogue
from dsk.experiment import load_config, run_experiment
from dsk.io import write_table
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.report import render_html
from dsk.sets import load_set

REQUIRED = ["vignette_id", "rater_id", "rater_kind", "round", "need_level"]
CONFIG = """id: {id}
title: Practitioners' own judgements
seed: 2
vignettes: {{set: core-60}}
rulesets: [threshold-of-need, count-of-concerns]
panels:
  - {{judgements: {file}}}
bootstrap: 0
shap_background: 5
learned_depths: [2]
teaching_cases: 3
"""
NAN = re.compile(r"(?<![A-Za-z])nan(?![A-Za-z])", re.IGNORECASE)
DECK_A = {"social_worker", "teacher", "health_visitor"}


def _text(page: str) -> str:
    """The report's visible text (no styles, no markup)."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    return re.sub(r"\(\s+", "(", re.sub(r"\s+([).,;:%])", r"\1", text))


def _panel() -> pd.DataFrame:
    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    vignettes = load_set("core-60", cat)
    return simulate_panel(vignettes, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
                          random_state=3)


def _run(folder: Path, judgements: pd.DataFrame, name: str) -> Path:
    write_table(judgements, folder / name)
    config = folder / "config.yaml"
    config.write_text(CONFIG.format(id=folder.name, file=name), encoding="utf-8")
    run_experiment(load_config(config), folder / "run", config_path=config)
    return folder / "run"


@pytest.fixture(scope="module")
def required_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Human judgements with only the required columns, one round, from a CSV file."""
    people = _panel()[REQUIRED].assign(rater_kind="human")
    return _run(tmp_path_factory.mktemp("required"), people, "judgements.csv")


@pytest.fixture(scope="module")
def some_optional(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Profession, confidence (half missing), rationale (some blank), site and submission time;
    two decks of 30 vignettes: social workers, teachers and health visitors take the first,
    the other professions the second."""
    people = _panel()
    people = people[REQUIRED + ["profession", "confidence", "rationale"]].assign(rater_kind="human")
    people.loc[people.index % 2 == 0, "confidence"] = np.nan
    people.loc[people.index % 3 == 0, "rationale"] = ""
    ids = sorted(people["vignette_id"].unique())
    first = people["profession"].isin(DECK_A)
    in_a = people["vignette_id"].isin(ids[:30])
    people = people[(first & in_a) | (~first & ~in_a)].copy()
    people["site"] = np.where(people["rater_id"].str[-1] == "1", "North", "South")
    people["submitted_at"] = np.where(people["profession"].isin(DECK_A), "2026-03-02T10:00:00", "2026-03-09T16:30:00")
    return _run(tmp_path_factory.mktemp("optional"), people.reset_index(drop=True), "judgements.jsonl")


def test_required_columns_only(required_only: Path) -> None:
    page = render_html(required_only)
    text = _text(page)
    assert not NAN.search(page), NAN.findall(page)[:3]
    assert "simulat" not in page.lower()
    assert "deliberation" not in text and "round 2" not in text.lower()
    # the optional columns it lacks are named, and the parts using them are left out
    assert ("The judgements did not record profession, confidence, risk rating, salient factors, "
            "rationale, lead agency, time taken") in text
    assert "confidence" not in text.split("Teaching cases")[2].split("Learned checklists")[0]
    assert "Jaccard, factors used vs cited" not in text
    assert "Some of their reasons" not in text and "How some of them placed it" in text
    # the methods name the file and its hash from the manifest
    manifest = pd.read_json(required_only / "manifest.json", typ="series")
    sha = manifest["inputs"]["judgements/judgements.csv"]
    assert f"read from the file judgements.csv (SHA-256 {sha}): 12 practitioners." in text
    assert "in one round" in text
    assert mismatches(page, required_only) == []


def test_some_optional_columns(some_optional: Path) -> None:
    page = render_html(some_optional)
    text = _text(page)
    assert not NAN.search(page), NAN.findall(page)[:3]
    assert "simulat" not in page.lower()
    assert ("The judgements did not record risk rating, salient factors, lead agency, time taken;"
            in text)
    gallery = text.split("Teaching cases")[2].split("Learned checklists")[0]
    assert "Some of their reasons" in gallery
    shown = [int(p) for p in re.findall(r"confidence (\d+)%", gallery)]
    assert shown and all(0 <= p <= 100 for p in shown)
    # practitioners by site and profession, and the dates of submission, in the methods
    assert "Practitioners by profession and site" in text
    assert "submitted between 2026-03-02 and 2026-03-09" in text
    table = text.split("Practitioners by profession and site")[1].split("Not collected")[0]
    assert "North South All sites" in table and "All 7 5 12" in table
    assert mismatches(page, some_optional) == []


def test_professions_without_shared_vignettes(some_optional: Path) -> None:
    """Pairs of professions from different decks get a no_overlap row, not NaN agreement rows, and
    the report says so in words."""
    stats = pd.read_parquet(some_optional / "stats.parquet")
    between = stats[stats["comparison"] == "police~social_worker"]
    assert set(between["metric"]) == {"no_overlap"}
    assert between.loc[between["stratum"] == "all", "estimate"].tolist() == [0.0]
    shared = stats[(stats["comparison"] == "social_worker~teacher") & (stats["stratum"] == "all")]
    assert "group_kappa_quadratic" in set(shared["metric"]) and shared["estimate"].notna().all()
    pairs = stats[(stats["analysis"] == "agreement") & stats["comparison"].str.fullmatch(r"[a-z_]+~[a-z_]+")]
    measured = pairs[pairs["metric"] != "no_overlap"]
    assert (measured["n"] > 0).all() and len(measured) > 0
    assert measured.loc[measured["metric"] == "percent_exact", "estimate"].notna().all()
    text = _text(render_html(some_optional))
    assert "Some professions never rated a vignette in common (they took different decks)" in text
    assert "Police officer (public protection) and Social worker;" in text
    sentence = text.split("Some professions never rated")[1].split("The stats table records")[0]
    assert "other-raters" not in sentence and "rater:" not in sentence
    assert sentence.count(" and ") == 12  # 3 professions in one deck x 4 in the other


def test_holm_adjustment_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04, 0.5: 4 x 0.01, 3 x 0.03, max(0.09, 2 x 0.04), max(0.09, 0.5)
    assert holm_adjust(np.array([0.01, 0.04, 0.03, 0.5])).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm_adjust(np.array([0.3, 0.2])).tolist() == pytest.approx([0.4, 0.4])
    assert np.isnan(holm_adjust(np.array([np.nan, 0.02]))).tolist() == [True, False]
    assert holm_adjust(np.array([np.nan, 0.02]))[1] == pytest.approx(0.02)


def test_divergence_model_rows_carry_holm_p() -> None:
    rng = np.random.default_rng(5)
    n = 300
    cx = pd.DataFrame({"vignette_id": [f"v{i}" for i in range(n)], "cx_conflict": rng.random(n),
                       "cx_network": rng.random(n), "cx_turbulence": rng.random(n)})
    parts = rng.random(n) < 0.2 + 0.6 * cx["cx_conflict"]
    failures = pd.DataFrame({"vignette_id": cx["vignette_id"], "ruleset_id": "r",
                             "divergence": np.where(parts, 1.0, 0.0)})
    rows = divergence_model(failures, cx, dimensions=("cx_conflict", "cx_network", "cx_turbulence"))
    assert rows["p_holm"].tolist() == pytest.approx(holm_adjust(rows["p_value"].to_numpy()).tolist())
    assert (rows["p_holm"] >= rows["p_value"]).all()
    conflict = rows.set_index("stratum").loc["dimension=cx_conflict"]
    assert conflict["drives_breakdown"] and conflict["p_holm"] < 0.05


def _edited(run: Path, folder: Path, edit: dict[tuple[str, str, str], dict[str, float]]) -> Path:
    """A copy of the run with some stats rows set to given values (key: metric, comparison,
    stratum of rows of any analysis)."""
    copy = folder / "edited"
    shutil.copytree(run, copy)
    stats = pd.read_parquet(copy / "stats.parquet")
    for (metric, comparison, stratum), values in edit.items():
        rows = (stats["metric"] == metric) & (stats["comparison"] == comparison) \
            & (stats["stratum"] == stratum)
        assert rows.sum() == 1, (metric, comparison, stratum)
        for column, value in values.items():
            stats.loc[rows, column] = value
    stats.to_parquet(copy / "stats.parquet", index=False)
    return copy


def test_a_dimension_significant_after_holm_is_named(required_only: Path, tmp_path: Path) -> None:
    """Turbulence with OR 0.13 (0.02-0.73), p = .021 is named; so is a dimension that is only
    nominally significant, as such; the summary never says no dimension reached significance
    while the table holds one that did."""
    model = ("odds_ratio", "threshold-of-need~panel")
    stats = pd.read_parquet(required_only / "stats.parquet")
    assert (stats["comparison"] == model[1]).any(), "the divergence model was not fitted"
    plain = {"p_value": 0.5, "p_holm": 1.0}
    edit = {(*model, f"dimension={d}"): plain for d in
            ("cx_multiplicity", "cx_interconnection", "cx_network", "cx_emotional")}
    edit[(*model, "dimension=cx_turbulence")] = {"estimate": 0.13, "ci_low": 0.02, "ci_high": 0.73,
                                                 "p_value": 0.004, "p_holm": 0.021}
    edit[(*model, "dimension=cx_conflict")] = {"estimate": 1.9, "ci_low": 1.01, "ci_high": 3.6,
                                               "p_value": 0.04, "p_holm": 0.16}
    run = _edited(required_only, tmp_path, edit)
    page = render_html(run)
    text = _text(page)
    item = text.split("Threshold of need")[1].split("Where it fails")[0]
    assert "no complexity dimension" not in item
    assert ("after Holm's correction across the 6 dimensions, that the checklist parts from the panel "
            "less often as turbulence rises (odds ratio 0.13 per standard deviation, 95% CI 0.02 to "
            "0.73, p = 0.004, Holm-adjusted p = 0.021).") in item
    assert "Before that correction, conflicting information had odds ratio 1.90 (1.01 to 3.60)" in item
    assert mismatches(page, run) == []


def test_restricted_range_is_explained(required_only: Path, tmp_path: Path) -> None:
    edit = {("krippendorff_alpha_ordinal", "within-panel", "all"): {"estimate": -0.01},
            ("percent_exact", "within-panel", "all"): {"estimate": 0.8}}
    page = render_html(_edited(required_only, tmp_path, edit))
    text = _text(page)
    people = pd.read_parquet(required_only / "judgements.parquet").query("rater_kind == 'human'")
    level = int(people["need_level"].value_counts().sort_index().idxmax())
    share = f"{100 * (people['need_level'] == level).mean():.0f}%"
    assert (f"α is close to zero although the practitioners gave the same level on 80% of pairs of "
            f"ratings: most ratings were at one level ({share} at level {level},") in text
    assert "restricted range" in text
    unedited = _text(render_html(required_only))
    assert "α is close to zero" not in unedited


def test_simulated_runs_say_so_first(training_run: Path) -> None:
    page = render_html(training_run)
    summary = page.split('id="summary-h"')[1].split("</p>")[0]
    first = _text(summary).split(".")[0]
    assert "simulated panel of" in first
    assert "The simulated practitioners" in page and not NAN.search(page)


def test_methods_show_the_design_and_decks_when_the_manifest_has_them(required_only: Path,
                                                                       tmp_path: Path) -> None:
    import json

    before = _text(render_html(required_only))
    assert "The vignettes' design" not in before
    copy = tmp_path / "run"
    shutil.copytree(required_only, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["design"] = {"design": "d-efficient", "n": 48, "set_id": "my-study", "random_state": 7,
                          "dimensions": ["cx_conflict", "cx_network"], "d_efficiency": 0.912345,
                          "d_efficiency_plausible": 0.87}
    manifest["decks"] = {"deck_size": 12, "per_deck": 6, "n_decks": 4}
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = _text(render_html(copy))
    design = text.split("The vignettes' design")[1].split("The run")[0]
    assert "design d-efficient n 48 set id my-study random state 7" in design
    assert "dimensions cx_conflict, cx_network d efficiency 0.9123 d efficiency plausible 0.87" in design
    assert "Decks deck size 12 per deck 6 n decks 4" in design


def test_methods_describe_an_app_study(required_only: Path, tmp_path: Path) -> None:
    """A panel read from the scoring app: the study id, the dates from the export's submitted_at
    and the practitioners by site and profession."""
    import json

    copy = tmp_path / "run"
    shutil.copytree(required_only, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["config"]["panels"] = [{"database": "sqlite:///study.db", "study": 3}]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    judgements = pd.read_parquet(copy / "judgements.parquet")
    humans = judgements["rater_kind"] == "human"
    judgements.loc[humans, "profession"] = np.where(
        judgements.loc[humans, "rater_id"].str.contains("police"), "police", "social_worker")
    judgements.loc[humans, "site"] = "Leeds"
    judgements.to_parquet(copy / "judgements.parquet", index=False)
    export = judgements[humans].assign(submitted_at="2026-05-04T09:00:00")
    export.loc[export.index[-1], "submitted_at"] = "2026-05-20T17:45:10"
    export.to_parquet(copy / "inputs" / "judgements" / "study-3.parquet", index=False)
    page = render_html(copy)
    text = _text(page)
    assert ("Practitioners' judgements from study 3 in the scoring app, submitted between 2026-05-04 "
            "and 2026-05-20; the study's export is inputs/judgements/study-3.parquet") in text
    table = text.split("Practitioners by profession and site")[1].split("Not collected")[0]
    assert "Profession Leeds All sites Social worker 10 10 Police officer (public protection) 2 2 All 12 12" \
        in table
    assert "simulat" not in page.lower()
