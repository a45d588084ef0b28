"""Tests for the cumulative-link (mixed) model, :mod:`dsk.analysis.models`.

References:
- the wine data of Randall (1989), "The analysis of sensory data by generalised linear model",
  Biometrical Journal 31, as distributed with R's ``ordinal`` package (``data/wine.csv``), with
  the values R's ``ordinal::clmm`` and ``clm`` give (Christensen's ``ordinal`` vignettes; the
  adaptive-quadrature values from ``data/wine_agq.R``);
- statsmodels' ``OrderedModel`` for the model without random effects (an independent
  implementation);
- R ``ordinal::clmm`` on a crossed practitioner x vignette design: data made by
  ``data/crossed_clmm.py``, fitted by ``data/crossed_clmm.R``, values stored in
  ``data/crossed_clmm_r.csv``;
- hand-made cases: finite differences of the likelihood, separation, codings, bad input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.miscmodels.ordinal_model import OrderedModel

from dsk.analysis import _clmm
from dsk.analysis.models import TERM_COLUMNS, FormulaError, clmm

DATA = Path(__file__).parent / "data"
CROSSED = ("need_level ~ domestic_abuse + parental_mental_health + substance_misuse + neglect"
           " + prior_referral + child_age + profession + years_experience + position"
           " + (1|rater_id) + (1|vignette_id)")


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return pd.read_csv(DATA / "wine.csv")


@pytest.fixture(scope="module")
def wine_judge(wine: pd.DataFrame):  # noqa: ANN201
    return clmm("rating ~ temp + contact + (1|judge)", wine)


def _est(fit, term: str) -> float:  # noqa: ANN001
    return float(fit.table.set_index("term").loc[term, "estimate"])


def _se(fit, term: str) -> float:  # noqa: ANN001
    return float(fit.table.set_index("term").loc[term, "se"])


# ------------------------------------------------------------------------------ wine, R clmm

def test_wine_judge_equals_r_clmm(wine_judge) -> None:  # noqa: ANN001
    """R: clmm(rating ~ temp + contact + (1|judge), data = wine), Laplace."""
    fit = wine_judge
    thr = fit.coef("threshold")
    np.testing.assert_allclose(thr.to_numpy(), [-1.6237, 1.5134, 4.2285, 6.0888], atol=5e-4)
    assert list(thr.index) == ["1|2", "2|3", "3|4", "4|5"]
    assert _est(fit, "temp[T.warm]") == pytest.approx(3.0630, abs=5e-4)
    assert _est(fit, "contact[T.yes]") == pytest.approx(1.8349, abs=5e-4)
    assert _se(fit, "temp[T.warm]") == pytest.approx(0.5954, abs=5e-4)
    assert _se(fit, "contact[T.yes]") == pytest.approx(0.5125, abs=5e-4)
    assert _est(fit, "judge") == pytest.approx(1.1311, abs=5e-4)
    assert fit.loglik == pytest.approx(-81.5654, abs=5e-4)
    assert fit.aic == pytest.approx(2 * 81.5654 + 2 * 7, abs=1e-3)
    assert fit.n_obs == 72 and fit.n_groups == {"judge": 9}
    assert fit.converged and fit.warnings == []
    assert fit.max_gradient < 1e-6
    assert 1 < fit.condition_number < 1e4


def test_wine_table_columns_and_derived_values(wine_judge) -> None:  # noqa: ANN001
    t = wine_judge.table.set_index("term")
    assert tuple(wine_judge.table.columns) == TERM_COLUMNS
    assert list(t["kind"]) == ["threshold"] * 4 + ["fixed"] * 2 + ["sd"]
    row = t.loc["temp[T.warm]"]
    assert row["odds_ratio"] == pytest.approx(np.exp(3.0630), rel=1e-3)
    assert row["z"] == pytest.approx(3.0630 / 0.5954, abs=5e-3)
    assert row["ci_low"] == pytest.approx(3.0630 - 1.959964 * 0.5954, abs=2e-3)
    assert row["p"] == pytest.approx(2.68e-7, rel=0.05)  # R summary: 2.68e-07
    sd = t.loc["judge"]
    assert np.isnan(sd["z"]) and np.isnan(sd["odds_ratio"])
    assert sd["ci_low"] < 1.1311 < sd["ci_high"]


def test_wine_two_random_terms_bottle_variance_zero(wine: pd.DataFrame, wine_judge) -> None:  # noqa: ANN001
    """R: clmm(rating ~ temp + contact + (1|judge) + (1|bottle)): bottle variance ~0, the rest unchanged."""
    fit = clmm("rating ~ temp + contact + (1|judge) + (1|bottle)", wine)
    assert _est(fit, "bottle") < 1e-3
    for term in ["1|2", "2|3", "3|4", "4|5", "temp[T.warm]", "contact[T.yes]", "judge"]:
        assert _est(fit, term) == pytest.approx(_est(wine_judge, term), abs=5e-4)
        assert _se(fit, term) == pytest.approx(_se(wine_judge, term), abs=5e-4)
    assert fit.loglik == pytest.approx(-81.5654, abs=5e-4)
    assert fit.n_groups == {"judge": 9, "bottle": 8}
    assert any("(1|bottle)" in w and "singular" in w for w in fit.warnings)


def test_wine_adaptive_gauss_hermite_equals_r_clmm_nagq10(wine: pd.DataFrame) -> None:
    """R: clmm(rating ~ temp + contact + (1|judge), data = wine, nAGQ = 10) (data/wine_agq.R)."""
    fit = clmm("rating ~ temp + contact + (1|judge)", wine, nagq=10)
    np.testing.assert_allclose(fit.coef("threshold").to_numpy(),
                               [-1.623487, 1.512796, 4.227053, 6.086152], atol=5e-4)
    assert _est(fit, "temp[T.warm]") == pytest.approx(3.061891, abs=5e-4)
    assert _se(fit, "temp[T.warm]") == pytest.approx(0.5950763, abs=5e-4)
    assert _est(fit, "contact[T.yes]") == pytest.approx(1.833433, abs=5e-4)
    assert _se(fit, "contact[T.yes]") == pytest.approx(0.5121712, abs=5e-4)
    assert _est(fit, "judge") == pytest.approx(1.134783, abs=5e-4)
    assert fit.loglik == pytest.approx(-81.53246, abs=5e-4)
    # one node is the Laplace approximation
    assert clmm("rating ~ temp + contact + (1|judge)", wine, nagq=1).loglik == pytest.approx(-81.5654, abs=5e-4)
    with pytest.raises(FormulaError, match="exactly one random term"):
        clmm("rating ~ temp + (1|judge) + (1|bottle)", wine, nagq=5)


def test_wine_fixed_only_equals_r_clm(wine: pd.DataFrame) -> None:
    """R: clm(rating ~ temp + contact, data = wine)."""
    fit = clmm("rating ~ temp + contact", wine)
    assert _est(fit, "temp[T.warm]") == pytest.approx(2.503, abs=5e-4)
    assert _se(fit, "temp[T.warm]") == pytest.approx(0.529, abs=5e-4)
    assert _est(fit, "contact[T.yes]") == pytest.approx(1.528, abs=5e-4)
    assert _se(fit, "contact[T.yes]") == pytest.approx(0.477, abs=5e-4)
    assert fit.loglik == pytest.approx(-86.49, abs=5e-3)
    assert fit.n_groups == {} and not (fit.table["kind"] == "sd").any()


def test_fixed_only_equals_statsmodels_ordered_model(wine: pd.DataFrame) -> None:
    """An independent implementation: statsmodels' OrderedModel (logit), with an interaction and a number."""
    data = wine.assign(warm=(wine["temp"] == "warm").astype(float),
                       yes=(wine["contact"] == "yes").astype(float))
    fit = clmm("rating ~ warm * yes + judge", data)
    exog = data[["warm", "yes"]].assign(**{"warm:yes": data["warm"] * data["yes"]},
                                        judge=data["judge"])
    sm = OrderedModel(data["rating"], exog, distr="logit").fit(method="bfgs", disp=False,
                                                               maxiter=2000, gtol=1e-8)
    for term in ["warm", "yes", "warm:yes", "judge"]:
        assert _est(fit, term) == pytest.approx(sm.params[term], abs=1e-3)
        assert _se(fit, term) == pytest.approx(sm.bse[term], rel=1e-3)
    cuts = sm.model.transform_threshold_params(sm.params)[1:-1]
    np.testing.assert_allclose(fit.coef("threshold").to_numpy(), cuts, atol=1e-3)
    assert fit.loglik == pytest.approx(sm.llf, abs=1e-6)


