"""Numerical core of the cumulative-link (mixed) model: Laplace likelihood, gradient, fit.

Why own code: no Python library fits a proportional-odds model with crossed random effects
by maximum likelihood (statsmodels' ``OrderedModel`` has no random effects; Bambi and
similar fit by MCMC). This module follows R's ``ordinal::clmm``: the random effects are
integrated out with the Laplace approximation, the conditional modes are found by an inner
Newton iteration, and the outer problem (thresholds, fixed effects, random-effect standard
deviations) is solved by quasi-Newton with an exact gradient of the Laplace log-likelihood,
polished by Newton steps on a Hessian obtained by differencing that gradient.

Notation. Observation ``i`` in category ``j`` (0-based, ``J`` categories) has
``P(Y <= j) = F(theta_j - eta_i)`` with ``F`` the logistic distribution and
``eta = X beta + Z Lambda u``, ``u ~ N(0, I)``, ``Lambda`` diagonal with one standard deviation
per random term. With ``l(u) = sum_i log p_i - u'u / 2`` and
``H = I + Lambda Z' W Z Lambda`` (``W`` the negative second derivatives of ``log p_i`` in
``eta_i``), the Laplace log-likelihood is ``l(u_hat) - log det(H) / 2``.

The random-effects design is held as one integer code column per random term (random
intercepts), so ``Z' W Z`` is assembled by bincounts. The q x q matrix ``H`` (q the total
number of groups) is factorised blockwise: each observation belongs to one group of every
term, so the block of the term with the most groups (thousands of vignettes) is diagonal, and
only the other terms (tens of raters) and their cross block with it are dense. Eliminating
the diagonal block leaves a Schur complement of the smaller terms' size, so the log
determinant, the solves and the pieces of ``H^-1`` the gradient needs all cost time linear
in the number of groups of the largest term (:class:`_BlockH`); a plain dense Cholesky of
``H`` (:class:`_DenseH`) gives the same numbers and is kept to check it against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.optimize as so
from scipy.special import expit

_BIG = 1e10  # stands in for an infinite threshold


@dataclass
class Design:
    """The numeric problem: response codes, fixed design, random-intercept codes."""

    y: np.ndarray  # int codes 0..J-1
    n_cat: int
    X: np.ndarray  # n x p, no intercept
    groups: list[np.ndarray] = field(default_factory=list)  # per term: codes 0..q_k-1
    n_levels: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.n = len(self.y)
        self.p = self.X.shape[1]
        self.K = len(self.groups)
        offsets = np.cumsum([0] + self.n_levels)
        self.q = int(offsets[-1])
        self.term_of = np.repeat(np.arange(self.K), self.n_levels).astype(int)
        # global column of Z per observation and term (n x K)
        self.idx = (np.column_stack([g + offsets[k] for k, g in enumerate(self.groups)])
                    if self.K else np.zeros((self.n, 0), dtype=int))
        self.upper = self.y < self.n_cat - 1  # has a finite upper threshold
        self.lower = self.y > 0
        self.iu = np.minimum(self.y, self.n_cat - 2)
        self.il = np.maximum(self.y - 1, 0)


@dataclass
class ObsTerms:
    """Per-observation derivatives of ``log p_i`` at given thresholds and eta."""

    logp: np.ndarray
    g: np.ndarray  # d log p / d eta
    w: np.ndarray  # - d2 log p / d eta2
    w1: np.ndarray  # d w / d eta
    # derivatives with respect to the upper and lower threshold of each observation
    dl_u: np.ndarray
    dl_l: np.ndarray
    dg_u: np.ndarray
    dg_l: np.ndarray
    dw_u: np.ndarray
    dw_l: np.ndarray


def _dens(x: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, ...]:
    F = expit(x)
    f = F * (1 - F)
    f1 = f * (1 - 2 * F)
    f2 = f * (1 - 6 * F + 6 * F * F)
    zero = ~finite
    for a in (f, f1, f2):
        a[zero] = 0.0
    return F, f, f1, f2


def obs_terms(d: Design, theta: np.ndarray, eta: np.ndarray, need_third: bool = True) -> ObsTerms:
    """Log-probabilities and their derivatives for every observation."""
    a = np.where(d.upper, theta[d.iu] - eta, _BIG)
    b = np.where(d.lower, theta[d.il] - eta, -_BIG)
    Fa, fa, fa1, fa2 = _dens(a, d.upper)
    Fb, fb, fb1, fb2 = _dens(b, d.lower)
    Fa = np.where(d.upper, Fa, 1.0)
    Fb = np.where(d.lower, Fb, 0.0)
    # p = F(a) - F(b), computed on the tail that keeps precision
    p = np.where(b > 0, expit(-b) - expit(-a), Fa - Fb)
    p = np.maximum(p, 1e-300)
    D1 = -(fa - fb) / p
    D2 = (fa1 - fb1) / p
    g = D1
    w = g * g - D2
    if need_third:
        D3 = -(fa2 - fb2) / p
        w1 = -(D3 - 3 * D1 * D2 + 2 * D1 ** 3)
    else:
        w1 = np.zeros_like(w)
    dl_u = fa / p
    dl_l = -fb / p
    dg_u = -fa1 / p - g * fa / p
    dg_l = fb1 / p + g * fb / p
    # w = g^2 - (fa1 - fb1)/p
    dw_u = 2 * g * dg_u - fa2 / p + (fa1 - fb1) * fa / p ** 2
    dw_l = 2 * g * dg_l + fb2 / p - (fa1 - fb1) * fb / p ** 2
    return ObsTerms(np.log(p), g, w, w1, dl_u, dl_l, dg_u, dg_l, dw_u, dw_l)


def _thr_grad(d: Design, du: np.ndarray, dl: np.ndarray) -> np.ndarray:
    """Sum per-observation upper/lower threshold derivatives into the J-1 thresholds."""
    m = d.n_cat - 1
    return (np.bincount(d.iu[d.upper], du[d.upper], minlength=m)
            + np.bincount(d.il[d.lower], dl[d.lower], minlength=m))


class _DenseH:
    """``H = I + Lambda Z' W Z Lambda`` by a dense Cholesky (the reference path)."""

    def __init__(self, d: Design, lam: np.ndarray, w: np.ndarray, A: np.ndarray) -> None:
        self.d, self.lam, self.A = d, lam, A
        H = np.eye(d.q) + lam[:, None] * A * lam[None, :]
        self.cf = sla.cho_factor(H, lower=True)
        self.logdet = 2.0 * float(np.log(np.diag(self.cf[0])).sum())
        self._inv: np.ndarray | None = None

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b."""
        return np.asarray(sla.cho_solve(self.cf, b))

    def _hinv(self) -> np.ndarray:
        if self._inv is None:
            self._inv = _chol_inverse(self.cf[0])
        return self._inv

    def entry(self, k: int, m: int) -> np.ndarray:
        """Per observation, ``H^-1`` at its group of term ``k`` and its group of term ``m``."""
        return self._hinv()[self.d.idx[:, k], self.d.idx[:, m]]

    def diag_hila(self) -> np.ndarray:
        """The diagonal of ``H^-1 Lambda A`` (A = Z' W Z, symmetric)."""
        return ((self._hinv() * self.lam[None, :]) * self.A).sum(axis=1)


class _BlockH:
    """``H = I + Lambda Z' W Z Lambda`` factorised in blocks, the largest term's first.

    With ``1`` the columns of the term with most groups and ``2`` all the others,
    ``H = [[D, C], [C', B]]`` where ``D`` is diagonal (an observation is in one group of a
    term). ``S = B - C' D^-1 C`` (the Schur complement, dense, of the smaller size) gives
    ``log det H = log det D + log det S``, the solves, and ``H^-1`` by blocks:
    ``[[D^-1 + E S^-1 E', -E S^-1], [-S^-1 E', S^-1]]`` with ``E = D^-1 C``, of which only
    the diagonal of the first block is formed.
    """

    def __init__(self, d: Design, lam: np.ndarray, w: np.ndarray) -> None:
        self.d, self.lam = d, lam
        big = int(np.argmax(d.n_levels))
        self.big = big
        off = np.concatenate([[0], np.cumsum(d.n_levels)]).astype(int)
        self.cols1 = np.arange(off[big], off[big + 1])
        self.cols2 = np.concatenate([np.arange(off[k], off[k + 1]) for k in range(d.K) if k != big]
                                    + [np.zeros(0, dtype=int)])
        others = [k for k in range(d.K) if k != big]
        # position of each term's groups inside block 2
        starts = np.cumsum([0] + [d.n_levels[k] for k in others])[:-1]
        self.off2 = {k: int(o) for k, o in zip(others, starts, strict=True)}
        q1, q2 = len(self.cols1), len(self.cols2)
        gb = d.groups[big]
        a1 = np.bincount(gb, w, minlength=q1)
        C = np.zeros((q1, q2))
        B = np.zeros((q2, q2))
        for k in others:
            qk, ok = d.n_levels[k], self.off2[k]
            C[:, ok:ok + qk] = np.bincount(gb * qk + d.groups[k], w, minlength=q1 * qk).reshape(q1, qk)
            B[ok + np.arange(qk), ok + np.arange(qk)] = np.bincount(d.groups[k], w, minlength=qk)
            for m in others:
                if m <= k:
                    continue
                qm, om = d.n_levels[m], self.off2[m]
                block = np.bincount(d.groups[k] * qm + d.groups[m], w, minlength=qk * qm).reshape(qk, qm)
                B[ok:ok + qk, om:om + qm] = block
                B[om:om + qm, ok:ok + qk] = block.T
        self.a1, self.C, self.B = a1, C, B
        self.lam1, self.lam2 = lam[self.cols1], lam[self.cols2]
        self.D = 1.0 + self.lam1 * self.lam1 * a1
        self.Cs = self.lam1[:, None] * C * self.lam2[None, :]
        self.E = self.Cs / self.D[:, None]
        S = self.lam2[:, None] * B * self.lam2[None, :] - self.Cs.T @ self.E
        S[np.diag_indices_from(S)] += 1.0
        self.Ls = sla.cholesky(S, lower=True) if q2 else np.zeros((0, 0))
        self.logdet = float(np.log(self.D).sum()) + 2.0 * float(np.log(np.diag(self.Ls)).sum())
        self._parts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _s_solve(self, b: np.ndarray) -> np.ndarray:
        if not len(self.cols2):
            return b
        return np.asarray(sla.cho_solve((self.Ls, True), b))

    def solve(self, b: np.ndarray) -> np.ndarray:
        """H^-1 b (b in the global order of the groups)."""
        b1, b2 = b[self.cols1], b[self.cols2]
        x2 = self._s_solve(b2 - self.E.T @ b1)
        x1 = (b1 - self.Cs @ x2) / self.D
        out = np.empty_like(b, dtype=float)
        out[self.cols1], out[self.cols2] = x1, x2
        return out

    def _inverse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The diagonal of the first block of ``H^-1``, its cross block and its second block."""
        if self._parts is None:
            q2 = len(self.cols2)
            if q2:
                sinv = _chol_inverse(self.Ls)
                h12 = -self.E @ sinv
                diag11 = 1.0 / self.D - (h12 * self.E).sum(axis=1)
            else:
                sinv, h12, diag11 = np.zeros((0, 0)), np.zeros((len(self.cols1), 0)), 1.0 / self.D
            self._parts = (diag11, h12, sinv)
        return self._parts

    def entry(self, k: int, m: int) -> np.ndarray:
        """Per observation, ``H^-1`` at its group of term ``k`` and its group of term ``m``."""
        diag11, h12, h22 = self._inverse()
        g = self.d.groups
        if k == self.big and m == self.big:
            return diag11[g[k]]
        if k == self.big:
            return h12[g[k], self.off2[m] + g[m]]
        if m == self.big:
            return h12[g[m], self.off2[k] + g[k]]
        return h22[self.off2[k] + g[k], self.off2[m] + g[m]]

    def diag_hila(self) -> np.ndarray:
        """The diagonal of ``H^-1 Lambda A`` (A = Z' W Z, symmetric), in the global order."""
        diag11, h12, h22 = self._inverse()
        out = np.empty(self.d.q)
        out[self.cols1] = diag11 * self.lam1 * self.a1 + (h12 * (self.C * self.lam2[None, :])).sum(axis=1)
        out[self.cols2] = ((h12 * (self.lam1[:, None] * self.C)).sum(axis=0)
                           + (h22 * (self.lam2[None, :] * self.B)).sum(axis=1))
        return out


class Laplace:
    """The Laplace log-likelihood and its gradient, with the modes warm-started between calls."""

    def __init__(self, d: Design, dense: bool = False) -> None:
        self.d = d
        self.u = np.zeros(d.q)
        self.inner_fail = False
        self.dense = dense  # factorise H densely (the reference path) instead of in blocks

    def _factor(self, lam: np.ndarray, w: np.ndarray) -> _DenseH | _BlockH:
        """``H = I + Lambda Z' W Z Lambda`` factorised (blocks unless ``dense``)."""
        if self.dense:
            return _DenseH(self.d, lam, w, self._ztwz_fast(w))
        return _BlockH(self.d, lam, w)

    def _zt(self, v: np.ndarray) -> np.ndarray:
        """Z' v (q-vector)."""
        d = self.d
        return np.bincount(d.idx.ravel(), np.repeat(v, d.K), minlength=d.q) if d.K else np.zeros(0)

    def _ztwz_fast(self, w: np.ndarray) -> np.ndarray:
        """Z' W Z (q x q): diagonal from one bincount, each off-diagonal block from another."""
        d = self.d
        A = np.zeros((d.q, d.q))
        A[np.diag_indices(d.q)] = self._zt(w)
        off = np.concatenate([[0], np.cumsum(d.n_levels)])
        for k in range(d.K):
            for m in range(k + 1, d.K):
                qk, qm = d.n_levels[k], d.n_levels[m]
                block = np.bincount(d.groups[k] * qm + d.groups[m], w, minlength=qk * qm).reshape(qk, qm)
                A[off[k]:off[k + 1], off[m]:off[m + 1]] = block
                A[off[m]:off[m + 1], off[k]:off[k + 1]] = block.T
        return A

    def modes(self, theta: np.ndarray, beta: np.ndarray, sd: np.ndarray,
              tol: float = 1e-10, maxit: int = 50) -> tuple[np.ndarray, ObsTerms, np.ndarray]:
        """Newton iteration for the conditional modes; returns (u, terms at u, the SD of each mode's term)."""
        d = self.d
        lam = sd[d.term_of]
        xb = d.X @ beta
        u = self.u.copy()

        def at(u: np.ndarray) -> tuple[np.ndarray, ObsTerms, float]:
            b = lam * u
            eta = xb + (b[d.idx].sum(axis=1) if d.K else 0.0)
            t = obs_terms(d, theta, eta, need_third=False)
            return eta, t, float(t.logp.sum() - 0.5 * u @ u)

        _, t, obj = at(u)
        for _ in range(maxit):
            grad = lam * self._zt(t.g) - u
            step = self._factor(lam, t.w).solve(grad)
            if np.max(np.abs(grad)) < tol:
                break
            s = 1.0
            while True:
                un = u + s * step
                _, tn, objn = at(un)
                if objn >= obj - 1e-12 * abs(obj) or s < 1e-8:
                    break
                s /= 2
            if s < 1e-8:
                self.inner_fail = True
                break
            u, t, obj = un, tn, objn
        else:
            self.inner_fail = True
        self.u = u
        return u, t, lam

    def value_grad(self, theta: np.ndarray, beta: np.ndarray, sd: np.ndarray
                   ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Negative Laplace log-likelihood and its gradient in (theta, beta, sd)."""
        d = self.d
        if d.K == 0:
            eta = d.X @ beta
            t = obs_terms(d, theta, eta, need_third=False)
            return (-float(t.logp.sum()), -_thr_grad(d, t.dl_u, t.dl_l), -(d.X.T @ t.g),
                    np.zeros(0))
        u, _, lam = self.modes(theta, beta, sd)
        b = lam * u
        eta = d.X @ beta + b[d.idx].sum(axis=1)
        t = obs_terms(d, theta, eta)
        fac = self._factor(lam, t.w)
        f = -float(t.logp.sum()) + 0.5 * float(u @ u) + 0.5 * fac.logdet
        # h_i = [Z Lam Hinv Lam Z']_ii
        lidx = lam[d.idx]
        h = np.zeros(d.n)
        for k in range(d.K):
            for m in range(d.K):
                h += lidx[:, k] * lidx[:, m] * fac.entry(k, m)
        v = 0.5 * h * t.w1
        r = fac.solve(lam * self._zt(v))
        s = (lam * r)[d.idx].sum(axis=1)
        ztg = self._zt(t.g)
        # thresholds
        g_thr = (-_thr_grad(d, t.dl_u, t.dl_l)
                 + 0.5 * _thr_grad(d, h * t.dw_u, h * t.dw_l)
                 + _thr_grad(d, s * t.dg_u, s * t.dg_l))
        g_beta = -(d.X.T @ t.g) + d.X.T @ (v - t.w * s)
        # standard deviations: d/d lambda_k
        diag_hila = fac.diag_hila()  # diag(H^-1 Lam A), A = Z'WZ symmetric
        per_level = (-u * ztg + diag_hila + u * self._zt(v - t.w * s) + r * ztg)
        g_sd = np.bincount(d.term_of, per_level, minlength=d.K)
        return f, g_thr, g_beta, g_sd


class AdaptiveGH(Laplace):
    """Adaptive Gauss-Hermite quadrature for one random-intercept term (``nagq`` nodes).

    With a single grouping factor the likelihood is a product of one-dimensional integrals,
    one per group. Each is evaluated on ``nagq`` Gauss-Hermite nodes centred at the group's
    conditional mode and scaled by its curvature, as ``ordinal::clmm(nAGQ = n)`` does; one
    node is the Laplace approximation. The gradient is exact: it includes the movement of
    the nodes with the mode and the curvature (implicit differentiation of the mode).
    """

    def __init__(self, d: Design, nagq: int) -> None:
        if d.K != 1:
            raise ValueError("adaptive Gauss-Hermite quadrature needs exactly one random term")
        super().__init__(d)
        self.z, self.omega = np.polynomial.hermite.hermgauss(nagq)
        self.Q = nagq
        self.rep = Design(np.repeat(d.y, nagq), d.n_cat, np.zeros((d.n * nagq, 0)))

    def value_grad(self, theta: np.ndarray, beta: np.ndarray, sd: np.ndarray
                   ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Negative AGQ log-likelihood and its gradient in (theta, beta, sd)."""
        d, Q, z = self.d, self.Q, self.z
        u, _, _ = self.modes(theta, beta, sd)
        sig = float(sd[0])
        grp = d.groups[0]
        G = d.q
        xb = d.X @ beta
        t = obs_terms(d, theta, xb + sig * u[grp])

        def gsum(v: np.ndarray) -> np.ndarray:
            return np.bincount(grp, v, minlength=G)

        h = 1.0 + sig * sig * gsum(t.w)
        hu = sig ** 3 * gsum(t.w1)  # d h / d u
        sg = np.sqrt(2.0 / h)
        nodes = u[:, None] + sg[:, None] * z[None, :]  # G x Q
        eta = (xb[:, None] + sig * nodes[grp]).ravel()
        tn = obs_terms(self.rep, np.asarray(theta), eta, need_third=False)
        logp = tn.logp.reshape(d.n, Q)
        f = np.stack([gsum(logp[:, k]) for k in range(Q)], axis=1) - 0.5 * nodes ** 2  # G x Q
        a = np.log(self.omega)[None, :] + z[None, :] ** 2 + f
        amax = a.max(axis=1, keepdims=True)
        ea = np.exp(a - amax)
        tot = ea.sum(axis=1, keepdims=True)
        pi = ea / tot  # G x Q
        loglik = float((-0.5 * np.log(2 * np.pi) + np.log(sg) + amax[:, 0] + np.log(tot[:, 0])).sum())
        gn = tn.g.reshape(d.n, Q)
        fprime = sig * np.stack([gsum(gn[:, k]) for k in range(Q)], axis=1) - nodes  # f'(u_k)
        a_g = (pi * fprime).sum(axis=1)
        b_g = (pi * fprime * z[None, :]).sum(axis=1)
        e_g = -0.5 * b_g * sg / h - 0.5 / h
        c_g = a_g + e_g * hu
        ch = c_g / h
        pig = pi[grp]  # n x Q
        # fixed effects
        wb = (pig * gn).sum(axis=1) - sig * t.w * ch[grp] + sig * sig * t.w1 * e_g[grp]
        g_beta = d.X.T @ wb
        # thresholds
        dlu = (pig * tn.dl_u.reshape(d.n, Q)).sum(axis=1)
        dll = (pig * tn.dl_l.reshape(d.n, Q)).sum(axis=1)
        up = dlu + sig * ch[grp] * t.dg_u + sig * sig * e_g[grp] * t.dw_u
        lo = dll + sig * ch[grp] * t.dg_l + sig * sig * e_g[grp] * t.dw_l
        g_thr = _thr_grad(d, up, lo)
        # the SD
        part = (pi * nodes * np.stack([gsum(gn[:, k]) for k in range(Q)], axis=1)).sum()
        dF = gsum(t.g) - sig * u * gsum(t.w)  # d F_u / d sigma per group
        dh = 2 * sig * gsum(t.w) + sig * sig * u * gsum(t.w1)  # partial d h / d sigma
        g_sd = np.array([part + (ch * dF).sum() + (e_g * dh).sum()])
        return -loglik, -g_thr, -g_beta, -g_sd


# ----------------------------------------------------------------------------- parameters

def theta_from_alpha(alpha: np.ndarray) -> np.ndarray:
    """Ordered thresholds from the unconstrained parameters (first, then log increments)."""
    return alpha[0] + np.concatenate([[0.0], np.cumsum(np.exp(alpha[1:]))])


def alpha_from_theta(theta: np.ndarray) -> np.ndarray:
    return np.concatenate([[theta[0]], np.log(np.maximum(np.diff(theta), 1e-8))])


@dataclass
class RawFit:
    """What the optimiser found, in natural parameters."""

    theta: np.ndarray
    beta: np.ndarray
    sd: np.ndarray
    loglik: float
    grad: np.ndarray  # gradient of -loglik in (theta, beta, sd)
    hessian: np.ndarray | None  # of -loglik in the free parameters (see ``free``)
    free: np.ndarray  # mask over (theta, beta, sd): parameters not on a boundary
    converged: bool
    n_iter: int
    message: str
    modes: np.ndarray


def start_thresholds(y: np.ndarray, n_cat: int) -> np.ndarray:
    """Logits of the cumulative proportions, kept ordered."""
    counts = np.bincount(y, minlength=n_cat).astype(float) + 0.5
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return np.log(cum / (1 - cum))


def _chol_inverse(L: np.ndarray) -> np.ndarray:
    """Inverse of ``L L'`` from its lower Cholesky factor (LAPACK potri)."""
    inv, info = sla.lapack.dpotri(L, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("potri failed")
    inv = np.tril(inv)
    return inv + np.tril(inv, -1).T


def _minimise(lap: Laplace, m: int, p: int, K: int, x0: np.ndarray, maxiter: int,
              gtol: float) -> so.OptimizeResult:
    """L-BFGS-B over (threshold parameters, beta, sd) with SDs bounded at 0."""

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, beta, sd = theta_from_alpha(x[:m]), x[m:m + p], x[m + p:]
        f, gt, gb, gs = lap.value_grad(theta, beta, sd)
        if not np.isfinite(f):
            return 1e300, np.zeros_like(x)
        # chain rule: d theta_j / d alpha_0 = 1, d theta_j / d alpha_k = exp(alpha_k) for j >= k
        ga = np.empty(m)
        ga[0] = gt.sum()
        if m > 1:
            ga[1:] = np.exp(x[1:m]) * np.cumsum(gt[::-1])[::-1][1:]
        return f, np.concatenate([ga, gb, gs])

    bounds = [(None, None)] * (m + p) + [(0.0, None)] * K
    return so.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "ftol": 1e-14, "gtol": gtol, "maxcor": 20})


def fit(d: Design, *, sd_start: float = 0.5, maxiter: int = 1000, nagq: int = 1,
        dense: bool = False) -> RawFit:
    """Maximise the (Laplace) log-likelihood; Newton-polish and take the Hessian.

    The fixed design is centred and scaled internally (the thresholds absorb the centring),
    which keeps the problem well conditioned when covariates such as deck position or years
    of experience are on large scales; estimates, gradient and Hessian are returned in the
    original parametrisation. ``dense`` factorises the random-effects Hessian densely instead of
    in blocks (the same numbers, slower; kept to check the blocks against).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(d, sd_start=sd_start, maxiter=maxiter, nagq=nagq, dense=dense)


def _fit(d: Design, *, sd_start: float, maxiter: int, nagq: int, dense: bool) -> RawFit:
    m, p, K = d.n_cat - 1, d.p, d.K
    centre = d.X.mean(axis=0) if p else np.zeros(0)
    scale = d.X.std(axis=0) if p else np.zeros(0)
    scale = np.where(scale > 0, scale, 1.0)
    ds = Design(d.y, d.n_cat, (d.X - centre) / scale, d.groups, d.n_levels)
    # T maps scaled parameters (theta', beta', sd) to natural ones:
    # beta = beta' / scale, theta = theta' + centre . beta
    n_par = m + p + K
    T = np.eye(n_par)
    T[m:m + p, m:m + p] = np.diag(1.0 / scale)
    T[:m, m:m + p] = (centre / scale)[None, :]
    theta0 = start_thresholds(d.y, d.n_cat)
    x0 = np.concatenate([alpha_from_theta(theta0), np.zeros(p)])
    n_iter = 0
    if K:
        # warm start from the model without random effects
        pre = _minimise(Laplace(Design(d.y, d.n_cat, ds.X)), m, p, 0, x0, maxiter, 1e-6)
        x0 = pre.x
        n_iter += int(pre.nit)
    lap = AdaptiveGH(ds, nagq) if nagq > 1 else Laplace(ds, dense=dense)
    res = _minimise(lap, m, p, K, np.concatenate([x0, np.full(K, sd_start)]), maxiter, 1e-6)
    n_iter += int(res.nit)

    def grad_s(z: np.ndarray) -> np.ndarray:
        _, gt, gb, gs = lap.value_grad(z[:m], z[m:m + p], z[m + p:])
        return np.concatenate([gt, gb, gs])

    def value_s(z: np.ndarray) -> float:
        return lap.value_grad(z[:m], z[m:m + p], z[m + p:])[0]

    z = np.concatenate([theta_from_alpha(res.x[:m]), res.x[m:]])
    free = np.ones(n_par, dtype=bool)
    free[m + p:] = z[m + p:] > 1e-4  # an SD at the boundary 0 is held there
    if not free[m + p:].all():
        z[m + p:][~free[m + p:]] = 0.0
    # Newton polish with one Hessian (reused), then the Hessian at the final point
    hess = _num_hessian(grad_s, z, free)
    f_z = value_s(z)
    for _ in range(5):
        gz = grad_s(z)[free]
        if np.max(np.abs(gz), initial=0.0) < 1e-10:
            break
        try:
            step = np.linalg.solve(hess, gz)
        except np.linalg.LinAlgError:
            break
        zn = z.copy()
        zn[free] = z[free] - step
        if np.any(np.diff(zn[:m]) <= 0) or np.any(zn[m + p:] < 0):
            break
        f_new = value_s(zn)
        if not f_new <= f_z + 1e-9:
            break
        z, f_z = zn, f_new
    f, gt, gb, gs = lap.value_grad(z[:m], z[m:m + p], z[m + p:])
    hess = _num_hessian(grad_s, z, free)
    g_s = np.concatenate([gt, gb, gs])
    # back to the natural parametrisation: x_nat = T x_s, grad_nat = T^-T grad_s,
    # hess_nat = T^-T hess_s T^-1 (on the free parameters)
    Tinv = np.linalg.inv(T)
    g_nat = Tinv.T @ g_s
    Tf = Tinv[np.ix_(free, free)]
    hess_nat = Tf.T @ hess @ Tf
    zn = T @ z
    gfree = np.abs(g_nat[free])
    converged = bool(np.max(gfree, initial=0.0) < 1e-4 and not lap.inner_fail)
    return RawFit(zn[:m], zn[m:m + p], zn[m + p:], -f, g_nat, hess_nat, free, converged,
                  n_iter, str(res.message), lap.u.copy())


def _num_hessian(grad: Callable[[np.ndarray], np.ndarray], z: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Central differences of the analytic gradient, symmetrised, on the free parameters."""
    idx = np.flatnonzero(free)
    k = len(idx)
    Hs = np.zeros((k, k))
    for a, i in enumerate(idx):
        h = 1e-5 * max(1.0, abs(z[i]))
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        Hs[a] = (grad(zp)[idx] - grad(zm)[idx]) / (2 * h)
    return 0.5 * (Hs + Hs.T)


def separation(d: Design, tol: float = 1e-7) -> tuple[bool, np.ndarray]:
    """Check the fixed part for (quasi-)complete separation with linear programmes.

    A direction ``(dtheta, dbeta)`` along which no observation's probability decreases
    (``dtheta_upper - x'dbeta >= 0`` and ``dtheta_lower - x'dbeta <= 0`` for every
    observation) and some increase means the likelihood keeps rising without bound: the
    maximum-likelihood estimates do not exist. Returns whether such a direction exists and,
    per parameter (thresholds then fixed effects), its sign in the directions found: +1 or
    -1 if it can only move that way, 2 if either, 0 if it is unaffected.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, hstack, vstack

    m, p = d.n_cat - 1, d.p
    nv = m + p
    # constraint rows as  A x <= 0  with x = (dtheta, dbeta)
    iu = np.flatnonzero(d.upper)
    il = np.flatnonzero(d.lower)
    Au = hstack([coo_matrix((-np.ones(len(iu)), (np.arange(len(iu)), d.iu[iu])), shape=(len(iu), m)),
                 coo_matrix(d.X[iu])])  # -(dtheta_u - x dbeta) <= 0
    Al = hstack([coo_matrix((np.ones(len(il)), (np.arange(len(il)), d.il[il])), shape=(len(il), m)),
                 coo_matrix(-d.X[il])])  # dtheta_l - x dbeta <= 0
    A = vstack([Au, Al]).tocsr()
    nc = A.shape[0]
    # phase 1: is there a direction with A x <= 0 and some (A x)_i < 0?  Minimise 1'A x.
    res = linprog(np.asarray(A.sum(axis=0)).ravel(), A_ub=A, b_ub=np.zeros(nc),
                  bounds=[(-1, 1)] * nv, method="highs")
    if not res.success or res.fun >= -tol:
        return False, np.zeros(nv, dtype=int)
    sign = np.zeros(nv, dtype=int)
    for j in range(nv):
        hi = lo = 0.0
        for direction in (1.0, -1.0):
            cj = np.zeros(nv)
            cj[j] = -direction
            r = linprog(cj, A_ub=A, b_ub=np.zeros(nc), bounds=[(-1, 1)] * nv, method="highs")
            if r.success:
                if direction > 0:
                    hi = -r.fun
                else:
                    lo = r.fun
        up, down = hi > 1e-6, lo < -1e-6
        sign[j] = 2 if (up and down) else (1 if up else (-1 if down else 0))
    return True, sign
