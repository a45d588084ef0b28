"""Analyses run side by side in worker processes (``run_analyses(workers=...)`` and the
``workers`` key of an experiment config) give the same tables as one after another."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dsk.analysis.registry import AnalysisSettings, analysis_names, run_analyses
from dsk.catalogue import Catalogue
from dsk.design import generate
from dsk.experiment import ExperimentConfig, config_dict, config_hash, load_config
from dsk.io import write_table
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.rules import bundled_rulesets, evaluate, load_ruleset

SETTINGS = AnalysisSettings(bootstrap=5, shap_background=5, learned_depths=(1, 2), learned_folds=3,
                            teaching_cases=3)


@pytest.fixture(scope="module")
def run(catalogue: Catalogue) -> tuple[dict[str, pd.DataFrame], list]:
    vignettes = generate("stratified", 30, 4, catalogue, narratives=False)
    rulesets = [load_ruleset(bundled_rulesets()[n], catalogue) for n in ("threshold-of-need", "toxic-trio")]
    results = [evaluate(rs, vignettes, catalogue=catalogue, margins=True) for rs in rulesets]
    decisions = pd.concat([r.decisions() for r in results], ignore_index=True)
    profs = load_professions(catalogue=catalogue)
    people = simulate_panel(vignettes, load_panel("mixed-12", profs), rounds=2, professions=profs,
                            catalogue=catalogue, rationale=False, random_state=4)
    rules = pd.DataFrame({"vignette_id": decisions["vignette_id"], "rater_id": decisions["ruleset_id"],
                          "rater_kind": "rules", "round": 1, "need_level": decisions["need_level"]})
    tables = {"vignettes": vignettes, "decisions": decisions,
              "trace": pd.concat([r.trace() for r in results], ignore_index=True),
              "judgements": pd.concat([rules, people], ignore_index=True)}
    return tables, rulesets


def _bytes(frame: pd.DataFrame, path: Path) -> bytes:
    write_table(frame, path)
    return path.read_bytes()


def test_two_workers_give_the_same_tables_as_one(run: tuple, catalogue: Catalogue, tmp_path: Path) -> None:
    tables, rulesets = run
    names = list(analysis_names())
    seen: list[tuple[str, float]] = []
    one = run_analyses(names, tables, rulesets=rulesets, catalogue=catalogue, random_state=3,
                       settings=SETTINGS)
    two = run_analyses(names, tables, rulesets=rulesets, catalogue=catalogue, random_state=3,
                       settings=SETTINGS, workers=2, timed=lambda name, s: seen.append((name, s)))
    assert _bytes(two.stats, tmp_path / "two.parquet") == _bytes(one.stats, tmp_path / "one.parquet")
    assert set(one.stats["analysis"]) >= {"agreement", "explanations", "learned_checklists"}
    assert sorted(two.tables) == sorted(one.tables)
    for name, frame in one.tables.items():
        assert _bytes(two.tables[name], tmp_path / f"2-{name}.parquet") == \
            _bytes(frame, tmp_path / f"1-{name}.parquet"), name
    assert two.files == one.files
    # each analysis timed in its own process, reported in registration order
    assert [name for name, _ in seen] == names
    assert all(s > 0 for _, s in seen)


def test_workers_must_be_a_positive_whole_number(run: tuple, catalogue: Catalogue) -> None:
    tables, rulesets = run
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="workers: expected a whole number of at least 1"):
            run_analyses(["variance"], tables, rulesets=rulesets, catalogue=catalogue, workers=bad)


def test_an_error_in_a_worker_reaches_the_caller(run: tuple, catalogue: Catalogue) -> None:
    tables, rulesets = run
    broken = {**tables, "judgements": tables["judgements"].drop(columns="need_level")}
    with pytest.raises(Exception, match="need_level"):
        run_analyses(["agreement", "variance"], broken, rulesets=rulesets, catalogue=catalogue,
                     settings=SETTINGS, workers=2)


def test_workers_key_leaves_the_hash_of_configs_without_it_alone() -> None:
    config = load_config("quickstart")
    assert config.workers is None
    assert "workers" not in config_dict(config)
    with_workers = config.model_copy(update={"workers": 2})
    assert config_dict(with_workers)["workers"] == 2
    assert config_hash(with_workers) != config_hash(config)
    with pytest.raises(ValueError, match="workers"):
        ExperimentConfig.model_validate({**config_dict(config), "workers": 0})


def test_bundled_gradient_config_runs_its_analyses_in_two_processes() -> None:
    assert load_config("complexity-gradient").workers == 2
