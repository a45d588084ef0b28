"""The report section "What drives practitioners' levels": models, variance, professions, order.

On the quickstart run (which lists the models and variance analyses) and on a small run with
decks (so the model has a position term), and on copies of the quickstart run whose
model_terms and model_fit tables are edited to hold known intervals: the words must follow the
intervals ("raises" only when the 95% CI is above 0, "no clear effect" when it includes 0), and
every number of the section must be its table row's value.
"""

from __future__ import annotations

import doctest
import html as html_lib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_check import mismatches, numbers_in

import dsk.report._drivers
import dsk.report._drivers_plots
from dsk.experiment import load_config, run_experiment
from dsk.report import render_html
from dsk.report._drivers import build_drivers, direction, order_reading

NEW_TABLES = ("model_terms", "model_fit", "variance_components", "dependability")
DECKS = """id: decks
title: A small run with decks
seed: 5
vignettes: {set: core-60}
rulesets: [threshold-of-need]
panels:
  - {panel: mixed-12}
decks: {size: 30, per_deck: 6}
analyses: [models, variance]
models: {factors: [n_concerns, n_protective]}
bootstrap: 0
"""


def _section(page: str) -> str:
    """The visible text of the drivers section."""
    part = page[page.index('<section id="drivers"'):]
    part = part[:part.index("</section>")]
    part = re.sub(r"<svg.*?</svg>", "", part, flags=re.S)
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)))
    return re.sub(r"\(\s+", "(", re.sub(r"\s+([).,;:%])", r"\1", text))


def _summary(page: str) -> str:
    """The visible text of the summary's paragraph on what drives the levels."""
    part = page[page.index('<section id="summary"'):page.index('<section id="agreement"')]
    part = part[part.index("What drives practitioners' levels</h3>"):]
    part = part[:part.index("</p>")]
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", part))).strip()


def _item(text: str, label: str) -> str:
    """The sentence of one factor (from its label to the next full stop after a bracket)."""
    start = text.index(label + ":")
    return text[start:text.index(").", start) + 2]


@pytest.fixture(scope="module")
def deck_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sixty vignettes in two decks of thirty, twelve simulated raters, models and variance only."""
    folder = tmp_path_factory.mktemp("decks")
    config = folder / "decks.yaml"
    config.write_text(DECKS, encoding="utf-8")
    run_experiment(load_config(config), folder / "run", config_path=config, report=False)
    return folder / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def _edit_terms(run: Path, changes: dict[tuple[str, str], tuple[float, float, float]]) -> None:
    """Set (estimate, ci_low, ci_high) of (model, term) rows; a missing row is added as fixed."""
    terms = pd.read_parquet(run / "model_terms.parquet")
    for (model, term), (estimate, low, high) in changes.items():
        hit = (terms["model"] == model) & (terms["term"] == term)
        if not hit.any():
            row = {c: np.nan for c in terms.columns} | {"model": model, "term": term, "kind": "fixed"}
            terms = pd.concat([terms, pd.DataFrame([row])], ignore_index=True)
            hit = (terms["model"] == model) & (terms["term"] == term)
        terms.loc[hit, ["estimate", "ci_low", "ci_high"]] = [estimate, low, high]
    terms.to_parquet(run / "model_terms.parquet")


@pytest.mark.parametrize("module", [dsk.report._drivers, dsk.report._drivers_plots],
                         ids=["drivers", "drivers_plots"])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_words_follow_the_interval() -> None:
    """Hand-made intervals: above 0, below 0, across 0, and a separated (infinite) estimate."""
    assert direction(0.5, 0.01, 0.99) == "raises"
    assert direction(-0.5, -0.99, -0.01) == "lowers"
    assert direction(0.5, -0.01, 1.01) == "no clear effect"
    assert direction(-0.5, -1.0, 0.0) == "no clear effect"  # touching 0 does not exclude it
    assert direction(float("-inf"), float("nan"), float("nan")) == "separation"
    assert "no clear effect" in order_reading("no clear effect")
    assert "higher levels to vignettes later" in order_reading("raises")
    assert "lower levels to vignettes later" in order_reading("lowers")


def test_section_renders_from_the_quickstart_run(quick_run: Path) -> None:
    """The section is there with its two figures; each factor's word is the one its interval in
    model_terms gives, for the practitioners and each checklist; the variance shares are the
    table's and sum to one."""
    page = (quick_run / "report.html").read_text(encoding="utf-8")
    assert 'href="#drivers"' in page and 'id="fig-drivers"' in page and 'id="fig-dependability"' in page
    text = _section(page)
    assert "simulated" in text.split("Factors:")[0]
    terms = pd.read_parquet(quick_run / "model_terms.parquet")
    fixed = terms[terms["kind"] == "fixed"]
    models = sorted(fixed["model"].unique())
    assert models == ["count-of-concerns", "practitioners", "threshold-of-need"]
    from dsk.report._load import load_run

    data = load_run(quick_run)
    drivers = build_drivers(data.tables, {}, {}, {})
    assert [f["term"] for f in drivers.factors] == [
        "n_concerns", "n_protective", "domestic_abuse", "parental_mental_health",
        "parental_substance_misuse"]
    for factor in drivers.factors:
        assert [r.model for r in factor["rows"]] == ["practitioners", "count-of-concerns",
                                                      "threshold-of-need"]
        for row in factor["rows"]:
            own = fixed[(fixed["model"] == row.model) & (fixed["term"] == row.term)].iloc[0]
            want = ("raises" if own["ci_low"] > 0 else "lowers" if own["ci_high"] < 0
                    else "no clear effect")
            assert row.word == want, (row.model, row.term)
    # the practitioners weigh the count of concerns up and protective factors down in this run
    words = {f["term"]: f["rows"][0].word for f in drivers.factors}
    assert words["n_concerns"] == "raises" and words["n_protective"] == "lowers"
    concerns = _item(text, "Concerns at targeted level or above")
    assert concerns.startswith("Concerns at targeted level or above: for the practitioners it raises the level")
    shares = pd.read_parquet(quick_run / "variance_components.parquet")
    assert shares["share"].sum() == pytest.approx(1.0)
    assert "is the smallest panel to reach a dependability of 0.8" in text
    # no deck positions in the quickstart: the order effect is said to be absent, not invented
    assert "record no position in a deck" in text
    # the summary names the same words
    summary = _summary(page)
    raised, rest = summary.split("In the practitioners' model, ")[1].split(" raised the level;", 1)
    assert "Concerns at targeted level or above" in raised.split(", ")
    assert "Protective factors present" in rest.split(" lowered it;")[0]
    assert "Police officer (public protection)" in summary.split("gave higher levels")[0]