# ------------------------------------------------------------------- crossed design, R clmm

@pytest.fixture(scope="module")
def r_crossed() -> pd.DataFrame:
    return pd.read_csv(DATA / "crossed_clmm_r.csv", dtype={"data": str})


def _r_names(term: str) -> str:
    """formulaic's column names in R's spelling (child_age[T.5-11] -> child_age5-11)."""
    return term.replace("[T.", "").replace("]", "")


@pytest.mark.parametrize("n", ["1152", "288"])
def test_crossed_equals_r_clmm(n: str, r_crossed: pd.DataFrame) -> None:
    """R clmm on 24 raters x 48 vignettes (and a 12-per-rater subset), 11 fixed effects, two
    crossed random intercepts; the reference is R's fit with years and position divided by 10
    (it converges; the default-controls fit stops short on 1,152, see crossed_clmm.R)."""
    data = pd.read_csv(DATA / f"crossed_clmm_{n}.csv")
    fit = clmm(CROSSED, data)
    ref = r_crossed[(r_crossed["data"] == n) & (r_crossed["fit"] == "scaled")].set_index("term")
    mine = fit.table.assign(term=fit.table["term"].map(_r_names)).set_index("term")
    params = ref[ref["kind"] != "fit"]
    assert sorted(params.index) == sorted(mine.index)
    for term, row in params.iterrows():
        assert mine.loc[term, "estimate"] == pytest.approx(row["estimate"], abs=1e-3), term
        if row["kind"] != "sd":
            # SEs: R differences its own gradient at its own stopping point; 0.5% covers both
            assert mine.loc[term, "se"] == pytest.approx(row["se"], rel=5e-3), term
    assert fit.loglik == pytest.approx(ref.loc["logLik", "estimate"], abs=1e-3)
    assert fit.n_obs == int(n) and fit.n_groups == {"rater_id": 24, "vignette_id": 48}
    assert fit.converged and fit.warnings == []
    # at least as good as R's default-controls fit
    default = r_crossed[(r_crossed["data"] == n) & (r_crossed["fit"] == "default")].set_index("term")
    assert fit.loglik >= default.loc["logLik", "estimate"] - 1e-6


