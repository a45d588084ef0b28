"""Rendering: deterministic bytes, escaping, and runs without some analyses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from report_check import mismatches

from dsk.experiment import load_config, run_experiment
from dsk.report import RunFolderError, render_html, render_report

PAYLOAD = "<script>alert('dsk')</script>"


def test_same_run_gives_identical_bytes(quick_run: Path, tmp_path: Path) -> None:
    first = render_report(quick_run, tmp_path / "a.html").read_bytes()
    second = render_report(quick_run, tmp_path / "b.html").read_bytes()
    assert first == second
    # another process, with another string-hash seed (set and dict orders), gives the same bytes
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    code = "import sys; from dsk.report import render_report; render_report(sys.argv[1], sys.argv[2])"
    subprocess.run([sys.executable, "-c", code, str(quick_run), str(tmp_path / "c.html")],
                   check=True, env=env, timeout=120)
    assert (tmp_path / "c.html").read_bytes() == first


def test_report_is_self_contained(quick_run: Path) -> None:
    html = (quick_run / "report.html").read_text(encoding="utf-8")
    lowered = html.lower()
    assert "<script" not in lowered
    style = html[html.index("<style>"):html.index("</style>")]
    assert "&#34;" not in style and '"DejaVu Sans Mono"' in style  # the stylesheet is not escaped
    # SVG namespaces are names, not requests; url(#id) points inside the same document
    bare = re.sub(r'xmlns(:xlink)?="http://www\.w3\.org/[^"]*"', "", lowered)
    for needle in ("http://", "https://", "//", "<link", "@import", "src=", "<iframe", "<object"):
        assert needle not in bare.replace("<!--", "").replace("-->", ""), needle
    assert re.findall(r"url\((?!#)", bare) == []
    assert re.findall(r'href="(?!#)', bare) == []


def test_text_from_the_tables_is_escaped(quick_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    teaching = pd.read_parquet(run / "teaching.parquet")
    case = teaching["vignette_id"].iloc[0]
    vignettes = pd.read_parquet(run / "vignettes.parquet")
    vignettes.loc[vignettes["vignette_id"] == case, "narrative"] = f"Narrative {PAYLOAD} ends."
    vignettes.to_parquet(run / "vignettes.parquet")
    judgements = pd.read_parquet(run / "judgements.parquet")
    mine = (judgements["vignette_id"] == case) & (judgements["rater_kind"] != "rules")
    judgements.loc[mine, "rationale"] = f"Rationale {PAYLOAD} & more"
    judgements.to_parquet(run / "judgements.parquet")
    html = render_html(run)
    assert PAYLOAD not in html
    assert "Narrative &lt;script&gt;alert(&#39;dsk&#39;)&lt;/script&gt; ends." in html
    assert "Rationale &lt;script&gt;alert(&#39;dsk&#39;)&lt;/script&gt; &amp; more" in html
    assert "<script" not in html.lower()


def test_training_run_without_explanations(training_run: Path) -> None:
    html = render_html(training_run)
    assert "The explanations analysis (SHAP) was not run" in html
    assert mismatches(html, training_run) == []
    # the training set's teaching notes appear in the gallery
    notes = pd.read_parquet(training_run / "vignettes.parquet").set_index("vignette_id")["note"]
    teaching = pd.read_parquet(training_run / "teaching.parquet")
    first = notes[teaching["vignette_id"].iloc[0]]
    assert "Teaching note." in html
    assert first.replace("'", "&#39;") in html
    # twelve vignettes are too few for the divergence model, so there is no forest plot
    assert 'id="fig-forest"' not in html and 'id="fig-quadrants"' in html
    assert "The divergence model was not fitted" in html
    assert 'id="fig-shap-1"' not in html


@pytest.mark.parametrize("analyses", [["agreement"], []], ids=["agreement-only", "no-analyses"])
def test_runs_with_fewer_analyses(analyses: list[str], tmp_path: Path) -> None:
    config = load_config("training").model_copy(update={"analyses": analyses, "bootstrap": 0})
    run_experiment(config, tmp_path, report=False)
    html = render_html(tmp_path)
    assert "<h2 id=\"summary-h\">Summary of findings</h2>" in html
    assert "The failure-points analysis was not run" in html
    assert "No checklists were learned" in html
    if not analyses:
        assert "The agreement analysis was not run" in html
    else:
        assert 'id="fig-bands"' in html
    assert mismatches(html, tmp_path) == []


def test_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="no such run folder"):
        render_report(tmp_path / "missing")
    with pytest.raises(RunFolderError, match="dsk run"):
        render_report(tmp_path)
