"""The analysis registry: every analysis of an experiment run, registered once.

Each :class:`Analysis` names the tables it reads, the tables it writes with
their schemas (names in :data:`dsk.schema.TABLES`) and the labels of the rows
it adds to ``stats`` (the values of its ``analysis`` column). The runner
(:func:`dsk.experiment.run_experiment`) calls :func:`run_analyses`, which
walks the registry in registration order; an experiment config's
``analyses`` list is checked against :func:`analysis_names`. One contract
suite (``tests/analysis/test_contract.py``) runs every registered analysis on
small runs. See ``docs/architecture.md``, section "Analysis registry".

Examples
--------
>>> from dsk.analysis.registry import analysis_names, get_analysis
>>> analysis_names()
('agreement', 'explanations', 'failures', 'learned', 'variance', 'models')
>>> failures = get_analysis("failures")
>>> failures.reads, dict(failures.writes), failures.stats
(('vignettes', 'decisions', 'judgements'), {'failures': 'failures', 'teaching': 'teaching'}, ('divergence_model',))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsk.analysis.models import ModelSpec
from dsk.catalogue import Catalogue
from dsk.schema import STATS_COLUMNS, TABLES, validate

if TYPE_CHECKING:
    from dsk.rules import Ruleset

__all__ = [
    "INPUT_TABLES",
    "REGISTRY",
    "Analyses",
    "Analysis",
    "AnalysisInputs",
    "AnalysisResult",
    "AnalysisSettings",
    "RunOutputs",
    "analysis_names",
    "get_analysis",
    "register",
    "registered",
    "run_analyses",
    "run_one",
]

#: The tables of a run before any analysis; an analysis reads these, or tables that analyses
#: registered before it write.
INPUT_TABLES = ("vignettes", "decisions", "trace", "judgements")


@dataclass(frozen=True)
class AnalysisSettings:
    """The settings of an experiment config that analyses use (see ``ExperimentConfig``)."""

    bootstrap: int = 200
    bootstrap_scheme: str = "two-way"
    shap_background: int = 30
    shap_permutations: int = 1
    learned_depths: tuple[int, ...] = (2, 3, 4)
    learned_folds: int = 5
    teaching_cases: int = 8
    models: ModelSpec = ModelSpec()


@dataclass(frozen=True)
class AnalysisInputs:
    """What an analysis is given: the tables it reads, the run's rulesets and catalogue.

    ``tables`` holds only the tables the analysis declared in ``reads``.
    ``judgements`` holds every rater, the rulesets' rows (``rater_kind``
    ``rules``) included; :attr:`people` is the practitioners alone.
    """

    tables: Mapping[str, pd.DataFrame]
    rulesets: tuple[Ruleset, ...]
    catalogue: Catalogue
    engine: str = "vector"
    random_state: int = 0
    settings: AnalysisSettings = AnalysisSettings()

    def table(self, name: str) -> pd.DataFrame:
        """One of the tables the analysis declared it reads."""
        if name not in self.tables:
            raise KeyError(f"table {name!r} was not declared in the analysis's reads "
                           f"(it reads {', '.join(self.tables) or 'nothing'})")
        return self.tables[name]

    @property
    def people(self) -> pd.DataFrame:
        """The practitioners' judgements (every rater whose kind is not ``rules``)."""
        judgements = self.table("judgements")
        return judgements[judgements["rater_kind"] != "rules"].reset_index(drop=True)


@dataclass(frozen=True)
class AnalysisResult:
    """What an analysis returns: its tables, its ``stats`` rows and any files (path: text)."""

    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    stats: pd.DataFrame | None = None
    files: Mapping[str, str] = field(default_factory=dict)


Run = Callable[[AnalysisInputs], AnalysisResult]


@dataclass(frozen=True)
class Analysis:
    """One registered analysis.

    Attributes
    ----------
    name : the name an experiment config lists under ``analyses``.
    reads : the tables it reads: of :data:`INPUT_TABLES`, or written by an analysis registered before it.
    writes : the tables it writes, each with the name of its schema in :data:`dsk.schema.TABLES`.
    stats : the labels (values of ``stats.analysis``) of the rows it adds to ``stats``; empty if none.
    run : the function that runs it.
    """

    name: str
    reads: tuple[str, ...]
    writes: Mapping[str, str]
    stats: tuple[str, ...]
    run: Run

    def __post_init__(self) -> None:
        for table, schema in self.writes.items():
            if schema not in TABLES:
                raise ValueError(f"analysis {self.name!r}: table {table!r} has no schema {schema!r} "
                                 f"in dsk.schema (schemas: {', '.join(TABLES)})")
        if not self.writes and not self.stats:
            raise ValueError(f"analysis {self.name!r} writes no table and no stats rows")