# ------------------------------------------------------------------------- the numerics

def test_laplace_gradient_equals_finite_differences(wine: pd.DataFrame) -> None:
    """The analytic gradient of the Laplace log-likelihood against central differences."""
    y = wine["rating"].to_numpy() - 1
    X = np.column_stack([(wine["temp"] == "warm"), (wine["contact"] == "yes")]).astype(float)
    d = _clmm.Design(y, 5, X, [wine["judge"].to_numpy() - 1, wine["bottle"].to_numpy() - 1], [9, 8])
    z = np.array([-1.5, 1.4, 4.0, 6.0, 3.0, 1.8, 1.1, 0.3])

    def f(z: np.ndarray) -> float:
        return _clmm.Laplace(d).value_grad(z[:4], z[4:6], z[6:])[0]

    _, gt, gb, gs = _clmm.Laplace(d).value_grad(z[:4], z[4:6], z[6:])
    num = np.array([(f(z + e) - f(z - e)) / 2e-6 for e in np.eye(len(z)) * 1e-6])
    np.testing.assert_allclose(np.concatenate([gt, gb, gs]), num, atol=1e-6)


def test_adaptive_gauss_hermite_gradient_equals_finite_differences(wine: pd.DataFrame) -> None:
    y = wine["rating"].to_numpy() - 1
    X = np.column_stack([(wine["temp"] == "warm"), (wine["contact"] == "yes")]).astype(float)
    d = _clmm.Design(y, 5, X, [wine["judge"].to_numpy() - 1], [9])
    z = np.array([-1.5, 1.4, 4.0, 6.0, 3.0, 1.8, 1.1])

    def f(z: np.ndarray) -> float:
        return _clmm.AdaptiveGH(d, 7).value_grad(z[:4], z[4:6], z[6:])[0]

    _, gt, gb, gs = _clmm.AdaptiveGH(d, 7).value_grad(z[:4], z[4:6], z[6:])
    num = np.array([(f(z + e) - f(z - e)) / 2e-6 for e in np.eye(len(z)) * 1e-6])
    np.testing.assert_allclose(np.concatenate([gt, gb, gs]), num, atol=1e-6)


