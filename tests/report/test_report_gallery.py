"""The teaching gallery of a rendered report: as many cases as the config asks for (or all there
are, with a note), divergent cases before agreeing ones, each marked, with the set's taught
reasons beside the reasons found. Every count in its sentences is checked against the tables."""

from __future__ import annotations

import html as htmlmod
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from report_check import mismatches

from dsk.analysis import teaching_cases, teaching_check
from dsk.experiment import load_config, run_experiment
from dsk.report import render_html


@pytest.fixture(scope="module")
def small_training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training experiment (12 vignettes, two checklists) with only the failure points."""
    config = load_config("training").model_copy(update={"analyses": ["failures"], "bootstrap": 0})
    assert config.teaching_cases == 12
    out = tmp_path_factory.mktemp("gallery")
    run_experiment(config, out, report=False)
    return out


def _text(fragment: str) -> str:
    plain = re.sub(r"<svg.*?</svg>", " ", fragment, flags=re.S)
    plain = re.sub(r"<[^>]+>", " ", plain)
    return " ".join(htmlmod.unescape(plain).split())


def _gallery(html: str) -> str:
    return html[html.index('<section id="gallery"'):html.index('<section id="learned"')]


def _cases(html: str) -> list[str]:
    return re.findall(r'<article class="case".*?</article>', _gallery(html), flags=re.S)


def _verdicts(article: str) -> list[str]:
    """The case's own mark, then one per checklist row."""
    return re.findall(r'class="badge [^"]*verdict">(diverges|agrees)<', article)


def _case_id(article: str) -> str:
    found = re.search(r"Case \d+: <code>([^<]+)</code>", article)
    assert found is not None
    return found.group(1)


def _copy(run: Path, tmp_path: Path, asked: int) -> Path:
    """The run with the config asking for ``asked`` cases and the teaching table ranked for it."""
    copy = tmp_path / f"asked-{asked}"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["config"]["teaching_cases"] = asked
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    failures = pd.read_parquet(copy / "failures.parquet")
    vignettes = pd.read_parquet(copy / "vignettes.parquet")
    teaching_cases(failures, vignettes, top=asked).to_parquet(copy / "teaching.parquet")
    return copy


def test_the_gallery_shows_the_twelve_cases_asked_for(small_training: Path) -> None:
    html = render_html(small_training)
    teaching = pd.read_parquet(small_training / "teaching.parquet")
    failures = pd.read_parquet(small_training / "failures.parquet")
    cases = _cases(html)
    assert len(cases) == len(teaching) == teaching["vignette_id"].nunique() == 12
    assert [_case_id(c) for c in cases] == teaching["vignette_id"].tolist()
    # divergent cases first, then agreeing ones
    diverges = teaching["diverges"].tolist()
    assert diverges == sorted(diverges, reverse=True)
    # each case is marked, and so is every checklist's row, as the failures table says
    for article, (_, row) in zip(cases, teaching.iterrows(), strict=True):
        marks = _verdicts(article)
        own = failures[failures["vignette_id"] == row["vignette_id"]].sort_values("ruleset_id")
        rows = ["diverges" if abs(d) >= 1 else "agrees" for d in own["divergence"]]
        assert marks == ["diverges" if row["diverges"] else "agrees", *rows], row["vignette_id"]
        assert marks[0] == ("diverges" if "diverges" in rows else "agrees")
    # twelve held, twelve asked: no note
    assert "The config asks for" not in html
    assert mismatches(html, small_training) == []


def test_the_gallery_sentences_agree_with_the_tables(small_training: Path) -> None:
    html = render_html(small_training)
    teaching = pd.read_parquet(small_training / "teaching.parquet")
    failures = pd.read_parquet(small_training / "failures.parquet")
    vignettes = pd.read_parquet(small_training / "vignettes.parquet")
    intro = _text(_gallery(html).split('<article class="case"')[0])
    divergent = int(teaching["diverges"].sum())
    agreeing = len(teaching) - divergent
    assert intro.startswith(f"Teaching cases {len(teaching)} cases")
    assert (f"first the {divergent} where a checklist is a level or more" in intro) == (divergent > 0)
    assert (f"the {agreeing} where" in intro) == (agreeing > 0)
    check = teaching_check(failures, vignettes)
    taught = check["vignette_id"].nunique()
    hits = check.loc[check["for_taught_reason"], "vignette_id"].nunique()
    assert taught == 5  # the training set's five wicked cases whose note teaches a code
    assert f"says what {taught} of these cases teach" in intro
    assert f"in {hits} of them a checklist diverges for the taught reason" in intro


def test_taught_reasons_stand_beside_the_reasons_found(small_training: Path) -> None:
    html = render_html(small_training)
    failures = pd.read_parquet(small_training / "failures.parquet")
    vignettes = pd.read_parquet(small_training / "vignettes.parquet").set_index("vignette_id")
    check = teaching_check(failures, vignettes.reset_index()).set_index(["vignette_id", "ruleset_id"])
    for article in _cases(html):
        vid = _case_id(article)
        text = _text(article)
        taught = [c for c in str(vignettes.loc[vid, "teaches"]).split(";") if c]
        if not taught:
            assert "Teaches:" not in text and "taught reason" not in text, vid
            continue
        assert f"Teaches: {' '.join(taught)}" in text, vid
        # one sentence per checklist, as teaching_check says, after the reasons found
        parts = article.split("<h4>")
        for rid in sorted(failures.loc[failures["vignette_id"] == vid, "ruleset_id"]):
            row = check.loc[(vid, rid)]
            (part,) = [_text(p) for p in parts if f"<code>{rid}</code>: level" in p]
            expected = ("Diverges for the taught reason." if row["for_taught_reason"]
                        else "Diverges, but no taught reason is among those found." if row["diverges"]
                        else "Agrees with the panel, so the taught reason does not show here.")
            assert expected in part, (vid, rid, part)
            before = part[:part.index(expected)]
            for code in row["reasons"]:
                assert (f"{code} (taught)" if code in taught else f"{code} ") in before, (vid, rid, code)
            assert before.count("(taught)") == sum(c in taught for c in row["reasons"])


def test_asking_for_more_cases_than_there_are_shows_all_with_a_note(small_training: Path,
                                                                     tmp_path: Path) -> None:
    run = _copy(small_training, tmp_path, 20)
    html = render_html(run)
    assert len(_cases(html)) == 12
    note = "The config asks for 20 teaching cases; the vignettes hold 12, all shown."
    assert note in _text(_gallery(html))
    assert mismatches(html, run) == []


def test_asking_for_fewer_cases_shows_that_many(small_training: Path, tmp_path: Path) -> None:
    run = _copy(small_training, tmp_path, 4)
    html = render_html(run)
    teaching = pd.read_parquet(run / "teaching.parquet")
    cases = _cases(html)
    assert len(cases) == 4 and [_case_id(c) for c in cases] == teaching["vignette_id"].tolist()
    assert "The config asks for" not in html
    assert _text(_gallery(html)).startswith("Teaching cases 4 cases")
