"""Vignette designs: random, complexity-stratified and D-efficient; decks.

Every design returns a complete vignettes table (``dsk.schema`` "vignettes"):
factor levels, child attributes, derived features, agency reports,
complexity and, unless ``narratives=False``, the narrative text. Every
function takes the catalogue and a ``random_state`` (an int); the same
``random_state`` gives the same table, byte for byte once written.

Examples
--------
>>> from dsk.catalogue import load_catalogue
>>> from dsk.design import random_vignettes, stratified_vignettes
>>> cat = load_catalogue()
>>> v = random_vignettes(5, 1, cat)
>>> len(v), v["vignette_id"].iloc[0]
(5, 'random-1-00001')
>>> s = stratified_vignettes({"low": 2, "medium": 2, "high": 2}, random_state=1, catalogue=cat)
>>> s["complexity_band"].value_counts().to_dict() == {"low": 2, "medium": 2, "high": 2}
True
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from dsk._yaml import caret, span_of
from dsk.catalogue import Catalogue
from dsk.complexity import complexity_scores
from dsk.decks import make_decks
from dsk.narrative import STANCES, Reports, render_narrative, reports_to_lists, sample_reports
from dsk.schema import BANDS, COMPLEXITY_COLUMNS, REASONS
from dsk.schema import validate as validate_table

__all__ = [
    "DESIGNS",
    "REPORT_KEYS",
    "SPEC_KEYS",
    "SetProblem",
    "VignetteSetError",
    "check_interactions",
    "check_specs",
    "make_decks",
    "VignetteArrays",
    "d_efficiency_sentence",
    "d_efficient_vignettes",
    "generate",
    "random_vignettes",
    "sample_vignette_arrays",
    "stratified_vignettes",
    "vignettes_from_specs",
]

DESIGNS = ("random", "stratified", "d-efficient")
_CHUNK = 8192


@dataclass(frozen=True)
class VignetteArrays:
    """A vignette set as arrays, before it becomes a table.

    This is the vectorised core that designs, sweeps and benchmarks use;
    :meth:`to_frame` builds the vignettes table.
    """

    levels: np.ndarray  # (n, n_factors)
    child: Mapping[str, np.ndarray]
    seeds: np.ndarray
    reports: Reports
    derived: Mapping[str, np.ndarray]
    complexity: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.levels.shape[0])

    def take(self, rows: np.ndarray) -> VignetteArrays:
        """A subset of the vignettes, in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        position = np.full(len(self), -1, dtype=np.int64)
        position[rows] = np.arange(rows.size)
        keep = position[self.reports.vignette] >= 0
        new_vig = position[self.reports.vignette[keep]]
        sort = np.lexsort((self.reports.order[keep], new_vig))
        rep = Reports(new_vig[sort], self.reports.factor[keep][sort], self.reports.agency[keep][sort],
                      self.reports.stance[keep][sort], self.reports.order[keep][sort], rows.size)
        return VignetteArrays(
            self.levels[rows], {k: v[rows] for k, v in self.child.items()}, self.seeds[rows], rep,
            {k: v[rows] for k, v in self.derived.items()}, {k: v[rows] for k, v in self.complexity.items()},
        )

    def to_frame(self, cat: Catalogue, set_id: str, narratives: bool = True,
                 id_prefix: str | None = None, *, validate: bool = True) -> pd.DataFrame:
        """The vignettes table, validated against ``dsk.schema``.

        ``validate=False`` is for internal callers only: it skips checking a table this method
        has just built from arrays the design code drew (the planner's replications, where the
        check is half the time of a replication); the table is the same either way.
        """
        n = len(self)
        prefix = id_prefix if id_prefix is not None else set_id
        data: dict[str, Any] = {
            "vignette_id": [f"{prefix}-{i + 1:05d}" for i in range(n)],
            "set_id": [set_id] * n,
            "seed": self.seeds.astype(np.int64),
        }
        for j, fid in enumerate(cat.factor_ids):
            data[fid] = self.levels[:, j].astype(np.int64)
        for attr in cat.child_ids:
            data[attr] = np.asarray(self.child[attr], dtype=np.int64)
        for did in cat.derived_ids:
            data[did] = np.asarray(self.derived[did], dtype=np.int64)
        for col in (*COMPLEXITY_COLUMNS, "complexity"):
            data[col] = np.asarray(self.complexity[col], dtype=float)
        data["complexity_band"] = list(self.complexity["complexity_band"])
        data["reports"] = reports_to_lists(cat, self.reports)
        frame = pd.DataFrame(data)
        frame["narrative"] = (
            [render_narrative({str(k): v for k, v in row.items()}, cat) for row in frame.to_dict("records")]
            if narratives else [""] * n
        )
        return validate_table(frame, "vignettes", cat) if validate else frame


# ---------------------------------------------------------------- sampling