def test_one_group_per_observation_is_not_a_problem_but_a_constant_response_is() -> None:
    df = pd.DataFrame({"y": [2] * 6, "x": range(6)})
    with pytest.raises(FormulaError, match="only one level"):
        clmm("y ~ x", df)


# ------------------------------------------------------------------------------ separation

def test_separation_is_detected_and_named() -> None:
    """x = 1 only ever with the top level: the coefficient of x runs to +inf (hand-made)."""
    df = pd.DataFrame({"y": [1, 1, 2, 2, 3, 3, 1, 2, 3, 2, 3, 3],
                       "x": [0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1],
                       "z": [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]})
    fit = clmm("y ~ x + z", df)
    assert "x" in fit.separated and "z" not in fit.separated
    assert _est(fit, "x") == np.inf and np.isnan(_se(fit, "x"))
    assert np.isfinite(_est(fit, "z")) and np.isfinite(_se(fit, "z"))
    assert any("separation" in w and "x" in w for w in fit.warnings)
    assert not fit.converged


def test_deterministic_checklist_levels_are_separated() -> None:
    """A checklist's level as a function of two factors: every term is separated."""
    grid = pd.DataFrame([(a, b) for a in (0, 1) for b in (0, 1)] * 5, columns=["a", "b"])
    grid["level"] = 1 + grid["a"] + grid["b"]
    fit = clmm("level ~ a + b", grid)
    assert set(fit.separated) >= {"a", "b"}
    assert fit.coef()["a"] == np.inf and fit.coef()["b"] == np.inf


def test_no_separation_on_overlapping_data(wine: pd.DataFrame) -> None:
    assert clmm("rating ~ temp + contact", wine).separated == []


# ---------------------------------------------------------------------------------- codings

def test_reference_level_and_numeric_coding(wine: pd.DataFrame) -> None:
    base = clmm("rating ~ temp + contact", wine)
    flipped = clmm("rating ~ C(temp, contr.treatment(base='warm')) + contact", wine)
    term = "C(temp, contr.treatment(base='warm'))[T.cold]"
    assert _est(flipped, term) == pytest.approx(-_est(base, "temp[T.warm]"), abs=1e-5)
    assert flipped.loglik == pytest.approx(base.loglik, abs=1e-8)
    # judge as levels (8 columns) versus as a number (one)
    assert (clmm("rating ~ C(judge)", wine).table["kind"] == "fixed").sum() == 8
    assert (clmm("rating ~ judge", wine).table["kind"] == "fixed").sum() == 1


def test_interaction_forms_agree(wine: pd.DataFrame) -> None:
    star = clmm("rating ~ temp * contact", wine)
    colon = clmm("rating ~ temp + contact + temp:contact", wine)
    assert star.loglik == pytest.approx(colon.loglik, abs=1e-8)
    assert "temp[T.warm]:contact[T.yes]" in set(star.table["term"])


def test_aliased_column_is_dropped_with_a_warning(wine: pd.DataFrame) -> None:
    data = wine.assign(warm=(wine["temp"] == "warm").astype(int))
    fit = clmm("rating ~ temp + warm + contact", data)
    assert "warm" not in set(fit.table["term"])
    assert any("aliased" in w and "warm" in w for w in fit.warnings)


def test_ordered_categorical_response_keeps_its_order(wine: pd.DataFrame) -> None:
    labels = pd.Categorical(wine["rating"].map({1: "e", 2: "d", 3: "c", 4: "b", 5: "a"}),
                            categories=["e", "d", "c", "b", "a"], ordered=True)
    fit = clmm("rating ~ temp + contact", wine.assign(rating=labels))
    assert list(fit.coef("threshold").index) == ["e|d", "d|c", "c|b", "b|a"]
    assert _est(fit, "temp[T.warm]") == pytest.approx(2.503, abs=5e-4)


def test_column_names_in_backticks(wine: pd.DataFrame, wine_judge) -> None:  # noqa: ANN001
    """Any column name works, quoted with backticks; the fit is the same."""
    data = wine.rename(columns={"rating": "the rating", "temp": "serving temp", "judge": "judge id"})
    fit = clmm("`the rating` ~ `serving temp` + contact + (1|`judge id`)", data)
    assert fit.loglik == pytest.approx(wine_judge.loglik, abs=1e-8)
    assert fit.n_groups == {"judge id": 9}
    assert _est(fit, "judge id") == pytest.approx(_est(wine_judge, "judge"), abs=1e-6)


