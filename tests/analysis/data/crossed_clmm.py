"""Generate the crossed practitioner x vignette reference data for the CLMM tests.

``python tests/analysis/data/crossed_clmm.py`` writes ``crossed_clmm_1152.csv`` (24 raters x 48
vignettes, every rater judging every vignette in their own random order) and
``crossed_clmm_288.csv`` (each rater's judgements of a quarter of the vignettes: 12 per rater,
6 raters per vignette). Levels 1-4 follow a proportional-odds model with six vignette factors
(one with three levels), profession (three), years of experience, deck position and crossed
random intercepts (SD 0.8 for raters, 1.0 for vignettes): 11 fixed effects. The seed is fixed,
so the files are byte-identical on every run. ``crossed_clmm.R`` fits them with R's
``ordinal::clmm`` and writes ``crossed_clmm_r.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
N_RATERS, N_VIGNETTES = 24, 48


def make(random_state: int = 20261202) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(random_state)
    vig = pd.DataFrame({
        "vignette_id": [f"v{i:02d}" for i in range(N_VIGNETTES)],
        "domestic_abuse": rng.integers(0, 2, N_VIGNETTES),
        "parental_mental_health": rng.integers(0, 2, N_VIGNETTES),
        "substance_misuse": rng.integers(0, 2, N_VIGNETTES),
        "neglect": rng.integers(0, 2, N_VIGNETTES),
        "prior_referral": rng.integers(0, 2, N_VIGNETTES),
        "child_age": rng.choice(["0-4", "5-11", "12-17"], N_VIGNETTES),
    })
    raters = pd.DataFrame({
        "rater_id": [f"r{j:02d}" for j in range(N_RATERS)],
        "profession": np.array(["social_worker", "police", "health"])[np.arange(N_RATERS) % 3],
        "years_experience": rng.integers(1, 30, N_RATERS).astype(float),
    })
    b_vig = rng.normal(0, 1.0, N_VIGNETTES)
    b_rat = rng.normal(0, 0.8, N_RATERS)
    rows = []
    for j in range(N_RATERS):
        order = rng.permutation(N_VIGNETTES)
        for pos, i in enumerate(order, start=1):
            rows.append((j, i, pos))
    long = pd.DataFrame(rows, columns=["r", "v", "position"])
    v = vig.iloc[long["v"]].reset_index(drop=True)
    r = raters.iloc[long["r"]].reset_index(drop=True)
    eta = (1.2 * v["domestic_abuse"] + 0.9 * v["parental_mental_health"] + 0.7 * v["substance_misuse"]
           + 1.5 * v["neglect"] + 0.4 * v["prior_referral"]
           + v["child_age"].map({"0-4": 0.0, "5-11": -0.3, "12-17": -0.6})
           + r["profession"].map({"social_worker": 0.0, "police": 0.5, "health": -0.4})
           + 0.02 * r["years_experience"] + 0.01 * long["position"]
           + b_vig[long["v"]] + b_rat[long["r"]])
    cuts = np.array([0.5, 2.0, 3.5])
    latent = eta.to_numpy() + rng.logistic(size=len(long))
    level = 1 + (latent[:, None] > cuts[None, :]).sum(axis=1)
    full = pd.concat([pd.DataFrame({"rater_id": r["rater_id"], "vignette_id": v["vignette_id"]}),
                      v.drop(columns="vignette_id"), r.drop(columns="rater_id"),
                      pd.DataFrame({"position": long["position"], "need_level": level})], axis=1)
    full = full.sort_values(["rater_id", "position"]).reset_index(drop=True)
    # the subset: rater j keeps the 12 vignettes of block j mod 4
    block = full["vignette_id"].str[1:].astype(int) // 12
    rater_no = full["rater_id"].str[1:].astype(int)
    sub = full[block == rater_no % 4].copy()
    sub["position"] = sub.groupby("rater_id")["position"].rank(method="first").astype(int)
    return full, sub.reset_index(drop=True)


if __name__ == "__main__":
    full, sub = make()
    full.to_csv(HERE / "crossed_clmm_1152.csv", index=False)
    sub.to_csv(HERE / "crossed_clmm_288.csv", index=False)
    print(len(full), len(sub), full["need_level"].value_counts().sort_index().tolist(),
          sub["need_level"].value_counts().sort_index().tolist())
