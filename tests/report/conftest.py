"""Run folders for the report tests: built once per session with reduced bootstrap."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsk.experiment import load_config, run_experiment


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart experiment (every analysis), with its report rendered by the runner."""
    config = load_config("quickstart").model_copy(update={"bootstrap": 50})
    out = tmp_path_factory.mktemp("quickstart")
    run_experiment(config, out, report=True)
    return out


@pytest.fixture(scope="session")
def training_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training experiment: no explanations; vignettes carry teaching notes."""
    config = load_config("training").model_copy(update={"bootstrap": 20})
    out = tmp_path_factory.mktemp("training")
    run_experiment(config, out, report=False)
    return out
