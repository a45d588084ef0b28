"""Coverage of the agreement bootstrap intervals, by simulation from a known truth (issue 14).

A generator with a known population: each vignette has a latent level drawn
uniformly on [0.5, 4.5], each practitioner a severity offset drawn from
N(0, 0.4²), and each rating adds N(0, 0.7²) noise before rounding to the
levels 1-4. Two worlds, one per question a bootstrap can answer:

- **two-way** (new practitioners on new cases): every simulated data set draws
  new vignettes *and* new practitioners. The truth is the coefficient on a very
  large sample of both (``TRUTH_VIGNETTES`` x ``TRUTH_RATERS``).
- **fixed raters** (these practitioners on new cases): one panel of
  practitioners is drawn once and kept; every data set draws new vignettes and
  new noise. The truth is the coefficient of that panel on a very large sample
  of vignettes.

In each world every data set (``N_VIGNETTES`` x ``N_RATERS``, complete) gets
both bootstrap schemes. Reported per scheme, world and coefficient: the
coverage of the 95% percentile interval (share of data sets whose interval
holds the truth) and the ratio of the mean bootstrap standard error to the
Monte Carlo standard deviation of the estimate (1 is right; above 1 the
interval is too wide). A scheme is judged in its own world; the other pairings
show what goes wrong when the scheme does not match the question.

``python -m benchmarks bootstrap_coverage`` runs a short version (200 data sets,
200 replicates: the benchmark table); ``python -m benchmarks.bench_bootstrap_coverage [SIMS]
[REPLICATES]`` prints the full table (docs/methods.md, "Comparing bands
honestly", quotes a run with 500 data sets and 400 replicates).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from benchmarks._harness import Row
from dsk.analysis import _kernels as K
from dsk.analysis._bootstrap import SCHEMES, _draw, _multi_metrics

METRICS = ("krippendorff_alpha_ordinal", "percent_exact", "gwet_ac2_quadratic")
N_VIGNETTES, N_RATERS = 40, 10
TRUTH_VIGNETTES, TRUTH_RATERS = 4000, 400
RATER_SD, NOISE_SD = 0.4, 0.7
VALUES = np.arange(1.0, 5.0)


def _codes(latent: np.ndarray, offsets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Category indices 0-3 (units x raters) of the rounded latent + offset + noise."""
    noise = rng.normal(0.0, NOISE_SD, (len(latent), len(offsets)))
    levels = np.clip(np.rint(latent[:, None] + offsets[None, :] + noise), 1, 4)
    return levels.astype(np.int64) - 1


def _estimates(codes: np.ndarray) -> dict[str, float]:
    sums = K.panel_sums(K.onehot(codes, len(VALUES)))
    return {m: float(v[0]) for m, v in _multi_metrics(sums, VALUES, METRICS).items()}


def _truth(rng: np.random.Generator, offsets: np.ndarray | None,
           latent: Callable[[int, np.random.Generator], np.ndarray]) -> dict[str, float]:
    """The population value: a very large sample of vignettes, and of raters unless fixed.

    With ``TRUTH_RATERS`` raters one block of ``TRUTH_VIGNETTES`` vignettes; with a fixed
    panel, the mean over 20 such blocks rated by that panel.
    """
    raters = rng.normal(0.0, RATER_SD, TRUTH_RATERS) if offsets is None else offsets
    blocks = 1 if offsets is None else 20
    parts = [_estimates(_codes(latent(TRUTH_VIGNETTES, rng), raters, rng)) for _ in range(blocks)]
    return {m: float(np.mean([p[m] for p in parts])) for m in METRICS}


def _uniform(n: int, rng: np.random.Generator) -> np.ndarray:
    """Latent levels spread over the whole scale."""
    return rng.uniform(0.5, 4.5, n)


