"""Variance components and reliability (dsk.analysis.variance).

Reference values:

- lme4 1.1-31 ``lmer(..., REML = TRUE)`` on the data sets in ``data/``, printed by
  ``data/variance_lme4.R`` (run it there with ``Rscript variance_lme4.R`` to regenerate);
- Shrout and Fleiss (1979), "Intraclass correlations: uses in assessing rater reliability",
  Psychological Bulletin 86(2), 420-428, Table 2 (6 targets x 4 judges) and the ICCs they
  publish for it: ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71, ICC(1,4) .44, ICC(2,4) .62,
  ICC(3,4) .91, from the mean squares of their Table 3 (BMS 11.24, WMS 6.26, JMS 32.49,
  EMS 1.02), which the test computes by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsk.analysis.registry import AnalysisSettings, get_analysis, run_one
from dsk.analysis.variance import VarianceComponents, VarianceInputError, variance_components

DATA = Path(__file__).parent / "data"

#: Shrout and Fleiss (1979), Table 2: rows are targets, columns judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
                          [6, 2, 4, 7]], dtype=float)


def _long(matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame([{"vignette_id": f"t{i}", "rater_id": f"j{j}", "need_level": value}
                         for i, row in enumerate(matrix) for j, value in enumerate(row)])


def _mean_squares(y: np.ndarray) -> dict[str, float]:
    """Shrout and Fleiss (1979), Table 1: the one-way and two-way ANOVA mean squares of an
    n targets x k judges table (BMS between targets, WMS within targets, JMS between judges,
    EMS residual)."""
    n, k = y.shape
    grand = y.mean()
    ss_targets = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_judges = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((y - grand) ** 2).sum()
    return {
        "BMS": ss_targets / (n - 1),
        "WMS": (ss_total - ss_targets) / (n * (k - 1)),
        "JMS": ss_judges / (k - 1),
        "EMS": (ss_total - ss_targets - ss_judges) / ((n - 1) * (k - 1)),
    }


def test_shrout_fleiss_mean_squares_and_published_iccs() -> None:
    """The hand-computed mean squares give Shrout and Fleiss's Table 3 and their six ICCs
    (their eqs. for ICC(1,1), (2,1), (3,1), (1,k), (2,k), (3,k))."""
    ms = _mean_squares(SHROUT_FLEISS)
    assert {key: round(v, 2) for key, v in ms.items()} == {"BMS": 11.24, "WMS": 6.26, "JMS": 32.49,
                                                           "EMS": 1.02}
    n, k = SHROUT_FLEISS.shape
    b, w, j, e = ms["BMS"], ms["WMS"], ms["JMS"], ms["EMS"]
    icc = {
        "1,1": (b - w) / (b + (k - 1) * w),
        "2,1": (b - e) / (b + (k - 1) * e + k * (j - e) / n),
        "3,1": (b - e) / (b + (k - 1) * e),
        "1,k": (b - w) / b,
        "2,k": (b - e) / (b + (j - e) / n),
        "3,k": (b - e) / b,
    }
    assert {key: round(v, 2) for key, v in icc.items()} == {
        "1,1": 0.17, "2,1": 0.29, "3,1": 0.71, "1,k": 0.44, "2,k": 0.62, "3,k": 0.91}


def test_complete_design_equals_shrout_fleiss_anova_forms() -> None:
    """On a complete design REML equals the two-way ANOVA estimates, so ICC(A,1) is
    ICC(2,1) .29, ICC(C,1) is ICC(3,1) .71, and the k = 4 dependability and G coefficient are
    ICC(2,4) .62 and ICC(3,4) .91."""
    ms = _mean_squares(SHROUT_FLEISS)
    n, k = SHROUT_FLEISS.shape
    b, j, e = ms["BMS"], ms["JMS"], ms["EMS"]
    fit = variance_components(_long(SHROUT_FLEISS))
    assert fit.vignette == pytest.approx((b - e) / k, rel=1e-6)
    assert fit.practitioner == pytest.approx((j - e) / n, rel=1e-6)
    assert fit.residual == pytest.approx(e, rel=1e-6)
    assert fit.icc_a1 == pytest.approx((b - e) / (b + (k - 1) * e + k * (j - e) / n), abs=1e-7)
    assert fit.icc_c1 == pytest.approx((b - e) / (b + (k - 1) * e), abs=1e-7)
    assert round(fit.icc_a1, 2) == 0.29 and round(fit.icc_c1, 2) == 0.71
    four = fit.dependability([4]).iloc[0]
    assert four["phi"] == pytest.approx((b - e) / (b + (j - e) / n), abs=1e-7)
    assert four["g"] == pytest.approx((b - e) / b, abs=1e-7)
    assert (round(four["phi"], 2), round(four["g"], 2)) == (0.62, 0.91)
    # lme4 (data/variance_lme4.R, "Shrout-Fleiss"): the same fit, REML criterion 91.27866712
    assert fit.reml_criterion == pytest.approx(91.27866712, abs=1e-6)
    assert fit.fixed["estimate"].tolist() == pytest.approx([5.291666667], abs=1e-8)


@pytest.mark.parametrize("seed", range(6))
def test_complete_designs_equal_the_anova_estimates(seed: int) -> None:
    """On random complete designs (5-12 vignettes x 3-8 raters) REML equals the two-way ANOVA
    (method of moments) estimates whenever those are positive (Searle, Casella and McCulloch
    1992, balanced data)."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(5, 13)), int(rng.integers(3, 9))
    y = rng.normal(0, 1.0, (n, 1)) + rng.normal(0, 1.0, (1, k)) + rng.normal(0, 0.6, (n, k))
    ms = _mean_squares(y)
    anova = ((ms["BMS"] - ms["EMS"]) / k, (ms["JMS"] - ms["EMS"]) / n, ms["EMS"])
    assert min(anova) > 0
    fit = variance_components(_long(y))
    assert (fit.vignette, fit.practitioner, fit.residual) == pytest.approx(anova, rel=1e-5)


