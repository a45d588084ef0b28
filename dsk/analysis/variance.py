"""Variance components and reliability of a panel's levels: who or what moves a level.

A linear mixed model with crossed random intercepts for the vignette and the
practitioner, fitted by restricted maximum likelihood (REML)::

    y = X beta + b_vignette + b_rater + e,
    b_vignette ~ N(0, var_v), b_rater ~ N(0, var_r), e ~ N(0, var_e)

(``y ~ 1 + (1|rater) + (1|vignette)`` in lme4's notation, optionally with fixed
covariates in ``X``). It splits the variance of a level into the part that
belongs to the case (vignette), the part that belongs to who judged it
(practitioner severity) and the rest (residual: this practitioner on this
case). From the three components:

- ICC(A,1) = var_v / (var_v + var_r + var_e): absolute agreement of a single
  practitioner, with vignettes as the *targets* and practitioners as random
  *judges*; McGraw and Wong's (1996) ICC(A,1), Shrout and Fleiss's (1979)
  ICC(2,1) (two-way random effects, single rater);
- ICC(C,1) = var_v / (var_v + var_e): consistency (practitioners' own
  severity ignored); McGraw and Wong's ICC(C,1), Shrout and Fleiss's ICC(3,1);
- the dependability (phi) of the mean of k practitioners,
  var_v / (var_v + (var_r + var_e) / k) (ICC(A,k), Shrout-Fleiss ICC(2,k)),
  the reliability of an absolute decision (a level) made by k practitioners
  in generalizability theory (Brennan 2001), and beside it the
  generalizability coefficient var_v / (var_v + var_e / k) (ICC(C,k),
  Shrout-Fleiss ICC(3,k)) for relative decisions (ranking the cases) when
  every case is judged by the same k practitioners.

On a complete design (every practitioner on every vignette) the REML
estimates equal the two-way ANOVA estimates whenever those are not negative,
so the ICCs are the published ANOVA forms; the model also works on
incomplete, deck designs where each practitioner sees only some vignettes,
where the ANOVA formulas do not apply.

Why our own REML: statsmodels' ``MixedLM`` fits crossed effects only as
variance components within one group holding every row. Near the boundary
(a variance of 0, common with few practitioners) it stops with convergence
warnings short of lme4's estimates: on the tests' singular data set it gives a
rater variance of 1.6e-5 and a vignette variance of 0.1702 where lme4 gives 0
and 0.1713. It is also slower (``python -m benchmarks variance``). Two crossed
random intercepts have a profiled REML criterion in two parameters, so this
module writes it the way lme4 does (Bates, Maechler, Bolker and Walker 2015,
section 3): a Cholesky factor of the q x q penalised cross-product (q the
number of vignettes plus practitioners, built from counts without forming the
n x q design) and a bounded two-parameter minimisation (scipy's L-BFGS-B with
the exact gradient, polished by Newton steps), which reaches lme4's
``lmer(..., REML = TRUE)`` estimates to about 1e-7 and puts a variance of
exactly 0 on the boundary. Each rating belongs to one vignette and one
practitioner, so the cross-product is diagonal within each factor; it is
factorised in blocks, the larger factor's diagonal block eliminated and the
Schur complement (of the smaller factor's size: tens of practitioners) given a
dense Cholesky, which makes each evaluation linear in the number of vignettes
(thousands take a fraction of a second). The log-determinant, the solves and
the gradient's traces all come from that factorisation. The tests compare it
with stored lme4 values, with Shrout and Fleiss (1979) and with a dense
Cholesky of the whole matrix.

Examples
--------
>>> import pandas as pd
>>> from dsk.analysis.variance import variance_components
>>> scores = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
>>> data = pd.DataFrame([{"vignette_id": f"t{i}", "rater_id": f"j{j}", "need_level": s}
...                      for i, row in enumerate(scores) for j, s in enumerate(row)])
>>> fit = variance_components(data)
>>> round(fit.icc_a1, 2), round(fit.icc_c1, 2)  # Shrout and Fleiss (1979): ICC(2,1), ICC(3,1)
(0.29, 0.71)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize

__all__ = ["VarianceComponents", "VarianceInputError", "variance_components"]

#: The components of the table, in order.
COMPONENTS = ("vignette", "practitioner", "residual")


class VarianceInputError(ValueError):
    """Data the variance model cannot use; the message lists every problem found."""


@dataclass(frozen=True)
class VarianceComponents:
    """A fitted crossed random-intercepts model (REML).

    Attributes
    ----------
    vignette, practitioner, residual : the variance components (var_v, var_r, var_e).
    fixed : the fixed effects: ``term``, ``estimate`` (the intercept first).
    n_obs, n_vignettes, n_raters : the numbers of ratings, vignettes and practitioners.
    reml_criterion : minus twice the restricted log-likelihood at the optimum (lme4's
        "REML criterion at convergence").
    singular : True when a random-effect variance is estimated as 0 (a boundary fit).
    converged : whether the REML criterion is flat at the optimum (a central-difference
        gradient below 1e-3 off the boundary).
    """

    vignette: float
    practitioner: float
    residual: float
    fixed: pd.DataFrame
    n_obs: int
    n_vignettes: int
    n_raters: int
    reml_criterion: float
    singular: bool
    converged: bool

    @property
    def total(self) -> float:
        """The total variance of one rating, var_v + var_r + var_e."""
        return self.vignette + self.practitioner + self.residual

    @property
    def icc_a1(self) -> float:
        """ICC(A,1), absolute agreement of one practitioner (Shrout-Fleiss ICC(2,1))."""
        return self.vignette / self.total if self.total > 0 else float("nan")

    @property
    def icc_c1(self) -> float:
        """ICC(C,1), consistency of one practitioner (Shrout-Fleiss ICC(3,1))."""
        denom = self.vignette + self.residual
        return self.vignette / denom if denom > 0 else float("nan")

    def table(self) -> pd.DataFrame:
        """The components as a table: ``component``, ``variance``, ``share`` of the total.

        Examples
        --------
        >>> import pandas as pd
        >>> data = pd.DataFrame({"vignette_id": list("aabbcc"), "rater_id": list("xyxyxy"),
        ...                      "need_level": [1, 2, 2, 3, 4, 4]})
        >>> variance_components(data).table()["component"].tolist()
        ['vignette', 'practitioner', 'residual']
        """
        values = [self.vignette, self.practitioner, self.residual]
        total = sum(values)
        return pd.DataFrame({
            "component": list(COMPONENTS),
            "variance": values,
            "share": [v / total if total > 0 else np.nan for v in values],
        })

    def dependability(self, ks: Iterable[int] = range(1, 11)) -> pd.DataFrame:
        """Reliability of the mean of k practitioners: ``k``, ``phi``, ``g``.

        ``phi`` is the dependability var_v / (var_v + (var_r + var_e) / k)
        (ICC(A,k)), for absolute decisions; ``g`` the generalizability
        coefficient var_v / (var_v + var_e / k) (ICC(C,k)), for ranking cases
        all judged by the same k practitioners.

        Examples
        --------
        >>> fit = VarianceComponents(1.0, 0.5, 0.5, pd.DataFrame(), 0, 0, 0, 0.0, False, True)
        >>> fit.dependability([1, 2]).round(3).values.tolist()
        [[1.0, 0.5, 0.667], [2.0, 0.667, 0.8]]
        """
        k = np.asarray(list(ks), dtype=np.int64)
        if (k < 1).any():
            raise ValueError(f"ks: every k must be at least 1, got {k.tolist()}")
        v, r, e = self.vignette, self.practitioner, self.residual
        with np.errstate(invalid="ignore", divide="ignore"):
            phi = v / (v + (r + e) / k)
            g = v / (v + e / k)
        return pd.DataFrame({"k": k, "phi": phi.astype(float), "g": g.astype(float)})


# --------------------------------------------------------------------------- input


def _design(data: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The fixed-effects matrix: intercept, numeric columns as they are, others as treatment
    dummies against their first level in sorted order (R's default contrasts)."""
    parts = [np.ones((len(data), 1))]
    names = ["(Intercept)"]
    for col in covariates:
        values = data[col]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            levels = sorted(values.astype(str).unique())
            for level in levels[1:]:
                parts.append((values.astype(str) == level).to_numpy(dtype=float)[:, None])
                names.append(f"{col}={level}")
        else:
            parts.append(values.to_numpy(dtype=float)[:, None])
            names.append(col)
    return np.hstack(parts), names


