"""Strata of vignettes for the agreement comparisons: complexity band and tertiles.

:func:`complexity_strata` turns a vignettes table into a long table of
(vignette, stratum) pairs; :func:`dsk.analysis.agreement_stats` computes every
comparison within each stratum as well as over all vignettes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dsk.analysis._bootstrap import _check_columns
from dsk.schema import BANDS, COMPLEXITY_COLUMNS

__all__ = ["Strata", "complexity_strata"]

def complexity_strata(vignettes: pd.DataFrame, unit: str = "vignette_id") -> pd.DataFrame:
    """Strata of vignettes: complexity band, and tertile of each complexity dimension.

    Returns a long table (``unit``, ``stratum``) with labels such as
    ``complexity_band=high`` and ``cx_conflict=tertile3``. Tertiles are cut on
    the average rank among the vignettes given, so tied values share a tertile.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"vignette_id": ["a", "b", "c"], "complexity_band": ["low", "low", "high"],
    ...                   "cx_conflict": [0.0, 0.5, 1.0]})
    >>> complexity_strata(v).stratum.tolist()
    ['complexity_band=low', 'complexity_band=low', 'complexity_band=high', 'cx_conflict=tertile1', \
'cx_conflict=tertile2', 'cx_conflict=tertile3']
    """
    _check_columns(vignettes, (unit,), None)
    parts = []
    ids = vignettes[unit].astype(str).to_numpy()
    if "complexity_band" in vignettes.columns:
        band = vignettes["complexity_band"]
        order = {b: i for i, b in enumerate(BANDS)}
        frame = pd.DataFrame(
            {
                unit: ids,
                "stratum": "complexity_band=" + band.astype(str).to_numpy(),
                "_o": [order.get(b, len(order)) for b in band],
            }
        )
        parts.append(frame.sort_values("_o", kind="stable").drop(columns="_o"))
    for col in COMPLEXITY_COLUMNS:
        if col not in vignettes.columns:
            continue
        values = pd.to_numeric(vignettes[col], errors="coerce")
        rank = values.rank(method="average").to_numpy()
        count = int(values.notna().sum())
        tertile = np.clip(np.ceil(3 * rank / max(count, 1) - 1e-9), 1, 3)
        frame = pd.DataFrame(
            {
                unit: ids,
                "stratum": [f"{col}=tertile{int(t)}" if np.isfinite(t) else "" for t in tertile],
                "_t": np.nan_to_num(tertile),
            }
        )
        frame = frame[frame.stratum != ""].sort_values("_t", kind="stable").drop(columns="_t")
        parts.append(frame)
    if not parts:
        return pd.DataFrame({unit: pd.Series(dtype=object), "stratum": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True)


#: Strata for :func:`dsk.analysis.agreement_stats`: a vignettes table, a long table of
#: (vignette_id, stratum), or a mapping from vignette id to stratum label(s).
Strata = pd.DataFrame | Mapping[str, "str | Sequence[str]"] | None


def _strata_masks(strata: Strata, units: np.ndarray, unit: str) -> list[tuple[str, np.ndarray]]:
    """``[("all", all units), (label, mask), ...]`` in a stable order."""
    out = [("all", np.ones(len(units), dtype=bool))]
    if strata is None:
        return out
    if isinstance(strata, pd.DataFrame):
        table = strata if "stratum" in strata.columns else complexity_strata(strata, unit)
        _check_columns(table, (unit, "stratum"), None)
        pairs = list(zip(table[unit].astype(str), table["stratum"].astype(str), strict=True))
    else:
        pairs = []
        for key, labels in strata.items():
            for label in [labels] if isinstance(labels, str) else labels:
                pairs.append((str(key), str(label)))
    position = {u: i for i, u in enumerate(units)}
    masks: dict[str, np.ndarray] = {}
    for key, label in pairs:
        mask = masks.setdefault(label, np.zeros(len(units), dtype=bool))
        if key in position:
            mask[position[key]] = True
    return out + list(masks.items())

