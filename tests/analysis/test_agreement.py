"""Tests for the agreement coefficients, comparisons, strata and the panel's consensus level:
published worked examples, library cross-checks, hand-computed cases, properties."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import krippendorff as kd
import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from typer.testing import CliRunner

from dsk.analysis import (
    MULTI_RATER_METRICS,
    AgreementInputError,
    agreement,
    agreement_stats,
    brennan_prediger,
    cohen_kappa,
    complexity_strata,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    median_level,
    percent_agreement,
    rules_as_rater,
)
from dsk.analysis import _kernels as K
from dsk.analysis.cli import agree
from dsk.schema import validate

DATA = Path(__file__).parent / "data"


def _est(
    table: pd.DataFrame, metric: str, comparison: str | None = None, stratum: str = "all"
) -> float:
    rows = table[(table.metric == metric) & (table.stratum == stratum)]
    if comparison is not None:
        rows = rows[rows.comparison == comparison]
    assert len(rows) == 1, (metric, comparison, stratum, len(rows))
    return float(rows.estimate.iloc[0])


def _from_table(table: list[list[int]], labels: list[int]) -> pd.DataFrame:
    """Two raters' long data from a contingency table (rows: rater a, columns: rater b)."""
    rows, unit = [], 0
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            for _ in range(count):
                rows += [(unit, "a", labels[i]), (unit, "b", labels[j])]
                unit += 1
    return pd.DataFrame(rows, columns=["vignette_id", "rater_id", "need_level"])


def _wide_to_long(matrix: np.ndarray) -> pd.DataFrame:
    n, m = matrix.shape
    return pd.DataFrame(
        {
            "vignette_id": np.repeat(np.arange(n), m),
            "rater_id": np.tile(np.arange(m), n),
            "need_level": matrix.ravel(),
        }
    )


# --------------------------------------------------------------------------- published examples


def test_fleiss_1971_worked_example() -> None:
    """Fleiss (1971), 'Measuring nominal scale agreement among many raters', Psychol. Bull. 76(5):
    10 subjects x 14 raters x 5 categories, kappa = 0.210 (the worked example of Wikipedia's
    'Fleiss' kappa' article; docs/methods.md, "Agreement coefficients"). Also percent agreement P-bar = 0.378."""
    data = pd.read_csv(DATA / "fleiss_1971.csv")
    assert round(fleiss_kappa(data, "subject", "rater", "category"), 3) == 0.210
    table = agreement(data, "subject", "rater", "category", n_boot=0)
    assert round(_est(table, "fleiss_kappa"), 3) == 0.210
    assert round(_est(table, "percent_exact"), 3) == 0.378


def test_cohen_kappa_50_item_example() -> None:
    """Cohen's kappa, the standard 50-item 2x2 example (Wikipedia 'Cohen's kappa'): yes/yes 20,
    yes/no 5, no/yes 10, no/no 15; p_o = 0.70, p_e = 0.50, kappa = 0.40 (docs/methods.md,
    "Agreement coefficients")."""
    data = _from_table([[20, 5], [10, 15]], [1, 2])
    assert round(cohen_kappa(data), 3) == 0.400
    judgements = data.assign(
        rater_kind=np.where(data.rater_id == "a", "rules", "simulated"), round=1
    )
    table = agreement_stats(judgements, n_boot=0, categories=(1, 2))
    assert round(_est(table, "cohen_kappa", "rules:a~b"), 3) == 0.400
    assert round(_est(table, "percent_exact", "rules:a~b"), 3) == 0.700


def test_irrcac_contingency_table_example() -> None:
    """irrCAC README (Gwet, R package irrCAC 1.0), dataset cont3x3abstractors (100 items, two
    abstractors, 3 categories): Cohen's kappa 0.7964094, Gwet's AC1 0.8493305, Brennan-Prediger
    0.835, Krippendorff's alpha 0.7972585, percent agreement 0.89."""
    data = _from_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]], [1, 2, 3])
    assert round(cohen_kappa(data), 3) == 0.796
    assert round(gwet_ac(data), 3) == 0.849
    assert round(brennan_prediger(data), 3) == 0.835
    assert round(krippendorff_alpha(data, level="nominal"), 3) == 0.797
    assert round(percent_agreement(data), 3) == 0.890
    table = agreement(data, n_boot=0)
    assert round(_est(table, "gwet_ac1"), 3) == 0.849
    assert round(_est(table, "krippendorff_alpha_nominal"), 3) == 0.797


def test_irrcac_raw_ratings_with_missing_values() -> None:
    """irrCAC README (Gwet, R package irrCAC 1.0), dataset cac.raw4raters (12 subjects x 4 raters,
    categories 1-5, missing ratings): percent agreement 0.8181818, Gwet's AC1 0.77544, Fleiss'
    kappa 0.76117, Brennan-Prediger 0.77273, Krippendorff's alpha 0.74342. Fleiss here is
    Gwet's generalisation to missing ratings, which statsmodels does not cover."""
    data = pd.read_csv(DATA / "krippendorff_2011_c.csv")
    args = ("unit", "observer", "value")
    assert round(percent_agreement(data, *args), 3) == 0.818
    assert round(gwet_ac(data, *args), 3) == 0.775
    assert round(fleiss_kappa(data, *args), 3) == 0.761
    assert round(brennan_prediger(data, *args), 3) == 0.773
    table = agreement(data, *args, n_boot=0)
    for metric, value in [
        ("percent_exact", 0.818),
        ("gwet_ac1", 0.775),
        ("fleiss_kappa", 0.761),
        ("brennan_prediger", 0.773),
        ("krippendorff_alpha_nominal", 0.743),
    ]:
        assert round(_est(table, metric), 3) == value, metric


def test_krippendorff_2011_example_c() -> None:
    """Krippendorff (2011), 'Computing Krippendorff's Alpha-Reliability', example C: 4 observers x
    12 units with missing values; alpha nominal .743, ordinal .815, interval .849 (the same data
    as irrCAC's cac.raw4raters)."""
    data = pd.read_csv(DATA / "krippendorff_2011_c.csv")
    args = ("unit", "observer", "value")
    table = agreement(data, *args, n_boot=0)
    for level, value in [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]:
        assert round(krippendorff_alpha(data, *args, level=level), 3) == value
        assert round(_est(table, f"krippendorff_alpha_{level}"), 3) == value


def test_krippendorff_three_coders_fifteen_units() -> None:
    """Wikipedia 'Krippendorff's alpha' worked example (3 coders x 15 units, missing values;
    docs/methods.md, "Agreement coefficients"; also the krippendorff package's sample): nominal 0.691, interval 0.811.
    No published ordinal value was found; ordinal is checked against the krippendorff package."""
    data = pd.read_csv(DATA / "krippendorff_wikipedia.csv")
    args = ("unit", "coder", "value")
    table = agreement(data, *args, n_boot=0)
    assert round(krippendorff_alpha(data, *args, level="nominal"), 3) == 0.691
    assert round(krippendorff_alpha(data, *args, level="interval"), 3) == 0.811
    assert round(_est(table, "krippendorff_alpha_nominal"), 3) == 0.691
    assert round(_est(table, "krippendorff_alpha_interval"), 3) == 0.811
    wide = data.pivot(index="coder", columns="unit", values="value").to_numpy(dtype=float)
    expected = kd.alpha(reliability_data=wide, level_of_measurement="ordinal")
    assert _est(table, "krippendorff_alpha_ordinal") == pytest.approx(expected, abs=1e-12)


