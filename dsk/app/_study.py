"""Study logic: creation, decks, links, answers, round-2 feedback, judgements export.

Functions take an open SQLAlchemy session; the web layer and the CLI share them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsk._yaml import LineDict, load_yaml
from dsk.catalogue import Catalogue
from dsk.decks import make_decks
from dsk.io import read_vignettes
from dsk.schema import columns, validate
from dsk.sets import build_set, bundled_sets, load_set

from ._db import writing
from ._models import (
    Assignment,
    Collaborator,
    HiddenReason,
    Participant,
    Researcher,
    ResearcherSession,
    Response,
    RoundSubmission,
    Study,
    StudyVignette,
    utcnow,
)
from ._security import hash_password, new_token, token_hash, verify_password

if TYPE_CHECKING:
    from ._rights import StudyInformation

JUDGEMENT_COLUMNS = tuple(c.name for c in columns("judgements"))
#: Extra columns the app adds after the schema's (allowed by ``validate``).
EXTRA_COLUMNS = ("study_id", "salient_other", "submitted_at")
MAX_TEXT = 5000
#: Largest row id the databases' INTEGER columns hold: a larger id in a URL (``2**70``) is
#: a missing row, never a query that overflows (a server error on both backends).
MAX_ID = 2**31 - 1


class AppError(Exception):
    """A refused request. ``field`` names the form field at fault, when there is one;
    ``headers`` are sent with the error page (``Retry-After`` of a 429, say)."""

    def __init__(self, message: str, status: int = 400, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = str(self)
        self.status = status
        self.field = field
        self.headers = headers or {}


# ---------------------------------------------------------------- researchers


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AppError("expected at least 8 characters", status=422, field="password")


def check_username(username: str) -> str:
    r"""A new account's user name without surrounding spaces, or a 422 naming the problem.

    Examples
    --------
    >>> check_username("  ada ")
    'ada'
    >>> try:
    ...     check_username("ev\x00e")
    ... except AppError as exc:
    ...     print(exc.message)
    username: contains the control character U+0000 at character 3; choose a user name without it
    """
    username = username.strip()
    if not username:
        raise AppError("expected a user name", status=422, field="username")
    if len(username) > 100:
        raise AppError("expected at most 100 characters", status=422, field="username")
    bad = _CONTROL.search(username)
    if bad is not None:  # the command line reaches here without the web form's guard
        raise AppError(f"contains the control character U+{ord(bad.group()):04X} at character "
                       f"{bad.start() + 1}; choose a user name without it", status=422,
                       field="username")
    return username


def create_researcher(db: Session, username: str, password: str, *, admin: bool = False,
                      reset: bool = False) -> Researcher:
    """Add a researcher account (an admin one when ``admin``).

    An existing account is refused unless ``reset``, which sets its password (and makes
    it an admin when ``admin``), enables it and ends all its sessions.
    """
    username = check_username(username)
    _check_password(password)
    found = db.scalar(select(Researcher).where(Researcher.username == username))
    if found is None:
        found = Researcher(username=username, password_hash=hash_password(password),
                           is_admin=admin, disabled=False)
        db.add(found)
    elif not reset:
        raise AppError(f"an account {username!r} already exists; give --reset to set its "
                       "password", status=409, field="username")
    else:
        found.password_hash = hash_password(password)
        found.is_admin = found.is_admin or admin
        found.disabled = False
        end_sessions(db, found)
    try:
        db.commit()
    except IntegrityError:  # made at the same moment by someone else
        db.rollback()
        raise AppError(f"an account {username!r} already exists; give --reset to set its "
                       "password", status=409, field="username") from None
    return found


def end_sessions(db: Session, researcher: Researcher, keep: str | None = None) -> None:
    """End every session of ``researcher`` except the one whose token hash is ``keep``."""
    query = delete(ResearcherSession).where(ResearcherSession.researcher_id == researcher.id)
    if keep is not None:
        query = query.where(ResearcherSession.token_hash != keep)
    db.execute(query)


def change_password(db: Session, researcher: Researcher, current: str, new: str,
                    keep: str | None = None) -> None:
    """Set a new password after checking the current one; end the account's other sessions."""
    if not verify_password(current, researcher.password_hash):
        raise AppError("wrong password", status=422, field="current_password")
    try:
        _check_password(new)
    except AppError:
        raise AppError("expected at least 8 characters", status=422,
                       field="new_password") from None
    researcher.password_hash = hash_password(new)
    end_sessions(db, researcher, keep)
    db.commit()


def set_disabled(db: Session, researcher_id: int, disabled: bool, by: Researcher | None
                 ) -> Researcher:
    """Disable (ending its sessions) or enable an account; an admin (``by``, None on the
    command line) cannot disable their own."""
    found = db.get(Researcher, researcher_id) if 0 < researcher_id <= MAX_ID else None
    if found is None:
        raise AppError(f"no account {researcher_id}", status=404, field="researcher_id")
    if disabled and by is not None and found.id == by.id:
        raise AppError("you cannot disable your own account", status=409, field="researcher_id")
    found.disabled = disabled
    if disabled:
        end_sessions(db, found)
    db.commit()
    return found


def owner_named(db: Session, username: str | None) -> Researcher:
    """The account ``username`` (for ``dsk study create --owner``); without a name, the
    only account when there is exactly one."""
    if username is not None:
        found = db.scalar(select(Researcher).where(Researcher.username == username.strip()))
        if found is None:
            raise AppError(f"no account {username.strip()[:100]!r}; create it with "
                           "`dsk admin create`", status=422, field="owner")
        return found
    accounts = list(db.scalars(select(Researcher).order_by(Researcher.id).limit(2)))
    if len(accounts) != 1:
        raise AppError("give --owner USERNAME, the researcher who owns the study" if accounts
                       else "no researcher account yet; create one with `dsk admin create`",
                       status=422, field="owner")
    return accounts[0]


# ---------------------------------------------------------------- roles

#: A study's roles, weakest first: a viewer sees progress and exports; an editor also
#: manages participants and rounds; the owner also manages collaborators.
ROLES = ("viewer", "editor", "owner")


def role_of(db: Session, study: Study, researcher: Researcher) -> str | None:
    """``researcher``'s role in ``study`` (``owner``, ``editor``, ``viewer``) or None."""
    if study.owner_id == researcher.id:
        return "owner"
    return db.scalar(select(Collaborator.role).where(Collaborator.study_id == study.id,
                                                     Collaborator.researcher_id == researcher.id))


