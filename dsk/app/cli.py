"""Command line of the scoring app: ``dsk serve``, ``dsk admin ...``, ``dsk study ...``.

Mounted by ``dsk/cli.py``: the :func:`serve` command, :data:`admin_app` as ``admin``
and :data:`study_app` as ``study``.

Examples
--------
``dsk admin create`` makes a researcher account in a new database (migrating
it first); errors name what is wrong and exit with status 1:

>>> import tempfile
>>> from pathlib import Path
>>> from typer.testing import CliRunner
>>> from dsk.cli import app as dsk_cli
>>> runner = CliRunner()
>>> with tempfile.TemporaryDirectory() as tmp:
...     db = "sqlite:///" + str(Path(tmp, "app.sqlite3"))
...     created = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                       "a long passphrase", "--db", db])
...     again = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                     "another passphrase", "--db", db])
...     reset = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                     "another passphrase", "--reset", "--db", db])
...     short = runner.invoke(dsk_cli, ["admin", "create", "bob", "--password", "short", "--db", db])
...     missing = runner.invoke(dsk_cli, ["study", "export", "7", "-o", str(Path(tmp, "j.csv")),
...                                       "--db", db])
>>> print(created.output)
researcher 'ada' can now log in
>>> again.exit_code, again.output.strip()
(1, "error: username: an account 'ada' already exists; give --reset to set its password")
>>> print(reset.output.strip())
researcher 'ada': password set; its sessions have ended
>>> short.exit_code, short.output.strip()
(1, 'error: password: expected at least 8 characters')
>>> missing.exit_code, missing.output.strip()
(1, 'error: study_id: no study 7')

``dsk study create`` makes a study from your own vignettes file (or a bundled set),
keeping its vignette ids and set id, with the participants shared between sites; its
owner is ``--owner`` (or the only account):

>>> from dsk.catalogue import load_catalogue
>>> from dsk.design import generate
>>> from dsk.io import write_table
>>> with tempfile.TemporaryDirectory() as tmp:
...     db = "sqlite:///" + str(Path(tmp, "app.sqlite3"))
...     own = write_table(generate("random", 8, 1, load_catalogue(), set_id="ours"),
...                       Path(tmp, "ours.jsonl"))
...     _ = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                 "a long passphrase", "--db", db])
...     made = runner.invoke(dsk_cli, ["study", "create", "--vignettes", str(own), "--title",
...                                    "Pilot", "--deck-size", "4", "--participants", "4",
...                                    "--sites", "Leeds,Bristol", "--owner", "ada", "--db", db])
>>> print(made.output.strip())
created study 1: ours, 4 participants, decks of 4, sites Leeds, Bristol

``dsk study audit ID`` prints a study's audit trail (``--csv FILE`` writes it instead);
what the command line does is recorded with the actor ``cli``:

>>> with tempfile.TemporaryDirectory() as tmp:
...     db = "sqlite:///" + str(Path(tmp, "app.sqlite3"))
...     _ = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                 "a long passphrase", "--db", db])
...     _ = runner.invoke(dsk_cli, ["study", "create", "--set", "training-12", "--title",
...                                 "Pilot", "--deck-size", "4", "--participants", "2",
...                                 "--db", db])
...     shown = runner.invoke(dsk_cli, ["study", "audit", "1", "--db", db])
...     unknown = runner.invoke(dsk_cli, ["study", "audit", "7", "--db", db])
>>> [line.split("  ", 1)[1] for line in shown.output.splitlines()]
['cli  created the study (Pilot)']
>>> unknown.exit_code, unknown.output.strip()
(1, 'error: study_id: no study 7')

``dsk study participants import ID FILE`` imports a participant list (a CSV with the
columns label, site and, optionally, email and profession); a file with a problem
imports nothing, and every problem is printed with its line and column:

>>> with tempfile.TemporaryDirectory() as tmp:
...     db = "sqlite:///" + str(Path(tmp, "app.sqlite3"))
...     _ = runner.invoke(dsk_cli, ["admin", "create", "ada", "--password",
...                                 "a long passphrase", "--db", db])
...     _ = runner.invoke(dsk_cli, ["study", "create", "--set", "training-12", "--title",
...                                 "Pilot", "--deck-size", "4", "--participants", "2",
...                                 "--sites", "Leeds,York", "--db", db])
...     people = Path(tmp, "people.csv")
...     _ = people.write_text("label,site\\nAnna,Leeds\\nBen,Hull\\n", encoding="utf-8")
...     refused = runner.invoke(dsk_cli, ["study", "participants", "import", "1",
...                                       str(people), "--db", db])
...     _ = people.write_text("label,site\\nAnna,Leeds\\nBen,York\\nCara,York\\n",
...                           encoding="utf-8")
...     done = runner.invoke(dsk_cli, ["study", "participants", "import", "1", str(people),
...                                    "--db", db])
>>> refused.exit_code, refused.output.splitlines()[1]
(1, "line 3, column 2 (site): unknown site 'Hull'; expected one of the study's sites: Leeds, York")
>>> print(done.output.strip())
study 1: imported 3 participants (2 in free places, 1 added), 0 e-mail addresses; the study now has 3 participants
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from dsk._cli import fail

DEFAULT_DB = "sqlite:///dsk-app.sqlite3"
DB_HELP = "Database: sqlite:///FILE (default ./dsk-app.sqlite3), a file path, or postgresql://..."

console = Console()

admin_app = typer.Typer(help="Researcher accounts of the scoring app.", no_args_is_help=True)
study_app = typer.Typer(help="Create and export studies; survey export and import.", no_args_is_help=True)


def serve(
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    public_url: Annotated[Optional[str], typer.Option(  # noqa: UP045 - typer needs Optional
        "--public-url", help="Address practitioners reach the app at (https://HOST[:PORT]): "
                             "links are built from it and forms must come from it. Default: "
                             "http://HOST:PORT of --host and --port.")] = None,
    secure_cookies: Annotated[bool, typer.Option(
        "--secure-cookies", help="Behind TLS: Secure __Host- cookies and HSTS (needs an "
                                 "https:// --public-url).")] = False,
    trusted_proxy: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--trusted-proxy", help="Address or network (10.0.0.0/8) of a reverse proxy whose "
                                "X-Forwarded-For header names the client; repeatable. From "
                                "anyone else that header is ignored.")] = None,
    access_log: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--access-log", help="Append the access log (one line per request, participant "
                             "links written /p/[link]) to this file instead of standard "
                             "error.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", help="Worker processes (several need a postgresql:// --db; SQLite is "
                          "served by one).")] = 1,
    smtp: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--smtp", envvar="DSK_SMTP_URL", show_envvar=True,
        help="Mail server for invitations, reminders and links: "
             "smtp://[USER:PASSWORD@]HOST[:PORT]?from=ADDRESS[&starttls=0|1], or smtps:// "
             "for implicit TLS. Without it the app sends no e-mail.")] = None,
) -> None:
    """Run the practitioners' scoring web app (migrates the database first)."""
    from dsk.app import _asgi, create_app
    from dsk.app._logging import server_options
    from dsk.app._workshop import EVERY_INTERFACE, lan_address, room_banner

    if public_url is None:
        if secure_cookies:
            raise fail("public_url: --secure-cookies needs --public-url https://HOST[:PORT]")
        shown = lan_address() if host in EVERY_INTERFACE else host
        public_url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    settings: dict[str, Any] = {"db_url": db, "public_url": public_url,
                                "secure_cookies": secure_cookies,
                                "trusted_proxies": trusted_proxy or []}
    if smtp:
        settings["smtp_url"] = smtp
    try:
        _asgi.check_workers(db, workers)
        if access_log is not None:
            try:
                access_log.open("a", encoding="utf-8").close()
            except OSError as exc:
                raise OSError(f"--access-log: cannot write {access_log}: "
                              f"{exc.strerror or exc}") from exc
        app = create_app(**settings)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"dsk scoring app on http://{host}:{port}/, links to {public_url} "
                  f"(database {db}"
                  f"{f', {workers} worker processes' if workers > 1 else ''}"
                  f"{', e-mail on' if smtp else ', no e-mail'}); Ctrl-C stops it")
    if host in EVERY_INTERFACE:
        typer.echo(room_banner(public_url))
    _asgi.run(app, settings, workers, host=host, port=port, **server_options(access_log))


