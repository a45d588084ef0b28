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

Two-way interactions
--------------------
A model may also include chosen two-way interactions, given as pairs of dimension
indices. The interaction of dimensions ``a`` and ``b`` contributes the ``(La - 1)(Lb - 1)``
products of their contrast columns. Over the full factorial these products are again
orthonormal (mean square 1, orthogonal to each other, to the main effects and to the
intercept), so ``X'X / N == I`` still holds. The full factorial is also still the
D-optimal approximate design: with ``L - 1`` orthonormal contrasts plus the intercept
making an orthogonal ``L x L`` matrix, ``sum_j c_j(x) ** 2 == L - 1`` at every level, so
the prediction variance ``f(x)' f(x)`` of the uniform design equals ``p`` at every
combination, which is the Kiefer-Wolfowitz condition for D-optimality. D-efficiency
against the full factorial therefore stays in [0, 1] with interactions too.

Level balance
-------------
D-optimal main-effects designs are usually but not always level-balanced. With
``balance=True`` (the default when the model has interactions) the search is followed
by a repair: while some dimension whose level count divides ``n_runs`` has unequal level
counts, the single swap (design row for unused candidate) that most reduces the total
imbalance is made, provided the D-efficiency stays within ``balance_tolerance`` (relative)
of the exchange's result; then swaps that raise the determinant without unbalancing are
made until none is left. Designs without interactions keep ``balance=False`` by default,
so the runs they give for a seed are the same as before balancing existed.

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
>>> every_pair = [(a, b) for a in range(5) for b in range(a + 1, 5)]
>>> result = d_efficient_design([2, 2, 2, 2, 2], 16, random_state=1, interactions=every_pair)
>>> round(result.d_efficiency, 6), result.level_counts[0]
(1.0, (8, 8))
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
    "level_counts",
    "model_matrix",
    "n_parameters",
]

#: What a ``random_state`` argument accepts: an int seed for ``numpy.random.default_rng``
#: or a ready ``numpy.random.Generator``.
RandomState = int | np.random.Generator

# Relative improvement an exchange must bring to be accepted; guards against cycling on
# floating-point noise.
_IMPROVEMENT_TOL = 1e-9

#: The model's two-way interactions: pairs of dimension indices, ``a < b``, in the order
#: their columns appear in :func:`model_matrix`.
Interactions = tuple[tuple[int, int], ...]


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


def _check_interactions(interactions: Sequence[Sequence[int]], n_dims: int) -> Interactions:
    """The pairs as sorted index tuples; every problem in one ValueError naming ``interactions``."""
    problems: list[str] = []
    pairs: list[tuple[int, int]] = []
    for k, pair in enumerate(interactions):
        items = (tuple(pair) if isinstance(pair, Sequence | np.ndarray) and not isinstance(pair, str)
                 else None)
        if items is None or len(items) != 2 or not all(
            isinstance(i, int | np.integer) and not isinstance(i, bool) for i in items
        ):
            problems.append(f"interactions[{k}]: expected a pair of dimension indices, got {pair!r}")
            continue
        a, b = (int(i) for i in items)
        bad = [i for i in (a, b) if not 0 <= i < n_dims]
        if bad:
            problems.append(f"interactions[{k}]: dimension index {bad[0]} is outside 0..{n_dims - 1}")
        elif a == b:
            problems.append(f"interactions[{k}]: ({a}, {b}) names dimension {a} twice")
        elif (min(a, b), max(a, b)) in pairs:
            problems.append(f"interactions[{k}]: the pair ({a}, {b}) is given twice")
        else:
            pairs.append((min(a, b), max(a, b)))
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(pairs)


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


def n_parameters(n_levels: Sequence[int], interactions: Sequence[Sequence[int]] = ()) -> int:
    """Number of columns of the model: ``1 + sum(L - 1)`` plus ``(La - 1)(Lb - 1)`` per interaction.

    Parameters
    ----------
    n_levels
        Number of levels of each dimension.
    interactions
        Two-way interactions as pairs of dimension indices (none by default).

    Examples
    --------
    >>> n_parameters([2, 3, 4])
    7
    >>> n_parameters([2, 3, 4], interactions=[(1, 2)])
    13
    """
    levels = _check_levels(n_levels)
    pairs = _check_interactions(interactions, len(levels))
    return 1 + sum(n - 1 for n in levels) + sum((levels[a] - 1) * (levels[b] - 1) for a, b in pairs)


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