class Analyses(Mapping[str, Analysis]):
    """The registry: analyses by name, in registration order."""

    def __init__(self) -> None:
        self._by_name: dict[str, Analysis] = {}

    def __getitem__(self, name: str) -> Analysis:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown analysis {name!r}; known analyses: {', '.join(self._by_name)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def writer(self, table: str) -> str | None:
        """The name of the analysis that writes ``table`` (None for a run's input table)."""
        return next((a.name for a in self._by_name.values() if table in a.writes), None)

    def add(self, analysis: Analysis) -> Analysis:
        """Register ``analysis``.

        A name or an output table already registered is an error, and so is a table read that
        is neither an input of the run nor written by an analysis registered before.
        """
        if analysis.name in self._by_name:
            raise ValueError(f"analysis {analysis.name!r} is already registered")
        written = [t for a in self._by_name.values() for t in a.writes]
        unknown = [t for t in analysis.reads if t not in INPUT_TABLES and t not in written]
        if unknown:
            raise ValueError(f"analysis {analysis.name!r} reads {', '.join(unknown)}: neither a table of "
                             f"the run ({', '.join(INPUT_TABLES)}) nor written by an analysis registered "
                             f"before it ({', '.join(written) or 'none'})")
        for other in self._by_name.values():
            shared = set(other.writes) & set(analysis.writes)
            if shared:
                raise ValueError(f"analysis {analysis.name!r}: table(s) {', '.join(sorted(shared))} "
                                 f"already written by {other.name!r}")
        self._by_name[analysis.name] = analysis
        return analysis


#: The analyses an experiment can run, in the order the runner runs them.
REGISTRY = Analyses()


def register(name: str, *, reads: Sequence[str], writes: Mapping[str, str] | None = None,
             stats: Sequence[str] = (), registry: Analyses | None = None) -> Callable[[Run], Run]:
    """Decorator: register the decorated function as the analysis ``name``.

    Parameters
    ----------
    name : the name a config lists under ``analyses``.
    reads : the tables it reads: of :data:`INPUT_TABLES`, or written by an analysis registered before.
    writes : the tables it writes, each with its schema's name in :data:`dsk.schema.TABLES`.
    stats : the labels of the rows it adds to ``stats``.
    registry : the registry to add it to (default: the package's, :data:`REGISTRY`).

    Examples
    --------
    >>> import pandas as pd
    >>> from dsk.analysis.registry import Analyses, AnalysisInputs, AnalysisResult, register
    >>> mine = Analyses()
    >>> @register("n-raters", reads=("judgements",), stats=("panel_size",), registry=mine)
    ... def n_raters(inputs: AnalysisInputs) -> AnalysisResult:
    ...     n = inputs.people["rater_id"].nunique()
    ...     return AnalysisResult(stats=pd.DataFrame([{
    ...         "analysis": "panel_size", "metric": "n_raters", "comparison": "panel", "stratum": "all",
    ...         "estimate": float(n), "ci_low": None, "ci_high": None, "n": n}]))
    >>> list(mine), mine["n-raters"].reads
    (['n-raters'], ('judgements',))
    """
    def decorate(run: Run) -> Run:
        (REGISTRY if registry is None else registry).add(
            Analysis(name, tuple(reads), MappingProxyType(dict(writes or {})), tuple(stats), run))
        return run

    return decorate


def registered() -> tuple[Analysis, ...]:
    """Every registered analysis, in registration order (the order the runner runs them).

    Examples
    --------
    >>> [a.name for a in registered()]
    ['agreement', 'explanations', 'failures', 'learned', 'variance', 'models']
    """
    return tuple(REGISTRY.values())


def analysis_names() -> tuple[str, ...]:
    """The names of the registered analyses, in registration order.

    Examples
    --------
    >>> "learned" in analysis_names()
    True
    """
    return tuple(REGISTRY)


def get_analysis(name: str) -> Analysis:
    """The analysis registered as ``name``; a ``KeyError`` listing the known names otherwise.

    Examples
    --------
    >>> get_analysis("learned").stats
    ('learned_checklists',)
    >>> get_analysis("vibes")
    Traceback (most recent call last):
    ...
    KeyError: "unknown analysis 'vibes'; known analyses: agreement, explanations, failures, learned, variance, models"
    """
    return REGISTRY[name]


@dataclass(frozen=True)
class RunOutputs:
    """The analyses' outputs combined: the ``stats`` table, every written table, and files."""

    stats: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    files: dict[str, str]


Stage = Callable[[str], AbstractContextManager[object]]


def _stats_columns() -> list[str]:
    return list(STATS_COLUMNS)


def run_one(analysis: Analysis, tables: Mapping[str, pd.DataFrame], *, rulesets: Sequence[Ruleset],
            catalogue: Catalogue, engine: str = "vector", random_state: int = 0,
            settings: AnalysisSettings | None = None) -> AnalysisResult:
    """Run one analysis on the tables it reads and check what it returns.

    Every table it writes is validated against its schema and its ``stats``
    rows against the ``stats`` schema; a table it did not declare, or stats
    rows under a label it did not declare, is an error.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 30, 1, cat, narratives=False)
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> tables = {"vignettes": v, "decisions": evaluate(rs, v, catalogue=cat).decisions(), "judgements": j}
    >>> result = run_one(get_analysis("failures"), tables, rulesets=[rs], catalogue=cat)
    >>> len(result.tables["failures"]), sorted(result.tables)
    (30, ['failures', 'teaching'])
    """
    missing = [t for t in analysis.reads if t not in tables]
    if missing:
        raise KeyError(f"analysis {analysis.name!r} reads {', '.join(missing)}, which the run does not have")
    inputs = AnalysisInputs({t: tables[t] for t in analysis.reads}, tuple(rulesets), catalogue, engine,
                            random_state, settings or AnalysisSettings())
    result = analysis.run(inputs)
    undeclared = sorted(set(result.tables) - set(analysis.writes))
    if undeclared:
        raise ValueError(f"analysis {analysis.name!r} returned undeclared table(s) {', '.join(undeclared)}")
    for table, schema in analysis.writes.items():
        if table not in result.tables:
            raise ValueError(f"analysis {analysis.name!r} did not return its table {table!r}")
        validate(result.tables[table], schema, source=f"analysis {analysis.name}")
    if result.stats is not None and not result.stats.empty:
        validate(result.stats, "stats", source=f"analysis {analysis.name}")
        labels = sorted(set(result.stats["analysis"]) - set(analysis.stats))
        if labels:
            raise ValueError(f"analysis {analysis.name!r} wrote stats rows labelled {', '.join(labels)}; "
                             f"it declared {', '.join(analysis.stats) or 'none'}")
    return result


def run_analyses(names: Iterable[str], tables: Mapping[str, pd.DataFrame], *, rulesets: Sequence[Ruleset],
                 catalogue: Catalogue, engine: str = "vector", random_state: int = 0,
                 settings: AnalysisSettings | None = None, stage: Stage | None = None,
                 registry: Analyses | None = None, workers: int = 1,
                 timed: Callable[[str, float], None] | None = None) -> RunOutputs:
    """Run the named analyses in registration order and combine their outputs.

    Parameters
    ----------
    names : the analyses to run (a config's ``analyses``); each must be registered.
    tables : the run's tables (at least those the analyses read).
    rulesets, catalogue, engine, random_state, settings : passed to every analysis.
    stage : a context manager factory, called with each analysis's name (the runner's timer).
    registry : the registry to walk (default: the package's, :data:`REGISTRY`).
    workers : processes that run analyses side by side (1: one after another, in this
        process). With more, an analysis starts as soon as the tables it reads exist and a
        process is free, the longest first; the outputs are combined in registration order,
        so they are the same whatever the number of workers. ``stage`` then times all the
        analyses together (as ``analyses``), and ``timed`` is called with each analysis's
        name and its own seconds (measured in its process).

    Returns
    -------
    RunOutputs
        ``stats``: every analysis's rows, in registration order (an empty
        ``stats`` table when there are none); ``tables``: every table a
        registered analysis can write, empty for the analyses not run;
        ``files``: the files the analyses wrote (path in the run folder: text).

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from dsk.design import generate
    >>> from dsk.panels import load_panel, load_professions, simulate_panel
    >>> from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    >>> cat = load_catalogue()
    >>> profs = load_professions(catalogue=cat)
    >>> v = generate("stratified", 30, 1, cat, narratives=False)
    >>> rs = load_ruleset(bundled_rulesets()["threshold-of-need"], cat)
    >>> d = evaluate(rs, v, catalogue=cat).decisions()
    >>> j = simulate_panel(v, load_panel("mixed-12", profs), professions=profs, catalogue=cat,
    ...                    rationale=False)
    >>> out = run_analyses(["learned"], {"vignettes": v, "decisions": d, "judgements": j},
    ...                    rulesets=[rs], catalogue=cat, settings=AnalysisSettings(learned_depths=(2,)))
    >>> sorted(out.files), len(out.tables["failures"])
    (['learned/learned-depth-2.yaml'], 0)
    """
    analyses = REGISTRY if registry is None else registry
    wanted = set(names)
    for name in wanted:
        for table in analyses[name].reads:  # an unknown name is a KeyError listing the known ones
            writer = analyses.writer(table)
            if writer is not None and writer not in wanted:
                raise ValueError(f"analysis {name!r} reads {table}, which analysis {writer!r} writes: "
                                 f"run {writer!r} too")
    if int(workers) != workers or workers < 1:
        raise ValueError(f"workers: expected a whole number of at least 1, got {workers!r}")
    timer: Stage = stage or (lambda name: nullcontext())
    available = dict(tables)
    parts: list[pd.DataFrame] = []
    out_tables: dict[str, pd.DataFrame] = {t: pd.DataFrame() for a in analyses.values() for t in a.writes}
    files: dict[str, str] = {}
    selected = [a for a in analyses.values() if a.name in wanted]
    results: dict[str, AnalysisResult] = {}
    if workers > 1 and len(selected) > 1 and analyses is REGISTRY:
        with timer("analyses"):
            results = _run_parallel(selected, available, workers, timed or (lambda name, seconds: None),
                                    (tuple(rulesets), catalogue, engine, random_state, settings))
    for analysis in selected:
        if analysis.name in results:
            result = results[analysis.name]
        else:
            with timer(analysis.name):
                result = run_one(analysis, available, rulesets=rulesets, catalogue=catalogue, engine=engine,
                                 random_state=random_state, settings=settings)
        if result.stats is not None:
            parts.append(result.stats)
        out_tables.update(result.tables)
        available.update(result.tables)
        files.update(result.files)
    parts = [s for s in parts if not s.empty]
    stats = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=_stats_columns())
    if "boot_failed" in stats.columns:  # a count, kept whole where other analyses leave it empty
        stats["boot_failed"] = stats["boot_failed"].astype("Int64")
    return RunOutputs(validate(stats, "stats"), out_tables, files)


