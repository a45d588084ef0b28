"""Study planning: how many practitioners and vignettes, and what precision or power they buy.

A plan (:class:`PlanSpec`: the ``plan:`` section of an experiment config, or a plan file
whose only top-level key is ``plan:``) is a grid over the number of vignettes, the deck
size, the practitioners per deck and the professions mix. Every cell of the grid is
simulated ``replications`` times; each replication runs the whole pipeline with its own
seed: design (:func:`dsk.design.generate`) -> decks (:func:`dsk.decks.make_decks`) ->
simulated panel (:func:`dsk.panels.simulate_panel`) -> analysis. The analysis of one
replicate is deliberately cheap: the agreement coefficients come straight from the
vectorised kernels (no bootstrap per replicate: the spread over replicates *is* the
sampling distribution), the checklist from the vector rule engine, and the CLMM (only when
planned for) from :func:`dsk.analysis.models.clmm`.

What the plan reports, per cell (:func:`summarise`):

* ``half-width``: half the width of the central 95% of the replicates' Krippendorff's alpha,
  Gwet's AC2 (and, for the analytic cross-check, percent agreement), overall and per
  complexity band: the 95% CI half-width a study of that design can expect;
* ``power``: the share of replicates in which the test rejects at ``significance``: Welch's
  t test of the difference in checklist-panel divergence between two bands (a vignette's
  divergence is the share of its practitioners whose level differs from the checklist's),
  and, per CLMM effect, the share whose 95% Wald CI excludes 0.

Each figure comes with a Monte Carlo interval over the replications (a bootstrap of the
replicates for a half-width, Wilson's interval for a power), so one can see whether there
were enough replications. The seeds are spawned from the plan's seed with
``numpy.random.SeedSequence(seed).spawn(cells * replications)``, one child per cell and
replication in grid order, so results are identical whatever the number of workers or
the order the tasks finish in.

The replications run on Dask (:func:`run_plan`): a ``distributed.LocalCluster`` of
single-threaded worker processes by default (:func:`local_cluster`, with Dask's housekeeping
turned down so that it does not take the workers' cores), or an existing cluster at a
scheduler address. Every worker is warmed before the first task (:func:`warm_worker`: the
imports and the catalogue, professions and checklist, about a second, paid once per worker and
not inside a task), and the replications are shipped in tasks of ``batch``, the last few a
quarter of that so the workers finish together.

A replication is kept cheap because there are thousands of them: the vignette set it generates
is not re-checked against the schema (the design code built it; ``validate=False``), the
checklist's columns are read in one go and decided as the vector rule engine decides, Welch's
test is computed as scipy computes it without that function's input handling, and the
catalogue, professions, ruleset, weight matrices and each cell's panel are loaded once per
worker process. What a replication cannot share is its vignettes: each generates its own set,
so the simulator's case features are computed afresh every time (in 200 replications of 48
vignettes no two sets were the same, and three in four vignettes were unique). Each
worker runs one thread with BLAS limited to one thread, so two workers use two cores. Tests
check every shortcut against the reference path; ``benchmarks/bench_plan.py`` measures it.

The results are those of *simulated* practitioners: they follow from the simulator's
assumptions (``docs/methods.md``, "Simulated practitioners"), not from data.

Two analytic sample sizes are given beside the simulation: Gwet's (2014, pp. 158-160)
``n = 1/E^2`` subjects for a 95% error margin ``E`` of percent agreement
(:func:`gwet_sample_size`), and Bloch and Kraemer's (1989) formula as Krippendorff (2019,
section 12.4) uses it for the number of values needed to show alpha above a minimum
(:func:`bloch_kraemer_values`).

Examples
--------
>>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=4,
...                 quantities=["alpha"])
>>> [c.practitioners for c in grid_cells(plan)]
[6]
>>> gwet_sample_size(0.1), bloch_kraemer_values(0.8, 0.25)
(100, 139)
"""

from __future__ import annotations

import base64
import functools
import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from dsk._plan_config import QUANTITIES, PlanSpec
from dsk.schema import BANDS

__all__ = [
    "QUANTITIES",
    "Cell",
    "PlanError",
    "PlanResult",
    "PlanSpec",
    "bloch_kraemer_values",
    "cross_checks",
    "grid_cells",
    "gwet_margin",
    "gwet_sample_size",
    "load_plan",
    "local_cluster",
    "professions_sequence",
    "replicate",
    "run_plan",
    "run_replicates",
    "summarise",
    "warm_worker",
    "warm_workers",
    "write_plan",
]

#: The first sentence of every plan page and printout.
SIMULATED = ("These results come from simulated practitioners, not from people: they follow from the "
             "simulator's assumptions (see \"Simulated practitioners\" in the methods).")

#: Bootstrap resamples of the replicates for the Monte Carlo interval of a half-width.
MC_RESAMPLES = 400

_LABELS = {"alpha": "Krippendorff's alpha", "ac2": "Gwet's AC2", "pa": "percent agreement"}


