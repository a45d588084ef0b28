"""The `dsk vignettes` commands and the bundled sets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dsk.catalogue import load_catalogue
from dsk.cli import app
from dsk.io import read_vignettes
from dsk.sets import bundled_sets, load_set

runner = CliRunner()


def test_generate_show_describe(tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    result = runner.invoke(app, ["vignettes", "generate", "--n", "9", "--design", "stratified",
                                 "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 9 vignettes" in result.output
    frame = read_vignettes(out, load_catalogue())
    assert frame["complexity_band"].value_counts().to_dict() == {"low": 3, "medium": 3, "high": 3}
    vid = frame["vignette_id"].iloc[4]
    shown = runner.invoke(app, ["vignettes", "show", str(out), "--id", vid])
    assert shown.exit_code == 0, shown.output
    assert frame["narrative"].iloc[4][:40] in shown.output  # the start of the referral, before any wrap
    described = runner.invoke(app, ["vignettes", "describe", str(out)])
    assert described.exit_code == 0 and "Complexity dimensions" in described.output


def test_show_prints_a_training_case_s_note_and_what_it_teaches() -> None:
    path = "vignettes/sets/training-12.jsonl"
    for vid, taught in (("wicked-12-disengagement", "Teaches: uncorroborated"),
                        ("wicked-08-protective", "Teaches: protective_ignored"),
                        ("tame-01-disclosure", "Teaches: no reason code")):
        shown = runner.invoke(app, ["vignettes", "show", path, "--id", vid])
        assert shown.exit_code == 0, shown.output
        assert "Teaching note:" in shown.output and taught in shown.output, vid
    core = runner.invoke(app, ["vignettes", "show", "vignettes/sets/core-60.jsonl", "--id",
                               str(load_set("core-60")["vignette_id"].iloc[0])])
    assert core.exit_code == 0 and "Teaches:" not in core.output


def test_generate_formats_and_designs(tmp_path: Path) -> None:
    for ext in ("csv", "parquet"):
        result = runner.invoke(app, ["vignettes", "generate", "-n", "5", "-o", str(tmp_path / f"v.{ext}")])
        assert result.exit_code == 0, result.output
        assert len(read_vignettes(tmp_path / f"v.{ext}", load_catalogue())) == 5
    result = runner.invoke(app, ["vignettes", "generate", "-n", "16", "--design", "d-efficient",
                                 "--dimensions", "domestic_abuse,parental_mental_health,age_band",
                                 "-o", str(tmp_path / "d.jsonl")])
    assert result.exit_code == 0, result.output
    assert "D-efficiency" in result.output


def test_errors_are_clear_and_exit_1(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["vignettes", "generate", "-n", "5", "--design", "latin", "-o", str(tmp_path / "x.jsonl")])
    assert bad.exit_code == 1 and "unknown design 'latin'" in bad.output
    bad = runner.invoke(app, ["vignettes", "generate", "-n", "5", "-o", str(tmp_path / "x.xlsx")])
    assert bad.exit_code == 1 and "unknown file type" in bad.output
    path = tmp_path / "v.jsonl"
    runner.invoke(app, ["vignettes", "generate", "-n", "3", "-o", str(path)])
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["hygiene"] = 5
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    shown = runner.invoke(app, ["vignettes", "show", str(path), "--id", "x"])
    assert shown.exit_code == 1
    assert "line 2" in shown.output and "hygiene" in shown.output
    missing = runner.invoke(app, ["vignettes", "show", "vignettes/sets/core-60.jsonl", "--id", "nope"])
    assert missing.exit_code == 1 and "no vignette with id 'nope'" in missing.output


def test_bundled_sets_match_their_sources() -> None:
    assert {"core-60", "training-12"} <= set(bundled_sets())
    result = runner.invoke(app, ["vignettes", "build-sets", "--check"])
    assert result.exit_code == 0, result.output


def test_core_60_spreads_over_the_bands() -> None:
    core = load_set("core-60")
    assert len(core) == 60
    assert core["complexity_band"].value_counts().to_dict() == {"low": 20, "medium": 20, "high": 20}


def test_training_12_has_tame_and_wicked_cases_with_notes() -> None:
    training = load_set("training-12")
    assert len(training) == 12
    assert training["note"].str.len().min() > 60
    kinds = training["vignette_id"].str.split("-").str[0].value_counts().to_dict()
    assert kinds["tame"] >= 3 and kinds["wicked"] >= 6
    wicked = training[training["vignette_id"].str.startswith("wicked")]
    tame = training[training["vignette_id"].str.startswith("tame")]
    assert wicked["complexity"].mean() > tame["complexity"].mean()
    assert (training["cx_conflict"] > 0).sum() >= 2


def test_decks_command(tmp_path: Path) -> None:
    out = tmp_path / "decks.csv"
    result = runner.invoke(app, ["vignettes", "decks", "vignettes/sets/core-60.jsonl", "--deck-size", "8",
                                 "--respondents", "30", "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    decks = pd.read_csv(out)
    assert len(decks) == 240 and decks.groupby("respondent")["vignette_id"].nunique().eq(8).all()
    counts = decks["vignette_id"].value_counts()
    assert counts.max() - counts.min() <= 1
    bad = runner.invoke(app, ["vignettes", "decks", "vignettes/sets/training-12.jsonl", "--deck-size", "20",
                              "-o", str(out)])
    assert bad.exit_code == 1 and "deck_size" in bad.output


def _dsk_without(modules: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``dsk`` command line in a fresh interpreter in which importing ``modules`` fails."""
    import dsk

    code = ("import sys\n"
            f"for name in {modules!r}:\n"
            "    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError\n"
            "from dsk.cli import main\n"
            "sys.argv = ['dsk', *sys.argv[1:]]\n"
            "main()\n")
    env = {**os.environ, "PYTHONPATH": str(Path(dsk.__file__).parent.parent), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_app_commands_without_the_app_extra_say_how_to_install_it(tmp_path: Path) -> None:
    listed = _dsk_without(["fastapi"], "--help", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for command in ("serve", "admin", "study"):
        assert re.search(rf"^\W*{command}\s", listed.stdout, re.M), command
    assert "run" in listed.stdout and "Needs the app extra: pip install 'dsk[app]'" in listed.stdout
    for args in (["serve", "--port", "9000"], ["admin", "create", "ada"], ["study", "--help"]):
        done = _dsk_without(["fastapi", "uvicorn"], *args, cwd=tmp_path)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert f"`dsk {args[0]}` needs the scoring app" in done.stderr
        assert "pip install 'dsk[app]'" in done.stderr and "no module named 'fastapi'" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing was started or written


def test_app_commands_with_the_app_extra() -> None:
    shown = runner.invoke(app, ["serve", "--help"])
    assert shown.exit_code == 0 and "--port" in shown.output and "needs the app extra" not in shown.output
    assert runner.invoke(app, ["admin", "--help"]).exit_code == 0