def study_for(db: Session, study_id: int, researcher: Researcher, need: str = "viewer"
              ) -> tuple[Study, str]:
    """The study and ``researcher``'s role in it, when that role is at least ``need``.

    A study the researcher has no role in is refused exactly like a missing one (404);
    a role too weak for the action is a 403.

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada, bob, eve = (create_researcher(db, name, "a long passphrase")
    ...                      for name in ("ada", "bob", "eve"))
    ...     study = create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                          deck_size=3, n_participants=2, rounds=1,
    ...                          catalogue=load_catalogue())
    ...     _ = add_collaborator(db, study, "bob", "viewer")
    ...     print(study_for(db, study.id, bob)[1], [s.title for s, _ in visible_studies(db, bob)])
    ...     for who, need in ((bob, "editor"), (eve, "viewer")):
    ...         try:
    ...             study_for(db, study.id, who, need)
    ...         except AppError as exc:
    ...             print(exc.status, exc.message)
    viewer ['Pilot']
    403 role: needs the editor role in this study; you are a viewer
    404 study_id: no study 1
    """
    study = db.get(Study, study_id) if 0 < study_id <= MAX_ID else None
    role = role_of(db, study, researcher) if study is not None else None
    if study is None or role is None:
        raise AppError(f"no study {study_id}", status=404, field="study_id")
    if ROLES.index(role) < ROLES.index(need):
        raise AppError(f"needs the {need} role in this study; you are a {role}", status=403,
                       field="role")
    return study, role


def visible_studies(db: Session, researcher: Researcher) -> list[tuple[Study, str]]:
    """The studies ``researcher`` owns or collaborates on, newest first, with the role."""
    shared = {int(sid): str(role) for sid, role in db.execute(
        select(Collaborator.study_id, Collaborator.role)
        .where(Collaborator.researcher_id == researcher.id))}
    studies = db.scalars(select(Study).where(or_(Study.owner_id == researcher.id,
                                                 Study.id.in_(list(shared) or [-1])))
                         .order_by(Study.id.desc()))
    return [(s, "owner" if s.owner_id == researcher.id else shared[s.id]) for s in studies]


def collaborators(db: Session, study: Study) -> list[tuple[Researcher, str]]:
    """The study's collaborators and their roles, by user name."""
    return [(r, str(role)) for r, role in db.execute(
        select(Researcher, Collaborator.role)
        .join(Collaborator, Collaborator.researcher_id == Researcher.id)
        .where(Collaborator.study_id == study.id).order_by(Researcher.username))]


def add_collaborator(db: Session, study: Study, username: str, role: str) -> Collaborator:
    """Give the researcher ``username`` the ``role`` (viewer or editor) in ``study``, or
    change the role they have."""
    if role not in ("viewer", "editor"):
        raise AppError(f"expected viewer or editor, got {role[:40]!r}", status=422, field="role")
    found = db.scalar(select(Researcher).where(Researcher.username == username.strip()))
    if found is None:
        raise AppError(f"no account {username.strip()[:100]!r}", status=422, field="username")
    if found.id == study.owner_id:
        raise AppError(f"{found.username!r} owns the study", status=422, field="username")
    row = db.get(Collaborator, (study.id, found.id))
    if row is None:
        row = Collaborator(study_id=study.id, researcher_id=found.id, role=role)
        db.add(row)
    else:
        row.role = role
    try:
        db.commit()
    except IntegrityError:  # added at the same moment in another request
        db.rollback()
        raise AppError(f"{found.username!r} was just added; reload the page", status=409,
                       field="username") from None
    return row


def remove_collaborator(db: Session, study: Study, researcher_id: int | str) -> None:
    """Take away a collaborator's role in ``study`` (the study no longer exists for them)."""
    wanted = _int_field(researcher_id, "researcher_id", 1, MAX_ID)
    row = db.get(Collaborator, (study.id, wanted))
    if row is None:
        raise AppError(f"account {wanted} is not a collaborator of this study", status=422,
                       field="researcher_id")
    db.delete(row)
    db.commit()


# ---------------------------------------------------------------- studies


#: ASCII digits only: ``int()`` would also take ``+3``, ``-3``, ``3_000`` and other scripts'
#: digits such as ``٣``.
_DIGITS = re.compile(r"[0-9]{1,12}")


def _int_field(value: Any, name: str, lo: int, hi: int) -> int:
    r"""A whole number from ``lo`` to ``hi`` written in ASCII digits, or a 422 naming ``name``.

    Spaces around the digits are ignored (``" 3 "`` is 3); a sign, a decimal point, digit
    separators and digits of other scripts are refused, and a refused value is echoed
    cut to 40 characters.

    Examples
    --------
    >>> _int_field(" 3 ", "deck_size", 1, 10)
    3
    >>> for bad in ("+3", "\u0663", "3.0", "-1"):
    ...     try:
    ...         _int_field(bad, "deck_size", 0, 10)
    ...     except AppError as exc:
    ...         print(exc.status, exc.message)
    422 deck_size: expected a whole number from 0 to 10 in the digits 0-9, got '+3'
    422 deck_size: expected a whole number from 0 to 10 in the digits 0-9, got '\u0663'
    422 deck_size: expected a whole number from 0 to 10 in the digits 0-9, got '3.0'
    422 deck_size: expected a whole number from 0 to 10 in the digits 0-9, got '-1'
    """
    text = str(value if value is not None else "").strip(" \t")
    if not text:
        raise AppError("missing; expected a whole number", status=422, field=name)
    if not _DIGITS.fullmatch(text):
        raise AppError(f"expected a whole number from {lo} to {hi} in the digits 0-9, "
                       f"got {ascii(text[:40])}", status=422, field=name)
    number = int(text)
    if not lo <= number <= hi:
        raise AppError(f"expected a whole number from {lo} to {hi}, got {number}", status=422,
                       field=name)
    return number


#: Form fields that may carry several values (a group of checkboxes); any other field
#: given twice is refused.
MULTI_VALUED = frozenset({"salient_factors"})
#: Most characters any form field may hold (the longest, the rationale, allows MAX_TEXT).
MAX_FIELD = 10_000
#: C0 control characters other than tab, line feed and carriage return (browsers send a
#: text area's line breaks as CR LF).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _field_name(key: str) -> str:
    """A form field's name as shown in a message (odd names quoted and cut short)."""
    return key if re.fullmatch(r"[A-Za-z0-9_]{1,60}", key) else ascii(key[:40])