class PlanError(ValueError):
    """A plan that cannot be read or run; ``problems`` lists every problem found."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


# ---------------------------------------------------------------- analytic sample sizes


def gwet_sample_size(margin: float) -> int:
    """Subjects that bound the 95% error margin of two raters' percent agreement at ``margin``.

    Gwet (2014, *Handbook of Inter-Rater Reliability*, 4th ed., pp. 158-160): the variance of
    percent agreement is ``p(1 - p)/n`` at most ``1/(4n)``, so ``1.96 * sqrt(1/(4n)) ~ 1/sqrt(n)``
    and ``n = 1/E^2`` subjects suffice for a margin ``E``.

    Examples
    --------
    >>> gwet_sample_size(0.1), gwet_sample_size(0.05), gwet_sample_size(0.2)
    (100, 400, 25)
    """
    if not 0 < margin < 1:
        raise ValueError(f"margin: expected a number between 0 and 1, got {margin}")
    return math.ceil(1.0 / margin**2 - 1e-9)


def gwet_margin(n: int) -> float:
    """Gwet's bound on the 95% error margin of percent agreement with ``n`` subjects: ``1/sqrt(n)``.

    Examples
    --------
    >>> gwet_margin(100), round(gwet_margin(48), 3)
    (0.1, 0.144)
    """
    if n < 1:
        raise ValueError(f"n: expected at least 1 subject, got {n}")
    return 1.0 / math.sqrt(n)


def bloch_kraemer_values(alpha_min: float, p_min: float, *, significance: float = 0.05,
                         coders: int = 2) -> int:
    """Values needed to show Krippendorff's alpha above ``alpha_min`` (Bloch and Kraemer 1989).

    Krippendorff (2019, *Content Analysis*, 4th ed., section 12.4) adapts Bloch and Kraemer's
    (1989) formula: with ``p_min`` the probability of the least frequent category and ``z`` the
    one-sided normal quantile of ``significance``,
    ``N = coders * z^2 * ((1 + a)(3 - a) / (4 (1 - a) p_min (1 - p_min)) - a)``
    (``coders * z^2``: two coders give Krippendorff's ``2 z^2``; for more coders the ``z^2`` is
    multiplied by their number).

    Examples
    --------
    Krippendorff's worked figures, four equally likely categories at p = .05:

    >>> bloch_kraemer_values(0.8, 0.25), bloch_kraemer_values(0.667, 0.25)
    (139, 81)
    """
    if not -1 < alpha_min < 1:
        raise ValueError(f"alpha_min: expected a number between -1 and 1, got {alpha_min}")
    if not 0 < p_min <= 0.5:
        raise ValueError(f"p_min: expected a probability above 0 and at most .5, got {p_min}")
    if coders < 2:
        raise ValueError(f"coders: expected at least 2, got {coders}")
    z = NormalDist().inv_cdf(1.0 - significance)
    a = alpha_min
    n = coders * z * z * ((1 + a) * (3 - a) / (4 * (1 - a) * p_min * (1 - p_min)) - a)
    return math.ceil(n - 1e-9)


# ---------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Cell:
    """One design of the grid."""

    index: int
    n_vignettes: int
    deck_size: int
    per_deck: int
    mix: str

    @property
    def n_decks(self) -> int:
        """Decks in the plan: ``n_vignettes / gcd(n_vignettes, deck_size)`` (see make_decks)."""
        return self.n_vignettes // math.gcd(self.n_vignettes, self.deck_size)

    @property
    def practitioners(self) -> int:
        """Practitioners in the study: ``per_deck`` for every deck."""
        return self.per_deck * self.n_decks

    @property
    def raters_per_vignette(self) -> float:
        """Practitioners who rate each vignette (on average)."""
        return self.practitioners * self.deck_size / self.n_vignettes


def grid_cells(plan: PlanSpec) -> list[Cell]:
    """The cells of the plan's grid, in order (vignettes, deck size, per deck, mix).

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[24, 48], deck_size=[12], per_deck=[4, 8])
    >>> [(c.n_vignettes, c.n_decks, c.practitioners) for c in grid_cells(plan)]
    [(24, 2, 8), (24, 2, 16), (48, 4, 16), (48, 4, 32)]
    """
    combos = itertools.product(plan.vignettes, plan.deck_size, plan.per_deck, plan.professions)
    return [Cell(i, n, k, m, mix) for i, (n, k, m, mix) in enumerate(combos)]


def professions_sequence(mix: Mapping[str, float], n: int) -> list[str]:
    """``n`` seats shared among the professions of ``mix`` by largest remainder, interleaved.

    The seats are ordered so that every run of consecutive practitioners is as mixed as it
    can be (seat ``i`` of a profession with ``c`` seats sits at ``(i + 0.5) / c``); with decks
    dealt in turn this spreads the professions over the decks.

    Examples
    --------
    >>> professions_sequence({"police": 1, "gp": 1, "teacher": 2}, 8)
    ['teacher', 'police', 'gp', 'teacher', 'teacher', 'police', 'gp', 'teacher']
    """
    names = list(mix)
    share = np.array([float(mix[p]) for p in names])
    quota = share / share.sum() * n
    seats = np.floor(quota).astype(int)
    order = sorted(range(len(names)), key=lambda i: (-(quota[i] - seats[i]), i))
    for i in order[: n - int(seats.sum())]:
        seats[i] += 1
    keyed = [((i + 0.5) / c, j, names[j]) for j, c in enumerate(seats) for i in range(c)]
    return [name for _, _, name in sorted(keyed)]


# ---------------------------------------------------------------- one replication


@functools.lru_cache(maxsize=4)
def _resources(ruleset: str) -> tuple[Any, Any, Any]:
    """Catalogue, professions and checklist, loaded once per worker process."""
    from dsk.catalogue import load_catalogue
    from dsk.panels import load_professions
    from dsk.rules import bundled_rulesets, load_ruleset

    cat = load_catalogue()
    return cat, load_professions(catalogue=cat), load_ruleset(bundled_rulesets()[ruleset], cat)


@functools.lru_cache(maxsize=4)
def _hit_policy(ruleset: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The checklist's names, its rules' levels and their preference order, once per worker."""
    from dsk.rules.vector import preference_rank

    rules = _resources(ruleset)[2]
    levels = np.array([r.level for r in rules.rules], dtype=np.int64)
    return list(rules.names), levels, np.argsort(preference_rank(rules), kind="stable")