def test_hand_computed_weighted_coefficients() -> None:
    """Hand-computed (no published value found for AC2 and weighted BP on raw data): units
    [1,1], [1,2], [3,3], categories 1-3, linear weights w = 1 - |k-l|/2. Weighted percent
    agreement pa = (1 + 0.5 + 1)/3 = 5/6. Prevalence pi = (0.5, 1/6, 1/3); sum of weights
    T = 3 + 4 * 0.5 = 5. AC2: sum pi(1-pi) = 1/4 + 5/36 + 2/9 = 11/18, pe = T/(q(q-1)) * 11/18
    = 55/108, so AC2 = (90/108 - 55/108)/(53/108) = 35/53. Brennan-Prediger: pe = T/q^2 = 5/9,
    BP = (5/6 - 5/9)/(4/9) = 5/8."""
    data = pd.DataFrame(
        {
            "vignette_id": [1, 1, 2, 2, 3, 3],
            "rater_id": list("ababab"),
            "need_level": [1, 1, 1, 2, 3, 3],
        }
    )
    assert gwet_ac(data, weights="linear") == pytest.approx(35 / 53)
    assert brennan_prediger(data, weights="linear") == pytest.approx(5 / 8)
    table = agreement(data, n_boot=0)
    assert _est(table, "gwet_ac2_linear") == pytest.approx(35 / 53)


