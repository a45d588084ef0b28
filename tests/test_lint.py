"""The package type-checks and lints clean, with the settings in pyproject.toml.

mypy runs with ``disallow_untyped_defs`` and ``warn_unused_ignores``: every def is typed and
no ``type: ignore`` outlives its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "MYPY_CACHE_DIR": str(tmp_path)})


def test_mypy_is_clean(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    done = _run("mypy", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_settings_are_strict() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "disallow_untyped_defs = true" in text
    assert "warn_unused_ignores = true" in text


def test_ruff_is_clean(tmp_path: Path) -> None:
    pytest.importorskip("ruff")
    done = _run("ruff", "check", "--no-cache", "dsk", "tests", "benchmarks", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
