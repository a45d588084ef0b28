"""Experiment configurations and the runner: one command from config to findings.

An experiment config (``experiments/*.yaml``) names the vignettes, the
rulesets, the panels (simulated, or human judgements from a file or the
scoring app's database), the rounds, the analyses, the bootstrap replicates,
the seed, the output folder and, optionally, its own factor ``catalogue`` and
``professions`` files. Every path in it is relative to the config file.
:func:`load_config` reads it once into frozen pydantic models (an error names
the file, the key path and what was expected); :func:`run_experiment` loads the
catalogue and the professions once, passes them to every stage, and writes the
run folder:

``vignettes``, ``decisions``, ``trace``, ``judgements``, ``stats``, ``failures``
    the tables described in ``docs/architecture.md``, each as ``.parquet`` and ``.csv``;
``importance``, ``teaching``
    SHAP importance per feature and ruleset; ranked teaching cases;
``learned/<id>.yaml``
    checklists learned from the panel;
``inputs/``
    a copy of every input: ``config.yaml``, ``catalogue.yaml``, ``professions.yaml``,
    ``rules/``, ``panels/``, ``vignettes/`` (or, for a generated design, the narrative
    ``templates/``) and ``judgements/`` (bundled files too, and the
    answers exported from the scoring app's database), so the folder stands alone:
    ``dsk report`` reads only these;
``report.html``, ``manifest.json``
    the report, and the config with its hash, seeds, package versions, the
    SHA-256 of every file in ``inputs/`` and timings.

Running the same config twice gives byte-identical tables.

Examples
--------
>>> config = load_config("quickstart")
>>> config.vignettes.set, config.rulesets
('core-60', ['threshold-of-need', 'count-of-concerns'])
>>> run = run_experiment(config.model_copy(update={"bootstrap": 0}), "runs/quickstart",
...                      report=False)  # doctest: +SKIP
>>> sorted(run.manifest["inputs"])[:3]  # doctest: +SKIP
['catalogue.yaml', 'config.yaml', 'panels/mixed-12.yaml']
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from dsk._paths import data_path
from dsk._yaml import YamlError, line_of, load_yaml
from dsk.analysis.registry import analysis_names
from dsk.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from dsk.panels import ProfessionProfile
    from dsk.rules import Ruleset

__all__ = [
    "ANALYSES",
    "ConfigError",
    "ExperimentConfig",
    "RunResult",
    "config_dict",
    "config_hash",
    "experiments_dir",
    "load_config",
    "run_experiment",
]

ANALYSES = analysis_names()


class ConfigError(ValueError):
    """A malformed experiment config; names the file, the key path and what was expected."""


def _known_analysis(name: str) -> str:
    """An analysis name from a config, checked against the registry (dsk.analysis.registry)."""
    known = analysis_names()
    if name not in known:
        raise PydanticCustomError("unknown_analysis", "not a registered analysis (known analyses: {known})",
                                  {"known": ", ".join(known)})
    return name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VignetteSource(_Frozen):
    """Exactly one of: a bundled ``set``, a ``file``, or a ``design`` to generate."""

    set: str | None = None
    file: str | None = None
    design: Literal["random", "stratified", "d-efficient"] | None = None
    n: int | None = Field(None, ge=1, le=1_000_000)
    bands: dict[Literal["low", "medium", "high"], int] | None = None
    dimensions: list[str] | None = None
    acute_share: float | None = Field(None, ge=0, le=1, description=(
        "Stratified design: the share of vignettes in every band with an acute (level-4) indicator, "
        "so that complexity and acuity are crossed rather than confounded."))

    @model_validator(mode="after")
    def _one_source(self) -> VignetteSource:
        given = [k for k in ("set", "file", "design") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of set, file or design (got {given or 'none'})")
        if self.design is not None and self.n is None and self.bands is None:
            raise ValueError("a design needs n (or bands for the stratified design)")
        return self


class PanelSource(_Frozen):
    """Exactly one of: a simulated ``panel`` file or id, human ``judgements`` from a file, or a
    scoring-app ``database`` URL with its ``study``."""

    panel: str | None = None
    judgements: str | None = None
    database: str | None = None
    study: int | None = Field(None, ge=1, description="Study id in the scoring app's database.")

    @model_validator(mode="after")
    def _one_source(self) -> PanelSource:
        given = [k for k in ("panel", "judgements", "database") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of panel, judgements or database (got {given or 'none'})")
        if self.database is not None and self.study is None:
            raise ValueError("a database panel needs the study id")
        return self


class ExperimentConfig(_Frozen):
    """A whole experiment."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""
    description: str = ""
    seed: int = 0
    catalogue: str | None = Field(None, description=(
        "Factor catalogue file, relative to the config (default: the bundled one)."))
    professions: str | None = Field(None, description=(
        "Profession profiles file, relative to the config (default: the bundled one)."))
    vignettes: VignetteSource
    rulesets: Annotated[list[str], Field(min_length=1)]
    panels: Annotated[list[PanelSource], Field(min_length=1)]
    rounds: Literal[1, 2] = 1
    engine: Literal["vector", "durable"] = Field(
        "vector", description="Rule backend: the NumPy twin, or durable_rules (the reference engine).")
    analyses: list[Annotated[str, AfterValidator(_known_analysis)]] = Field(
        default_factory=lambda: list(analysis_names()),
        description="Analyses to run, by registered name (default: every registered analysis).")
    bootstrap: int = Field(200, ge=0, le=100_000)
    shap_background: int = Field(30, ge=5, le=500)
    learned_depths: list[int] = [2, 3, 4]
    teaching_cases: int = Field(8, ge=0, le=100)
    output: str | None = None