def _prepare(data: pd.DataFrame, unit: str, rater: str, rating: str, covariates: Sequence[str],
             source: str | None) -> pd.DataFrame:
    where = f"{source}: " if source else ""
    if not isinstance(data, pd.DataFrame):
        raise VarianceInputError(f"{where}expected a pandas DataFrame, got {type(data).__name__}")
    problems: list[str] = []
    wanted = [unit, rater, rating, *covariates]
    missing = [c for c in wanted if c not in data.columns]
    if missing:
        problems.append(f"column(s) {', '.join(map(repr, missing))} missing; the columns are "
                        f"{', '.join(map(str, data.columns))}")
    if not problems:
        rows = data.loc[data[rating].notna(), wanted]
        numeric = pd.to_numeric(rows[rating], errors="coerce")
        if numeric.isna().any():
            pos = int(np.flatnonzero(numeric.isna().to_numpy())[0])
            problems.append(f"column {rating!r}: expected numeric ratings, got "
                            f"{rows[rating].iloc[pos]!r} at row {rows.index[pos]}")
        for col in (unit, rater, *covariates):
            if rows[col].isna().any():
                pos = int(np.flatnonzero(rows[col].isna().to_numpy())[0])
                problems.append(f"column {col!r}: missing value at row {rows.index[pos]}")
        if not problems:
            rows = rows.assign(**{rating: numeric.astype(float)})
            n_units, n_raters = rows[unit].nunique(), rows[rater].nunique()
            if n_units < 2:
                problems.append(f"column {unit!r}: the model needs two or more vignettes, got {n_units}")
            if n_raters < 2:
                problems.append(f"column {rater!r}: the model needs two or more raters, got {n_raters}")
    if problems:
        raise VarianceInputError(where + "; ".join(problems))
    return rows


