"""Calibration of a simulated panel against published agreement among practitioners, over many seeds.

Two kinds of figure, kept apart:

- A **target** (:data:`TARGETS`) is a figure that a study measured on the same thing the
  simulated panel produces (agreement among practitioners on the level or pathway of response
  to a case) and published with a 95% interval. Calibration asks how often the simulated figure
  falls inside that interval. The one such study here is Bolton et al. (2021).
- A **pattern check** (:data:`PATTERN_CHECKS`) is a direction a study reported, without an
  interval (or with a cut-off of ours). It holds or it does not; it is not a target.

:func:`calibrate` runs the panel on many seeds. Seed ``i`` is
``int(numpy.random.SeedSequence(random_state).spawn(seeds)[i].generate_state(1)[0])``; it draws
a fresh stratified vignette set (``generate("stratified", n, seed, ...)``) and a fresh round 1
of the panel on it (``simulate_panel(..., random_state=seed)``). The spawned seeds do not depend
on how many are asked for, so the first 20 seeds of a 40-seed run are those of a 20-seed run.
:func:`seed_figures` computes one seed's figures and :func:`summarise` turns the per-seed table
into a summary per target (mean, range, share of seeds inside the published interval, bounds
included) and per pattern check (share of seeds where it holds). Why the other studies are not
targets is set out in ``docs/methods.md``, "Calibration targets".

Examples
--------
>>> [t.id for t in TARGETS], [c.id for c in PATTERN_CHECKS]
(['alpha_overall'], ['police_minus_social_worker', 'confidence_agreement_r'])
>>> TARGETS[0].interval, TARGETS[0].contains(0.52), TARGETS[0].contains(0.63)
((0.52, 0.62), True, False)
>>> spawned_seeds(1, 3) == spawned_seeds(1, 5)[:3]
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dsk.catalogue import Catalogue
from dsk.panels.mechanisms import Source
from dsk.panels.profiles import PanelSpec, ProfessionProfile

__all__ = [
    "MIN_SEEDS",
    "PER_SEED_COLUMNS",
    "PATTERN_CHECKS",
    "TARGETS",
    "Calibration",
    "PatternCheck",
    "Target",
    "calibrate",
    "ordinal_alpha",
    "seed_figures",
    "spawned_seeds",
    "summarise",
]

#: Fewest seeds :func:`calibrate` accepts: a share of seeds inside an interval from fewer says little.
MIN_SEEDS = 20


@dataclass(frozen=True)
class Target:
    """A published figure with its 95% interval, from a study that measured what the panel produces."""

    id: str
    figure: str
    study: str
    published: float
    interval: tuple[float, float]
    source: Source
    note: str

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in the interval, bounds included (NaN is never inside)."""
        low, high = self.interval
        return bool(low <= value <= high)


@dataclass(frozen=True)
class PatternCheck:
    """A direction a study reported (no interval): the rule says when the simulated figure follows it."""

    id: str
    figure: str
    study: str
    rule: str
    holds: Callable[[float], bool]
    source: Source
    note: str


TARGETS: tuple[Target, ...] = (
    Target(
        id="alpha_overall",
        figure="ordinal Krippendorff's alpha of the need levels, round 1, all vignettes",
        study="Bolton et al. 2021",
        published=0.58,
        interval=(0.52, 0.62),
        source=Source(
            "Bolton, Gandevia & Newell 2021 (Child Abuse & Neglect 117, 105062)",
            "agreement of 34 child-protection professionals on the appropriate response pathway for "
            "285 scenarios drawn from reports to two Australian child-welfare agencies: Krippendorff's "
            "alpha 0.58, 95% interval 0.52 to 0.62",
            "agreement on a need level, or any gradient of agreement by complexity"),
        note="Bolton et al. rated a response pathway, not a need level; each need level of the "
             "continuum carries a response (universal services, early help, child in need, child "
             "protection), so the two are of the same kind, not on the same scale. Their raters were "
             "child-protection professionals; a simulated panel may mix professions, as mixed-12 does."),
)

PATTERN_CHECKS: tuple[PatternCheck, ...] = (
    PatternCheck(
        id="police_minus_social_worker",
        figure="mean need level of police officers minus that of social workers, round 1",
        study="Mandel et al. 1995",
        rule="> 0",
        holds=lambda value: bool(value > 0),
        source=Source(
            "Mandel, Lehman & Yuille 1995 (Journal of Applied Social Psychology 25)",
            "police officers chose more intrusive responses than social workers on one vignette",
            "the size of the difference, or that it holds across many cases"),
        note="A direction only; no interval."),
    PatternCheck(
        id="confidence_agreement_r",
        figure="correlation of a rater's confidence with agreeing with the panel's most frequent level",
        study="Regehr et al. 2010",
        rule="|r| < 0.30",
        holds=lambda value: bool(abs(value) < 0.30),
        source=Source(
            "Regehr, Bogo, Shlonsky & LeBlanc 2010 (Research on Social Work Practice 20)",
            "practitioners' confidence in their risk assessments was only weakly related to the "
            "quality of those assessments",
            "any cut-off (0.30 is ours, not theirs); nor can a vignette without a known outcome measure "
            "accuracy, so agreeing with the panel's most frequent level is our stand-in for it"),
        note="The 0.30 cut-off is ours."),
)