def test_incomplete_deck_design_equals_lme4() -> None:
    """data/variance_deck.csv (40 vignettes, 24 practitioners, decks of 16): lme4's
    ``lmer(need_level ~ 1 + (1|rater_id) + (1|vignette_id), REML = TRUE)``."""
    data = pd.read_csv(DATA / "variance_deck.csv")
    fit = variance_components(data)
    assert (fit.n_obs, fit.n_vignettes, fit.n_raters) == (384, 40, 24)
    assert fit.vignette == pytest.approx(0.5700771618, abs=1e-6)
    assert fit.practitioner == pytest.approx(0.1033631469, abs=1e-6)
    assert fit.residual == pytest.approx(0.3514599897, abs=1e-6)
    assert fit.reml_criterion == pytest.approx(839.4463434, abs=1e-5)
    assert fit.fixed["estimate"].tolist() == pytest.approx([2.55006722], abs=1e-6)
    assert not fit.singular and fit.converged
    total = 0.5700771618 + 0.1033631469 + 0.3514599897
    table = fit.table()
    assert table["component"].tolist() == ["vignette", "practitioner", "residual"]
    assert table["share"].tolist() == pytest.approx(
        [0.5700771618 / total, 0.1033631469 / total, 0.3514599897 / total], abs=1e-6)
    assert fit.icc_a1 == pytest.approx(0.5700771618 / total, abs=1e-6)
    dep = fit.dependability()
    assert dep["k"].tolist() == list(range(1, 11))
    k = np.arange(1, 11)
    expected = 0.5700771618 / (0.5700771618 + (0.1033631469 + 0.3514599897) / k)
    assert dep["phi"].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert dep["g"].to_numpy() == pytest.approx(0.5700771618 / (0.5700771618 + 0.3514599897 / k),
                                                abs=1e-6)