# --------------------------------------------------------------------------- REML


@dataclass(frozen=True)
class _Stats:
    """Cross-products of the model matrices; everything the profiled criterion needs.

    Z'Z is held by its pieces: the counts of each vignette and rater (its diagonal) and the
    vignette x rater incidence (its off-diagonal block).
    """

    count_v: np.ndarray  # ratings per vignette (n_v)
    count_r: np.ndarray  # ratings per rater (n_r)
    incidence: np.ndarray  # ratings per vignette x rater (n_v x n_r)
    zx: np.ndarray  # Z'X (q x p)
    zy: np.ndarray  # Z'y (q)
    xx: np.ndarray  # X'X (p x p)
    xy: np.ndarray  # X'y (p)
    yy: float
    n_v: int
    n: int
    p: int

    def zz(self) -> np.ndarray:
        """Z'Z as a dense q x q matrix (the dense path)."""
        n_v, n_r = self.n_v, len(self.count_r)
        zz = np.zeros((n_v + n_r, n_v + n_r))
        zz[np.arange(n_v), np.arange(n_v)] = self.count_v
        zz[n_v + np.arange(n_r), n_v + np.arange(n_r)] = self.count_r
        zz[:n_v, n_v:] = self.incidence
        zz[n_v:, :n_v] = self.incidence.T
        return zz