# ------------------------------------------------------------------------------- bad input

def test_bad_input_names_every_problem_at_once() -> None:
    df = pd.DataFrame({"y": ["low", "high", "low"], "x": [1.0, None, 2.0], "g": ["a", "a", "a"]})
    with pytest.raises(FormulaError) as err:
        clmm("y ~ x + nosuch + (1|g) + (1|absent)", df)
    msg = str(err.value)
    for part in ["'nosuch'", "'absent'", "'x' has 1 missing", "'y' is not ordinal-coded", "'g' has only one level"]:
        assert part in msg, part
    assert len(err.value.problems) == 4  # the two unknown columns are one sentence


def test_bad_formulas() -> None:
    df = pd.DataFrame({"y": [1, 2, 1, 2], "x": [0, 1, 1, 0], "g": [1, 1, 2, 2]})
    with pytest.raises(FormulaError, match="exactly one '~'"):
        clmm("y x", df)
    with pytest.raises(FormulaError, match="only random intercepts"):
        clmm("y ~ x + (x|g)", df)
    with pytest.raises(FormulaError, match="non-integer"):
        clmm("y ~ x", df.assign(y=[1.5, 2, 1, 2]))


# ------------------------------------------------------- block factorisation = dense Cholesky

def _crossed_design(n_vignettes: int, n_raters: int, extra: int, seed: int) -> _clmm.Design:
    """A complete vignette x rater design with one covariate, four levels and random
    intercepts for vignette, rater and (``extra`` > 0) a third crossed factor of that size."""
    rng = np.random.default_rng(seed)
    v = np.repeat(np.arange(n_vignettes), n_raters)
    r = np.tile(np.arange(n_raters), n_vignettes)
    x = rng.normal(size=len(v))
    eta = 0.5 * x + rng.normal(0, 1.0, n_vignettes)[v] + rng.normal(0, 0.5, n_raters)[r]
    groups, levels = [r, v], [n_raters, n_vignettes]
    if extra:
        team = rng.integers(0, extra, len(v))
        eta += rng.normal(0, 0.3, extra)[team]
        groups, levels = [r, v, team], [n_raters, n_vignettes, extra]
    y = np.digitize(eta + rng.logistic(size=len(v)), [-1.0, 0.5, 2.0])
    return _clmm.Design(y, 4, x[:, None], groups, levels)


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_block_factorisation_gives_the_dense_likelihood_and_gradient(terms: int) -> None:
    """The Laplace likelihood and its gradient from the block (Schur complement) factorisation
    of the random-effects Hessian equal those from a dense Cholesky, with one, two and three
    crossed random-intercept terms (the largest term, vignettes, is the diagonal block)."""
    d = _crossed_design(150, 8, 5 if terms == 3 else 0, seed=4)
    if terms == 1:
        d = _clmm.Design(d.y, d.n_cat, d.X, [d.groups[1]], [d.n_levels[1]])
    theta, beta, sd = np.array([-1.1, 0.4, 1.9]), np.array([0.45]), np.array([0.6, 1.1, 0.3][:terms])
    block = _clmm.Laplace(d).value_grad(theta, beta, sd)
    dense = _clmm.Laplace(d, dense=True).value_grad(theta, beta, sd)
    assert block[0] == pytest.approx(dense[0], rel=1e-12)
    for got, want in zip(block[1:], dense[1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-9)


def test_block_factorisation_fit_equals_the_dense_fit() -> None:
    """A mid-size crossed fit (3,000 judgements, 250 vignettes x 12 raters): the block path
    reaches the dense path's estimates, log-likelihood and Hessian."""
    d = _crossed_design(250, 12, 0, seed=5)
    block, dense = _clmm.fit(d), _clmm.fit(d, dense=True)
    assert block.loglik == pytest.approx(dense.loglik, rel=1e-12)
    for name in ("theta", "beta", "sd"):
        np.testing.assert_allclose(getattr(block, name), getattr(dense, name), rtol=1e-8, atol=1e-10)
    assert block.hessian is not None and dense.hessian is not None
    np.testing.assert_allclose(block.hessian, dense.hessian, rtol=1e-6)
