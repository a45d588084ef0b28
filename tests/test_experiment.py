"""Experiment configs and the runner (dsk.experiment)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from dsk.catalogue import default_catalogue_path, load_catalogue
from dsk.experiment import (
    ConfigError,
    ExperimentConfig,
    RunResult,
    config_hash,
    load_config,
    run_experiment,
)
from dsk.io import read_table, write_table
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.panels.profiles import panels_dir
from dsk.rules import bundled_rulesets
from dsk.schema import RUN_TABLES as TABLES
from dsk.sets import load_set, sets_dir


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(run: RunResult) -> dict[str, Path]:
    root = run.out_dir / "inputs"
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


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
        (("bootstrap: 20", "bootstrap: lots"), r"exp\.yaml:9:12: bootstrap: expected a whole number, got 'lots'\n"
                                               r"    9 \| bootstrap: lots\n      \|            \^\^\^\^$"),
        (("rounds: 2", "rounds: 3"), r"exp\.yaml:7:9: rounds: expected 1 or 2, got the number 3\n"),
        (("vignettes: {set: training-12}", "vignettes: {set: training-12, file: x.jsonl}"),
         r"exp\.yaml:3:12: vignettes: give exactly one of set, file or design \(got set, file\)"),
        (("analyses: [agreement, explanations, failures, learned]", "analyses: [agreement, vibes]"),
         r"exp\.yaml:8:23: analyses\.1: unknown analysis 'vibes' \(analyses: agreement, explanations, "
         r"failures, learned, variance, models\)\n.*\n +\| {23}\^\^\^\^\^"),
        (("seed: 3", "seed: 3\ncolour: blue"), r"exp\.yaml:3:1: unknown key 'colour' \(keys here: id, title, "
                                              r"description, seed, "),
        (("seed: 3", "seed: 3\nrulesetz: [x]"), r"exp\.yaml:3:1: unknown key 'rulesetz'; did you mean 'rulesets'\?"),
        (("{panel: mixed-12}", "{panel: mixed-12, studdy: 2}"),
         r"exp\.yaml:6:23: unknown key 'studdy' in panels\.0; did you mean 'study'\? \(keys here: panel, "
         r"judgements, database, study\)"),
        (("rulesets: [threshold-of-need]", "rulesets: []"), r"exp\.yaml:4:11: rulesets: expected at least 1 item, "
                                                            r"got none"),
        (("id: t", "title: no id"), r"exp\.yaml:1:1: missing key 'id': Experiment id"),
        (("rounds: 2", "rounds: 2\ndecks: {size: 4}"), r"exp\.yaml:8:8: decks: give size and per_deck"),
    ],
)
def test_config_errors_name_file_line_column_and_key(tmp_path: Path, change: tuple[str, str],
                                                     expected: str) -> None:
    path = _config(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))
    assert "Input should" not in str(info.value) and "Extra inputs" not in str(info.value)
    assert "Value error" not in str(info.value)


def test_every_config_error_is_reported_in_one_pass(tmp_path: Path) -> None:
    text = (BASE.replace("rounds: 2", "rounds: 3").replace("bootstrap: 20", "bootstrap: lots")
            .replace("{panel: mixed-12}", "{panel: mixed-13}")
            .replace("rulesets: [threshold-of-need]", "rulesets: [threshold-of-need, cont-of-concerns]")
            + "colour: blue\n")
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    where = [problem.splitlines()[0].split(": ")[0] for problem in info.value.problems]
    assert where == [f"{path}:4:31", f"{path}:6:13", f"{path}:7:9", f"{path}:9:12", f"{path}:11:1"]
    assert str(info.value).startswith(f"{path}: 5 problems in the experiment config\n")
    assert "did you mean 'count-of-concerns'?" in info.value.problems[0]
    assert "did you mean 'mixed-12'?" in info.value.problems[1]


def test_cli_prints_every_problem_on_stderr(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dsk.cli import app

    path = _config(tmp_path, BASE.replace("rounds: 2", "rounds: 3") + "colour: blue\n")
    for command in (["run", str(path), "-o", str(tmp_path / "run")], ["config", "check", str(path)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert lines[0] == "error: 2 problems in the experiment config"
        assert f"{path}:7:9: rounds: expected 1 or 2, got the number 3" in lines
        assert "      |         ^" in lines
        assert any(line.startswith(f"{path}:11:1: unknown key 'colour'") for line in lines)
    assert not (tmp_path / "run").exists()


def test_bundled_configs_validate() -> None:
    for name in ("quickstart", "complexity-gradient", "training"):
        config = load_config(name)
        assert config.id == name and len(config_hash(config)) == 64


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunResult]:
    config = load_config(_config(tmp_path_factory.mktemp("cfg"), BASE))
    a = run_experiment(config, tmp_path_factory.mktemp("a"), report=False)
    b = run_experiment(config, tmp_path_factory.mktemp("b"), report=False)
    return a, b


def test_same_config_gives_byte_identical_tables(twice: tuple[RunResult, RunResult]) -> None:
    a, b = twice
    for name in TABLES:
        for ext in ("parquet", "csv"):
            assert (a.out_dir / f"{name}.{ext}").read_bytes() == (b.out_dir / f"{name}.{ext}").read_bytes(), name
    for learned in (a.out_dir / "learned").glob("*.yaml"):
        assert learned.read_bytes() == (b.out_dir / "learned" / learned.name).read_bytes()


def test_run_folder_contents_and_manifest(twice: tuple[RunResult, RunResult]) -> None:
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
    assert manifest["config"] == json.loads((run.out_dir / "config.json").read_text())
    assert "catalogue" not in manifest["config"]  # unset optional keys leave the hash as it was
    assert set(manifest["timings_seconds"]) >= {"vignettes", "rules", "panels", "agreement", "failures"}
    assert manifest["tables"]["judgements"]["rows"] == len(tables["judgements"])


def load_config_from(manifest: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig.model_validate(manifest["config"])


def test_every_input_is_copied_into_the_run_folder(twice: tuple[RunResult, RunResult]) -> None:
    """inputs/ holds the config, catalogue, professions, panel, ruleset and vignette files (bundled
    ones too), byte for byte, and the manifest records the SHA-256 of each."""
    run, _ = twice
    files = _inputs(run)
    assert list(files) == ["catalogue.yaml", "config.yaml", "panels/mixed-12.yaml", "professions.yaml",
                           "rules/threshold-of-need.yaml", "vignettes/training-12.jsonl"]
    originals = {
        "catalogue.yaml": default_catalogue_path(),
        "panels/mixed-12.yaml": panels_dir() / "mixed-12.yaml",
        "professions.yaml": panels_dir() / "professions.yaml",
        "rules/threshold-of-need.yaml": bundled_rulesets()["threshold-of-need"],
        "vignettes/training-12.jsonl": sets_dir() / "training-12.jsonl",
    }
    for name, original in originals.items():
        assert files[name].read_bytes() == original.read_bytes(), name
    assert run.manifest["inputs"] == {name: _sha(path) for name, path in files.items()}
    assert run.manifest["input_sources"]["rules/threshold-of-need.yaml"] == \
        "bundled:experiments/rules/threshold-of-need.yaml"
    # the fixture passed a config object without its file: the copy is that config, as YAML
    copied = load_config(files["config.yaml"])
    assert copied == load_config_from(run.manifest)
    assert copied.bootstrap == 20 and copied.rulesets == ["threshold-of-need"]


def _own_inputs(tmp_path: Path) -> Path:
    """A config in cfg/ naming its own catalogue and professions in data/ (relative paths)."""
    data = tmp_path / "data"
    data.mkdir()
    catalogue = default_catalogue_path().read_text(encoding="utf-8")
    assert catalogue.count("label: Domestic abuse\n") == 1
    (data / "factors.yaml").write_text(catalogue.replace("label: Domestic abuse\n",
                                                         "label: Violence at home\n"), encoding="utf-8")
    professions = (panels_dir() / "professions.yaml").read_text(encoding="utf-8")
    assert professions.count("  noise: 0.8\n") == 1
    (data / "professions.yaml").write_text(professions.replace("  noise: 0.8\n", "  noise: 1.5\n"),
                                           encoding="utf-8")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    return _config(cfg, BASE + "catalogue: ../data/factors.yaml\nprofessions: ../data/professions.yaml\n")


def test_a_config_names_its_own_catalogue_and_professions(tmp_path: Path, twice: tuple[RunResult, RunResult],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are relative to the config file, not the working folder; the run copies and uses the
    named files, and the report reads the copies."""
    from dsk.report._load import load_run

    path = _own_inputs(tmp_path)
    monkeypatch.chdir(tmp_path / "data")
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    files = _inputs(run)
    assert files["catalogue.yaml"].read_bytes() == (tmp_path / "data" / "factors.yaml").read_bytes()
    assert files["professions.yaml"].read_bytes() == (tmp_path / "data" / "professions.yaml").read_bytes()
    assert files["config.yaml"].read_bytes() == path.read_bytes()  # the file itself, comments and all
    assert run.manifest["input_sources"]["catalogue.yaml"] == "../data/factors.yaml"
    assert run.manifest["config"]["professions"] == "../data/professions.yaml"
    # the rules do not read labels; the noisier professions change the simulated panel
    default = twice[0]
    assert run.tables["decisions"].equals(default.tables["decisions"])
    people = run.tables["judgements"]["rater_kind"] == "simulated"
    before = default.tables["judgements"]["rater_kind"] == "simulated"
    assert (run.tables["judgements"].loc[people, "need_level"].to_numpy()
            != default.tables["judgements"].loc[before, "need_level"].to_numpy()).any()
    loaded = load_run(run.out_dir)
    assert {f.id: f.label for f in loaded.catalogue.factors}["domestic_abuse"] == "Violence at home"
    assert {p.noise for p in loaded.professions.values()} == {1.5}  # the edited default, for every profession


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("", "catalogue: nope.yaml\n"), r":11:12: catalogue: no such catalogue file '.*nope\.yaml'"),
        (("", "professions: ../nope.yaml\n"), r":11:14: professions: no such professions file '.*nope\.yaml'"),
        (("rulesets: [threshold-of-need]", "rulesets: [threshold-of-need, mine.yaml]"),
         r":4:31: rulesets\.1: no bundled ruleset or file 'mine\.yaml' \(bundled: "),
        (("{set: training-12}", "{file: none.jsonl}"), r":3:19: vignettes\.file: no such vignettes file"),
        (("{set: training-12}", "{set: core-61}"), r":3:18: vignettes\.set: no bundled vignette set "
                                                   r"'core-61'; did you mean 'core-60'\? \(sets: core-60, training-12\)"),
        (("{panel: mixed-12}", "{judgements: gone.csv}"), r":6:18: panels\.0\.judgements: no such judgements file"),
        (("{panel: mixed-12}", "{panel: nobody}"), r":6:13: panels\.0\.panel: no bundled panel 'nobody'"),
        (("{panel: mixed-12}", "{panel: panels/mine.yaml}"), r":6:13: panels\.0\.panel: no such panel file"),
    ],
)
def test_missing_files_name_the_config_and_key(tmp_path: Path, change: tuple[str, str],
                                               expected: str) -> None:
    text = BASE + change[1] if change[0] == "" else BASE.replace(*change)
    assert text != BASE
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:")
    # a config built in code is checked the same way before anything runs
    config = ExperimentConfig.model_validate(yaml.safe_load(text))
    with pytest.raises(ConfigError, match=expected):
        run_experiment(config, tmp_path / "run", report=False, config_path=path)
    assert not (tmp_path / "run").exists()


