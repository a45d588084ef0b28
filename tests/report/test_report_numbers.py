"""Every number in the report names its table row, and shows that row's value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from report_check import expected_text, mismatches, numbers_in

from dsk.report import format_value, render_html


def test_every_number_matches_its_table_row(quick_run: Path) -> None:
    html = (quick_run / "report.html").read_text(encoding="utf-8")
    numbers = numbers_in(html)
    assert mismatches(html, quick_run) == []
    summary = [n for n in numbers if n.section == "summary"]
    # the summary states its facts with numbers: agreement, deliberation, each ruleset, learned
    assert len(summary) >= 40, len(summary)
    keys = [json.loads(n.attrs["data-row-key"]) for n in summary]
    metrics = {(k.get("metric"), k.get("comparison"), k.get("stratum")) for k in keys}
    assert ("krippendorff_alpha_ordinal", "within-panel", "all") in metrics
    assert ("krippendorff_alpha_ordinal", "within-panel:round2", "all") in metrics
    for band in ("low", "medium", "high"):
        assert ("krippendorff_alpha_ordinal", "within-panel", f"complexity_band={band}") in metrics
    for rid in ("threshold-of-need", "count-of-concerns"):
        assert ("percent_exact", f"rules:{rid}~panel-median", "all") in metrics
        assert ("rules_percentile_percent_exact", f"rules:{rid}~raters", "all") in metrics
        assert ("spearman_importance", f"{rid}~panel", "all") in metrics
        shares = [n for n in summary if n.attrs.get("data-agg") == "share"
                  and json.loads(n.attrs["data-row-key"]) == {"ruleset_id": rid}]
        assert {n.attrs["data-equals"] for n in shares} == {
            "agreed_and_clear", "checklist_off_consensus", "panel_split", "both_uncertain"}
    learned = [k for k in keys if k.get("analysis") == "learned_checklists"]
    assert {k["stratum"] for k in learned} >= {"all", "complexity_band=high"}


def test_summary_states_divergence_drivers_or_none(quick_run: Path) -> None:
    """Each ruleset names the dimensions significant after Holm's correction (either direction)
    with their numbers, and those significant only before it as such, or says that none was
    significant after the correction."""
    html = (quick_run / "report.html").read_text(encoding="utf-8")
    stats = pd.read_parquet(quick_run / "stats.parquet")
    model = stats[stats["analysis"] == "divergence_model"]
    assert model["p_holm"].notna().all() and (model["p_holm"] >= model["p_value"]).all()
    summary = [n for n in numbers_in(html) if n.section == "summary"]
    shown = {(k["comparison"], k["stratum"]) for n in summary
             for k in [json.loads(n.attrs["data-row-key"])] if k.get("analysis") == "divergence_model"}
    without = 0
    for comparison, part in model.groupby("comparison"):
        named = part[part["p_value"] < 0.05]
        assert {(comparison, s) for s in named["stratum"]} == {x for x in shown if x[0] == comparison}
        without += not (part["p_holm"] < 0.05).any()
    text = html[html.index('id="summary"'):html.index('id="agreement"')]
    assert text.count("no complexity dimension was significant") == without
    assert model["comparison"].nunique() == 2


def test_a_changed_table_is_caught(quick_run: Path, tmp_path: Path) -> None:
    """The check can fail: change alpha in the tables and the old report no longer matches."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    html = (run / "report.html").read_text(encoding="utf-8")
    stats = pd.read_parquet(run / "stats.parquet")
    hit = (stats["metric"] == "krippendorff_alpha_ordinal") & (stats["comparison"] == "within-panel") \
        & (stats["stratum"] == "all")
    stats.loc[hit, "estimate"] = stats.loc[hit, "estimate"] + 0.05
    stats.to_parquet(run / "stats.parquet")
    problems = mismatches(html, run)
    assert problems and all("krippendorff_alpha_ordinal" in p for p in problems)
    assert mismatches(render_html(run), run) == []


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (0.58032, "f2", "0.58"), (0.8167, "pct0", "82%"), (-0.0276, "f2", "\u22120.03"),
    (-0.001, "f2", "0.00"), (70.8333, "f0", "71"), (0.00004, "p", "<0.001"), (0.2156, "p", "0.216"),
    (60.0, "int", "60"), (1.0, "pct0", "100%"), (float("inf"), "f2", "∞"),
    (1.73256e238, "f2", "1.7e238"), (-2.5e7, "f1", "\u22122.5e7"),
])
def test_display_rounding(value: float, fmt: str, text: str) -> None:
    """Hand-worked display values; the report's formatter and the test's reader agree."""
    assert format_value(value, fmt) == text
    assert expected_text(value, fmt) == text