#: The analyses that take longest on a large run, in that order: with workers, they start first.
_LONGEST_FIRST = ("agreement", "explanations", "failures", "models", "learned", "variance")

#: What a forked worker inherits: the run's input tables and the arguments of ``run_one``.
_INHERITED: dict[str, Any] = {}


def _timed_run(name: str, extra: Mapping[str, pd.DataFrame]) -> tuple[AnalysisResult, float]:
    """In a worker: run the registered analysis ``name`` on the inherited tables plus ``extra``."""
    import time

    tables: dict[str, pd.DataFrame] = {**_INHERITED["tables"], **extra}
    rulesets: Sequence[Ruleset]
    catalogue: Catalogue
    engine: str
    random_state: int
    settings: AnalysisSettings
    rulesets, catalogue, engine, random_state, settings = _INHERITED["arguments"]
    start = time.perf_counter()
    result = run_one(REGISTRY[name], tables, rulesets=rulesets, catalogue=catalogue, engine=engine,
                     random_state=random_state, settings=settings)
    return result, time.perf_counter() - start


def _start_worker(inherited: dict[str, Any]) -> None:
    """Where workers are not forked (no ``fork`` on the platform), they are given the tables."""
    _INHERITED.update(inherited)


def _run_parallel(selected: Sequence[Analysis], tables: Mapping[str, pd.DataFrame], workers: int,
                  timed: Callable[[str, float], None], arguments: tuple[object, ...]
                  ) -> dict[str, AnalysisResult]:
    """Run ``selected`` in a pool of ``workers`` processes; each starts once the tables it reads exist.

    Workers are forked where the platform can (they inherit the tables instead of being sent
    them); the analyses limit their own BLAS and OpenMP threads. Each analysis is a function of
    its tables and the run's arguments alone, so where it runs does not change its output.
    """
    import multiprocessing
    import warnings
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    order = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    pending = sorted(selected, key=lambda a: order.get(a.name, len(order)))
    inputs = {t: tables[t] for a in selected for t in a.reads if t in tables}
    fork = "fork" in multiprocessing.get_all_start_methods()
    inherited: dict[str, Any] = {"tables": inputs, "arguments": arguments}
    _INHERITED.clear()
    if fork:
        _INHERITED.update(inherited)
    context = multiprocessing.get_context("fork" if fork else "spawn")
    produced: dict[str, pd.DataFrame] = {}
    results: dict[str, AnalysisResult] = {}
    seconds: dict[str, float] = {}
    try:
        with warnings.catch_warnings():
            # Python 3.12 warns on forking a process with threads; BLAS's idle threads are
            # fork-safe, and the analyses use OpenMP on one thread only
            warnings.simplefilter("ignore", DeprecationWarning)
            size = min(workers, len(selected))
            pool = (ProcessPoolExecutor(max_workers=size, mp_context=context) if fork else
                    ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=_start_worker,
                                        initargs=(inherited,)))
        with pool:
            running: dict[Future[tuple[AnalysisResult, float]], str] = {}
            while pending or running:
                ready = [a for a in pending if all(t in inputs or t in produced for t in a.reads)]
                for analysis in ready:
                    pending.remove(analysis)
                    extra = {t: produced[t] for t in analysis.reads if t in produced}
                    running[pool.submit(_timed_run, analysis.name, extra)] = analysis.name
                if not running:
                    names = ", ".join(a.name for a in pending)
                    raise ValueError(f"analyses {names} read tables that no analysis run writes")
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    results[name], seconds[name] = future.result()
                    produced.update(results[name].tables)
    finally:
        _INHERITED.clear()
    for analysis in selected:  # in registration order, whatever order they finished in
        timed(analysis.name, seconds[analysis.name])
    return results


