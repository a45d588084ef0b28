"""Conger's (1980) kappa among many raters (dsk.analysis.coefficients.conger_kappa).

Published values: Gwet's R package irrCAC (README, version 1.0) for its data set
cac.raw4raters (4 raters x 12 subjects, categories 1-5, missing ratings; the same data as
Krippendorff 2011, example C, in data/krippendorff_2011_c.csv): ``conger.kappa.raw`` gives
pa 0.8181818, pe 0.2334252, Conger's kappa 0.76282. The weighted values on the same data,
linear 0.814 and quadratic 0.858, are the ones the irrCAC Python port (afergadis/irrCAC,
test/unit/irrCAC/raw/test_conger.py) checks its code against, taken from the R package.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from dsk.analysis import _kernels as K
from dsk.analysis import agreement, cohen_kappa, conger_kappa, fleiss_kappa
from dsk.analysis.coefficients import AgreementInputError

DATA = Path(__file__).parent / "data"
ARGS = ("unit", "observer", "value")


def _long(matrix: np.ndarray) -> pd.DataFrame:
    rows = [(f"u{i:03d}", f"r{j}", matrix[i, j]) for i in range(matrix.shape[0])
            for j in range(matrix.shape[1]) if not np.isnan(matrix[i, j])]
    return pd.DataFrame(rows, columns=["vignette_id", "rater_id", "need_level"])


def test_irrcac_raw4raters() -> None:
    data = pd.read_csv(DATA / "krippendorff_2011_c.csv")
    assert round(conger_kappa(data, *ARGS), 5) == 0.76282
    assert round(conger_kappa(data, *ARGS, weights="linear"), 3) == 0.814
    assert round(conger_kappa(data, *ARGS, weights="quadratic"), 3) == 0.858
    wide = data.pivot(index="unit", columns="observer", values="value").to_numpy()
    codes = np.where(np.isnan(wide), -1, wide - 1).astype(int)
    sums = K.panel_sums(K.onehot(codes, 5))
    assert float(np.einsum("kk->", sums.rater_chance[0])) == pytest.approx(0.2334252, abs=1e-7)
    table = agreement(data, *ARGS, n_boot=0).set_index("metric")
    assert round(float(table.loc["conger_kappa", "estimate"]), 5) == 0.76282
    assert int(table.loc["conger_kappa", "n"]) == 11  # units rated by two or more observers


def test_hand_computed_with_a_missing_rating() -> None:
    """Units [1, 1, 2], [3, 3, 3], [2, 2, -]: pa = (1/3 + 1 + 1)/3 = 7/9. Raters a and b each
    rated 1, 3, 2 once: p = (1/3, 1/3, 1/3); c rated 2, 3: p = (0, 1/2, 1/2). Each pair of
    different raters has chance agreement 1/3, so kappa = (7/9 - 1/3)/(2/3) = 2/3. Fleiss'
    pooled prevalence (2/9, 4/9, 3/9) gives pe 29/81 instead, kappa 34/52."""
    data = pd.DataFrame({"vignette_id": [1, 1, 1, 2, 2, 2, 3, 3], "rater_id": list("abcabcab"),
                         "need_level": [1, 1, 2, 3, 3, 3, 2, 2]})
    assert conger_kappa(data) == pytest.approx(2 / 3)
    assert fleiss_kappa(data) == pytest.approx(34 / 52)


@pytest.mark.parametrize("seed", range(5))
def test_two_raters_is_cohens_kappa(seed: int) -> None:
    """With two raters Conger's kappa is Cohen's (scikit-learn), weighted or not."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 5, 40)
    b = np.where(rng.random(40) < 0.6, a, rng.integers(1, 5, 40))
    data = _long(np.stack([a, b], axis=1).astype(float))
    for weights in (None, "linear", "quadratic"):
        expected = cohen_kappa_score(a, b, labels=[1, 2, 3, 4], weights=weights)
        got = conger_kappa(data, weights=weights, categories=(1, 2, 3, 4))
        assert got == pytest.approx(expected, abs=1e-12)
        assert got == pytest.approx(cohen_kappa(data, weights=weights, categories=(1, 2, 3, 4)))


def test_multiplicities_equal_explicit_resample() -> None:
    """Unit multiplicities equal the explicitly repeated units; a rater drawn 0 times is the
    data without that rater."""
    rng = np.random.default_rng(7)
    matrix = rng.integers(1, 5, (25, 5)).astype(float)
    matrix[rng.random((25, 5)) < 0.25] = np.nan
    matrix[:, 0] = rng.integers(1, 5, 25)
    codes = np.where(np.isnan(matrix), -1, matrix - 1).astype(int)
    draw = rng.integers(0, 25, 25)
    units = np.bincount(draw, minlength=25).astype(float)[None]
    sums = K.panel_sums(K.onehot(codes, 4), units)
    repeated = _long(matrix[draw])  # units named by row: a unit drawn twice is two units
    assert K.conger(sums, np.eye(4))[0] == pytest.approx(
        conger_kappa(repeated, categories=(1, 2, 3, 4)), abs=1e-12)
    raters = np.array([[1.0, 1.0, 0.0, 1.0, 1.0]])
    sums = K.panel_sums(K.onehot(codes, 4), None, raters)
    assert K.conger(sums, np.eye(4))[0] == pytest.approx(
        conger_kappa(_long(np.delete(matrix, 2, axis=1)), categories=(1, 2, 3, 4)), abs=1e-12)


def test_chance_level_and_bad_weights() -> None:
    """Independent uniform ratings: Conger's kappa near 0; unknown weights are refused."""
    rng = np.random.default_rng(0)
    data = _long(rng.integers(1, 5, (400, 6)).astype(float))
    assert abs(conger_kappa(data)) < 0.05
    with pytest.raises(AgreementInputError, match="weights: expected None, 'linear' or 'quadratic'"):
        conger_kappa(data, weights="cubic")