def simulate(n_sims: int, n_boot: int, seed: int = 0) -> list[dict[str, object]]:
    """Coverage and SE/SD per world, scheme and metric (rows of plain values)."""
    rng = np.random.default_rng(seed)
    fixed_offsets = rng.normal(0.0, RATER_SD, N_RATERS)
    worlds = {"two-way": None, "fixed-raters": fixed_offsets}
    out: list[dict[str, object]] = []
    for world, offsets in worlds.items():
        truth = _truth(rng, offsets, _uniform)
        estimates: dict[str, list[float]] = {m: [] for m in METRICS}
        covered = {(s, m): 0 for s in SCHEMES for m in METRICS}
        ses: dict[tuple[str, str], list[float]] = {(s, m): [] for s in SCHEMES for m in METRICS}
        failed = {(s, m): 0 for s in SCHEMES for m in METRICS}
        for _ in range(n_sims):
            raters = rng.normal(0.0, RATER_SD, N_RATERS) if offsets is None else offsets
            codes = _codes(rng.uniform(0.5, 4.5, N_VIGNETTES), raters, rng)
            onehot = K.onehot(codes, len(VALUES))
            seed_draw = int(rng.integers(2**31))
            for scheme in SCHEMES:
                units, (rater_w,) = _draw(np.random.default_rng(seed_draw), n_boot, N_VIGNETTES,
                                          N_RATERS, scheme)
                values = _multi_metrics(K.panel_sums(onehot, units, rater_w), VALUES, METRICS)
                for m, v in values.items():
                    if scheme == SCHEMES[0]:
                        estimates[m].append(float(v[0]))
                    reps = v[1:][np.isfinite(v[1:])]
                    failed[(scheme, m)] += int(n_boot - reps.size)
                    low, high = K.interval(v[1:], 0.95)
                    covered[(scheme, m)] += int(low <= truth[m] <= high)
                    ses[(scheme, m)].append(float(np.std(reps, ddof=1)))
        for scheme in SCHEMES:
            for m in METRICS:
                sd = float(np.std(estimates[m], ddof=1))
                out.append({"world": world, "scheme": scheme, "metric": m, "truth": truth[m],
                            "mean_estimate": float(np.mean(estimates[m])),
                            "coverage": covered[(scheme, m)] / n_sims,
                            "se_ratio": float(np.mean(ses[(scheme, m)])) / sd,
                            "failed": failed[(scheme, m)], "sims": n_sims, "replicates": n_boot})
    return out


def _high_band(n: int, rng: np.random.Generator) -> np.ndarray:
    """Latent levels of a high-complexity band: bunched near level 4 (restricted range)."""
    return np.clip(rng.normal(3.9, 0.45, n), 0.5, 4.5)


