"""D-optimal search for vignette studies: factorials, model matrices, D-efficiency.

Pure NumPy functions, no file I/O. ``dsk.design`` builds the public D-efficient vignette
design on top of them; decks and counterbalanced orders live in :mod:`dsk.decks`. The
method, with its sources, is described in ``docs/methods.md`` (section "D-efficient
designs and decks").

Coding of the main-effects model
--------------------------------
Each dimension with ``L`` levels gets ``L - 1`` *orthonormal polynomial contrasts*: the
orthogonal polynomials of degree 1..L-1 on the level codes 0..L-1, scaled so that each
column has mean square 1 over the ``L`` levels (``sum == 0``, ``sum of squares == L``).
With an intercept column of ones, the full factorial then has ``X'X / N == I``, so its
information per run has determinant exactly 1. Because a uniform spread over the levels
is the D-optimal approximate design for a saturated one-factor model, and the product of
those is D-optimal for the additive (main-effects) model, no design can have
``det(X'X / N) > 1`` in this coding: the D-efficiency against the full factorial is simply
``det(X'X / N) ** (1/p)`` and lies in [0, 1]. This is the "standardised orthogonal
contrast coding" that Kuhfeld's SAS marketing-research macros use for the same purpose
(Kuhfeld, *Marketing Research Methods in SAS*, "Experimental Design, Efficiency, Coding").
The choice of coding does not change D-efficiency *ratios* between designs (any
nonsingular within-factor recoding multiplies every determinant by the same constant);
it only makes the full-factorial reference equal to 1, which keeps numbers readable.

Why our own exchange algorithm
------------------------------
We checked the maintained Python options before writing this. pyDOE3 (1.6) has
``optimal_design`` with Fedorov / modified Fedorov / DETMAX over a candidate set, but it
recomputes the full criterion for every trial swap (no rank-one updates), has no seed or
random starts, never repeats a candidate, and returns coordinates rather than candidate
indices; on a 576-candidate, 60-run, 6-dimension problem its Fedorov took about 10 s
where we need well under 2 s. dexpy has not been released since 2017; doepy has no
candidate-set D-optimal search. The modified Fedorov exchange (Cook & Nachtsheim 1980)
with the matrix determinant lemma and Sherman-Morrison updates is about a hundred lines,
so we wrote it here.

Examples
--------
>>> from dsk._doe import d_efficient_design, full_factorial
>>> full_factorial([2, 3]).shape
(6, 2)
>>> result = d_efficient_design([2, 2, 2, 2, 2], 16, random_state=1)
>>> round(result.d_efficiency, 6)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "DesignResult",
    "d_efficiency",
    "d_efficient_design",
    "full_factorial",
    "model_matrix",
    "n_parameters",
]

#: What a ``random_state`` argument accepts: an int seed for ``numpy.random.default_rng``
#: or a ready ``numpy.random.Generator``.
RandomState = int | np.random.Generator

# Relative improvement an exchange must bring to be accepted; guards against cycling on
# floating-point noise.
_IMPROVEMENT_TOL = 1e-9


# --------------------------------------------------------------------------------------
# Factorials and model matrices
# --------------------------------------------------------------------------------------


def _check_levels(n_levels: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(n_levels)
    if len(levels) == 0:
        raise ValueError("n_levels: expected at least one dimension, got an empty sequence")
    for j, n in enumerate(levels):
        if isinstance(n, bool) or not isinstance(n, int | np.integer):
            raise TypeError(f"n_levels[{j}]: expected an int, got {type(n).__name__} {n!r}")
        if n < 2:
            raise ValueError(f"n_levels[{j}]: expected at least 2 levels, got {n}")
    return tuple(int(n) for n in levels)


def full_factorial(n_levels: Sequence[int]) -> np.ndarray:
    """All combinations of the level codes, in lexicographic order.

    Parameters
    ----------
    n_levels
        Number of levels of each dimension (each at least 2).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(prod(n_levels), len(n_levels))``; column ``j`` holds
        codes ``0 .. n_levels[j] - 1``. The last dimension varies fastest.

    Examples
    --------
    >>> full_factorial([2, 3]).tolist()
    [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    """
    levels = _check_levels(n_levels)
    grids = np.indices(levels).reshape(len(levels), -1).T
    return np.ascontiguousarray(grids, dtype=np.int64)


@lru_cache(maxsize=64)
def _contrasts(n: int) -> np.ndarray:
    """Orthonormal polynomial contrasts for ``n`` levels, shape ``(n, n - 1)``.

    Columns are orthogonal, sum to 0 and have sum of squares ``n``. The sign is fixed so
    that the highest level has a positive value (the leading coefficient is positive).
    """
    x = np.arange(n, dtype=float)
    x = x - x.mean()
    vander = np.vander(x, n, increasing=True)
    q, _ = np.linalg.qr(vander)
    q = q[:, 1:] * np.sqrt(n)
    q *= np.where(q[-1] < 0, -1.0, 1.0)
    q.setflags(write=False)
    return q


def n_parameters(n_levels: Sequence[int]) -> int:
    """Number of columns of the main-effects model: ``1 + sum(L - 1)``.

    Examples
    --------
    >>> n_parameters([2, 3, 4])
    7
    """
    levels = _check_levels(n_levels)
    return 1 + sum(n - 1 for n in levels)


def _check_runs(runs: np.ndarray | Sequence[Sequence[int]], levels: tuple[int, ...],
                name: str = "runs") -> np.ndarray:
    arr = np.asarray(runs)
    if arr.ndim != 2 or arr.shape[1] != len(levels):
        raise ValueError(
            f"{name}: expected a 2-D array with {len(levels)} columns (one per dimension), "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one run, got none")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: expected integer level codes, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    for j, n in enumerate(levels):
        col = arr[:, j]
        if col.min() < 0 or col.max() >= n:
            bad = col[(col < 0) | (col >= n)][0]
            raise ValueError(
                f"{name}[:, {j}]: expected level codes in 0..{n - 1}, got {int(bad)}"
            )
    return arr


def model_matrix(runs: np.ndarray | Sequence[Sequence[int]], n_levels: Sequence[int]) -> np.ndarray:
    """Main-effects model matrix with intercept, in orthonormal polynomial coding.

    Each dimension with ``L`` levels contributes ``L - 1`` columns: orthogonal polynomial
    contrasts scaled to mean square 1 over the levels. For the full factorial this gives
    ``X.T @ X / N == I`` (the largest possible determinant per run, 1), which makes
    :func:`d_efficiency` against the full factorial equal to ``det(X'X/N) ** (1/p)``.

    Parameters
    ----------
    runs
        Integer level codes, shape ``(N, k)``.
    n_levels
        Number of levels of each of the ``k`` dimensions.

    Returns
    -------
    numpy.ndarray
        Float array of shape ``(N, p)`` with ``p = 1 + sum(L - 1)``; column 0 is the
        intercept, then the contrasts of dimension 0, dimension 1, and so on.

    Examples
    --------
    >>> X = model_matrix(full_factorial([2, 3]), [2, 3])
    >>> X.shape
    (6, 4)
    >>> bool(np.allclose(X.T @ X / 6, np.eye(4)))
    True
    """
    levels = _check_levels(n_levels)
    arr = _check_runs(runs, levels)
    blocks = [np.ones((arr.shape[0], 1))]
    blocks.extend(_contrasts(n)[arr[:, j]] for j, n in enumerate(levels))
    return np.hstack(blocks)


def _log_det_per_run(x: np.ndarray) -> float:
    """``log det(X'X / N)``, or ``-inf`` when the information matrix is singular."""
    n, p = x.shape
    if n < p:
        return float("-inf")
    sign, logdet = np.linalg.slogdet(x.T @ x / n)
    # A numerically singular matrix can come back with a tiny positive determinant.
    if sign <= 0 or logdet < -30.0 * p:
        return float("-inf")
    return float(logdet)


def d_efficiency(
    runs: np.ndarray | Sequence[Sequence[int]],
    n_levels: Sequence[int],
    reference: np.ndarray | Sequence[Sequence[int]] | None = None,
) -> float:
    """D-efficiency of a design relative to the full factorial or another reference.

    ``( det(X'X / N) / det(X_ref'X_ref / N_ref) ) ** (1/p)`` for the main-effects model of
    :func:`model_matrix` (``p`` parameters). Per-run information is compared, so designs of
    different sizes are comparable. Against the full factorial (``reference=None``) the
    denominator is exactly 1 in our coding and the result lies in [0, 1]: the full
    factorial and any orthogonal, level-balanced fraction score 1.0. Against another
    reference (for example a candidate set without implausible combinations) the value
    can exceed 1, because a uniform spread over a restricted set is not itself optimal.

    Parameters
    ----------
    runs
        Integer level codes of the design, shape ``(N, k)``.
    n_levels
        Number of levels of each dimension.
    reference
        Runs of the reference design (usually a candidate set). ``None`` means the full
        factorial.

    Returns
    -------
    float
        The D-efficiency; 0.0 when the design cannot estimate all main effects.

    Raises
    ------
    ValueError
        If the reference itself cannot estimate all main effects.

    Examples
    --------
    >>> d_efficiency(full_factorial([2, 3, 4]), [2, 3, 4])
    1.0
    >>> half = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]  # 2^(3-1), C = AB
    >>> round(d_efficiency(half, [2, 2, 2]), 12)
    1.0
    """
    levels = _check_levels(n_levels)
    x = model_matrix(runs, levels)
    p = x.shape[1]
    log_det = _log_det_per_run(x)
    if reference is None:
        log_ref = 0.0
    else:
        log_ref = _log_det_per_run(model_matrix(_check_runs(reference, levels, "reference"),
                                                levels))
        if log_ref == float("-inf"):
            raise ValueError(
                "reference: the reference design cannot estimate all main effects "
                "(its information matrix is singular)"
            )
    if log_det == float("-inf"):
        return 0.0
    eff = float(np.exp((log_det - log_ref) / p))
    # Orthogonal designs land on 1 up to rounding; report exactly 1.0 for them.
    return 1.0 if abs(eff - 1.0) < 1e-12 else eff


# --------------------------------------------------------------------------------------
# D-efficient design search (modified Fedorov exchange)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DesignResult:
    """Outcome of :func:`d_efficient_design`.

    Attributes
    ----------
    runs
        Integer level codes of the chosen runs, shape ``(n_runs, k)``, sorted by their row
        index in the candidate set (lexicographically for the default full factorial).
    d_efficiency
        D-efficiency against the full candidate set (all of ``candidates``, or the full
        factorial when no candidates were given). May exceed 1 for a restricted set.
    iterations
        Exchange passes over all design rows made by the winning start until no swap
        improved the determinant (or ``max_iter`` was reached).
    d_efficiency_factorial
        D-efficiency against the full factorial, whatever the candidate set; the number
        a study reports (``docs/methods.md``, "D-efficient designs and decks"). Equal to ``d_efficiency`` when no candidates
        were given.
    candidate_rows
        Row indices of the chosen runs in the candidate set, sorted.
    """

    runs: np.ndarray
    d_efficiency: float
    iterations: int
    d_efficiency_factorial: float
    candidate_rows: np.ndarray


def generator_of(random_state: RandomState) -> np.random.Generator:
    """The generator for a ``random_state``: itself if a Generator, else ``default_rng(int)``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise TypeError("random_state: expected an int or numpy Generator, got "
                        f"{type(random_state).__name__}")
    return np.random.default_rng(int(random_state))


def positive_int(value: object, name: str) -> int:
    """``value`` as an int, or a TypeError/ValueError naming ``name`` if not a positive int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return int(value)


def _exchange(
    cand_x: np.ndarray,
    start: np.ndarray,
    allow_repeats: bool,
    max_iter: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, int]:
    """Modified Fedorov exchange from one start; returns rows, log det(X'X), passes.

    For design row ``x_i`` and candidate ``x_j``, with ``M = X'X``, ``d_i = x_i'M^-1 x_i``,
    ``d_j = x_j'M^-1 x_j`` and ``d_ij = x_i'M^-1 x_j``, the matrix determinant lemma gives

        det(M - x_i x_i' + x_j x_j') / det(M) = (1 - d_i)(1 + d_j) + d_ij ** 2,

    so every candidate is scored with one matrix-vector product. An accepted swap updates
    ``M^-1`` by two Sherman-Morrison steps; ``M^-1`` is recomputed exactly at the start of
    each pass to stop rounding drift.
    """
    n_cand, p = cand_x.shape
    rows = start.copy()
    n = rows.size
    in_design = np.zeros(n_cand, dtype=np.int64)
    np.add.at(in_design, rows, 1)
    passes = 0
    for passes in range(1, max_iter + 1):  # noqa: B007 - passes is returned
        x = cand_x[rows]
        m = x.T @ x
        # A rank-deficient start is regularised; the ridge vanishes once a pass begins
        # with a nonsingular design.
        if np.linalg.matrix_rank(m) < p:
            m = m + 1e-6 * n * np.eye(p)
        m_inv = np.linalg.inv(m)
        d_cand = np.einsum("ij,jk,ik->i", cand_x, m_inv, cand_x, optimize=True)
        improved = False
        for i in rng.permutation(n):
            xi = cand_x[rows[i]]
            u = m_inv @ xi
            d_i = float(xi @ u)
            d_ij = cand_x @ u
            ratio = (1.0 - d_i) * (1.0 + d_cand) + d_ij * d_ij
            if not allow_repeats:
                ratio[in_design > 0] = -np.inf
            j = int(np.argmax(ratio))
            if ratio[j] <= 1.0 + _IMPROVEMENT_TOL:
                continue
            xj = cand_x[j]
            # Add x_j, then remove x_i (adding first keeps the intermediate nonsingular).
            # The candidate variances d_j follow the same rank-one updates.
            v = m_inv @ xj
            a = 1.0 + float(xj @ v)
            m_inv = m_inv - np.outer(v, v) / a
            cv = cand_x @ v
            d_cand = d_cand - cv * cv / a
            w = m_inv @ xi
            b = 1.0 - float(xi @ w)
            m_inv = m_inv + np.outer(w, w) / b
            cw = cand_x @ w
            d_cand = d_cand + cw * cw / b
            in_design[rows[i]] -= 1
            in_design[j] += 1
            rows[i] = j
            improved = True
        if not improved:
            break
    x = cand_x[rows]
    sign, log_det = np.linalg.slogdet(x.T @ x)
    return rows, (float(log_det) if sign > 0 else float("-inf")), passes


def d_efficient_design(
    n_levels: Sequence[int],
    n_runs: int,
    *,
    random_state: RandomState,
    candidates: np.ndarray | Sequence[Sequence[int]] | None = None,
    n_starts: int = 10,
    max_iter: int = 100,
    allow_repeats: bool = False,
) -> DesignResult:
    """Search a candidate set for a D-efficient main-effects design of ``n_runs`` runs.

    A modified Fedorov exchange (Cook & Nachtsheim 1980): from a random start, each design
    row in turn is swapped for the candidate that most increases ``det(X'X)``, scored in
    O(p) per candidate by the matrix determinant lemma, until a full pass makes no swap.
    The best of ``n_starts`` random starts is kept.

    Parameters
    ----------
    n_levels
        Number of levels of each dimension (each at least 2; typically up to 6 dimensions).
    n_runs
        Number of runs (vignettes) wanted; at least the number of model parameters
        ``1 + sum(L - 1)``.
    random_state
        Seed for ``numpy.random.default_rng`` (or a Generator). The same int gives an
        identical ``runs`` array.
    candidates
        Allowed combinations (integer codes, shape ``(N, k)``), for example the full
        factorial minus implausible combinations. Default: the full factorial. Duplicate
        rows are not allowed.
    n_starts
        Number of random starts.
    max_iter
        Maximum number of exchange passes per start.
    allow_repeats
        Whether a candidate may appear more than once. Off by default: each run becomes
        a distinct vignette, so ``n_runs`` may not exceed the number of candidates.

    Returns
    -------
    DesignResult
        ``runs``, ``d_efficiency`` (against the full candidate set), ``iterations``, plus
        ``d_efficiency_factorial`` (against the full factorial) and ``candidate_rows``.

    Raises
    ------
    ValueError
        If ``n_runs`` is smaller than the number of parameters or larger than the number
        of candidates (without repeats), if ``candidates`` has duplicate or out-of-range
        rows, or if the candidates cannot estimate all main effects (for example a level
        never appears).

    Examples
    --------
    >>> result = d_efficient_design([2, 2, 3, 3, 4, 2], 36, random_state=7)
    >>> result.runs.shape
    (36, 6)
    >>> result.d_efficiency > 0.9
    True
    >>> bool((d_efficient_design([2, 2, 3, 3, 4, 2], 36, random_state=7).runs == result.runs).all())
    True
    """
    levels = _check_levels(n_levels)
    n_runs = positive_int(n_runs, "n_runs")
    n_starts = positive_int(n_starts, "n_starts")
    max_iter = positive_int(max_iter, "max_iter")
    rng = generator_of(random_state)
    p = n_parameters(levels)

    if candidates is None:
        cand = full_factorial(levels)
        restricted = False
    else:
        cand = _check_runs(candidates, levels, "candidates")
        uniq, first, counts = np.unique(cand, axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = uniq[counts > 1][0].tolist()
            raise ValueError(f"candidates: duplicate combination {dup}; list each once")
        restricted = True
    n_cand = cand.shape[0]
    if n_runs < p:
        raise ValueError(
            f"n_runs: the main-effects model for levels {list(levels)} has {p} parameters, "
            f"so at least {p} runs are needed, got {n_runs}"
        )
    if not allow_repeats and n_runs > n_cand:
        raise ValueError(
            f"n_runs: only {n_cand} candidate combinations, got n_runs={n_runs}; "
            "pass allow_repeats=True to repeat combinations"
        )
    cand_x = model_matrix(cand, levels)
    if np.linalg.matrix_rank(cand_x) < p:
        missing = [
            f"dimension {j} level {lv}"
            for j, n in enumerate(levels)
            for lv in range(n)
            if not (cand[:, j] == lv).any()
        ]
        detail = f" (never present: {', '.join(missing)})" if missing else ""
        raise ValueError(
            "candidates: they cannot estimate all main effects (the model matrix is "
            f"rank-deficient){detail}"
        )

    best_rows: np.ndarray | None = None
    best_log_det = float("-inf")
    best_passes = 0
    for _ in range(n_starts):
        start = rng.choice(n_cand, size=n_runs, replace=allow_repeats)
        rows, log_det, passes = _exchange(cand_x, start, allow_repeats, max_iter, rng)
        if best_rows is None or log_det > best_log_det + 1e-12:
            best_rows, best_log_det, best_passes = rows, log_det, passes
    assert best_rows is not None
    chosen = np.sort(best_rows)
    runs = cand[chosen]
    eff_factorial = d_efficiency(runs, levels)
    eff = d_efficiency(runs, levels, reference=cand) if restricted else eff_factorial
    return DesignResult(
        runs=runs,
        d_efficiency=eff,
        iterations=best_passes,
        d_efficiency_factorial=eff_factorial,
        candidate_rows=chosen,
    )