# --------------------------------------------------------------------------- library cross-checks


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(3, 25), st.integers(2, 7), st.floats(0.0, 0.4))
def test_kernels_equal_libraries(seed: int, n: int, m: int, missing: float) -> None:
    """Our vectorised coefficients equal the krippendorff package, statsmodels (complete data)
    and scikit-learn (two raters) on random ratings with missing values."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(1, 5, (n, m)).astype(float)
    matrix[rng.random((n, m)) < missing] = np.nan
    matrix[:, 0] = rng.integers(1, 5, n)  # at least two ratings on every unit
    matrix[:, 1] = np.where(rng.random(n) < 0.7, matrix[:, 0], rng.integers(1, 5, n))
    data = _wide_to_long(matrix)
    table = agreement(data, n_boot=0, categories=[1, 2, 3, 4])
    for level in ("nominal", "ordinal", "interval"):
        expected = kd.alpha(
            reliability_data=matrix.T, value_domain=[1, 2, 3, 4], level_of_measurement=level
        )
        got = _est(table, f"krippendorff_alpha_{level}")
        assert got == pytest.approx(expected, abs=1e-9, nan_ok=True)
    complete = matrix[:, :2].astype(int)
    counts = np.stack([(complete == c).sum(axis=1) for c in range(1, 5)], axis=1)
    pair = agreement(_wide_to_long(complete), n_boot=0, categories=[1, 2, 3, 4])
    expected = sm_fleiss(counts)
    assert _est(pair, "fleiss_kappa") == pytest.approx(expected, abs=1e-9, nan_ok=True)
    judgements = _wide_to_long(complete).assign(
        rater_kind=lambda d: np.where(d.rater_id == 0, "rules", "simulated"), round=1
    )
    stats = agreement_stats(judgements, n_boot=0)
    for weights, metric in [
        (None, "cohen_kappa"),
        ("linear", "cohen_kappa_linear"),
        ("quadratic", "cohen_kappa_quadratic"),
    ]:
        expected = cohen_kappa_score(
            complete[:, 0], complete[:, 1], labels=[1, 2, 3, 4], weights=weights
        )
        got = _est(stats, metric, "rules:0~1")
        assert got == pytest.approx(expected, abs=1e-9, nan_ok=True)


def test_unit_multiplicities_equal_explicit_resample() -> None:
    """A bootstrap replicate given as unit multiplicities equals the coefficient on the explicitly
    resampled data (units repeated), as computed by the krippendorff package."""
    rng = np.random.default_rng(3)
    matrix = rng.integers(1, 5, (30, 5)).astype(float)
    matrix[rng.random((30, 5)) < 0.2] = np.nan
    codes = np.where(np.isnan(matrix), -1, matrix - 1).astype(int)
    draw = rng.integers(0, 30, 30)
    weights = np.bincount(draw, minlength=30).astype(float)[None]
    sums = K.panel_sums(K.onehot(codes, 4), weights)
    values = np.arange(1.0, 5.0)
    for level in ("nominal", "ordinal", "interval"):
        expected = kd.alpha(
            reliability_data=matrix[draw].T, value_domain=values, level_of_measurement=level
        )
        assert K.krippendorff(sums, level, values)[0] == pytest.approx(expected, abs=1e-9)


def test_rater_copies_do_not_agree_with_themselves() -> None:
    """Two raters who never agree: a resample that draws one rater twice must not show agreement
    (copies of a rater are not a pair); drawing both once gives 0 as on the sample."""
    codes = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    sums = K.panel_sums(K.onehot(codes, 4), None, np.array([[2.0, 0.0], [1.0, 1.0], [0.0, 2.0]]))
    pa = K.percent_agreement(sums, np.eye(4))
    assert np.isnan(pa[0]) and pa[1] == 0.0 and np.isnan(pa[2])
    sums = K.panel_sums(K.onehot(codes, 4), None, np.array([[3.0, 1.0]]))
    assert K.percent_agreement(sums, np.eye(4))[0] == 0.0


# --------------------------------------------------------------------------- properties


def _perfect(n: int = 12, m: int = 5) -> pd.DataFrame:
    levels = np.tile([1, 2, 3, 4], n // 4 + 1)[:n]
    return _wide_to_long(np.repeat(levels[:, None], m, axis=1))


def test_perfect_agreement_gives_one() -> None:
    """Raters who always agree (on units that differ) score 1 on every coefficient."""
    table = agreement(_perfect(), n_boot=100, random_state=1, metrics=MULTI_RATER_METRICS)
    assert set(table.metric) == set(MULTI_RATER_METRICS)
    assert np.allclose(table.estimate, 1.0)
    assert np.allclose(table[["ci_low", "ci_high"]].to_numpy(), 1.0)
    assert cohen_kappa(_perfect(m=2), weights="quadratic") == pytest.approx(1.0)


def test_chance_level_agreement_is_near_zero() -> None:
    """Independent uniform ratings give chance-corrected coefficients near 0 (not near 1)."""
    rng = np.random.default_rng(0)
    table = agreement(_wide_to_long(rng.integers(1, 5, (400, 6))), n_boot=0)
    for metric in ("fleiss_kappa", "gwet_ac1", "brennan_prediger", "krippendorff_alpha_ordinal"):
        assert abs(_est(table, metric)) < 0.05, metric


def _experiment(seed: int = 0, n: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small judgements table: a ruleset, six raters of two professions, two rounds."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(0.6, 4.4, n)
    ids = [f"v{i:02d}" for i in range(n)]
    rows = []
    for j in range(6):
        profession = "social_worker" if j < 3 else "police"
        first = np.clip(np.rint(latent + rng.normal(0, 0.6, n)), 1, 4).astype(int)
        second = np.clip(np.rint(0.5 * first + 0.5 * latent), 1, 4).astype(int)
        for rnd, levels in ((1, first), (2, second)):
            rows += [
                (v, f"p{j}", "simulated", profession, "panel", rnd, int(lvl))
                for v, lvl in zip(ids, levels, strict=True)
            ]
    rules = np.clip(np.rint(latent), 1, 4).astype(int)
    rows += [
        (v, "threshold", "rules", None, None, 1, int(lvl))
        for v, lvl in zip(ids, rules, strict=True)
    ]
    judgements = pd.DataFrame(
        rows,
        columns=[
            "vignette_id",
            "rater_id",
            "rater_kind",
            "profession",
            "panel_id",
            "round",
            "need_level",
        ],
    )
    vignettes = pd.DataFrame(
        {
            "vignette_id": ids,
            "complexity_band": np.array(["low", "medium", "high"])[np.arange(n) % 3],
            "cx_conflict": rng.random(n),
            "cx_network": rng.random(n),
        }
    )
    return judgements, vignettes


def test_agreement_stats_table_and_comparisons() -> None:
    """Every comparison of issue 5 appears in every stratum; the table passes the schema."""
    judgements, vignettes = _experiment()
    table = agreement_stats(judgements, vignettes, n_boot=50, random_state=2)
    validate(table, "stats")
    comparisons = set(table.comparison)
    expected = {
        "within-panel",
        "within-panel:round2",
        "round1~round2",
        "police~social_worker",
        "rules:threshold~panel-mode",
        "rules:threshold~panel-median",
        "rules:threshold~raters",
        *(f"rules:threshold~p{j}" for j in range(6)),
        *(f"rater:p{j}~other-raters" for j in range(6)),
    }
    assert comparisons == expected
    strata = set(table.stratum)
    assert strata == {
        "all",
        "complexity_band=low",
        "complexity_band=medium",
        "complexity_band=high",
        *(f"{c}=tertile{t}" for c in ("cx_conflict", "cx_network") for t in (1, 2, 3)),
        # differences between bands (within-panel only), later band minus earlier
        "complexity_band:medium-low",
        "complexity_band:high-low",
        "complexity_band:high-medium",
    }
    band = table[(table.stratum == "complexity_band=low") & (table.comparison == "within-panel")]
    assert (band.n == 14).all()  # 40 vignettes, every third one is low: 14
    finite = table.dropna(subset=["ci_low", "ci_high"])
    assert (
        (finite.ci_low <= finite.estimate + 1e-9) & (finite.estimate <= finite.ci_high + 1e-9)
    ).all()


def test_bootstrap_is_deterministic_and_depends_on_random_state() -> None:
    """Same seed, same table (to the last bit); another seed, other intervals."""
    judgements, vignettes = _experiment(seed=1)
    first = agreement_stats(judgements, vignettes, n_boot=60, random_state=7, per_rater=False)
    again = agreement_stats(judgements, vignettes, n_boot=60, random_state=7, per_rater=False)
    other = agreement_stats(judgements, vignettes, n_boot=60, random_state=8, per_rater=False)
    pd.testing.assert_frame_equal(first, again)
    assert first.to_csv(index=False) == again.to_csv(index=False)
    pd.testing.assert_series_equal(first.estimate, other.estimate)
    assert not np.allclose(first.ci_low.to_numpy(), other.ci_low.to_numpy(), equal_nan=True)


def test_interval_contains_estimate_and_narrows_with_more_units() -> None:
    """The percentile interval brackets the estimate; four times the units roughly halves it."""
    rng = np.random.default_rng(5)
    widths = []
    for n in (50, 200):
        latent = rng.integers(1, 5, n)
        matrix = np.clip(
            latent[:, None] + rng.integers(-1, 2, (n, 8)) * (rng.random((n, 8)) < 0.4), 1, 4
        )
        table = agreement(_wide_to_long(matrix), n_boot=300, random_state=3)
        assert ((table.ci_low <= table.estimate) & (table.estimate <= table.ci_high)).all()
        row = table[table.metric == "krippendorff_alpha_ordinal"].iloc[0]
        widths.append(row.ci_high - row.ci_low)
    assert widths[1] < 0.75 * widths[0]


def test_missing_ratings_handled() -> None:
    """Missing ratings (7 of 48 here) keep every metric and interval defined; the unit with a
    single rating counts for prevalence but not as a pair (n = 11 of 12 units); a missing
    rating in a row is skipped, not read as a category."""
    data = pd.read_csv(DATA / "krippendorff_2011_c.csv")
    assert data.value.isna().sum() == 7
    table = agreement(data, "unit", "observer", "value", n_boot=100, random_state=0)
    assert table.estimate.notna().all() and (table.n == 11).all()
    assert table.ci_low.notna().all() and table.ci_high.notna().all()
    nan_rows = pd.DataFrame(
        {
            "vignette_id": [1, 1, 2, 2],
            "rater_id": list("abab"),
            "need_level": [1.0, np.nan, 2.0, 2.0],
        }
    )
    assert percent_agreement(nan_rows) == 1.0


def test_rules_as_rater_hand_case() -> None:
    """Hand-computed: raters s0-s2 on four vignettes, the rules copying s0. Pairwise exact
    agreement s0-s1 .75, s0-s2 .5, s1-s2 .25; rules vs raters (1, .75, .5), mean .75; raters'
    means (.625, .5, .375), mean .5; all three below .75, so the rules' percentile is 100."""
    levels = {"v1": [1, 1, 2], "v2": [3, 3, 3], "v3": [4, 3, 4], "v4": [2, 2, 1]}
    rows = [(v, f"s{i}", "simulated", lvl) for v, ls in levels.items() for i, lvl in enumerate(ls)]
    rows += [(v, "checklist", "rules", ls[0]) for v, ls in levels.items()]
    judgements = pd.DataFrame(
        rows, columns=["vignette_id", "rater_id", "rater_kind", "need_level"]
    ).assign(round=1)
    table = rules_as_rater(judgements, n_boot=100, random_state=4)
    est = table.set_index("metric").estimate
    assert est["rules_mean_percent_exact"] == pytest.approx(0.75)
    assert est["raters_mean_percent_exact"] == pytest.approx(0.5)
    assert est["rules_percentile_percent_exact"] == pytest.approx(100.0)
    row = table.set_index("metric").loc["rules_percentile_percent_exact"]
    assert row.ci_low <= row.estimate <= row.ci_high
    assert row.ci_low < 100.0  # some resamples of raters put one of them level with the rules


def test_rules_like_a_typical_rater_sit_mid_distribution() -> None:
    """Rules that judge exactly like one more exchangeable rater land near the 50th percentile;
    rules that always say level 1 land at the bottom."""
    rng = np.random.default_rng(9)
    n, m = 300, 12
    latent = rng.integers(1, 5, n)
    noisy = np.clip(
        latent[:, None] + rng.integers(-1, 2, (n, m + 1)) * (rng.random((n, m + 1)) < 0.5), 1, 4
    )
    long = _wide_to_long(noisy).assign(rater_kind="simulated", round=1)
    long.loc[long.rater_id == m, "rater_kind"] = "rules"
    percentile = _est(rules_as_rater(long, n_boot=0), "rules_percentile_percent_exact")
    assert 15.0 <= percentile <= 85.0
    long.loc[long.rater_id == m, "need_level"] = 1
    assert _est(rules_as_rater(long, n_boot=0), "rules_percentile_percent_exact") == 0.0


