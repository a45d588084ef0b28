"""Cumulative-link (proportional-odds) models of ordinal levels, with crossed random intercepts.

:func:`clmm` fits ``logit P(Y <= j) = theta_j - (x'beta + b_rater + b_vignette + ...)`` by
maximum likelihood, integrating the random intercepts out with the Laplace approximation as
R's ``ordinal::clmm`` does; with no ``(1|g)`` term it is the plain proportional-odds model
(R's ``ordinal::clm``, statsmodels' ``OrderedModel``). A positive coefficient means higher
levels.

Library choice: no Python library fits this model by maximum likelihood with crossed random
effects (statsmodels' ``OrderedModel`` has no random effects, Bambi fits by MCMC), so the
fitting is our own, on scipy (see :mod:`dsk.analysis._clmm`; adaptive Gauss-Hermite quadrature
is available with one random term): an inner Newton iteration for
the conditional modes with a block Cholesky of the random-effects Hessian, an outer
quasi-Newton search with the exact gradient of the Laplace log-likelihood (thresholds kept
ordered by a log-increment parametrisation, SDs bounded at 0), Newton polishing, and
standard errors from the Hessian obtained by differencing that gradient. It reproduces R's
``clmm`` on the wine data of Randall (1989) and on a crossed practitioner x vignette design
(tests/analysis/test_models.py). The formula is lme4-style and its fixed part is built by
formulaic (see :mod:`dsk.analysis._formula` for codings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from dsk.analysis import _clmm
from dsk.analysis._formula import FormulaError, model_frame, parse_formula

__all__ = ["DEFAULT_COVARIATES", "DEFAULT_FACTORS", "TERM_COLUMNS", "FormulaError", "ModelResult", "ModelSpec",
           "clmm", "run_models"]

#: Columns of :attr:`ModelResult.table`.
TERM_COLUMNS = ("term", "kind", "estimate", "odds_ratio", "se", "z", "p", "ci_low", "ci_high")

_SINGULAR_SD = 1e-4


@dataclass
class ModelResult:
    """A fitted cumulative-link model.

    Attributes
    ----------
    formula : the formula as given.
    table : one row per threshold, fixed effect and random-effect SD (:data:`TERM_COLUMNS`).
        Estimates are log-odds; ``odds_ratio`` is ``exp(estimate)`` for fixed effects. An SD row
        is named by its grouping column; its CI is a Wald interval on the log scale and it has no
        z or p (a test of SD = 0 on the boundary is not a Wald test).
    loglik, aic : the (Laplace) log-likelihood at the optimum and ``-2 loglik + 2 k``.
    n_obs : number of observations; n_groups : groups per random term.
    converged : the optimiser stopped at a point where the gradient is ~0.
    max_gradient : largest |gradient| of the log-likelihood at the optimum (free parameters).
    condition_number : of the Hessian of the log-likelihood (free parameters).
    warnings : plain sentences: singular fit, separation, dropped columns, non-convergence.
    separated : the terms (thresholds or fixed effects) whose estimates run off to infinity.
    """

    formula: str
    table: pd.DataFrame
    loglik: float
    aic: float
    n_obs: int
    n_groups: dict[str, int]
    converged: bool
    max_gradient: float
    condition_number: float
    warnings: list[str] = field(default_factory=list)
    separated: list[str] = field(default_factory=list)
    levels: list[Any] = field(default_factory=list)
    n_iter: int = 0

    def coef(self, kind: str = "fixed") -> pd.Series:
        """Estimates of one kind (``threshold``, ``fixed`` or ``sd``), indexed by term."""
        t = self.table[self.table["kind"] == kind]
        return pd.Series(t["estimate"].to_numpy(), index=t["term"].to_numpy(), name="estimate")

    def fit_summary(self) -> dict[str, Any]:
        """The fit as one flat record (loglik, aic, n_obs, groups, converged, warnings, ...)."""
        return {
            "formula": self.formula,
            "loglik": self.loglik,
            "aic": self.aic,
            "n_obs": self.n_obs,
            "groups": ", ".join(f"{g}: {n}" for g, n in self.n_groups.items()),
            "converged": self.converged,
            "max_gradient": self.max_gradient,
            "condition_number": self.condition_number,
            "warnings": " | ".join(self.warnings),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the fit summary, the groups and the table's rows."""
        rows = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                 for k, v in r.items()} for r in self.table.to_dict(orient="records")]
        fit = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in self.fit_summary().items()}
        fit["groups"] = dict(self.n_groups)
        fit["warnings"] = list(self.warnings)
        fit["separated"] = list(self.separated)
        return {"fit": fit, "terms": rows}


