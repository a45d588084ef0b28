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

import dsk
from dsk.experiment import load_config, run_experiment
from dsk.report import RunFolderError, render_html, render_report

PAYLOAD = "<script>alert('dsk')</script>"
EDIT = "EDITED-IN-THE-PACKAGE"

TINY = """id: tiny
title: A tiny run for the re-rendering tests
seed: 4
vignettes: {set: training-12}
rulesets: [threshold-of-need]
panels:
  - {panel: social-workers-8}
analyses: [agreement, explanations, failures, learned]
bootstrap: 0
shap_background: 5
learned_depths: [2]
teaching_cases: 4
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve vignettes, one checklist, eight simulated raters, no bootstrap."""
    folder = tmp_path_factory.mktemp("tiny")
    config = folder / "tiny.yaml"
    config.write_text(TINY, encoding="utf-8")
    run_experiment(load_config(config), folder / "run", config_path=config)
    return folder / "run"


def _edited_package(root: Path) -> Path:
    """A copy of the dsk package whose bundled catalogue labels, profession labels and ruleset
    reasons all carry EDIT; returns the folder to put on PYTHONPATH."""
    package = Path(dsk.__file__).parent
    shutil.copytree(package, root / "dsk", ignore=shutil.ignore_patterns("__pycache__"))
    data = root / "dsk" / "data"
    edits = [(data / "vignettes" / "factors.yaml", r'label: (")?', rf'label: \g<1>{EDIT} '),
             (data / "experiments" / "panels" / "professions.yaml", r"label: ", f"label: {EDIT} "),
             (data / "experiments" / "rules" / "threshold-of-need.yaml", r"because: ", f"because: {EDIT} ")]
    for path, pattern, replacement in edits:
        text, n = re.subn(pattern, replacement, path.read_text(encoding="utf-8"))
        assert n >= 4, path
        path.write_text(text, encoding="utf-8")
    return root


def _render_with(pythonpath: Path, run: Path, output: Path) -> str:
    """Render in a fresh interpreter that imports dsk from ``pythonpath``; returns the labels its
    bundled catalogue holds, to show the edited copy is the one imported."""
    code = ("import sys, dsk; from dsk.catalogue import load_catalogue; from dsk.report import render_report; "
            "render_report(sys.argv[1], sys.argv[2]); "
            "print(dsk.__file__); print(load_catalogue().factors[0].label)")
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    # `python -c` puts the working folder first on sys.path: run from one without a dsk package
    done = subprocess.run([sys.executable, "-c", code, str(run), str(output)], check=True, env=env,
                          cwd=pythonpath, timeout=300, capture_output=True, text=True)
    return done.stdout


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


def test_rendering_ignores_the_bundled_files(tiny_run: Path, tmp_path: Path) -> None:
    """The report reads the catalogue, professions and rulesets the run copied into inputs/:
    editing the package's bundled copies changes nothing."""
    first = (tiny_run / "report.html").read_bytes()
    html = first.decode("utf-8")
    # what the edits would change is in the report: factor labels, level names, the profession's
    # label and the checklist's reasons
    from dsk.report._load import load_run

    data = load_run(tiny_run)
    assert sum(f.label in html for f in data.catalogue.factors) >= 5
    assert "Targeted early help" in html and "Social worker" in html
    reasons = [r.because.replace("'", "&#39;") for r in data.rulesets["threshold-of-need"].rules]
    assert sum(r in html for r in reasons) >= 3
    copy = _edited_package(tmp_path / "edited")
    out = _render_with(copy, tiny_run, tmp_path / "again.html")
    where, label = out.splitlines()[-2:]
    assert Path(where).is_relative_to(copy) and label.startswith(EDIT)
    again = (tmp_path / "again.html").read_bytes()
    assert EDIT not in again.decode("utf-8")
    assert again == first


def test_a_moved_run_folder_renders_the_same_bytes(tiny_run: Path, tmp_path: Path) -> None:
    first = (tiny_run / "report.html").read_bytes()
    shutil.copytree(tiny_run, tmp_path / "copy")
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.move(tmp_path / "copy", moved)
    assert render_report(moved).read_bytes() == first


def test_a_run_folder_without_its_inputs_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "inputs" / "catalogue.yaml").unlink()
    with pytest.raises(RunFolderError, match=r"no inputs/catalogue\.yaml.*run the experiment again"):
        render_html(run)