def model_matrix(runs: np.ndarray | Sequence[Sequence[int]], n_levels: Sequence[int],
                 interactions: Sequence[Sequence[int]] = ()) -> np.ndarray:
    """Model matrix with intercept, in orthonormal polynomial coding.

    Each dimension with ``L`` levels contributes ``L - 1`` columns: orthogonal polynomial
    contrasts scaled to mean square 1 over the levels. For the full factorial this gives
    ``X.T @ X / N == I`` (the largest possible determinant per run, 1), which makes
    :func:`d_efficiency` against the full factorial equal to ``det(X'X/N) ** (1/p)``.
    Each interaction ``(a, b)`` adds the ``(La - 1)(Lb - 1)`` products of the two
    dimensions' contrast columns, which keeps ``X.T @ X / N == I`` for the full factorial.

    Parameters
    ----------
    runs
        Integer level codes, shape ``(N, k)``.
    n_levels
        Number of levels of each of the ``k`` dimensions.
    interactions
        Two-way interactions as pairs of dimension indices (none by default).

    Returns
    -------
    numpy.ndarray
        Float array of shape ``(N, p)`` with ``p`` from :func:`n_parameters`; column 0 is
        the intercept, then the contrasts of dimension 0, dimension 1, and so on, then
        the interactions in the order given (for ``(a, b)``: contrast 1 of ``a`` times
        contrasts 1.. of ``b``, then contrast 2 of ``a``, ...).

    Examples
    --------
    >>> X = model_matrix(full_factorial([2, 3]), [2, 3])
    >>> X.shape
    (6, 4)
    >>> bool(np.allclose(X.T @ X / 6, np.eye(4)))
    True
    >>> X = model_matrix(full_factorial([2, 3]), [2, 3], interactions=[(0, 1)])
    >>> X.shape, bool(np.allclose(X.T @ X / 6, np.eye(6)))
    ((6, 6), True)
    """
    levels = _check_levels(n_levels)
    pairs = _check_interactions(interactions, len(levels))
    arr = _check_runs(runs, levels)
    mains = [_contrasts(n)[arr[:, j]] for j, n in enumerate(levels)]
    blocks = [np.ones((arr.shape[0], 1)), *mains]
    for a, b in pairs:
        blocks.append((mains[a][:, :, None] * mains[b][:, None, :]).reshape(arr.shape[0], -1))
    return np.hstack(blocks)


def _log_det_per_run(x: np.ndarray) -> float:
    """``log det(X'X / N)``, or ``-inf`` when the information matrix is singular."""
    n, p = x.shape
    if n < p:
        return float("-inf")
    info = x.T @ x / n
    # A numerically singular matrix can come back with a small positive determinant, so
    # singularity is judged by the smallest eigenvalue relative to the largest.
    eigen = np.linalg.eigvalsh(info)
    if eigen[0] <= 1e-10 * max(float(eigen[-1]), 1.0):
        return float("-inf")
    sign, logdet = np.linalg.slogdet(info)
    if sign <= 0:
        return float("-inf")
    return float(logdet)