def _cross_products(v_codes: np.ndarray, r_codes: np.ndarray, n_v: int, n_r: int, X: np.ndarray,
                    y: np.ndarray) -> _Stats:
    """Z'Z, Z'X, Z'y from the codes (Z, the indicators of vignette and rater, is never built)."""
    q = n_v + n_r
    incidence = np.bincount(v_codes * n_r + r_codes, minlength=n_v * n_r).reshape(n_v, n_r)
    zx = np.zeros((q, X.shape[1]))
    np.add.at(zx, v_codes, X)
    np.add.at(zx, n_v + r_codes, X)
    zy = np.bincount(v_codes, weights=y, minlength=n_v)
    zy = np.concatenate([zy, np.bincount(r_codes, weights=y, minlength=n_r)])
    return _Stats(np.bincount(v_codes, minlength=n_v).astype(float),
                  np.bincount(r_codes, minlength=n_r).astype(float), incidence.astype(float),
                  zx, zy, X.T @ X, X.T @ y, float(y @ y), n_v, len(y), X.shape[1])


class _DenseA:
    """A = Lambda Z'Z Lambda + I = L L' by a dense Cholesky (the reference path)."""

    def __init__(self, theta: np.ndarray, s: _Stats) -> None:
        self.lam = np.concatenate([np.full(s.n_v, theta[0]), np.full(len(s.zy) - s.n_v, theta[1])])
        self.zz = s.zz()
        A = self.lam[:, None] * self.zz * self.lam[None, :]
        A[np.diag_indices_from(A)] += 1.0
        self.L = linalg.cholesky(A, lower=True)
        self.logdet = 2.0 * float(np.log(np.diag(self.L)).sum())

    def half_solve(self, b: np.ndarray) -> np.ndarray:
        """L^-1 b."""
        return np.asarray(linalg.solve_triangular(self.L, b, lower=True))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^-1 b."""
        return np.asarray(linalg.cho_solve((self.L, True), b))

    def trace_terms(self) -> np.ndarray:
        """The diagonal of A^-1 Lambda Z'Z."""
        inv = linalg.cho_solve((self.L, True), np.eye(len(self.lam)))
        return np.asarray(((inv * self.lam[None, :]) * self.zz).sum(axis=1))