def _sample_child(cat: Catalogue, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    child: dict[str, np.ndarray] = {}
    for attr in cat.child_ids:
        weights = np.asarray(cat.child[attr].weights)
        child[attr] = np.searchsorted(np.cumsum(weights), rng.random(n) * weights.sum(), side="right")
        child[attr] = np.minimum(child[attr], len(weights) - 1).astype(np.int64)
    return child


#: How strongly acute factors (those with a level that usually means statutory
#: need) follow the case load: complexity is breadth of need more than acuity.
ACUTE_LOAD_EXPONENT = 0.4
#: Per-vignette acuity: present factors' levels are drawn as floor(u ** g * top) + 1 with
#: log g ~ N(ACUITY_MEAN, ACUITY_SD), so most cases lean to milder levels.
ACUITY_MEAN, ACUITY_SD = 0.3, 0.5


def _sample_levels(cat: Catalogue, child: Mapping[str, np.ndarray], load: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw factor levels.

    Factor ``f`` is present with probability ``base_rate_f * load ** k_f``
    (capped at 0.9), where ``k_f`` is 1, or ``ACUTE_LOAD_EXPONENT`` for acute
    factors (any level with usual need 4), so heavier cases gain breadth
    faster than acuity. A present factor's level is ``floor(u ** g * top) + 1``
    for uniform ``u`` and the vignette's acuity ``g`` (see ``ACUITY_MEAN``).
    Levels are then capped by the catalogue's exclusions, so no vignette
    breaks them. With ``load = 1`` every factor appears at its base rate.
    """
    n = len(load)
    base = np.array([f.base_rate for f in cat.factors], dtype=np.float32)
    acute = np.array([max(f.threshold) >= 4 and not f.protective for f in cat.factors])
    exponent = np.where(acute, ACUTE_LOAD_EXPONENT, 1.0).astype(np.float32)
    p = np.minimum(base[None, :] * load.astype(np.float32)[:, None] ** exponent[None, :], np.float32(0.9))
    u = rng.random((n, base.size), dtype=np.float32)
    acuity = np.exp(rng.normal(ACUITY_MEAN, ACUITY_SD, n)).astype(np.float32)
    # one draw does both: u < p means present, and then u / p is uniform on [0, 1)
    ratio = np.minimum(u / p, np.float32(1))  # only u < p is used; capping keeps the rest finite
    level = (ratio ** acuity[:, None] * cat.max_levels.astype(np.float32)).astype(np.int64) + 1
    levels = np.where(u < p, np.minimum(level, cat.max_levels), 0)
    return np.minimum(levels, cat.caps(child)).astype(np.int8)


def _finish(cat: Catalogue, levels: np.ndarray, child: Mapping[str, np.ndarray],
            rng: np.random.Generator, conflict_rate: float) -> VignetteArrays:
    n = levels.shape[0]
    seeds = np.asarray(rng.integers(0, 2**31 - 1, size=n, dtype=np.int64))
    reports = sample_reports(cat, levels, child["age_band"], rng, conflict_rate=conflict_rate)
    n_agencies = reports.n_agencies()
    derived = cat.derive(levels, n_agencies=n_agencies)
    cx = complexity_scores(cat, levels, child, n_agencies, reports.n_conflicts(cat.protective_mask), derived)
    return VignetteArrays(levels, child, seeds, reports, derived, cx)


def sample_vignette_arrays(n: int, random_state: int, catalogue: Catalogue, *,
                           load: float | np.ndarray = 1.0, conflict_rate: float = 0.25) -> VignetteArrays:
    """Random vignettes as arrays (no table, no text): the vectorised core.

    Parameters
    ----------
    n : int
        Number of vignettes.
    random_state : int
        Seed of the design's random stream; the same value gives the same table.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    load : float or array
        Scales every factor's base rate (a number, or one per vignette).
    conflict_rate : float
        Share of vignettes with one conflicting agency report.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> arrays = sample_vignette_arrays(1000, 1, load_catalogue())
    >>> len(arrays), arrays.reports.n_vignettes
    (1000, 1000)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cat = catalogue
    rng = np.random.default_rng(random_state)
    load_arr = np.broadcast_to(np.asarray(load, dtype=float), (n,))
    parts = []
    # Work in fixed-size chunks: the buffers stay small enough to be reused
    # between chunks instead of being mapped afresh, which is several times
    # faster for large sets. The chunk size is part of the stream's definition.
    for start in range(0, max(n, 1), _CHUNK):
        m = min(_CHUNK, n - start)
        child = _sample_child(cat, m, rng)
        levels = _sample_levels(cat, child, load_arr[start : start + m], rng)
        parts.append(_finish(cat, levels, child, rng, conflict_rate))
    return _concat(parts) if len(parts) > 1 else parts[0]


def random_vignettes(n: int, random_state: int, catalogue: Catalogue, *,
                     narratives: bool = True, set_id: str | None = None,
                     conflict_rate: float = 0.25, max_present: int | None = None,
                     validate: bool = True) -> pd.DataFrame:
    """``n`` vignettes drawn independently: each factor present at its base rate.

    Implausible combinations (catalogue exclusions) never occur.

    Parameters
    ----------
    n : int
        Number of vignettes.
    random_state : int
        Seed of the design's random stream; the same value gives the same table.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    narratives : bool
        Render the narrative text (otherwise the column is empty).
    set_id : str, optional
        Default ``random-<random_state>``; vignette ids are ``<set_id>-00001`` ...
    conflict_rate : float
        Share of vignettes with one conflicting agency report.
    max_present : int, optional
        At most this many factors present (concerns and strengths) in one vignette: draws
        with more are set aside and drawing goes on. See :data:`MAX_PRESENT_ADVICE`.
    validate : bool
        Check the table against the schema (the default); ``False`` is for internal callers
        only (see :meth:`VignetteArrays.to_frame`).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> v = random_vignettes(3, 7, load_catalogue(), narratives=False)
    >>> v["vignette_id"].tolist()
    ['random-7-00001', 'random-7-00002', 'random-7-00003']
    """
    cat = catalogue
    _check_max_present(max_present)
    if max_present is None:
        arrays = sample_vignette_arrays(n, random_state, cat, conflict_rate=conflict_rate)
    else:
        # whole draws of n from one stream, keeping the vignettes within the cap in draw order
        rng = np.random.default_rng(random_state)
        kept: list[VignetteArrays] = []
        have = 0
        for _ in range(_MAX_DRAWS):
            if have >= n:
                break
            draw = sample_vignette_arrays(max(n, 1), int(rng.integers(2**63)), cat, conflict_rate=conflict_rate)
            rows = np.flatnonzero(_n_present(draw.levels) <= max_present)[: n - have]
            kept.append(draw.take(rows))
            have += rows.size
        else:
            raise RuntimeError(f"could not draw {n} vignettes with at most {max_present} factors present")
        arrays = _concat(kept) if len(kept) > 1 else kept[0]
    return arrays.to_frame(cat, set_id or f"random-{random_state}", narratives=narratives, validate=validate)


#: Why designs take ``max_present``: each factor present adds about 30 words to a narrative,
#: and past 8 factors a referral runs beyond the 150-350 words practitioners find credible.
MAX_PRESENT_ADVICE = 8
_MAX_DRAWS = 400


def _n_present(levels: np.ndarray) -> np.ndarray:
    """Factors present (above their first level) in each vignette."""
    return (np.asarray(levels) > 0).sum(axis=1)


def _check_max_present(max_present: int | None) -> None:
    if max_present is not None and (isinstance(max_present, bool) or not isinstance(max_present, int)
                                    or max_present < 1):
        raise ValueError(f"max_present must be a whole number of at least 1, got {max_present!r}")


def stratified_vignettes(counts: Mapping[str, int], random_state: int, catalogue: Catalogue, *,
                         narratives: bool = True, set_id: str | None = None,
                         conflict_rate: float = 0.35, acute_share: float | None = None,
                         max_present: int | None = None,
                         max_batches: int = 400, validate: bool = True) -> pd.DataFrame:
    """Exactly ``counts[band]`` vignettes in each complexity band.

    Batches are drawn with a per-vignette load spread from light to heavy
    (log-uniform from 0.25 to 6 times the base rates) and accepted into a band
    until it is full, in draw order. Output is ordered low, medium, high.

    ``acute_share`` (0-1) also fixes, within every band, the share of
    vignettes with an *acute* indicator (a factor at a level that usually
    means statutory need, 4). Left to itself, complexity and acuity travel
    together (the emotional-charge dimension is made of acute indicators);
    crossing them lets an analysis tell the effect of complexity from that of
    a single decisive indicator.

    Parameters
    ----------
    counts : mapping
        Vignettes wanted per band (``low``, ``medium``, ``high``).
    random_state : int
        Seed of the design's random stream; the same value gives the same table.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    max_present : int, optional
        At most this many factors present (concerns and strengths) in one vignette; draws
        with more are not accepted into any band. See :data:`MAX_PRESENT_ADVICE`.
    validate : bool
        Check the table against the schema (the default); ``False`` is for internal callers
        only (see :meth:`VignetteArrays.to_frame`).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> v = stratified_vignettes({"high": 3}, 2, load_catalogue(), narratives=False)
    >>> v["complexity_band"].tolist()
    ['high', 'high', 'high']
    """
    cat = catalogue
    unknown = set(counts) - set(BANDS)
    if unknown:
        raise ValueError(f"unknown complexity bands {sorted(unknown)}; bands are {', '.join(BANDS)}")
    wanted_band = {b: int(counts.get(b, 0)) for b in BANDS}
    if any(v < 0 for v in wanted_band.values()):
        raise ValueError(f"band counts must be >= 0, got {wanted_band}")
    if acute_share is not None and not 0 <= acute_share <= 1:
        raise ValueError(f"acute_share must be between 0 and 1, got {acute_share}")
    _check_max_present(max_present)
    # quotas per (band, acute); with no acute_share, acuity is free (one cell per band)
    wanted: dict[tuple[str, bool | None], int] = {}
    for band, n in wanted_band.items():
        if acute_share is None:
            wanted[(band, None)] = n
        else:
            n_acute = int(round(n * acute_share))
            wanted[(band, True)], wanted[(band, False)] = n_acute, n - n_acute
    rng = np.random.default_rng(random_state)
    chosen: dict[tuple[str, bool | None], list[tuple[int, int]]] = {cell: [] for cell in wanted}
    batches: list[VignetteArrays] = []
    batch_size = max(256, 2 * sum(wanted_band.values()))
    for _ in range(max_batches):
        if all(len(chosen[cell]) >= wanted[cell] for cell in wanted):
            break
        child = _sample_child(cat, batch_size, rng)
        load = np.exp(rng.uniform(np.log(0.25), np.log(6.0), batch_size))
        levels = _sample_levels(cat, child, load, rng)
        batch = _finish(cat, levels, child, rng, conflict_rate)
        b_index = len(batches)
        batches.append(batch)
        bands = batch.complexity["complexity_band"]
        acute_rows = cat.need_matrix(batch.levels).max(axis=1) >= 4
        within = (_n_present(batch.levels) <= max_present if max_present is not None
                  else np.ones(len(batch), dtype=bool))
        for cell, n in wanted.items():
            need = n - len(chosen[cell])
            if need > 0:
                match = (bands == cell[0]) & within
                if cell[1] is not None:
                    match &= acute_rows == cell[1]
                chosen[cell].extend((b_index, int(r)) for r in np.flatnonzero(match)[:need])
    else:
        short = {f"{band}{'' if a is None else (' acute' if a else ' not acute')}": wanted[(band, a)] - len(c)
                 for (band, a), c in chosen.items() if len(c) < wanted[(band, a)]}
        cap = f" with at most {max_present} factors present" if max_present is not None else ""
        raise RuntimeError(f"could not fill complexity bands{cap} after {max_batches} batches: short by {short}")
    # one take of every picked vignette, in band then draw order (as many single takes would give)
    offsets = np.cumsum([0] + [len(batch) for batch in batches])
    picked = [int(offsets[b]) + r for band in BANDS
              for b, r in sorted(x for (cb, _), cells in chosen.items() if cb == band for x in cells)]
    merged = _concat(batches).take(np.array(picked, dtype=np.int64))
    return merged.to_frame(cat, set_id or f"stratified-{random_state}", narratives=narratives, validate=validate)


def _concat(parts: Sequence[VignetteArrays]) -> VignetteArrays:
    if not parts:
        raise ValueError("no vignettes to combine")
    offsets = np.cumsum([0] + [len(p) for p in parts])
    rep = Reports(
        np.concatenate([p.reports.vignette + offsets[i] for i, p in enumerate(parts)]),
        np.concatenate([p.reports.factor for p in parts]),
        np.concatenate([p.reports.agency for p in parts]),
        np.concatenate([p.reports.stance for p in parts]),
        np.concatenate([p.reports.order for p in parts]),
        int(offsets[-1]),
    )
    first = parts[0]
    return VignetteArrays(
        np.concatenate([p.levels for p in parts]),
        {k: np.concatenate([p.child[k] for p in parts]) for k in first.child},
        np.concatenate([p.seeds for p in parts]),
        rep,
        {k: np.concatenate([p.derived[k] for p in parts]) for k in first.derived},
        {k: np.concatenate([p.complexity[k] for p in parts]) for k in first.complexity},
    )


#: A two-way interaction as given by a user: a pair of names, or ``"A:B"``.
InteractionSpec = str | Sequence[str]


def check_interactions(interactions: Sequence[InteractionSpec] | None, dimensions: Sequence[str], *,
                       option: str = "interactions") -> tuple[tuple[str, str], ...]:
    """The two-way interactions of a D-efficient design's model, checked against its dimensions.

    Each interaction is a pair of dimension names, or one text ``"A:B"``. Every problem
    (an unknown name, a pair naming one dimension twice, a pair given twice, a malformed
    item) is reported at once in one ValueError naming ``option``.

    Parameters
    ----------
    interactions : sequence of pairs or "A:B" texts, or None
        The interactions wanted (None or empty: the main-effects model).
    dimensions : sequence of str
        The design's dimensions.
    option : str
        What to call the interactions in the error (``--interaction`` for the CLI).

    Returns
    -------
    tuple of (str, str)
        The pairs, each in the order the design lists its dimensions.

    Examples
    --------
    >>> dims = ["domestic_abuse", "parental_mental_health", "age_band"]
    >>> check_interactions(["parental_mental_health:domestic_abuse"], dims)
    (('domestic_abuse', 'parental_mental_health'),)
    >>> try:
    ...     check_interactions([("age_band", "age_band"), "domestic_abus:age_band"], dims,
    ...                        option="--interaction")
    ... except ValueError as exc:
    ...     print(exc)
    --interaction: 2 problems: 'age_band:age_band' names age_band twice; 'domestic_abus:age_band': 'domestic_abus' is not among the design's dimensions; did you mean 'domestic_abuse'? (dimensions: domestic_abuse, parental_mental_health, age_band)
    """
    problems: list[str] = []
    pairs: list[tuple[str, str]] = []
    order = {d: k for k, d in enumerate(dimensions)}
    unknown_seen = False
    for item in interactions or ():
        if isinstance(item, str):
            parts = [part.strip() for part in item.split(":")]
            shown = item
        elif isinstance(item, Sequence) and all(isinstance(part, str) for part in item):
            parts = [part.strip() for part in item]
            shown = ":".join(parts)
        else:
            problems.append(f"expected a pair of dimension names (or 'A:B'), got {item!r}")
            continue
        if len(parts) != 2 or not all(parts):
            problems.append(f"{shown!r}: expected two dimension names, as A:B")
            continue
        unknown = list(dict.fromkeys(part for part in parts if part not in order))
        if unknown:
            named = " and ".join(repr(name) for name in unknown)
            hints = "".join(_hint(name, list(dimensions)) for name in unknown)
            problems.append(f"{shown!r}: {named} {'is' if len(unknown) == 1 else 'are'} not "
                            f"among the design's dimensions{hints}")
            unknown_seen = True
            continue
        if parts[0] == parts[1]:
            problems.append(f"{shown!r} names {parts[0]} twice")
            continue
        first, second = sorted(parts, key=order.__getitem__)
        if (first, second) in pairs:
            problems.append(f"{shown!r}: the interaction {first}:{second} is given twice")
            continue
        pairs.append((first, second))
    if problems:
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        listed = f" (dimensions: {', '.join(dimensions) or 'none given'})" if unknown_seen else ""
        raise ValueError(f"{option}: {count}{'; '.join(problems)}{listed}")
    return tuple(pairs)


def d_efficiency_sentence(d_efficiency: float, d_efficiency_plausible: float, *, restricted: bool,
                          interactions: Sequence[tuple[str, str]] = ()) -> str:
    """The sentence that says which of a design's two D-efficiencies is which.

    The figures are given to 4 significant digits, as the report's table of the design
    shows them.

    Parameters
    ----------
    d_efficiency : float
        Against the full factorial (``frame.attrs["d_efficiency"]``).
    d_efficiency_plausible : float
        Against the plausible combinations (``frame.attrs["d_efficiency_plausible"]``).
    restricted : bool
        Whether the catalogue's exclusions removed any combination.
    interactions : sequence of (str, str)
        The model's two-way interactions, if any.

    Examples
    --------
    >>> print(d_efficiency_sentence(0.81234, 1.04, restricted=True))
    D-efficiency of the main-effects model: 0.8123 against the full factorial (every combination of the dimensions once; no design can exceed 1 there) and 1.04 against the plausible combinations (every combination the catalogue allows, once; that reference is a finite design that is not itself optimal, so a figure above 1 is correct and means this design carries more information per vignette than showing every plausible combination would).
    >>> print(d_efficiency_sentence(0.95, 0.95, restricted=False))
    D-efficiency of the main-effects model: 0.95 against the full factorial (every combination of the dimensions once; no design can exceed 1 there); every combination is plausible, so this is also the figure against the plausible combinations.
    """
    if interactions:
        model = ("the model with main effects and the interaction"
                 f"{'s' if len(interactions) > 1 else ''} "
                 f"{', '.join(f'{a}:{b}' for a, b in interactions)}")
    else:
        model = "the main-effects model"
    full = (f"D-efficiency of {model}: {d_efficiency:.4g} against the full factorial (every "
            "combination of the dimensions once; no design can exceed 1 there)")
    if not restricted:
        return (f"{full}; every combination is plausible, so this is also the figure against the "
                "plausible combinations.")
    return (f"{full} and {d_efficiency_plausible:.4g} against the plausible combinations (every "
            "combination the catalogue allows, once; that reference is a finite design that is not "
            "itself optimal, so a figure above 1 is correct and means this design carries more "
            "information per vignette than showing every plausible combination would).")


def d_efficient_vignettes(dimensions: Sequence[str], n: int, random_state: int,
                          catalogue: Catalogue, *,
                          base: Mapping[str, int | str] | None = None,
                          narratives: bool = True, set_id: str | None = None,
                          conflict_rate: float = 0.0, n_starts: int = 10,
                          interactions: Sequence[InteractionSpec] | None = None,
                          balance: bool | None = None, validate: bool = True) -> pd.DataFrame:
    """A D-efficient fraction of the full factorial over ``dimensions``.

    ``dimensions`` are factors or child attributes (classic advice: at most
    about six); every other factor takes its ``base`` value (default 0, age
    band ``primary``, no disability). Combinations that break the catalogue's
    exclusions are removed from the candidate set. The model the design is
    optimised for has the dimensions' main effects and, optionally, chosen
    two-way ``interactions`` (for example the toxic-trio pairs).

    The table carries, in ``frame.attrs``: ``d_efficiency`` (against the full
    factorial, every combination once: at most 1), ``d_efficiency_plausible``
    (against the plausible combinations, every one once: can exceed 1, see
    :func:`d_efficiency_sentence`, whose sentence is in ``d_efficiency_note``),
    ``dimensions``, ``interactions`` (as ``"A:B"`` texts), ``level_counts``
    (for each dimension, the runs at each level) and ``balance_swaps``.

    Parameters
    ----------
    dimensions : sequence of str
        The factors or child attributes that vary.
    n : int
        Number of runs (vignettes); at least the model's number of parameters.
    random_state : int
        Seed of the design's random stream; the same value gives the same table.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    interactions : sequence of pairs of dimension names (or "A:B" texts), optional
        Two-way interactions the model includes (see :func:`check_interactions`).
    balance : bool, optional
        Even out level counts after the search where ``n`` allows it, keeping at
        least 99% of the D-efficiency. Default: on with interactions, off without
        (so main-effects designs are unchanged from earlier versions).
    validate : bool
        Check the table against the schema (the default); ``False`` is for internal callers
        only (see :meth:`VignetteArrays.to_frame`).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> v = d_efficient_vignettes(["domestic_abuse", "disability"], 8, 1, load_catalogue(), narratives=False)
    >>> len(v), sorted(v["disability"].unique().tolist())
    (8, [0, 1])
    >>> v = d_efficient_vignettes(["domestic_abuse", "parental_mental_health", "disability"], 24, 1,
    ...                           load_catalogue(), narratives=False,
    ...                           interactions=["domestic_abuse:parental_mental_health"])
    >>> round(v.attrs["d_efficiency"], 3), v.attrs["level_counts"]["domestic_abuse"]
    (0.924, [6, 6, 6, 6])
    """
    from dsk import _doe

    cat = catalogue
    if not dimensions:
        raise ValueError("a D-efficient design needs at least one dimension")
    for dim in dimensions:
        if dim not in cat.factor_ids and dim not in cat.child_ids:
            hint = cat.closest_names(dim)
            raise ValueError(f"dimension {dim!r} is not a factor or child attribute"
                             + (f"; did you mean {', '.join(hint)}?" if hint else ""))
    if len(set(dimensions)) != len(dimensions):
        raise ValueError(f"dimensions repeat: {list(dimensions)}")
    pairs = check_interactions(interactions, dimensions)
    index = {d: k for k, d in enumerate(dimensions)}
    fixed: dict[str, int] = {"age_band": cat.level_code("age_band", "primary"), "disability": 0}
    for key, value in (base or {}).items():
        if key not in cat.names() or key in cat.derived_ids:
            raise ValueError(f"base: {key!r} is not a factor or child attribute")
        fixed[key] = cat.level_code(key, value) if isinstance(value, str) else int(value)
    n_levels = [cat.value_range(d)[1] + 1 for d in dimensions]
    candidates = _doe.full_factorial(n_levels)

    def expand(runs: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        m = runs.shape[0]
        levels = np.zeros((m, len(cat.factors)), dtype=np.int64)
        child = {a: np.full(m, fixed.get(a, 0), dtype=np.int64) for a in cat.child_ids}
        for key, value in fixed.items():
            if key in cat.factor_ids:
                levels[:, cat.factor_index(key)] = value
        for k, dim in enumerate(dimensions):
            if dim in cat.child:
                child[dim] = runs[:, k].astype(np.int64)
            else:
                levels[:, cat.factor_index(dim)] = runs[:, k]
        return levels, child

    cand_levels, cand_child = expand(candidates)
    plausible = ~cat.violations(cand_levels, cand_child).any(axis=1)
    candidates = candidates[plausible]
    if len(candidates) == 0:
        raise ValueError("every combination of these dimensions breaks a catalogue exclusion")
    try:
        result = _doe.d_efficient_design(n_levels, n, random_state=random_state, candidates=candidates,
                                         n_starts=n_starts, interactions=[(index[a], index[b]) for a, b in pairs],
                                         balance=balance, dimension_names=list(dimensions))
    except ValueError as exc:
        message = str(exc)
        if message.startswith("candidates: they"):  # the candidates are the plausible combinations
            raise ValueError("the plausible combinations of these dimensions" + message[len("candidates: they"):]
                             ) from exc
        if message.startswith("n_runs: "):
            raise ValueError("n (the number of vignettes): " + message[len("n_runs: "):]) from exc
        raise
    levels, child = expand(result.runs)
    rng = np.random.default_rng([random_state, 1])
    arrays = _finish(cat, levels, child, rng, conflict_rate)
    frame = arrays.to_frame(cat, set_id or f"d-efficient-{random_state}", narratives=narratives,
                            validate=validate)
    frame.attrs["d_efficiency"] = float(result.d_efficiency_factorial)
    frame.attrs["d_efficiency_plausible"] = float(result.d_efficiency)
    frame.attrs["d_efficiency_note"] = d_efficiency_sentence(
        result.d_efficiency_factorial, result.d_efficiency, restricted=not plausible.all(), interactions=pairs)
    frame.attrs["dimensions"] = list(dimensions)
    frame.attrs["interactions"] = [f"{a}:{b}" for a, b in pairs]
    frame.attrs["level_counts"] = {d: list(c) for d, c in zip(dimensions, result.level_counts, strict=True)}
    frame.attrs["balance_swaps"] = int(result.balance_swaps)
    return frame


#: The keys a hand-built vignette may have (see ``docs/vignettes.md``).
SPEC_KEYS = ("id", "age_band", "disability", "factors", "reports", "note", "teaches", "facts")
#: The keys of one agency report in a hand-built vignette.
REPORT_KEYS = ("agency", "factor", "stance")


class SetProblem(NamedTuple):
    """One problem in a vignette set: where it is and what is wrong.

    ``loc`` is the path of keys and list indices to the bad text in the source
    (``("vignettes", 2, "factors", "hygiene")``); ``vignette`` the vignette's id and
    ``number`` its 1-based position in the list (None for a problem outside any vignette,
    and ``vignette`` None when it has no usable id); ``field`` the field inside it
    (``"factors.hygiene"``, ``"reports[0].agency"``), or None; ``at_key`` puts the caret
    under the key rather than its value (an unknown key).
    """

    loc: tuple[str | int, ...]
    vignette: str | None
    field: str | None
    message: str
    at_key: bool = False
    number: int | None = None

    def describe(self) -> str:
        """``vignette 'x', field 'f': problem`` (the parts that are known)."""
        named = []
        if self.vignette is not None:
            named.append(f"vignette {self.vignette!r}")
        elif self.number is not None:
            named.append(f"vignette {self.number}")
        if self.field is not None:
            named.append(f"field {self.field!r}")
        return (", ".join(named) + ": " if named else "") + self.message


class VignetteSetError(ValueError):
    """A vignette set (hand-built specs or a YAML set source) with problems, all found in one pass.

    ``problems`` lists each one formatted as ``file:line:column: vignette 'x', field 'f':
    problem`` followed by the offending line and a caret under the bad text (see
    :func:`dsk._yaml.caret`); without positions (specs built in Python) as ``source: vignette
    'x', field 'f': problem``. ``details`` holds the same problems as :class:`SetProblem`, in
    the same order. The message is all of them, after a count when there are several.
    """

    def __init__(self, message: str, problems: Sequence[str] = (),
                 details: Sequence[SetProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]
        self.details = tuple(details)

    @classmethod
    def from_problems(cls, source: str, problems: Sequence[SetProblem], *, data: Any = None,
                      text: str = "") -> VignetteSetError:
        """Place each problem in ``data`` (as :func:`dsk._yaml.load_yaml` read it from ``text``)
        and format them in file order."""
        placed = []
        for problem in problems:
            span = span_of(data, problem.loc, key=problem.at_key) if data is not None else None
            if span is None:
                placed.append(((0, 0), f"{source}: {problem.describe()}", problem))
            else:
                placed.append(((span.line, span.column),
                               caret(source, text, span.line, span.column, problem.describe(),
                                     length=span.length), problem))
        placed.sort(key=lambda item: item[0])
        formatted = [block for _, block, _ in placed]
        details = [problem for _, _, problem in placed]
        if len(formatted) == 1:
            return cls(formatted[0], formatted, details)
        head = f"{source}: {len(formatted)} problems in the vignette set"
        return cls("\n".join([head, *formatted]), formatted, details)


def _kind(value: Any) -> str:
    """A value as a researcher would name it in a message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return repr(value)


def _hint(name: Any, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _level_list(cat: Catalogue, name: str) -> str:
    return ", ".join(f"{k} {level}" for k, level in enumerate(cat.level_names(name)))


class _Checked(NamedTuple):
    levels: np.ndarray
    child: dict[str, np.ndarray]
    given: list[list[tuple[int, int, int]] | None]
    ids: list[str | None]


def check_specs(specs: Any, catalogue: Catalogue, *, prefix: tuple[str | int, ...] = ()
                ) -> list[SetProblem]:
    """Every problem in a list of hand-built vignette specs, in one pass.

    ``prefix`` is the path of the list in its source (``("vignettes",)`` in a YAML set), so
    each problem's ``loc`` is a path from the top of the file. Empty when all is well.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> specs = [{"id": "a", "factors": {"hygene": 1}}]
    >>> for p in check_specs(specs, load_catalogue()):
    ...     print(p.describe())
    vignette 'a', field 'age_band': missing key 'age_band': the child's age band, one of unborn, infant, preschool, primary, secondary
    vignette 'a', field 'factors.hygene': unknown factor 'hygene'; did you mean 'hygiene'?
    """
    return _check(specs, catalogue, prefix)[0]


def _check(specs: Any, cat: Catalogue, prefix: tuple[str | int, ...]
           ) -> tuple[list[SetProblem], _Checked]:
    problems: list[SetProblem] = []
    items = list(specs) if isinstance(specs, (list, tuple)) else []
    n = len(items)
    checked = _Checked(np.zeros((n, len(cat.factors)), dtype=np.int64),
                       {a: np.zeros(n, dtype=np.int64) for a in cat.child_ids}, [], [])
    if not isinstance(specs, (list, tuple)):
        problems.append(SetProblem(prefix, None, None, f"expected a list of vignettes, got {_kind(specs)}"))
        return problems, checked
    if n == 0:
        problems.append(SetProblem(prefix, None, None, "no vignettes: give at least one"))
        return problems, checked
    agency_index = {a: i for i, a in enumerate(cat.agency_ids)}
    first_seen: dict[str, int] = {}
    # per vignette: which factors have a known level, and whether its child attributes are known
    known: list[set[int]] = []
    bad: list[set[int]] = []  # factors given with a level that is wrong
    child_ok: list[bool] = []
    for i, spec in enumerate(items):
        at = (*prefix, i)
        label = _id_of(spec)

        def add(field: str | None, loc: tuple[str | int, ...], message: str, at_key: bool = False,
                _at: tuple[str | int, ...] = at, _label: str | None = label, _number: int = i + 1) -> None:
            problems.append(SetProblem((*_at, *loc), _label, field, message, at_key, _number))

        known.append(set())
        bad.append(set())
        child_ok.append(False)
        if not isinstance(spec, Mapping):
            add(None, (), f"expected a mapping with the keys {', '.join(SPEC_KEYS)}, got {_kind(spec)}")
            checked.given.append(None)
            checked.ids.append(None)
            continue
        for key in spec:
            if key not in SPEC_KEYS:
                add(str(key), (key,), f"unknown key {str(key)!r}{_hint(key, SPEC_KEYS)} "
                                      f"(keys of a vignette: {', '.join(SPEC_KEYS)})", at_key=True)
        # id
        vid: str | None = None
        if "id" in spec:
            raw = spec["id"]
            if not _usable_id(raw):
                add("id", ("id",), f"expected text, got {_kind(raw)}")
            else:
                vid = str(raw)
                if not vid.strip():
                    add("id", ("id",), "the id is empty")
                elif vid in first_seen:
                    k = first_seen[vid]
                    line = getattr(items[k], "line", 0)
                    where = f"at line {line}" if line else f"by vignette {k + 1}"
                    add("id", ("id",), f"duplicate id {vid!r}, already used {where}")
                else:
                    first_seen[vid] = i
        checked.ids.append(vid)
        # child attributes
        ok = age_known = True
        for attr, default in (("age_band", None), ("disability", "none")):
            names = cat.level_names(attr)
            if attr not in spec:
                if default is None:
                    ok = age_known = False
                    add(attr, (attr,), f"missing key {attr!r}: the child's age band, one of {', '.join(names)}")
                else:
                    checked.child[attr][i] = names.index(default)
                continue
            value = spec[attr]
            if not isinstance(value, str):
                ok = False
                age_known = age_known and attr != "age_band"
                add(attr, (attr,), f"expected a level name ({', '.join(names)}), got {_kind(value)}")
                continue
            try:
                checked.child[attr][i] = cat.level_code(attr, value)
            except KeyError as exc:
                ok = False
                age_known = age_known and attr != "age_band"
                add(attr, (attr,), str(exc.args[0]))
        child_ok[i] = ok
        # factors
        factors = spec.get("factors", {})
        if factors is None:
            factors = {}
        if not isinstance(factors, Mapping):
            add("factors", ("factors",), f"expected a mapping of factor id to level, got {_kind(factors)}")
            factors = {}
        for fid, value in factors.items():
            field = f"factors.{fid}"
            if fid not in cat.factor_ids:
                if fid in cat.child_ids:
                    message = (f"{fid!r} is a child attribute, not a factor: give it as the vignette's "
                               f"own key {fid!r}")
                elif fid in cat.derived_ids:
                    message = f"{fid!r} is derived from the factors and cannot be set"
                else:
                    message = f"unknown factor {str(fid)!r}{_hint(fid, cat.factor_ids)}"
                add(field, ("factors", fid), message, at_key=True)
                continue
            j = cat.factor_index(fid)
            top = cat.factors[j].max_level
            bad[i].add(j)  # until its level is read
            if isinstance(value, str):
                try:
                    code = cat.level_code(fid, value)
                except KeyError as exc:
                    add(field, ("factors", fid), str(exc.args[0]))
                    continue
            elif _is_int(value):
                code = int(value)
                if not 0 <= code <= top:
                    add(field, ("factors", fid), f"level {code} is outside 0-{top} "
                                                 f"(levels: {_level_list(cat, fid)})")
                    continue
            else:
                add(field, ("factors", fid), f"expected a level name or a number 0-{top}, got {_kind(value)} "
                                             f"(levels: {_level_list(cat, fid)})")
                continue
            checked.levels[i, j] = code
            known[i].add(j)
            bad[i].discard(j)
        # reports
        if "reports" not in spec:
            checked.given.append(None)
        else:
            age = int(checked.child["age_band"][i]) if age_known else None
            checked.given.append(_check_reports(spec["reports"], checked.levels[i], known[i], bad[i], age,
                                                cat, agency_index, add))
        # note
        note = spec.get("note")
        if "note" in spec and (isinstance(note, bool) or not isinstance(note, (str, int, float))):
            add("note", ("note",), f"expected text, got {_kind(note)}")
        # teaches: the reason codes the vignette is meant to teach
        if "teaches" in spec:
            _check_teaches(spec["teaches"], add)
        # facts: words the note names, which the narrative must also contain (checked once it is written)
        if "facts" in spec:
            _check_facts(spec["facts"], spec.get("note"), add)
    # catalogue exclusions, for vignettes whose child attributes are known
    rows = [i for i, ok in enumerate(child_ok) if ok]
    if rows:
        caps = cat.caps({a: v[rows] for a, v in checked.child.items()})
        for r, i in enumerate(rows):
            for j in sorted(known[i]):
                if checked.levels[i, j] > caps[r, j]:
                    problems.append(_exclusion_problem(cat, items[i], i, j, checked, prefix))
    return problems, checked


def _check_facts(facts: Any, note: Any, add: _Add) -> None:
    """A ``facts`` value: a list of short texts, each found in the note."""
    if not isinstance(facts, (list, tuple)) or not facts:
        add("facts", ("facts",), f"expected a list of facts the note names, got {_kind(facts)}")
        return
    text = str(note or "").lower()
    for k, fact in enumerate(facts):
        if not isinstance(fact, str) or not fact.strip():
            add(f"facts[{k}]", ("facts", k), f"expected some text, got {_kind(fact)}")
        elif fact.lower() not in text:
            add(f"facts[{k}]", ("facts", k), f"the note does not mention {fact!r}")


def _check_teaches(teaches: Any, add: _Add) -> None:
    """A ``teaches`` value: a list of distinct reason codes (:data:`dsk.schema.REASONS`), or empty."""
    if teaches is None:
        return
    if not isinstance(teaches, (list, tuple)):
        add("teaches", ("teaches",), f"expected a list of reason codes ({', '.join(REASONS)}), "
                                     f"got {_kind(teaches)}")
        return
    seen: set[str] = set()
    for k, code in enumerate(teaches):
        field = f"teaches[{k}]"
        if not isinstance(code, str):
            add(field, ("teaches", k), f"expected a reason code ({', '.join(REASONS)}), got {_kind(code)}")
        elif code not in REASONS:
            add(field, ("teaches", k), f"unknown reason code {code!r}{_hint(code, REASONS)} "
                                       f"(reason codes: {', '.join(REASONS)})")
        elif code in seen:
            add(field, ("teaches", k), f"reason code {code!r} is given twice")
        else:
            seen.add(code)


def _usable_id(value: Any) -> bool:
    return isinstance(value, str) or _is_int(value)


def _id_of(spec: Any) -> str | None:
    """A spec's id as text, for naming it in a message; None when it has none that can be used."""
    if isinstance(spec, Mapping) and _usable_id(spec.get("id")) and str(spec["id"]).strip():
        return str(spec["id"])
    return None


#: Records one problem of a vignette: field, path inside the vignette, message, at_key.
_Add = Callable[..., None]


def _check_reports(reports: Any, levels: np.ndarray, known: set[int], bad: set[int], age: int | None,
                   cat: Catalogue,
                   agency_index: Mapping[str, int],
                   add: _Add) -> list[tuple[int, int, int]] | None:
    if not isinstance(reports, (list, tuple)):
        add("reports", ("reports",), "expected a list of reports, each {agency, factor, stance}, "
                                     f"got {_kind(reports)}")
        return None
    items: list[tuple[int, int, int]] = []
    complete = True
    for k, rep in enumerate(reports):
        field = f"reports[{k}]"
        if not isinstance(rep, Mapping):
            add(field, ("reports", k), f"expected a mapping with agency, factor and stance, got {_kind(rep)}")
            complete = False
            continue
        for key in rep:
            if key not in REPORT_KEYS:
                add(f"{field}.{key}", ("reports", k, key),
                    f"unknown key {str(key)!r}{_hint(key, REPORT_KEYS)} (keys of a report: "
                    f"{', '.join(REPORT_KEYS)})", at_key=True)
        j = a = s = -1
        fid = rep.get("factor")
        if "factor" not in rep:
            add(f"{field}.factor", ("reports", k, "factor"), "missing key 'factor': the factor the agency reports on")
        elif not isinstance(fid, str):
            add(f"{field}.factor", ("reports", k, "factor"), f"expected a factor id, got {_kind(fid)}")
        elif fid not in cat.factor_ids:
            add(f"{field}.factor", ("reports", k, "factor"), f"unknown factor {fid!r}{_hint(fid, cat.factor_ids)}")
        else:
            j = cat.factor_index(fid)
            if levels[j] == 0:
                if j not in bad:
                    add(f"{field}.factor", ("reports", k, "factor"),
                        f"factor {fid!r} is not present in this vignette (its level is 0): give it a level "
                        "under factors, or report on a present factor")
                j = -2  # not reported on; a factor with a bad level has its own problem
        agency = rep.get("agency")
        if "agency" not in rep:
            add(f"{field}.agency", ("reports", k, "agency"),
                f"missing key 'agency': who reports, one of {', '.join(cat.agency_ids)}")
        elif not isinstance(agency, str) or agency not in agency_index:
            shown = repr(agency) if isinstance(agency, str) else _kind(agency)
            add(f"{field}.agency", ("reports", k, "agency"),
                f"unknown agency {shown}{_hint(agency, cat.agency_ids)} (agencies: {', '.join(cat.agency_ids)})")
        else:
            a = agency_index[agency]
            ages = cat.agency_ages.get(agency)
            if age is not None and ages is not None and age not in ages:
                sees = ", ".join(cat.level_names("age_band")[x] for x in ages)
                add(f"{field}.agency", ("reports", k, "agency"),
                    f"{agency!r} does not see a child of this age (age_band "
                    f"{cat.level_names('age_band')[age]}); it sees {sees}")
        stance = rep.get("stance", "concern")
        if stance not in STANCES:
            add(f"{field}.stance", ("reports", k, "stance"),
                f"expected concern or reassure, got {_kind(stance)}")
        else:
            s = STANCES.index(stance)
        if j == -1 or a < 0 or s < 0:
            complete = False
        if j >= 0 and a >= 0 and s >= 0:
            items.append((j, a, s))
    if complete:
        reported = {j for j, _, s in items if s == 0 or cat.factors[j].protective}
        missing = [cat.factor_ids[j] for j in sorted(known) if levels[j] > 0 and j not in reported]
        if missing:
            add("reports", ("reports",),
                f"present factors nobody reports: {', '.join(missing)} (each present factor needs a "
                "report; a concern unless the factor is protective)", at_key=True)
    return items


def _exclusion_problem(cat: Catalogue, spec: Mapping[str, Any], i: int, j: int, checked: _Checked,
                       prefix: tuple[str | int, ...]) -> SetProblem:
    """The catalogue exclusion that rules out factor ``j`` at its level for vignette ``i``."""
    fid = cat.factor_ids[j]
    level = int(checked.levels[i, j])
    codes = {a: int(checked.child[a][i]) for a in cat.child_ids}
    child = ", ".join(f"{a} {cat.level_names(a)[codes[a]]}" for a in cat.child_ids)
    reason = ""
    for excl in cat.exclusions:
        if fid in excl.caps and excl.caps[fid] < level and all(codes[a] in allowed
                                                               for a, allowed in excl.when.items()):
            reason = f"; catalogue exclusion {excl.id!r}: {excl.why}"
            break
    name = cat.level_names(fid)[level]
    return SetProblem((*prefix, i, "factors", fid), _id_of(spec), f"factors.{fid}",
                      f"level {name!r} is not plausible for this child ({child}){reason}", number=i + 1)


def vignettes_from_specs(specs: Sequence[Mapping[str, Any]], set_id: str, random_state: int,
                         catalogue: Catalogue, *, narratives: bool = True,
                         source: str = "<specs>") -> pd.DataFrame:
    """Hand-built vignettes, e.g. curated teaching cases.

    Each spec has ``id``, ``age_band`` (a level name), optional ``disability``
    (``none``/``disabled``), ``factors`` (factor id -> level name or number),
    optional ``reports`` (a list of ``{agency, factor, stance}`` in the order
    they arrive; when omitted they are sampled), optional ``note`` (kept in
    a ``note`` column) and optional ``teaches`` (a list of reason codes,
    :data:`dsk.schema.REASONS`, kept ``;``-joined in a ``teaches`` column).
    The format is described in ``docs/vignettes.md``.

    Parameters
    ----------
    specs : sequence of mappings
        One per vignette, as above.
    set_id : str
        The set's id.
    random_state : int
        Seed of the per-vignette seeds and of any sampled reports.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    source : str
        What to call the specs in error messages.

    Raises
    ------
    VignetteSetError
        Every problem in the specs at once (see :func:`check_specs`), each naming the
        vignette and the field; specs read by :func:`dsk._yaml.load_yaml` also give the
        line and column.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> spec = {"id": "baby", "age_band": "infant", "factors": {"parental_mental_health": "affecting_care"}}
    >>> v = vignettes_from_specs([spec], "hand", 1, load_catalogue(), narratives=False)
    >>> v["vignette_id"].tolist(), int(v["parental_mental_health"].iloc[0])
    (['baby'], 2)
    >>> try:
    ...     vignettes_from_specs([{"id": "x", "age_band": "baby"}, {"id": "x", "age_band": "infant"}],
    ...                          "hand", 1, load_catalogue())
    ... except VignetteSetError as exc:
    ...     print(exc)
    <specs>: 2 problems in the vignette set
    <specs>: vignette 'x', field 'age_band': 'age_band' has no level 'baby'; levels are unborn, infant, preschool, primary, secondary
    <specs>: vignette 'x', field 'id': duplicate id 'x', already used by vignette 1
    """
    cat = catalogue
    problems, checked = _check(specs, cat, ())
    if problems:
        raise VignetteSetError.from_problems(source, problems, data=specs)
    n = len(specs)
    levels, child, given = checked.levels, checked.child, checked.given
    rng = np.random.default_rng(random_state)
    arrays = _finish(cat, levels, child, rng, conflict_rate=0.0)
    if any(g is not None for g in given):
        sampled = arrays.reports
        parts: list[tuple[int, int, int, int, int]] = []
        for i, maybe in enumerate(given):
            if maybe is None:
                rows = np.flatnonzero(sampled.vignette == i)
                parts.extend((i, int(sampled.factor[r]), int(sampled.agency[r]), int(sampled.stance[r]),
                              int(sampled.order[r])) for r in rows)
            else:
                parts.extend((i, j, a, s, k + 1) for k, (j, a, s) in enumerate(maybe))
        cols = np.array(parts, dtype=np.int64).reshape(-1, 5)
        reports = Reports(cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3], cols[:, 4], n)
        n_agencies = reports.n_agencies()
        derived = cat.derive(levels, n_agencies=n_agencies)
        cx = complexity_scores(cat, levels, child, n_agencies, reports.n_conflicts(cat.protective_mask))
        arrays = VignetteArrays(levels, child, arrays.seeds, reports, derived, cx)
    frame = arrays.to_frame(cat, set_id, narratives=narratives)
    frame["vignette_id"] = [str(spec.get("id", frame["vignette_id"].iloc[i])) for i, spec in enumerate(specs)]
    if narratives:
        missing = [SetProblem((i, "facts", k), str(spec.get("id")), f"facts[{k}]",
                              f"the narrative does not mention {fact!r}", number=i + 1)
                   for i, spec in enumerate(specs) for k, fact in enumerate(spec.get("facts") or ())
                   if str(fact).lower() not in frame["narrative"].iloc[i].lower()]
        if missing:
            raise VignetteSetError.from_problems(source, missing, data=specs)
    if any("note" in spec for spec in specs):
        frame["note"] = [str(spec.get("note", "")) for spec in specs]
    if any("teaches" in spec for spec in specs):  # ;-joined, so that CSV and Parquet round-trip
        frame["teaches"] = [";".join(spec.get("teaches") or ()) for spec in specs]
    if any("facts" in spec for spec in specs):
        frame["facts"] = [";".join(spec.get("facts") or ()) for spec in specs]
    return frame


def generate(design: str, n: int, random_state: int, catalogue: Catalogue, *,
             narratives: bool = True, set_id: str | None = None,
             dimensions: Sequence[str] | None = None,
             bands: Mapping[str, int] | None = None, acute_share: float | None = None,
             interactions: Sequence[InteractionSpec] | None = None,
             max_present: int | None = None,
             validate: bool = True) -> pd.DataFrame:
    """Dispatch to a design by name (``random``, ``stratified``, ``d-efficient``).

    ``stratified`` with no ``bands`` splits ``n`` evenly over the three bands
    (any remainder to the lower bands).

    Parameters
    ----------
    design : str
        ``random``, ``stratified`` or ``d-efficient``.
    n : int
        Number of vignettes.
    random_state : int
        Seed of the design's random stream; the same value gives the same table.
    catalogue : Catalogue
        The factor catalogue (see :func:`dsk.catalogue.load_catalogue`).
    interactions : sequence of pairs of dimension names (or "A:B" texts), optional
        D-efficient design: two-way interactions its model includes.
    max_present : int, optional
        Random and stratified designs: at most this many factors present in one vignette.
    validate : bool
        Check the table against the schema (the default); ``False`` is for internal callers
        only (see :meth:`VignetteArrays.to_frame`).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> v = generate("stratified", 5, 1, load_catalogue(), narratives=False)
    >>> v["complexity_band"].value_counts().to_dict()
    {'low': 2, 'medium': 2, 'high': 1}
    """
    if interactions and design in DESIGNS and design != "d-efficient":
        raise ValueError(f"interactions apply only to the d-efficient design, not {design!r}")
    if design == "random":
        return random_vignettes(n, random_state, catalogue, narratives=narratives, set_id=set_id,
                                max_present=max_present, validate=validate)
    if design == "stratified":
        if bands is None:
            base, extra = divmod(n, 3)
            bands = {b: base + (1 if i < extra else 0) for i, b in enumerate(BANDS)}
        return stratified_vignettes(bands, random_state, catalogue, narratives=narratives, set_id=set_id,
                                    acute_share=acute_share, max_present=max_present, validate=validate)
    if design == "d-efficient":
        if max_present is not None:
            raise ValueError("max_present applies only to the random and stratified designs "
                             "(a d-efficient design sets every dimension itself)")
        if not dimensions:
            raise ValueError("the d-efficient design needs --dimensions (factors or child attributes)")
        return d_efficient_vignettes(dimensions, n, random_state, catalogue, narratives=narratives, set_id=set_id,
                                     interactions=interactions, validate=validate)
    raise ValueError(f"unknown design {design!r}; designs are {', '.join(DESIGNS)}")