def _band_codes(raters: np.ndarray, n_per_band: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    low = _codes(rng.uniform(0.5, 4.5, n_per_band), raters, rng)
    high = _codes(_high_band(n_per_band, rng), raters, rng)
    return low, high


def simulate_differences(n_sims: int, n_boot: int, seed: int = 1) -> list[dict[str, object]]:
    """Coverage of the interval of the difference high - low between two bands.

    The low band's latent levels are uniform on [0.5, 4.5], the high band's bunch near 4
    (N(3.9, 0.45²)): alpha falls while exact agreement rises, as in the quickstart. Each data
    set has ``N_VIGNETTES // 2`` vignettes per band rated by the same ``N_RATERS`` raters;
    each replicate draws vignettes within each band and the raters once for both, as the
    agreement analysis does (:func:`dsk.analysis._bootstrap._differences`).
    """
    rng = np.random.default_rng(seed)
    fixed_offsets = rng.normal(0.0, RATER_SD, N_RATERS)
    per_band = N_VIGNETTES // 2
    out: list[dict[str, object]] = []
    for world, offsets in {"two-way": None, "fixed-raters": fixed_offsets}.items():
        # one large panel for both bands when raters are not fixed: the bands' truths
        # then refer to the same population of raters
        big = rng.normal(0.0, RATER_SD, TRUTH_RATERS) if offsets is None else offsets
        low_truth = _truth(rng, big, _uniform)
        high_truth = _truth(rng, big, _high_band)
        truth = {m: high_truth[m] - low_truth[m] for m in METRICS}
        estimates: dict[str, list[float]] = {m: [] for m in METRICS}
        covered = {(s, m): 0 for s in SCHEMES for m in METRICS}
        ses: dict[tuple[str, str], list[float]] = {(s, m): [] for s in SCHEMES for m in METRICS}
        for _ in range(n_sims):
            raters = rng.normal(0.0, RATER_SD, N_RATERS) if offsets is None else offsets
            low, high = _band_codes(raters, per_band, rng)
            seed_draw = int(rng.integers(2**31))
            for scheme in SCHEMES:
                draw = np.random.default_rng(seed_draw)
                unit_w = [_draw(draw, n_boot, per_band, (), scheme)[0] for _ in range(2)]
                rater_w = _draw(draw, n_boot, 1, N_RATERS, scheme)[1][0]
                band = [_multi_metrics(K.panel_sums(K.onehot(c, len(VALUES)), w, rater_w),
                                       VALUES, METRICS) for c, w in zip((low, high), unit_w,
                                                                        strict=True)]
                for m in METRICS:
                    diff = band[1][m] - band[0][m]
                    if scheme == SCHEMES[0]:
                        estimates[m].append(float(diff[0]))
                    lo_ci, hi_ci = K.interval(diff[1:], 0.95)
                    covered[(scheme, m)] += int(lo_ci <= truth[m] <= hi_ci)
                    finite = diff[1:][np.isfinite(diff[1:])]
                    ses[(scheme, m)].append(float(np.std(finite, ddof=1)))
        for scheme in SCHEMES:
            for m in METRICS:
                sd = float(np.std(estimates[m], ddof=1))
                out.append({"world": world, "scheme": scheme, "metric": f"{m} (high - low)",
                            "truth": truth[m], "mean_estimate": float(np.mean(estimates[m])),
                            "coverage": covered[(scheme, m)] / n_sims,
                            "se_ratio": float(np.mean(ses[(scheme, m)])) / sd, "failed": 0,
                            "sims": n_sims, "replicates": n_boot})
    return out


def run() -> list[Row]:
    """The short version for the benchmark table: 200 data sets, 200 replicates."""
    n_sims, n_boot = 200, 200
    rows = []
    for simulation in (simulate, simulate_differences):
        t0 = time.perf_counter()
        results = simulation(n_sims, n_boot)
        seconds = time.perf_counter() - t0
        for r in results:
            if r["world"] != r["scheme"]:
                continue
            rows.append(Row(f"bootstrap coverage ({r['scheme']}, {r['metric']}): "
                            f"{r['coverage']:.2f}, SE/SD {r['se_ratio']:.2f}",
                            n_sims, seconds, 0.0, "data sets", "coverage 0.95"))
    return rows


def main(argv: list[str]) -> int:
    n_sims = int(argv[0]) if argv else 500
    n_boot = int(argv[1]) if len(argv) > 1 else 400
    t0 = time.perf_counter()
    results = simulate(n_sims, n_boot) + simulate_differences(n_sims, n_boot)
    print(f"{n_sims} data sets of {N_VIGNETTES} vignettes x {N_RATERS} raters, {n_boot} "
          f"replicates each, {time.perf_counter() - t0:.0f} s\n")
    print("| world | scheme | metric | truth | mean estimate | coverage | SE / MC SD | failed |")
    print("|:--|:--|:--|--:|--:|--:|--:|--:|")
    for r in results:
        print(f"| {r['world']} | {r['scheme']} | {r['metric']} | {r['truth']:.3f} | "
              f"{r['mean_estimate']:.3f} | {r['coverage']:.3f} | {r['se_ratio']:.2f} | "
              f"{r['failed']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
