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

import difflib
import hashlib
import json
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, get_args

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from dsk._paths import data_path
from dsk._yaml import YamlError, caret, loads_yaml, span_of
from dsk.analysis.registry import analysis_names
from dsk.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from dsk.panels import ProfessionProfile
    from dsk.rules import Ruleset

__all__ = [
    "ANALYSES",
    "ConfigError",
    "DecksSpec",
    "ExperimentConfig",
    "PanelSource",
    "RunResult",
    "VignetteSource",
    "check_config",
    "config_dict",
    "config_docs",
    "config_hash",
    "config_schema",
    "experiments_dir",
    "load_config",
    "run_experiment",
]

ANALYSES = analysis_names()


class ConfigError(ValueError):
    """A malformed experiment config.

    ``problems`` lists every problem found, each formatted as ``file:line:column: message``
    followed by the offending line and a caret under the bad text (see :func:`dsk._yaml.caret`);
    the message is all of them together.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


def _known_analysis(name: str) -> str:
    """An analysis name from a config, checked against the registry (dsk.analysis.registry)."""
    known = analysis_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        message = f"unknown analysis {name!r}{hint} (analyses: {', '.join(known)})"
        raise PydanticCustomError("unknown_analysis", message.replace("{", "{{").replace("}", "}}"))
    return name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VignetteSource(_Frozen):
    """The vignettes: exactly one of a bundled ``set``, a ``file``, or a ``design`` to generate."""

    set: str | None = Field(None, description="A bundled vignette set by id (`core-60`, `training-12`).")
    file: str | None = Field(None, description=(
        "A vignettes file: JSON Lines, Parquet or CSV (as `dsk vignettes generate` writes them), or a "
        "hand-authored YAML set (`.yaml`: factor levels per vignette; narratives and complexity are "
        "generated). Its vignette ids and set id are kept."))
    design: Literal["random", "stratified", "d-efficient"] | None = Field(None, description=(
        "Generate the vignettes with this design, seeded from the config's `seed`."))
    set_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "Set id of the vignettes; a generated design numbers its vignettes after it (default "
        "`DESIGN-SEED`), so a set generated with `dsk vignettes generate --set-id`, its decks and the "
        "run share vignette ids. With `set` or `file` it must match the set id in the file."))
    n: int | None = Field(None, ge=1, le=1_000_000, description="Generated design: number of vignettes.")
    bands: dict[Literal["low", "medium", "high"], int] | None = Field(None, description=(
        "Stratified design: vignettes per complexity band, e.g. `{low: 20, medium: 20, high: 20}` "
        "(instead of `n`)."))
    dimensions: list[str] | None = Field(None, description=(
        "D-efficient design: the factors or child attributes it varies."))
    acute_share: float | None = Field(None, ge=0, le=1, description=(
        "Stratified design: the share of vignettes in every band with an acute (level-4) indicator, "
        "so that complexity and acuity are crossed rather than confounded."))

    @model_validator(mode="after")
    def _one_source(self) -> VignetteSource:
        given = [k for k in ("set", "file", "design") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of set, file or design (got {', '.join(given) or 'none'})")
        if self.design is not None and self.n is None and self.bands is None:
            raise ValueError("a design needs n (or bands for the stratified design)")
        return self


class DecksSpec(_Frozen):
    """Decks: either ``size`` and ``per_deck`` (dealt by :func:`dsk.decks.make_decks`), or a ``file``."""

    size: int | None = Field(None, ge=1, description=(
        "Vignettes in each deck; the decks are dealt by `dsk.decks.make_decks`, seeded from the "
        "config's `seed`."))
    per_deck: int | None = Field(None, ge=1, description=(
        "How many practitioners take each deck (with `size`)."))
    file: str | None = Field(None, description=(
        "A deck plan written by `dsk vignettes decks` (columns respondent, deck, position, "
        "vignette_id), instead of `size` and `per_deck`."))

    @model_validator(mode="after")
    def _one_source(self) -> DecksSpec:
        if self.file is not None:
            if self.size is not None or self.per_deck is not None:
                raise ValueError("give either file, or size and per_deck, not both")
        elif self.size is None or self.per_deck is None:
            raise ValueError("give size and per_deck (or a decks file)")
        return self


class PanelSource(_Frozen):
    """A panel: exactly one of a simulated ``panel`` file or id, human ``judgements`` from a file,
    or a scoring-app ``database`` URL with its ``study``."""

    panel: str | None = Field(None, description=(
        "A simulated panel: a bundled id (`mixed-12`, ...) or a panel YAML file."))
    judgements: str | None = Field(None, description=(
        "Human judgements: a judgements file (JSON Lines, Parquet or CSV)."))
    database: str | None = Field(None, description=(
        "Human judgements from the scoring app's database (an SQLAlchemy URL), with `study`."))
    study: int | None = Field(None, ge=1, description="Study id in the scoring app's database.")

    @model_validator(mode="after")
    def _one_source(self) -> PanelSource:
        given = [k for k in ("panel", "judgements", "database") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of panel, judgements or database (got {', '.join(given) or 'none'})")
        if self.database is not None and self.study is None:
            raise ValueError("a database panel needs the study id")
        return self


class ExperimentConfig(_Frozen):
    """A whole experiment. Relative paths are relative to the config file's folder."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description=(
        "Experiment id: letters, digits, `_`, `.` and `-`; the default run folder is `runs/<id>`."))
    title: str = Field("", description="Title shown on the report.")
    description: str = Field("", description="What the experiment is for, in a sentence or two.")
    seed: int = Field(0, description=(
        "Seed of every random stream (design, decks, panels, bootstrap): the same seed gives "
        "byte-identical tables."))
    catalogue: str | None = Field(None, description=(
        "Factor catalogue file, relative to the config (default: the bundled one)."))
    professions: str | None = Field(None, description=(
        "Profession profiles file, relative to the config (default: the bundled one)."))
    vignettes: VignetteSource = Field(description="Where the vignettes come from (see below).")
    decks: DecksSpec | None = Field(None, description=(
        "Decks: each simulated practitioner rates only their own deck, in its order (see below). "
        "Default: every practitioner rates every vignette."))
    rulesets: Annotated[list[str], Field(min_length=1)] = Field(description=(
        "Checklists: bundled ids (`threshold-of-need`, ...) or ruleset YAML files."))
    panels: Annotated[list[PanelSource], Field(min_length=1)] = Field(description=(
        "Practitioner panels, simulated or human (see below)."))
    rounds: Literal[1, 2] = Field(1, description=(
        "1, or 2 to add a deliberation round to simulated panels."))
    engine: Literal["vector", "durable"] = Field(
        "vector", description="Rule backend: the NumPy twin, or durable_rules (the reference engine).")
    analyses: list[Annotated[str, AfterValidator(_known_analysis)]] = Field(
        default_factory=lambda: list(analysis_names()),
        description="Analyses to run, by registered name (default: every registered analysis).")
    bootstrap: int = Field(200, ge=0, le=100_000, description=(
        "Bootstrap replicates for confidence intervals (0 for none)."))
    shap_background: int = Field(30, ge=5, le=500, description=(
        "Background sample size for the SHAP explanations."))
    learned_depths: list[int] = Field([2, 3, 4], description=(
        "Depths of the checklists learned from the panel (one per depth)."))
    teaching_cases: int = Field(8, ge=0, le=100, description="Teaching cases to rank.")
    output: str | None = Field(None, description=(
        "Run folder, relative to the config's folder (default: `runs/<id>` in the current folder; a "
        "bundled config's `output` is relative to the current folder). `dsk run -o` overrides it."))


