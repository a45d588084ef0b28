"""Fixtures for the rule-engine tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from dsk.catalogue import Catalogue


def draw_frame(catalogue: Catalogue, n: int, seed: int) -> pd.DataFrame:
    """``n`` vignettes with every catalogue name drawn uniformly within its range.

    Unlike designed vignettes, derived features are drawn independently of the
    factors, which exercises every value the backends may see.
    """
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"vignette_id": [f"v{seed}-{i}" for i in range(n)]}
    for name in catalogue.names():
        lo, hi = catalogue.value_range(name)
        data[name] = rng.integers(lo, hi + 1, size=n)
    return pd.DataFrame(data)


@pytest.fixture(scope="session")
def make_frame(catalogue: Catalogue) -> Callable[[int, int], pd.DataFrame]:
    return lambda n, seed=0: draw_frame(catalogue, n, seed)


@pytest.fixture(scope="session")
def rules_sample(catalogue: Catalogue) -> pd.DataFrame:
    """A designed random vignettes table (derived features consistent with factors)."""
    from dsk.design import random_vignettes

    return random_vignettes(1500, random_state=3, catalogue=catalogue, narratives=False)
