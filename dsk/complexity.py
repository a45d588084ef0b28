"""Complexity of a vignette: six dimensions, a composite index and a band.

The six dimensions follow the senses the literature gives "complex case"
(``docs/methods.md``, "Complexity dimensions"). Each is a saturating score in [0, 1)::

    cx = 1 - exp(-evidence / scale)

so that more evidence always raises the score, the first pieces of evidence
count most, and no dimension can exceed 1. The evidence for each dimension:

``cx_multiplicity``
    ``(1 - w) * (1 - exp(-c / concern_scale)) + w * d / 3`` where ``c`` is the
    number of concerns at targeted level or above (non-protective factors
    whose level usually maps to need level 2+) and ``d`` the number of CAF
    domains with such a concern; ``w`` is ``domain_weight``.
``cx_interconnection``
    Sum of the weights of the catalogue's declared interactions that are
    active (all their factors at or above the minimum level and the child
    attributes matching), e.g. the toxic-trio pairs or a parent's
    difficulty with a baby.
``cx_network``
    Number of distinct agencies reporting, less one (one agency is no
    network).
``cx_conflict``
    Number of concerns on which at least one agency reassures while another
    is concerned.
``cx_turbulence``
    Weighted sum of turbulence factors (moves, new partner, breakdown,
    housing instability, missing episodes, ...), each scaled by
    ``level / max_level``.
``cx_emotional``
    Weighted sum of anxiety-raising factors (injury, disclosure,
    exploitation, fabricated illness, self-harm, ...) scaled the same way,
    plus a weight for a very young child.

The composite ``complexity`` is the weighted mean of the six (weights in
the catalogue), and ``complexity_band`` is ``low`` below ``bands.medium``,
``high`` at or above ``bands.high``, and ``medium`` between.

Examples
--------
>>> import numpy as np
>>> from dsk.catalogue import load_catalogue
>>> from dsk.complexity import complexity_scores
>>> cat = load_catalogue()
>>> levels = np.zeros((1, len(cat.factors)), dtype=int)
>>> child = {"age_band": np.array([3]), "disability": np.array([0])}
>>> out = complexity_scores(cat, levels, child, n_agencies=np.array([0]), n_conflicts=np.array([0]))
>>> float(out["complexity"][0]), out["complexity_band"][0]
(0.0, 'low')
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.narrative import Reports
from dsk.schema import BANDS, COMPLEXITY_COLUMNS

__all__ = [
    "BANDS",
    "COMPLEXITY_COLUMNS",
    "assign_band",
    "complexity_of_frame",
    "complexity_scores",
]


def _saturate(evidence: np.ndarray, scale: float) -> np.ndarray:
    """``1 - exp(-evidence / scale)``, with negative evidence counted as none."""
    return 1.0 - np.exp(-np.maximum(evidence, 0.0) / scale)


def _weighted_severity(cat: Catalogue, levels: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """Sum over the weighted factors of ``weight * level / max_level``."""
    total = np.zeros(levels.shape[0])
    for fid, w in weights.items():
        j = cat.factor_index(fid)
        total += w * levels[:, j] / cat.factors[j].max_level
    return total


def assign_band(cat: Catalogue, complexity: np.ndarray) -> np.ndarray:
    """Band labels (low/medium/high) for composite scores, by the catalogue's cut points."""
    spec = cat.complexity
    idx = (np.asarray(complexity) >= spec.band_medium).astype(int) + (
        np.asarray(complexity) >= spec.band_high
    ).astype(int)
    return np.array(BANDS, dtype=object)[idx]


def complexity_scores(
    cat: Catalogue,
    levels: np.ndarray,
    child: Mapping[str, np.ndarray],
    n_agencies: np.ndarray,
    n_conflicts: np.ndarray,
    derived: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """All complexity columns for a (n, n_factors) level matrix.

    Parameters
    ----------
    cat : the catalogue.
    levels : int array (n, n_factors), factor levels in catalogue order.
    child : child attribute codes, e.g. ``{"age_band": ..., "disability": ...}``.
    n_agencies : distinct agencies reporting, per vignette.
    n_conflicts : concerns with contradicting reports, per vignette.
    derived : the catalogue's derived features, if already computed.
    """
    levels = np.asarray(levels, dtype=np.int64)
    spec = cat.complexity
    if derived is None:
        derived = cat.derive(levels, n_agencies=n_agencies)
    concerns = derived["n_concerns"] if "n_concerns" in derived else (cat.need_matrix(levels) >= 2).sum(axis=1)
    domains = derived["n_domains"] if "n_domains" in derived else np.zeros(len(levels))
    w = spec.domain_weight
    multiplicity = (1 - w) * _saturate(concerns.astype(float), spec.concern_scale) + w * domains / 3.0

    interaction = np.zeros(levels.shape[0])
    for inter in spec.interactions:
        active = np.ones(levels.shape[0], dtype=bool)
        for fid, minimum in inter.factor_min.items():
            active &= levels[:, cat.factor_index(fid)] >= minimum
        for attr, codes in inter.child_in.items():
            active &= np.isin(np.asarray(child[attr]), codes)
        interaction += inter.weight * active
    interconnection = _saturate(interaction, spec.interconnection_scale)

    network = _saturate(np.asarray(n_agencies, dtype=float) - 1.0, spec.network_scale)
    conflict = _saturate(np.asarray(n_conflicts, dtype=float), spec.conflict_scale)
    turbulence = _saturate(_weighted_severity(cat, levels, spec.turbulence_factors), spec.turbulence_scale)

    emotional_evidence = _weighted_severity(cat, levels, spec.emotional_factors)
    age = np.asarray(child["age_band"])
    for code, weight in spec.emotional_age.items():
        emotional_evidence = emotional_evidence + weight * (age == code)
    emotional = _saturate(emotional_evidence, spec.emotional_scale)

    dims = dict(zip(COMPLEXITY_COLUMNS, (multiplicity, interconnection, network, conflict, turbulence, emotional),
                    strict=True))
    weights = np.array([spec.weights[c.removeprefix("cx_")] for c in COMPLEXITY_COLUMNS])
    stacked = np.column_stack([dims[c] for c in COMPLEXITY_COLUMNS])
    composite = stacked @ weights / weights.sum()
    out: dict[str, np.ndarray] = {c: np.round(v, 6) for c, v in dims.items()}
    out["complexity"] = np.round(composite, 6)
    out["complexity_band"] = assign_band(cat, out["complexity"])
    return out


def complexity_of_frame(cat: Catalogue, vignettes: pd.DataFrame) -> pd.DataFrame:
    """Recompute the complexity columns of a vignettes table from its factors and reports.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import random_vignettes
    >>> cat = load_catalogue()
    >>> v = random_vignettes(20, 1, cat, narratives=False)
    >>> bool((complexity_of_frame(cat, v)["complexity"] == v["complexity"]).all())
    True
    """
    levels = vignettes[list(cat.factor_ids)].to_numpy(dtype=np.int64)
    child = {a: vignettes[a].to_numpy(dtype=np.int64) for a in cat.child_ids}
    reports = Reports.from_column(cat, vignettes["reports"])
    scores = complexity_scores(cat, levels, child, reports.n_agencies(), reports.n_conflicts(cat.protective_mask))
    return pd.DataFrame(scores, index=vignettes.index)