def experiments_dir() -> Path:
    """``experiments/`` bundled in the package."""
    return data_path("experiments")


def _config_path(path: str | Path) -> Path:
    p = Path(path)
    return p if p.suffix else experiments_dir() / f"{path}.yaml"


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment config; a bundled one can be named by id.

    Every problem is reported at once: unknown keys (with the valid keys at that level and the
    closest one), wrong values, and names that do not resolve (bundled rulesets, panels and
    sets; files, relative to the config's folder).

    Raises
    ------
    ConfigError
        Listing every problem as ``file:line:column: message`` with the line and a caret.

    Examples
    --------
    >>> load_config("training").vignettes.set
    'training-12'
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "x.yaml"
    ...     _ = path.write_text("id: x\\nvignettes: {set: core-60}\\nrulesetz: [threshold-of-need]\\n"
    ...                         "panels: [{panel: mixed-12}]\\n")
    ...     try:
    ...         load_config(path)
    ...     except ConfigError as exc:
    ...         print(len(exc.problems), exc.problems[0].replace(tmp, "TMP")[:38])
    ...         print(exc.problems[1].replace(tmp, "TMP")[:64])
    ...         print("\\n".join(exc.problems[1].splitlines()[1:]))
    2 TMP/x.yaml:1:1: missing key 'rulesets'
    TMP/x.yaml:3:1: unknown key 'rulesetz'; did you mean 'rulesets'?
        3 | rulesetz: [threshold-of-need]
          | ^^^^^^^^
    """
    p = _config_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        data = loads_yaml(text, str(p))
    except YamlError as exc:
        raise ConfigError(exc.pointed()) from exc
    config: ExperimentConfig | None = None
    problems: list[_Problem] = []
    if not isinstance(data, dict):
        problems.append(_Problem((), f"expected a mapping of keys at the top level, got {_kind(data)}"))
    else:
        try:
            config = ExperimentConfig.model_validate(data)
        except ValidationError as exc:
            problems.extend(_schema_problems(exc))
        problems.extend(_reference_problems(data, p.parent))
    if problems:
        raise _config_error(str(p), text, data, problems)
    assert config is not None
    return config


# ---------------------------------------------------------------- error messages


class _Problem(NamedTuple):
    """One problem: the key path it is at, the message, and whether the caret goes under the key
    (an unknown key) rather than the value."""

    loc: tuple[str | int, ...]
    message: str
    at_key: bool = False


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"{value!r}"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The config model that holds the keys at ``loc`` (None when it is not a model)."""
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        inner = _inner_model(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


_PLAIN = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "string_type": "expected text",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
}


def _schema_problems(exc: ValidationError) -> list[_Problem]:
    """Pydantic's errors, in the config's own words."""
    out: list[_Problem] = []
    for error in exc.errors():
        loc = tuple(x for x in error["loc"] if not (isinstance(x, str) and (
            x.startswith("function-after") or x.startswith("literal["))))
        kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            valid = list(model.model_fields) if model is not None else []
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f" in {_keys(loc[:-1])}" if loc[:-1] else ""
            out.append(_Problem(loc, f"unknown key {loc[-1]!r}{where}{hint} (keys here: {', '.join(valid)})",
                                at_key=True))
            continue
        if loc and loc[-1] == "[key]":  # a bad key in a mapping such as bands
            loc = loc[:-1]
            out.append(_Problem(loc, f"unknown key {loc[-1]!r} (expected {ctx.get('expected', '')})",
                                at_key=True))
            continue
        if kind == "missing":
            message = f"missing key {loc[-1]!r}" + (f" in {_keys(loc[:-1])}" if loc[:-1] else "")
            field = _field_of(loc)
            if field is not None and field.description:
                message += f": {field.description}"
            out.append(_Problem(loc, message))
            continue
        if kind in _PLAIN:
            message = f"{_PLAIN[kind]}, got {_kind(got)}"
        elif kind == "literal_error":
            message = f"expected {ctx.get('expected', 'one of the listed values')}, got {_kind(got)}"
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            bound = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
                     "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}[kind]
            message = f"must be {bound[0]} {ctx.get(bound[1])}, got {_kind(got)}"
        elif kind == "too_short":
            count = ctx.get("min_length", 1)
            message = f"expected at least {count} item{'s' if count != 1 else ''}, got none"
        elif kind == "string_pattern_mismatch":
            message = f"may contain only letters, digits, '_', '.' and '-', got {_kind(got)}"
        elif kind == "value_error":
            message = str(ctx.get("error", error["msg"]))
        elif kind == "unknown_analysis":
            message = error["msg"]
        else:
            message = error["msg"].replace("Input should be", "expected") + f", got {_kind(got)}"
        out.append(_Problem(loc, message))
    return out


def _field_of(loc: tuple[str | int, ...]) -> Any:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return None
    return model.model_fields.get(loc[-1])


def _keys(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(top level)"


def _config_error(source: str, text: str, data: Any, problems: Sequence[_Problem]) -> ConfigError:
    """Every problem with file:line:column and a caret under the bad text."""
    placed = []
    for problem in problems:
        span = span_of(data, problem.loc, key=problem.at_key) if problem.loc or isinstance(data, dict) else None
        named = problem.at_key or problem.message.startswith("missing key")
        message = f"{_keys(problem.loc)}: {problem.message}" if problem.loc and not named else problem.message
        if span is None:
            placed.append(((0, 0), f"{source}: {message}"))
        else:
            placed.append(((span.line, span.column),
                           caret(source, text, span.line, span.column, message, length=span.length)))
    formatted = [text for _, text in sorted(placed, key=lambda item: item[0])]
    if len(formatted) == 1:
        return ConfigError(formatted[0], formatted)
    head = f"{source}: {len(formatted)} problems in the experiment config"
    return ConfigError("\n".join([head, *formatted]), formatted)


def _reference_problems(data: dict[Any, Any], base: Path) -> list[_Problem]:
    """Names in the (raw) config that do not resolve: bundled rulesets, panels and sets, and
    files relative to the config's folder. Checked before anything runs."""
    from dsk.panels.profiles import panels_dir
    from dsk.rules import bundled_rulesets
    from dsk.sets import bundled_sets

    out: list[_Problem] = []

    def file(loc: tuple[str | int, ...], name: Any, what: str) -> None:
        if isinstance(name, str) and not _resolve(name, base).is_file():
            out.append(_Problem(loc, f"no such {what} {str(_resolve(name, base))!r}"))

    for key, what in (("catalogue", "catalogue file"), ("professions", "professions file")):
        file((key,), data.get(key), what)
    vignettes = data.get("vignettes")
    if isinstance(vignettes, dict):
        name = vignettes.get("set")
        if isinstance(name, str) and name not in bundled_sets():
            close = difflib.get_close_matches(name, bundled_sets(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(_Problem(("vignettes", "set"), f"no bundled vignette set {name!r}{hint} "
                                                      f"(sets: {', '.join(bundled_sets())})"))
        name = vignettes.get("file")
        if isinstance(name, str):
            if Path(name).suffix.lower() not in _VIGNETTE_SUFFIXES:
                out.append(_Problem(("vignettes", "file"), f"{name!r}: a vignettes file is .jsonl, .parquet, "
                                                           ".csv or a YAML set (.yaml)"))
            else:
                file(("vignettes", "file"), name, "vignettes file")
    decks = data.get("decks")
    if isinstance(decks, dict):
        file(("decks", "file"), decks.get("file"), "decks file")
    rulesets = data.get("rulesets")
    if isinstance(rulesets, list):
        bundled = bundled_rulesets()
        for i, name in enumerate(rulesets):
            if isinstance(name, str) and name not in bundled and not _resolve(name, base).is_file():
                close = difflib.get_close_matches(name, list(bundled), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                out.append(_Problem(("rulesets", i), f"no bundled ruleset or file {name!r}{hint} "
                                                     f"(bundled: {', '.join(bundled)})"))
    panels = data.get("panels")
    if isinstance(panels, list):
        known = sorted(q.stem for q in panels_dir().glob("*.yaml") if q.stem != "professions")
        for i, panel in enumerate(panels):
            if not isinstance(panel, dict):
                continue
            name = panel.get("panel")
            if isinstance(name, str):
                if Path(name).suffix:
                    file(("panels", i, "panel"), name, "panel file")
                elif name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    out.append(_Problem(("panels", i, "panel"), f"no bundled panel {name!r}{hint} "
                                                                f"(bundled panels: {', '.join(known)})"))
            file(("panels", i, "judgements"), panel.get("judgements"), "judgements file")
    return out


_VIGNETTE_SUFFIXES = (".jsonl", ".parquet", ".csv", ".yaml", ".yml")


def _resolve(name: str, base: Path) -> Path:
    """A path from a config, relative to the config's folder."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def check_config(config: ExperimentConfig, config_path: Path | None = None) -> None:
    """Check that every name in a config resolves, before anything runs.

    Bundled rulesets, panels and sets must exist, and files (relative to the folder of
    ``config_path``, else the current folder) too. A config read with :func:`load_config`
    has passed this already; a config built in code is checked by :func:`run_experiment`.

    Raises
    ------
    ConfigError
        Listing every problem (with the line and a caret when ``config_path`` is given).

    Examples
    --------
    >>> config = load_config("quickstart")
    >>> check_config(config.model_copy(update={"rulesets": ["threshold-of-ned"]}))
    Traceback (most recent call last):
    ...
    dsk.experiment.ConfigError: experiment 'quickstart': rulesets.0: no bundled ruleset or file 'threshold-of-ned'; did you mean 'threshold-of-need'? (bundled: count-of-concerns, threshold-of-need, toxic-trio)
    """
    where = _Where(config, config_path)
    problems = _reference_problems(config_dict(config), where.base)
    unknown = [(i, a) for i, a in enumerate(config.analyses) if a not in analysis_names()]
    problems += [_Problem(("analyses", i), f"unknown analysis {a!r} (analyses: {', '.join(analysis_names())})")
                 for i, a in unknown]  # a config built in code skips load_config's check
    if problems:
        data = where.data if where.data is not None else {}
        raise _config_error(where.label, where.text, data, problems)


# ---------------------------------------------------------------- schema and reference docs


def config_schema() -> dict[str, Any]:
    """The JSON Schema of an experiment config (``dsk config schema``).

    Examples
    --------
    >>> schema = config_schema()
    >>> schema["required"], "decks" in schema["properties"]
    (['id', 'vignettes', 'rulesets', 'panels'], True)
    """
    schema = ExperimentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dsk experiment config"
    return schema


#: The config's sections, in the order the reference gives them, with the key that holds them.
_SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("Top level", ExperimentConfig, ""),
    ("vignettes", VignetteSource, "vignettes"),
    ("decks", DecksSpec, "decks"),
    ("panels", PanelSource, "panels[]"),
)


def _type_text(annotation: Any) -> str:
    """A field's type in words."""
    from typing import Literal as _Literal
    from typing import Union, get_origin

    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _type_text(args[0])
    if origin is Union or type(annotation).__name__ == "UnionType":
        return " or ".join(_type_text(a) for a in args if a is not type(None))
    if origin is _Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"mapping of {_type_text(args[0])} to {_type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = next(n for n, m, _ in _SECTIONS if m is annotation)
        return f"mapping (see [{name}](#{name}))"
    return {str: "text", int: "integer", float: "number", bool: "true or false"}.get(annotation, str(annotation))


def _bounds_text(field: Any) -> str:
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than",
             "min_length": "at least", "pattern": "matching"}
    parts = []
    for item in field.metadata:
        for attr, word in words.items():
            value = getattr(item, attr, None)
            if value is not None:
                unit = " item" + ("s" if value != 1 else "") if attr == "min_length" else ""
                parts.append(f"{word} `{value}`{unit}")
    return f" ({', '.join(parts)})" if parts else ""


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "none"
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else (f"`{value!r}`" if value else "`''`")


def config_docs() -> str:
    """``docs/config.md``: every key of an experiment config, generated from the models
    (``dsk config docs > docs/config.md``).

    Examples
    --------
    >>> print(config_docs().splitlines()[0])
    # Experiment config reference
    """
    lines = [
        "# Experiment config reference",
        "",
        "<!-- Generated from the config models in dsk/experiment.py: do not edit by hand; run",
        "     `dsk config docs > docs/config.md` after changing them (a test checks it is current). -->",
        "",
        "An experiment config is a YAML file run by `dsk run CONFIG`. Relative paths in it,",
        "`output` included, are relative to the config file's folder, so a config runs the same",
        "from any working directory. `dsk config schema` prints its JSON Schema (for an editor),",
        "and `dsk config check CONFIG` checks a config without running it: every problem is",
        "reported at once, as `file:line:column` with the line and a caret under the bad text,",
        "and unknown rulesets, panels, sets and files are caught before anything runs.",
        "",
        "```yaml",
        "id: pilot",
        "seed: 7",
        "vignettes: {design: d-efficient, n: 48, set_id: pilot-48,",
        "            dimensions: [domestic_abuse, parental_mental_health, age_band]}",
        "decks: {size: 12, per_deck: 6}",
        "rulesets: [threshold-of-need, count-of-concerns]",
        "panels:",
        "  - {panel: mixed-12}",
        "rounds: 2",
        "output: runs/pilot",
        "```",
        "",
    ]
    for title, model, key in _SECTIONS:
        lines.append(f"## {title}")
        lines.append("")
        doc = re.sub(r":\w+:`", "`", " ".join((model.__doc__ or "").split()).replace("``", "`"))
        if key:
            lines.append(f"Under `{key}`. {doc}")
        else:
            lines.append(doc)
        lines += ["", "| key | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            description = " ".join((field.description or "").split()).replace("|", "\\|")
            kind = _type_text(field.annotation) + _bounds_text(field)
            lines.append(f"| `{name}` | {kind} | {_default_text(field)} | {description} |")
        lines.append("")
    return "\n".join(lines)


#: Keys added after the first release: left out of the dump while unset, so the hash and
#: ``config.json`` of a config that does not use them stay what they were.
_OPTIONAL_KEYS = ("catalogue", "professions", "decks")
_OPTIONAL_VIGNETTE_KEYS = ("set_id",)


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
    for key in _OPTIONAL_VIGNETTE_KEYS:
        if data["vignettes"].get(key) is None:
            data["vignettes"].pop(key, None)
    if "decks" in data:
        data["decks"] = {k: v for k, v in data["decks"].items() if v is not None}
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
    """Places a value of the config in its file, for errors raised while running."""

    def __init__(self, config: ExperimentConfig, config_path: Path | None) -> None:
        self.label = str(config_path) if config_path is not None else f"experiment {config.id!r}"
        self.base = config_path.parent if config_path is not None else Path.cwd()
        self.data: Any = None
        self.text = ""
        if config_path is not None and config_path.is_file():
            try:
                self.text = config_path.read_text(encoding="utf-8")
                self.data = loads_yaml(self.text, str(config_path))
            except (OSError, UnicodeDecodeError, YamlError):
                self.data, self.text = None, ""

    def error(self, message: str, *key: str | int) -> ConfigError:
        """A ConfigError at ``key`` (file:line:column with a caret when the file is known)."""
        return _config_error(self.label, self.text, self.data if self.data is not None else {},
                             [_Problem(tuple(key), message)])

    def file(self, name: str, *key: str | int) -> Path:
        """``name`` resolved against the config's folder; a ConfigError when there is no such file."""
        path = _resolve(name, self.base)
        if not path.is_file():
            raise self.error(f"no such file {str(path)!r}", *key)
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
        path = _resolve(name, where.base)
        if not path.is_file():
            raise where.error(f"no bundled ruleset or file {name!r} (bundled: {', '.join(bundled)})",
                              "rulesets", index)
        origin = name
    ruleset = load_ruleset(path, catalogue)
    inputs.add(path, f"rules/{path.name}", origin)
    return ruleset


def _load_vignettes(source: VignetteSource, seed: int, where: _Where, catalogue: Catalogue,
                    inputs: _Inputs) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The vignettes, and the design's parameters for the manifest (None for a set or file)."""
    from dsk.design import generate
    from dsk.io import read_vignettes
    from dsk.sets import build_set, bundled_sets, load_set, sets_dir

    if source.set is not None or source.file is not None:
        if source.set is not None:
            path = sets_dir() / f"{source.set}.jsonl"
            if not path.is_file():
                raise where.error(f"no bundled vignette set {source.set!r} (sets: {', '.join(bundled_sets())})",
                                  "vignettes", "set")
            inputs.add(path, f"vignettes/{path.name}", _bundled(path))
            frame = load_set(source.set, catalogue)
        else:
            assert source.file is not None
            path = where.file(source.file, "vignettes", "file")
            inputs.add(path, f"vignettes/{path.name}", source.file)
            if path.suffix.lower() in (".yaml", ".yml"):
                from dsk.narrative import template_dir

                for template in sorted(p for p in template_dir().iterdir() if p.is_file()):
                    inputs.add(template, f"templates/{template.name}", _bundled(template))
                frame = build_set(path, catalogue)
            else:
                frame = read_vignettes(path, catalogue)
        if source.set_id is not None:
            found = sorted({str(v) for v in frame["set_id"]})
            if found != [source.set_id]:
                raise where.error(f"set_id {source.set_id!r} does not match the vignettes, whose set id is "
                                  f"{', '.join(map(repr, found))}: leave set_id out, or give the file's",
                                  "vignettes", "set_id")
        return frame, None
    from dsk.narrative import template_dir

    for template in sorted(p for p in template_dir().iterdir() if p.is_file()):  # they write the narratives
        inputs.add(template, f"templates/{template.name}", _bundled(template))
    n = source.n if source.n is not None else sum((source.bands or {}).values())
    assert source.design is not None
    bands = {str(k): v for k, v in source.bands.items()} if source.bands else None
    set_id = source.set_id or f"{source.design}-{seed}"
    try:
        frame = generate(source.design, n, seed, catalogue, bands=bands, dimensions=source.dimensions,
                         acute_share=source.acute_share, set_id=set_id)
    except ValueError as exc:
        raise where.error(str(exc), "vignettes") from exc
    design: dict[str, Any] = {"design": source.design, "n": len(frame), "set_id": set_id, "random_state": seed}
    if source.design == "d-efficient":
        design["dimensions"] = list(frame.attrs.get("dimensions", source.dimensions or []))
        for key in ("d_efficiency", "d_efficiency_plausible"):
            if key in frame.attrs:
                design[key] = float(frame.attrs[key])
    elif source.design == "stratified":
        design["bands"] = dict(frame["complexity_band"].value_counts().reindex(
            ["low", "medium", "high"], fill_value=0).astype(int).items())
        design["acute_share"] = source.acute_share
    return frame, design


def _load_decks(spec: DecksSpec | None, vignettes: pd.DataFrame, seed: int, where: _Where,
                inputs: _Inputs) -> tuple[pd.DataFrame | None, dict[str, Any] | None]:
    """The deck plan simulated panels follow, and its manifest entry (None, None without decks)."""
    if spec is None:
        return None, None
    from dsk.decks import make_decks

    ids = list(vignettes["vignette_id"])
    if spec.file is not None:
        path = where.file(spec.file, "decks", "file")
        columns = ("respondent", "deck", "position", "vignette_id")
        try:
            plan = _read_plan(path)
            missing = [c for c in columns if c not in plan.columns]
            if missing:
                raise ValueError(f"no column {', '.join(missing)} (a deck plan from `dsk vignettes decks` "
                                 f"has respondent, deck, position, vignette_id)")
            plan = plan.astype({"respondent": np.int64, "deck": np.int64, "position": np.int64})
        except (OSError, ValueError, TypeError) as exc:
            raise where.error(f"cannot read the decks file {str(path)!r}: {exc}", "decks", "file") from exc
        plan["vignette_id"] = plan["vignette_id"].astype(str)
        unknown = sorted({str(v) for v in plan["vignette_id"]} - set(map(str, ids)))
        if unknown:
            raise where.error(f"the decks name vignettes not in the set: {', '.join(unknown[:5])}"
                              f"{' ...' if len(unknown) > 5 else ''}", "decks", "file")
        inputs.add(path, f"decks/{path.name}", spec.file)
        sizes = plan.groupby("respondent")["vignette_id"].size()
        return plan, {"file": spec.file, "n_decks": int(plan["deck"].nunique()),
                      "deck_size": int(sizes.max()), "respondents": int(len(sizes))}
    assert spec.size is not None and spec.per_deck is not None
    if spec.size > len(ids):
        raise where.error(f"a deck of {spec.size} is more than the {len(ids)} vignettes", "decks", "size")
    n_decks = len(ids) // int(np.gcd(len(ids), spec.size))
    plan = make_decks(ids, spec.size, n_decks * spec.per_deck, random_state=seed)
    inputs.table(plan, "decks.csv", f"dealt by dsk.decks.make_decks (seed {seed})")
    return plan, {"deck_size": spec.size, "per_deck": spec.per_deck, "n_decks": n_decks,
                  "respondents": n_decks * spec.per_deck}


def _read_plan(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"vignette_id": str})
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype={"vignette_id": str})
    if suffix == ".parquet":
        return pd.read_parquet(path)
    raise ValueError("a decks file is .csv, .jsonl or .parquet")


def _database_url(url: str, base: Path) -> str:
    """A SQLite URL with a relative path, made relative to the config's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url[len(prefix):] not in ("", ":memory:"):
        return prefix + str(_resolve(url[len(prefix):], base))
    return url


def _load_panel(source: PanelSource, index: int, vignettes: pd.DataFrame, rounds: int, seed: int,
                where: _Where, catalogue: Catalogue, professions: dict[str, ProfessionProfile],
                inputs: _Inputs, decks: pd.DataFrame | None = None) -> pd.DataFrame:
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
                raise where.error(f"no bundled panel {source.panel!r} (bundled panels: {', '.join(bundled)})",
                                  "panels", index, "panel")
            origin = _bundled(path)
        spec = load_panel(path, professions)
        inputs.add(path, f"panels/{path.name}", origin)
        if decks is not None:
            n_raters, n_resp = len(spec.raters()), int(decks["respondent"].nunique())
            if n_raters > n_resp:
                raise where.error(f"panel {spec.id!r} has {n_raters} practitioners but the decks have only "
                                  f"{n_resp} respondents: raise decks.per_deck, or use a smaller panel",
                                  "panels", index, "panel")
        return simulate_panel(vignettes, spec, random_state=seed, rounds=rounds, professions=professions,
                              catalogue=catalogue, decks=decks)
    if source.judgements is not None:
        path = where.file(source.judgements, "panels", index, "judgements")
        inputs.add(path, f"judgements/{path.name}", source.judgements)
        table = read_table(path, "judgements")
    else:
        try:
            from dsk.app import export_judgements
        except ModuleNotFoundError as exc:
            raise where.error(f"reading the scoring app's database needs the app extra (no module named "
                              f"{exc.name!r}): pip install 'dsk[app]'", "panels", index, "database") from exc
        assert source.database is not None and source.study is not None
        table = export_judgements(_database_url(source.database, where.base), source.study)
        inputs.table(table, f"judgements/study-{source.study}.parquet",
                     f"the scoring app's database, study {source.study}")
    known = set(vignettes["vignette_id"])
    unknown = sorted(set(table["vignette_id"]) - known)
    if unknown:
        key = "judgements" if source.judgements is not None else "study"
        raise where.error(f"judgements for vignettes not in the set: {', '.join(unknown[:5])}"
                          f"{' ...' if len(unknown) > 5 else ''}", "panels", index, key)
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

    Every name in the config is checked before any stage runs (:func:`check_config`), and the
    folder is written beside its destination and moved into place only when the run has
    finished: a run that fails leaves no half-written folder behind (an existing run folder is
    left as it was).

    Raises
    ------
    ConfigError
        When a name in the config does not resolve or a file it names is missing or wrong; the
        message names the config file, line, column and key.
    """
    if not isinstance(config, ExperimentConfig):
        config_path = _config_path(config)
        config = load_config(config_path)
    check_config(config, config_path)
    where = _Where(config, config_path)
    if out_dir is not None:
        out = Path(out_dir)
    elif config.output is not None:
        bundled = config_path is not None and _is_bundled(config_path)
        out = Path(config.output) if bundled else _resolve(config.output, where.base)
    else:
        out = Path("runs") / config.id
    made = next((p for p in [out.parent, *out.parent.parents][::-1] if not p.exists()), None)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    work = scratch / out.name  # the same folder name, so nothing in the run depends on the scratch place
    try:
        tables, manifest = _run_stages(config, config_path, where, work, progress, report)
        _move_into_place(work, out)
    except BaseException:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RunResult(out, tables, manifest)


def _move_into_place(work: Path, out: Path) -> None:
    """Move a finished run folder to ``out``; into an existing folder, entry by entry (what the run
    writes replaces what was there, other files stay)."""
    if not out.exists():
        work.rename(out)
        return
    for child in sorted(work.iterdir()):
        target = out / child.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        child.rename(target)


def _run_stages(config: ExperimentConfig, config_path: Path | None, where: _Where, out: Path,
                progress: Progress | None, report: bool) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every stage of :func:`run_experiment`, writing the run folder ``out``."""
    from dsk.io import write_table
    from dsk.rules import evaluate
    from dsk.schema import validate

    out.mkdir(parents=True)
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
        vignettes, design = _load_vignettes(config.vignettes, seed, where, catalogue, inputs)
        decks, decks_entry = _load_decks(config.decks, vignettes, seed, where, inputs)
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
        panel_parts = [_load_panel(p, i, vignettes, config.rounds, seed, where, catalogue, professions, inputs,
                                   decks)
                       for i, p in enumerate(config.panels)]
        people = pd.concat(panel_parts, ignore_index=True)
        judgements = validate(pd.concat([_rules_judgements(decisions), people], ignore_index=True), "judgements",
                              catalogue)
    # ---- analyses: walk the registry (dsk.analysis.registry; docs/architecture.md, "Analysis registry")
    from dsk.analysis.registry import AnalysisSettings, run_analyses

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
    if design is not None:
        manifest["design"] = design
    if decks_entry is not None:
        manifest["decks"] = decks_entry
    # The manifest is final before the report reads it, so `dsk report` re-renders the same
    # bytes later; the report's own rendering time is therefore not in the manifest.
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if report:
        from dsk.report import render_report

        t0 = time.perf_counter()
        say("report", "start")
        render_report(out)
        say("report", f"done in {time.perf_counter() - t0:.1f} s")
    return tables, manifest