_TARGETS_BY_ID = {t.id: t for t in TARGETS}
_CHECKS_BY_ID = {c.id: c for c in PATTERN_CHECKS}

#: Columns of the per-seed table, in order.
PER_SEED_COLUMNS = ["seed_index", "seed", "vignettes", "raters", *_TARGETS_BY_ID, *_CHECKS_BY_ID]


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


def seed_figures(judgements: pd.DataFrame) -> dict[str, float]:
    """The figures of every target and pattern check, from round 1 of one judgements table.

    ``police_minus_social_worker`` is NaN when the panel lacks either profession, and
    ``confidence_agreement_r`` when confidence, or agreeing with the panel, is the same for every
    judgement; the panel's most frequent level of a vignette is the lowest of tied levels.

    Examples
    --------
    Two police officers who rate one level above two social workers on two vignettes, all at
    confidence 0.8:

    >>> import pandas as pd
    >>> j = pd.DataFrame({"round": 1, "vignette_id": ["a"] * 4 + ["b"] * 4,
    ...                   "rater_id": ["p1", "p2", "s1", "s2"] * 2,
    ...                   "profession": ["police", "police", "social_worker", "social_worker"] * 2,
    ...                   "need_level": [3, 3, 2, 2, 4, 4, 3, 3], "confidence": 0.8})
    >>> figures = seed_figures(j)
    >>> figures["police_minus_social_worker"]
    1.0
    >>> import math
    >>> math.isnan(figures["confidence_agreement_r"])  # constant confidence: no correlation
    True
    """
    r1 = judgements[judgements["round"] == 1]
    mode = r1.groupby("vignette_id")["need_level"].agg(lambda s: s.mode().iloc[0])
    agrees = (r1["need_level"].to_numpy() == r1["vignette_id"].map(mode).to_numpy()).astype(float)
    confidence = r1["confidence"].to_numpy(dtype=float)
    if len(r1) < 2 or np.ptp(confidence) == 0 or np.ptp(agrees) == 0:
        r = float("nan")
    else:
        r = float(np.corrcoef(confidence, agrees)[0, 1])
    means = r1.groupby("profession")["need_level"].mean()
    police_sw = float(means.get("police", np.nan) - means.get("social_worker", np.nan))
    return {"alpha_overall": ordinal_alpha(r1), "police_minus_social_worker": police_sw,
            "confidence_agreement_r": r}


def spawned_seeds(random_state: int, seeds: int) -> list[int]:
    """The per-seed seeds: ``SeedSequence(random_state).spawn(seeds)``, each child's first 32-bit word.

    Examples
    --------
    >>> len(spawned_seeds(1, 20)), len(set(spawned_seeds(1, 20)))
    (20, 20)
    """
    return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(random_state).spawn(seeds)]


def _share(flags: pd.Series) -> float:
    return float(flags.mean()) if len(flags) else float("nan")


