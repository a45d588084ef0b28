"""Agreement statistics with a two-way cluster bootstrap (issue 5).

Target: Krippendorff's alpha (ordinal) and Fleiss' kappa with 1,000
cluster-bootstrap replicates (vignettes and raters) on 1,000 vignettes x 30
raters in at most 10 s. Also timed: agreement by complexity band with the
differences between bands from shared resamples, for both bootstrap schemes
(issue 14).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from benchmarks._harness import Row, measure
from dsk.analysis import MULTI_RATER_METRICS, agreement, agreement_stats

PROFESSIONS = np.array(["social_worker", "police", "health"])


def _panel(n_units: int, n_raters: int, seed: int) -> pd.DataFrame:
    """Simulated long-format judgements: a latent level per vignette plus rater noise."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(0.5, 4.5, n_units)
    noise = rng.normal(0.0, 0.7, (n_units, n_raters))
    levels = np.clip(np.rint(latent[:, None] + noise), 1, 4).astype(int)
    return pd.DataFrame(
        {
            "vignette_id": np.repeat([f"v{i:04d}" for i in range(n_units)], n_raters),
            "rater_id": np.tile([f"r{j:02d}" for j in range(n_raters)], n_units),
            "rater_kind": "simulated",
            "profession": np.tile(PROFESSIONS[np.arange(n_raters) % 3], n_units),
            "round": 1,
            "need_level": levels.ravel(),
        }
    )


def run() -> list[Row]:
    rows: list[Row] = []
    data = _panel(1000, 30, seed=1)
    n_boot = 1000
    metrics = ["krippendorff_alpha_ordinal", "fleiss_kappa"]
    seconds, peak, _ = measure(
        lambda: agreement(data, n_boot=n_boot, random_state=1, metrics=metrics), repeat=2
    )
    rows.append(
        Row(
            "agreement: ordinal alpha + Fleiss, 1,000 two-way replicates, 1,000 x 30",
            n_boot,
            seconds,
            peak,
            "replicates",
            "<= 10 s",
            seconds <= 10.0,
        )
    )
    seconds, peak, _ = measure(lambda: agreement(data, n_boot=n_boot, random_state=1), repeat=2)
    rows.append(
        Row(
            f"agreement: all {len(MULTI_RATER_METRICS)} multi-rater metrics and the spread, 1,000 replicates, 1,000 x 30",
            n_boot,
            seconds,
            peak,
            "replicates",
        )
    )
    banded = data.assign(complexity_band=np.array(["low", "medium", "high"])[
        data["vignette_id"].str[1:].astype(int).to_numpy() % 3])
    band_metrics = ["krippendorff_alpha_ordinal", "percent_exact", "gwet_ac2_quadratic",
                    "level_variance", "modal_share"]
    def by_band(scheme: str) -> pd.DataFrame:
        return agreement(banded, by="complexity_band", n_boot=n_boot, random_state=1,
                         metrics=band_metrics, bootstrap_scheme=scheme)

    for scheme in ("two-way", "fixed-raters"):
        seconds, peak, _ = measure(partial(by_band, scheme), repeat=1)
        rows.append(
            Row(
                f"agreement by band: alpha, exact, AC2, spread; 3 bands + 3 differences, "
                f"{scheme}, 1,000 replicates, 1,000 x 30",
                n_boot,
                seconds,
                peak,
                "replicates",
            )
        )
    rules = data[data.rater_id == "r00"].assign(
        rater_id="checklist", rater_kind="rules", profession=None
    )
    judgements = pd.concat([data, rules], ignore_index=True)
    seconds, peak, _ = measure(lambda: agreement_stats(judgements, n_boot=n_boot, random_state=1), repeat=1)
    rows.append(
        Row(
            "agreement_stats: every comparison incl. rules~each rater, 1,000 replicates, "
            "1,000 x 30, one stratum",
            n_boot,
            seconds,
            peak,
            "replicates",
        )
    )
    return rows
