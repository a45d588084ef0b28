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
    """Each ruleset names its drivers (odds ratio > 1, p < 0.05) with their numbers, or says
    that none reached significance."""
    html = (quick_run / "report.html").read_text(encoding="utf-8")
    stats = pd.read_parquet(quick_run / "stats.parquet")
    model = stats[stats["analysis"] == "divergence_model"]
    summary = [n for n in numbers_in(html) if n.section == "summary"]
    shown = {(k["comparison"], k["stratum"]) for n in summary
             for k in [json.loads(n.attrs["data-row-key"])] if k.get("analysis") == "divergence_model"}
    without = 0
    for comparison, part in model.groupby("comparison"):
        drivers = part[(part["estimate"] > 1) & (part["p_value"] < 0.05)]
        assert {(comparison, s) for s in drivers["stratum"]} == {x for x in shown if x[0] == comparison}
        without += drivers.empty
    text = html[html.index('id="summary"'):html.index('id="agreement"')]
    assert text.count("no complexity dimension reached significance") == without
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
