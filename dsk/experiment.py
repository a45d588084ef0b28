"""Experiment configurations and the runner: one command from config to findings.

An experiment config (``experiments/*.yaml``) names the vignettes, the
rulesets, the panels (simulated, or human judgements from a file or the
scoring app's database), the rounds, the analyses, the bootstrap replicates,
the seed and the output folder. :func:`load_config` reads it once into
frozen pydantic models (an error names the file, the key path and what was
expected); :func:`run_experiment` runs every stage and writes the run folder:

``vignettes``, ``decisions``, ``trace``, ``judgements``, ``stats``, ``failures``
    the tables of DESIGN.md, each as ``.parquet`` and ``.csv``;
``importance``, ``teaching``
    SHAP importance per feature and ruleset; ranked teaching cases;
``learned/<id>.yaml``
    checklists learned from the panel;
``report.html``, ``manifest.json``
    the report, and the config with its hash, seeds, package versions,
    input hashes and timings.

Running the same config twice gives byte-identical tables.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from dsk._paths import project_path
from dsk._yaml import YamlError, line_of, load_yaml
from dsk.analysis.registry import analysis_names

__all__ = [
    "ANALYSES",
    "ConfigError",
    "ExperimentConfig",
    "RunResult",
    "config_hash",
    "experiments_dir",
    "load_config",
    "run_experiment",
]

ANALYSES = analysis_names()
TABLES = ("vignettes", "decisions", "trace", "judgements", "stats", "failures", "importance", "teaching")


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
    """``experiments/`` beside the package."""
    return project_path("experiments")


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; a bundled one can be named by id."""
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


def config_hash(config: ExperimentConfig) -> str:
    """SHA-256 of the config's canonical JSON."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
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
        return self.out_dir / "report.html"


Progress = Callable[[str, str], None]


def _resolve_ruleset(name: str, base: Path):  # type: ignore[no-untyped-def]
    from dsk.rules import bundled_rulesets, load_ruleset

    bundled = bundled_rulesets()
    if name in bundled:
        return load_ruleset(bundled[name]), bundled[name]
    path = Path(name) if Path(name).is_absolute() else base / name
    if not path.exists():
        raise ConfigError(f"rulesets: no bundled ruleset or file {name!r} (bundled: {', '.join(bundled)})")
    return load_ruleset(path), path


def _load_vignettes(source: VignetteSource, seed: int, base: Path, inputs: dict[str, str]) -> pd.DataFrame:
    from dsk.design import generate
    from dsk.io import read_vignettes
    from dsk.sets import load_set, sets_dir

    if source.set is not None:
        path = sets_dir() / f"{source.set}.jsonl"
        inputs[str(path.relative_to(sets_dir().parent.parent))] = _file_hash(path) if path.exists() else ""
        return load_set(source.set)
    if source.file is not None:
        path = Path(source.file) if Path(source.file).is_absolute() else base / source.file
        inputs[source.file] = _file_hash(path)
        return read_vignettes(path)
    n = source.n if source.n is not None else sum((source.bands or {}).values())
    assert source.design is not None
    bands = {str(k): v for k, v in source.bands.items()} if source.bands else None
    return generate(source.design, n, seed, bands=bands, dimensions=source.dimensions,
                    acute_share=source.acute_share,
                    set_id=f"{source.design}-{seed}")


def _load_panel(source: PanelSource, vignettes: pd.DataFrame, rounds: int, seed: int, base: Path,
                inputs: dict[str, str]) -> pd.DataFrame:
    from dsk.io import read_table
    from dsk.panels import load_panel, load_professions, simulate_panel

    if source.panel is not None:
        profs = load_professions()
        spec = load_panel(source.panel if not source.panel.endswith(".yaml") else base / source.panel, profs)
        return simulate_panel(vignettes, spec, seed=seed, rounds=rounds, professions=profs)
    if source.judgements is not None:
        path = Path(source.judgements) if Path(source.judgements).is_absolute() else base / source.judgements
        inputs[source.judgements] = _file_hash(path)
        table = read_table(path, "judgements")
    else:
        from dsk.app import export_judgements

        assert source.database is not None and source.study is not None
        table = export_judgements(source.database, source.study)
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
    """
    from dsk.io import write_table
    from dsk.rules import evaluate
    from dsk.schema import validate

    if not isinstance(config, ExperimentConfig):
        config_path = Path(config) if Path(config).suffix else experiments_dir() / f"{config}.yaml"
        config = load_config(config_path)
    base = config_path.parent if config_path is not None else Path.cwd()
    out = Path(out_dir or config.output or Path("runs") / config.id)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda stage, message: None)
    timings: dict[str, float] = {}
    inputs: dict[str, str] = {}
    seed = config.seed

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        say(name, "start")
        yield
        timings[name] = round(time.perf_counter() - t0, 3)
        say(name, f"done in {timings[name]:.1f} s")

    with stage("vignettes"):
        vignettes = _load_vignettes(config.vignettes, seed, base, inputs)
    with stage("rules"):
        rulesets = []
        decisions_parts, trace_parts = [], []
        for name in config.rulesets:
            ruleset, path = _resolve_ruleset(name, base)
            inputs[f"rules:{ruleset.id}"] = _file_hash(Path(path))
            result = evaluate(ruleset, vignettes, engine=config.engine, margins=True)
            decisions_parts.append(result.decisions())
            trace_parts.append(result.trace())
            rulesets.append(ruleset)
        decisions = pd.concat(decisions_parts, ignore_index=True)
        trace = pd.concat(trace_parts, ignore_index=True)
    with stage("panels"):
        panel_parts = [_load_panel(p, vignettes, config.rounds, seed, base, inputs) for p in config.panels]
        people = pd.concat(panel_parts, ignore_index=True)
        judgements = validate(pd.concat([_rules_judgements(decisions), people], ignore_index=True), "judgements")
    # ---- analyses: walk the registry (dsk.analysis.registry; docs/architecture.md, "Analysis registry")
    from dsk.analysis.registry import AnalysisSettings, run_analyses
    from dsk.catalogue import load_catalogue

    unknown = [a for a in config.analyses if a not in analysis_names()]
    if unknown:  # a config built in code skips load_config's check
        raise ConfigError(f"analyses: unknown analysis {unknown[0]!r}; known analyses: "
                          f"{', '.join(analysis_names())}")
    catalogue = load_catalogue()  # the run's catalogue, loaded once and passed to every analysis
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
        (out / "config.json").write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    manifest = {
        "experiment": config.id,
        "title": config.title,
        "config": config.model_dump(mode="json"),
        "config_hash": config_hash(config),
        "seeds": {"experiment": seed, "panels": [p.panel for p in config.panels if p.panel]},
        "versions": _versions(),
        "inputs": dict(sorted(inputs.items())),
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