def test_human_judgements_from_a_file(tmp_path: Path) -> None:
    vignettes = load_set("training-12")
    profs = load_professions()
    human = simulate_panel(vignettes, load_panel("social-workers-8", profs), random_state=2, professions=profs,
                           catalogue=load_catalogue(), rationale=False)
    human["rater_kind"] = "human"
    write_table(human, tmp_path / "responses.csv")
    text = BASE.replace("  - {panel: mixed-12}", "  - {judgements: responses.csv}").replace("rounds: 2", "rounds: 1")
    path = _config(tmp_path, text)
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    kinds = run.tables["judgements"]["rater_kind"].value_counts().to_dict()
    assert kinds == {"human": len(human), "rules": 12}
    assert run.manifest["inputs"]["judgements/responses.csv"] == _sha(tmp_path / "responses.csv")
    assert run.manifest["input_sources"]["judgements/responses.csv"] == "responses.csv"
    assert (run.out_dir / "inputs" / "config.yaml").read_bytes() == path.read_bytes()


def test_judgements_for_unknown_vignettes_are_refused(tmp_path: Path) -> None:
    profs = load_professions()
    human = simulate_panel(load_set("core-60"), load_panel("social-workers-8", profs), random_state=2,
                           professions=profs, catalogue=load_catalogue(), rationale=False)
    write_table(human, tmp_path / "responses.csv")
    path = _config(tmp_path, BASE.replace("  - {panel: mixed-12}", "  - {judgements: responses.csv}"))
    with pytest.raises(ConfigError, match=r"exp\.yaml:6:18: panels\.0\.judgements: judgements for vignettes "
                                          r"not in the set: core-60-00001"):
        run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)