def _checklist(ruleset: str, vignettes: pd.DataFrame) -> np.ndarray:
    """The checklist's need level per vignette, as ``dsk.rules.evaluate`` decides it.

    The vector engine's decision (the fired rule ranked best, else the default level) on a
    table this module has just generated: the columns are read at once and not re-checked
    (``evaluate`` reads and checks them one by one, a tenth of a replication); a test compares
    the two.
    """
    from dsk.rules.vector import fired_matrix

    rules = _resources(ruleset)[2]
    names, levels, order = _hit_policy(ruleset)
    values = np.ascontiguousarray(vignettes[names].to_numpy(dtype=np.int64).T)
    fired = fired_matrix(rules, dict(zip(names, values, strict=True)), len(vignettes))
    if not len(levels):
        return np.full(len(vignettes), rules.default_level, dtype=np.int64)
    best = order[fired[:, order].argmax(axis=1)]
    return np.where(fired.any(axis=1), levels[best], rules.default_level).astype(np.int64)


@functools.lru_cache(maxsize=64)
def _panel(mix: tuple[tuple[str, float], ...], practitioners: int, experience: float) -> Any:
    """The simulated panel of a cell (the same for all its replications), built once per worker."""
    from dsk.panels import PanelMember, PanelSpec

    return PanelSpec(id="plan", seed=0, members=[
        PanelMember(profession=p, experience=experience, count=1)
        for p in professions_sequence(dict(mix), practitioners)])


_VALUES = np.arange(1, 5, dtype=float)  # the four need levels


@functools.lru_cache(maxsize=8)
def _weights(weights: str) -> np.ndarray:
    """A weight matrix over the four levels, built once per worker process."""
    from dsk.analysis import _kernels as K

    w = K.weight_matrix(weights, _VALUES)
    w.setflags(write=False)
    return w


def _agreement(codes: np.ndarray, level: str, weights: str) -> tuple[float, float, float]:
    """(alpha, AC2, percent agreement) of a units x raters code matrix (-1 missing)."""
    from dsk.analysis import _kernels as K

    rated = (codes >= 0).sum(axis=1) >= 2
    if rated.sum() < 2:
        return math.nan, math.nan, math.nan
    s = K.panel_sums(K.onehot(codes[rated], len(_VALUES)))
    alpha = float(K.krippendorff(s, level, _VALUES)[0])
    ac2 = float(K.gwet(s, _weights(weights))[0])
    pa = float(K.percent_agreement(s, _weights("identity"))[0])
    return alpha, ac2, pa


