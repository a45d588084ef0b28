"""SHAP for both sides, and failure points (issue: analysis).

Target: SHAP for the ruleset and for the panel surrogate on 2,000 vignettes
in at most 30 s on this machine.
"""

from __future__ import annotations

from benchmarks._harness import Row, measure
from dsk.analysis import failure_points, shap_comparison
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.panels import load_panel, load_professions, simulate_panel
from dsk.rules import bundled_rulesets, evaluate, load_ruleset


def run() -> list[Row]:
    cat = load_catalogue()
    vignettes = generate("stratified", 2_000, random_state=1, catalogue=cat, narratives=False)
    profs = load_professions(catalogue=cat)
    judgements = simulate_panel(vignettes, load_panel("mixed-12", profs), random_state=1, professions=profs,
                                catalogue=cat, rationale=False)
    ruleset = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    seconds, peak, _ = measure(lambda: shap_comparison(vignettes, judgements, ruleset, catalogue=cat), repeat=1)
    rows = [Row("explain: SHAP for ruleset and panel surrogate (2,000 vignettes)", 2_000, seconds, peak,
                "vignettes", "<= 30 s", seconds <= 30)]
    decisions = evaluate(ruleset, vignettes, catalogue=cat).decisions()
    seconds, peak, _ = measure(lambda: failure_points(vignettes, decisions, judgements, ruleset=ruleset,
                                                      catalogue=cat), repeat=1)
    rows.append(Row("failures: failure points with brittleness (2,000 vignettes)", 2_000, seconds, peak,
                    "vignettes"))
    return rows