def test_human_judgements_from_the_scoring_app(tmp_path: Path) -> None:
    """A study scored in the app's database feeds an experiment directly."""
    from dsk.app import open_database
    from dsk.app._models import RoundSubmission
    from dsk.app._study import (
        Answer,
        claim_link,
        close_round,
        create_researcher,
        create_study,
        deck_of,
        issue_links,
        save_answer,
    )

    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    with open_database(url) as db:
        owner = create_researcher(db, "ada", "a long passphrase")
        study = create_study(db, owner=owner, title="pilot", set_id="training-12", deck_size=12, n_participants=2, rounds=1,
                             catalogue=load_catalogue())
        for k, (participant, token) in enumerate(issue_links(db, study)):
            claim_link(db, token, "teacher" if k else "social_worker", 5 + k)
            db.refresh(participant)
            for i, vid in enumerate(deck_of(db, participant)):
                answer = Answer(need_level=1 + (i + k) % 4, confidence=0.6, risk=4.0,
                                salient_factors=(), salient_other="", rationale="because", lead_agency="school")
                save_answer(db, participant, vid, 1, answer, seconds=30.0, nonce=f"{k}-{i}")
            # "Submit my answers": only submitted answers are exported
            db.add(RoundSubmission(participant_id=participant.id, round=1, study_id=study.id))
            db.commit()
        close_round(db, study)
        study_id = study.id
    text = BASE.replace("  - {panel: mixed-12}", f"  - {{database: '{url}', study: {study_id}}}")
    path = _config(tmp_path, text.replace("rounds: 2", "rounds: 1"))
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    humans = run.tables["judgements"][run.tables["judgements"]["rater_kind"] == "human"]
    assert len(humans) == 24 and humans["rater_id"].nunique() == 2
    exported = pd.read_parquet(run.out_dir / "inputs" / "judgements" / f"study-{study_id}.parquet")
    key = ["vignette_id", "rater_id", "round", "need_level", "rationale"]
    assert exported[key].to_numpy().tolist() == humans[key].to_numpy().tolist()
    assert run.manifest["inputs"][f"judgements/study-{study_id}.parquet"] == \
        _sha(run.out_dir / "inputs" / "judgements" / f"study-{study_id}.parquet")
    assert set(run.tables["failures"]["vignette_id"]) == set(load_set("training-12")["vignette_id"])