def experiments_dir() -> Path:
    """``experiments/`` bundled in the package."""
    return data_path("experiments")


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; a bundled one can be named by id.

    Examples
    --------
    >>> load_config("training").vignettes.set
    'training-12'
    """
    p = Path(path)
    if not p.suffix:
        p = experiments_dir() / f"{path}.yaml"
    try:
        data = load_yaml(p)
    except YamlError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(x for x in first["loc"] if not (isinstance(x, str) and x.startswith("function-after")))
        keys = ".".join(str(x) for x in loc) or "(top level)"
        line = line_of(data, loc)
        got = first.get("input")
        got_text = "" if isinstance(got, dict) else f"; got {got!r}"
        raise ConfigError(f"{p}{f', line {line}' if line else ''}, key {keys}: {first['msg']}{got_text}") from exc


#: Keys added after the first release: left out of the dump while unset, so the hash and
#: ``config.json`` of a config that does not use them stay what they were.
_OPTIONAL_KEYS = ("catalogue", "professions")


def config_dict(config: ExperimentConfig) -> dict[str, Any]:
    """The config as plain JSON data (what ``config.json`` and the manifest hold).

    Examples
    --------
    >>> data = config_dict(load_config("quickstart"))
    >>> data["rulesets"], "catalogue" in data
    (['threshold-of-need', 'count-of-concerns'], False)
    """
    data = config.model_dump(mode="json")
    for key in _OPTIONAL_KEYS:
        if data.get(key) is None:
            data.pop(key, None)
    return data


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 of the config's canonical JSON.

    Examples
    --------
    >>> len(config_hash(load_config("quickstart")))
    64
    """
    text = json.dumps(config_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class RunResult:
    """Where a run wrote its files, and its tables in memory."""

    def __init__(self, out_dir: Path, tables: dict[str, pd.DataFrame], manifest: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.tables = tables
        self.manifest = manifest

    @property
    def report(self) -> Path:
        """``report.html`` in the run folder."""
        return self.out_dir / "report.html"


Progress = Callable[[str, str], None]


class _Where:
    """Names the config file, line and key of a value, for errors raised while running."""

    def __init__(self, config: ExperimentConfig, config_path: Path | None) -> None:
        self.label = str(config_path) if config_path is not None else f"experiment {config.id!r}"
        self.base = config_path.parent if config_path is not None else Path.cwd()
        self.data: Any = None
        if config_path is not None and config_path.exists():
            try:
                self.data = load_yaml(config_path)
            except YamlError:
                self.data = None

    def __call__(self, *key: str | int) -> str:
        line = line_of(self.data, key) if self.data is not None else 0
        return f"{self.label}{f', line {line}' if line else ''}, key {'.'.join(str(k) for k in key)}"

    def file(self, name: str, *key: str | int) -> Path:
        """``name`` resolved against the config's folder; a ConfigError when there is no such file."""
        path = Path(name) if Path(name).is_absolute() else self.base / name
        if not path.is_file():
            raise ConfigError(f"{self(*key)}: no such file {str(path)!r}")
        return path


class _Inputs:
    """``RUN/inputs/``: a copy of every input file, with its SHA-256 and where it came from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        self.hashes: dict[str, str] = {}
        self.sources: dict[str, str] = {}

    def add(self, source: Path, name: str, origin: str) -> Path:
        """Copy ``source`` to ``inputs/<name>`` (``stem-2`` and so on when the name is taken by
        another file) and return the copy."""
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        target, k = name, 1
        while target in self.hashes and self.hashes[target] != digest:
            k += 1
            stem, dot, ext = name.rpartition(".")
            target = f"{stem}-{k}.{ext}" if dot else f"{name}-{k}"
        if target not in self.hashes:
            path = self.root / target
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self.hashes[target] = digest
            self.sources[target] = origin
        return self.root / target

    def write(self, text: str, name: str, origin: str) -> None:
        """Write generated text to ``inputs/<name>``."""
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        self.hashes[name] = _file_hash(path)
        self.sources[name] = origin

    def table(self, frame: pd.DataFrame, name: str, origin: str) -> None:
        """Write a table read from elsewhere (the scoring app's database) to ``inputs/<name>``."""
        from dsk.io import write_table

        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_table(frame, path)
        self.hashes[name] = _file_hash(path)
        self.sources[name] = origin


def _bundled(path: Path) -> str:
    """``bundled:experiments/rules/x.yaml`` for a file in the package's data."""
    return f"bundled:{path.resolve().relative_to(data_path().resolve()).as_posix()}"


def _copy_config(config: ExperimentConfig, config_path: Path | None, inputs: _Inputs) -> None:
    """The config file as written, when it is the config being run; else the config as YAML."""
    import yaml

    if config_path is not None and config_path.is_file():
        try:
            same = load_config(config_path) == config
        except ConfigError:
            same = False
        if same:
            origin = _bundled(config_path) if _is_bundled(config_path) else config_path.name
            inputs.add(config_path, "config.yaml", origin)
            return
    inputs.write(yaml.safe_dump(config_dict(config), sort_keys=False, allow_unicode=True),
                 "config.yaml", "the config object given to run_experiment")


def _is_bundled(path: Path) -> bool:
    return path.resolve().is_relative_to(data_path().resolve())


def _load_catalogue(config: ExperimentConfig, where: _Where, inputs: _Inputs) -> Catalogue:
    from dsk.catalogue import default_catalogue_path

    path = where.file(config.catalogue, "catalogue") if config.catalogue else default_catalogue_path()
    catalogue = load_catalogue(path)
    inputs.add(path, "catalogue.yaml", config.catalogue or _bundled(path))
    return catalogue


def _load_professions(config: ExperimentConfig, catalogue: Catalogue, where: _Where,
                      inputs: _Inputs) -> dict[str, ProfessionProfile]:
    from dsk.panels import load_professions
    from dsk.panels.profiles import panels_dir

    path = where.file(config.professions, "professions") if config.professions \
        else panels_dir() / "professions.yaml"
    professions = load_professions(path, catalogue=catalogue)
    inputs.add(path, "professions.yaml", config.professions or _bundled(path))
    return professions


def _resolve_ruleset(name: str, index: int, where: _Where, catalogue: Catalogue,
                     inputs: _Inputs) -> Ruleset:
    from dsk.rules import bundled_rulesets, load_ruleset

    bundled = bundled_rulesets()
    if name in bundled:
        path, origin = bundled[name], _bundled(bundled[name])
    else:
        path = Path(name) if Path(name).is_absolute() else where.base / name
        if not path.is_file():
            raise ConfigError(f"{where('rulesets', index)}: no bundled ruleset or file {name!r} "
                              f"(bundled: {', '.join(bundled)})")
        origin = name
    ruleset = load_ruleset(path, catalogue)
    inputs.add(path, f"rules/{path.name}", origin)
    return ruleset


def _load_vignettes(source: VignetteSource, seed: int, where: _Where, catalogue: Catalogue,
                    inputs: _Inputs) -> pd.DataFrame:
    from dsk.design import generate
    from dsk.io import read_vignettes
    from dsk.sets import bundled_sets, load_set, sets_dir

    if source.set is not None:
        path = sets_dir() / f"{source.set}.jsonl"
        if not path.is_file():
            raise ConfigError(f"{where('vignettes', 'set')}: no bundled vignette set {source.set!r} "
                              f"(sets: {', '.join(bundled_sets())})")
        inputs.add(path, f"vignettes/{path.name}", _bundled(path))
        return load_set(source.set, catalogue)
    if source.file is not None:
        path = where.file(source.file, "vignettes", "file")
        inputs.add(path, f"vignettes/{path.name}", source.file)
        return read_vignettes(path, catalogue)
    from dsk.narrative import template_dir

    for template in sorted(p for p in template_dir().iterdir() if p.is_file()):  # they write the narratives
        inputs.add(template, f"templates/{template.name}", _bundled(template))
    n = source.n if source.n is not None else sum((source.bands or {}).values())
    assert source.design is not None
    bands = {str(k): v for k, v in source.bands.items()} if source.bands else None
    return generate(source.design, n, seed, catalogue, bands=bands, dimensions=source.dimensions,
                    acute_share=source.acute_share,
                    set_id=f"{source.design}-{seed}")


def _load_panel(source: PanelSource, index: int, vignettes: pd.DataFrame, rounds: int, seed: int,
                where: _Where, catalogue: Catalogue, professions: dict[str, ProfessionProfile],
                inputs: _Inputs) -> pd.DataFrame:
    from dsk.io import read_table
    from dsk.panels import load_panel, simulate_panel
    from dsk.panels.profiles import panels_dir

    if source.panel is not None:
        if Path(source.panel).suffix:
            path = where.file(source.panel, "panels", index, "panel")
            origin = source.panel
        else:
            path = panels_dir() / f"{source.panel}.yaml"
            if not path.is_file():
                bundled = sorted(p.stem for p in panels_dir().glob("*.yaml") if p.stem != "professions")
                raise ConfigError(f"{where('panels', index, 'panel')}: no bundled panel {source.panel!r} "
                                  f"(bundled panels: {', '.join(bundled)})")
            origin = _bundled(path)
        spec = load_panel(path, professions)
        inputs.add(path, f"panels/{path.name}", origin)
        return simulate_panel(vignettes, spec, random_state=seed, rounds=rounds, professions=professions,
                              catalogue=catalogue)
    if source.judgements is not None:
        path = where.file(source.judgements, "panels", index, "judgements")
        inputs.add(path, f"judgements/{path.name}", source.judgements)
        table = read_table(path, "judgements")
    else:
        try:
            from dsk.app import export_judgements
        except ModuleNotFoundError as exc:
            raise ConfigError(f"{where('panels', index, 'database')}: reading the scoring app's database "
                              f"needs the app extra (no module named {exc.name!r}): pip install 'dsk[app]'") from exc
        assert source.database is not None and source.study is not None
        table = export_judgements(source.database, source.study)
        inputs.table(table, f"judgements/study-{source.study}.parquet",
                     f"the scoring app's database, study {source.study}")
    known = set(vignettes["vignette_id"])
    unknown = sorted(set(table["vignette_id"]) - known)
    if unknown:
        raise ConfigError(f"panel {source.judgements or source.study}: judgements for vignettes not in the "
                          f"set: {', '.join(unknown[:5])}")
    return table


def _rules_judgements(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions as judgements rows (rater_kind ``rules``), so every analysis sees them as raters."""
    return pd.DataFrame({
        "vignette_id": decisions["vignette_id"],
        "rater_id": decisions["ruleset_id"],
        "rater_kind": "rules",
        "profession": None,
        "panel_id": None,
        "round": 1,
        "need_level": decisions["need_level"].astype(np.int64),
        "confidence": 1.0,
        "risk": np.nan,
        "salient_factors": [[] for _ in range(len(decisions))],
        "rationale": decisions["decisive_rule"].map(lambda r: f"decisive rule: {r}" if r else "no rule fired"),
        "lead_agency": decisions["lead_agency"],
        "seconds": np.nan,
    })


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("dsk", "numpy", "pandas", "pyarrow", "scikit-learn", "shap", "krippendorff", "statsmodels",
                 "durable-rules", "pydantic", "jinja2", "matplotlib"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_experiment(config: ExperimentConfig | str | Path, out_dir: str | Path | None = None, *,
                   progress: Progress | None = None, report: bool = True,
                   config_path: Path | None = None) -> RunResult:
    """Run every stage of an experiment and write its folder.

    Parameters
    ----------
    config : a config object, or the path (or bundled id) of a config file.
    out_dir : the run folder (default: the config's ``output``, else ``runs/<id>``).
    progress : called as ``progress(stage, message)`` when a stage starts and ends.
    report : also render ``report.html``.
    config_path : the file a config object was read from: its paths are relative to it, and it
        is copied to ``inputs/config.yaml`` (default: the current folder, and the config
        written out as YAML).

    Raises
    ------
    ConfigError
        When a file the config names is missing; the message names the config file and key.
    """
    from dsk.io import write_table
    from dsk.rules import evaluate
    from dsk.schema import validate

    if not isinstance(config, ExperimentConfig):
        config_path = Path(config) if Path(config).suffix else experiments_dir() / f"{config}.yaml"
        config = load_config(config_path)
    where = _Where(config, config_path)
    out = Path(out_dir or config.output or Path("runs") / config.id)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda stage, message: None)
    timings: dict[str, float] = {}
    inputs = _Inputs(out / "inputs")
    seed = config.seed

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        say(name, "start")
        yield
        timings[name] = round(time.perf_counter() - t0, 3)
        say(name, f"done in {timings[name]:.1f} s")

    # The catalogue and the professions are read once, here, and passed to every stage.
    _copy_config(config, config_path, inputs)
    catalogue = _load_catalogue(config, where, inputs)
    professions = _load_professions(config, catalogue, where, inputs)
    with stage("vignettes"):
        vignettes = _load_vignettes(config.vignettes, seed, where, catalogue, inputs)
    with stage("rules"):
        rulesets = []
        decisions_parts, trace_parts = [], []
        for i, name in enumerate(config.rulesets):
            ruleset = _resolve_ruleset(name, i, where, catalogue, inputs)
            result = evaluate(ruleset, vignettes, engine=config.engine, margins=True, catalogue=catalogue)
            decisions_parts.append(result.decisions())
            trace_parts.append(result.trace())
            rulesets.append(ruleset)
        decisions = pd.concat(decisions_parts, ignore_index=True)
        trace = pd.concat(trace_parts, ignore_index=True)
    with stage("panels"):
        panel_parts = [_load_panel(p, i, vignettes, config.rounds, seed, where, catalogue, professions, inputs)
                       for i, p in enumerate(config.panels)]
        people = pd.concat(panel_parts, ignore_index=True)
        judgements = validate(pd.concat([_rules_judgements(decisions), people], ignore_index=True), "judgements",
                              catalogue)
    # ---- analyses: walk the registry (dsk.analysis.registry; docs/architecture.md, "Analysis registry")
    from dsk.analysis.registry import AnalysisSettings, run_analyses

    unknown = [a for a in config.analyses if a not in analysis_names()]
    if unknown:  # a config built in code skips load_config's check
        raise ConfigError(f"analyses: unknown analysis {unknown[0]!r}; known analyses: "
                          f"{', '.join(analysis_names())}")
    settings = AnalysisSettings(bootstrap=config.bootstrap, shap_background=config.shap_background,
                                learned_depths=tuple(config.learned_depths),
                                teaching_cases=config.teaching_cases)
    outputs = run_analyses(config.analyses, {"vignettes": vignettes, "decisions": decisions, "trace": trace,
                                             "judgements": judgements},
                           rulesets=rulesets, catalogue=catalogue, engine=config.engine, random_state=seed,
                           settings=settings, stage=stage)
    stats, failures = outputs.stats, outputs.tables["failures"]
    importance, teaching = outputs.tables["importance"], outputs.tables["teaching"]
    learned_texts = {Path(path).stem: text for path, text in outputs.files.items()}
    tables = {"vignettes": vignettes, "decisions": decisions, "trace": trace, "judgements": judgements,
              "stats": stats, "failures": failures, "importance": importance, "teaching": teaching}
    with stage("write"):
        for name, table in tables.items():
            write_table(table, out / f"{name}.parquet")
            write_table(table, out / f"{name}.csv")
        learned_dir = out / "learned"
        learned_dir.mkdir(exist_ok=True)
        for rid, text in learned_texts.items():
            (learned_dir / f"{rid}.yaml").write_text(text, encoding="utf-8")
        (out / "config.json").write_text(json.dumps(config_dict(config), indent=2) + "\n")
    manifest = {
        "experiment": config.id,
        "title": config.title,
        "config": config_dict(config),
        "config_hash": config_hash(config),
        "seeds": {"experiment": seed, "panels": [p.panel for p in config.panels if p.panel]},
        "versions": _versions(),
        "inputs": dict(sorted(inputs.hashes.items())),
        "input_sources": dict(sorted(inputs.sources.items())),
        "tables": {name: {"rows": len(t), "sha256": _file_hash(out / f"{name}.parquet")}
                   for name, t in tables.items()},
        "timings_seconds": timings,
    }
    # The manifest is final before the report reads it, so `dsk report` re-renders the same
    # bytes later; the report's own rendering time is therefore not in the manifest.
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if report:
        from dsk.report import render_report

        t0 = time.perf_counter()
        say("report", "start")
        render_report(out)
        say("report", f"done in {time.perf_counter() - t0:.1f} s")
    return RunResult(out, tables, manifest)