def test_consensus_median_mode_and_ties() -> None:
    """Hand cases: counts (2, 2, 0, 0) -> median level 1 (cumulative share reaches 1/2 at 1),
    mode tie 1/2 goes to the one nearest the median: 1. Counts (0, 1, 0, 2) -> median 4, mode 4.
    Counts (1, 0, 0, 1): median 1, mode tie 1/4 -> 1 (nearest the median)."""
    counts = np.array([[[2, 2, 0, 0], [0, 1, 0, 2], [1, 0, 0, 1]]], dtype=float)
    median, mode = K.consensus(counts)
    assert median.tolist() == [[0, 3, 0]] and mode.tolist() == [[0, 3, 0]]


def test_rules_against_panel_consensus() -> None:
    """Rules equal to the panel's majority on every vignette agree 100% with the mode."""
    judgements, _ = _experiment(seed=3)
    first = judgements[(judgements.rater_kind != "rules") & (judgements["round"] == 1)]
    counts = first.pivot_table(
        index="vignette_id", columns="need_level", values="rater_id", aggfunc="count", fill_value=0
    ).reindex(columns=[1, 2, 3, 4], fill_value=0)
    _, mode = K.consensus(counts.to_numpy(dtype=float)[None])
    majority = dict(zip(counts.index, mode[0] + 1, strict=True))
    rules = judgements.rater_kind == "rules"
    judgements.loc[rules, "need_level"] = judgements.loc[rules, "vignette_id"].map(majority)
    table = agreement_stats(judgements, n_boot=0, per_rater=False)
    assert _est(table, "percent_exact", "rules:threshold~panel-mode") == 1.0
    assert _est(table, "cohen_kappa", "rules:threshold~panel-mode") == pytest.approx(1.0)


def test_group_kappa_with_one_rater_per_group_is_cohen() -> None:
    """Vanbelle and Albert's between-group kappa reduces to Cohen's kappa for groups of one."""
    data = _from_table([[13, 0, 0], [0, 20, 7], [0, 4, 56]], [1, 2, 3])
    judgements = data.assign(
        rater_kind="simulated",
        round=1,
        profession=np.where(data.rater_id == "a", "police", "social_worker"),
    )
    table = agreement_stats(judgements, n_boot=0, categories=(1, 2, 3))
    assert _est(table, "group_kappa", "police~social_worker") == pytest.approx(cohen_kappa(data))


def test_round_one_against_round_two() -> None:
    """Raters who do not change their minds agree 100% across rounds; a shift by one level gives
    0% exact and 100% within one."""
    judgements, _ = _experiment(seed=4)
    people = judgements[judgements.rater_kind != "rules"].copy()
    people.loc[people["round"] == 2, "need_level"] = people.loc[
        people["round"] == 1, "need_level"
    ].to_numpy()
    assert _est(agreement_stats(people, n_boot=0), "percent_exact", "round1~round2") == 1.0
    second = people["round"] == 2
    people.loc[second, "need_level"] = np.where(
        people.loc[second, "need_level"] < 4, people.loc[second, "need_level"] + 1, 3
    )
    table = agreement_stats(people, n_boot=0)
    assert _est(table, "percent_exact", "round1~round2") == 0.0
    assert _est(table, "percent_within_one", "round1~round2") == 1.0


def test_several_panels_are_prefixed() -> None:
    judgements, _ = _experiment(seed=2)
    judgements.loc[judgements.rater_id.isin(["p0", "p1", "p3"]), "panel_id"] = "panel-b"
    table = agreement_stats(judgements, n_boot=0, per_rater=False)
    assert {"panel/within-panel", "panel-b/within-panel", "panel-b/rules:threshold~raters"} <= set(
        table.comparison
    )


def test_complexity_strata_tertiles_and_mapping() -> None:
    """Tertiles by average rank: 6 distinct values give 2 per tertile; ties share a tertile.
    A mapping of vignette to label(s) is used as given."""
    vignettes = pd.DataFrame(
        {
            "vignette_id": list("abcdef"),
            "cx_conflict": [0.1, 0.5, 0.3, 0.9, 0.7, 0.2],
            "cx_network": [0.5] * 6,
        }
    )
    strata = complexity_strata(vignettes)
    conflict = strata[strata.stratum.str.startswith("cx_conflict")].set_index("vignette_id").stratum
    assert conflict.to_dict() == {
        "a": "cx_conflict=tertile1",
        "f": "cx_conflict=tertile1",
        "c": "cx_conflict=tertile2",
        "b": "cx_conflict=tertile2",
        "e": "cx_conflict=tertile3",
        "d": "cx_conflict=tertile3",
    }
    assert set(strata[strata.stratum.str.startswith("cx_network")].stratum) == {
        "cx_network=tertile2"
    }
    judgements, _ = _experiment(seed=5, n=6)
    mapping = {"v00": "mine=x", "v01": ["mine=x", "mine=y"]}
    table = agreement_stats(judgements, mapping, n_boot=0, per_rater=False)
    assert set(table.stratum) == {"all", "mine=x", "mine=y"}
    assert (table[(table.stratum == "mine=x") & (table.comparison == "within-panel")].n == 2).all()


def test_by_column_subsets_rows() -> None:
    judgements, _ = _experiment(seed=6)
    first = judgements[(judgements["round"] == 1) & (judgements.rater_kind != "rules")]
    table = agreement(first, by="profession", n_boot=0)
    police = first[first.profession == "police"]
    assert _est(table, "fleiss_kappa", stratum="profession=police") == pytest.approx(
        fleiss_kappa(police)
    )


def test_each_rater_against_the_others_hand_case() -> None:
    """Hand-computed, the data of test_rules_as_rater_hand_case: s0 agrees exactly with s1 on
    3 of 4 vignettes and with s2 on 2 of 4, mean .625; s1: (.75 + .25)/2 = .5; s2: .375.
    Within one level every pair agrees on every vignette. Their mean is the raters_mean .5."""
    levels = {"v1": [1, 1, 2], "v2": [3, 3, 3], "v3": [4, 3, 4], "v4": [2, 2, 1]}
    rows = [(v, f"s{i}", "simulated", lvl) for v, ls in levels.items() for i, lvl in enumerate(ls)]
    rows += [(v, "checklist", "rules", ls[0]) for v, ls in levels.items()]
    judgements = pd.DataFrame(
        rows, columns=["vignette_id", "rater_id", "rater_kind", "need_level"]
    ).assign(round=1)
    table = agreement_stats(judgements, n_boot=0, per_rater=False)
    exact = {r: _est(table, "mean_percent_exact", f"rater:{r}~other-raters") for r in ("s0", "s1", "s2")}
    assert exact == pytest.approx({"s0": 0.625, "s1": 0.5, "s2": 0.375})
    assert _est(table, "mean_percent_within_one", "rater:s2~other-raters") == 1.0
    assert np.mean(list(exact.values())) == pytest.approx(
        _est(table, "raters_mean_percent_exact", "rules:checklist~raters"))
    assert (table[table.comparison == "rater:s0~other-raters"].n == 4).all()


# --------------------------------------------------------------------------- the consensus level

#: A panel of twelve split 6/6 between levels 3 and 4, and one split 3-3-3-3 over levels 1-4.
#: The lower median gives 3 and 2 (the pandas median would give 3.5 and 2.5, and rounding
#: half to even 4 and 2: the two rules this one replaced disagreed on the first).
SPLITS = {"six-six": [3] * 6 + [4] * 6, "three-each": [1, 2, 3, 4] * 3}
CONSENSUS = {"six-six": 3, "three-each": 2}