def _welch_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p value of Welch's t test of ``mean(a) - mean(b)``.

    The arithmetic of ``scipy.stats.ttest_ind(a, b, equal_var=False)`` (scipy 1.17) step for
    step, so the p values are the same to the last bit (a test checks it), without that
    function's input handling, which costs more than the test itself (about a twentieth of a
    replication).
    """
    from scipy.special import stdtr

    n1, n2 = len(a), len(b)
    m1, m2 = np.mean(a), np.mean(b)
    v1 = np.mean((a - m1) ** 2) * (n1 / (n1 - 1))
    v2 = np.mean((b - m2) ** 2) * (n2 / (n2 - 1))
    vn1, vn2 = v1 / n1, v2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        t = (m1 - m2) / np.sqrt(vn1 + vn2)
    df = 1.0 if np.isnan(df) else df
    return float(2 * stdtr(df, -np.abs(t)))


def replicate(plan: PlanSpec, cell: Cell, seed: np.random.SeedSequence) -> dict[str, Any]:
    """One replication of a cell: design -> decks -> simulated panel -> analysis.

    Returns one row of the replicates table: ``alpha``, ``ac2``, ``pa`` overall and per band
    (``alpha_low``, ...), the mean divergence per band (``div_low``, ...), the Welch p value of
    the planned band difference (``div_p``), the share of the least used level (``p_min``) and,
    when the CLMM is planned for, each effect's estimate and whether its 95% CI excludes 0.

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], quantities=["alpha"])
    >>> row = replicate(plan, grid_cells(plan)[0], np.random.SeedSequence(1))
    >>> row["practitioners"], [k for k in row if k.startswith("alpha")]
    (6, ['alpha', 'alpha_low', 'alpha_medium', 'alpha_high'])
    """
    from dsk.decks import make_decks
    from dsk.design import generate
    from dsk.panels.simulate import case_features, draw_raters, simulate_round

    cat, profs, _ = _resources(plan.ruleset)
    design_seed, deck_seed, panel_seed = (int(x) for x in seed.generate_state(3))
    vignettes = generate(plan.design, cell.n_vignettes, design_seed, cat, narratives=False,
                         dimensions=plan.dimensions, set_id="plan", validate=False)
    ids = vignettes["vignette_id"].tolist()
    decks = make_decks(ids, cell.deck_size, cell.practitioners, random_state=deck_seed)
    panel = _panel(tuple(plan.professions[cell.mix].items()), cell.practitioners, plan.experience)
    # simulate_panel's own steps, kept as arrays: the same draws (a test checks it), without the
    # judgements table this analysis does not need
    rng = np.random.default_rng([panel.seed, panel_seed])
    features = case_features(vignettes, profs, cat)
    raters = draw_raters(panel, profs, cat, rng)
    first = simulate_round(features, raters, profs, cat, rng)
    row_of = {v: i for i, v in enumerate(ids)}
    seen = np.zeros((len(ids), len(raters)), dtype=bool)
    rows = np.array([row_of[v] for v in decks["vignette_id"].tolist()], dtype=np.int64)
    seen[rows, decks["respondent"].to_numpy() - 1] = True
    levels_all = np.asarray(first.need_level, dtype=np.int64)
    codes = np.where(seen, levels_all - 1, -1)
    levels = levels_all[seen]
    band = vignettes["complexity_band"].to_numpy()
    out: dict[str, Any] = {"cell": cell.index, **{k: v for k, v in asdict(cell).items() if k != "index"},
                           "practitioners": cell.practitioners}
    for scope in ("all", *BANDS):
        part = codes if scope == "all" else codes[band == scope]
        alpha, ac2, pa = _agreement(part, plan.alpha_level, plan.ac2_weights)
        suffix = "" if scope == "all" else f"_{scope}"
        out[f"alpha{suffix}"], out[f"ac2{suffix}"], out[f"pa{suffix}"] = alpha, ac2, pa
    used = np.bincount(levels - 1, minlength=4) / len(levels)
    out["p_min"] = float(used.min())
    checklist = _checklist(plan.ruleset, vignettes)
    differs = np.where(codes >= 0, (codes + 1) != checklist[:, None], False).sum(axis=1)
    divergence = differs / np.maximum((codes >= 0).sum(axis=1), 1)
    for b in BANDS:
        out[f"div_{b}"] = float(divergence[band == b].mean()) if (band == b).any() else math.nan
    first, second = (divergence[band == b] for b in plan.divergence_bands)
    p = math.nan
    if len(first) >= 2 and len(second) >= 2:
        if first.std() > 0 or second.std() > 0:
            p = _welch_p(second, first)
        else:  # no spread in either band: the difference is certain, or there is none
            p = 0.0 if first.mean() != second.mean() else 1.0
    out["div_p"] = p
    if "clmm" in plan.quantities:
        out.update(_clmm_row(plan, vignettes, codes, raters))
    return out


def _clmm_row(plan: PlanSpec, vignettes: pd.DataFrame, codes: np.ndarray, raters: Sequence[Any]) -> dict[str, Any]:
    from dsk.analysis.models import clmm

    rows, cols = np.nonzero(codes >= 0)
    data = vignettes.iloc[rows].reset_index(drop=True)
    data["need_level"] = codes[rows, cols] + 1
    data["rater_id"] = [raters[int(j)].rater_id for j in cols]
    data["profession"] = [raters[int(j)].profession for j in cols]
    out: dict[str, Any] = {}
    try:
        table = clmm(plan.clmm_formula, data, check_separation=False).table.set_index("term")
    except (ValueError, np.linalg.LinAlgError):
        table = pd.DataFrame(columns=["estimate", "ci_low", "ci_high"])
    for term in plan.clmm_effects:
        if term in table.index:
            values = table.loc[term, ["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
            est, low, high = (float(v) for v in values)
        else:
            est = low = high = math.nan
        out[f"clmm_{term}"] = est
        out[f"clmm_{term}_excludes0"] = float(low > 0 or high < 0) if math.isfinite(low) else math.nan
    return out


def warm_worker(ruleset: str, clmm: bool = False) -> None:
    """Import and load what a replication needs, so that a worker's first task does not pay for it.

    The imports (dsk's design, decks, simulator, kernels and rule engine, scipy) take about a
    second, as long as some fifty replications; the catalogue, professions, checklist and
    weight matrices are then loaded into this process's caches. :func:`run_replicates` runs it
    once in every worker process (the :class:`dsk._plan_worker.WarmUp` plugin) before the
    replications start; calling it again costs nothing.

    Examples
    --------
    >>> warm_worker("threshold-of-need")
    >>> _resources.cache_info().currsize >= 1
    True
    """
    import scipy.special  # noqa: F401

    import dsk.analysis._kernels  # noqa: F401
    import dsk.decks  # noqa: F401
    import dsk.design  # noqa: F401
    import dsk.panels.simulate  # noqa: F401
    import dsk.rules.vector  # noqa: F401

    if clmm:
        import dsk.analysis.models  # noqa: F401
    _blas()
    _resources(ruleset)
    _hit_policy(ruleset)
    for weights in ("identity", "linear", "quadratic"):
        _weights(weights)


@functools.lru_cache(maxsize=1)
def _blas() -> Any:
    """The BLAS libraries of this process (numpy's and scipy's), found once per worker.

    Finding them (``threadpoolctl`` walks the loaded libraries) takes a few milliseconds, a
    hundred times as long as limiting them, so the controller is kept; scipy is imported first
    so that its BLAS is among them.
    """
    import scipy.special  # noqa: F401
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _run_batch(plan: PlanSpec, items: Sequence[tuple[int, int, np.random.SeedSequence]]) -> list[dict[str, Any]]:
    """Replications ``(cell index, replication, seed)`` of one task, run in turn, BLAS on one thread."""
    cells = grid_cells(plan)
    rows = []
    with _blas().limit(limits=1):
        for cell_index, rep, seed in items:
            row = replicate(plan, cells[cell_index], seed)
            row["replication"] = rep
            rows.append(row)
    return rows


#: The plan's last ``TAIL * batch`` replications go in tasks of ``batch / TAIL`` (rounded up), so
#: that the workers run out of work at about the same time.
TAIL = 4


def _tasks(plan: PlanSpec) -> list[list[tuple[int, int, np.random.SeedSequence]]]:
    """The plan's replications ``(cell, replication, seed)`` in grid order, cut into tasks.

    Tasks of ``batch`` replications, then, for the last ``TAIL * batch``, tasks of
    ``ceil(batch / TAIL)``: a task is the unit a worker takes, so with tasks of 25 replications
    (about a third of a second) one worker could sit idle for most of a task while the other
    finishes the last one; short last tasks cut that wait to a quarter.

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=50, batch=8)
    >>> [len(t) for t in _tasks(plan)]
    [8, 8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    cells = grid_cells(plan)
    seeds = np.random.SeedSequence(plan.seed).spawn(len(cells) * plan.replications)
    items = [(c, r, seeds[c * plan.replications + r]) for c in range(len(cells)) for r in range(plan.replications)]
    head = max(0, len(items) - TAIL * plan.batch)
    head -= head % plan.batch  # whole tasks of batch first
    small = -(-plan.batch // TAIL)
    starts = [*range(0, head, plan.batch), *range(head, len(items), small)]
    return [items[i:j] for i, j in zip(starts, [*starts[1:], len(items)], strict=True)]


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows).sort_values(["cell", "replication"], kind="stable").reset_index(drop=True)
    first = ["cell", "n_vignettes", "deck_size", "per_deck", "mix", "practitioners", "replication"]
    table = table[first + [c for c in table.columns if c not in first]]
    floats = table.select_dtypes("float").columns
    table[floats] = table[floats].round(12)  # the same digits whatever the BLAS summation order
    return table


#: Dask settings of the local cluster: Dask's housekeeping, which wakes every process many times a
#: second (the event loop's health check every 20 ms in the scheduler and each nanny, the
#: memory monitor every 100 ms, the system monitor every 500 ms), costs a tenth of a core while
#: the cluster is idle and a fiftieth with these; the workers' statistical profiler (a thread
#: sampling the running task every 10 ms, for the dashboard a plan does not open) is off. On a
#: machine with as many cores as workers that time would come out of the replications.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded processes, as :func:`run_replicates` uses.

    Started with :data:`LOCAL_CLUSTER_CONFIG`; the dashboard is off and Dask's log below errors
    silenced.
    """
    import logging

    import dask
    from distributed import LocalCluster

    if workers < 1:
        raise PlanError(f"workers: expected at least 1, got {workers}")
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.ERROR)


def warm_workers(client: Any, plan: PlanSpec) -> None:
    """Run :func:`warm_worker` on every worker of ``client``'s cluster, now and on any that joins later.

    Raises
    ------
    PlanError
        If the workers cannot import dsk.
    """
    from dsk._plan_worker import WarmUp

    try:
        client.register_plugin(WarmUp(plan.ruleset, "clmm" in plan.quantities))
    except ImportError as exc:
        raise PlanError(f"the Dask workers cannot import dsk (install it where they run): {exc}") from exc


def run_replicates(plan: PlanSpec, *, workers: int = 2, scheduler: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Run every replication of the plan on Dask; one row per cell and replication.

    The workers are warmed first (:func:`warm_workers`), then the replications are shipped in
    tasks (:func:`_tasks`); each replication has its own seed, so the table is the same whatever
    the number of workers, the tasks' sizes or the order they finish in.

    Parameters
    ----------
    plan : the plan.
    workers : worker processes of the local cluster (:func:`local_cluster`, one thread each);
        ignored with ``scheduler``.
    scheduler : address of an existing Dask scheduler (``tcp://HOST:PORT``) instead of a local
        cluster; its workers need ``dsk`` installed.
    progress : called with (replications done, replications in all) as tasks finish.

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=2,
    ...                 quantities=["alpha"])
    >>> run_replicates(plan, workers=1)["replication"].tolist()  # doctest: +SKIP
    [0, 1]
    """
    from distributed import Client, as_completed

    tasks = _tasks(plan)
    total = sum(len(t) for t in tasks)
    cluster = local_cluster(workers) if scheduler is None else None
    try:
        with Client(cluster if cluster is not None else scheduler, timeout="30s") as client:
            warm_workers(client, plan)
            # one graph for all the tasks, and results gathered as they finish: both cost the
            # scheduler and this process less than a submit and a result() per task
            futures = client.map(_run_batch, [plan] * len(tasks), tasks, pure=False)
            rows: list[dict[str, Any]] = []
            done = 0
            for _, batch in as_completed(futures, with_results=True):
                rows.extend(batch)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
    except OSError as exc:
        raise PlanError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
    finally:
        if cluster is not None:
            cluster.close()
    return _table(rows)


# ---------------------------------------------------------------- summaries


def _num(x: float) -> str:
    """A figure as in the sentences: two decimals, no leading zero (``.11``, ``-.05``)."""
    if not math.isfinite(x):
        return "n/a"
    text = f"{x:.2f}"
    return text.replace("0.", ".", 1) if abs(x) < 1 else text


def _half_width(x: np.ndarray) -> float:
    low, high = np.quantile(x, [0.025, 0.975])
    return float(high - low) / 2.0


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _design_words(cell: Cell, plan: PlanSpec) -> str:
    mix = f", {cell.mix} mix" if len(plan.professions) > 1 else ""
    return (f"with {cell.practitioners} practitioners in decks of {cell.deck_size} "
            f"({cell.n_vignettes} vignettes, {cell.per_deck} per deck{mix})")


def summarise(plan: PlanSpec, replicates: pd.DataFrame) -> pd.DataFrame:
    """Per cell and quantity: the half-width or power, its Monte Carlo interval and a sentence.

    Columns: the cell's design, ``quantity`` (``alpha``, ``ac2``, ``pa``, ``divergence`` or
    ``clmm:TERM``), ``scope`` (``all`` or a band), ``statistic`` (``half-width`` or ``power``),
    ``value``, ``mc_low``, ``mc_high``, ``mean`` (mean estimate over replicates; for
    ``divergence`` the mean difference between the bands), ``replications`` (usable ones) and
    ``sentence``. The sentence is written from the row's own figures.

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=3, quantities=["alpha"])
    >>> reps = pd.DataFrame({"cell": 0, "n_vignettes": 12, "deck_size": 6, "per_deck": 3, "mix": "mixed",
    ...                      "practitioners": 6, "replication": [0, 1, 2], "alpha": [0.5, 0.6, 0.7]})
    >>> print(summarise(plan, reps)["sentence"].iloc[0])
    with 6 practitioners in decks of 6 (12 vignettes, 3 per deck), the half-width of Krippendorff's alpha is .09 (.00-.09)
    """
    cells = grid_cells(plan)
    out = []
    for cell in cells:
        reps = replicates[replicates["cell"] == cell.index]
        base = {"cell": cell.index, "n_vignettes": cell.n_vignettes, "deck_size": cell.deck_size,
                "per_deck": cell.per_deck, "mix": cell.mix, "practitioners": cell.practitioners}
        words = _design_words(cell, plan)
        wanted = [q for q in ("alpha", "ac2") if q in plan.quantities] + ["pa"]
        for qi, quantity in enumerate(wanted):
            for si, scope in enumerate(("all", *BANDS)):
                column = quantity if scope == "all" else f"{quantity}_{scope}"
                if column not in reps.columns:
                    continue
                x = reps[column].to_numpy(dtype=float)
                x = x[np.isfinite(x)]
                value = lo = hi = mean = math.nan
                if len(x) >= 2:
                    value, mean = _half_width(x), float(x.mean())
                    rng = np.random.default_rng([plan.seed, cell.index, qi, si])
                    boot = rng.integers(0, len(x), size=(MC_RESAMPLES, len(x)))
                    widths = np.array([_half_width(x[b]) for b in boot])
                    lo, hi = (float(v) for v in np.quantile(widths, [0.025, 0.975]))
                where = "" if scope == "all" else f" in the {scope} band"
                sentence = (f"{words}, the half-width of {_LABELS[quantity]}{where} is {_num(value)} "
                            f"({_num(lo)}-{_num(hi)})")
                out.append({**base, "quantity": quantity, "scope": scope, "statistic": "half-width",
                            "value": value, "mc_low": lo, "mc_high": hi, "mean": mean, "replications": len(x),
                            "sentence": sentence})
        tests: list[tuple[str, str, str, str]] = []
        a, b = plan.divergence_bands
        if "divergence" in plan.quantities:
            tests.append(("divergence", f"{a}-{b}", "div_p",
                          f"the power to detect a difference in checklist-panel divergence between the {a} "
                          f"and {b} bands"))
        if "clmm" in plan.quantities:
            for term in plan.clmm_effects:
                tests.append((f"clmm:{term}", "all", f"clmm_{term}_excludes0",
                              f"the power for the CLMM effect of {term}"))
        for quantity, scope, column, what in tests:
            if column not in reps.columns:
                continue
            x = reps[column].to_numpy(dtype=float)
            if column == "div_p":
                hits = np.where(np.isfinite(x), x < plan.significance, False)
                diff = reps[f"div_{b}"].to_numpy(dtype=float) - reps[f"div_{a}"].to_numpy(dtype=float)
                mean = float(np.nanmean(diff)) if np.isfinite(diff).any() else math.nan
            else:
                hits = np.where(np.isfinite(x), x > 0.5, False)
                est = reps[f"clmm_{quantity.split(':', 1)[1]}"].to_numpy(dtype=float)
                mean = float(np.nanmean(est)) if np.isfinite(est).any() else math.nan
            n = len(x)
            value = float(hits.sum() / n) if n else math.nan
            lo, hi = _wilson(int(hits.sum()), n)
            sentence = f"{words}, {what} is {_num(value)} ({_num(lo)}-{_num(hi)})"
            out.append({**base, "quantity": quantity, "scope": scope, "statistic": "power", "value": value,
                        "mc_low": lo, "mc_high": hi, "mean": mean, "replications": n, "sentence": sentence})
    table = pd.DataFrame(out)
    floats = ["value", "mc_low", "mc_high", "mean"]
    table[floats] = table[floats].astype(float).round(12)
    return table


def cross_checks(plan: PlanSpec, replicates: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The analytic sample sizes beside the simulation, one row per cell.

    ``gwet_margin``: Gwet's bound ``1/sqrt(n)`` on the 95% margin of two raters' percent
    agreement with the cell's vignettes, beside ``simulated_pa_half_width`` (many raters per
    vignette do better than the two-rater bound); ``gwet_n_for_simulated``: the ``1/E^2``
    subjects for the simulated half-width. ``bk_<alpha_min>``: Bloch and Kraemer's values
    needed to show alpha above ``alpha_min`` with the simulated least used level's share
    (``p_min``) and the cell's raters per vignette as coders, beside ``values`` (ratings
    the design collects).

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[100], deck_size=[50], per_deck=[2], replications=2, quantities=["alpha"],
    ...                 alpha_min=[0.8])
    >>> reps = pd.DataFrame({"cell": 0, "p_min": [0.25, 0.25], "pa": [0.5, 0.6]})
    >>> summ = pd.DataFrame({"cell": [0], "quantity": ["pa"], "scope": ["all"], "value": [0.05]})
    >>> cross_checks(plan, reps, summ)[["gwet_margin", "gwet_n_for_simulated", "bk_0.8"]].iloc[0].tolist()
    [0.1, 400.0, 139.0]
    """
    out = []
    for cell in grid_cells(plan):
        reps = replicates[replicates["cell"] == cell.index]
        pa = summary[(summary["cell"] == cell.index) & (summary["quantity"] == "pa") & (summary["scope"] == "all")]
        simulated = float(pa["value"].iloc[0]) if len(pa) else math.nan
        p_min = float(np.clip(reps["p_min"].mean(), 1e-6, 0.5))
        coders = max(2, round(cell.raters_per_vignette))
        row: dict[str, Any] = {"cell": cell.index, "n_vignettes": cell.n_vignettes,
                               "gwet_margin": round(gwet_margin(cell.n_vignettes), 12),
                               "simulated_pa_half_width": simulated,
                               "gwet_n_for_simulated": float(gwet_sample_size(simulated))
                               if 0 < simulated < 1 else math.nan,
                               "p_min": round(p_min, 12), "coders": coders,
                               "values": cell.n_vignettes * cell.raters_per_vignette}
        for a in plan.alpha_min:
            row[f"bk_{a:g}"] = float(bloch_kraemer_values(a, p_min, significance=plan.significance,
                                                          coders=coders)) if p_min > 0 else math.nan
        out.append(row)
    return pd.DataFrame(out)


def _check_sentences(plan: PlanSpec, checks: pd.DataFrame) -> list[str]:
    lines = []
    for row in checks.to_dict("records"):
        cell = grid_cells(plan)[int(row["cell"])]
        text = (f"{_design_words(cell, plan)}: Gwet's n = 1/E^2 bounds the 95% margin of two raters' percent "
                f"agreement at {_num(row['gwet_margin'])} with {cell.n_vignettes} vignettes; the simulated "
                f"half-width with {cell.raters_per_vignette:g} raters per vignette is "
                f"{_num(row['simulated_pa_half_width'])}.")
        bk = [f"alpha > {a:g}: {int(row[f'bk_{a:g}'])}" for a in plan.alpha_min if math.isfinite(row[f"bk_{a:g}"])]
        if bk:
            text += (f" Bloch and Kraemer's formula (Krippendorff 2019), with {row['coders']} coders and a least "
                     f"used level of {_num(row['p_min'])}, needs {', '.join(bk)} values at p = "
                     f"{plan.significance:g} (one-sided); the design collects {row['values']:g}.")
        lines.append(text)
    return lines


# ---------------------------------------------------------------- the whole plan


@dataclass
class PlanResult:
    """A plan's replicates, summary, analytic cross-checks and sentences."""

    plan: PlanSpec
    replicates: pd.DataFrame
    summary: pd.DataFrame
    checks: pd.DataFrame

    @property
    def sentences(self) -> list[str]:
        """The simulated-panel sentence, then one sentence per quantity and cell."""
        return [SIMULATED, *(s + "." for s in self.summary["sentence"])]

    @property
    def check_sentences(self) -> list[str]:
        """The analytic cross-checks in words, one per cell."""
        return _check_sentences(self.plan, self.checks)


