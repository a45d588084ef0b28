"""Simulated judgements per second (issue: simulated panels).

Target: >= 1,000,000 judgements/s for round 1 without rationale text (the
vectorised model: levels, confidence, risk, salient factors, lead agency,
seconds, as arrays). Also reported: the full judgements table without text
and with rationale text, and the ablation that every run with a simulated
panel makes (which assumption produces which finding: ten variants of the
panel and their findings; target a few seconds on 2,000 vignettes x 12 raters).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks._harness import Row, measure
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.panels import PanelMember, PanelSpec, ablate, load_panel, load_professions, simulate_panel
from dsk.panels.simulate import case_features, draw_raters, simulate_round
from dsk.rules import bundled_rulesets, evaluate, load_ruleset


def _panel(n_per_profession: int, professions) -> PanelSpec:  # type: ignore[no-untyped-def]
    return PanelSpec(id="bench", seed=1, members=[
        PanelMember(profession=p, experience=8, count=n_per_profession) for p in professions])


def run() -> list[Row]:
    cat = load_catalogue()
    profs = load_professions(catalogue=cat)
    vignettes = generate("random", 10_000, random_state=1, catalogue=cat, narratives=False)
    panel = _panel(15, profs)  # 105 raters
    n = len(vignettes) * len(panel.raters())
    features = case_features(vignettes, profs, cat)

    def core() -> None:
        rng = np.random.default_rng(1)
        raters = draw_raters(panel, profs, cat, rng)
        simulate_round(features, raters, profs, cat, rng)

    rows = []
    seconds, peak, _ = measure(core, repeat=3)
    rows.append(Row("panels: round 1, model arrays (10,000 vignettes x 105 raters)", n, seconds, peak,
                    "judgements", ">= 1,000,000/s", n / seconds >= 1_000_000))
    seconds, peak, _ = measure(lambda: case_features(vignettes, profs, cat), repeat=3)
    rows.append(Row("panels: reading the vignettes (once per set)", len(vignettes), seconds, peak, "vignettes"))
    small = vignettes.iloc[:2_000]
    mixed = _panel(2, profs)
    n_small = len(small) * len(mixed.raters())
    seconds, peak, _ = measure(lambda: simulate_panel(small, mixed, random_state=1, professions=profs,
                                                      catalogue=cat, rationale=False), repeat=2)
    rows.append(Row("panels: judgements table, no text (2,000 x 14)", n_small, seconds, peak, "judgements"))
    seconds, peak, _ = measure(lambda: simulate_panel(small, mixed, random_state=1, professions=profs,
                                                      catalogue=cat), repeat=2)
    rows.append(Row("panels: judgements table with rationale text (2,000 x 14)", n_small, seconds, peak,
                    "judgements"))
    # which assumption produces which finding: 10 variants (full, each mechanism off, all off) on
    # 2,000 stratified vignettes x 12 raters, with the findings of three checklists
    stratified = generate("stratified", 2_000, random_state=1, catalogue=cat, narratives=False)
    decisions = pd.concat([evaluate(load_ruleset(path, cat), stratified, catalogue=cat).decisions()
                           for _, path in sorted(bundled_rulesets().items())], ignore_index=True)
    panel = load_panel("mixed-12", profs)
    n_ablation = len(stratified) * len(panel.raters())
    seconds, peak, result = measure(lambda: ablate(stratified, panel, professions=profs, catalogue=cat,
                                                   decisions=decisions, random_state=1), repeat=2)
    rows.append(Row(f"panels: ablation, {len(result.variants)} variants (2,000 x 12, 3 checklists)",
                    n_ablation * len(result.variants), seconds, peak, "judgements", "<= 5 s", seconds <= 5))
    return rows