def clmm(formula: str, data: pd.DataFrame, *, nagq: int = 1, check_separation: bool = True) -> ModelResult:
    """Fit a proportional-odds logit model with optional crossed random intercepts.

    Parameters
    ----------
    formula : lme4-style, e.g. ``"need_level ~ domestic_abuse + profession + position +
        (1|rater_id) + (1|vignette_id)"``. The response must be integer-coded levels or an
        ordered categorical. Text columns enter as treatment-coded levels (reference: the first
        in sorted order, or ``C(x, contr.treatment(base='b'))``); numeric columns enter as
        numbers unless wrapped in ``C()``; ``a:b`` and ``a*b`` give interactions. Zero, one or
        more ``(1|g)`` terms.
    data : long format, one row per observation, with the formula's columns.
    nagq : 1 for the Laplace approximation (the default, as in R's ``clmm``); more, with exactly
        one random term, for adaptive Gauss-Hermite quadrature on that many nodes (``nAGQ``),
        which is more accurate when groups are small.
    check_separation : test the fixed part for (quasi-)complete separation by linear
        programming and report it in ``warnings`` (the affected estimates are shown as
        +/-inf rather than as large finite numbers).

    Returns
    -------
    ModelResult

    Raises
    ------
    FormulaError
        For an unreadable formula, unknown columns, missing values, a response that is not
        ordinal-coded or a grouping column with one level; every problem in one message.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1, 1, 2, 2, 3, 3, 1, 2, 3, 2, 3, 3],
    ...                    "x": [0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1]})
    >>> fit = clmm("y ~ x", df)
    >>> round(fit.loglik, 3), fit.table["term"].tolist()
    (-11.983, ['1|2', '2|3', 'x'])
    """
    parsed = parse_formula(formula)
    if nagq < 1 or (nagq > 1 and len(parsed.groups) != 1):
        raise FormulaError([f"nagq={nagq}: adaptive Gauss-Hermite quadrature needs a whole number of "
                            "nodes >= 1 and, above 1, exactly one random term (1|g)"])
    mf = model_frame(parsed, data)
    design = _clmm.Design(mf.y, len(mf.levels), mf.X, mf.groups, [len(g) for g in mf.group_levels])
    warnings: list[str] = []
    if mf.dropped:
        warnings.append("dropped column(s) aliased with the others (the design is rank deficient): "
                        + ", ".join(mf.dropped))
    sep, sign = (_clmm.separation(design) if check_separation else (False, np.zeros(0, int)))
    raw = _clmm.fit(design, nagq=nagq)

    m = design.n_cat - 1
    thr_names = [f"{mf.levels[j]}|{mf.levels[j + 1]}" for j in range(m)]
    names = thr_names + mf.columns + list(parsed.groups)
    kinds = ["threshold"] * m + ["fixed"] * design.p + ["sd"] * design.K
    est = np.concatenate([raw.theta, raw.beta, raw.sd])
    se = np.full(len(est), np.nan)
    separated: list[str] = []
    sep_mask = np.zeros(len(est), dtype=bool)
    if sep:
        sep_mask[: m + design.p] = sign[: m + design.p] != 0
    # standard errors from the Hessian on the free parameters; with separation, on those the
    # separation leaves finite (their estimates are then conditional on the rest)
    cond = float("nan")
    free_idx = np.flatnonzero(raw.free)
    keep = ~sep_mask[free_idx]
    if raw.hessian is not None and keep.any():
        hess = raw.hessian[np.ix_(keep, keep)]
        eig = np.linalg.eigvalsh(hess)
        cond = float(eig.max() / eig.min()) if eig.min() > 0 else float("inf")
        if eig.min() <= 0:
            warnings.append("the Hessian of the log-likelihood is not positive definite at the "
                            "optimum (singular fit): standard errors are not available")
        else:
            se[free_idx[keep]] = np.sqrt(np.maximum(np.diag(np.linalg.inv(hess)), 0.0))
    if sep:
        for j in np.flatnonzero(sep_mask):
            separated.append(names[j])
            est[j] = {1: np.inf, -1: -np.inf}.get(int(sign[j]), np.nan)
        warnings.append(
            "(quasi-)complete separation: the levels are predicted exactly along some combination "
            "of the terms, so maximum-likelihood estimates do not exist for "
            + ", ".join(separated)
            + " (shown as +/-inf, or NaN where either direction fits); the other estimates are "
            "conditional on that and their intervals are approximate")
    for k, g in enumerate(parsed.groups):
        if raw.sd[k] < _SINGULAR_SD:
            warnings.append(f"the SD of the random intercept (1|{g}) is estimated at ~0 (singular "
                            f"fit): no variation between {g} groups beyond the rest of the model; "
                            "the term can be dropped")
    if not raw.converged:
        warnings.append(f"the optimiser did not converge (max |gradient| "
                        f"{np.max(np.abs(raw.grad[raw.free]), initial=0):.2g}): "
                        f"{raw.message}")

    table = _table(names, kinds, est, se)
    k_par = len(est)
    gfree = np.abs(raw.grad[raw.free])
    return ModelResult(
        formula=formula, table=table, loglik=float(raw.loglik), aic=float(-2 * raw.loglik + 2 * k_par),
        n_obs=int(design.n), n_groups={g: len(lv) for g, lv in zip(parsed.groups, mf.group_levels, strict=True)},
        converged=bool(raw.converged and not sep), max_gradient=float(np.max(gfree, initial=0.0)),
        condition_number=cond, warnings=warnings, separated=separated, levels=list(mf.levels),
        n_iter=raw.n_iter)