# ---------------------------------------------------------------- the registered analyses
# Each reads the tables it declares and returns its own tables and stats rows; the order of
# registration is the order of their rows in ``stats``.


@register("agreement", reads=("vignettes", "judgements"), stats=("agreement",))
def _agreement(inputs: AnalysisInputs) -> AnalysisResult:
    """Agreement within the panel, between professions and rounds, and of the rules with the panel."""
    from dsk.analysis import agreement_stats, complexity_strata

    strata = complexity_strata(inputs.table("vignettes"))
    stats = agreement_stats(inputs.table("judgements"), strata, n_boot=inputs.settings.bootstrap,
                            random_state=inputs.random_state, per_rater=False,
                            bootstrap_scheme=inputs.settings.bootstrap_scheme)
    return AnalysisResult(stats=stats)


@register("explanations", reads=("vignettes", "decisions", "judgements"),
          writes={"importance": "importance"}, stats=("explanations",))
def _explanations(inputs: AnalysisInputs) -> AnalysisResult:
    """Factor overlap and SHAP importance of each ruleset beside the panel's surrogate."""
    from dsk.analysis.explain import factor_overlap, shap_comparisons

    vignettes, decisions, people = inputs.table("vignettes"), inputs.table("decisions"), inputs.people
    rows: list[pd.DataFrame] = []
    parts: list[pd.DataFrame] = []
    # every ruleset at once: the panel's surrogate and its attributions are the same for each
    comparisons = shap_comparisons(vignettes, people, inputs.rulesets, catalogue=inputs.catalogue,
                                   background=inputs.settings.shap_background,
                                   n_permutations=inputs.settings.shap_permutations,
                                   random_state=inputs.random_state, engine=inputs.engine)
    for ruleset, comparison in zip(inputs.rulesets, comparisons, strict=True):
        own = decisions[decisions["ruleset_id"] == ruleset.id]
        _, overlap = factor_overlap(vignettes, own, people, ruleset, catalogue=inputs.catalogue)
        shap_rows = comparison.stats
        if parts:  # the panel surrogate is the same for every ruleset: report its fidelity once
            shap_rows = shap_rows[shap_rows["comparison"] != "surrogate~panel"]
        rows += [overlap, shap_rows]
        parts.append(comparison.importance.assign(ruleset_id=ruleset.id))
    rows = [r for r in rows if not r.empty]
    return AnalysisResult(tables={"importance": pd.concat(parts, ignore_index=True)},
                          stats=pd.concat(rows, ignore_index=True) if rows else None)