def run_plan(plan: PlanSpec, *, workers: int = 2, scheduler: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> PlanResult:
    """Run a plan (:func:`run_replicates`) and summarise it (:func:`summarise`, :func:`cross_checks`).

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=4, quantities=["alpha"])
    >>> result = run_plan(plan, workers=1)  # doctest: +SKIP
    >>> result.sentences[0].startswith("These results come from simulated practitioners")  # doctest: +SKIP
    True
    """
    replicates = run_replicates(plan, workers=workers, scheduler=scheduler, progress=progress)
    summary = summarise(plan, replicates)
    return PlanResult(plan, replicates, summary, cross_checks(plan, replicates, summary))


def _curves(result: PlanResult) -> list[tuple[str, str]]:
    """(title, base64 PNG) of one precision or power curve per quantity and scope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    summary = result.summary
    for (quantity, scope, statistic), part in summary.groupby(["quantity", "scope", "statistic"], sort=False):
        if quantity == "pa":
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.4), dpi=90)
        for (n, k, mix), line in part.groupby(["n_vignettes", "deck_size", "mix"], sort=False):
            line = line.sort_values("practitioners")
            x = line["practitioners"].to_numpy()
            y = line["value"].to_numpy(dtype=float)
            err = np.vstack([y - line["mc_low"].to_numpy(dtype=float), line["mc_high"].to_numpy(dtype=float) - y])
            label = f"{n} vignettes, decks of {k}" + (f", {mix}" if summary["mix"].nunique() > 1 else "")
            ax.errorbar(x, y, yerr=np.clip(err, 0, None), marker="o", capsize=3, label=label)
        if str(quantity).startswith("clmm:"):
            title = f"power for the CLMM effect of {str(quantity).split(':', 1)[1]}"
        elif quantity == "divergence":
            title = f"power for a difference in divergence ({str(scope).replace('-', ' vs ')} band)"
        else:
            where = "" if scope == "all" else f" ({scope} band)"
            title = f"{statistic} of {_LABELS[str(quantity)]}{where}"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("practitioners")
        ax.set_ylabel(str(statistic))
        if statistic == "power":
            ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        plt.close(fig)
        figures.append((title, base64.b64encode(buffer.getvalue()).decode("ascii")))
    return figures


def render_page(result: PlanResult) -> str:
    """The plan's self-contained HTML page (curves inlined as PNG).

    Examples
    --------
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=3, quantities=["alpha"])
    >>> reps = pd.DataFrame({"cell": 0, "n_vignettes": 12, "deck_size": 6, "per_deck": 3, "mix": "mixed",
    ...                      "practitioners": 6, "replication": [0, 1, 2], "alpha": [0.5, 0.6, 0.7],
    ...                      "pa": [0.5, 0.6, 0.7], "p_min": 0.2})
    >>> summary = summarise(plan, reps)
    >>> page = render_page(PlanResult(plan, reps, summary, cross_checks(plan, reps, summary)))
    >>> "simulated practitioners" in page, "data:image/png;base64," in page
    (True, True)
    """
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("dsk", "templates"), autoescape=select_autoescape(["j2", "html"]))
    columns = ["n_vignettes", "deck_size", "per_deck", "mix", "practitioners", "quantity", "scope", "statistic",
               "value", "mc_low", "mc_high", "mean", "replications"]
    table = result.summary[columns].copy()
    for c in ("value", "mc_low", "mc_high", "mean"):
        table[c] = table[c].map(lambda v: f"{v:.3f}" if math.isfinite(v) else "n/a")
    return env.get_template("plan.html.j2").render(
        simulated=SIMULATED, plan=result.plan, sentences=result.sentences[1:],
        checks=result.check_sentences, columns=columns, rows=table.to_dict("records"),
        figures=_curves(result), replications=result.plan.replications)


def write_plan(result: PlanResult, out_dir: str | Path) -> Path:
    """Write ``replicates``, ``summary`` and ``checks`` (CSV and Parquet) and ``plan.html``.

    Returns the page's path.

    Examples
    --------
    >>> import tempfile
    >>> plan = PlanSpec(vignettes=[12], deck_size=[6], per_deck=[3], replications=3, quantities=["alpha"])
    >>> reps = pd.DataFrame({"cell": 0, "n_vignettes": 12, "deck_size": 6, "per_deck": 3, "mix": "mixed",
    ...                      "practitioners": 6, "replication": [0, 1, 2], "alpha": [0.5, 0.6, 0.7],
    ...                      "pa": [0.5, 0.6, 0.7], "p_min": 0.2})
    >>> summary = summarise(plan, reps)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     page = write_plan(PlanResult(plan, reps, summary, cross_checks(plan, reps, summary)), tmp)
    ...     sorted(p.name for p in Path(tmp).iterdir())[:3]
    ['checks.csv', 'checks.parquet', 'plan.html']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("replicates", result.replicates), ("summary", result.summary), ("checks", result.checks)):
        frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
        frame.to_parquet(out / f"{name}.parquet", index=False)
    page = out / "plan.html"
    page.write_text(render_page(result), encoding="utf-8")
    return page


