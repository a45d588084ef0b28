"""The fast paths of the bootstrap and of SHAP against plain, slow references.

Each fast kernel (dsk.analysis._kernels, dsk.analysis.explain) is checked against a
reference written the obvious way here: loops over replicates, units and raters with the
definitions of docs/methods.md ("Agreement", "Consensus level"), and SHAP's permutation
estimator one function at a time.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsk.analysis import _kernels as K
from dsk.analysis.explain import _permutation_shap, permutation_shap


def _ratings(rng: np.random.Generator, n: int, m: int, missing: float) -> np.ndarray:
    codes = rng.integers(0, 4, (n, m))
    codes[rng.random((n, m)) < missing] = -1
    return codes


def _group_joint_loops(a: np.ndarray, b: np.ndarray, k: int, uw: np.ndarray, wa: np.ndarray,
                       wb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vanbelle and Albert's (2009) joint table, one replicate and unit at a time: on each unit
    rated by both groups, the share of (A, B) rater pairs (copies by multiplicity) at (k, l)."""
    joints, counts = [], []
    for r in range(len(uw)):
        joint, count = np.zeros((k, k)), 0.0
        for i in range(len(a)):
            table = np.zeros((k, k))
            for g in range(a.shape[1]):
                for h in range(b.shape[1]):
                    if a[i, g] >= 0 and b[i, h] >= 0:
                        table[a[i, g], b[i, h]] += wa[r, g] * wb[r, h]
            if table.sum() > 0:
                joint += uw[r, i] * table / table.sum()
                count += uw[r, i]
        joints.append(joint / count if count else np.full((k, k), np.nan))
        counts.append(count)
    return np.array(joints), np.array(counts)


@pytest.mark.parametrize(("n", "ga", "gb", "missing"), [(40, 2, 2, 0.0), (30, 3, 1, 0.3), (25, 2, 4, 0.6)])
def test_group_joint_matches_the_definition(n: int, ga: int, gb: int, missing: float) -> None:
    rng = np.random.default_rng(n)
    a, b = _ratings(rng, n, ga, missing), _ratings(rng, n, gb, missing)
    uw, wa, wb = K.multiplicities(rng, n, 12), K.multiplicities(rng, ga, 12), K.multiplicities(rng, gb, 12)
    joint, count = K.group_joint(K.onehot(a, 4), K.onehot(b, 4), uw, wa, wb)
    want_joint, want_count = _group_joint_loops(a, b, 4, uw, wa, wb)
    np.testing.assert_array_equal(count, want_count)
    np.testing.assert_allclose(joint, want_joint, rtol=0, atol=1e-12)
    # the unit-by-unit path (large groups) gives the same
    direct, direct_count = K._group_joint_direct(K.onehot(a, 4), K.onehot(b, 4), uw, wa, wb)
    np.testing.assert_array_equal(direct_count, count)
    np.testing.assert_allclose(direct, joint, rtol=0, atol=1e-12)


def test_group_joint_without_weights_is_the_sample_table() -> None:
    # two raters per group on 2 units: unit 1 (A: 0, 1; B: 1, 1), unit 2 (A: 2, 2; B: 2, missing);
    # unit 1 gives pairs (0,1) x2 and (1,1) x2 of 4, unit 2 (2,2) x2 of 2: mean of the two shares
    a = np.array([[0, 1], [2, 2]])
    b = np.array([[1, 1], [2, -1]])
    joint, count = K.group_joint(K.onehot(a, 3), K.onehot(b, 3))
    want = np.zeros((3, 3))
    want[0, 1], want[1, 1], want[2, 2] = 0.25, 0.25, 0.5
    np.testing.assert_allclose(joint[0], want)
    assert count.tolist() == [2.0]


def test_rater_pair_joint_is_pair_joint_over_the_pairs() -> None:
    rng = np.random.default_rng(5)
    first, second = _ratings(rng, 50, 6, 0.2), _ratings(rng, 50, 6, 0.2)
    uw, rw = K.multiplicities(rng, 50, 30), K.multiplicities(rng, 6, 30)
    units, raters = np.nonzero((first >= 0) & (second >= 0))
    want = K.pair_joint(first[units, raters], second[units, raters], 4, uw[:, units] * rw[:, raters])
    got = K.rater_pair_joint(first, second, 4, uw, rw)
    np.testing.assert_array_equal(got, want)  # integer multiplicities: exact sums in any order


def _consensus_loops(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower median (lowest level whose cumulative share reaches a half) and majority (ties to
    the level nearest the median, then the lower), row by row; -1 for a row without ratings."""
    rows = counts.reshape(-1, counts.shape[-1])
    median, mode = [], []
    for row in rows:
        total = row.sum()
        if total <= 0:
            median.append(-1)
            mode.append(-1)
            continue
        med = next(c for c in range(len(row)) if row[: c + 1].sum() >= total / 2 - 1e-9)
        top = [c for c in range(len(row)) if row[c] >= row.max() - 1e-9]
        median.append(med)
        mode.append(min(top, key=lambda c: (abs(c - med), c)))
    shape = counts.shape[:-1]
    return np.array(median).reshape(shape), np.array(mode).reshape(shape)


@pytest.mark.parametrize("k", [2, 4, 5, 10])
def test_consensus_matches_the_definition(k: int) -> None:
    rng = np.random.default_rng(k)
    counts = rng.integers(0, 3, (6, 40, k)).astype(float)  # many ties and some empty rows
    counts[:, ::7] = 0
    counts[0, 1] = [2.0, 2.0] + [0.0] * (k - 2)  # an even split: the lower level, both ways
    median, mode = K.consensus(counts)
    want_median, want_mode = _consensus_loops(counts)
    np.testing.assert_array_equal(median, want_median)
    np.testing.assert_array_equal(mode, want_mode)
    assert median[0, 1] == 0 and mode[0, 1] == 0
    np.testing.assert_array_equal(K.median_category(counts[2]), want_median[2])
    per = K.category_counts(K.onehot(_ratings(rng, 30, 5, 0.3) % k, k), K.multiplicities(rng, 5, 8))
    stacked = np.stack(per, axis=-1)
    for got, want in zip(K.consensus_parts(per), _consensus_loops(stacked), strict=True):
        np.testing.assert_array_equal(got, want)


def test_shap_of_several_functions_equals_each_alone() -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, (23, 6))
    background = rng.integers(0, 3, (7, 6))
    fns = [lambda d: (d[:, 0] * d[:, 1] > 1).astype(float) + d[:, 2],
           lambda d: np.maximum(d[:, 3], d[:, 4]) - 0.5 * d[:, 5],
           lambda d: d.sum(axis=1) ** 2]
    alone = [permutation_shap(f, X, background, random_state=9, n_permutations=2) for f in fns]
    for chunk in (1, 5, 32):
        together = _permutation_shap(lambda d: np.stack([f(d) for f in fns], axis=1), X, background,
                                     random_state=9, chunk=chunk, n_permutations=2)
        for got, want in zip(together, alone, strict=True):
            np.testing.assert_array_equal(got, want)
    # local accuracy: attributions add up to f(x) minus the background mean
    for f, values in zip(fns, alone, strict=True):
        np.testing.assert_allclose(values.sum(axis=1), f(X) - f(background).mean(), atol=1e-12)
