"""The ``dsk`` command line.

Every command loads the bundled catalogue (or the one a config names) once and
passes it on; errors are printed in plain words on stderr with a non-zero exit.

Examples
--------
Generate a stratified set of nine vignettes, three in each complexity band:

>>> import tempfile
>>> from pathlib import Path
>>> import pandas as pd
>>> from typer.testing import CliRunner
>>> with tempfile.TemporaryDirectory() as tmp:
...     out = Path(tmp, "study.jsonl")
...     result = CliRunner().invoke(app, ["vignettes", "generate", "-n", "9", "--design",
...                                       "stratified", "--seed", "3", "-o", str(out)])
...     bands = pd.read_json(out, lines=True)["complexity_band"].value_counts().sort_index()
>>> result.exit_code, result.output.startswith("wrote 9 vignettes to")
(0, True)
>>> bands.to_dict()
{'high': 3, 'low': 3, 'medium': 3}

An unknown design is refused with the list of known ones:

>>> result = CliRunner().invoke(app, ["vignettes", "generate", "--design", "latin"])
>>> result.exit_code
1
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dsk._cli import fail
from dsk.analysis.cli import agree
from dsk.analysis.model_cli import model
from dsk.catalogue import DOMAINS, Catalogue, CatalogueError, load_catalogue
from dsk.design import DESIGNS, check_interactions, generate
from dsk.io import TableFileError, read_vignettes, write_table
from dsk.narrative import STANCE_REASSURE, Reports
from dsk.panels.cli import app as panel_app
from dsk.rules.cli import app as rules_app
from dsk.schema import BANDS, COMPLEXITY_COLUMNS, SchemaError

app = typer.Typer(help="dsk: rules versus judgement in children's services.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
vignettes_app = typer.Typer(help="Generate, show and describe vignette sets.", no_args_is_help=True)
app.add_typer(vignettes_app, name="vignettes")
config_app = typer.Typer(help="Experiment configs: check one, print the JSON Schema or the reference.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")

console = Console()

#: Top-level modules of the ``app`` extra (``pyproject.toml``) and of what it pulls in: when one
#: is missing, the scoring app's commands say how to install it instead of vanishing.
APP_MODULES = frozenset({"fastapi", "starlette", "anyio", "uvicorn", "sqlalchemy", "alembic", "mako",
                         "multipart", "python_multipart", "psycopg"})
APP_INSTALL = "pip install 'dsk[app]'"

app.command("agree", help="Agreement statistics for any long-format ratings file.")(agree)
app.command("model", help="Cumulative-link (mixed) model of ordinal levels in any long-format file.")(model)
app.add_typer(rules_app, name="rules")
app.add_typer(panel_app, name="panel")
app.command("plan", help="Study planning: precision and power of designs, simulated on Dask.")(importlib.import_module("dsk.plan_cli").plan)


def _app_missing(name: str, module: str) -> Callable[[typer.Context], None]:
    """A stand-in for an app command when the ``app`` extra is not installed."""

    def command(ctx: typer.Context) -> None:
        raise fail(f"`dsk {name}` needs the scoring app, which is not installed (no module named "
                   f"{module!r}); install it with: {APP_INSTALL}")

    return command


try:  # the scoring app needs the `app` extra
    _app_cli = importlib.import_module("dsk.app.cli")
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] not in APP_MODULES:
        raise
    for _name, _help in (("serve", "Run the practitioners' scoring app."),
                         ("admin", "Researcher accounts of the scoring app."),
                         ("study", "Export studies and import survey responses.")):
        app.command(_name, help=f"{_help} Needs the app extra: {escape(APP_INSTALL)}",
                    context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                      "help_option_names": []})(_app_missing(_name, exc.name or "?"))
else:
    app.command("serve", help="Run the practitioners' scoring app.")(_app_cli.serve)
    app.add_typer(_app_cli.admin_app, name="admin")
    app.add_typer(_app_cli.study_app, name="study")


@vignettes_app.command("generate")
def vignettes_generate(
    n: Annotated[int, typer.Option("--n", "-n", help="Number of vignettes.")] = 60,
    design: Annotated[str, typer.Option(help=f"Design: {', '.join(DESIGNS)}.")] = "random",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 1,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file: .jsonl, .parquet or .csv.")] = Path(
        "vignettes.jsonl"),
    dimensions: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        help="Comma-separated factors or child attributes varied by the d-efficient design.")] = None,
    interaction: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--interaction", help="A two-way interaction the d-efficient design's model includes, as A:B "
        "(two of its --dimensions); repeat for more.")] = None,
    bands: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Stratified counts per band, e.g. low=20,medium=20,high=20.")] = None,
    set_id: Annotated[Optional[str], typer.Option(help="Set id (default: DESIGN-SEED).")] = None,  # noqa: UP045
    max_present: Annotated[Optional[int], typer.Option(  # noqa: UP045
        help="Random and stratified designs: at most this many factors present in one vignette "
        "(8 keeps narratives within 350 words).")] = None,
    no_narratives: Annotated[bool, typer.Option("--no-narratives", help="Skip the text.")] = False,
) -> None:
    """Generate a vignette set and write it to a file."""
    try:
        band_counts = None
        if bands:
            band_counts = {}
            for part in bands.split(","):
                key, _, value = part.partition("=")
                if key.strip() not in BANDS or not value.strip().isdigit():
                    raise fail(f"--bands: expected BAND=COUNT with bands {', '.join(BANDS)}, got {part!r}")
                band_counts[key.strip()] = int(value)
        dims = [d.strip() for d in dimensions.split(",")] if dimensions else None
        if interaction and design != "d-efficient":
            raise fail(f"--interaction: interactions apply only to --design d-efficient, not {design!r}")
        pairs = check_interactions(interaction, dims or [], option="--interaction") if interaction else None
        catalogue = load_catalogue()
        frame = generate(design, n, seed, catalogue, narratives=not no_narratives, set_id=set_id,
                         dimensions=dims, bands=band_counts, interactions=pairs, max_present=max_present)
        write_table(frame, output)
    except (ValueError, RuntimeError, CatalogueError, TableFileError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {len(frame)} vignettes to {output}")
    if "d_efficiency_note" in frame.attrs:
        console.print(escape(frame.attrs["d_efficiency_note"]))
        counts = "; ".join(f"{dim} {'/'.join(map(str, c))}" for dim, c in frame.attrs["level_counts"].items())
        console.print(escape(f"Vignettes per level: {counts}."))
    _print_summary(frame, catalogue)


def _load(path: Path, catalogue: Catalogue) -> pd.DataFrame:
    try:
        return read_vignettes(path, catalogue)
    except (TableFileError, SchemaError, CatalogueError) as exc:
        raise fail(str(exc)) from exc


def _catalogue() -> Catalogue:
    """The bundled catalogue: the CLI is the edge that loads it."""
    try:
        return load_catalogue()
    except CatalogueError as exc:
        raise fail(str(exc)) from exc


@vignettes_app.command("show")
def vignettes_show(
    file: Annotated[Path, typer.Argument(help="Vignettes file.")],
    id: Annotated[str, typer.Option("--id", help="Vignette id.")],  # noqa: A002
) -> None:
    """Print one vignette's narrative and its factors."""
    cat = _catalogue()
    frame = _load(file, cat)
    match = frame[frame["vignette_id"] == id]
    if match.empty:
        sample = ", ".join(frame["vignette_id"].head(3))
        raise fail(f"{file}: no vignette with id {id!r} (ids look like {sample})")
    row = match.iloc[0]
    console.rule(f"{id}  ·  complexity {row['complexity']:.2f} ({row['complexity_band']})")
    console.print(row["narrative"] or "(no narrative)", highlight=False)
    if "note" in frame.columns and isinstance(row.get("note"), str) and row["note"]:
        console.print(f"\n[italic]Teaching note:[/italic] {row['note']}", highlight=False)
    if "teaches" in frame.columns and isinstance(row.get("teaches"), str):
        from dsk.analysis.failures import taught_codes

        codes = taught_codes(row["teaches"])
        console.print(f"[italic]Teaches:[/italic] {', '.join(codes) if codes else 'no reason code'}",
                      highlight=False)
    table = Table(title="Factors present")
    for col in ("factor", "domain", "level", "usual need level", "reported by"):
        table.add_column(col)
    reports = Reports.from_column(cat, [row["reports"]])
    for j, f in enumerate(cat.factors):
        level = int(row[f.id])
        if level == 0:
            continue
        reporters = [cat.agency_ids[a] + (" (reassures)" if s == STANCE_REASSURE and not f.protective else "")
                     for k, a, s in zip(reports.factor, reports.agency, reports.stance, strict=True) if k == j]
        table.add_row(f.label, f.domain, f.levels[level], "protective" if f.protective else str(f.threshold[level]),
                      ", ".join(reporters))
    console.print(table)
    dims = Table(title="Complexity")
    for col in (*COMPLEXITY_COLUMNS, "complexity"):
        dims.add_column(col.removeprefix("cx_"))
    dims.add_row(*(f"{row[c]:.2f}" for c in (*COMPLEXITY_COLUMNS, "complexity")))
    console.print(dims)