def test_stats_rows_are_unique(twice: tuple[RunResult, RunResult]) -> None:
    stats = twice[0].tables["stats"]
    assert not stats.duplicated(["analysis", "metric", "comparison", "stratum"]).any()


def test_demo_run_and_report_commands(tmp_path: Path) -> None:
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
    assert failed.exit_code == 1 and ":7:9: rounds: expected 1 or 2, got the number 5" in failed.stderr
    missing = runner.invoke(app, ["report", str(tmp_path)])
    assert missing.exit_code == 1 and "not a run" in missing.output and "manifest.json" in missing.output


def test_durable_engine_gives_the_same_tables(tmp_path: Path,
                                              twice: tuple[RunResult, RunResult]) -> None:
    """The reference engine and the NumPy twin write identical decisions and traces."""
    config = load_config(_config(tmp_path, BASE + "engine: durable\n"))
    run = run_experiment(config, tmp_path / "durable", report=False)
    for name in ("decisions", "trace", "failures"):
        assert (run.out_dir / f"{name}.parquet").read_bytes() == \
            (twice[0].out_dir / f"{name}.parquet").read_bytes(), name


def test_a_generated_design_keeps_the_narrative_templates(tmp_path: Path) -> None:
    from dsk.narrative import template_dir

    text = BASE.replace("{set: training-12}", "{design: random, n: 6}").replace(
        "analyses: [agreement, explanations, failures, learned]", "analyses: []")
    path = _config(tmp_path, text)
    run = run_experiment(load_config(path), tmp_path / "run", report=False, config_path=path)
    files = _inputs(run)
    assert [f for f in files if f.startswith(("templates/", "vignettes/"))] == [
        "templates/frames.j2", "templates/vignette.txt.j2"]
    assert files["templates/vignette.txt.j2"].read_bytes() == (template_dir() / "vignette.txt.j2").read_bytes()
    assert len(run.tables["vignettes"]) == 6