def _claims(html: str, checklist: str, stratum: str) -> list[tuple[str | None, str, dict[str, str]]]:
    """Every number stating "checklist gives the panel's median level" (exactly), in any section."""
    wanted = [
        {"analysis": "agreement", "metric": "percent_exact",
         "comparison": f"rules:{checklist}~panel-median", "stratum": stratum},
        {"analysis": "learned_checklists", "metric": "exact_with_panel_median",
         "comparison": f"{checklist}~panel", "stratum": stratum},
    ]
    return [(n.section, n.text.strip(), key) for n in numbers_in(html)
            for key in [json.loads(n.attrs["data-row-key"])]
            if key in wanted and n.attrs["data-column"] == "estimate"]


@pytest.mark.parametrize("stratum", ["all", "complexity_band=low", "complexity_band=high"])
def test_median_level_claim_reads_one_number(quick_run: Path, stratum: str) -> None:
    """The summary and the learned checklists' section state how often each hand-written
    checklist gives the panel's median level; both read the same stats row, so they say the
    same number, and it is the share counted here by hand from the decisions and judgements.
    (They used to read two rows computed with two tie rules: 82% in one place, 80% in the
    other for threshold-of-need.)"""
    from dsk.analysis import median_level

    html = (quick_run / "report.html").read_text(encoding="utf-8")
    stats = pd.read_parquet(quick_run / "stats.parquet")
    decisions = pd.read_parquet(quick_run / "decisions.parquet")
    judgements = pd.read_parquet(quick_run / "judgements.parquet")
    vignettes = pd.read_parquet(quick_run / "vignettes.parquet").set_index("vignette_id")
    people = judgements[(judgements["rater_kind"] != "rules") & (judgements["round"] == 1)]
    median = median_level(people)
    for checklist in ("threshold-of-need", "count-of-concerns"):
        claims = _claims(html, checklist, stratum)
        sections = {section for section, _, _ in claims}
        assert {"summary", "learned"} <= sections, claims
        assert {text for _, text, _ in claims} == {claims[0][1]}, claims
        assert {key["analysis"] for _, _, key in claims} == {"agreement"}, claims
        own = decisions[decisions["ruleset_id"] == checklist].set_index("vignette_id")["need_level"]
        if stratum != "all":
            band = stratum.split("=")[1]
            own = own[vignettes.loc[own.index, "complexity_band"] == band]
        share = float((own == median.loc[own.index]).mean())
        assert claims[0][1] == format_value(share, "pct0")
        # the two analyses that write this figure agree on it
        rows = stats[stats["stratum"] == stratum]
        agreement_row = rows[(rows["metric"] == "percent_exact")
                             & (rows["comparison"] == f"rules:{checklist}~panel-median")]
        learned_row = rows[(rows["metric"] == "exact_with_panel_median")
                           & (rows["comparison"] == f"{checklist}~panel")]
        assert agreement_row["estimate"].tolist() == pytest.approx(learned_row["estimate"].tolist())


def test_rules_among_raters_points_come_from_stats(quick_run: Path) -> None:
    """The rules-among-raters plot shows the stats rows, which equal each practitioner's mean
    exact agreement with the others counted here from the judgements."""
    from dsk.report._context import _rater_points
    from dsk.report._load import load_run

    data = load_run(quick_run)
    stats, judgements = data.table("stats"), data.table("judgements")
    points = _rater_points(stats, judgements, "", ["threshold-of-need", "count-of-concerns"])
    first = judgements[judgements["round"] == 1]
    wide = first.pivot_table(index="vignette_id", columns="rater_id", values="need_level")
    people = sorted(first.loc[first["rater_kind"] != "rules", "rater_id"].unique())
    assert len(points) == len(people) + 2
    by_label = points.set_index("label")["mean"]
    for rater in people:
        others = [(wide[rater] == wide[o]).mean() for o in people if o != rater]
        assert by_label[rater.split(":")[-1]] == pytest.approx(sum(others) / len(others))
    for checklist in ("threshold-of-need", "count-of-concerns"):
        mean = sum((wide[checklist] == wide[o]).mean() for o in people) / len(people)
        assert by_label[checklist] == pytest.approx(mean)


def test_the_tables_the_report_reads_pass_their_schemas(quick_run: Path) -> None:
    """Every table of the run folder, as read back from Parquet, passes its schema in
    dsk.schema (including importance and teaching, and the divergence model's extra columns
    of stats); a table with a column removed does not."""
    from dsk.schema import RUN_TABLES, SchemaError, validate

    for name in RUN_TABLES:
        validate(pd.read_parquet(quick_run / f"{name}.parquet"), name, source=name)
    stats = pd.read_parquet(quick_run / "stats.parquet")
    assert stats["p_value"].notna().sum() == (stats["analysis"] == "divergence_model").sum()
    teaching = pd.read_parquet(quick_run / "teaching.parquet")
    with pytest.raises(SchemaError, match="teaching: missing required column teaching_score"):
        validate(teaching.drop(columns="teaching_score"), "teaching")
    with pytest.raises(SchemaError, match="stats.p_value: value"):
        validate(stats.assign(p_value=stats["p_value"] + 2.0), "stats")
