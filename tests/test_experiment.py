"""Experiment configs and the runner (dsk.experiment)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dsk.experiment import TABLES, ConfigError, config_hash, load_config, run_experiment
from dsk.io import read_table, write_table
from dsk.panels import load_panel, simulate_panel
from dsk.sets import load_set


def _config(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


BASE = """id: t
seed: 3
vignettes: {set: training-12}
rulesets: [threshold-of-need]
panels:
  - {panel: mixed-12}
rounds: 2
analyses: [agreement, explanations, failures, learned]
bootstrap: 20
learned_depths: [2]
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("bootstrap: 20", "bootstrap: lots"), r"line 9, key bootstrap: Input should be a valid integer"),
        (("rounds: 2", "rounds: 3"), r"line 7, key rounds: Input should be 1 or 2; got 3"),
        (("vignettes: {set: training-12}", "vignettes: {set: training-12, file: x.jsonl}"),
         r"line 3, key vignettes: .*exactly one of set, file or design"),
        (("analyses: [agreement, explanations, failures, learned]", "analyses: [agreement, vibes]"),
         r"line 8, key analyses\.1: not a registered analysis \(known analyses: agreement, explanations, "
         r"failures, learned\); got 'vibes'"),
        (("seed: 3", "seed: 3\ncolour: blue"), r"key colour: Extra inputs are not permitted"),
        (("rulesets: [threshold-of-need]", "rulesets: []"), r"key rulesets: List should have at least 1 item"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path, change, expected):
    path = _config(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_bundled_configs_validate():
    for name in ("quickstart", "complexity-gradient", "training"):
        config = load_config(name)
        assert config.id == name and len(config_hash(config)) == 64


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    config = load_config(_config(tmp_path_factory.mktemp("cfg"), BASE))
    a = run_experiment(config, tmp_path_factory.mktemp("a"), report=False)
    b = run_experiment(config, tmp_path_factory.mktemp("b"), report=False)
    return a, b


def test_same_config_gives_byte_identical_tables(twice):
    a, b = twice
    for name in TABLES:
        for ext in ("parquet", "csv"):
            assert (a.out_dir / f"{name}.{ext}").read_bytes() == (b.out_dir / f"{name}.{ext}").read_bytes(), name
    for learned in (a.out_dir / "learned").glob("*.yaml"):
        assert learned.read_bytes() == (b.out_dir / "learned" / learned.name).read_bytes()


def test_run_folder_contents_and_manifest(twice):
    run, _ = twice
    tables = {name: pd.read_parquet(run.out_dir / f"{name}.parquet") for name in TABLES}
    assert len(tables["vignettes"]) == 12
    assert set(tables["judgements"]["rater_kind"]) == {"rules", "simulated"}
    assert set(tables["judgements"]["round"]) == {1, 2}
    assert len(tables["decisions"]) == 12 and len(tables["failures"]) == 12
    assert {"agreement", "explanations", "learned_checklists"} <= set(tables["stats"]["analysis"])
    # twelve vignettes are too few for the divergence model: it is left out, not fitted to noise
    assert "divergence_model" not in set(tables["stats"]["analysis"])
    read_table(run.out_dir / "judgements.csv", "judgements")
    manifest = json.loads((run.out_dir / "manifest.json").read_text())
    assert manifest["config_hash"] == config_hash(load_config_from(manifest))
    assert manifest["versions"]["durable-rules"] == "2.0.28"
    assert any(k.endswith("training-12.jsonl") for k in manifest["inputs"])
    assert set(manifest["timings_seconds"]) >= {"vignettes", "rules", "panels", "agreement", "failures"}
    assert manifest["tables"]["judgements"]["rows"] == len(tables["judgements"])


def load_config_from(manifest):
    from dsk.experiment import ExperimentConfig

    return ExperimentConfig.model_validate(manifest["config"])


def test_human_judgements_from_a_file(tmp_path):
    vignettes = load_set("training-12")
    human = simulate_panel(vignettes, load_panel("social-workers-8"), seed=2, rationale=False)
    human["rater_kind"] = "human"
    write_table(human, tmp_path / "responses.csv")
    text = BASE.replace("  - {panel: mixed-12}", "  - {judgements: responses.csv}").replace("rounds: 2", "rounds: 1")
    path = _config(tmp_path, text)
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    kinds = run.tables["judgements"]["rater_kind"].value_counts().to_dict()
    assert kinds == {"human": len(human), "rules": 12}
    assert run.manifest["inputs"]["responses.csv"]


def test_judgements_for_unknown_vignettes_are_refused(tmp_path):
    human = simulate_panel(load_set("core-60"), load_panel("social-workers-8"), seed=2, rationale=False)
    write_table(human, tmp_path / "responses.csv")
    path = _config(tmp_path, BASE.replace("  - {panel: mixed-12}", "  - {judgements: responses.csv}"))
    with pytest.raises(ConfigError, match="judgements for vignettes not in the set: core-60-00001"):
        run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)