@vignettes_app.command("vary")
def vignettes_vary(
    file: Annotated[Path, typer.Argument(help="Vignettes file.")],
    id: Annotated[str, typer.Option("--id", help="The vignette to vary.")],  # noqa: A002
    set_: Annotated[list[str], typer.Option("--set", help="FACTOR=LEVEL, once per change.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the variant (.jsonl, .parquet, .csv).")],
    id_suffix: Annotated[Optional[str], typer.Option("--id-suffix", help="Appended to the id (default -FACTOR-LEVEL).")] = None,  # noqa: UP045
    with_original: Annotated[bool, typer.Option("--with-original", help="Write the original first, then the variant.")] = False,
) -> None:
    """Write a minimal pair: one vignette with chosen factors changed, every other sentence kept."""
    from dsk.vary import VaryError, parse_changes, vary_vignette

    cat = _catalogue()
    frame = _load(file, cat)
    try:
        variant = vary_vignette(frame, id, parse_changes(set_), cat, id_suffix=id_suffix)
    except VaryError as exc:
        raise fail(f"{file}: " + "; ".join(exc.problems)) from exc
    out = variant
    if with_original:
        original = frame[frame["vignette_id"] == id].copy()
        out = pd.concat([original, variant], ignore_index=True)
    try:
        write_table(out, output)
    except (TableFileError, OSError) as exc:
        raise fail(f"{output}: {exc}") from exc
    row = variant.iloc[0]
    console.print(f"{row['vignette_id']}: {row['variation']} -> {output}", highlight=False)
    console.print(row["narrative"], highlight=False)