def test_profession_severity_names_the_reference(quick_run: Path) -> None:
    """The reference profession is the one without a term (the first in sorted order); each
    other profession reads 'higher levels' only when its interval is above 0."""
    page = (quick_run / "report.html").read_text(encoding="utf-8")
    text = _section(page)
    judgements = pd.read_parquet(quick_run / "judgements.parquet")
    professions = sorted(judgements["profession"].dropna().unique())
    terms = pd.read_parquet(quick_run / "model_terms.parquet")
    shown = terms.loc[terms["term"].str.startswith("profession[T."), "term"]
    assert [t[len("profession[T."):-1] for t in shown] == professions[1:]
    assert "the reference profession, Early-years practitioner." in text
    police = terms[terms["term"] == "profession[T.police]"].iloc[0]
    assert police["ci_low"] > 0
    assert "Police officer (public protection): higher levels than the reference" in text
    gp = terms[terms["term"] == "profession[T.gp]"].iloc[0]
    assert gp["ci_low"] < 0 < gp["ci_high"]
    assert "General practitioner: no clear difference from the reference" in text


def test_edited_intervals_change_the_words(quick_run: Path, tmp_path: Path) -> None:
    """Tables edited by hand: an interval across 0 gives "no clear effect", one above 0 "raises",
    a positive position effect gives the order sentence, and a separated checklist term is
    shown as separation (∞), not as a huge number."""
    run = _copy(quick_run, tmp_path)
    _edit_terms(run, {
        ("practitioners", "n_concerns"): (0.4, -0.1, 0.9),
        ("practitioners", "domestic_abuse"): (0.6, 0.2, 1.0),
        ("practitioners", "position"): (0.05, 0.01, 0.09),
        ("count-of-concerns", "n_concerns"): (float("inf"), float("nan"), float("nan")),
    })
    fit = pd.read_parquet(run / "model_fit.parquet")
    fit.loc[fit["model"] == "count-of-concerns", "warnings"] = "(quasi-)complete separation: n_concerns"
    fit.to_parquet(run / "model_fit.parquet")
    page = render_html(run)
    text = _section(page)
    concerns = _item(text, "Concerns at targeted level or above")
    assert concerns.startswith("Concerns at targeted level or above: for the practitioners it has no "
                               "clear effect (log-odds 0.40, 95% CI −0.10 to 0.90)")
    assert "for count-of-concerns it decides the level exactly (separation: the estimate runs off to ∞)" in concerns
    assert _item(text, "Domestic abuse").startswith(
        "Domestic abuse: for the practitioners it raises the level (log-odds 0.60, 95% CI 0.20 to 1.00)")
    assert "Practitioners gave higher levels to vignettes later in their deck" in text
    assert "Per position later in the deck: log-odds 0.05, 95% CI 0.01 to 0.09." in text
    assert "count-of-concerns: some of its levels follow exactly from the factors (separation)" in text
    summary = _summary(page)
    raised = summary.split("In the practitioners' model, ")[1].split(" raised the level;")[0]
    assert "Domestic abuse" in raised.split(", ")
    assert "Concerns at targeted level or above" in summary.split("lowered it;")[1].split("had no clear effect")[0]
    assert "e+" not in text and not re.search(r"\d{5,}", text)
    assert mismatches(page, run) == []