def _split_judgements(vignette_ids: dict[str, str]) -> pd.DataFrame:
    rows = [(vignette_ids[name], f"r{i:02d}", "simulated", 1, level)
            for name, levels in SPLITS.items() for i, level in enumerate(levels)]
    return pd.DataFrame(rows, columns=["vignette_id", "rater_id", "rater_kind", "round",
                                       "need_level"])


def test_consensus_level_is_the_lower_median() -> None:
    """The public function and the bootstrap kernel agree on both splits."""
    people = _split_judgements({"six-six": "a", "three-each": "b"})
    assert median_level(people).to_dict() == {"a": 3, "b": 2}
    counts = np.array([[[0, 0, 6, 6], [3, 3, 3, 3]]], dtype=float)
    median, _ = K.consensus(counts)
    assert (median[0] + 1).tolist() == [3, 2]
    assert K.median_category(np.array([[0.0, 0, 0, 0]])).tolist() == [-1]


def test_consensus_level_is_the_same_everywhere() -> None:
    """A 6/6 split and a 3-3-3-3 split give the same consensus level in agreement's comparison
    with the panel median, in failures' panel median (and so its divergence), in the learned
    checklists' training target and in their fidelity."""
    from dsk.analysis import checklist_fidelity, failure_points, learn_checklist
    from dsk.catalogue import load_catalogue
    from dsk.rules import ruleset_from_text
    from dsk.sets import load_set

    catalogue = load_catalogue()
    vignettes = load_set("training-12").iloc[:2].reset_index(drop=True)
    ids = dict(zip(SPLITS, vignettes["vignette_id"], strict=True))
    people = _split_judgements(ids)
    expected = {ids[name]: level for name, level in CONSENSUS.items()}

    # agreement: a checklist that gives the lower median agrees on every vignette
    rules = pd.DataFrame({"vignette_id": list(expected), "rater_id": "lower",
                          "rater_kind": "rules", "round": 1, "need_level": list(expected.values())})
    table = agreement_stats(pd.concat([people, rules], ignore_index=True), n_boot=0,
                            per_rater=False)
    assert _est(table, "percent_exact", "rules:lower~panel-median") == 1.0

    # failures: panel median and divergence of a checklist at those levels
    decisions = pd.DataFrame({"vignette_id": list(expected), "ruleset_id": "lower",
                              "need_level": list(expected.values()), "defaulted": False,
                              "conflict": False})
    failures = failure_points(vignettes, decisions, people, catalogue=catalogue)
    assert dict(zip(failures.vignette_id, failures.panel_median, strict=True)) == expected
    assert (failures.divergence == 0).all()

    # learned checklists: the tree's target and the fidelity of a checklist at those levels
    learned = learn_checklist(vignettes, people, max_depth=1, min_samples_leaf=1,
                              catalogue=catalogue)
    levels = {rule["level"] for rule in yaml.safe_load(learned.yaml_text)["rules"]}
    assert levels == set(CONSENSUS.values())
    assert learned.train_accuracy == 1.0
    at_consensus = ruleset_from_text(
        "id: at-consensus\nhit_policy: first\ndefault_level: 2\nrules:\n"
        f"  - id: first\n    when: {_first_differing_factor(vignettes, catalogue)}\n    level: 3\n",
        source="<test>", catalogue=catalogue)
    fidelity = checklist_fidelity(vignettes, people, [at_consensus], catalogue=catalogue)
    overall = fidelity[(fidelity.metric == "exact_with_panel_median") & (fidelity.stratum == "all")]
    assert overall.estimate.tolist() == [1.0]


def _first_differing_factor(vignettes: pd.DataFrame, catalogue: object) -> str:
    """A condition true for the first vignette and false for the second."""
    for factor in catalogue.factor_ids:  # type: ignore[attr-defined]
        a, b = int(vignettes[factor].iloc[0]), int(vignettes[factor].iloc[1])
        if a != b:
            return f"{factor} == {a}"
    raise AssertionError("the two vignettes have the same factors")


# --------------------------------------------------------------------------- errors


def test_errors_name_column_and_value() -> None:
    data = pd.DataFrame({"vignette_id": [1, 1], "rater_id": ["a", "b"], "need_level": [1, 2.5]})
    with pytest.raises(AgreementInputError, match="'need_level'.*integer.*2.5"):
        agreement(data)
    with pytest.raises(AgreementInputError, match="column 'score' missing"):
        agreement(data, rating="score")
    twice = pd.DataFrame({"vignette_id": [1, 1], "rater_id": ["a", "a"], "need_level": [1, 2]})
    with pytest.raises(AgreementInputError, match="rater 'a' rated unit '1' more than once"):
        fleiss_kappa(twice)
    with pytest.raises(AgreementInputError, match="rating 7 is not one of the categories"):
        agreement(
            pd.DataFrame({"vignette_id": [1, 1], "rater_id": ["a", "b"], "need_level": [1, 7]}),
            categories=[1, 2, 3, 4],
        )
    with pytest.raises(AgreementInputError, match="two raters"):
        cohen_kappa(_perfect(m=3))


# --------------------------------------------------------------------------- command line


@pytest.fixture()
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(agree)
    return app


def _run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_cli_reads_any_long_file(cli: typer.Typer, tmp_path: Path, suffix: str) -> None:
    """Ratings on a 1-5 scale under other column names, in each file format."""
    data = pd.read_csv(DATA / "krippendorff_2011_c.csv").dropna()
    data["value"] = data["value"].astype(int)
    path = tmp_path / f"ratings.{suffix}"
    if suffix == "csv":
        data.to_csv(path, index=False)
    elif suffix == "jsonl":
        data.to_json(path, orient="records", lines=True)
    else:
        data.to_parquet(path)
    result = _run(
        cli, path, "--unit", "unit", "--rater", "observer", "--rating", "value", "--levels", "1-5",
        "--bootstrap", "50",
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    validate(table.astype({"n": "int64"}), "stats")
    assert round(_est(table, "krippendorff_alpha_nominal"), 3) == 0.743
    assert table.ci_low.notna().all()


def test_cli_json_by_and_seed(cli: typer.Typer, tmp_path: Path) -> None:
    judgements, _ = _experiment(seed=7)
    path = tmp_path / "j.csv"
    judgements[judgements["round"] == 1].to_csv(path, index=False)
    first = _run(
        cli, path, "--by", "profession", "--bootstrap", "40", "--seed", "3", "--format", "json"
    )
    again = _run(
        cli, path, "--by", "profession", "--bootstrap", "40", "--seed", "3", "--format", "json"
    )
    assert first.exit_code == 0, first.output
    assert first.stdout == again.stdout
    records = json.loads(first.stdout)
    assert {r["stratum"] for r in records} == {
        "all",
        "profession=police",
        "profession=social_worker",
        "profession:social_worker-police",
    }


def test_cli_errors_name_file_and_column(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "vignette_id": ["a", "a", "b"],
            "rater_id": ["x", "y", "x"],
            "need_level": ["1", "high", "2"],
        }
    ).to_csv(path, index=False)
    result = _run(cli, path)
    assert result.exit_code == 1
    assert (
        f"{path}, line 3: column 'need_level': expected an integer rating, got 'high'"
        in result.output
    )
    result = _run(cli, path, "--rating", "level")
    assert result.exit_code == 1 and f"{path}: column 'level' missing" in result.output
    result = _run(cli, tmp_path / "none.csv")
    assert result.exit_code == 1 and "no such file" in result.output
    result = _run(cli, path, "--format", "xml")
    assert result.exit_code == 1 and "--format" in result.output