@vignettes_app.command("describe")
def vignettes_describe(file: Annotated[Path, typer.Argument(help="Vignettes file.")]) -> None:
    """Counts by complexity band, CAF domain and complexity dimension."""
    cat = _catalogue()
    frame = _load(file, cat)
    console.print(f"{file}: {len(frame)} vignettes")
    _print_summary(frame, cat)


def _print_summary(frame: pd.DataFrame, cat: Catalogue) -> None:
    bands = Table(title="Complexity bands")
    bands.add_column("band")
    bands.add_column("vignettes", justify="right")
    bands.add_column("mean complexity", justify="right")
    for band in BANDS:
        part = frame[frame["complexity_band"] == band]
        bands.add_row(band, str(len(part)), f"{part['complexity'].mean():.2f}" if len(part) else "-")
    console.print(bands)
    domains = Table(title="Concerns by CAF domain")
    domains.add_column("domain")
    domains.add_column("vignettes with a concern", justify="right")
    domains.add_column("mean concerns", justify="right")
    for dom in DOMAINS:
        col = f"n_concerns_{dom}"
        if col in frame.columns:
            domains.add_row(dom, str(int((frame[col] > 0).sum())), f"{frame[col].mean():.2f}")
    console.print(domains)
    dims = Table(title="Complexity dimensions")
    for col in ("dimension", "mean", "sd", "share > 0"):
        dims.add_column(col, justify="left" if col == "dimension" else "right")
    for col in (*COMPLEXITY_COLUMNS, "complexity"):
        v = frame[col].to_numpy(dtype=float)
        dims.add_row(col, f"{v.mean():.2f}", f"{v.std():.2f}", f"{np.mean(v > 0):.0%}")
    console.print(dims)
    present = {f.id: int((frame[f.id] > 0).sum()) for f in cat.factors}
    top = sorted(present.items(), key=lambda kv: -kv[1])[:8]
    console.print("most frequent factors: " + ", ".join(f"{k} ({v})" for k, v in top), highlight=False)


@vignettes_app.command("decks")
def vignettes_decks(
    file: Annotated[Path, typer.Argument(help="Vignettes file.")],
    deck_size: Annotated[int, typer.Option(help="Vignettes per respondent.")] = 10,
    respondents: Annotated[int, typer.Option(help="Number of respondents.")] = 20,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    output: Annotated[Path, typer.Option("-o", "--output", help="Deck plan (.csv, .jsonl, .parquet).")] = Path(
        "decks.csv"),
) -> None:
    """Deal a vignette set into balanced decks with a randomised order per respondent."""
    from dsk.design import make_decks

    frame = _load(file, _catalogue())
    try:
        decks = make_decks(list(frame["vignette_id"]), deck_size, respondents, random_state=seed)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    write_table(decks, output)
    shown = decks["vignette_id"].value_counts()
    console.print(f"wrote {len(decks)} rows ({respondents} respondents x {deck_size}) to {output}; each vignette "
                  f"is shown {shown.min()}-{shown.max()} times")