def test_deck_run_has_an_order_effect_term(deck_run: Path) -> None:
    """With decks, position enters the practitioners' model and the report reads its interval;
    the run's tables carry no agreement statistics, and the section still renders."""
    terms = pd.read_parquet(deck_run / "model_terms.parquet")
    position = terms[(terms["model"] == "practitioners") & (terms["term"] == "position")]
    assert len(position) == 1
    row = position.iloc[0]
    want = direction(row["estimate"], row["ci_low"], row["ci_high"])
    page = render_html(deck_run)
    text = _section(page)
    assert order_reading(want) in text
    fit = pd.read_parquet(deck_run / "model_fit.parquet")
    assert "position" in fit.loc[fit["model"] == "practitioners", "formula"].iloc[0]
    # each practitioner rated 30 of the 60 vignettes
    assert "(360 judgements)" in text
    assert mismatches(page, deck_run) == []


@pytest.mark.parametrize("removed", [NEW_TABLES, ("variance_components", "dependability")],
                         ids=["no-new-tables", "no-variance"])
def test_old_run_without_the_tables_renders(quick_run: Path, tmp_path: Path,
                                            removed: tuple[str, ...]) -> None:
    """A run folder written before these analyses existed has none of the tables: the report
    renders and says the analyses were not run; without the variance tables only that part is
    missing."""
    run = _copy(quick_run, tmp_path)
    for name in removed:
        for suffix in (".parquet", ".csv"):
            (run / f"{name}{suffix}").unlink(missing_ok=True)
    page = render_html(run)
    text = _section(page)
    if len(removed) == len(NEW_TABLES):
        assert "The models and variance analyses were not run" in text
        assert 'id="fig-drivers"' not in page
    else:
        assert "The variance analysis was not run" in text
        assert 'id="fig-drivers"' in page and 'id="fig-dependability"' not in page
    assert mismatches(page, run) == []


def test_checker_finds_every_number_of_the_section(quick_run: Path, tmp_path: Path) -> None:
    """Every number of the section is a checkable span on one of the four tables, the checker
    agrees with each, and the count is what the tables imply; an edited table is caught."""
    page = (quick_run / "report.html").read_text(encoding="utf-8")
    numbers = [n for n in numbers_in(page) if n.section == "drivers"]
    assert {n.attrs["data-table"] for n in numbers} == set(NEW_TABLES)
    assert mismatches(page, quick_run) == []
    terms = pd.read_parquet(quick_run / "model_terms.parquet")
    fixed = terms[terms["kind"] == "fixed"]
    n_terms = len(fixed)  # every fixed term (factors, professions) once, with its two limits
    dependability = pd.read_parquet(quick_run / "dependability.parquet")
    # n_obs; 3 per term; 3 shares + ICC + k and phi of the first reliable k; the two tables
    expected = 1 + 3 * n_terms + 4 + 2 + 3 * 2 + 3 * len(dependability)
    assert len(numbers) == expected
    keys = {(n.attrs["data-table"], n.attrs["data-row-key"], n.attrs["data-column"]) for n in numbers}
    for _, row in fixed.iterrows():
        key = json.dumps({"model": row["model"], "term": row["term"]}, sort_keys=True)
        assert {("model_terms", key, c) for c in ("estimate", "ci_low", "ci_high")} <= keys
    # the check can fail: move the vignette share and the old page no longer matches
    run = _copy(quick_run, tmp_path)
    shares = pd.read_parquet(run / "variance_components.parquet")
    shares.loc[shares["component"] == "vignette", "share"] += 0.05
    shares.to_parquet(run / "variance_components.parquet")
    problems = mismatches(page, run)
    assert problems and all('"component": "vignette"' in p for p in problems)
