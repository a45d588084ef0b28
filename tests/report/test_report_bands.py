"""Agreement across complexity bands: the report's sentence follows the measures, the band
tables show the spread and the differences, and the report names its bootstrap scheme."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from report_check import numbers_in

from dsk.report._context import SCHEME_TEXT, _bootstrap_facts, band_sentence, stratum_label

LOW, HIGH, DIFF = "complexity_band=low", "complexity_band=high", "complexity_band:high-low"


def _lookup(estimates: dict[tuple[str, str], float],
            intervals: dict[str, tuple[float, float]] | None = None):
    """value(metric, stratum, column) over band estimates and difference intervals."""
    def value(metric: str, stratum: str, column: str) -> float | None:
        if column == "estimate":
            if stratum == DIFF:
                return estimates[(metric, HIGH)] - estimates[(metric, LOW)]
            return estimates.get((metric, stratum))
        if stratum != DIFF or intervals is None or metric not in intervals:
            return None
        return intervals[metric][0 if column == "ci_low" else 1]
    return value


def _bands(alpha: tuple[float, float], exact: tuple[float, float], ac2: tuple[float, float],
           variance: tuple[float, float] = (1.4, 0.3)) -> dict[tuple[str, str], float]:
    out = {}
    for metric, (low, high) in (("krippendorff_alpha_ordinal", alpha), ("percent_exact", exact),
                                ("gwet_ac2_quadratic", ac2), ("level_variance", variance)):
        out[(metric, LOW)], out[(metric, HIGH)] = low, high
    return out


# The quickstart's pattern (issue 14): alpha falls while exact agreement and AC2 rise.
MIXED = _bands((0.66, 0.22), (0.49, 0.76), (0.63, 0.93))
FALLING = _bands((0.70, 0.30), (0.70, 0.45), (0.85, 0.60), variance=(1.0, 1.0))
WIDE = {"krippendorff_alpha_ordinal": (-0.7, -0.1), "percent_exact": (-0.4, 0.05),
        "gwet_ac2_quadratic": (-0.5, -0.05)}
NARROW = {m: (-0.5, -0.1) for m in WIDE}


def test_alpha_falls_while_ac2_rises_gets_the_sentence_on_what_each_shows() -> None:
    kind, text = band_sentence(_lookup(MIXED, NARROW))
    assert kind == "mixed"
    assert "Agreement falls" not in text and "Agreement rises" not in text
    assert "Krippendorff's α went down from 0.66 to 0.22" in text
    assert "exact agreement went up from 0.49 to 0.76" in text
    assert "Gwet's AC2 went up from 0.63 to 0.93" in text
    assert "spread of the levels narrows" in text and "1.40 against 0.30" in text
    assert "claims neither" in text


def test_all_fall_with_intervals_excluding_zero_gets_falls() -> None:
    kind, text = band_sentence(_lookup(FALLING, NARROW))
    assert kind == "falls"
    assert text.startswith("Agreement falls with complexity: from low- to high-complexity cases")
    assert "excludes 0" in text and "exact agreement (−0.50 to −0.10)" in text


def test_all_rise_with_intervals_excluding_zero_gets_rises() -> None:
    rising = {(m, s): 1.0 - v for (m, s), v in FALLING.items()}
    kind, text = band_sentence(_lookup(rising, {m: (0.1, 0.4) for m in WIDE}))
    assert kind == "rises" and text.startswith("Agreement rises with complexity")


def test_an_interval_including_zero_gets_neither() -> None:
    kind, text = band_sentence(_lookup(FALLING, WIDE))
    assert kind == "unclear"
    assert "falls" not in text and "rises" not in text
    assert "includes 0 for exact agreement (−0.40 to 0.05)" in text
    assert "Krippendorff's α (" not in text.split("includes 0", 1)[1]  # only the one that does
    assert "do not show that agreement changes with complexity" in text


def test_without_intervals_no_claim_and_missing_values_no_sentence() -> None:
    kind, text = band_sentence(_lookup(FALLING))
    assert kind == "unclear" and "without bootstrap intervals" in text
    partial = {k: v for k, v in FALLING.items() if k != ("gwet_ac2_quadratic", HIGH)}
    assert band_sentence(_lookup(partial, NARROW)) == ("unknown", "")


def test_bootstrap_facts_name_the_scheme_and_its_population() -> None:
    stats = pd.DataFrame({"analysis": ["agreement", "agreement", "explanations"],
                          "boot_failed": [0, 7, None]})
    facts = _bootstrap_facts({"config": {"bootstrap": 200, "bootstrap_scheme": "fixed-raters"}},
                             stats)
    assert facts["scheme"] == "fixed-raters" and facts["population"] == SCHEME_TEXT["fixed-raters"]
    assert "these practitioners on new cases" in facts["population"]
    assert (facts["failed"], facts["failed_rows"], facts["recorded"]) == (7, 1, True)
    older = _bootstrap_facts({"config": {"bootstrap": 50}}, stats.drop(columns="boot_failed"))
    assert older["scheme"] == "two-way" and "new practitioners" in older["population"]
    assert older["recorded"] is False
    assert stratum_label("complexity_band:high-medium") == "high minus medium complexity"


def test_quickstart_report_says_what_each_measure_shows(quick_run: Path) -> None:
    """The quickstart: α falls while exact agreement and AC2 rise, so no "highest/lowest"
    claim; the band table shows the spread, the difference table the shared-resample
    intervals, and the report names the scheme."""
    html = (quick_run / "report.html").read_text(encoding="utf-8")
    assert "Agreement was highest on" not in html
    assert "Agreement falls with" not in html and "Agreement rises with" not in html
    sentence = re.search(r'<span class="band-sentence" data-kind="(\w+)">', html)
    assert sentence is not None and sentence.group(1) == "mixed"
    assert "the two-way bootstrap, resampling vignettes and practitioners" in html
    keys = [json.loads(n.attrs["data-row-key"]) | {"column": n.attrs["data-column"]}
            for n in numbers_in(html)]
    shown = {(k["metric"], k["stratum"], k["column"]) for k in keys
             if k.get("comparison") == "within-panel"}
    for band in ("low", "medium", "high"):
        for metric in ("level_variance", "modal_share", "percent_exact", "gwet_ac2_quadratic"):
            assert (metric, f"complexity_band={band}", "estimate") in shown, (metric, band)
        assert ("krippendorff_alpha_ordinal", f"complexity_band={band}", "boot_failed") in shown
    for pair in ("medium-low", "high-low", "high-medium"):
        for metric in ("krippendorff_alpha_ordinal", "percent_exact", "gwet_ac2_quadratic"):
            assert (metric, f"complexity_band:{pair}", "ci_low") in shown, (metric, pair)


@pytest.mark.parametrize("metric", ["krippendorff_alpha_ordinal", "percent_exact",
                                    "gwet_ac2_quadratic"])
def test_quickstart_band_differences_are_the_band_estimates_subtracted(quick_run: Path,
                                                                       metric: str) -> None:
    stats = pd.read_parquet(quick_run / "stats.parquet")
    part = stats[(stats.comparison == "within-panel") & (stats.metric == metric)]
    est = part.set_index("stratum")["estimate"]
    assert est[DIFF] == pytest.approx(est[HIGH] - est[LOW])
    assert (part.loc[part.stratum == DIFF, "boot_failed"] == 0).all()