class _BlockA:
    """The same as :class:`_DenseA` from a block Cholesky factorisation.

    With the larger factor's block first, A = [[D, C], [C', B]] with D and B diagonal (each
    rating belongs to one vignette and one rater) and C the scaled incidence. Its Cholesky
    factor is [[D^1/2, 0], [C' D^-1/2, L_S]] with L_S L_S' = S = B - C' D^-1 C, the Schur
    complement, a dense matrix of the smaller factor's size: the work is linear in the
    larger factor. ``half_solve`` gives its rows in the order of that factor (the norms and
    inner products the criterion takes do not depend on the order); ``solve`` and
    ``trace_terms`` are in the order of the groups.
    """

    def __init__(self, theta: np.ndarray, s: _Stats) -> None:
        n_v, n_r = s.n_v, len(s.count_r)
        self.first = n_v >= n_r  # the vignettes are the larger factor
        if self.first:
            self.big, self.small, C = slice(0, n_v), slice(n_v, None), s.incidence
            t_big, t_small, c_big, c_small = theta[0], theta[1], s.count_v, s.count_r
        else:
            self.big, self.small, C = slice(n_v, None), slice(0, n_v), s.incidence.T
            t_big, t_small, c_big, c_small = theta[1], theta[0], s.count_r, s.count_v
        self.C, self.t_big, self.t_small, self.c_big, self.c_small = C, t_big, t_small, c_big, c_small
        self.d = t_big * t_big * c_big + 1.0
        self.Cs = (t_big * t_small) * C  # the scaled off-diagonal block
        self.E = self.Cs / self.d[:, None]
        S = (t_small * t_small) * np.diag(c_small) - self.Cs.T @ self.E
        S[np.diag_indices_from(S)] += 1.0
        self.Ls = linalg.cholesky(S, lower=True)
        self.logdet = float(np.log(self.d).sum()) + 2.0 * float(np.log(np.diag(self.Ls)).sum())

    def half_solve(self, b: np.ndarray) -> np.ndarray:
        """L^-1 b, rows in the block order."""
        b1, b2 = b[self.big], b[self.small]
        x1 = b1 / (np.sqrt(self.d)[:, None] if b.ndim == 2 else np.sqrt(self.d))
        x2 = linalg.solve_triangular(self.Ls, b2 - self.E.T @ b1, lower=True)
        return np.concatenate([x1, x2])

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A^-1 b."""
        b1, b2 = b[self.big], b[self.small]
        x2 = linalg.cho_solve((self.Ls, True), b2 - self.E.T @ b1)
        x1 = (b1 - self.Cs @ x2) / (self.d[:, None] if b.ndim == 2 else self.d)
        out = np.empty(b.shape)
        out[self.big], out[self.small] = x1, x2
        return out

    def trace_terms(self) -> np.ndarray:
        """The diagonal of A^-1 Lambda Z'Z, from the blocks of A^-1: S^-1, -E S^-1 and the
        diagonal of D^-1 + E S^-1 E' (Z'Z is diagonal but for the incidence block)."""
        sinv = linalg.cho_solve((self.Ls, True), np.eye(self.Ls.shape[0]))
        h12 = -self.E @ sinv
        diag11 = 1.0 / self.d - (h12 * self.E).sum(axis=1)
        out = np.empty(len(self.d) + len(self.c_small))
        out[self.big] = diag11 * self.t_big * self.c_big + self.t_small * (h12 * self.C).sum(axis=1)
        out[self.small] = self.t_big * (h12 * self.C).sum(axis=0) + self.t_small * np.diag(sinv) * self.c_small
        return out


def _zz_times(s: _Stats, v: np.ndarray) -> np.ndarray:
    """Z'Z v from the counts and the incidence."""
    n_v = s.n_v
    top = s.count_v[:, None] * v[:n_v] if v.ndim == 2 else s.count_v * v[:n_v]
    bottom = s.count_r[:, None] * v[n_v:] if v.ndim == 2 else s.count_r * v[n_v:]
    return np.concatenate([top + s.incidence @ v[n_v:], bottom + s.incidence.T @ v[:n_v]])


def _profile(theta: np.ndarray, s: _Stats, dense: bool = False, gradient: bool = False
             ) -> tuple[float, np.ndarray, float, np.ndarray]:
    """REML criterion at relative SDs ``theta`` (vignette, rater), with beta, sigma^2 and
    (``gradient``) the criterion's gradient in ``theta`` (else zeros).

    Bates et al. (2015), eqs. 18-42: Lambda = diag(theta), L L' = A = Lambda Z'Z Lambda + I,
    R_ZX = L^-1 Lambda Z'X, R_X' R_X = X'X - R_ZX' R_ZX; r^2 the penalised residual sum of
    squares; -2 l_R = log|L|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p))).
    ``A`` is factorised in blocks (``dense=False``) or by a dense Cholesky.

    The gradient is the usual REML score written with the same factorisation. With
    V = I + Z Lambda^2 Z' and P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1, the criterion is
    log|V| + log|X'V^-1 X| + (n - p) log(y'P y) + const, so its derivative in theta_k is
    2 theta_k [tr(Z_k' P Z_k) - (n - p) |Z_k' P y|^2 / r^2]; Lambda Z'V^-1 Z Lambda = I - A^-1
    turns the first trace into 2 tr_k(A^-1 Lambda Z'Z), and Z'V^-1 = Z' - Z'Z Lambda A^-1 Lambda Z'.
    """
    fac = _DenseA(theta, s) if dense else _BlockA(theta, s)
    lam = np.concatenate([np.full(s.n_v, theta[0]), np.full(len(s.zy) - s.n_v, theta[1])])
    solved = fac.half_solve(lam[:, None] * np.column_stack([s.zx, s.zy]))
    rzx, cu = solved[:, :-1], solved[:, -1]
    rx = linalg.cholesky(s.xx - rzx.T @ rzx, lower=False)
    cb = linalg.solve_triangular(rx, s.xy - rzx.T @ cu, trans="T", lower=False)
    beta = linalg.solve_triangular(rx, cb, lower=False)
    r2 = max(s.yy - float(cu @ cu) - float(cb @ cb), 1e-300)
    dof = s.n - s.p
    criterion = (fac.logdet + 2.0 * np.log(np.abs(np.diag(rx))).sum()
                 + dof * (1.0 + np.log(2.0 * np.pi * r2 / dof)))
    grad = np.zeros(2)
    if gradient:
        e = s.zy - s.zx @ beta  # Z'(y - X beta)
        zpy = e - _zz_times(s, lam * fac.solve(lam * e))  # Z'P y
        G = s.zx - _zz_times(s, lam[:, None] * fac.solve(lam[:, None] * s.zx))  # Z'V^-1 X
        Q = linalg.solve_triangular(rx, G.T, trans="T", lower=False)  # R_X^-T G'
        per_group = 2.0 * fac.trace_terms() - 2.0 * lam * ((Q * Q).sum(axis=0) + dof * zpy * zpy / r2)
        grad = np.array([per_group[:s.n_v].sum(), per_group[s.n_v:].sum()])
    return float(criterion), beta, r2 / dof, grad


