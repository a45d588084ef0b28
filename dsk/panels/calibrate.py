"""Calibration of simulated panels against published agreement figures.

:func:`calibration_figures` computes, from round-1 judgements of one panel on
a vignette set, the figures that the default mixed panel is calibrated to,
each beside its published counterpart and the acceptance range used by the
test suite.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["TARGETS", "calibration_figures", "ordinal_alpha"]

#: figure -> (published value, source, acceptance rule as text)
TARGETS = {
    "alpha_overall": ("0.58 (0.52-0.62)", "Bolton et al. 2021, 34 professionals x 285 scenarios",
                      "0.45 <= alpha <= 0.70"),
    "alpha_low_minus_high": ("lower on ambiguous, complex cases", "docs/methods.md, Calibration targets; Parrish et al.",
                             ">= 0.15"),
    "share_level4_clear": ("agreement highest on clear high-concern cases", "Lindberg et al. 2008",
                           ">= 0.80"),
    "confidence_agreement_r": ("weak", "Regehr et al. 2010", "|r| < 0.30"),
    "police_minus_social_worker": ("police more intrusive", "Mandel 1995", "> 0"),
}


def ordinal_alpha(judgements: pd.DataFrame, rating: str = "need_level") -> float:
    """Krippendorff's alpha (ordinal) of a long table with vignette_id and rater_id.

    Parameters
    ----------
    judgements : pandas.DataFrame
        One row per rating, with ``vignette_id``, ``rater_id`` and ``rating``.
    rating : str
        The ordinal column to agree on.

    Returns
    -------
    float
        1 for perfect agreement; NaN when fewer than two ratings or only one
        distinct value leave nothing to compare.

    Examples
    --------
    >>> import pandas as pd
    >>> from dsk.panels.calibrate import ordinal_alpha
    >>> two_raters = pd.DataFrame({"vignette_id": ["a", "b", "c"] * 2,
    ...                            "rater_id": ["r1"] * 3 + ["r2"] * 3,
    ...                            "need_level": [1, 2, 4, 1, 2, 4]})
    >>> ordinal_alpha(two_raters)
    1.0
    >>> round(ordinal_alpha(two_raters.assign(need_level=[1, 2, 4, 2, 2, 3])), 3)
    0.731
    """
    import krippendorff

    matrix = judgements.pivot_table(index="rater_id", columns="vignette_id", values=rating, aggfunc="first")
    data = matrix.to_numpy(dtype=float)
    if np.isfinite(data).sum() < 2 or len(np.unique(data[np.isfinite(data)])) < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def calibration_figures(judgements: pd.DataFrame, vignettes: pd.DataFrame) -> pd.DataFrame:
    """The calibration figures for round 1 of ``judgements`` on ``vignettes``.

    Parameters
    ----------
    judgements : pandas.DataFrame
        A judgements table (rows of later rounds are ignored).
    vignettes : pandas.DataFrame
        The vignettes they judged, with ``complexity_band``.

    Returns
    -------
    pandas.DataFrame
        Columns figure, simulated, published, source, target, met: one row
        per figure of :data:`TARGETS` (``met`` says whether the simulated value
        is in the acceptance range), then the band alphas and the number of
        clear vignettes (``met`` None).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.panels.calibrate import calibration_figures
    >>> cat = load_catalogue()
    >>> professions = load_professions(catalogue=cat)
    >>> vignettes = generate("stratified", 60, 1, cat, narratives=False)
    >>> judgements = simulate_panel(vignettes, load_panel("mixed-12", professions), random_state=1,
    ...                             professions=professions, catalogue=cat, rationale=False)
    >>> figures = calibration_figures(judgements, vignettes)
    >>> figures.set_index("figure")["simulated"]
    figure
    alpha_overall                 0.536
    alpha_low_minus_high          0.503
    share_level4_clear            0.917
    confidence_agreement_r       -0.045
    police_minus_social_worker    0.650
    alpha_low_band                0.574
    alpha_high_band               0.071
    clear_vignettes               5.000
    Name: simulated, dtype: float64
    >>> figures["met"].tolist()
    [True, True, True, True, True, None, None, None]
    """
    r1 = judgements[judgements["round"] == 1]
    band = dict(zip(vignettes["vignette_id"], vignettes["complexity_band"], strict=True))
    bands = r1["vignette_id"].map(band)
    alpha = ordinal_alpha(r1)
    low = ordinal_alpha(r1[bands == "low"])
    high = ordinal_alpha(r1[bands == "high"])
    clear_ids = set(vignettes.loc[(vignettes["disclosure"] > 0) | (vignettes["non_accidental_injury"] > 0),
                                  "vignette_id"])
    clear = r1[r1["vignette_id"].isin(clear_ids)]
    share4 = float((clear["need_level"] == 4).mean()) if len(clear) else float("nan")
    mode = r1.groupby("vignette_id")["need_level"].agg(lambda s: s.mode().iloc[0])
    agrees = (r1["need_level"].to_numpy() == r1["vignette_id"].map(mode).to_numpy()).astype(float)
    r = float(np.corrcoef(r1["confidence"].to_numpy(dtype=float), agrees)[0, 1])
    means = r1.groupby("profession")["need_level"].mean()
    police_sw = float(means.get("police", np.nan) - means.get("social_worker", np.nan))
    values = {
        "alpha_overall": (alpha, 0.45 <= alpha <= 0.70),
        "alpha_low_minus_high": (low - high, low - high >= 0.15),
        "share_level4_clear": (share4, share4 >= 0.80),
        "confidence_agreement_r": (r, abs(r) < 0.30),
        "police_minus_social_worker": (police_sw, police_sw > 0),
    }
    rows = [{"figure": k, "simulated": round(v, 3), "published": TARGETS[k][0], "source": TARGETS[k][1],
             "target": TARGETS[k][2], "met": bool(ok)} for k, (v, ok) in values.items()]
    extra = [("alpha_low_band", low), ("alpha_high_band", high), ("clear_vignettes", len(clear_ids))]
    rows += [{"figure": k, "simulated": round(float(v), 3), "published": "", "source": "", "target": "",
              "met": None} for k, v in extra]
    return pd.DataFrame(rows)