# Level 4 is never used: two raters on four vignettes, agreeing on 1/1, 2/2, 3/3 and split 2/3.
# Observed agreement pa = 3/4. Category prevalences (each unit's share, averaged over units):
# pi = (1/4, 3/8, 3/8, 0), so sum pi (1 - pi) = 3/16 + 2 * 15/64 = 21/32.
# Gwet (2014, eq. 4.2; irrCAC gwet.ac1.raw): pe = sum pi (1 - pi) / (q - 1), AC1 = (pa - pe) / (1 - pe).
#   q = 4: pe = 7/32, AC1 = (3/4 - 7/32) / (25/32) = 17/25 = 0.68
#   q = 3 (scale shrunk to the levels seen): pe = 21/64, AC1 = (27/64) / (43/64) = 27/43 = 0.6279
# Brennan-Prediger (1981): pe = 1/q; q = 4 gives (3/4 - 1/4) / (3/4) = 2/3, q = 3 gives 5/8.
# AC2 with linear weights w = 1 - |k - l| / (q_max - q_min) (Gwet 2014, ch. 5): the split unit
# scores w(2, 3), so pa = (3 + w23) / 4 and pe = T_w / (q (q - 1)) * sum pi (1 - pi), T_w the sum
# of all weights.
#   q = 4: w23 = 2/3, pa = 11/12, T_w = 28/3, pe = 49/96, AC2 = 39/47 = 0.830
#   q = 3: w23 = 1/2, pa = 7/8,   T_w = 5,    pe = 35/64, AC2 = 21/29 = 0.724
# Fleiss' kappa does not depend on an unused level: 13/21 either way.
UNUSED_FOUR = pd.DataFrame(
    {
        "vignette_id": [1, 1, 2, 2, 3, 3, 4, 4],
        "rater_id": list("abababab"),
        "need_level": [1, 1, 2, 2, 3, 3, 2, 3],
    }
)


def test_unused_end_level_changes_ac1_and_bp_by_hand() -> None:
    four, three = (1, 2, 3, 4), (1, 2, 3)
    assert gwet_ac(UNUSED_FOUR, categories=four) == pytest.approx(17 / 25)
    assert gwet_ac(UNUSED_FOUR, categories=three) == pytest.approx(27 / 43)
    assert gwet_ac(UNUSED_FOUR, weights="linear", categories=four) == pytest.approx(39 / 47)
    assert gwet_ac(UNUSED_FOUR, weights="linear", categories=three) == pytest.approx(21 / 29)
    assert brennan_prediger(UNUSED_FOUR, categories=four) == pytest.approx(2 / 3)
    assert brennan_prediger(UNUSED_FOUR, categories=three) == pytest.approx(5 / 8)
    assert fleiss_kappa(UNUSED_FOUR, categories=four) == pytest.approx(13 / 21)
    assert fleiss_kappa(UNUSED_FOUR, categories=three) == pytest.approx(13 / 21)
    # The Python default, documented: the observed range (here 1-3).
    assert gwet_ac(UNUSED_FOUR) == pytest.approx(27 / 43)
    table = agreement(UNUSED_FOUR, n_boot=0, categories=four)
    assert _est(table, "gwet_ac1") == pytest.approx(17 / 25)
    assert _est(table, "gwet_ac2_linear") == pytest.approx(39 / 47)
    assert _est(table, "brennan_prediger") == pytest.approx(2 / 3)
    assert _est(table, "percent_exact") == pytest.approx(3 / 4)


