"""The wheel stands alone: built from the checkout, installed (not editable) into a fresh virtual
environment, it runs ``dsk demo`` and ``dsk run quickstart`` from an empty folder.

Installing every dependency from the registry would make each CI run slow and need the
network, so the fresh environment sees the dependencies of the environment running the tests
through a ``.pth`` file naming its site-packages. Folders added that way have their own ``.pth``
files ignored, so the editable install of the checkout is not on the path: ``import dsk`` finds
only the wheel, and the test checks that it does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("vignettes", "decisions", "trace", "judgements", "stats", "failures", "importance", "teaching")
INPUTS = ["catalogue.yaml", "config.yaml", "panels/mixed-12.yaml", "professions.yaml",
          "rules/count-of-concerns.yaml", "rules/threshold-of-need.yaml", "vignettes/core-60.jsonl"]


def _env() -> dict[str, str]:
    """The environment without anything that would put the checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return {**env, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "COLUMNS": "200"}


def _run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}\n{done.stdout}\n{done.stderr}"
    return done


def _package_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "dsk").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout (the build leaves files behind)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "dsk", src / "dsk", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--quiet", "--wheel-dir", dist, src], cwd=src)
    (found,) = dist.glob("dsk-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel, and seeing this environment's packages."""
    root = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent)
    python = root / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root).stdout.strip())
    parent = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "parent-environment.pth").write_text("".join(f"{p}\n" for p in parent), encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--quiet", wheel], cwd=root)
    return root


def test_the_wheel_holds_the_whole_package_and_its_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if n.startswith("dsk/")}
    missing = _package_files() - names
    assert not missing, sorted(missing)
    assert {"dsk/data/vignettes/factors.yaml", "dsk/data/vignettes/sets/core-60.jsonl",
            "dsk/data/vignettes/templates/vignette.txt.j2", "dsk/data/experiments/quickstart.yaml",
            "dsk/data/experiments/rules/threshold-of-need.yaml",
            "dsk/data/experiments/panels/professions.yaml"} <= names


def test_dsk_imports_from_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    code = ("import dsk, dsk.cli, fastapi; from importlib import metadata; from dsk._paths import data_path; "
            "print(dsk.__file__); print(data_path('vignettes', 'factors.yaml')); print(metadata.version('dsk'))")
    out = _run([venv / "bin" / "python", "-c", code], cwd=tmp_path).stdout.splitlines()
    package, catalogue, version = (Path(out[0]), Path(out[1]), out[2])
    site = venv / "lib"
    assert package.is_relative_to(site) and package.name == "__init__.py", package
    assert catalogue.is_relative_to(site) and catalogue.read_bytes() == \
        (ROOT / "dsk" / "data" / "vignettes" / "factors.yaml").read_bytes()
    assert not package.resolve().is_relative_to(ROOT.resolve())
    assert version == "0.1.0"


def test_demo_and_run_quickstart_from_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "empty"
    work.mkdir()
    dsk = venv / "bin" / "dsk"
    demo = _run([dsk, "demo"], cwd=work)
    assert "open the report" in demo.stdout
    _run([dsk, "run", "quickstart", "-o", "again"], cwd=work)
    first, again = work / "runs" / "quickstart", work / "again"
    assert sorted(p.name for p in work.iterdir()) == ["again", "runs"]
    tables = {name: pd.read_parquet(first / f"{name}.parquet") for name in TABLES}
    assert len(tables["vignettes"]) == 60
    assert tables["vignettes"]["complexity_band"].value_counts().to_dict() == {"low": 20, "medium": 20,
                                                                               "high": 20}
    assert tables["decisions"].groupby("ruleset_id").size().to_dict() == {"count-of-concerns": 60,
                                                                          "threshold-of-need": 60}
    judged = tables["judgements"]
    assert judged.groupby(["rater_kind", "round"]).size().to_dict() == {
        ("rules", 1): 120, ("simulated", 1): 720, ("simulated", 2): 720}
    assert judged["need_level"].between(1, 4).all()
    assert {"agreement", "explanations", "divergence_model", "learned_checklists"} <= \
        set(tables["stats"]["analysis"])
    assert len(tables["failures"]) == 120 and len(tables["teaching"]) == 8
    assert sorted(p.name for p in (first / "learned").glob("*.yaml")) == [
        "learned-depth-2.yaml", "learned-depth-3.yaml", "learned-depth-4.yaml"]
    # the run folder holds its inputs, the package's bundled files byte for byte
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["inputs"]) == INPUTS
    assert (first / "inputs" / "catalogue.yaml").read_bytes() == \
        (ROOT / "dsk" / "data" / "vignettes" / "factors.yaml").read_bytes()
    assert manifest["versions"]["dsk"] == "0.1.0"
    html = (first / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "Summary of findings" in html
    # the same config gives the same tables, whatever the output folder
    for name in TABLES:
        assert (first / f"{name}.parquet").read_bytes() == (again / f"{name}.parquet").read_bytes(), name
    # and `dsk report` re-renders the same bytes from the run folder alone
    before = (first / "report.html").read_bytes()
    (first / "report.html").unlink()
    _run([dsk, "report", first], cwd=work)
    assert (first / "report.html").read_bytes() == before
