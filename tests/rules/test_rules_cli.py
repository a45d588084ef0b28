"""``dsk rules check|apply|explain`` end to end (typer's CliRunner)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from dsk.io import read_table, write_table
from dsk.rules import bundled_rulesets
from dsk.rules.cli import app

RUNNER = CliRunner()
TOXIC = str(bundled_rulesets()["toxic-trio"])


@pytest.fixture(scope="module")
def vignettes_file(tmp_path_factory, rules_sample):
    path = tmp_path_factory.mktemp("rules") / "vignettes.jsonl"
    write_table(rules_sample.iloc[:200].reset_index(drop=True), path)
    return path


def test_check_bundled_exits_zero():
    result = RUNNER.invoke(app, ["check", TOXIC])
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_check_broken_exits_one(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: b\nrules:\n  - id: r\n    when: toxic_trio >= 7\n    level: 3\n",
                    encoding="utf-8")
    result = RUNNER.invoke(app, ["check", str(path), "--sample", "500"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"{path}:4:25: rule 'r', field 'when': value 7 is out of range for 'toxic_trio' "
        "(0 to 3)\n"
        "    4 |     when: toxic_trio >= 7\n"
        "      |                         ^\n"
        f"{path}: 1 errors, 0 warnings\n"
    )


def test_every_error_reaches_stderr_at_once(tmp_path, vignettes_file):
    path = tmp_path / "broken.yaml"
    path.write_text("id: b\nrules:\n  - id: r\n    when: toxic_trio >= 7 or disclosur\n"
                    "    level: 3\n  - id: s\n    when: (housing\n    level: 9\n",
                    encoding="utf-8")
    for args in (["check", str(path)], ["apply", str(path), str(vignettes_file), "-o",
                                        str(tmp_path / "out.csv")]):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 1
        assert result.stdout == ""
        heads = [line.removeprefix("error: ").split(": ")[0]
                 for line in result.stderr.splitlines()]
        assert [h for h in heads if h.startswith(f"{path}:")] == [
            f"{path}:4:25", f"{path}:4:30", f"{path}:7:19", f"{path}:8:12"]
        assert result.stderr.count("^") == 4
        assert f"{path}: 4 errors" in result.stderr


def test_bundled_ids_are_accepted(tmp_path, vignettes_file):
    check = RUNNER.invoke(app, ["check", "toxic-trio", "--sample", "500"])
    assert check.exit_code == 0, check.output
    assert check.stdout.splitlines()[-1] == f"{TOXIC}: 0 errors, 1 warnings"
    by_id, by_file = tmp_path / "id.jsonl", tmp_path / "file.jsonl"
    assert RUNNER.invoke(app, ["apply", "toxic-trio", str(vignettes_file), "-o",
                               str(by_id)]).exit_code == 0
    assert RUNNER.invoke(app, ["apply", TOXIC, str(vignettes_file), "-o",
                               str(by_file)]).exit_code == 0
    assert by_id.read_bytes() == by_file.read_bytes()
    first = pd.read_json(vignettes_file, lines=True)["vignette_id"].iloc[0]
    explained = RUNNER.invoke(app, ["explain", "threshold-of-need", str(vignettes_file),
                                    "--id", first])
    assert explained.exit_code == 0, explained.output
    assert f"vignette {first}: need level" in explained.stdout
    assert "under threshold-of-need (max" in explained.stdout
    unknown = RUNNER.invoke(app, ["explain", "toxic-trioo", str(vignettes_file), "--id", first])
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: toxic-trioo: no such ruleset file, and no bundled "
                                     "ruleset with that id; did you mean 'toxic-trio'? (bundled: ")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_apply_writes_decisions_and_trace(tmp_path, vignettes_file, suffix):
    out, trace = tmp_path / f"decisions{suffix}", tmp_path / f"trace{suffix}"
    result = RUNNER.invoke(app, ["apply", TOXIC, str(vignettes_file), "-o", str(out),
                                 "--trace", str(trace), "--engine", "vector"])
    assert result.exit_code == 0, result.output
    decisions = read_table(out, "decisions")
    assert len(decisions) == 200
    assert len(read_table(trace, "trace")) == 200 * 7


def test_apply_engines_write_the_same_table(tmp_path, vignettes_file):
    tables = []
    for engine in ("durable", "vector"):
        out = tmp_path / f"{engine}.jsonl"
        result = RUNNER.invoke(app, ["apply", TOXIC, str(vignettes_file), "-o", str(out),
                                     "--engine", engine])
        assert result.exit_code == 0, result.output
        tables.append(out.read_bytes())
    assert tables[0] == tables[1]


def test_apply_reports_bad_engine_and_missing_file(tmp_path, vignettes_file):
    bad = RUNNER.invoke(app, ["apply", TOXIC, str(vignettes_file), "-o", "x.csv",
                              "--engine", "drools"])
    assert bad.exit_code != 0
    missing = RUNNER.invoke(app, ["apply", TOXIC, str(tmp_path / "none.jsonl"), "-o",
                                  str(tmp_path / "x.csv")])
    assert missing.exit_code == 1


def test_explain_shows_fired_decisive_and_near_misses(vignettes_file):
    table = pd.read_json(vignettes_file, lines=True)
    row = table[(table["toxic_trio"] >= 1)].iloc[0]
    result = RUNNER.invoke(app, ["explain", TOXIC, str(vignettes_file), "--id",
                                 row["vignette_id"]])
    assert result.exit_code == 0, result.output
    assert f"vignette {row['vignette_id']}: need level" in result.output
    assert "decisive rule: " in result.output
    assert "because: " in result.output
    assert "near misses" in result.output and "change" in result.output
    unknown = RUNNER.invoke(app, ["explain", TOXIC, str(vignettes_file), "--id", "nope"])
    assert unknown.exit_code == 1