@admin_app.command("create")
def admin_create(
    username: Annotated[str, typer.Argument(help="Researcher's user name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="Password (asked for when not given).")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
    admin: Annotated[bool, typer.Option("--admin", help="The account manages accounts "
                                                        "(the app's admin pages).")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Set the password of an existing "
                                                        "account (and enable it), ending its "
                                                        "sessions.")] = False,
) -> None:
    """Create a researcher account; an existing one only with --reset."""
    from sqlalchemy import select

    from dsk.app import AppError, open_database
    from dsk.app import _audit as audit
    from dsk.app import _study as st
    from dsk.app._models import Researcher

    try:
        username = st.check_username(username)
        with open_database(db) as session:
            exists = session.scalar(select(Researcher.id)
                                    .where(Researcher.username == username))
            with audit.recording(session, "account_created" if exists is None else
                                 "account_reset", actor="cli",
                                 detail=username.strip() + (" (admin)" if admin else "")):
                st.create_researcher(session, username, password, admin=admin, reset=reset)
    except (AppError, ValueError) as exc:
        raise fail(str(exc)) from exc
    kind = "admin" if admin else "researcher"
    if reset:
        console.print(f"{kind} {username!r}: password set; its sessions have ended")
    else:
        console.print(f"{kind} {username!r} can now log in")


def _switch(username: str, db: str, disabled: bool) -> None:
    from dsk.app import AppError, open_database
    from dsk.app import _audit as audit
    from dsk.app import _study as st

    try:
        with open_database(db) as session, audit.recording(
                session, "account_disabled" if disabled else "account_enabled", actor="cli",
                detail=username.strip()):
            st.set_disabled(session, st.owner_named(session, username).id, disabled, by=None)
    except (AppError, ValueError) as exc:
        raise fail(str(exc).replace("owner: ", "username: ", 1)) from exc


@admin_app.command("disable")
def admin_disable(
    username: Annotated[str, typer.Argument(help="Researcher's user name.")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Disable an account: it can no longer log in, and its sessions end."""
    _switch(username, db, True)
    console.print(f"researcher {username!r} is disabled; their sessions have ended")


@admin_app.command("enable")
def admin_enable(
    username: Annotated[str, typer.Argument(help="Researcher's user name.")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Enable a disabled account again."""
    _switch(username, db, False)
    console.print(f"researcher {username!r} can log in again")


@study_app.command("create")
def study_create(
    title: Annotated[str, typer.Option("--title", help="The study's title.")],
    deck_size: Annotated[int, typer.Option("--deck-size", help="Vignettes per practitioner.")],
    participants: Annotated[int, typer.Option("--participants", help="Number of practitioners.")],
    vignettes: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--vignettes", help="Your own vignettes: .jsonl, .parquet or .csv from `dsk vignettes "
                            "generate`, or a YAML set (.yaml).")] = None,
    set_id: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--set", help="A bundled set instead (core-60, training-12).")] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="1, or 2 with deliberation.")] = 1,
    sites: Annotated[str, typer.Option(
        "--sites", help='Sites, e.g. "Leeds,Bristol" (participants shared evenly) or '
                        '"Leeds:14,Bristol:10".')] = "",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the decks and their orders.")] = 1,
    owner: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--owner", help="User name of the researcher who owns the study (default: the only "
                        "account, when there is just one).")] = None,
    info_sheet: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--info-sheet", help="Information sheet practitioners read before they consent "
                             "(a UTF-8 plain-text file).")] = None,
    contact: Annotated[str, typer.Option("--contact", help="Whom practitioners contact "
                                                           "about the study.")] = "",
    ethics_ref: Annotated[str, typer.Option("--ethics-ref", help="The ethics committee's "
                                                                 "reference.")] = "",
    retention_until: Annotated[str, typer.Option(
        "--retention-until", help="Keep the data until YYYY-MM-DD; `dsk study purge` "
                                  "deletes the study after it.")] = "",
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Create a study from your own vignettes file (or a bundled set) and print its number."""
    import hashlib

    from dsk.app import AppError, open_database
    from dsk.app import _audit as audit
    from dsk.app import _study as st
    from dsk.app._rights import parse_information
    from dsk.catalogue import load_catalogue

    if (vignettes is None) == (set_id is None):
        raise fail("give either --vignettes FILE or --set ID")
    try:
        info = parse_information(_info_sheet(info_sheet), contact, ethics_ref, retention_until,
                                 actor="cli")
        cat = load_catalogue()
        with open_database(db) as session, audit.recording(session, "study_created",
                                                           actor="cli", detail=title.strip()):
            who = st.owner_named(session, owner)
            if vignettes is not None:
                frame = st.read_vignettes_file(vignettes, cat)
                study = st.create_study(
                    session, owner=who, title=title, deck_size=deck_size, n_participants=participants,
                    rounds=rounds, seed=seed, sites=sites, catalogue=cat, vignettes=frame,
                    source=vignettes.name,
                    source_sha256=hashlib.sha256(vignettes.read_bytes()).hexdigest(),
                    information=info)
            else:
                study = st.create_study(
                    session, owner=who, title=title, set_id=str(set_id), deck_size=deck_size,
                    n_participants=participants, rounds=rounds, seed=seed, sites=sites,
                    catalogue=cat, information=info)
            where = f", sites {', '.join(st.sites_of(study))}" if st.sites_of(study) else ""
            console.print(f"created study {study.id}: {study.set_id}, {participants} "
                          f"participants, decks of {deck_size}{where}")
    except (AppError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc


def _info_sheet(path: Path | None) -> str:
    """The text of ``--info-sheet FILE`` ("" without one); problems name the file."""
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"info_sheet: {path}: not UTF-8 text ({exc.reason} at byte "
                         f"{exc.start})") from exc
    except OSError as exc:
        raise ValueError(f"info_sheet: {path}: {exc.strerror or exc}") from exc


@study_app.command("export")
def study_export(
    study_id: Annotated[int, typer.Argument(help="Study number (shown in its page address).")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Judgements file: .parquet or .jsonl (for analysis, exact "
                               "text) or .csv (for spreadsheets: text cells that start "
                               "with = + - @ get a leading ').")],
    excel: Annotated[bool, typer.Option(
        "--excel", help="Start a .csv with a UTF-8 byte-order mark, for Excel.")] = False,
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Write a study's submitted judgements (the judgements table of dsk.schema) and say
    how many withdrawn participants were removed and how many answers were left out as
    never submitted (in a Parquet file, also in its metadata)."""
    from dsk.app import AppError, export_judgements, open_database
    from dsk.app import _study as st
    from dsk.app._rights import WITHDRAWN_KEY, add_parquet_metadata, withdrawn_count
    from dsk.app._survey import spreadsheet_csv
    from dsk.io import TableFileError, table_format, write_table

    try:
        spreadsheet = table_format(output) == "csv"
        if excel and not spreadsheet:
            raise TableFileError(f"{output}: --excel applies to a .csv output only")
        frame = export_judgements(db, study_id)
        with open_database(db) as session:
            withdrawn = withdrawn_count(session, study_id)
            unsubmitted = st.unsubmitted_count(session, st.get_study(session, study_id))
        if spreadsheet:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(spreadsheet_csv(frame, excel=excel), encoding="utf-8",
                              newline="")
        else:
            write_table(frame, output)
            if table_format(output) == "parquet":
                add_parquet_metadata(output, {WITHDRAWN_KEY: str(withdrawn),
                                              st.UNSUBMITTED_KEY: str(unsubmitted)})
        _exported(db, study_id, output.name + (" for Excel" if excel else ""))
    except (AppError, ValueError, TableFileError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {len(frame)} judgements to {output}; {withdrawn} withdrawn "
                  f"participant{'s' * (withdrawn != 1)} removed; {unsubmitted} "
                  f"answer{'s' * (unsubmitted != 1)} saved but never submitted left out")


@study_app.command("purge")
def study_purge(
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the studies that "
                                                            "would be deleted.")] = False,
    today: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--today", help="Take this date (YYYY-MM-DD) as today instead of the UTC date.")] = None,
) -> None:
    """Delete every study whose retention date has passed, with all its data (logged)."""
    from dsk.app import AppError, open_database
    from dsk.app._rights import parse_date, purge

    try:
        on = parse_date(today, "today")
        with open_database(db) as session:
            done = purge(session, on, dry_run=dry_run)
    except (AppError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if not done:
        console.print("no study is past its retention date")
    for study in done:
        console.print(f"{'would delete' if dry_run else 'deleted'} {study.describe()}",
                      highlight=False, markup=False, soft_wrap=True)


def _exported(db: str, study_id: int, what: str) -> None:
    """Record an export from the command line in the study's audit trail."""
    from dsk.app import _audit as audit
    from dsk.app import open_database

    with open_database(db) as session:
        audit.record_now(session, "exported", actor="cli", study_id=study_id, detail=what)


@study_app.command("survey")
def study_survey(
    study_id: Annotated[int, typer.Argument(help="Study number.")],
    output: Annotated[Path, typer.Option("-o", "--output",
                                         help="Survey file: .csv (generic) or .txt (Qualtrics).")],
    excel: Annotated[bool, typer.Option(
        "--excel", help="Start a .csv with a UTF-8 byte-order mark, for Excel.")] = False,
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Write a study's decks as a generic survey CSV or a Qualtrics Advanced Format file."""
    from dsk.app import AppError, survey_design_of, write_survey
    from dsk.catalogue import load_catalogue

    try:
        cat = load_catalogue()
        design = survey_design_of(db, study_id, cat)
        write_survey(design, output, cat, excel=excel)
        _exported(db, study_id, output.name + (" for Excel" if excel else ""))
    except (AppError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote the survey of study {study_id} to {output}")


@study_app.command("audit")
def study_audit(
    study_id: Annotated[int, typer.Argument(help="Study number.")],
    csv: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--csv", help="Write the trail to this CSV file instead (for spreadsheets: text "
                      "cells that start with = + - @ get a leading ').")] = None,
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Print a study's audit trail, oldest first: when (UTC), who, what, detail, from where.

    A deleted study's trail is kept and printed too; printing or writing it is recorded.
    """
    from dsk.app import AppError, open_database
    from dsk.app import _audit as audit
    from dsk.app._models import Study
    from dsk.app._survey import spreadsheet_csv

    try:
        with open_database(db) as session:
            lines = audit.trail(session, study_id)
            if lines.empty and session.get(Study, study_id) is None:
                raise AppError(f"no study {study_id}", status=404, field="study_id")
            if csv is not None:
                csv.parent.mkdir(parents=True, exist_ok=True)
                csv.write_text(spreadsheet_csv(lines), encoding="utf-8", newline="")
            audit.record_now(session, "audit_viewed" if csv is None else "audit_exported",
                             actor="cli", study_id=study_id,
                             detail="" if csv is None else csv.name)
    except (AppError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    if csv is not None:
        console.print(f"wrote the {len(lines)} lines of the audit trail of study {study_id} "
                      f"to {csv}", markup=False, highlight=False)
        return
    if lines.empty:
        typer.echo(f"study {study_id}: nothing recorded yet")
    for line in lines.to_dict("records"):
        # plain lines, not rich markup: names and details are the users' own text
        detail, client = str(line["detail"]), str(line["client"])
        typer.echo(f"{line['at']}  {line['actor']}  {line['what']}"
                   + (f" ({detail})" if detail else "") + (f"  from {client}" if client else ""))


@study_app.command("import")
def study_import(
    responses: Annotated[Path, typer.Argument(help="Survey platform's response export (CSV).")],
    design: Annotated[Path, typer.Option("--design", help="The survey CSV the survey was built "
                                                          "from (`dsk study survey`).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Judgements file to write.")],
    panel_id: Annotated[Optional[str], typer.Option(help="Panel id (default: the study's).")] = None,  # noqa: UP045
    round_: Annotated[int, typer.Option("--round", help="Round these answers belong to.")] = 1,
) -> None:
    """Turn survey responses into judgements (rater_kind human)."""
    from dsk.app import SurveyError, import_survey, read_survey
    from dsk.catalogue import load_catalogue
    from dsk.io import write_table

    try:
        frame = import_survey(responses, read_survey(design), panel_id=panel_id, round=round_,
                              catalogue=load_catalogue())
        write_table(frame, output)
    except (SurveyError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {len(frame)} judgements from {responses} to {output}")


participants_app = typer.Typer(help="A study's participant list.", no_args_is_help=True)
study_app.add_typer(participants_app, name="participants")


@participants_app.command("import")
def participants_import(
    study_id: Annotated[int, typer.Argument(help="Study number.")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8) with the columns label, site and, "
                                              "optionally, email and profession.")],
    db: Annotated[str, typer.Option("--db", help=DB_HELP)] = DEFAULT_DB,
) -> None:
    """Import participants into a study: each takes the first free place of their site,
    the others are added with the next decks. A file with problems imports nothing and
    every problem is printed with its line and column."""
    from dsk.app import AppError, open_database
    from dsk.app import _roster as roster
    from dsk.app import _study as st
    from dsk.app._state import _professions
    from dsk.catalogue import load_catalogue

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"participants_file: {file}: {exc.strerror or exc}") from exc
    try:
        with open_database(db) as session:
            study = st.get_study(session, study_id)
            done = roster.import_participants(session, study, data, name=str(file),
                                              professions=_professions(load_catalogue()),
                                              actor="cli")
    except (AppError, ValueError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"study {study_id}: imported {done.describe()}; the study now has "
                  f"{study.n_participants} participants", markup=False, highlight=False)