def summarise(per_seed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Summaries of a per-seed table: one row per target, one per pattern check.

    Parameters
    ----------
    per_seed : pandas.DataFrame
        One row per seed, with a column per target and pattern check id (as :func:`calibrate`
        returns in ``per_seed``; other columns are ignored).

    Returns
    -------
    (targets, patterns) : tuple of pandas.DataFrame
        ``targets`` has columns target, figure, published, low, high, seeds, mean, min, max,
        inside (share of seeds whose value lies in [low, high], bounds included), study,
        source, measured, not_shown, note. ``patterns`` has columns check, figure, rule, seeds, mean,
        min, max, holds (share of seeds where the rule holds), study, source, measured,
        not_shown, note. Mean, min and max skip NaN values; a NaN value counts as outside and as not
        holding, except that a check NaN on every seed (a panel without police officers) has
        ``holds`` NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> per_seed = pd.DataFrame({"alpha_overall": [0.50, 0.52, 0.58, 0.62, 0.70],
    ...                          "police_minus_social_worker": [0.3, -0.1, 0.2, 0.4, 0.1],
    ...                          "confidence_agreement_r": [0.1, 0.35, -0.2, 0.0, 0.05]})
    >>> targets, patterns = summarise(per_seed)
    >>> targets[["target", "mean", "min", "max", "inside"]].to_dict("records")
    [{'target': 'alpha_overall', 'mean': 0.584, 'min': 0.5, 'max': 0.7, 'inside': 0.6}]
    >>> patterns.set_index("check")["holds"].to_dict()
    {'police_minus_social_worker': 0.8, 'confidence_agreement_r': 0.8}
    """
    target_rows = []
    for t in TARGETS:
        values = per_seed[t.id].astype(float)
        target_rows.append({
            "target": t.id, "figure": t.figure, "published": t.published, "low": t.interval[0],
            "high": t.interval[1], "seeds": len(values), "mean": float(values.mean()),
            "min": float(values.min()), "max": float(values.max()),
            "inside": _share(values.map(t.contains)), "study": t.study, "source": t.source.citation,
            "measured": t.source.measured, "not_shown": t.source.not_shown, "note": t.note})
    check_rows = []
    for c in PATTERN_CHECKS:
        values = per_seed[c.id].astype(float)
        holds = float("nan") if values.isna().all() else _share(values.map(lambda v, c=c: bool(
            np.isfinite(v) and c.holds(v))))
        check_rows.append({
            "check": c.id, "figure": c.figure, "rule": c.rule, "seeds": len(values),
            "mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
            "holds": holds, "study": c.study, "source": c.source.citation, "measured": c.source.measured,
            "not_shown": c.source.not_shown, "note": c.note})
    return pd.DataFrame(target_rows), pd.DataFrame(check_rows)


@dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate`: the per-seed table and its summaries."""

    panel_id: str
    n: int
    random_state: int
    per_seed: pd.DataFrame
    targets: pd.DataFrame
    patterns: pd.DataFrame


def calibrate(panel: PanelSpec, professions: Mapping[str, ProfessionProfile], catalogue: Catalogue, *,
              seeds: int = MIN_SEEDS, n: int = 300, random_state: int = 1) -> Calibration:
    """Run ``panel`` on ``seeds`` fresh stratified vignette sets and summarise the figures.

    Parameters
    ----------
    panel : the panel spec (:func:`dsk.panels.load_panel`).
    professions : the profession profiles, by id.
    catalogue : the factor catalogue.
    seeds : number of seeds, at least :data:`MIN_SEEDS`.
    n : stratified vignettes per seed (a third per complexity band).
    random_state : the seed the per-seed seeds are spawned from (:func:`spawned_seeds`).

    Returns
    -------
    Calibration
        ``per_seed`` has columns seed_index, seed, vignettes, raters and one per target and
        pattern check (round-1 figures, :func:`seed_figures`); ``targets`` and ``patterns``
        are :func:`summarise` of it.

    Raises
    ------
    ValueError
        When ``seeds`` is below :data:`MIN_SEEDS` or ``n`` is below 3.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.panels import load_panel, load_professions
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> result = calibrate(load_panel("mixed-12", profs), profs, cat, seeds=20, n=30)
    >>> result.per_seed.shape, result.per_seed["raters"].unique().tolist()
    ((20, 7), [12])
    >>> result.targets[["target", "low", "high", "seeds"]].to_dict("records")
    [{'target': 'alpha_overall', 'low': 0.52, 'high': 0.62, 'seeds': 20}]
    >>> calibrate(load_panel("mixed-12", profs), profs, cat, seeds=5)
    Traceback (most recent call last):
    ...
    ValueError: calibration needs at least 20 seeds (got 5): a share of seeds inside an interval ...
    """
    from dsk.design import generate
    from dsk.panels.simulate import simulate_panel

    if seeds < MIN_SEEDS:
        raise ValueError(f"calibration needs at least {MIN_SEEDS} seeds (got {seeds}): a share of seeds "
                         "inside an interval from fewer says little")
    if n < 3:
        raise ValueError(f"calibration needs at least 3 vignettes per seed, one per band (got n={n})")
    rows = []
    for index, seed in enumerate(spawned_seeds(random_state, seeds)):
        vignettes = generate("stratified", n, seed, catalogue, narratives=False)
        judgements = simulate_panel(vignettes, panel, random_state=seed, professions=professions,
                                    catalogue=catalogue, rationale=False)
        rows.append({"seed_index": index, "seed": seed, "vignettes": len(vignettes),
                     "raters": judgements["rater_id"].nunique(), **seed_figures(judgements)})
    per_seed = pd.DataFrame(rows, columns=PER_SEED_COLUMNS)
    targets, patterns = summarise(per_seed)
    return Calibration(panel.id, n, random_state, per_seed, targets, patterns)