# ---------------------------------------------------------------- the config reference


def test_config_reference_is_current() -> None:
    from dsk.experiment import config_docs

    path = Path(__file__).resolve().parent.parent / "docs" / "config.md"
    assert path.read_text(encoding="utf-8") == config_docs(), (
        "docs/config.md is stale: regenerate it with `dsk config docs > docs/config.md`")


def test_config_reference_names_every_key_with_a_description() -> None:
    from dsk.experiment import DecksSpec, ExperimentConfig, PanelSource, VignetteSource, config_docs

    docs = config_docs()
    for model in (ExperimentConfig, VignetteSource, DecksSpec, PanelSource):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert f"| `{name}` |" in docs
    assert "| `bootstrap` | integer (at least `0`, at most `100000`) | `200` |" in docs
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "docs/config.md" in readme


def test_config_schema_command_prints_the_json_schema() -> None:
    from typer.testing import CliRunner

    from dsk.cli import app

    result = CliRunner().invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["required"] == ["id", "vignettes", "rulesets", "panels"]
    assert schema["additionalProperties"] is False
    assert set(schema["$defs"]) == {"DecksSpec", "ModelsOption", "PanelSource", "PlanSpec", "VignetteSource"}
    assert schema["properties"]["rounds"]["enum"] == [1, 2]
    ok = CliRunner().invoke(app, ["config", "check", "quickstart"])
    assert ok.exit_code == 0 and "experiment 'quickstart' is valid" in ok.stdout


# ---------------------------------------------------------------- before anything runs, and paths

FAST = BASE.replace("rounds: 2", "rounds: 1").replace("analyses: [agreement, explanations, failures, learned]",
                                                       "analyses: [agreement]").replace("bootstrap: 20",
                                                                                        "bootstrap: 0")


def test_unknown_ruleset_or_panel_stops_before_any_stage(tmp_path: Path) -> None:
    stages: list[str] = []
    for change in (("rulesets: [threshold-of-need]", "rulesets: [threshold-of-need, nope]"),
                   ("{panel: mixed-12}", "{panel: nope}")):
        config = ExperimentConfig.model_validate(yaml.safe_load(FAST.replace(*change)))
        with pytest.raises(ConfigError, match="nope"):
            run_experiment(config, tmp_path / "out" / "run", report=False,
                           progress=lambda stage, message: stages.append(stage))
    assert stages == []
    assert not (tmp_path / "out").exists()


