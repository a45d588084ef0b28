"""Variance components by REML on crossed practitioner x vignette data (issue 14).

Target: the crossed random-intercepts fit of 1,152 judgements (24 practitioners
x 48 vignettes, complete) in under 1 s, and of a deck design of 6,000 judgements
(200 practitioners, 300 vignettes, decks of 30) in under 10 s, and of the bundled
complexity-gradient experiment's size (2,000 vignettes x 12 practitioners, 24,000
judgements, complete) in under 10 s (the block factorisation; a dense Cholesky of the
2,012 x 2,012 cross-product took about 1,400 s there). statsmodels'
``MixedLM`` with variance components on the 1,152 judgements is measured beside it
(the module's reason for its own REML); it has no target.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from benchmarks._harness import Row, measure
from dsk.analysis.variance import variance_components


def _judgements(n_raters: int, n_vignettes: int, deck: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v_eff, r_eff = rng.normal(0, 0.8, n_vignettes), rng.normal(0, 0.4, n_raters)
    raters, vignettes = [], []
    for r in range(n_raters):
        seen = rng.choice(n_vignettes, size=deck, replace=False)
        raters.append(np.full(deck, r))
        vignettes.append(seen)
    r_idx, v_idx = np.concatenate(raters), np.concatenate(vignettes)
    y = np.clip(np.rint(2.5 + v_eff[v_idx] + r_eff[r_idx] + rng.normal(0, 0.6, len(r_idx))), 1, 4)
    return pd.DataFrame({"vignette_id": [f"v{i:04d}" for i in v_idx], "rater_id": [f"p{i:03d}" for i in r_idx],
                         "need_level": y.astype(int)})


def run() -> list[Row]:
    rows: list[Row] = []
    complete = _judgements(24, 48, 48, seed=1)
    seconds, peak, _ = measure(lambda: variance_components(complete), repeat=3)
    rows.append(Row("variance components (REML), 24 x 48 complete", len(complete), seconds, peak,
                    "judgements", "< 1 s", seconds < 1.0))
    deck = _judgements(200, 300, 30, seed=2)
    seconds, peak, _ = measure(lambda: variance_components(deck), repeat=2)
    rows.append(Row("variance components (REML), 200 x 300, decks of 30", len(deck), seconds, peak,
                    "judgements", "< 10 s", seconds < 10.0))

    large = _judgements(12, 2000, 2000, seed=3)
    seconds, peak, _ = measure(lambda: variance_components(large), repeat=2)
    rows.append(Row("variance components (REML), 12 x 2,000 complete", len(large), seconds, peak,
                    "judgements", "< 10 s", seconds < 10.0))

    def statsmodels_fit() -> object:
        import statsmodels.formula.api as smf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return smf.mixedlm("need_level ~ 1", complete.assign(group=1), groups="group", re_formula="0",
                               vc_formula={"rater": "0 + C(rater_id)", "vignette": "0 + C(vignette_id)"}
                               ).fit(reml=True)

    seconds, peak, _ = measure(statsmodels_fit, repeat=1)
    rows.append(Row("statsmodels MixedLM (variance components), 24 x 48 complete", len(complete), seconds,
                    peak, "judgements"))
    return rows