def d_efficiency(
    runs: np.ndarray | Sequence[Sequence[int]],
    n_levels: Sequence[int],
    reference: np.ndarray | Sequence[Sequence[int]] | None = None,
    interactions: Sequence[Sequence[int]] = (),
) -> float:
    """D-efficiency of a design relative to the full factorial or another reference.

    ``( det(X'X / N) / det(X_ref'X_ref / N_ref) ) ** (1/p)`` for the model of
    :func:`model_matrix` (main effects and any ``interactions``; ``p`` parameters).
    Per-run information is compared, so designs of different sizes are comparable.
    Against the full factorial (``reference=None``) the denominator is exactly 1 in our
    coding and the result lies in [0, 1]: the full factorial and any orthogonal,
    level-balanced fraction score 1.0, with or without interactions (see the module
    docstring). Against another reference (for example a candidate set without
    implausible combinations) the value can exceed 1, because a uniform spread over a
    restricted set is not itself optimal.

    Parameters
    ----------
    runs
        Integer level codes of the design, shape ``(N, k)``.
    n_levels
        Number of levels of each dimension.
    reference
        Runs of the reference design (usually a candidate set). ``None`` means the full
        factorial.
    interactions
        Two-way interactions of the model, as pairs of dimension indices (none by default).

    Returns
    -------
    float
        The D-efficiency; 0.0 when the design cannot estimate every term of the model
        (for example a 2^(3-1) fraction, where ``C = AB``, and the interaction ``A:B``).

    Raises
    ------
    ValueError
        If the reference itself cannot estimate every term of the model.

    Examples
    --------
    >>> d_efficiency(full_factorial([2, 3, 4]), [2, 3, 4])
    1.0
    >>> half = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]  # 2^(3-1), C = AB
    >>> round(d_efficiency(half, [2, 2, 2]), 12)
    1.0
    >>> d_efficiency(half, [2, 2, 2], interactions=[(0, 1)])  # A:B is aliased with C
    0.0
    """
    levels = _check_levels(n_levels)
    pairs = _check_interactions(interactions, len(levels))
    x = model_matrix(runs, levels, pairs)
    p = x.shape[1]
    log_det = _log_det_per_run(x)
    if reference is None:
        log_ref = 0.0
    else:
        log_ref = _log_det_per_run(model_matrix(_check_runs(reference, levels, "reference"),
                                                levels, pairs))
        if log_ref == float("-inf"):
            what = "all main effects" if not pairs else "all main effects and interactions"
            raise ValueError(
                f"reference: the reference design cannot estimate {what} "
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
        D-efficiency against the full candidate set: every candidate once (all of
        ``candidates``, or the full factorial when no candidates were given). That
        reference is itself a finite design and, for a restricted set, not an optimal
        one, so this figure may exceed 1.
    iterations
        Exchange passes over all design rows made by the winning start until no swap
        improved the determinant (or ``max_iter`` was reached).
    d_efficiency_factorial
        D-efficiency against the full factorial, whatever the candidate set; the number
        a study reports (``docs/methods.md``, "D-efficient designs and decks"), at most 1.
        Equal to ``d_efficiency`` when no candidates were given.
    candidate_rows
        Row indices of the chosen runs in the candidate set, sorted.
    interactions
        The model's two-way interactions, as sorted pairs of dimension indices.
    level_counts
        For each dimension, how many runs have each of its levels.
    balance_swaps
        Swaps made by the level-balance repair (0 when it was off or not needed).
    d_efficiency_exchange
        ``d_efficiency`` of the exchange's result before the balance repair; equal to
        ``d_efficiency`` when no balance swap was made.
    """

    runs: np.ndarray
    d_efficiency: float
    iterations: int
    d_efficiency_factorial: float
    candidate_rows: np.ndarray
    interactions: Interactions = ()
    level_counts: tuple[tuple[int, ...], ...] = ()
    balance_swaps: int = 0
    d_efficiency_exchange: float = float("nan")


def level_counts(runs: np.ndarray | Sequence[Sequence[int]],
                 n_levels: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """How many runs have each level, per dimension.

    Parameters
    ----------
    runs
        Integer level codes, shape ``(N, k)``.
    n_levels
        Number of levels of each of the ``k`` dimensions.

    Returns
    -------
    tuple of tuple of int
        ``counts[j][level]`` for dimension ``j``.

    Examples
    --------
    >>> level_counts([[0, 0], [0, 1], [1, 2], [1, 2]], [2, 3])
    ((2, 2), (1, 1, 2))
    """
    levels = _check_levels(n_levels)
    arr = _check_runs(runs, levels)
    return tuple(tuple(int(c) for c in np.bincount(arr[:, j], minlength=n))
                 for j, n in enumerate(levels))


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
    fast_variances: bool = False,
) -> tuple[np.ndarray, float, int]:
    """Modified Fedorov exchange from one start; returns rows, log det(X'X), passes.

    For design row ``x_i`` and candidate ``x_j``, with ``M = X'X``, ``d_i = x_i'M^-1 x_i``,
    ``d_j = x_j'M^-1 x_j`` and ``d_ij = x_i'M^-1 x_j``, the matrix determinant lemma gives

        det(M - x_i x_i' + x_j x_j') / det(M) = (1 - d_i)(1 + d_j) + d_ij ** 2,

    so every candidate is scored with one matrix-vector product. An accepted swap updates
    ``M^-1`` by two Sherman-Morrison steps; ``M^-1`` is recomputed exactly at the start of
    each pass to stop rounding drift.

    ``fast_variances`` computes the candidate variances at the start of a pass as
    ``rowsum((C M^-1) * C)``, many times faster than the three-operand ``einsum`` for the
    wide model matrices of interaction models. The two agree to rounding, but rounding can
    break exact ties between candidates differently, so main-effects searches keep the
    ``einsum`` that chose their runs before (same seed, same design).
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
        if fast_variances:
            d_cand = np.einsum("ij,ij->i", cand_x @ m_inv, cand_x)
        else:
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


def _imbalance_steps(runs: np.ndarray, cand: np.ndarray, levels: tuple[int, ...],
                     balanceable: list[int]) -> tuple[int, np.ndarray]:
    """Total imbalance, and its change for swapping design row ``i`` for candidate ``j``.

    The imbalance of a dimension whose level count ``L`` divides ``N`` is
    ``sum |count - N / L|`` over its levels; other dimensions do not count.
    """
    n = runs.shape[0]
    total = 0
    delta = np.zeros((n, cand.shape[0]), dtype=np.int64)
    for k in balanceable:
        target = n // levels[k]
        counts = np.bincount(runs[:, k], minlength=levels[k])
        total += int(np.abs(counts - target).sum())
        loses = np.abs(counts - 1 - target) - np.abs(counts - target)  # a run leaves the level
        gains = np.abs(counts + 1 - target) - np.abs(counts - target)  # a run joins the level
        a, b = runs[:, k], cand[:, k]
        step = loses[a][:, None] + gains[b][None, :]
        delta += np.where(a[:, None] == b[None, :], 0, step)
    return total, delta


def _balance(cand: np.ndarray, cand_x: np.ndarray, rows: np.ndarray, levels: tuple[int, ...],
             allow_repeats: bool, tolerance: float) -> tuple[np.ndarray, int]:
    """Balance-restoring swaps after the exchange; returns the rows and the swaps made.

    Step 1: while imbalanced, make the swap with the largest determinant among those that
    reduce the imbalance and keep ``det(X'X) ** (1/p)`` within ``tolerance`` (relative) of
    the exchange's result. Step 2: make any swap that raises the determinant without
    adding imbalance; then step 1 again. Each swap lowers the imbalance or raises the
    determinant without raising the imbalance, so the loop ends.
    """
    n = rows.size
    p = cand_x.shape[1]
    balanceable = [k for k, n_lv in enumerate(levels) if n % n_lv == 0]
    rows = rows.copy()
    x = cand_x[rows]
    sign, log_det = np.linalg.slogdet(x.T @ x)
    if not balanceable or sign <= 0:
        return rows, 0
    log_floor = float(log_det) + p * float(np.log1p(-tolerance))
    current = float(log_det)
    swaps = 0
    for _ in range(20 * n):
        runs = cand[rows]
        total, delta = _imbalance_steps(runs, cand, levels, balanceable)
        x = cand_x[rows]
        m_inv = np.linalg.inv(x.T @ x)
        u = x @ m_inv  # (n, p)
        d_i = np.einsum("ij,ij->i", u, x)
        d_c = np.einsum("ij,ij->i", cand_x @ m_inv, cand_x)
        d_ij = u @ cand_x.T
        ratio = (1.0 - d_i)[:, None] * (1.0 + d_c)[None, :] + d_ij * d_ij
        if not allow_repeats:
            in_design = np.zeros(cand.shape[0], dtype=bool)
            in_design[rows] = True
            ratio[:, in_design] = -np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            new_log_det = current + np.log(np.where(ratio > 0, ratio, 0.0))
        pick = np.full(ratio.shape, -np.inf)
        if total > 0:
            ok = (delta < 0) & (new_log_det >= log_floor)
            pick = np.where(ok, ratio, -np.inf)
        if not np.isfinite(pick.max()):
            ok = (delta <= 0) & (ratio > 1.0 + _IMPROVEMENT_TOL)
            pick = np.where(ok, ratio, -np.inf)
        if not np.isfinite(pick.max()):
            break
        i, j = np.unravel_index(int(np.argmax(pick)), pick.shape)
        rows[i] = j
        current = float(new_log_det[i, j])
        swaps += 1
    return rows, swaps


def _inestimable(cand: np.ndarray, cand_x: np.ndarray, levels: tuple[int, ...],
                 pairs: Interactions, names: Sequence[str]) -> str:
    """Which terms a rank-deficient candidate set cannot estimate, in words."""
    missing = [
        f"{names[j]} level {lv}"
        for j, n in enumerate(levels)
        for lv in range(n)
        if not (cand[:, j] == lv).any()
    ]
    if missing:
        return f" (never present: {', '.join(missing)})"
    n_main = n_parameters(levels)
    columns = list(range(n_main))
    rank = np.linalg.matrix_rank(cand_x[:, columns])
    if rank < n_main:
        return "; their main effects are confounded with each other"
    lost = []
    start = n_main
    for a, b in pairs:
        width = (levels[a] - 1) * (levels[b] - 1)
        block = list(range(start, start + width))
        start += width
        got = np.linalg.matrix_rank(cand_x[:, columns + block]) - rank
        if got < width:
            lost.append(f"{names[a]}:{names[b]} (only {got} of its {width} columns are)")
        else:
            columns += block
            rank += width
    return f"; they cannot estimate {', '.join(lost)}" if lost else ""


def d_efficient_design(
    n_levels: Sequence[int],
    n_runs: int,
    *,
    random_state: RandomState,
    candidates: np.ndarray | Sequence[Sequence[int]] | None = None,
    n_starts: int = 10,
    max_iter: int = 100,
    allow_repeats: bool = False,
    interactions: Sequence[Sequence[int]] = (),
    balance: bool | None = None,
    balance_tolerance: float = 0.01,
    dimension_names: Sequence[str] | None = None,
) -> DesignResult:
    """Search a candidate set for a D-efficient design of ``n_runs`` runs.

    A modified Fedorov exchange (Cook & Nachtsheim 1980): from a random start, each design
    row in turn is swapped for the candidate that most increases ``det(X'X)``, scored in
    O(p) per candidate by the matrix determinant lemma, until a full pass makes no swap.
    The best of ``n_starts`` random starts is kept, then (with ``balance``) its level
    counts are evened out where ``n_runs`` allows it (see the module docstring).

    Parameters
    ----------
    n_levels
        Number of levels of each dimension (each at least 2; typically up to 6 dimensions).
    n_runs
        Number of runs (vignettes) wanted; at least the number of model parameters
        (:func:`n_parameters`).
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
    interactions
        Two-way interactions the model includes, as pairs of dimension indices, e.g.
        ``[(0, 1), (0, 2), (1, 2)]``. Default: the main-effects model.
    balance
        Repair level balance after the exchange. ``None`` (default) means on when the
        model has interactions and off otherwise, so main-effects designs are the ones
        earlier versions gave for the same seed.
    balance_tolerance
        Largest relative loss of D-efficiency a balance swap may cause (default 0.01, so
        the repaired design keeps at least 99% of the exchange's D-efficiency).
    dimension_names
        Names of the dimensions for error messages (default ``dimension 0``, ...).

    Returns
    -------
    DesignResult
        ``runs``, ``d_efficiency`` (against the full candidate set), ``iterations``,
        ``d_efficiency_factorial`` (against the full factorial), ``candidate_rows``,
        ``interactions``, ``level_counts``, ``balance_swaps`` and
        ``d_efficiency_exchange``.

    Raises
    ------
    ValueError
        If ``n_runs`` is smaller than the number of parameters or larger than the number
        of candidates (without repeats), if ``candidates`` has duplicate or out-of-range
        rows, if an interaction pair is malformed, or if the candidates cannot estimate
        every term of the model (for example a level never appears).

    Examples
    --------
    >>> result = d_efficient_design([2, 2, 3, 3, 4, 2], 36, random_state=7)
    >>> result.runs.shape
    (36, 6)
    >>> result.d_efficiency > 0.9
    True
    >>> bool((d_efficient_design([2, 2, 3, 3, 4, 2], 36, random_state=7).runs == result.runs).all())
    True
    >>> trio = d_efficient_design([4, 4, 4], 48, random_state=7,
    ...                           interactions=[(0, 1), (0, 2), (1, 2)])
    >>> trio.level_counts
    ((12, 12, 12, 12), (12, 12, 12, 12), (12, 12, 12, 12))
    """
    levels = _check_levels(n_levels)
    n_runs = positive_int(n_runs, "n_runs")
    n_starts = positive_int(n_starts, "n_starts")
    max_iter = positive_int(max_iter, "max_iter")
    pairs = _check_interactions(interactions, len(levels))
    if not 0 <= balance_tolerance < 1:
        raise ValueError(f"balance_tolerance: expected a number in [0, 1), got {balance_tolerance}")
    if dimension_names is None:
        names: Sequence[str] = [f"dimension {j}" for j in range(len(levels))]
    else:
        names = list(dimension_names)
        if len(names) != len(levels):
            raise ValueError(f"dimension_names: expected {len(levels)} names, got {len(names)}")
    rng = generator_of(random_state)
    p = n_parameters(levels, pairs)

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
        if pairs:
            model = (f"the model with main effects and {len(pairs)} two-way interaction"
                     f"{'s' if len(pairs) > 1 else ''}")
        else:
            model = "the main-effects model"
        raise ValueError(
            f"n_runs: {model} for levels {list(levels)} has {p} parameters, "
            f"so at least {p} runs are needed, got {n_runs}"
        )
    if not allow_repeats and n_runs > n_cand:
        raise ValueError(
            f"n_runs: only {n_cand} candidate combinations, got n_runs={n_runs}; "
            "pass allow_repeats=True to repeat combinations"
        )
    cand_x = model_matrix(cand, levels, pairs)
    if np.linalg.matrix_rank(cand_x) < p:
        what = "all main effects" if not pairs else "all main effects and interactions"
        raise ValueError(
            f"candidates: they cannot estimate {what} (the model matrix is "
            f"rank-deficient){_inestimable(cand, cand_x, levels, pairs, names)}"
        )

    best_rows: np.ndarray | None = None
    best_log_det = float("-inf")
    best_passes = 0
    for _ in range(n_starts):
        start = rng.choice(n_cand, size=n_runs, replace=allow_repeats)
        rows, log_det, passes = _exchange(cand_x, start, allow_repeats, max_iter, rng,
                                          fast_variances=bool(pairs))
        if best_rows is None or log_det > best_log_det + 1e-12:
            best_rows, best_log_det, best_passes = rows, log_det, passes
    assert best_rows is not None
    reference = cand if restricted else None
    swaps = 0
    if balance if balance is not None else bool(pairs):
        exchanged = cand[np.sort(best_rows)]
        best_rows, swaps = _balance(cand, cand_x, best_rows, levels, allow_repeats,
                                    float(balance_tolerance))
    chosen = np.sort(best_rows)
    runs = cand[chosen]
    eff_factorial = d_efficiency(runs, levels, interactions=pairs)
    eff = d_efficiency(runs, levels, reference=cand, interactions=pairs) if restricted else eff_factorial
    eff_exchange = d_efficiency(exchanged, levels, reference, pairs) if swaps else eff
    return DesignResult(
        runs=runs,
        d_efficiency=eff,
        iterations=best_passes,
        d_efficiency_factorial=eff_factorial,
        candidate_rows=chosen,
        interactions=pairs,
        level_counts=level_counts(runs, levels),
        balance_swaps=swaps,
        d_efficiency_exchange=eff_exchange,
    )