def check_form(items: Sequence[tuple[str, Any]]) -> None:
    r"""Refuse (422, naming the field) a form that no page of the app sends.

    ``items`` are a form's ``(name, value)`` pairs (``FormData.multi_items()``). Refused:
    a name or text value with a C0 control character other than tab, line feed or
    carriage return (PostgreSQL cannot store NUL); a text value longer than
    :data:`MAX_FIELD` characters; a field other than :data:`MULTI_VALUED` given more than
    once. Uploaded files are checked by name only. The refused value is never echoed.

    Examples
    --------
    >>> check_form([("rationale", "line one\r\nline two\tend"), ("salient_factors", "a"),
    ...             ("salient_factors", "b")])
    >>> for form in ([("rationale", "a\x00b")], [("need_level", "1"), ("need_level", "2")],
    ...              [("title", "x" * 10**6)]):
    ...     try:
    ...         check_form(form)
    ...     except AppError as exc:
    ...         print(exc.status, exc.message)
    422 rationale: contains the control character U+0000 at character 2; remove it and send the form again
    422 need_level: given 2 times; expected one value
    422 title: expected at most 10000 characters, got 1000000
    """
    seen: Counter[str] = Counter()
    for key, value in items:
        name = _field_name(key)
        text = value if isinstance(value, str) else getattr(value, "filename", None) or ""
        for what in (key, text):
            bad = _CONTROL.search(what)
            if bad is not None:
                where = "in its name" if what is key else f"at character {bad.start() + 1}"
                raise AppError(f"contains the control character U+{ord(bad.group()):04X} "
                               f"{where}; remove it and send the form again",
                               status=422, field=name)
        if len(text) > MAX_FIELD:
            raise AppError(f"expected at most {MAX_FIELD} characters, got {len(text)}",
                           status=422, field=name)
        seen[key] += 1
        if seen[key] == 2 and key not in MULTI_VALUED:
            count = sum(1 for k, _ in items if k == key)
            raise AppError(f"given {count} times; expected one value", status=422, field=name)


#: Suffixes of the vignette files a study can be made from.
VIGNETTE_SUFFIXES = (".jsonl", ".ndjson", ".parquet", ".pq", ".csv", ".yaml", ".yml")


def read_vignettes_file(path: str | Path, catalogue: Catalogue, *, name: str | None = None
                        ) -> pd.DataFrame:
    """Read a researcher's own vignettes: a generated file or a hand-authored YAML set.

    JSON Lines, Parquet and CSV files (as ``dsk vignettes generate`` writes them) are read
    with :func:`dsk.io.read_vignettes`; ``.yaml``/``.yml`` set sources (``id``, ``seed`` and
    ``vignettes:`` or a design) are built with :func:`dsk.sets.build_set`. Every problem
    is an :class:`AppError` on the field ``vignettes_file`` naming the file (as ``name``,
    when given, e.g. the name of an uploaded file), the line and the field.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     bad = Path(tmp, "upload.csv")
    ...     _ = bad.write_text("vignette_id,set_id\\nv1,mine\\n")
    ...     try:
    ...         read_vignettes_file(bad, load_catalogue(), name="mine.csv")
    ...     except AppError as exc:
    ...         print(exc.message.split(":")[:2])
    ['vignettes_file', ' mine.csv']
    """
    path = Path(path)
    shown = name or str(path)
    suffix = vignettes_suffix(shown)
    try:
        if suffix in (".yaml", ".yml"):
            frame = build_set(path, catalogue)
        else:
            frame = read_vignettes(path, catalogue)
    except Exception as exc:  # noqa: BLE001 - an uploaded file must never give a server error
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        if not isinstance(exc, (ValueError, KeyError, OSError)):
            message = f"{shown}: not a vignettes file this app can read ({message})"
        if suffix in (".yaml", ".yml"):
            message = _with_yaml_line(message, path)
        if name is not None:
            message = message.replace(str(path), name)
        if not message.startswith(shown):
            message = f"{shown}: {message}"
        raise AppError(message, status=422, field="vignettes_file") from exc
    empty = [str(v) for v, text in zip(frame["vignette_id"], frame["narrative"], strict=True)
             if not isinstance(text, str) or not text.strip()]
    if empty:
        raise AppError(f"{shown}: vignette {empty[0]!r} has no narrative to show practitioners; "
                       "generate the file with narratives", status=422, field="vignettes_file")
    _check_stored_text(frame, shown)
    return frame


def vignettes_suffix(name: str) -> str:
    """The suffix of a vignettes file's ``name`` (lower case), or a 422 for another kind of
    file. An uploaded file is stored under this suffix, so that a long or odd name is never
    a file name the system refuses.

    >>> vignettes_suffix("Our Pilot.CSV")
    '.csv'
    >>> vignettes_suffix("cases.xlsx")
    Traceback (most recent call last):
    ...
    dsk.app._study.AppError: vignettes_file: cases.xlsx: unknown file type '.xlsx'; expected a vignettes file (.jsonl, .parquet or .csv, as `dsk vignettes generate` writes them) or a YAML set (.yaml)
    """
    suffix = Path(name).suffix.lower()
    if suffix not in VIGNETTE_SUFFIXES:
        raise AppError(f"{name[:300]}: unknown file type {suffix[:40] or '(none)'!r}; expected a "
                       "vignettes file (.jsonl, .parquet or .csv, as `dsk vignettes generate` "
                       "writes them) or a YAML set (.yaml)", status=422, field="vignettes_file")
    return suffix


#: The largest vignettes file a researcher or trainer may upload.
MAX_UPLOAD = 20 * 2**20