@vignettes_app.command("build-sets")
def vignettes_build_sets(
    check: Annotated[bool, typer.Option(help="Only check that the built files match their sources.")] = False,
) -> None:
    """Rebuild the bundled sets (vignettes/sets/ in the package data) from their YAML sources."""
    import tempfile

    from dsk.sets import build_set, sets_dir, write_set

    cat = _catalogue()
    stale = []
    for source in sorted(sets_dir().glob("*.yaml")):
        try:
            if check:
                built = build_set(source, cat)
                target = source.with_name(f"{built['set_id'].iloc[0]}.jsonl")
                with tempfile.TemporaryDirectory() as tmp:
                    fresh = write_table(built, Path(tmp) / target.name).read_bytes()
                if not target.exists() or target.read_bytes() != fresh:
                    stale.append(target.name)
                continue
            path = write_set(source, cat)
        except (ValueError, CatalogueError, TableFileError) as exc:
            raise fail(str(exc)) from exc
        console.print(f"built {path}")
    if stale:
        raise fail(f"out of date: {', '.join(stale)}; run `dsk vignettes build-sets`")


@app.command("run")
def run(
    config: Annotated[str, typer.Argument(help="Experiment config file, or a bundled id such as quickstart.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Run folder (default: the "  # noqa: UP045
                                                   "config's output, else runs/<id>).")] = None,
) -> None:
    """Run an experiment: vignettes, rules, panels, analyses, tables, report and manifest."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from dsk.experiment import ConfigError, experiments_dir, load_config, run_experiment

    path = Path(config) if Path(config).suffix else experiments_dir() / f"{config}.yaml"
    try:
        cfg = load_config(path)  # every problem at once, before anything runs
    except ConfigError as exc:
        raise _config_failed(exc) from exc
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, message: str) -> None:
            if message == "start":
                tasks[stage] = bar.add_task(f"{stage} ...", total=1)
            else:
                bar.update(tasks[stage], description=f"{stage}: {message}", completed=1)

        try:
            result = run_experiment(cfg, output, progress=progress, config_path=path)
        except ConfigError as exc:
            raise _config_failed(exc) from exc
        except (ValueError, TableFileError, CatalogueError) as exc:
            raise fail(str(exc)) from exc
    console.print(f"tables, manifest and report written to {result.out_dir}")
    console.print(f"open the report: {result.report.resolve()}")


def _config_failed(exc: Exception) -> typer.Exit:
    """Every problem of a config on stderr (exit status 1)."""
    problems = getattr(exc, "problems", None) or [str(exc)]
    if len(problems) > 1:
        typer.echo(f"error: {len(problems)} problems in the experiment config", err=True)
        typer.echo("\n\n".join(problems), err=True)
        return typer.Exit(code=1)
    return fail(problems[0])


@config_app.command("check")
def config_check(
    config: Annotated[str, typer.Argument(help="Experiment config file, or a bundled id such as quickstart.")],
) -> None:
    """Check a config without running it: every problem at once, with file:line:column."""
    from dsk.experiment import ConfigError, experiments_dir, load_config

    path = Path(config) if Path(config).suffix else experiments_dir() / f"{config}.yaml"
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise _config_failed(exc) from exc
    typer.echo(f"{path}: experiment {cfg.id!r} is valid")


@config_app.command("schema")
def config_schema_command() -> None:
    """Print the JSON Schema of an experiment config (for editors and validators)."""
    import json

    from dsk.experiment import config_schema

    typer.echo(json.dumps(config_schema(), indent=2))


@config_app.command("docs")
def config_docs_command() -> None:
    """Print the config reference in Markdown (docs/config.md is this output)."""
    from dsk.experiment import config_docs

    sys.stdout.write(config_docs())


@app.command("report")
def report(run_dir: Annotated[Path, typer.Argument(help="A run folder written by `dsk run`.")]) -> None:
    """Re-render report.html from a run folder."""
    from dsk.report import RunFolderError, render_report

    if not (run_dir / "manifest.json").exists():
        raise fail(f"{run_dir}: not a run folder (no manifest.json)")
    try:
        path = render_report(run_dir)
    except RunFolderError as exc:
        raise fail(str(exc)) from exc
    console.print(f"report written to {path.resolve()}")


@app.command("demo")
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Run folder.")] = Path("runs/quickstart"),
) -> None:
    """The main job on a fresh clone: run the quickstart experiment and say where the report is."""
    run("quickstart", output)


def main() -> None:
    """Entry point of the ``dsk`` script."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