# ---------------------------------------------------------------- reading a plan


def load_plan(path: str | Path) -> PlanSpec:
    """Read a plan: the ``plan:`` section of an experiment config, or a plan file.

    A plan file has ``plan:`` as its only top-level key. Every problem is reported at once, as
    ``file:line:column`` with the line and a caret, in the experiment config's words.

    Raises
    ------
    PlanError
        Listing every problem.

    Examples
    --------
    >>> load_plan("plan-pilot").vignettes
    [24, 48]
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "p.yaml"
    ...     _ = path.write_text("plan:\\n  vignettes: [48]\\n  deck_size: [60]\\n  replicatons: 3\\n")
    ...     try:
    ...         load_plan(path)
    ...     except PlanError as exc:
    ...         print(len(exc.problems), exc.problems[1].replace(tmp, "TMP").splitlines()[0][:50])
    2 TMP/p.yaml:4:3: unknown key 'replicatons' in plan;
    """
    from pydantic import BaseModel, ConfigDict, ValidationError

    from dsk import experiment as E
    from dsk._yaml import YamlError, loads_yaml

    p = E._config_path(path)
    text = E.read_text(p, "plan", PlanError)
    try:
        data = loads_yaml(text, str(p))
    except YamlError as exc:
        raise PlanError(exc.pointed()) from exc
    if isinstance(data, dict) and "plan" in data and set(data) - {"plan"}:
        try:
            config = E.load_config(p)
        except E.ConfigError as exc:
            raise PlanError(str(exc), exc.problems) from exc
        if config.plan is None:
            raise PlanError(f"{p}: the config's plan is empty")
        return config.plan
    if not isinstance(data, dict) or "plan" not in data:
        raise PlanError(f"{p}: expected a plan file (a mapping with the key 'plan') or an experiment config "
                        "with a plan: section")

    class _PlanFile(BaseModel):
        model_config = ConfigDict(frozen=True, extra="forbid")
        plan: PlanSpec

    try:
        return _PlanFile.model_validate(data).plan
    except ValidationError as exc:
        error = E._config_error(str(p), text, data, E._schema_problems(exc))
        raise PlanError(str(error), error.problems) from exc