@register("failures", reads=("vignettes", "decisions", "judgements"),
          writes={"failures": "failures", "teaching": "teaching"}, stats=("divergence_model",))
def _failures(inputs: AnalysisInputs) -> AnalysisResult:
    """The failures table, the divergence model and the ranked teaching cases."""
    from dsk.analysis.failures import divergence_model, failure_points, teaching_cases

    vignettes, decisions, people = inputs.table("vignettes"), inputs.table("decisions"), inputs.people
    top = inputs.settings.teaching_cases
    parts = []
    for ruleset in inputs.rulesets:
        own = decisions[decisions["ruleset_id"] == ruleset.id]
        table = failure_points(vignettes, own, people, catalogue=inputs.catalogue, ruleset=ruleset,
                               random_state=inputs.random_state, engine=inputs.engine)
        parts.append(table)
    failures = validate(pd.concat(parts, ignore_index=True), "failures")
    # one row per vignette (its most instructive checklist): divergent cases first, then agreeing
    teaching = teaching_cases(failures, vignettes, top=top)
    return AnalysisResult(tables={"failures": failures, "teaching": teaching},
                          stats=divergence_model(failures, vignettes))


@register("learned", reads=("vignettes", "judgements"), stats=("learned_checklists",))
def _learned(inputs: AnalysisInputs) -> AnalysisResult:
    """Checklists learned from the panel, their in-sample and out-of-fold fidelity."""
    from dsk.analysis.learned import checklist_fidelity, learn_checklist, out_of_fold_fidelity

    vignettes, people, cat = inputs.table("vignettes"), inputs.people, inputs.catalogue
    depths = inputs.settings.learned_depths
    files: dict[str, str] = {}
    learned_sets = []
    for depth in depths:
        learned = learn_checklist(vignettes, people, catalogue=cat, max_depth=depth,
                                  random_state=inputs.random_state)
        files[f"learned/{learned.ruleset_id}.yaml"] = learned.yaml_text
        learned_sets.append(learned.ruleset(cat))
    in_sample = checklist_fidelity(vignettes, people, [*inputs.rulesets, *learned_sets], catalogue=cat,
                                   engine=inputs.engine)
    out_of_fold = out_of_fold_fidelity(vignettes, people, depths, catalogue=cat,
                                       n_splits=inputs.settings.learned_folds,
                                       random_state=inputs.random_state, engine=inputs.engine)
    rows = [s for s in (in_sample, out_of_fold) if not s.empty]
    return AnalysisResult(stats=pd.concat(rows, ignore_index=True) if rows else None, files=files)