def _table(names: list[str], kinds: list[str], est: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    zcrit = float(norm.ppf(0.975))
    rows = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, kind, e, s in zip(names, kinds, est, se, strict=True):
            if kind == "sd":
                lo = hi = np.nan
                if e > 0 and np.isfinite(s):
                    lo, hi = e * math.exp(-zcrit * s / e), e * math.exp(zcrit * s / e)
                rows.append((name, kind, e, np.nan, s, np.nan, np.nan, lo, hi))
                continue
            z = e / s if np.isfinite(s) and s > 0 else np.nan
            p = float(2 * norm.sf(abs(z))) if np.isfinite(z) else np.nan
            odds = float(np.exp(e)) if kind == "fixed" else np.nan
            rows.append((name, kind, e, odds, s, z, p, e - zcrit * s, e + zcrit * s))
    return pd.DataFrame(rows, columns=list(TERM_COLUMNS)).astype(
        {c: float for c in TERM_COLUMNS[2:]})


# ------------------------------------------------------------- the models of an experiment run

#: Default vignette factors of an experiment's models: the "toxic trio" and the count of concerns.
DEFAULT_FACTORS = ("domestic_abuse", "parental_mental_health", "parental_substance_misuse", "n_concerns")
#: Default practitioner covariates (used when the judgements carry them).
DEFAULT_COVARIATES = ("profession", "position")


@dataclass(frozen=True)
class ModelSpec:
    """What an experiment's models contain (the config's ``models`` option).

    factors : vignette columns (catalogue factors or derived features).
    coding : ``numeric`` (a factor's level 0, 1, 2, ... as a number: one slope) or ``levels``
        (treatment-coded levels, level 0 the reference).
    interactions : products of two or more factors, written ``a:b``.
    covariates : practitioner columns of the judgements (``profession``, ``position``,
        ``years_experience``, ``site``), each used when present, complete and not constant.
    """

    factors: tuple[str, ...] = DEFAULT_FACTORS
    coding: str = "numeric"
    interactions: tuple[str, ...] = ()
    covariates: tuple[str, ...] = DEFAULT_COVARIATES


def _usable(frame: pd.DataFrame, col: str) -> bool:
    return col in frame.columns and not frame[col].isna().any() and frame[col].nunique() > 1


def _fixed_terms(spec: ModelSpec) -> list[str]:
    wrap = (lambda f: f"C({f})") if spec.coding == "levels" else (lambda f: f)
    terms = [wrap(f) for f in spec.factors]
    terms += [":".join(wrap(p.strip()) for p in inter.split(":")) for inter in spec.interactions]
    return terms


def run_models(vignettes: pd.DataFrame, judgements: pd.DataFrame,
               spec: ModelSpec = ModelSpec()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The practitioners' CLMM and each checklist's fixed-effects model, as two long tables.

    The practitioners' first-round levels are modelled on the spec's factors, the practitioner
    covariates the judgements carry and crossed random intercepts for practitioner and vignette;
    each checklist's levels (judgements with ``rater_kind`` ``rules``, one per vignette) on the
    same factors, without random effects or practitioner terms. A model that cannot be fitted
    (a checklist giving one level throughout, say) gets a ``model_fit`` row saying why and no
    terms.

    Returns
    -------
    (model_terms, model_fit)
        ``model_terms``: ``model`` (``practitioners`` or the ruleset id) and the columns of
        :data:`TERM_COLUMNS`; ``model_fit``: model, formula, loglik, aic, n_obs, groups,
        converged, warnings, max_gradient, condition_number.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 24, 3, cat, narratives=False)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> terms, fits = run_models(v, j, ModelSpec(factors=("domestic_abuse", "n_concerns")))
    >>> fits[["model", "n_obs", "groups"]].to_dict("records")
    [{'model': 'practitioners', 'n_obs': 288, 'groups': 'rater_id: 12, vignette_id: 24'}]
    >>> sorted(set(terms["kind"]))
    ['fixed', 'sd', 'threshold']
    """
    unknown = [f for f in spec.factors if f not in vignettes.columns]
    if unknown:
        raise ValueError(f"models: factor(s) {', '.join(map(repr, unknown))} are not columns of the "
                         "vignettes (use catalogue factors or derived features such as n_concerns)")
    for inter in spec.interactions:
        parts = [p.strip() for p in inter.split(":")]
        if len(parts) < 2 or any(p not in spec.factors for p in parts):
            raise ValueError(f"models: interaction {inter!r} must join two or more of the factors "
                             f"({', '.join(spec.factors)}) with ':'")
    fixed = _fixed_terms(spec)
    factor_table = vignettes[["vignette_id", *spec.factors]]
    fits: list[dict[str, Any]] = []
    terms: list[pd.DataFrame] = []

    def add(name: str, formula: str, data: pd.DataFrame) -> None:
        try:
            result = clmm(formula, data)
        except FormulaError as exc:
            fits.append({"model": name, "formula": formula, "loglik": np.nan, "aic": np.nan,
                         "n_obs": len(data), "groups": "", "converged": False,
                         "warnings": "not fitted: " + "; ".join(exc.problems),
                         "max_gradient": np.nan, "condition_number": np.nan})
            return
        summary = result.fit_summary()
        fits.append({k: summary[k] for k in ("loglik", "aic", "n_obs", "groups", "converged",
                                              "warnings", "max_gradient", "condition_number")}
                    | {"model": name, "formula": formula})
        terms.append(result.table.assign(model=name))

    rules = judgements["rater_kind"] == "rules"
    first = judgements["round"] == 1 if "round" in judgements.columns else True
    people = judgements[~rules & first].merge(factor_table, on="vignette_id", how="left")
    people = people.reset_index(drop=True)
    if not people.empty:
        covariates = [c for c in spec.covariates if _usable(people, c)]
        groups = [f"(1|{g})" for g in ("rater_id", "vignette_id") if people[g].nunique() > 1]
        add("practitioners", "need_level ~ " + " + ".join([*fixed, *covariates, *groups]), people)
    checklist_rows = judgements[rules & first].merge(factor_table, on="vignette_id", how="left")
    for rid, own in checklist_rows.groupby("rater_id", sort=True):
        add(str(rid), "need_level ~ " + " + ".join(fixed), own.reset_index(drop=True))
    fit_cols = ["model", "formula", "loglik", "aic", "n_obs", "groups", "converged", "warnings",
                "max_gradient", "condition_number"]
    fit_table = pd.DataFrame(fits, columns=fit_cols).astype(
        {"n_obs": "int64", "converged": bool, "loglik": float, "aic": float,
         "max_gradient": float, "condition_number": float})
    term_cols = ["model", *TERM_COLUMNS]
    term_table = (pd.concat(terms, ignore_index=True)[term_cols] if terms
                  else pd.DataFrame({c: pd.Series(dtype=float if c in TERM_COLUMNS[2:] else object)
                                     for c in term_cols}))
    return term_table, fit_table