def test_human_judgements_from_the_scoring_app(tmp_path):
    """A study scored in the app's database feeds an experiment directly."""
    from dsk.app import open_database
    from dsk.app._study import (
        Answer,
        claim_link,
        close_round,
        create_study,
        deck_of,
        issue_links,
        save_answer,
    )

    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    with open_database(url) as db:
        study = create_study(db, title="pilot", set_id="training-12", deck_size=12, n_participants=2, rounds=1)
        for k, (participant, token) in enumerate(issue_links(db, study)):
            claim_link(db, token, "teacher" if k else "social_worker", 5 + k)
            db.refresh(participant)
            for i, vid in enumerate(deck_of(db, participant)):
                answer = Answer(need_level=1 + (i + k) % 4, confidence=0.6, risk=4.0,
                                salient_factors=(), salient_other="", rationale="because", lead_agency="school")
                save_answer(db, participant, vid, 1, answer, seconds=30.0, nonce=f"{k}-{i}")
        close_round(db, study)
        study_id = study.id
    text = BASE.replace("  - {panel: mixed-12}", f"  - {{database: '{url}', study: {study_id}}}")
    path = _config(tmp_path, text.replace("rounds: 2", "rounds: 1"))
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    humans = run.tables["judgements"][run.tables["judgements"]["rater_kind"] == "human"]
    assert len(humans) == 24 and humans["rater_id"].nunique() == 2
    assert set(run.tables["failures"]["vignette_id"]) == set(load_set("training-12")["vignette_id"])


def test_stats_rows_are_unique(twice):
    stats = twice[0].tables["stats"]
    assert not stats.duplicated(["analysis", "metric", "comparison", "stratum"]).any()


def test_demo_run_and_report_commands(tmp_path):
    """`make demo` runs `dsk demo`: the quickstart experiment, with its report."""
    from typer.testing import CliRunner

    from dsk.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "quick")])
    assert result.exit_code == 0, result.output
    assert "open the report" in result.output
    report = tmp_path / "quick" / "report.html"
    assert report.exists() and "<svg" in report.read_text()
    before = report.read_bytes()
    report.unlink()
    again = runner.invoke(app, ["report", str(tmp_path / "quick")])
    assert again.exit_code == 0, again.output
    assert report.read_bytes() == before
    bad = _config(tmp_path, BASE.replace("rounds: 2", "rounds: 5"))
    failed = runner.invoke(app, ["run", str(bad)])
    assert failed.exit_code == 1 and "key rounds" in failed.output
    missing = runner.invoke(app, ["report", str(tmp_path)])
    assert missing.exit_code == 1 and "not a run" in missing.output and "manifest.json" in missing.output


def test_durable_engine_gives_the_same_tables(tmp_path, twice):
    """The reference engine and the NumPy twin write identical decisions and traces."""
    config = load_config(_config(tmp_path, BASE + "engine: durable\n"))
    run = run_experiment(config, tmp_path / "durable", report=False)
    for name in ("decisions", "trace", "failures"):
        assert (run.out_dir / f"{name}.parquet").read_bytes() == \
            (twice[0].out_dir / f"{name}.parquet").read_bytes(), name
