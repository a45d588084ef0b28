"""Tests for dsk._doe (factorials, D-efficiency, the exchange search) and dsk.decks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import dsk
import dsk.design
from dsk._doe import (
    d_efficiency,
    d_efficient_design,
    full_factorial,
    model_matrix,
    n_parameters,
)
from dsk.decks import make_decks

UNIVERSE_MIXED = [2, 2, 3, 3, 4, 2]  # 288 combinations, p = 11
UNIVERSE_BINARY = [2, 2, 2, 2, 2]  # 32 combinations, p = 6


# --------------------------------------------------------------------------------------
# Full factorial and coding
# --------------------------------------------------------------------------------------


def test_full_factorial_is_all_distinct_combinations_in_lexicographic_order() -> None:
    ff = full_factorial([2, 3, 4])
    assert ff.shape == (24, 3)
    assert np.issubdtype(ff.dtype, np.integer)
    assert [tuple(r) for r in ff] == list(itertools.product(range(2), range(3), range(4)))


@pytest.mark.parametrize("n_levels", [[2], [3, 3], [2, 5, 4, 6], UNIVERSE_MIXED])
def test_full_factorial_has_identity_information_per_run(n_levels: list[int]) -> None:
    x = model_matrix(full_factorial(n_levels), n_levels)
    assert x.shape == (int(np.prod(n_levels)), n_parameters(n_levels))
    np.testing.assert_allclose(x.T @ x / x.shape[0], np.eye(x.shape[1]), atol=1e-12)


def test_two_level_coding_is_minus_one_plus_one() -> None:
    x = model_matrix([[0], [1]], [2])
    np.testing.assert_allclose(x, [[1.0, -1.0], [1.0, 1.0]], atol=1e-12)


def test_three_level_coding_is_orthonormal_linear_and_quadratic() -> None:
    """Linear (-1, 0, 1) and quadratic (1, -2, 1) contrasts scaled to mean square 1."""
    x = model_matrix([[0], [1], [2]], [3])
    lin = np.array([-1.0, 0.0, 1.0]) * np.sqrt(3 / 2)
    quad = np.array([1.0, -2.0, 1.0]) * np.sqrt(3 / 6)
    np.testing.assert_allclose(x[:, 1], lin, atol=1e-12)
    np.testing.assert_allclose(x[:, 2], quad, atol=1e-12)


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ([[0, 0, 0]], "2 columns"),
        ([[0, 3]], r"runs\[:, 1\]: expected level codes in 0..2, got 3"),
        ([[0, -1]], "got -1"),
        ([[0.5, 1]], "integer level codes"),
    ],
)
def test_model_matrix_rejects_bad_runs(runs: list[list[float]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model_matrix(runs, [2, 3])


def test_levels_must_be_at_least_two() -> None:
    with pytest.raises(ValueError, match=r"n_levels\[1\]: expected at least 2 levels, got 1"):
        full_factorial([2, 1])


# --------------------------------------------------------------------------------------
# D-efficiency against known answers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_levels", [[2, 2], [3, 4], UNIVERSE_MIXED])
def test_full_factorial_has_efficiency_one(n_levels: list[int]) -> None:
    assert d_efficiency(full_factorial(n_levels), n_levels) == pytest.approx(1.0, abs=1e-12)


def test_replicated_full_factorial_has_efficiency_one() -> None:
    """Efficiency is per run, so doubling every run changes nothing."""
    ff = full_factorial([2, 3])
    assert d_efficiency(np.vstack([ff, ff]), [2, 3]) == pytest.approx(1.0, abs=1e-12)


def test_half_fraction_two_to_three_minus_one_has_efficiency_one() -> None:
    """The 2^(3-1) fraction with C = AB (resolution III) is orthogonal for main effects."""
    half = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert d_efficiency(half, [2, 2, 2]) == pytest.approx(1.0, abs=1e-12)


def test_l9_orthogonal_array_has_efficiency_one() -> None:
    """Taguchi L9: four 3-level factors in 9 runs, every pair of columns balanced."""
    l9 = [[0, 0, 0, 0], [0, 1, 1, 1], [0, 2, 2, 2], [1, 0, 1, 2], [1, 1, 2, 0],
          [1, 2, 0, 1], [2, 0, 2, 1], [2, 1, 0, 2], [2, 2, 1, 0]]
    assert d_efficiency(l9, [3, 3, 3, 3]) == pytest.approx(1.0, abs=1e-12)


def test_three_runs_of_a_two_by_two_match_hand_value() -> None:
    """Runs (0,0), (0,1), (1,0) of a 2x2, coded +-1 with intercept:

    X = [[1,-1,-1], [1,-1,1], [1,1,-1]], so X'X = [[3,-1,-1], [-1,3,-1], [-1,-1,3]],
    det(X'X) = 3*(9-1) + 1*(-3-1) - 1*(1+3) = 16, det(X'X/3) = 16/27 and the
    D-efficiency is (16/27)^(1/3) = 0.83995 (p = 3).
    """
    eff = d_efficiency([[0, 0], [0, 1], [1, 0]], [2, 2])
    assert eff == pytest.approx((16 / 27) ** (1 / 3), rel=1e-12)
    assert eff == pytest.approx(0.839947, abs=1e-6)


def test_unbalanced_three_level_design_matches_hand_value() -> None:
    """One 3-level factor, runs at levels 0, 0, 1, 2 (N = 4, p = 3).

    The factor is saturated, so det(X'X) = det(C)^2 * n0 * n1 * n2 where C is the 3x3
    coded level matrix. For the full factorial (one run per level) det(X'X/3) = 1, so
    det(C)^2 = 27, and here det(X'X/4) = 27 * 2*1*1 / 4^3 = 54/64. The D-efficiency is
    (27/32)^(1/3) = 0.94494.
    """
    eff = d_efficiency([[0], [0], [1], [2]], [3])
    assert eff == pytest.approx((27 / 32) ** (1 / 3), rel=1e-12)


def test_singular_design_has_efficiency_zero() -> None:
    # Level 2 of the second factor never appears: its effect cannot be estimated.
    assert d_efficiency([[0, 0], [1, 1], [0, 1], [1, 0]], [2, 3]) == 0.0


def test_efficiency_against_a_reference_is_a_ratio_of_per_run_determinants() -> None:
    ff = full_factorial([2, 2])
    three = [[0, 0], [0, 1], [1, 0]]
    assert d_efficiency(ff, [2, 2], reference=three) == pytest.approx(
        1 / d_efficiency(three, [2, 2]), rel=1e-12
    )
    assert d_efficiency(three, [2, 2], reference=three) == pytest.approx(1.0, abs=1e-12)


def test_singular_reference_is_rejected() -> None:
    with pytest.raises(ValueError, match="reference: .*cannot estimate all main effects"):
        d_efficiency(full_factorial([2, 2]), [2, 2], reference=[[0, 0], [1, 1]])


# --------------------------------------------------------------------------------------
# The exchange search
# --------------------------------------------------------------------------------------


def _efficiency_by_hand(runs: np.ndarray, n_levels: list[int],
                        reference: np.ndarray | None = None) -> float:
    """``(det(X'X/N) / det(X_ref'X_ref/N_ref)) ** (1/p)`` straight from the determinants."""
    x = model_matrix(runs, n_levels)
    value = np.linalg.det(x.T @ x / len(x))
    if reference is not None:
        x_ref = model_matrix(reference, n_levels)
        value /= np.linalg.det(x_ref.T @ x_ref / len(x_ref))
    return float(value ** (1 / x.shape[1]))


def _random_selection_efficiency(n_levels: list[int], n_runs: int, n_draws: int) -> float:
    ff = full_factorial(n_levels)
    rng = np.random.default_rng(0)
    return max(
        d_efficiency(ff[rng.choice(len(ff), n_runs, replace=False)], n_levels)
        for _ in range(n_draws)
    )


def test_mixed_universe_reaches_point_nine_and_beats_random() -> None:
    result = d_efficient_design(UNIVERSE_MIXED, 36, random_state=11)
    assert result.runs.shape == (36, 6)
    assert result.d_efficiency >= 0.9
    assert result.d_efficiency == pytest.approx(_efficiency_by_hand(result.runs, UNIVERSE_MIXED),
                                                rel=1e-9)
    assert result.d_efficiency > _random_selection_efficiency(UNIVERSE_MIXED, 36, 50)


def test_iterations_count_the_passes_until_one_makes_no_swap() -> None:
    """A random start needs at least one improving pass and one confirming pass."""
    converged = d_efficient_design(UNIVERSE_MIXED, 36, random_state=11)
    assert 2 <= converged.iterations < 100
    assert d_efficient_design(UNIVERSE_MIXED, 36, random_state=11, max_iter=1).iterations == 1


def test_small_design_beats_best_of_many_random_draws() -> None:
    """12 runs for 11 parameters: random subsets are poor, the search is not."""
    result = d_efficient_design(UNIVERSE_MIXED, 12, random_state=5)
    assert result.d_efficiency >= 0.75
    assert result.d_efficiency > _random_selection_efficiency(UNIVERSE_MIXED, 12, 200) + 0.1


def test_five_binary_dimensions_in_sixteen_runs_find_an_orthogonal_fraction() -> None:
    result = d_efficient_design(UNIVERSE_BINARY, 16, random_state=0)
    assert result.d_efficiency == pytest.approx(1.0, abs=1e-9)
    x = model_matrix(result.runs, UNIVERSE_BINARY)
    np.testing.assert_allclose(x.T @ x, 16 * np.eye(6), atol=1e-9)


def test_runs_are_distinct_by_default_and_may_repeat_when_allowed() -> None:
    result = d_efficient_design([2, 2], 4, random_state=1)
    assert len({tuple(r) for r in result.runs}) == 4
    with pytest.raises(ValueError, match="only 4 candidate combinations, got n_runs=6"):
        d_efficient_design([2, 2], 6, random_state=1)
    repeated = d_efficient_design([2, 2], 6, random_state=1, allow_repeats=True)
    assert repeated.runs.shape == (6, 2)
    assert repeated.d_efficiency > 0.9


def test_candidates_without_implausible_combinations_are_respected() -> None:
    ff = full_factorial(UNIVERSE_MIXED)
    # Exclude every run where dimension 0 is 1 and dimension 4 is 3, and where
    # dimensions 2 and 3 are both 2 (say: no school attendance for an infant).
    keep = ~(((ff[:, 0] == 1) & (ff[:, 4] == 3)) | ((ff[:, 2] == 2) & (ff[:, 3] == 2)))
    candidates = ff[keep]
    result = d_efficient_design(UNIVERSE_MIXED, 36, random_state=3, candidates=candidates)
    allowed = {tuple(r) for r in candidates}
    assert all(tuple(r) in allowed for r in result.runs)
    np.testing.assert_array_equal(result.runs, candidates[result.candidate_rows])
    assert result.d_efficiency == pytest.approx(
        _efficiency_by_hand(result.runs, UNIVERSE_MIXED, reference=candidates), rel=1e-9
    )
    assert result.d_efficiency_factorial == pytest.approx(
        _efficiency_by_hand(result.runs, UNIVERSE_MIXED), rel=1e-9
    )
    # The restricted candidate set is itself less informative than the full factorial.
    assert result.d_efficiency > result.d_efficiency_factorial
    assert result.d_efficiency_factorial >= 0.85


def test_no_candidate_is_repeated_even_where_repeating_would_pay() -> None:
    """On this restricted set the best 8-run design with repeats uses only 6 distinct runs."""
    levels = [2, 3, 2]
    candidates = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 1], [0, 2, 0], [0, 2, 1],
                           [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 2, 0], [1, 2, 1]])
    distinct = d_efficient_design(levels, 8, random_state=1, candidates=candidates)
    assert len(np.unique(distinct.runs, axis=0)) == 8
    assert len(np.unique(distinct.candidate_rows)) == 8
    repeated = d_efficient_design(levels, 8, random_state=1, candidates=candidates, allow_repeats=True)
    assert len(np.unique(repeated.runs, axis=0)) < 8
    assert repeated.d_efficiency >= distinct.d_efficiency


def test_candidates_that_miss_a_level_are_rejected() -> None:
    ff = full_factorial([2, 3])
    with pytest.raises(ValueError, match="dimension 1 level 2"):
        d_efficient_design([2, 3], 4, random_state=0, candidates=ff[ff[:, 1] != 2])


def test_duplicate_candidates_are_rejected() -> None:
    ff = full_factorial([2, 2])
    with pytest.raises(ValueError, match=r"duplicate combination \[0, 1\]"):
        d_efficient_design([2, 2], 3, random_state=0, candidates=np.vstack([ff, ff[1:2]]))


def test_too_few_runs_for_the_model_are_rejected() -> None:
    with pytest.raises(ValueError, match="11 parameters, so at least 11 runs are needed, got 8"):
        d_efficient_design(UNIVERSE_MIXED, 8, random_state=0)


def test_same_seed_gives_identical_bytes_and_other_seeds_may_differ() -> None:
    first = d_efficient_design(UNIVERSE_MIXED, 36, random_state=42)
    again = d_efficient_design(UNIVERSE_MIXED, 36, random_state=42)
    assert first.runs.tobytes() == again.runs.tobytes()
    assert first.d_efficiency == again.d_efficiency
    others = [d_efficient_design(UNIVERSE_MIXED, 36, random_state=s).runs.tobytes() for s in (1, 2, 3)]
    assert any(o != first.runs.tobytes() for o in others)


def test_six_dimensions_with_hundreds_of_candidates_and_sixty_runs_reach_point_nine_five() -> None:
    """The efficiency half of the speed target; benchmarks/bench_doe.py times the search."""
    levels = [3, 3, 3, 4, 4, 2]  # 864 candidates, p = 14
    result = d_efficient_design(levels, 60, random_state=0)
    assert result.d_efficiency >= 0.95


def test_design_stream_is_fixed_for_an_int_and_a_generator_is_used_as_is() -> None:
    """Known answer: the rows chosen for this small search, recorded once."""
    result = d_efficient_design([2, 3, 2], 6, random_state=1)
    assert result.candidate_rows.tolist() == [0, 3, 4, 7, 8, 11]
    assert result.d_efficiency == pytest.approx(0.976718683861174, rel=1e-12)
    from_generator = d_efficient_design([2, 3, 2], 6, random_state=np.random.default_rng(1))
    np.testing.assert_array_equal(from_generator.runs, result.runs)
    with pytest.raises(TypeError, match="random_state: expected an int or numpy Generator"):
        d_efficient_design([2, 3, 2], 6, random_state=1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Models with two-way interactions
# --------------------------------------------------------------------------------------

ALL_PAIRS_5 = [(a, b) for a in range(5) for b in range(a + 1, 5)]


def _montgomery_two_to_five_minus_one() -> np.ndarray:
    """The 2^(5-1) resolution-V fraction with defining relation I = ABCDE.

    Montgomery, *Design and Analysis of Experiments* (9th ed., 2017), ch. 8, "The
    One-Half Fraction of the 2^k Design": write the full 2^4 in A, B, C, D in standard
    order (A changing fastest) and set E = ABCD. Typed out here in -1/+1 as in the book,
    then recoded to level codes 0/1.
    """
    signs = [
        # A   B   C   D   E = ABCD
        [-1, -1, -1, -1, +1], [+1, -1, -1, -1, -1], [-1, +1, -1, -1, -1], [+1, +1, -1, -1, +1],
        [-1, -1, +1, -1, -1], [+1, -1, +1, -1, +1], [-1, +1, +1, -1, +1], [+1, +1, +1, -1, -1],
        [-1, -1, -1, +1, -1], [+1, -1, -1, +1, +1], [-1, +1, -1, +1, +1], [+1, +1, -1, +1, -1],
        [-1, -1, +1, +1, +1], [+1, -1, +1, +1, -1], [-1, +1, +1, +1, -1], [+1, +1, +1, +1, +1],
    ]
    return (np.array(signs) + 1) // 2


def test_interaction_columns_are_products_of_the_contrasts() -> None:
    """For 2-level factors coded -1/+1 the A:B column is the elementwise product A * B."""
    ff = full_factorial([2, 2, 2])
    x = model_matrix(ff, [2, 2, 2], interactions=[(0, 1), (1, 2)])
    assert x.shape == (8, 6)
    np.testing.assert_allclose(x[:, 4], x[:, 1] * x[:, 2], atol=1e-12)
    np.testing.assert_allclose(x[:, 5], x[:, 2] * x[:, 3], atol=1e-12)
    # 3 x 4 levels: (3 - 1) * (4 - 1) = 6 columns, contrast 1 of A times contrasts 1-3 of B first.
    x = model_matrix(full_factorial([3, 4]), [3, 4], interactions=[(0, 1)])
    assert x.shape == (12, 1 + 2 + 3 + 6)
    np.testing.assert_allclose(x[:, 6], x[:, 1] * x[:, 3], atol=1e-12)
    np.testing.assert_allclose(x[:, 11], x[:, 2] * x[:, 5], atol=1e-12)


@pytest.mark.parametrize("n_levels", [[3, 4, 2], [2, 5, 3, 2]])
def test_full_factorial_keeps_identity_information_with_every_interaction(n_levels: list[int]) -> None:
    pairs = list(itertools.combinations(range(len(n_levels)), 2))
    x = model_matrix(full_factorial(n_levels), n_levels, interactions=pairs)
    assert x.shape[1] == n_parameters(n_levels, pairs)
    np.testing.assert_allclose(x.T @ x / x.shape[0], np.eye(x.shape[1]), atol=1e-12)
    assert d_efficiency(full_factorial(n_levels), n_levels, interactions=pairs) == 1.0


def test_number_of_parameters_counts_interaction_columns() -> None:
    # toxic trio: three 4-level factors, 1 + 3 * 3 main-effect and 3 * 9 interaction columns
    assert n_parameters([4, 4, 4], [(0, 1), (0, 2), (1, 2)]) == 37
    assert n_parameters([2] * 5, ALL_PAIRS_5) == 16


def test_resolution_five_half_fraction_estimates_every_two_way_interaction_orthogonally() -> None:
    half = _montgomery_two_to_five_minus_one()
    assert len({tuple(r) for r in half}) == 16
    x = model_matrix(half, [2] * 5, interactions=ALL_PAIRS_5)
    np.testing.assert_allclose(x.T @ x, 16 * np.eye(16), atol=1e-12)
    assert d_efficiency(half, [2] * 5, interactions=ALL_PAIRS_5) == 1.0


def test_search_finds_a_resolution_five_fraction_for_all_ten_interactions() -> None:
    result = d_efficient_design([2] * 5, 16, random_state=0, interactions=ALL_PAIRS_5)
    assert result.d_efficiency == 1.0
    x = model_matrix(result.runs, [2] * 5, interactions=ALL_PAIRS_5)
    np.testing.assert_allclose(x.T @ x, 16 * np.eye(16), atol=1e-9)
    # A resolution-V half fraction is one of the two halves I = +ABCDE or I = -ABCDE.
    signs = (2 * result.runs - 1).prod(axis=1)
    assert abs(int(signs.sum())) == 16
    assert result.level_counts == ((8, 8),) * 5


def test_resolution_three_fraction_cannot_estimate_a_two_way_interaction() -> None:
    """2^(3-1) with C = AB: main effects are orthogonal, but A:B is the C column."""
    half = [[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert d_efficiency(half, [2, 2, 2]) == 1.0
    assert d_efficiency(half, [2, 2, 2], interactions=[(0, 1)]) == 0.0
    # Searching it (repeats allowed, so the run size is not the limit) is a clear error.
    with pytest.raises(ValueError, match=r"cannot estimate all main effects and interactions .*"
                                         r"cannot estimate dimension 0:dimension 1 \(only 0 of its 1"):
        d_efficient_design([2, 2, 2], 8, random_state=0, candidates=half, allow_repeats=True,
                           interactions=[(0, 1)])
    with pytest.raises(ValueError, match=r"2 two-way interactions for levels \[2, 2, 2\] has 6 "
                                         "parameters, so at least 6 runs are needed, got 4"):
        d_efficient_design([2, 2, 2], 4, random_state=0, interactions=[(0, 1), (1, 2)])


def test_resolution_four_fraction_separates_interactions_that_are_not_aliased() -> None:
    """2^(4-1) with D = ABC (I = ABCD): AB = CD and AC = BD are aliased, AB and AC are not."""
    basic = full_factorial([2, 2, 2])
    half = np.column_stack([basic, (basic.sum(axis=1) % 2)])  # D = ABC in -1/+1 coding
    assert ((2 * half - 1).prod(axis=1) == 1).all()  # I = ABCD
    assert d_efficiency(half, [2] * 4, interactions=[(0, 1), (0, 2)]) == 1.0
    assert d_efficiency(half, [2] * 4, interactions=[(0, 1), (2, 3)]) == 0.0


def test_efficiencies_with_interactions_match_r() -> None:
    """Values from base R (tests/data/doe_reference.R), with R's treatment contrasts.

    Full factorial of 3 x 4 x 2 x 2 levels, runs with (a + 2b + c + d) mod 3 != 1 (32 of
    48); model with main effects, A:B and C:D; the restricted reference drops the runs with
    a = 2, b = 3, c = 1.
    """
    levels = [3, 4, 2, 2]
    ff = full_factorial(levels)
    a, b, c, d = ff.T
    design = ff[(a + 2 * b + c + d) % 3 != 1]
    restricted = ff[~((a == 2) & (b == 3) & (c == 1))]
    pairs = [(0, 1), (2, 3)]
    assert d_efficiency(design, levels, interactions=pairs) == pytest.approx(0.948300941784297, rel=1e-12)
    assert d_efficiency(design, levels) == pytest.approx(0.994473594486995, rel=1e-12)
    assert d_efficiency(design, levels, reference=restricted, interactions=pairs) == pytest.approx(
        0.962875014342613, rel=1e-12)
    assert d_efficiency(design, levels, reference=restricted) == pytest.approx(1.000323717968256, rel=1e-12)


def test_a_missing_cell_makes_its_interaction_inestimable() -> None:
    """3 x 4 minus one cell: 11 runs for the saturated 12-parameter A:B model."""
    ff = full_factorial([3, 4])
    missing = ff[1:]
    assert d_efficiency(missing, [3, 4], interactions=[(0, 1)]) == 0.0
    assert d_efficiency(missing, [3, 4]) > 0.9
    with pytest.raises(ValueError, match="reference: the reference design cannot estimate all main "
                                         "effects and interactions"):
        d_efficiency(ff, [3, 4], reference=missing, interactions=[(0, 1)])


def test_toxic_trio_design_is_balanced_and_beats_random() -> None:
    trio = [(0, 1), (0, 2), (1, 2)]
    result = d_efficient_design([4, 4, 4], 48, random_state=3, interactions=trio)
    assert result.interactions == ((0, 1), (0, 2), (1, 2))
    assert result.level_counts == ((12, 12, 12, 12),) * 3
    assert result.d_efficiency == pytest.approx(
        _efficiency_by_hand_with(result.runs, [4, 4, 4], trio), rel=1e-9)
    assert result.d_efficiency >= 0.85
    ff = full_factorial([4, 4, 4])
    rng = np.random.default_rng(0)
    best_random = max(d_efficiency(ff[rng.choice(64, 48, replace=False)], [4, 4, 4], interactions=trio)
                      for _ in range(50))
    assert result.d_efficiency > best_random + 0.03


def _efficiency_by_hand_with(runs: np.ndarray, n_levels: list[int], pairs: list[tuple[int, int]]) -> float:
    x = model_matrix(runs, n_levels, interactions=pairs)
    return float(np.linalg.det(x.T @ x / len(x)) ** (1 / x.shape[1]))


@pytest.mark.parametrize(
    ("interactions", "message"),
    [
        ([(0, 0)], r"interactions\[0\]: \(0, 0\) names dimension 0 twice"),
        ([(0, 5)], r"interactions\[0\]: dimension index 5 is outside 0..2"),
        ([(0, 1), (1, 0)], r"interactions\[1\]: the pair \(1, 0\) is given twice"),
        ([(0, 1, 2)], r"interactions\[0\]: expected a pair of dimension indices"),
        ([(1, 1), (2, 3)], r"names dimension 1 twice; interactions\[1\]: dimension index 3"),
    ],
)
def test_bad_interactions_are_rejected_all_at_once(interactions: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        d_efficient_design([2, 3, 2], 12, random_state=0, interactions=interactions)


def test_level_counts_by_hand() -> None:
    from dsk._doe import level_counts

    assert level_counts([[0, 2], [1, 2], [1, 0]], [2, 3]) == ((1, 2), (1, 0, 2))


# --------------------------------------------------------------------------------------
# Level balance
# --------------------------------------------------------------------------------------


def test_balance_repair_evens_out_levels_within_the_tolerance() -> None:
    """Without repair this search leaves 3- and 4-level dimensions unbalanced in 60 runs."""
    levels, pairs = [3, 3, 3, 4, 4, 2], [(0, 1), (3, 5)]
    raw = d_efficient_design(levels, 60, random_state=0, interactions=pairs, balance=False)
    assert raw.balance_swaps == 0
    assert any(len(set(c)) > 1 for c in raw.level_counts)
    fixed = d_efficient_design(levels, 60, random_state=0, interactions=pairs)
    assert fixed.level_counts == ((20, 20, 20),) * 3 + ((15, 15, 15, 15),) * 2 + ((30, 30),)
    assert fixed.balance_swaps > 0
    # The repair starts from the exchange's result and keeps 99% of its D-efficiency.
    assert fixed.d_efficiency_exchange == pytest.approx(raw.d_efficiency, rel=1e-12)
    assert fixed.d_efficiency >= 0.99 * raw.d_efficiency
    assert fixed.d_efficiency < raw.d_efficiency  # here balance has a (small) price
    assert len({tuple(r) for r in fixed.runs}) == 60


def test_balance_with_no_tolerance_never_loses_efficiency() -> None:
    levels, pairs = [3, 3, 3, 4, 4, 2], [(0, 1), (3, 5)]
    raw = d_efficient_design(levels, 60, random_state=0, interactions=pairs, balance=False)
    strict = d_efficient_design(levels, 60, random_state=0, interactions=pairs, balance_tolerance=0.0)
    assert strict.d_efficiency >= raw.d_efficiency - 1e-12


def test_balance_is_opt_in_for_main_effects_designs() -> None:
    """Main-effects designs keep their runs (recorded before balancing existed); balance=True
    repairs the 3-level dimension of this one, which the exchange leaves at 8/12/10/10."""
    default = d_efficient_design([4, 4, 4, 2, 2, 3], 40, random_state=1)
    assert default.candidate_rows.tolist() == [
        2, 12, 47, 77, 82, 109, 126, 151, 160, 189, 219, 223, 248, 259, 277, 291, 311, 352, 362, 381,
        405, 425, 452, 460, 468, 490, 510, 520, 528, 548, 586, 588, 619, 627, 645, 689, 710, 714, 745, 755]
    assert default.d_efficiency == pytest.approx(0.9886328012333474, rel=1e-12)
    assert default.balance_swaps == 0
    unbalanced = [c for c in default.level_counts if len(c) in (2, 4) and len(set(c)) > 1]
    assert unbalanced
    balanced = d_efficient_design([4, 4, 4, 2, 2, 3], 40, random_state=1, balance=True)
    assert all(len(set(c)) == 1 for c in balanced.level_counts if 40 % len(c) == 0)
    assert balanced.d_efficiency >= 0.99 * default.d_efficiency


def test_dimensions_whose_levels_do_not_divide_the_run_size_are_left_alone() -> None:
    """24 runs: a 5-level dimension cannot be balanced, the 4-level ones can."""
    result = d_efficient_design([4, 4, 5], 24, random_state=2, interactions=[(0, 1)])
    assert result.level_counts[0] == (6, 6, 6, 6) and result.level_counts[1] == (6, 6, 6, 6)
    assert sum(result.level_counts[2]) == 24


def test_bad_balance_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"balance_tolerance: expected a number in \[0, 1\), got 1.5"):
        d_efficient_design([2, 2], 4, random_state=0, balance_tolerance=1.5)


# --------------------------------------------------------------------------------------
# Decks
# --------------------------------------------------------------------------------------

IDS_24 = [f"v{i:02d}" for i in range(24)]


@pytest.mark.parametrize(
    ("n_vignettes", "deck_size", "n_respondents"),
    [(24, 4, 60), (24, 4, 61), (10, 4, 37), (16, 16, 5), (7, 3, 20), (5, 1, 9)],
)
def test_decks_are_distinct_within_respondent_and_balanced_overall(
    n_vignettes: int, deck_size: int, n_respondents: int
) -> None:
    ids = [f"v{i:02d}" for i in range(n_vignettes)]
    decks = make_decks(ids, deck_size, n_respondents, random_state=9)
    assert list(decks.columns) == ["respondent", "deck", "position", "vignette_id"]
    assert len(decks) == deck_size * n_respondents
    per_resp = decks.groupby("respondent")
    assert (per_resp["vignette_id"].nunique() == deck_size).all()
    assert (per_resp["position"].apply(sorted).map(list) == [list(range(1, deck_size + 1))]
            * n_respondents).all()
    assert sorted(decks["respondent"].unique()) == list(range(1, n_respondents + 1))
    # Every vignette shown, counts within 1, and the same for every prefix of respondents.
    for last in (n_respondents // 3, n_respondents):
        shown = decks[decks["respondent"] <= last]["vignette_id"].value_counts()
        shown = shown.reindex(ids, fill_value=0)
        assert shown.max() - shown.min() <= 1
    # Respondents sharing a deck number see the same vignettes.
    sets = decks.groupby(["deck", "respondent"])["vignette_id"].apply(frozenset)
    assert (sets.groupby(level="deck").nunique() == 1).all()


def test_disjoint_decks_when_deck_size_divides_the_set() -> None:
    decks = make_decks(IDS_24, 6, 12, random_state=1)
    assert decks["deck"].nunique() == 4
    assert decks.groupby("vignette_id")["deck"].nunique().eq(1).all()
    assert decks["vignette_id"].value_counts().eq(3).all()


@pytest.mark.parametrize("deck_size", [4, 5])
def test_positions_are_balanced_within_each_deck(deck_size: int) -> None:
    """With m respondents per deck each vignette sits at each position m/k times."""
    ids = IDS_24[: deck_size * 2]
    n_respondents = 2 * 2 * deck_size * 3  # two decks, each seen 6k times
    decks = make_decks(ids, deck_size, n_respondents, random_state=4)
    counts = decks.groupby(["vignette_id", "position"]).size().unstack(fill_value=0)
    assert (counts.to_numpy() == 2 * deck_size * 3 // deck_size).all()
    # Carryover: each ordered pair of neighbours in a deck occurs equally often.
    ordered = decks.sort_values(["respondent", "position"])
    nxt = ordered.groupby("respondent")["vignette_id"].shift(-1)
    pairs = pd.Series(list(zip(ordered["vignette_id"], nxt, strict=True)))[nxt.notna().to_numpy()]
    pair_counts = pairs.value_counts()
    assert len(pair_counts) == 2 * deck_size * (deck_size - 1)  # every ordered pair, per deck
    assert pair_counts.nunique() == 1


def test_positions_are_within_one_for_incomplete_rounds() -> None:
    decks = make_decks(IDS_24[:8], 4, 2 * 4 + 2 * 3, random_state=6)  # 7 respondents per deck
    counts = decks.groupby(["vignette_id", "position"]).size().unstack(fill_value=0)
    assert set(np.unique(counts.to_numpy())) <= {1, 2}


def test_vignettes_are_shuffled_into_decks() -> None:
    first_decks = {
        frozenset(make_decks(IDS_24, 6, 4, random_state=s).query("deck == 1")["vignette_id"])
        for s in range(5)
    }
    assert len(first_decks) == 5
    assert frozenset(IDS_24[:6]) not in first_decks


def test_orders_are_randomised_across_respondents() -> None:
    """One deck of 4: the 4 rows of a Williams square, each dealt to every 4th respondent."""
    decks = make_decks(IDS_24[:4], 4, 40, random_state=2)
    orders = decks.groupby("respondent")["vignette_id"].apply(tuple)
    assert orders.value_counts().tolist() == [10, 10, 10, 10]
    assert (orders.iloc[:4].to_numpy() == orders.iloc[4:8].to_numpy()).all()


def test_each_order_is_drawn_from_all_permutations() -> None:
    """The first respondent's order over 30 seeds: uniform over 4! = 24 orders."""
    firsts = {
        tuple(make_decks(IDS_24[:4], 4, 1, random_state=s)["vignette_id"]) for s in range(30)
    }
    assert len(firsts) >= 10


def test_decks_are_deterministic_for_a_seed() -> None:
    first = make_decks(IDS_24, 5, 30, random_state=17)
    again = make_decks(IDS_24, 5, 30, random_state=17)
    pd.testing.assert_frame_equal(first, again)
    assert first.to_csv().encode() == again.to_csv().encode()
    other = make_decks(IDS_24, 5, 30, random_state=18)
    assert not first.equals(other)


def test_deck_stream_is_fixed_for_an_int_and_a_generator_is_used_as_is() -> None:
    """Known answer: 7 vignettes in decks of 3 (7 decks, one per respondent), recorded once."""
    decks = make_decks(list("abcdefg"), 3, 5, random_state=3)
    assert decks["deck"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
    assert "".join(decks["vignette_id"]) == "cgfbdeafgcbeadf"
    from_generator = make_decks(list("abcdefg"), 3, 5, random_state=np.random.default_rng(3))
    pd.testing.assert_frame_equal(from_generator, decks)
    with pytest.raises(TypeError, match="random_state: expected an int or numpy Generator"):
        make_decks(list("abcdefg"), 3, 5, random_state="3")  # type: ignore[arg-type]


def test_make_decks_is_public_where_it_was() -> None:
    assert dsk.make_decks is make_decks
    assert dsk.design.make_decks is make_decks
    assert "make_decks" in dsk.__all__ and "make_decks" in dsk.design.__all__


@pytest.mark.parametrize(
    ("ids", "deck_size", "n_respondents", "error", "message"),
    [
        (IDS_24[:3], 4, 5, ValueError, r"deck_size: expected at most the number of vignettes "
                                       r"\(3\), got 4"),
        (IDS_24[:3], 0, 5, ValueError, "deck_size: expected a positive int, got 0"),
        (IDS_24[:3], 2, -1, ValueError, "n_respondents: expected a positive int, got -1"),
        (IDS_24[:3], 2.5, 5, TypeError, "deck_size: expected a positive int, got float"),
        (["a", "b", "a", "c", "b"], 2, 5, ValueError, r"duplicates \['a', 'b'\]"),
        ([], 1, 5, ValueError, "vignette_ids: expected at least one"),
        ("abc", 1, 5, TypeError, "single string"),
    ],
)
def test_deck_arguments_are_validated(
    ids: list[str], deck_size: int, n_respondents: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make_decks(ids, deck_size, n_respondents, random_state=0)
