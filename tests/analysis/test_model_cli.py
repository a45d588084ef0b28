"""Tests for ``dsk model`` (dsk.analysis.model_cli): any long-format file, its own column names,
a vignettes table joined on vignette_id, three output formats, plain errors with exit status 2.

The numbers are R's ``ordinal::clmm`` on the wine data of Randall (1989) (data/wine.csv), as in
test_models.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dsk.cli import app

DATA = Path(__file__).parent / "data"
WINE = DATA / "wine.csv"
FORMULA = "rating ~ temp + contact + (1|judge)"


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(app, ["model", *args])


def test_table_output_shows_terms_fit_and_warnings() -> None:
    result = _run(str(WINE), "--formula", FORMULA + " + (1|bottle)")
    assert result.exit_code == 0, result.output
    out = result.output
    for text in ["temp[T.warm]", "3.063", "0.595", "1.835", "judge", "1.131", "threshold",
                 "log-likelihood -81.565", "72 observations", "judge 9, bottle 8", "converged: yes"]:
        assert text in out, text
    assert "warning:" in out and "(1|bottle)" in out


def test_csv_output_is_the_terms_table() -> None:
    result = CliRunner().invoke(app, ["model", str(WINE), "--formula", FORMULA, "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    assert list(table.columns) == ["term", "kind", "estimate", "odds_ratio", "se", "z", "p",
                                   "ci_low", "ci_high"]
    row = table.set_index("term").loc["contact[T.yes]"]
    assert row["estimate"] == pytest.approx(1.8349, abs=5e-4)
    assert row["se"] == pytest.approx(0.5125, abs=5e-4)


def test_json_output_has_fit_and_terms() -> None:
    result = _run(str(WINE), "--formula", FORMULA + " + (1|bottle)", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["fit"]["loglik"] == pytest.approx(-81.5654, abs=5e-4)
    assert doc["fit"]["groups"] == {"judge": 9, "bottle": 8}
    assert doc["fit"]["n_obs"] == 72 and doc["fit"]["converged"] is True
    assert any("(1|bottle)" in w for w in doc["fit"]["warnings"])
    terms = {t["term"]: t for t in doc["terms"]}
    assert terms["temp[T.warm]"]["estimate"] == pytest.approx(3.0630, abs=5e-4)
    assert terms["judge"]["z"] is None  # NaN is written as null


def test_nagq_option_uses_adaptive_quadrature() -> None:
    """R: clmm(..., nAGQ = 10) gives logLik -81.532 and judge SD 1.135 (data/wine_agq.R)."""
    result = _run(str(WINE), "--formula", FORMULA, "--nagq", "10", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["fit"]["loglik"] == pytest.approx(-81.53246, abs=5e-4)
    result = _run(str(WINE), "--formula", FORMULA + " + (1|bottle)", "--nagq", "10")
    assert result.exit_code == 2 and "exactly one random term" in result.stderr


def test_vignettes_are_joined_on_vignette_id(tmp_path: Path) -> None:
    """The same wine fit with temp and contact moved into a 'vignettes' table (one row per
    temp x contact x bottle cell, as a vignette)."""
    wine = pd.read_csv(WINE)
    wine["vignette_id"] = "b" + wine["bottle"].astype(str)
    vignettes = wine[["vignette_id", "temp", "contact"]].drop_duplicates()
    ratings = wine[["vignette_id", "judge", "rating"]]
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    vignettes.to_csv(tmp_path / "vignettes.csv", index=False)
    result = _run(str(tmp_path / "ratings.csv"), "--formula", FORMULA,
                  "--vignettes", str(tmp_path / "vignettes.csv"), "--format", "csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout)).set_index("term")
    assert table.loc["temp[T.warm]", "estimate"] == pytest.approx(3.0630, abs=5e-4)
    # without the join the formula's columns are unknown
    result = _run(str(tmp_path / "ratings.csv"), "--formula", FORMULA)
    assert result.exit_code == 2
    assert "'temp', 'contact' are not in the data" in result.stderr


def test_unknown_vignettes_are_an_error(tmp_path: Path) -> None:
    pd.DataFrame({"vignette_id": ["a", "b", "zz"], "y": [1, 2, 1]}).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame({"vignette_id": ["a", "b"], "x": [0, 1]}).to_csv(tmp_path / "v.csv", index=False)
    result = _run(str(tmp_path / "r.csv"), "--formula", "y ~ x", "--vignettes", str(tmp_path / "v.csv"))
    assert result.exit_code == 2
    assert "'zz' not in" in result.stderr


def test_bad_formula_and_columns_exit_2_naming_them() -> None:
    result = _run(str(WINE), "--formula", "ratin ~ temp + (1|judg)")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "'ratin', 'judg' are not in the data" in result.stderr
    assert "Traceback" not in result.output
    result = _run(str(WINE), "--formula", "rating ~ temp + (temp|judge)")
    assert result.exit_code == 2 and "only random intercepts" in result.stderr
    result = _run(str(WINE), "--formula", "temp ~ contact")
    assert result.exit_code == 2 and "'temp' is not ordinal-coded" in result.stderr


def test_bad_format_and_missing_file(tmp_path: Path) -> None:
    result = _run(str(WINE), "--formula", FORMULA, "--format", "xml")
    assert result.exit_code == 2 and "--format" in result.stderr
    result = _run(str(tmp_path / "none.csv"), "--formula", FORMULA)
    assert result.exit_code == 2 and "no such file" in result.stderr