def test_fixed_covariates_equal_lme4() -> None:
    """The same data with ``position + profession`` (treatment contrasts, health the
    reference), as lme4 fits them."""
    data = pd.read_csv(DATA / "variance_deck.csv")
    fit = variance_components(data, covariates=["position", "profession"])
    assert fit.vignette == pytest.approx(0.5738474223, abs=1e-6)
    assert fit.practitioner == pytest.approx(0.1010882043, abs=1e-6)
    assert fit.residual == pytest.approx(0.3490206205, abs=1e-6)
    assert fit.reml_criterion == pytest.approx(845.6740123, abs=1e-5)
    assert fit.fixed["term"].tolist() == ["(Intercept)", "position", "profession=police",
                                          "profession=social_work"]
    assert fit.fixed["estimate"].tolist() == pytest.approx(
        [2.589597319, 0.01175205133, -0.2799666964, -0.1355756621], abs=1e-6)


def test_boundary_fit_has_a_zero_rater_variance_as_lme4() -> None:
    """data/variance_singular.csv: lme4 reports a singular fit with rater variance 0."""
    fit = variance_components(pd.read_csv(DATA / "variance_singular.csv"))
    assert fit.practitioner == 0.0 and fit.singular
    assert fit.vignette == pytest.approx(0.1712883595, abs=1e-6)
    assert fit.residual == pytest.approx(0.3835272358, abs=1e-6)
    assert fit.reml_criterion == pytest.approx(137.2529092, abs=1e-5)
    assert fit.icc_a1 == pytest.approx(fit.icc_c1)  # no rater variance: agreement = consistency


def _deck(n_raters: int, n_vignettes: int, deck: int, seed: int) -> pd.DataFrame:
    """Simulated deck design: every rater sees ``deck`` vignettes at random, with a covariate."""
    rng = np.random.default_rng(seed)
    r = np.repeat(np.arange(n_raters), deck)
    v = np.concatenate([rng.choice(n_vignettes, deck, replace=False) for _ in range(n_raters)])
    position = np.tile(np.arange(deck), n_raters)
    y = np.rint(2.5 + rng.normal(0, 0.8, n_vignettes)[v] + rng.normal(0, 0.4, n_raters)[r]
                + 0.01 * position + rng.normal(0, 0.6, len(r)))
    return pd.DataFrame({"vignette_id": [f"v{i:04d}" for i in v], "rater_id": [f"p{i:03d}" for i in r],
                         "position": position, "need_level": y})