def test_a_stage_that_fails_leaves_no_half_written_run_folder(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nrules:\n  - id: r\n    when: no_such_factor\n    level: 4\n")
    path = _config(tmp_path, FAST.replace("rulesets: [threshold-of-need]", "rulesets: [broken.yaml]"))
    stages: list[str] = []
    with pytest.raises(ValueError, match="no_such_factor"):
        run_experiment(path, tmp_path / "runs" / "t", report=False,
                       progress=lambda stage, message: stages.append(stage))
    assert "vignettes" in stages  # it did start, and left nothing behind
    assert not (tmp_path / "runs").exists()
    # an earlier run in the same folder is left as it was
    good = run_experiment(_config(tmp_path, FAST), tmp_path / "runs" / "t", report=False)
    before = {p.name: p.read_bytes() for p in good.out_dir.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="no_such_factor"):
        run_experiment(_config(tmp_path, FAST.replace("rulesets: [threshold-of-need]", "rulesets: [broken.yaml]")),
                       tmp_path / "runs" / "t", report=False)
    assert {p.name: p.read_bytes() for p in good.out_dir.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["t"]


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = tmp_path / "study"
    (study / "data").mkdir(parents=True)
    write_table(load_set("training-12"), study / "data" / "mine.jsonl")
    shutil.copy(bundled_rulesets()["threshold-of-need"], study / "data" / "rules.yaml")
    text = (FAST.replace("{set: training-12}", "{file: data/mine.jsonl}")
            .replace("rulesets: [threshold-of-need]", "rulesets: [data/rules.yaml]") + "output: ../out/pilot\n")
    _config(study, text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = run_experiment(Path("..") / "study" / "exp.yaml", report=False)
    assert run.out_dir.resolve() == (tmp_path / "out" / "pilot").resolve()
    assert (tmp_path / "out" / "pilot" / "manifest.json").is_file()
    assert list(elsewhere.iterdir()) == []
    assert run.manifest["input_sources"]["vignettes/mine.jsonl"] == "data/mine.jsonl"
    # the CLI too, and `-o` stays relative to where it is run
    from typer.testing import CliRunner

    from dsk.cli import app

    result = CliRunner().invoke(app, ["run", str(Path("..") / "study" / "exp.yaml"), "-o", "here"])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "here" / "manifest.json").is_file()


# ---------------------------------------------------------------- own vignettes and decks

YAML_SET = """id: my-set
seed: 4
vignettes:
  - id: my-1
    age_band: primary
    factors: {domestic_abuse: 2, parental_mental_health: 1}
  - id: my-2
    age_band: primary
    factors: {disclosure: present, school_attendance: occasional_absence}
  - id: my-3
    age_band: secondary
    factors: {parental_mental_health: 2}
"""


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv", "yaml"])
def test_own_vignettes_in_every_format_keep_their_ids(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"mine.{suffix}"
    if suffix == "yaml":
        source.write_text(YAML_SET)
        ids, set_id = ["my-1", "my-2", "my-3"], "my-set"
    else:
        frame = load_set("training-12")
        write_table(frame, source)
        ids, set_id = list(frame["vignette_id"]), "training-12"
    path = _config(tmp_path, FAST.replace("{set: training-12}", f"{{file: mine.{suffix}, set_id: {set_id}}}"))
    run = run_experiment(path, tmp_path / "run", report=False)
    assert list(run.tables["vignettes"]["vignette_id"]) == ids
    assert set(run.tables["judgements"]["vignette_id"]) == set(ids)
    assert f"vignettes/mine.{suffix}" in run.manifest["inputs"]
    assert "design" not in run.manifest


def test_set_id_must_match_a_file(tmp_path: Path) -> None:
    write_table(load_set("training-12"), tmp_path / "mine.jsonl")
    path = _config(tmp_path, FAST.replace("{set: training-12}", "{file: mine.jsonl, set_id: pilot}"))
    with pytest.raises(ConfigError, match=r"exp\.yaml:3:39: vignettes\.set_id: set_id 'pilot' does not match the "
                                          r"vignettes, whose set id is 'training-12'") as info:
        run_experiment(path, tmp_path / "run", report=False)
    assert "^^^^^" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_a_generated_design_takes_the_set_id_and_records_its_parameters(tmp_path: Path) -> None:
    from dsk.design import generate

    design = ("{design: d-efficient, n: 12, set_id: pilot-12, "
              "dimensions: [domestic_abuse, parental_mental_health]}")
    path = _config(tmp_path, FAST.replace("{set: training-12}", design))
    run = run_experiment(path, tmp_path / "run", report=False)
    same = generate("d-efficient", 12, 3, load_catalogue(), set_id="pilot-12",
                    dimensions=["domestic_abuse", "parental_mental_health"])
    assert list(run.tables["vignettes"]["vignette_id"]) == list(same["vignette_id"])
    assert set(run.tables["vignettes"]["set_id"]) == {"pilot-12"}
    entry = run.manifest["design"]
    assert {k: entry[k] for k in ("design", "n", "set_id", "random_state", "dimensions")} == {
        "design": "d-efficient", "n": 12, "set_id": "pilot-12", "random_state": 3,
        "dimensions": ["domestic_abuse", "parental_mental_health"]}
    assert entry["d_efficiency"] == pytest.approx(same.attrs["d_efficiency"])
    assert entry["d_efficiency_plausible"] == pytest.approx(same.attrs["d_efficiency_plausible"])
    stratified = _config(tmp_path, FAST.replace("{set: training-12}",
                                                "{design: stratified, bands: {low: 2, medium: 2, high: 2}, "
                                                "acute_share: 0.5}"))
    run = run_experiment(stratified, tmp_path / "run2", report=False)
    assert run.manifest["design"] == {"design": "stratified", "n": 6, "set_id": "stratified-3", "random_state": 3,
                                      "bands": {"low": 2, "medium": 2, "high": 2}, "acute_share": 0.5}


def test_decks_from_size_and_per_deck(tmp_path: Path) -> None:
    from dsk.decks import make_decks

    path = _config(tmp_path, FAST.replace("rounds: 1", "rounds: 1\ndecks: {size: 4, per_deck: 4}"))
    run = run_experiment(path, tmp_path / "run", report=False)
    people = run.tables["judgements"][run.tables["judgements"]["rater_kind"] == "simulated"]
    assert len(people) == 12 * 4  # twelve practitioners, four vignettes each
    assert set(people["deck_id"]) == {"deck-1", "deck-2", "deck-3"}
    assert sorted(set(people["position"])) == [1, 2, 3, 4]
    plan = make_decks(list(run.tables["vignettes"]["vignette_id"]), 4, 12, random_state=3)
    first = people[people["rater_id"] == people["rater_id"].iloc[0]]
    assert list(first["vignette_id"]) == list(plan[plan["respondent"] == 1]["vignette_id"])
    assert run.manifest["decks"] == {"deck_size": 4, "per_deck": 4, "n_decks": 3, "respondents": 12}
    assert "decks.csv" in run.manifest["inputs"]
    saved = pd.read_parquet(run.out_dir / "judgements.parquet")
    assert saved["position"].notna().sum() == 48


def test_decks_from_a_file_and_too_few_respondents(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dsk.cli import app

    write_table(load_set("training-12"), tmp_path / "mine.jsonl")
    made = CliRunner().invoke(app, ["vignettes", "decks", str(tmp_path / "mine.jsonl"), "--deck-size", "6",
                                    "--respondents", "12", "-o", str(tmp_path / "decks.csv")])
    assert made.exit_code == 0, made.output
    text = FAST.replace("{set: training-12}", "{file: mine.jsonl}").replace("rounds: 1",
                                                                          "rounds: 1\ndecks: {file: decks.csv}")
    run = run_experiment(_config(tmp_path, text), tmp_path / "run", report=False)
    people = run.tables["judgements"][run.tables["judgements"]["rater_kind"] == "simulated"]
    assert len(people) == 12 * 6 and set(people["deck_id"]) == {"deck-1", "deck-2"}
    assert run.manifest["decks"]["file"] == "decks.csv"
    assert run.manifest["inputs"]["decks/decks.csv"] == _sha(tmp_path / "decks.csv")
    small = _config(tmp_path, FAST.replace("rounds: 1", "rounds: 1\ndecks: {size: 6, per_deck: 2}"))
    with pytest.raises(ConfigError, match=r"exp\.yaml:6:13: panels\.0\.panel: panel 'mixed-12' has 12 "
                                          r"practitioners but the decks have only 4 respondents"):
        run_experiment(small, tmp_path / "run2", report=False)
    assert not (tmp_path / "run2").exists()


def test_a_relative_sqlite_database_is_relative_to_the_config(tmp_path: Path) -> None:
    from dsk.experiment import _database_url

    assert _database_url("sqlite:///study.db", tmp_path) == f"sqlite:///{tmp_path / 'study.db'}"
    assert _database_url("sqlite:////srv/study.db", tmp_path) == "sqlite:////srv/study.db"
    assert _database_url("sqlite:///:memory:", tmp_path) == "sqlite:///:memory:"
    assert _database_url("postgresql://db/study", tmp_path) == "postgresql://db/study"