@register("variance", reads=("judgements",),
          writes={"variance_components": "variance_components", "dependability": "dependability"})
def _variance(inputs: AnalysisInputs) -> AnalysisResult:
    """Variance components of the practitioners' round-1 levels and the dependability of k of them."""
    from dsk.analysis.variance import variance_components

    people = inputs.people
    first = people[people["round"] == 1]
    if first["vignette_id"].nunique() < 2 or first["rater_id"].nunique() < 2:
        empty = {"variance_components": pd.DataFrame({"component": pd.Series(dtype=object),
                                                      "variance": pd.Series(dtype=float),
                                                      "share": pd.Series(dtype=float)}),
                 "dependability": pd.DataFrame({"k": pd.Series(dtype="int64"), "phi": pd.Series(dtype=float),
                                                "g": pd.Series(dtype=float)})}
        return AnalysisResult(tables=empty)
    fit = variance_components(first, source="judgements")
    return AnalysisResult(tables={"variance_components": fit.table(), "dependability": fit.dependability()})


@register("models", reads=("vignettes", "judgements"),
          writes={"model_terms": "model_terms", "model_fit": "model_fit"})
def _models(inputs: AnalysisInputs) -> AnalysisResult:
    """The practitioners' cumulative-link mixed model and each checklist's fixed-effects model."""
    from dsk.analysis.models import run_models

    terms, fits = run_models(inputs.table("vignettes"), inputs.table("judgements"),
                             inputs.settings.models)
    return AnalysisResult(tables={"model_terms": terms, "model_fit": fits})
