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

``python -m benchmarks bootstrap_coverage`` runs a short version (the
machine's table); ``python -m benchmarks.bench_bootstrap_coverage [SIMS]
[REPLICATES]`` prints the full table (docs/methods.md, "Comparing bands
honestly", quotes a run with 500 data sets and 400 replicates).
"""

from __future__ import annotations

import sys
import time

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


def _truth(rng: np.random.Generator, offsets: np.ndarray | None) -> dict[str, float]:
    """The population value: a very large sample (of vignettes, and of raters unless fixed)."""
    raters = rng.normal(0.0, RATER_SD, TRUTH_RATERS) if offsets is None else offsets
    latent = rng.uniform(0.5, 4.5, TRUTH_VIGNETTES if offsets is None else 20 * TRUTH_VIGNETTES)
    parts = [_estimates(_codes(chunk, raters, rng)) for chunk in np.array_split(latent, 20)] \
        if offsets is not None else [_estimates(_codes(latent, raters, rng))]
    return {m: float(np.mean([p[m] for p in parts])) for m in METRICS}


def simulate(n_sims: int, n_boot: int, seed: int = 0) -> list[dict[str, object]]:
    """Coverage and SE/SD per world, scheme and metric (rows of plain values)."""
    rng = np.random.default_rng(seed)
    fixed_offsets = rng.normal(0.0, RATER_SD, N_RATERS)
    worlds = {"two-way": None, "fixed-raters": fixed_offsets}
    out: list[dict[str, object]] = []
    for world, offsets in worlds.items():
        truth = _truth(rng, offsets)
        estimates = {m: [] for m in METRICS}
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


def run() -> list[Row]:
    """The short version for the benchmark table: 100 data sets, 200 replicates."""
    n_sims, n_boot = 100, 200
    t0 = time.perf_counter()
    results = simulate(n_sims, n_boot)
    seconds = time.perf_counter() - t0
    rows = []
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
    results = simulate(n_sims, n_boot)
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