def test_cli_uses_the_need_scale_not_the_levels_seen(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    UNUSED_FOUR.to_csv(path, index=False)
    default = _run(cli, path, "--bootstrap", "0")
    assert default.exit_code == 0, default.output
    table = pd.read_csv(pd.io.common.StringIO(default.stdout))
    assert _est(table, "gwet_ac1") == pytest.approx(17 / 25)
    assert _est(table, "brennan_prediger") == pytest.approx(2 / 3)
    for spec in ("1-3", "1,2,3", " 3, 1,2 "):
        shrunk = _run(cli, path, "--bootstrap", "0", "--levels", spec)
        assert shrunk.exit_code == 0, shrunk.output
        table = pd.read_csv(pd.io.common.StringIO(shrunk.stdout))
        assert _est(table, "gwet_ac1") == pytest.approx(27 / 43)
        assert _est(table, "brennan_prediger") == pytest.approx(5 / 8)
    wide = _run(cli, path, "--bootstrap", "0", "--levels", "0-4")
    table = pd.read_csv(pd.io.common.StringIO(wide.stdout))
    assert _est(table, "brennan_prediger") == pytest.approx((3 / 4 - 1 / 5) / (4 / 5))


def test_cli_scale_errors(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    UNUSED_FOUR.to_csv(path, index=False)
    for spec, fragment in (("4-1", "the range 4-1 is empty"), ("one-four", "expected a range"),
                           ("3", "two or more levels")):
        result = _run(cli, path, "--levels", spec)
        assert result.exit_code == 1 and fragment in result.output, result.output
    result = _run(cli, path, "--levels", "2-4")
    assert result.exit_code == 1
    assert f"{path}, line 2: column 'need_level': rating 1 is not on the scale 2-4" in result.output
    other = tmp_path / "scores.csv"
    UNUSED_FOUR.rename(columns={"need_level": "score"}).to_csv(other, index=False)
    result = _run(cli, other, "--rating", "score")
    assert result.exit_code == 1
    assert "give the rating scale with --levels" in result.output
    assert "ratings seen run from 1 to 3" in result.output
    assert _run(cli, other, "--rating", "score", "--levels", "1-4", "--bootstrap", "0").exit_code == 0


def test_one_rater_is_an_error(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    one = UNUSED_FOUR[UNUSED_FOUR.rater_id == "a"]
    one.to_csv(path, index=False)
    result = _run(cli, path, "--bootstrap", "0")
    assert result.exit_code == 1
    assert f"{path}: column 'rater_id': agreement needs two or more raters, the file has 1 ('a')" \
        in result.output
    with pytest.raises(AgreementInputError, match="two or more raters, got 1"):
        agreement(one, n_boot=0, categories=(1, 2, 3, 4))


def test_cli_by_a_vignette_column(cli: typer.Typer, tmp_path: Path) -> None:
    path, vignettes = tmp_path / "ratings.csv", tmp_path / "vignettes.jsonl"
    UNUSED_FOUR.assign(vignette_id=lambda d: "v" + d.vignette_id.astype(str)).to_csv(path, index=False)
    pd.DataFrame({"vignette_id": ["v1", "v2", "v3", "v4", "v5"],
                  "complexity_band": ["low", "low", "high", "high", "medium"]}).to_json(
        vignettes, orient="records", lines=True)
    result = _run(cli, path, "--bootstrap", "0", "--by", "complexity_band",
                  "--vignettes", vignettes)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert set(table.stratum) == {"all", "complexity_band=high", "complexity_band=low",
                                  "complexity_band:high-low"}
    assert _est(table, "percent_exact", stratum="complexity_band=low") == 1.0
    assert _est(table, "percent_exact", stratum="complexity_band=high") == 0.5
    # q = 4 within the stratum too: BP = (1/2 - 1/4) / (3/4) = 1/3 on the high vignettes.
    assert _est(table, "brennan_prediger", stratum="complexity_band=high") == pytest.approx(1 / 3)
    assert table[table.stratum == "complexity_band=high"].n.iloc[0] == 2
    missing = _run(cli, path, "--by", "band", "--vignettes", vignettes)
    assert missing.exit_code == 1 and f"{vignettes}: column 'band' missing" in missing.output
    short = tmp_path / "short.csv"
    pd.DataFrame({"vignette_id": ["v1"], "complexity_band": ["low"]}).to_csv(short, index=False)
    unknown = _run(cli, path, "--by", "complexity_band", "--vignettes", short)
    assert unknown.exit_code == 1
    assert f"column 'vignette_id': 'v2', 'v3', 'v4' not in {short}" in unknown.output
    alone = _run(cli, path, "--vignettes", vignettes)
    assert alone.exit_code == 1 and "--vignettes is only used with --by" in alone.output


# --------------------------------------------------------------------------- docstring examples


@pytest.mark.parametrize("name", ["dsk.analysis.coefficients", "dsk.analysis.comparisons",
                                  "dsk.analysis.strata", "dsk.analysis.consensus"])
def test_docstring_examples(name: str) -> None:
    """The examples in the docstrings run and give what they show."""
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_by_group_without_a_shared_case_says_no_overlap() -> None:
    """Two social workers share two cases; the GP and the police officer each rated a case no one
    else rated. Their groups get one ``no_overlap`` row (n = 0), not rows of NaN."""
    data = pd.DataFrame({"vignette_id": ["a", "a", "b", "b", "c", "d"],
                         "rater_id": ["x", "y", "x", "y", "z", "w"],
                         "need_level": [1, 1, 2, 3, 4, 4],
                         "profession": ["sw", "sw", "sw", "sw", "gp", "police"]})
    out = agreement(data, by="profession", n_boot=0)
    gp = out[out["stratum"] == "profession=gp"]
    assert gp[["metric", "estimate", "n"]].values.tolist() == [["no_overlap", 0.0, 0]]
    assert out[out["stratum"] == "profession=police"]["metric"].tolist() == ["no_overlap"]
    sw = out[out["stratum"] == "profession=sw"].set_index("metric")
    assert sw.loc["percent_exact", "estimate"] == pytest.approx(0.5)  # a: 1/1, b: 2/3
    assert not out[out["metric"] != "no_overlap"]["estimate"].isna().any()


# --------------------------------------------------------------------------- bands: spread,
# bootstrap schemes, failed replicates, differences from shared resamples


def test_spread_of_levels_by_hand() -> None:
    """Variance of the levels and share at the modal level, each vignette weighted equally.

    By hand: v1 rated 1, 1 (share at level 1: 1.0), v2 rated 2, 4 (.5 each); mean shares
    level 1: .5, level 2: .25, level 4: .25; mean level .5 + .5 + 1 = 2.0, mean square
    .5 * 1 + .25 * 4 + .25 * 16 = 5.5, variance 5.5 - 4 = 1.5; modal level 1, share .5.
    """
    data = pd.DataFrame({"vignette_id": [1, 1, 2, 2], "rater_id": list("abab"),
                         "need_level": [1, 1, 2, 4]})
    out = agreement(data, n_boot=0, categories=(1, 2, 3, 4))
    assert _est(out, "level_variance") == pytest.approx(1.5)
    assert _est(out, "modal_share") == pytest.approx(0.5)


def _hand_bootstrap(data: pd.DataFrame, multiplicities: np.ndarray) -> np.ndarray:
    """Percent exact agreement on each resample, built by repeating the vignettes."""
    ids = sorted(data.vignette_id.unique())
    out = []
    for row in multiplicities:
        parts = [
            data[data.vignette_id == v].assign(vignette_id=f"{v}#{copy}")
            for v, times in zip(ids, row, strict=True)
            for copy in range(int(times))
        ]
        out.append(percent_agreement(pd.concat(parts)))
    return np.array(out)


def test_fixed_raters_scheme_resamples_vignettes_only() -> None:
    """The fixed-raters interval is the percentile interval of the coefficient on resamples
    of whole vignettes (every rater kept), rebuilt here by repeating vignettes; the two-way
    interval from the same seed draws the same vignettes and also resamples raters."""
    rng = np.random.default_rng(5)
    wide = np.clip(np.rint(rng.uniform(0.6, 4.4, (12, 1)) + rng.normal(0, 0.7, (12, 4))), 1, 4)
    data = _wide_to_long(wide.astype(int))
    data["vignette_id"] = [f"v{i:02d}" for i in data.vignette_id]
    out = agreement(data, n_boot=40, random_state=3, metrics=["percent_exact"],
                    categories=(1, 2, 3, 4), bootstrap_scheme="fixed-raters")
    from dsk.analysis._bootstrap import _rng

    draws = K.multiplicities(_rng(3, "within-raters", "all"), 12, 40)
    low, high = K.interval(_hand_bootstrap(data, draws), 0.95)
    row = out.iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
    two_way = agreement(data, n_boot=40, random_state=3, metrics=["percent_exact"],
                        categories=(1, 2, 3, 4))
    assert (two_way.ci_low.iloc[0], two_way.ci_high.iloc[0]) != pytest.approx((low, high))
    with pytest.raises(AgreementInputError, match="bootstrap scheme: expected one of two-way"):
        agreement(data, n_boot=5, bootstrap_scheme="one-way")


def test_failed_replicates_are_counted() -> None:
    """Two vignettes, each rated unanimously at a different level: a resample that draws one
    vignette twice has every rating at one level, so kappa and alpha are undefined there.
    ``boot_failed`` counts exactly those replicates; percent agreement never fails."""
    data = pd.DataFrame({"vignette_id": [1, 1, 1, 2, 2, 2], "rater_id": list("abcabc"),
                         "need_level": [1, 1, 1, 3, 3, 3]})
    out = agreement(data, n_boot=200, random_state=4, categories=(1, 2, 3, 4),
                    bootstrap_scheme="fixed-raters").set_index("metric")
    from dsk.analysis._bootstrap import _rng

    draws = K.multiplicities(_rng(4, "within-raters", "all"), 2, 200)
    one_vignette = int((draws.min(axis=1) == 0).sum())
    assert 60 < one_vignette < 140  # about half of 200
    assert out.loc["fleiss_kappa", "boot_failed"] == one_vignette
    assert out.loc["krippendorff_alpha_ordinal", "boot_failed"] == one_vignette
    assert out.loc["percent_exact", "boot_failed"] == 0
    assert pd.isna(agreement(data, n_boot=0).set_index("metric").loc["fleiss_kappa", "boot_failed"])


def _two_bands(levels_low: list[list[int]], levels_high: list[list[int]]) -> pd.DataFrame:
    rows = []
    for band, block in (("low", levels_low), ("high", levels_high)):
        for i, levels in enumerate(block):
            rows += [(f"{band}{i}", f"r{j}", lvl, band) for j, lvl in enumerate(levels)]
    return pd.DataFrame(rows, columns=["vignette_id", "rater_id", "need_level", "complexity_band"])


def test_band_difference_is_the_difference_of_the_band_estimates() -> None:
    rng = np.random.default_rng(8)
    low = np.clip(np.rint(rng.uniform(0.6, 4.4, (10, 1)) + rng.normal(0, 0.8, (10, 5))), 1, 4)
    high = np.clip(np.rint(3.6 + rng.normal(0, 0.5, (10, 5))), 1, 4)
    data = _two_bands(low.astype(int).tolist(), high.astype(int).tolist())
    out = agreement(data, by="complexity_band", n_boot=100, random_state=1,
                    categories=(1, 2, 3, 4))
    for metric in ("krippendorff_alpha_ordinal", "percent_exact", "gwet_ac2_quadratic",
                   "level_variance"):
        diff = _est(out, metric, stratum="complexity_band:high-low")
        assert diff == pytest.approx(
            _est(out, metric, stratum="complexity_band=high")
            - _est(out, metric, stratum="complexity_band=low")
        )
    row = out[(out.stratum == "complexity_band:high-low") & (out.metric == "level_variance")]
    assert int(row.n.iloc[0]) == 20 and row.ci_high.iloc[0] < 0  # the spread narrows


def test_band_difference_uses_one_draw_of_raters_for_both_bands() -> None:
    """One vignette per band, the high band a copy of the low band: on each replicate both
    bands see the same raters, so the difference is 0 on every replicate and its interval is
    (0, 0). Drawing the raters separately for each band would give a wide interval (the
    bands' own intervals are wide)."""
    levels = [[1, 1, 2, 2, 3, 4]]
    data = _two_bands(levels, levels)
    out = agreement(data, by="complexity_band", n_boot=200, random_state=2,
                    metrics=["percent_exact"], categories=(1, 2, 3, 4))
    diff = out[out.stratum == "complexity_band:high-low"].iloc[0]
    assert (diff.estimate, diff.ci_low, diff.ci_high) == (0.0, 0.0, 0.0)
    band = out[out.stratum == "complexity_band=low"].iloc[0]
    assert band.ci_high - band.ci_low > 0.3


def test_agreement_stats_band_differences_and_scheme() -> None:
    """agreement_stats adds within-panel differences between bands; fixed raters narrows the
    interval of agreement among practitioners (rater variation no longer enters)."""
    judgements, vignettes = _experiment()
    two = agreement_stats(judgements, vignettes, n_boot=100, random_state=2, per_rater=False)
    fixed = agreement_stats(judgements, vignettes, n_boot=100, random_state=2, per_rater=False,
                            bootstrap_scheme="fixed-raters")
    key = ["metric", "comparison", "stratum"]
    assert (two[key + ["estimate"]].equals(fixed[key + ["estimate"]]))
    diffs = two[two.stratum.str.startswith("complexity_band:")]
    assert set(diffs.comparison) == {"within-panel", "within-panel:round2"}
    width = {name: t.set_index(key).eval("ci_high - ci_low") for name, t in
             (("two", two), ("fixed", fixed))}
    wp = ("krippendorff_alpha_ordinal", "within-panel", "all")
    assert width["fixed"][wp] < width["two"][wp]
    with pytest.raises(AgreementInputError, match="bootstrap scheme"):
        agreement_stats(judgements, vignettes, n_boot=0, bootstrap_scheme="raters")


def test_profession_kappas_only_on_shared_vignettes_with_their_n() -> None:
    """Police rated only the first 10 of 40 vignettes: the kappa between the professions is
    computed on those 10 (n = 10); in a stratum where the police rated nothing, one
    ``no_overlap`` row."""
    judgements, vignettes = _experiment()
    police = judgements.profession == "police"
    late = judgements.vignette_id >= "v10"
    judgements = judgements[~(police & late)]
    out = agreement_stats(judgements[judgements["round"] == 1], {"v20": "late"}, n_boot=0)
    pair = out[out.comparison == "police~social_worker"]
    assert (pair.loc[pair.stratum == "all", "n"] == 10).all()
    assert pair.loc[pair.stratum == "all", "metric"].tolist()[:3] == [
        "percent_exact", "percent_within_one", "group_kappa"]
    assert pair.loc[pair.stratum == "late", ["metric", "n"]].values.tolist() == [["no_overlap", 0]]


def test_cli_bootstrap_scheme(cli: typer.Typer, tmp_path: Path) -> None:
    judgements, _ = _experiment(seed=7)
    path = tmp_path / "j.csv"
    judgements[(judgements["round"] == 1) & (judgements.rater_kind != "rules")].to_csv(path, index=False)
    fixed = _run(cli, path, "--bootstrap", "30", "--bootstrap-scheme", "fixed-raters")
    assert fixed.exit_code == 0, fixed.output
    table = pd.read_csv(pd.io.common.StringIO(fixed.stdout))
    assert "boot_failed" in table.columns and (table.boot_failed == 0).all()
    bad = _run(cli, path, "--bootstrap-scheme", "raters")
    assert bad.exit_code != 0 and "--bootstrap-scheme: expected one of two-way" in bad.output


def test_experiment_option_bootstrap_scheme(tmp_path: Path) -> None:
    """``bootstrap_scheme`` in a config reaches the agreement analysis; a wrong value is a
    config error naming the key and the choices."""
    from dsk.analysis.registry import AnalysisSettings, get_analysis, run_one
    from dsk.catalogue import load_catalogue
    from dsk.experiment import ConfigError, load_config

    judgements, vignettes = _experiment()
    settings = AnalysisSettings(bootstrap=60, bootstrap_scheme="fixed-raters")
    result = run_one(get_analysis("agreement"), {"vignettes": vignettes, "judgements": judgements},
                     rulesets=[], catalogue=load_catalogue(), random_state=2, settings=settings)
    direct = agreement_stats(judgements, complexity_strata(vignettes), n_boot=60, random_state=2,
                             per_rater=False, bootstrap_scheme="fixed-raters")
    assert result.stats is not None
    pd.testing.assert_frame_equal(result.stats.reset_index(drop=True), direct)
    good = tmp_path / "ok.yaml"
    text = ("id: x\nvignettes: {set: training-12}\nrulesets: [threshold-of-need]\n"
            "panels: [{panel: social-workers-8}]\n")
    good.write_text(text + "bootstrap_scheme: fixed-raters\n", encoding="utf-8")
    assert load_config(good).bootstrap_scheme == "fixed-raters"
    assert load_config("quickstart").bootstrap_scheme == "two-way"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "bootstrap_scheme: raters\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bootstrap_scheme") as info:
        load_config(bad)
    assert "fixed-raters" in str(info.value)


def test_difference_between_rater_groups_shares_the_vignette_draw() -> None:
    """``--by profession`` splits raters, not vignettes: the difference row is the difference
    of the two groups' estimates, and with one vignette draw shared by both groups a group
    that is a copy of the other (same ratings, other rater ids) differs by exactly 0 on every
    replicate under fixed raters."""
    rng = np.random.default_rng(3)
    wide = np.clip(np.rint(rng.uniform(0.6, 4.4, (15, 1)) + rng.normal(0, 0.7, (15, 3))), 1, 4)
    one = _wide_to_long(wide.astype(int)).assign(profession="police")
    two = one.assign(rater_id=one.rater_id + 10, profession="teacher")
    out = agreement(pd.concat([one, two]), by="profession", n_boot=100, random_state=5,
                    metrics=["percent_exact", "gwet_ac2_quadratic"], categories=(1, 2, 3, 4),
                    bootstrap_scheme="fixed-raters")
    diff = out[out.stratum == "profession:teacher-police"].set_index("metric")
    assert diff[["estimate", "ci_low", "ci_high"]].abs().to_numpy().max() == 0.0
    assert (diff.n == 15).all()  # the 15 vignettes, each counted once