def read_uploaded_vignettes(data: bytes, name: str, catalogue: Catalogue) -> pd.DataFrame:
    """An uploaded vignettes file's table (:func:`read_vignettes_file`), or a 422 naming the
    file when it is larger than :data:`MAX_UPLOAD`, of another kind, or cannot be used."""
    if len(data) > MAX_UPLOAD:
        raise AppError(f"{name}: expected a file of at most {MAX_UPLOAD // 2**20} MB",
                       status=422, field="vignettes_file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{vignettes_suffix(name)}"
        path.write_bytes(data)
        return read_vignettes_file(path, catalogue, name=name)


def _check_stored_text(frame: pd.DataFrame, shown: str) -> None:
    """Refuse (422) vignettes whose stored text the database would refuse: an id longer
    than the 100 characters its column holds, or a C0 control character (other than tab
    and line breaks) in an id, a set id or a narrative (PostgreSQL cannot store NUL)."""
    for row, (vid, set_id, narrative) in enumerate(zip(
            frame["vignette_id"], frame["set_id"], frame["narrative"], strict=True), start=1):
        named = (f"vignette {str(vid)[:40]!r}" if not _CONTROL.search(str(vid))
                 else f"the vignette in row {row}")
        if len(str(vid)) > 100:
            raise AppError(f"{shown}: {named}: expected a vignette_id of at most 100 characters, "
                           f"got {len(str(vid))}", status=422, field="vignettes_file")
        for column, text in (("vignette_id", vid), ("set_id", set_id), ("narrative", narrative)):
            bad = _CONTROL.search(str(text))
            if bad is not None:
                raise AppError(f"{shown}: {named}: {column} contains the control character "
                               f"U+{ord(bad.group()):04X} at character {bad.start() + 1}; "
                               "remove it", status=422, field="vignettes_file")


def _with_yaml_line(message: str, path: Path) -> str:
    """Add the line to a set builder's ``vignette 'id': ...`` message that lacks one: the
    line of the field it names inside that vignette, or else the vignette's first line."""
    found = re.match(rf"{re.escape(str(path))}: vignette '([^']+)': (.*)", message, re.S)
    if found is None:
        return message
    try:
        spec = load_yaml(path)
    except ValueError:
        return message
    vignettes = spec.get("vignettes") if isinstance(spec, dict) else None
    entry = next((v for v in vignettes or [] if isinstance(v, LineDict)
                  and str(v.get("id")) == found.group(1)), None)
    if entry is None:
        return message
    named = re.findall(r"'([^']+)'", found.group(2))
    line = entry.line
    for mapping in (entry, *(v for v in entry.values() if isinstance(v, LineDict))):
        hit = next((k for k in named if k in mapping), None)
        if hit is not None:
            line = mapping.key_line(hit)
            break
    return f"{path}, line {line}: vignette {found.group(1)!r}: {found.group(2)}"


def parse_sites(text: str | Sequence[str], n_participants: int) -> list[tuple[str, int]]:
    """Sites and how many participants each gets.

    ``text`` is a comma-separated list of site names (``"Leeds, Bristol"``), which share
    the participants as evenly as possible (earlier sites get one more), or of
    ``name:count`` pairs whose counts add up to ``n_participants``. Empty: no sites.

    Examples
    --------
    >>> parse_sites("Leeds, Bristol", 5)
    [('Leeds', 3), ('Bristol', 2)]
    >>> parse_sites("Leeds:1,Bristol:4", 5)
    [('Leeds', 1), ('Bristol', 4)]
    >>> parse_sites("", 5)
    []
    """
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    parts = [p for p in parts if p]
    if not parts:
        return []
    names: list[str] = []
    counts: list[int | None] = []
    for part in parts:
        name, sep, count = part.rpartition(":") if ":" in part else (part, "", "")
        name = name.strip()
        if not name:
            raise AppError(f"expected site names separated by commas, got {part[:40]!r}",
                           status=422, field="sites")
        if len(name) > 100:
            raise AppError(f"expected site names of at most 100 characters, got {name[:40]!r}...",
                           status=422, field="sites")
        if name in names:
            raise AppError(f"site {name!r} is given twice", status=422, field="sites")
        names.append(name)
        counts.append(_int_field(count, "sites", 1, 1000) if sep else None)
    if any(c is not None for c in counts):
        if any(c is None for c in counts):
            raise AppError("give a count for every site (Leeds:12, Bristol:12) or for none",
                           status=422, field="sites")
        total = sum(c for c in counts if c is not None)
        if total != n_participants:
            raise AppError(f"the sites' counts add up to {total}, but the study has "
                           f"{n_participants} participants", status=422, field="sites")
        return [(name, int(c or 0)) for name, c in zip(names, counts, strict=True)]
    if len(names) > n_participants:
        raise AppError(f"{len(names)} sites but only {n_participants} participants; every site "
                       "needs at least one", status=422, field="sites")
    base, extra = divmod(n_participants, len(names))
    return [(name, base + (i < extra)) for i, name in enumerate(names)]


def sites_of(study: Study) -> list[str]:
    """The study's site names, in the order they were given (empty: no sites)."""
    return [str(s) for s in json.loads(study.sites or "[]")]


def create_study(db: Session, *, owner: Researcher | int, title: str, set_id: str = "",
                 deck_size: int | str,
                 n_participants: int | str, rounds: int | str, seed: int | str = 1,
                 catalogue: Catalogue, vignettes: pd.DataFrame | None = None,
                 source: str = "", source_sha256: str = "",
                 sites: str | Sequence[str] = "",
                 information: StudyInformation | None = None) -> Study:
    """Create a study: copy the vignettes, deal decks (balanced, counterbalanced orders).

    The vignettes are the bundled set ``set_id``, or ``vignettes`` (a researcher's own
    set, see :func:`read_vignettes_file`), whose vignette ids and ``set_id`` are kept;
    ``source`` and ``source_sha256`` record the file it came from. ``sites`` (see
    :func:`parse_sites`) splits the participants into consecutive blocks, one per site,
    so each site is dealt the decks in turn like the whole study. ``owner`` (an account
    or its id) is the researcher who owns the study. ``information`` (see
    :func:`dsk.app._rights.parse_information`) is its information sheet, contact,
    ethics reference and retention date.
    """
    for name, text in (("title", title or ""),
                       ("sites", sites if isinstance(sites, str) else ",".join(sites))):
        check_form([(name, text)])  # as the web form is checked, for `dsk study create`
    title = (title or "").strip()
    if not title:
        raise AppError("missing; give the study a title", status=422, field="title")
    if len(title) > 200:
        raise AppError("expected at most 200 characters", status=422, field="title")
    if vignettes is None:
        if set_id not in bundled_sets():
            raise AppError(f"expected one of {', '.join(bundled_sets())}, got {set_id!r}",
                           status=422, field="set_id")
        vignettes = load_set(set_id, catalogue)
        source, source_sha256 = "", ""
    else:
        set_id = ",".join(sorted({str(s) for s in vignettes["set_id"]}))[:100]
    deck = _int_field(deck_size, "deck_size", 1, len(vignettes))
    n = _int_field(n_participants, "n_participants", 1, 1000)
    n_rounds = _int_field(rounds, "rounds", 1, 2)
    seed_value = _int_field(seed, "seed", 0, 2**31 - 1)
    site_counts = parse_sites(sites, n)
    decks = make_decks(list(vignettes["vignette_id"]), deck, n, random_state=seed_value)
    owner_id = owner if isinstance(owner, int) else owner.id
    owner_row = db.get(Researcher, owner_id)
    if owner_row is None:
        raise AppError(f"no account {owner_id}", status=422, field="owner")
    study = Study(owner_id=owner_id, title=title, set_id=set_id, deck_size=deck, n_participants=n, rounds=n_rounds,
                  seed=seed_value, phase="round1", source=source[:300],
                  source_sha256=source_sha256,
                  sites=json.dumps([name for name, _ in site_counts], ensure_ascii=False))
    db.add(study)
    db.flush()
    if information is not None:
        information.apply(db, study, owner_row)
    for i, v in enumerate(vignettes.to_dict("records")):
        db.add(StudyVignette(study_id=study.id, vignette_id=str(v["vignette_id"]), ordinal=i,
                             narrative=v["narrative"] or "",
                             complexity_band=str(v.get("complexity_band") or "")))
    site_of = [name for name, count in site_counts for _ in range(count)]
    participants: dict[int, Participant] = {}
    first = decks.drop_duplicates("respondent").sort_values("respondent")
    for respondent, deck_number in zip(first["respondent"].tolist(), first["deck"].tolist(),
                                       strict=True):
        p = Participant(study_id=study.id, number=int(respondent), deck=int(deck_number),
                        site=site_of[int(respondent) - 1] if site_of else None)
        db.add(p)
        participants[int(respondent)] = p
    db.flush()
    for a in decks.to_dict("records"):
        db.add(Assignment(participant_id=participants[int(a["respondent"])].id,
                          position=int(a["position"]), vignette_id=str(a["vignette_id"])))
    db.commit()
    return study


def get_study(db: Session, study_id: int) -> Study:
    study = db.get(Study, study_id) if 0 < study_id <= MAX_ID else None
    if study is None:
        raise AppError(f"no study {study_id}", status=404, field="study_id")
    return study


def issue_links(db: Session, study: Study, site: str | None = None
                ) -> list[tuple[Participant, str]]:
    """New one-time link tokens for every participant (of ``site``, when given) who has
    not used theirs.

    Earlier unused tokens stop working. Only hashes are stored, so the tokens are
    returned once, here.
    """
    query = select(Participant).where(Participant.study_id == study.id,
                                      Participant.claimed_at.is_(None),
                                      Participant.withdrawn_at.is_(None))
    if site:
        if site not in sites_of(study):
            known = ", ".join(sites_of(study)) or "none: this study has no sites"
            raise AppError(f"unknown site {site[:60]!r}; the study's sites are {known}",
                           status=422, field="site")
        query = query.where(Participant.site == site)
    out = []
    for p in db.scalars(query.order_by(Participant.number)):
        token = new_token()
        p.link_hash = token_hash(token)
        p.invited_at = utcnow()
        out.append((p, token))
    db.commit()
    return out


def move_to_site(db: Session, study: Study, number: int | str, site: str) -> Participant:
    """Move participant ``number`` of ``study`` to another of its sites (their deck and
    answers stay; the export then gives the new site)."""
    wanted = _int_field(number, "participant", 1, study.n_participants)
    site = (site or "").strip()
    if site not in sites_of(study):
        known = ", ".join(sites_of(study)) or "none: this study has no sites"
        raise AppError(f"unknown site {site[:60]!r}; the study's sites are {known}",
                       status=422, field="site")
    p = db.scalar(select(Participant).where(Participant.study_id == study.id,
                                            Participant.number == wanted))
    if p is None:
        raise AppError(f"no participant {wanted} in study {study.id}", status=404,
                       field="participant")
    p.site = site
    with writing(db):
        db.commit()
    return p


def close_round(db: Session, study: Study) -> str:
    """round1 -> round2 (two-round studies) or closed; round2 -> closed."""
    if study.phase == "round1":
        study.phase = "round2" if study.rounds == 2 else "closed"
    elif study.phase == "round2":
        study.phase = "closed"
    else:
        raise AppError("the study is already closed", status=409, field="phase")
    db.commit()
    return study.phase


def rater_id(study_id: int, number: int) -> str:
    return f"s{study_id}-p{number:02d}"


@dataclass
class ParticipantProgress:
    number: int
    rater_id: str
    deck: int
    site: str | None
    linked: bool
    claimed: bool
    profession: str | None
    answered: dict[int, int] = field(default_factory=dict)
    #: withdrew, or their data was deleted by the owner
    withdrawn: bool = False
    #: the researcher's label and e-mail address for them (see :mod:`dsk.app._roster`)
    label: str | None = None
    email: str | None = None


def progress(db: Session, study: Study) -> list[ParticipantProgress]:
    counts: dict[tuple[int, int], int] = {
        (pid, rnd): n for pid, rnd, n in db.execute(
            select(Response.participant_id, Response.round, func.count())
            .where(Response.study_id == study.id)
            .group_by(Response.participant_id, Response.round))}
    rows = []
    for p in db.scalars(select(Participant).where(Participant.study_id == study.id)
                        .order_by(Participant.number)):
        rows.append(ParticipantProgress(
            number=p.number, rater_id=rater_id(study.id, p.number), deck=p.deck,
            site=p.site, linked=p.link_hash is not None, claimed=p.claimed_at is not None,
            profession=p.profession,
            answered={r: counts.get((p.id, r), 0) for r in range(1, study.rounds + 1)},
            withdrawn=p.withdrawn_at is not None, label=p.label, email=p.email))
    return rows


# ---------------------------------------------------------------- participants


def participant_by_link(db: Session, token: str) -> Participant:
    p = db.scalar(select(Participant).where(Participant.link_hash == token_hash(token)))
    if p is None:
        raise AppError("this participant link is not valid: it may have been mistyped or "
                       "replaced by a newer link; ask the researcher for a new one. (A "
                       "link ends when its practitioner withdraws from the study.)",
                       status=404, field="link")
    return p


def participant_by_session(db: Session, session_token: str | None) -> Participant | None:
    if not session_token:
        return None
    return db.scalar(select(Participant)
                     .where(Participant.session_hash == token_hash(session_token)))


def claim_link(db: Session, token: str, profession: str, experience_years: int,
               session_token: str | None = None) -> str:
    """Use a one-time link: record consent, bind a new browser session (``session_token``,
    or a new random one); return its token."""
    session_token = session_token or new_token()
    with writing(db):
        result = db.execute(
            update(Participant)
            .where(Participant.link_hash == token_hash(token), Participant.claimed_at.is_(None))
            .values(claimed_at=utcnow(), session_hash=token_hash(session_token),
                    profession=profession, experience_years=experience_years))
        claimed = result.rowcount == 1  # type: ignore[attr-defined]
        if claimed:
            db.commit()
        else:
            db.rollback()
    if not claimed:
        raise AppError("this participant link has already been used; it works once. Open the "
                       "study in the browser where you started, or ask the researcher for a "
                       "new link", status=410, field="link")
    return session_token


def deck_of(db: Session, participant: Participant) -> list[str]:
    return list(db.scalars(select(Assignment.vignette_id)
                           .where(Assignment.participant_id == participant.id)
                           .order_by(Assignment.position)))


def answered(db: Session, participant: Participant, round_: int) -> dict[str, Response]:
    return {r.vignette_id: r for r in db.scalars(
        select(Response).where(Response.participant_id == participant.id,
                               Response.round == round_))}


# The statements of every practitioner request are built once, with bound parameters:
# building a SELECT costs more processor time than SQLAlchemy's cached compile of it.
_VISIT = (select(Participant, Study,
                 *(select(RoundSubmission.round)
                   .where(RoundSubmission.participant_id == Participant.id,
                          RoundSubmission.round == n).exists() for n in (1, 2)))
          .join(Study, Study.id == Participant.study_id)
          .where(Participant.session_hash == bindparam("session_hash")))
_DECK_AND_DONE = (select(Assignment.vignette_id, Response.id)
                  .outerjoin(Response, (Response.participant_id == Assignment.participant_id)
                             & (Response.vignette_id == Assignment.vignette_id)
                             & (Response.round == bindparam("round")))
                  .where(Assignment.participant_id == bindparam("participant_id"))
                  .order_by(Assignment.position))
_WITHDRAWN = (select(Participant.withdrawn_at).where(Participant.id == bindparam("participant_id"))
              .with_for_update(read=True))


@dataclass(frozen=True)
class Visit:
    """What one practitioner request needs first, read in one statement: the participant,
    their study, and the rounds they have submitted (final)."""

    participant: Participant
    study: Study
    submitted: frozenset[int]


def visit(db: Session, session_token: str | None) -> Visit | None:
    """The :class:`Visit` of a browser's session token, or None (one SQL statement).

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada = create_researcher(db, "ada", "a long passphrase")
    ...     study = create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                          deck_size=4, n_participants=1, rounds=1,
    ...                          catalogue=load_catalogue())
    ...     token = claim_link(db, issue_links(db, study)[0][1], "police", 3)
    ...     seen = visit(db, token)
    ...     print(seen.study.title, seen.participant.profession, sorted(seen.submitted),
    ...           visit(db, "not a session"))
    Pilot police [] None
    """
    if not session_token:
        return None
    row = db.execute(_VISIT, {"session_hash": token_hash(session_token)}).first()
    if row is None:
        return None
    return Visit(row[0], row[1], frozenset(n for n, done in ((1, row[2]), (2, row[3])) if done))


def deck_and_done(db: Session, participant: Participant, round_: int
                  ) -> tuple[list[str], set[str]]:
    """The participant's deck in order and the cases with an answer in ``round_``, in one
    SQL statement (:func:`deck_of` and the answered cases together)."""
    rows = db.execute(_DECK_AND_DONE, {"participant_id": participant.id, "round": round_}).all()
    return [v for v, _ in rows], {v for v, answer in rows if answer is not None}


def current_round(study: Study) -> int | None:
    return {"round1": 1, "round2": 2}.get(study.phase)


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    need_level: int
    confidence: float
    risk: float
    salient_factors: tuple[str, ...]
    salient_other: str
    rationale: str
    lead_agency: str


#: Most salient factors one answer may cite.
MAX_FACTORS = 5


def parse_answer(form: Any, catalogue: Catalogue) -> tuple[Answer | None, dict[str, str]]:
    """Validate a scoring form. Returns the answer, or None and messages by field.

    The messages are plain words a practitioner reads at the top of the form ("Choose a
    level of need"), each naming its field as the form labels it. Numbers are ASCII digits
    (spaces around them ignored), every field but ``salient_factors`` has one value, at
    most :data:`MAX_FACTORS` factors are cited, and a refused value is echoed cut to 40
    characters.

    Examples
    --------
    >>> from dsk.catalogue import load_catalogue
    >>> from starlette.datastructures import FormData
    >>> answer, errors = parse_answer(FormData([("confidence", "150"), ("risk", "3")]),
    ...                               load_catalogue())
    >>> answer is None
    True
    >>> for message in errors.values():
    ...     print(message)
    Choose a level of need
    Confidence: enter a number from 0 to 100, not 150
    Why this level: say briefly why you chose this level
    Choose the agency that should lead
    """
    errors: dict[str, str] = {}

    def text(name: str, spaces: str | None = None) -> str:
        values = [v for v in form.getlist(name) if isinstance(v, str)]
        if len(values) > 1:
            errors[name] = f"{name}: given {len(values)} times; expected one value"
        return values[0].strip(spaces) if values else ""

    def whole(name: str, lo: int, hi: int, missing: str, what: str) -> int:
        raw = text(name, " \t")
        if name in errors:
            return lo
        if not raw:
            errors[name] = missing
            return lo
        if not _DIGITS.fullmatch(raw):
            errors[name] = (f"{what}: enter a whole number from {lo} to {hi} using the digits "
                            f"0-9, not {ascii(raw[:40])}")
            return lo
        value = int(raw)
        if not lo <= value <= hi:
            errors[name] = f"{what}: enter a number from {lo} to {hi}, not {value}"
        return value

    level = whole("need_level", 1, 4, "Choose a level of need", "Level of need")
    confidence = whole("confidence", 0, 100, "Say how confident you are, from 0 to 100",
                       "Confidence")
    risk = whole("risk", 0, 10, "Choose a risk of significant harm from 0 to 10",
                 "Risk of significant harm")
    factors = [f for f in form.getlist("salient_factors") if isinstance(f, str)]
    unknown = [f for f in factors if f not in catalogue.factor_ids]
    if unknown:
        errors["salient_factors"] = (f"Factors: {unknown[0][:60]!r} is not in the list; "
                                     "choose factors from the list")
    elif len(set(factors)) != len(factors):
        errors["salient_factors"] = "Factors: a factor was ticked twice"
    elif len(factors) > MAX_FACTORS:
        errors["salient_factors"] = (f"Choose at most {MAX_FACTORS} factors that mattered "
                                     f"most; you chose {len(factors)}")
    other = text("salient_other")
    if len(other) > 500:
        errors["salient_other"] = (f"Other factors: shorten to at most 500 characters; this "
                                   f"has {len(other)}")
    rationale = text("rationale")
    if not rationale:
        errors["rationale"] = "Why this level: say briefly why you chose this level"
    elif len(rationale) > MAX_TEXT:
        errors["rationale"] = (f"Why this level: shorten to at most {MAX_TEXT} characters; "
                               f"this has {len(rationale)}")
    agency = text("lead_agency")
    if not agency:
        errors["lead_agency"] = "Choose the agency that should lead"
    elif agency not in catalogue.agencies:
        errors["lead_agency"] = (f"Lead agency: {agency[:60]!r} is not in the list; choose the "
                                 "agency that should lead")
    if errors:
        return None, errors
    ordered = tuple(f for f in catalogue.factor_ids if f in set(factors))
    return Answer(level, confidence / 100.0, float(risk), ordered, other, rationale, agency), {}


def save_answer(db: Session, participant: Participant, vignette_id: str, round_: int,
                answer: Answer, seconds: float, nonce: str,
                also: Callable[[Session], None] | None = None) -> Response:
    """Store one answer; refuse a second answer or a replayed form with a clear message.

    ``also`` runs in the same transaction, under the write lock, just before the commit
    (the scoring page drops the case's draft there: one transaction per submission).
    """
    response = Response(
        study_id=participant.study_id, participant_id=participant.id, vignette_id=vignette_id,
        round=round_, need_level=answer.need_level, confidence=answer.confidence,
        risk=answer.risk, salient_factors=json.dumps(list(answer.salient_factors)),
        salient_other=answer.salient_other, rationale=answer.rationale,
        lead_agency=answer.lead_agency, seconds=max(0.0, float(seconds)), form_nonce=nonce)
    db.add(response)
    try:
        with writing(db):
            # under a share lock of the participant's row (PostgreSQL): a withdrawal at
            # the same moment either deletes this answer or is seen here
            if db.scalar(_WITHDRAWN, {"participant_id": participant.id}) is not None:
                db.rollback()
                raise AppError("you have withdrawn from this study; your answer was not "
                               "saved", status=409, field="session")
            if also is not None:
                also(db)
            db.commit()
    except IntegrityError:
        db.rollback()
        raise AppError(f"this form was already submitted: vignette {vignette_id!r} already has "
                       f"your round-{round_} answer, which is kept",
                       status=409, field="form_token") from None
    return response


# ---------------------------------------------------------------- round 2


#: Colleagues' reasons are shown in round 2 only when at least this many other
#: practitioners answered the vignette in round 1, so that no reason points to one person.
MIN_OTHERS = 3


@dataclass
class Feedback:
    """What a practitioner sees in round 2 about one vignette.

    ``counts`` (need level to number of answers), ``total`` and ``top_factors`` are over
    the *other* practitioners' round-1 answers only; ``own_level`` is the reader's own
    round-1 level (None if they did not answer). ``rationales`` holds some of the others'
    reasons, never a hidden one, and is empty when fewer than :data:`MIN_OTHERS` others
    answered (``reasons_withheld``).
    """

    counts: dict[int, int]
    total: int
    own_level: int | None
    top_factors: list[tuple[str, int]]
    rationales: list[str]
    reasons_withheld: bool = False


def feedback(db: Session, participant: Participant, vignette_id: str,
             n_factors: int = 5, n_rationales: int = 3) -> Feedback:
    """Colleagues' round-1 answers to ``vignette_id``, as ``participant`` sees them in round 2.

    Only answers their colleagues submitted ("Submit my answers") count: one saved but
    never submitted is not shown. The reader's own answer is never counted, and reasons
    are shown only when at least :data:`MIN_OTHERS` others answered; reasons a
    researcher hid (:func:`hide_reason`) are never shown.

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada = create_researcher(db, "ada", "a long passphrase")
    ...     study = create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                          deck_size=12, n_participants=3, rounds=2,
    ...                          catalogue=load_catalogue())
    ...     people = list(db.scalars(select(Participant).order_by(Participant.number)))
    ...     for i, (p, level) in enumerate(zip(people, (4, 4, 2))):
    ...         _ = save_answer(db, p, "tame-01-disclosure", 1, Answer(level, 0.5, 3.0,
    ...                         ("housing",), "", f"reason {i}", "school"), 10, f"n{i}")
    ...     seen = feedback(db, people[2], "tame-01-disclosure")
    ...     print(seen.counts, seen.total, seen.own_level)
    ...     db.add_all([RoundSubmission(participant_id=p.id, round=1, study_id=study.id)
    ...                 for p in people[:2]])
    ...     db.commit()
    ...     seen = feedback(db, people[2], "tame-01-disclosure")
    ...     print(seen.counts, seen.total, seen.own_level, seen.top_factors)
    ...     print(seen.rationales, seen.reasons_withheld)
    {1: 0, 2: 0, 3: 0, 4: 0} 0 2
    {1: 0, 2: 0, 3: 0, 4: 2} 2 2 [('housing', 2)]
    [] True
    """
    rows = db.execute(
        select(Response.participant_id, Response.need_level, Response.salient_factors,
               Response.rationale, HiddenReason.response_id, RoundSubmission.round)
        .outerjoin(HiddenReason, HiddenReason.response_id == Response.id)
        .outerjoin(RoundSubmission, (RoundSubmission.participant_id == Response.participant_id)
                   & (RoundSubmission.round == Response.round))
        .where(Response.study_id == participant.study_id, Response.vignette_id == vignette_id,
               Response.round == 1)
        .order_by(Response.id)).all()
    counts = {level: 0 for level in (1, 2, 3, 4)}
    cited: Counter[str] = Counter()
    own = None
    reasons: list[str] = []
    for pid, level, factors, rationale, hidden, submitted in rows:
        if pid == participant.id:
            own = level
            continue
        if submitted is None:  # saved, never submitted: not an answer yet
            continue
        counts[level] += 1
        cited.update(json.loads(factors))
        if rationale and hidden is None:
            reasons.append(rationale)
    total = sum(counts.values())
    withheld = total < MIN_OTHERS
    top = sorted(cited.items(), key=lambda kv: (-kv[1], kv[0]))[:n_factors]
    return Feedback(counts, total, own, top, [] if withheld else reasons[:n_rationales],
                    withheld)


@dataclass
class Reason:
    """One round-1 reason, as the study page lists it for hiding."""

    response_id: int
    rater_id: str
    vignette_id: str
    rationale: str
    hidden: bool


def round1_reasons(db: Session, study: Study) -> list[Reason]:
    """The study's round-1 reasons, by vignette and rater, each marked hidden or not."""
    rows = db.execute(
        select(Response.id, Participant.number, Response.vignette_id, Response.rationale,
               HiddenReason.response_id)
        .join(Participant, Participant.id == Response.participant_id)
        .outerjoin(HiddenReason, HiddenReason.response_id == Response.id)
        .where(Response.study_id == study.id, Response.round == 1)
        .order_by(Response.vignette_id, Participant.number)).all()
    return [Reason(int(rid), rater_id(study.id, int(number)), vid, text, hidden is not None)
            for rid, number, vid, text, hidden in rows]


def hide_reason(db: Session, study: Study, response_id: int | str, by: Researcher
                ) -> HiddenReason:
    """Hide one round-1 reason from colleagues in round 2, and log who did it and when.

    Only before round 2 opens, in a two-round study. Hiding a hidden reason again keeps
    the first log entry. The log holds the answer's id, never the reason itself.

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada = create_researcher(db, "ada", "a long passphrase")
    ...     study = create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                          deck_size=12, n_participants=1, rounds=2,
    ...                          catalogue=load_catalogue())
    ...     p = db.scalar(select(Participant))
    ...     r = save_answer(db, p, "tame-01-disclosure", 1, Answer(3, 0.5, 3.0, (), "",
    ...                     "the Smith family", "school"), 10, "n1")
    ...     log = hide_reason(db, study, str(r.id), ada)
    ...     print(log.response_id == r.id, log.researcher_id == ada.id,
    ...           [x.hidden for x in round1_reasons(db, study)])
    ...     _ = close_round(db, study)
    ...     try:
    ...         hide_reason(db, study, r.id, ada)
    ...     except AppError as exc:
    ...         print(exc.status, exc.message)
    True True [True]
    409 phase: reasons can be hidden only before round 2 opens
    """
    if study.rounds != 2:
        raise AppError("a one-round study shows no reasons to colleagues", status=409,
                       field="phase")
    if study.phase != "round1":
        raise AppError("reasons can be hidden only before round 2 opens", status=409,
                       field="phase")
    wanted = _int_field(response_id, "response_id", 1, MAX_ID)
    response = db.get(Response, wanted)
    if response is None or response.study_id != study.id or response.round != 1:
        raise AppError(f"no round-1 answer {wanted} in this study", status=422,
                       field="response_id")
    found = db.get(HiddenReason, wanted)
    if found is not None:
        return found
    found = HiddenReason(response_id=wanted, study_id=study.id, researcher_id=by.id,
                         hidden_at=utcnow())
    db.add(found)
    try:
        with writing(db):
            db.commit()
    except IntegrityError:  # hidden at the same moment in another request
        db.rollback()
        found = db.get(HiddenReason, wanted)
        if found is None:
            raise
    return found


# ---------------------------------------------------------------- export


def unsubmitted_count(db: Session, study: Study) -> int:
    """How many of the study's answers were saved but never submitted (the practitioner
    did not press "Submit my answers" for their round): :func:`judgements` leaves them
    out, and exports state their number (:data:`UNSUBMITTED_HEADER`)."""
    return int(db.scalar(
        select(func.count()).select_from(Response)
        .outerjoin(RoundSubmission, (RoundSubmission.participant_id == Response.participant_id)
                   & (RoundSubmission.round == Response.round))
        .where(Response.study_id == study.id, RoundSubmission.round.is_(None))) or 0)


#: The response header of the HTTP judgements exports giving :func:`unsubmitted_count`,
#: and its key in a Parquet file's metadata.
UNSUBMITTED_HEADER, UNSUBMITTED_KEY = "X-Dsk-Unsubmitted", "dsk.unsubmitted_answers"


def judgements(db: Session, study: Study) -> pd.DataFrame:
    """The study's submitted answers as a judgements table (``dsk.schema``), plus extra
    columns.

    Only the answers of rounds their practitioner submitted ("Submit my answers" on the
    review page) are exported. Answers saved but never submitted, also those left when
    the round closed, stay in the database (withdrawal and deletion remove them) but
    are not exported: nobody confirmed them; :func:`unsubmitted_count` counts them.

    Rows are sorted by round, rater and the position at which the rater saw the
    vignette. ``deck_id``, ``position`` (1-based place in the rater's deck), ``site``
    (empty in a study without sites) and ``years_experience`` are filled; the extra columns are ``study_id``, ``salient_other``
    (free-text factors) and ``submitted_at`` (UTC, ISO 8601).
    """
    rows = db.execute(
        select(Response, Participant.number, Participant.profession,
               Participant.experience_years, Participant.deck, Participant.site,
               Assignment.position)
        .join(Participant, Participant.id == Response.participant_id)
        .join(Assignment, (Assignment.participant_id == Response.participant_id)
              & (Assignment.vignette_id == Response.vignette_id))
        .join(RoundSubmission, (RoundSubmission.participant_id == Response.participant_id)
              & (RoundSubmission.round == Response.round))
        .where(Response.study_id == study.id)).all()
    records = []
    for r, number, profession, experience, deck, site, position in rows:
        records.append({
            "vignette_id": r.vignette_id, "rater_id": rater_id(study.id, number),
            "rater_kind": "human", "profession": profession, "panel_id": f"study-{study.id}",
            "round": int(r.round), "need_level": int(r.need_level),
            "confidence": float(r.confidence), "risk": float(r.risk),
            "salient_factors": json.loads(r.salient_factors), "rationale": r.rationale,
            "lead_agency": r.lead_agency, "seconds": float(r.seconds),
            "deck_id": f"deck-{int(deck)}", "position": int(position), "site": site,
            "years_experience": None if experience is None else float(experience),
            "study_id": int(study.id), "salient_other": r.salient_other,
            "submitted_at": r.submitted_at.replace(microsecond=0).isoformat(),
            "_order": (r.round, number, position),
        })
    records.sort(key=lambda rec: rec.pop("_order"))
    frame = pd.DataFrame.from_records(records, columns=[*JUDGEMENT_COLUMNS, *EXTRA_COLUMNS])
    for name in ("round", "need_level", "study_id", "position"):
        frame[name] = frame[name].astype("int64")
    for name in ("confidence", "risk", "seconds"):
        frame[name] = frame[name].astype(float)
    frame["years_experience"] = frame["years_experience"].astype(float)
    frame["salient_factors"] = pd.Series(list(frame["salient_factors"]), dtype=object)
    return validate(frame, "judgements", source=f"study {study.id}")


def now() -> dt.datetime:
    return utcnow()