@pytest.mark.parametrize(("n_raters", "n_vignettes", "deck"), [(10, 200, 200), (40, 250, 50), (200, 40, 10)])
def test_block_factorisation_equals_the_dense_cholesky(n_raters: int, n_vignettes: int, deck: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The REML criterion from the block (Schur complement) factorisation of
    Lambda Z'Z Lambda + I equals the one from its dense Cholesky on mid-size data (2,000
    judgements; more vignettes than raters, and more raters than vignettes), as do its
    gradient (also checked against central differences) and the whole fit."""
    from dsk.analysis import variance

    data = _deck(n_raters, n_vignettes, deck, seed=n_raters)
    v_codes, v_levels = pd.factorize(data["vignette_id"], sort=True)
    r_codes, r_levels = pd.factorize(data["rater_id"], sort=True)
    X = np.column_stack([np.ones(len(data)), data["position"]])
    s = variance._cross_products(v_codes, r_codes, len(v_levels), len(r_levels), X,
                                 data["need_level"].to_numpy(dtype=float))
    for theta in ([1.3, 0.6], [0.0, 0.8], [0.7, 0.0], [2.5, 1.5]):
        block = variance._profile(np.array(theta), s, gradient=True)
        dense = variance._profile(np.array(theta), s, dense=True, gradient=True)
        assert block[0] == pytest.approx(dense[0], rel=1e-12)
        assert block[1] == pytest.approx(dense[1], rel=1e-10)
        assert block[2] == pytest.approx(dense[2], rel=1e-10)
        assert block[3] == pytest.approx(dense[3], rel=1e-9, abs=1e-9)
        # the analytic gradient against central differences of the criterion
        for i in range(2):
            up, down = np.array(theta), np.array(theta)
            up[i] += 1e-5
            down[i] -= 1e-5
            numeric = (variance._profile(up, s)[0] - variance._profile(down, s)[0]) / 2e-5
            assert block[3][i] == pytest.approx(numeric, rel=1e-5, abs=1e-5)
    fit = variance_components(data, covariates=["position"])
    monkeypatch.setattr(variance, "_BlockA", variance._DenseA)
    ref = variance_components(data, covariates=["position"])
    assert (fit.vignette, fit.practitioner, fit.residual) == pytest.approx(
        (ref.vignette, ref.practitioner, ref.residual), rel=1e-8)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, rel=1e-12)
    assert fit.fixed["estimate"].tolist() == pytest.approx(ref.fixed["estimate"].tolist(), rel=1e-8)


def test_dependability_hand_computed() -> None:
    """var_v 2, var_r 1, var_e 1: phi(k) = 2 / (2 + 2/k), g(k) = 2 / (2 + 1/k)."""
    fit = VarianceComponents(2.0, 1.0, 1.0, pd.DataFrame(), 0, 0, 0, 0.0, False, True)
    table = fit.dependability([1, 2, 5])
    assert table["phi"].tolist() == pytest.approx([0.5, 2 / 3, 2 / 2.4])
    assert table["g"].tolist() == pytest.approx([2 / 3, 0.8, 2 / 2.2])
    assert fit.icc_a1 == 0.5 and fit.icc_c1 == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least 1"):
        fit.dependability([0])


def test_constant_ratings_have_no_shares() -> None:
    """Every practitioner gives every case the same level: the variances are 0 and the shares,
    ICCs and dependabilities undefined, not made up from rounding noise."""
    data = pd.DataFrame({"vignette_id": list("aabbcc"), "rater_id": list("xyxyxy"), "need_level": 2})
    fit = variance_components(data)
    assert (fit.vignette, fit.practitioner, fit.residual) == (0.0, 0.0, 0.0)
    assert fit.table()["share"].isna().all() and np.isnan(fit.icc_a1)
    assert fit.dependability()[["phi", "g"]].isna().all().all()
    assert fit.fixed["estimate"].tolist() == pytest.approx([2.0])


def test_bad_input_lists_every_problem() -> None:
    data = pd.DataFrame({"vignette_id": ["a", "b"], "rater_id": ["x", "x"], "need_level": [1, 2]})
    with pytest.raises(VarianceInputError, match="'rater_id': the model needs two or more raters, got 1"):
        variance_components(data)
    with pytest.raises(VarianceInputError, match=r"judgements.csv: column\(s\) 'grade', 'site' missing"):
        variance_components(data, rating="grade", covariates=["site"], source="judgements.csv")
    bad = pd.DataFrame({"vignette_id": ["a", None, "c"], "rater_id": ["x", "y", "z"],
                        "need_level": [1, "high", 2]})
    with pytest.raises(VarianceInputError) as info:
        variance_components(bad)
    assert "expected numeric ratings, got 'high' at row 1" in str(info.value)
    assert "column 'vignette_id': missing value at row 1" in str(info.value)
    constant = pd.read_csv(DATA / "variance_deck.csv").assign(site=1)
    with pytest.raises(VarianceInputError, match="covariates site: the fixed effects are collinear"):
        variance_components(constant, covariates=["site"])


def test_registered_analysis_writes_both_tables() -> None:
    """The ``variance`` analysis fits the practitioners' round-1 levels (rules rows left out)."""
    from dsk.catalogue import load_catalogue

    deck = pd.read_csv(DATA / "variance_deck.csv")
    people = deck.assign(rater_kind="human", round=1)
    rules = pd.DataFrame({"vignette_id": sorted(deck["vignette_id"].unique()), "rater_id": "checklist",
                          "rater_kind": "rules", "round": 1, "need_level": 4})
    second = people.assign(round=2, need_level=1)  # a second round must not enter the fit
    judgements = pd.concat([people, rules, second], ignore_index=True)
    result = run_one(get_analysis("variance"), {"judgements": judgements}, rulesets=[],
                     catalogue=load_catalogue(), settings=AnalysisSettings())
    components = result.tables["variance_components"]
    assert components["variance"].tolist() == pytest.approx([0.5700771618, 0.1033631469, 0.3514599897],
                                                            abs=1e-6)
    assert result.tables["dependability"]["k"].tolist() == list(range(1, 11))