def _newton_polish(theta: np.ndarray, grad: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Up to three Newton steps towards a zero of ``grad`` in the parameters off the
    boundary, the Hessian from central differences of the gradient; a step is kept only
    when it stays inside the bounds and shrinks the gradient."""
    for _ in range(3):
        free = np.flatnonzero(theta > 1e-4)
        g = grad(theta)
        if not len(free) or np.max(np.abs(g[free])) < 1e-10:
            break
        H = np.zeros((len(free), len(free)))
        for a, i in enumerate(free):
            h = 1e-6 * max(1.0, theta[i])
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            H[a] = (grad(up)[free] - grad(down)[free]) / (2 * h)
        try:
            step = np.linalg.solve(0.5 * (H + H.T), g[free])
        except np.linalg.LinAlgError:
            break
        trial = theta.copy()
        trial[free] -= step
        if (trial[free] <= 0).any() or np.max(np.abs(grad(trial)[free])) >= np.max(np.abs(g[free])):
            break
        theta = trial
    return theta


def variance_components(data: pd.DataFrame, unit: str = "vignette_id", rater: str = "rater_id",
                        rating: str = "need_level", *, covariates: Sequence[str] = (),
                        source: str | None = None) -> VarianceComponents:
    """Fit ``rating ~ covariates + (1|rater) + (1|unit)`` by REML; the variance components.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per rating; a practitioner may rate a vignette more than once,
        but pass one round for the reliability of one judgement.
    unit, rater, rating : str
        Column names; ratings are numbers (a need level is used as its number).
    covariates : sequence of str
        Fixed effects besides the intercept: numeric columns enter as they are, other columns
        as treatment dummies against their first level in sorted order.
    source : str, optional
        Named in error messages (a file name).

    Returns
    -------
    VarianceComponents
        The three variances, the fixed effects and the fit; ``.table()`` and
        ``.dependability()`` give the tables, ``.icc_a1`` and ``.icc_c1`` the ICCs.
        When every rating is the same (after the covariates) all three variances are 0
        and the shares and coefficients are undefined (NaN).

    Raises
    ------
    VarianceInputError
        When a column is missing, a rating is not a number, an identifier or covariate is
        missing, or the data hold fewer than two vignettes or raters (all problems at once);
        also when the covariates are collinear with the intercept.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"case": list("aabbccdd"), "coder": list("xyxyxyxy"),
    ...                      "score": [1, 2, 2, 3, 4, 4, 1, 1]})
    >>> fit = variance_components(data, "case", "coder", "score")
    >>> fit.n_vignettes, fit.n_raters, round(fit.vignette, 3), round(fit.icc_a1, 3)
    (4, 2, 1.667, 0.87)
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the matrices are small (the Schur complement is of the smaller
    # factor's size), and threads only contend on them
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(data, unit, rater, rating, covariates, source)


def _fit(data: pd.DataFrame, unit: str, rater: str, rating: str, covariates: Sequence[str],
         source: str | None) -> VarianceComponents:
    rows = _prepare(data, unit, rater, rating, covariates, source)
    v_codes, v_levels = pd.factorize(rows[unit].astype(str), sort=True)
    r_codes, r_levels = pd.factorize(rows[rater].astype(str), sort=True)
    X, names = _design(rows, covariates)
    y = rows[rating].to_numpy(dtype=float)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        where = f"{source}: " if source else ""
        raise VarianceInputError(f"{where}covariates {', '.join(covariates)}: the fixed effects are "
                                 "collinear (a covariate is constant or repeats another)")
    s = _cross_products(v_codes, r_codes, len(v_levels), len(r_levels), X, y)
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    if float(((y - X @ ols) ** 2).sum()) <= 1e-20 * max(1.0, float(y @ y)):
        # every rating the same (up to the covariates): nothing varies, no share is defined
        return VarianceComponents(0.0, 0.0, 0.0, pd.DataFrame({"term": names, "estimate": ols}), len(y),
                                  len(v_levels), len(r_levels), float("nan"), True, True)

    def objective(theta: np.ndarray) -> float:
        return _profile(theta, s)[0]

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        criterion, _, _, grad = _profile(theta, s, gradient=True)
        # The criterion is even in each theta, so its derivative on the boundary is 0 even
        # when it falls away from it; there, a one-sided difference shows L-BFGS-B the way.
        for i in np.flatnonzero(theta <= 0.0):
            up = theta.copy()
            up[i] = 1e-6
            grad[i] = (objective(up) - criterion) / 1e-6
        return criterion, grad

    best: optimize.OptimizeResult | None = None
    for start in (np.array([1.0, 1.0]), np.array([0.3, 0.1])):
        res = optimize.minimize(value_and_gradient, start, jac=True, method="L-BFGS-B",
                                bounds=[(0.0, None)] * 2,
                                options={"ftol": 1e-20, "gtol": 1e-9, "maxiter": 500})
        if best is None or res.fun < best.fun - 1e-10:
            best = res
    assert best is not None
    theta = np.maximum(best.x, 0.0)
    # Newton steps on the exact gradient: the criterion's rounding (about 1e-11 of a value in
    # the thousands) stops the line search a little short of the optimum, the gradient does not.
    theta = _newton_polish(theta, lambda t: _profile(t, s, gradient=True)[3])
    # Polish on the boundary: a component whose variance sits at 0 up to the tolerance is 0.
    for i in range(2):
        if theta[i] < 1e-4:
            trial = theta.copy()
            trial[i] = 0.0
            if objective(trial) <= objective(theta) + 1e-10:
                theta = trial
    criterion, beta, sigma2, _ = _profile(theta, s)
    # Converged: the criterion is flat at the optimum along every parameter off the boundary
    # (central differences), and does not fall into the boundary for one on it.
    flat = True
    for i in range(2):
        step = np.zeros(2)
        step[i] = 1e-5 * max(1.0, theta[i])
        up = objective(theta + step)
        if theta[i] > 0:
            flat &= abs(up - objective(theta - step)) / (2 * step[i]) < 1e-3
        else:
            flat &= up >= criterion - 1e-9
    fixed = pd.DataFrame({"term": names, "estimate": beta})
    return VarianceComponents(
        vignette=float(theta[0] ** 2 * sigma2),
        practitioner=float(theta[1] ** 2 * sigma2),
        residual=float(sigma2),
        fixed=fixed,
        n_obs=len(y),
        n_vignettes=len(v_levels),
        n_raters=len(r_levels),
        reml_criterion=criterion,
        singular=bool((theta == 0.0).any()),
        converged=bool(flat),
    )
