"""A study's participant list: import, more participants, links, re-issue, monitoring.

The researcher imports a CSV of participants (:func:`parse_participants`,
:func:`import_participants`): a header line naming the columns ``label``, ``site`` and
optionally ``email`` and ``profession``, then one line per practitioner. Each imported
practitioner fills the first free place of their site (a participant without a label
whose link was never issued), and those left over are added to the study
(:func:`add_participants`), which deals them the next decks of the study's design: the
decks :func:`dsk.decks.make_decks` gives the same participant numbers in a study made
that large from the start, with the same seed. Labels and e-mail addresses are personal
data: only the study's researchers see them, the judgements export keeps rater ids,
withdrawal and deletion clear them (:mod:`dsk.app._rights`), and the audit trail counts
them, never naming one.

:func:`links_table` is the links CSV (label, site, rater id, link) of the links just
issued; :func:`reissue_link` gives one practitioner a new link and ends their old link
and session, touching nobody else. :func:`monitor` and :func:`stalled` summarise
progress per site or profession and list the practitioners who have stopped;
:func:`monitoring` feeds them from the database.

Examples
--------
>>> import tempfile
>>> from dsk.app import open_database
>>> from dsk.app import _study as st
>>> from dsk.catalogue import load_catalogue
>>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
...     ada = st.create_researcher(db, "ada", "a long passphrase")
...     study = st.create_study(db, owner=ada, title="Pilot", set_id="training-12",
...                             deck_size=3, n_participants=2, rounds=1, sites="Leeds,York",
...                             catalogue=load_catalogue())
...     data = "label,email,site\\nAnna,anna@example.org,Leeds\\nBen,,Leeds\\n".encode()
...     done = import_participants(db, study, data, name="people.csv", professions={},
...                                actor="cli")
...     print(done, study.n_participants)
...     print([(p.number, p.label, p.site) for p in db.scalars(
...         select(Participant).order_by(Participant.number))])
Imported(labelled=1, added=1, emails=1) 3
[(1, 'Anna', 'Leeds'), (2, None, 'York'), (3, 'Ben', 'Leeds')]
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsk.decks import make_decks

from . import _audit
from ._models import (
    Assignment,
    Participant,
    Response,
    RoundSubmission,
    Study,
    StudyVignette,
    utcnow,
)
from ._security import new_token, token_hash
from ._study import _CONTROL, AppError, _int_field, current_round, rater_id, sites_of, writing

#: The columns of a participants file, in the order the links CSV and docs give them.
COLUMNS = ("label", "email", "site", "profession")
#: Columns every participants file must name in its header.
REQUIRED = ("label", "site")
#: Most participants a study may have (as :func:`dsk.app._study.create_study` allows).
MAX_PARTICIPANTS = 1000
#: Longest label and e-mail address.
MAX_LABEL, MAX_EMAIL = 100, 254
#: Hours without an answer after which a started practitioner is listed as stalled.
STALLED_HOURS = 48
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+")


class ParticipantsFileError(AppError):
    """A participants file that cannot be imported: every problem, each with its line
    and column (``problems``); the message lists them all, one a line."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        super().__init__(f"{name}: {count} problem{'s' * (count != 1)}, nothing was imported:\n"
                         + "\n".join(problems), status=422, field="participants_file")


@dataclass(frozen=True)
class Entry:
    """One practitioner of a participants file (``line`` is where they are)."""

    line: int
    label: str
    email: str | None
    site: str | None
    profession: str | None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ParticipantsFileError(name, [
            f"line {line}: not UTF-8 text (byte {exc.start + 1}); save the file as "
            "CSV UTF-8"]) from None


def parse_participants(data: bytes, *, name: str, sites: Sequence[str],
                       professions: Mapping[str, str], taken: Sequence[str] = ()
                       ) -> list[Entry]:
    """Read a participants file (CSV, UTF-8 with or without a byte-order mark).

    The header line names the columns: ``label`` and ``site`` always, ``email`` and
    ``profession`` when wanted, in any order. ``site`` is one of ``sites`` (empty when
    the study has none); ``profession`` an id or label of ``professions`` (any case), or
    empty; ``email`` an address or empty. Labels are unique in the file and not among
    ``taken`` (the study's labels). Every problem is found in one pass and raised
    together (:class:`ParticipantsFileError`), each with its line and column.

    Examples
    --------
    >>> text = ("label,email,site,profession,phone\\n"
    ...         "Anna,anna@example.org,Leeds,Social worker,\\n"
    ...         ",bob@,Hull,nurse,\\n"
    ...         "Anna,,York,gp,\\n")
    >>> try:
    ...     parse_participants(text.encode(), name="people.csv", sites=["Leeds", "York"],
    ...                        professions={"social_worker": "Social worker", "gp": "GP"})
    ... except ParticipantsFileError as exc:
    ...     print(exc.message)
    participants_file: people.csv: 6 problems, nothing was imported:
    line 1, column 5: unknown column 'phone'; expected only the columns label, email, site and profession
    line 3, column 1 (label): missing; give every participant a label
    line 3, column 2 (email): expected an e-mail address such as name@example.org, got 'bob@'
    line 3, column 3 (site): unknown site 'Hull'; expected one of the study's sites: Leeds, York
    line 3, column 4 (profession): unknown profession 'nurse'; expected one of the ids social_worker, gp or their labels
    line 4, column 1 (label): 'Anna' is given twice (first on line 2)
    >>> parse_participants(b"\\xef\\xbb\\xbflabel,site\\nAnna,\\n", name="p.csv", sites=[],
    ...                    professions={})
    [Entry(line=2, label='Anna', email=None, site=None, profession=None)]
    """
    text = _decode(data, name)
    problems: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    by_label = {p.lower(): k for k, p in professions.items()}
    site_list = ", ".join(sites)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ParticipantsFileError(name, [f"line 1: not a CSV line ({exc})"]) from None
    if not header or not any(c.strip() for c in header):
        raise ParticipantsFileError(name, [
            "line 1: empty; expected a header line naming the columns label, site and "
            "optionally email and profession"])
    if len(header) == 1 and ";" in header[0]:
        raise ParticipantsFileError(name, [
            "line 1: the columns are separated by semicolons; save the file as CSV with "
            "commas (CSV UTF-8)"])
    where: dict[str, int] = {}
    for i, raw in enumerate(header):
        column = raw.strip().lower()
        if column in where:
            problems.append(f"line 1, column {i + 1}: column {column!r} is given twice")
        elif column not in COLUMNS:
            problems.append(f"line 1, column {i + 1}: unknown column {raw.strip()[:40]!r}; "
                            "expected only the columns label, email, site and profession")
        else:
            where[column] = i
    missing = [c for c in REQUIRED if c not in where]
    for column in missing:
        problems.append(f"line 1: missing the column {column!r}; expected a header line "
                        "naming the columns label, site and optionally email and profession")
    if missing:
        raise ParticipantsFileError(name, problems)
    entries: list[Entry] = []
    first_line: dict[str, int] = {}
    taken_set = set(taken)
    line = 1
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            problems.append(f"line {reader.line_num}: not a CSV line ({exc})")
            break
        if row is None:
            break
        line = start
        if not any(c.strip() for c in row):
            continue
        for i, text in enumerate(row):
            bad = _CONTROL.search(text)
            if bad is not None:
                problems.append(f"line {line}, column {i + 1}: contains the control "
                                f"character U+{ord(bad.group()):04X}; remove it")
        for i in range(len(header), len(row)):
            if row[i].strip():
                problems.append(f"line {line}, column {i + 1}: extra column; the header "
                                f"names {len(header)} column{'s' * (len(header) != 1)}")

        def cell(column: str, row: list[str] = row) -> str:
            i = where.get(column)
            return row[i].strip() if i is not None and i < len(row) else ""

        def problem(column: str, message: str, line: int = line) -> None:
            problems.append(f"line {line}, column {where[column] + 1} ({column}): {message}")

        label = cell("label")
        if not label:
            problem("label", "missing; give every participant a label")
        elif "\n" in label or "\r" in label:
            problem("label", "expected one line, got a line break inside the label")
        elif len(label) > MAX_LABEL:
            problem("label", f"expected at most {MAX_LABEL} characters, got {len(label)}")
        elif label in first_line:
            problem("label", f"{label[:40]!r} is given twice (first on line "
                             f"{first_line[label]})")
        elif label in taken_set:
            problem("label", f"{label[:40]!r} is already a participant of this study")
        else:
            first_line[label] = line
        email = cell("email") or None
        if email is not None and (len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email)):
            problem("email", "expected an e-mail address such as name@example.org, got "
                             f"{email[:40]!r}")
        site = cell("site") or None
        if sites and site is None:
            problem("site", f"missing; expected one of the study's sites: {site_list}")
        elif site is not None and site not in sites:
            problem("site", f"unknown site {site[:40]!r}; " + (
                f"expected one of the study's sites: {site_list}" if sites
                else "this study has no sites, so leave it empty"))
        profession = cell("profession") or None
        if profession is not None:
            known = profession if profession in professions else by_label.get(
                profession.lower())
            if known is None:
                problem("profession", f"unknown profession {profession[:40]!r}; expected one "
                                      f"of the ids {', '.join(professions)} or their labels")
            profession = known
        entries.append(Entry(line, label, email, site, profession))
    if not entries and not problems:
        problems.append("line 2: no participants; expected one line per participant after "
                        "the header")
    if problems:
        raise ParticipantsFileError(name, problems)
    return entries


@dataclass(frozen=True)
class Imported:
    """What :func:`import_participants` did: participants given a label in a free place,
    participants added to the study, and how many e-mail addresses it stored."""

    labelled: int
    added: int
    emails: int

    def describe(self) -> str:
        """The audit trail's words for it (counts only, never a label or address).

        >>> Imported(3, 1, 2).describe()
        '4 participants (3 in free places, 1 added), 2 e-mail addresses'
        """
        total = self.labelled + self.added
        return (f"{total} participant{'s' * (total != 1)} ({self.labelled} in free places, "
                f"{self.added} added), {self.emails} e-mail address"
                f"{'es' * (self.emails != 1)}")


def _lock(db: Session, study: Study) -> None:
    """Lock the study's row (PostgreSQL) so that two imports or additions at the same
    moment take participant numbers one after the other."""
    db.execute(select(Study.id).where(Study.id == study.id).with_for_update())


def _new_participants(db: Session, study: Study, sites: Sequence[str | None]
                      ) -> list[Participant]:
    """Add one participant per entry of ``sites`` (its site), with the next numbers and
    the next decks of the study's design; the caller commits."""
    if not sites:
        return []
    old = int(db.scalar(select(func.max(Participant.number))
                        .where(Participant.study_id == study.id)) or 0)
    total = old + len(sites)
    if total > MAX_PARTICIPANTS:
        raise AppError(f"the study would have {total} participants; expected at most "
                       f"{MAX_PARTICIPANTS}", status=422, field="count")
    ids = list(db.scalars(select(StudyVignette.vignette_id)
                          .where(StudyVignette.study_id == study.id)
                          .order_by(StudyVignette.ordinal)))
    decks = make_decks(ids, study.deck_size, total, random_state=study.seed)
    decks = decks[decks["respondent"] > old]
    made: dict[int, Participant] = {}
    first = decks.drop_duplicates("respondent")
    for number, deck in zip(first["respondent"].tolist(), first["deck"].tolist(), strict=True):
        p = Participant(study_id=study.id, number=int(number), deck=int(deck),
                        site=sites[int(number) - old - 1])
        db.add(p)
        made[int(number)] = p
    db.flush()
    for a in decks.to_dict("records"):
        db.add(Assignment(participant_id=made[int(a["respondent"])].id,
                          position=int(a["position"]), vignette_id=str(a["vignette_id"])))
    study.n_participants = total
    return [made[n] for n in sorted(made)]


@contextmanager
def _rolled_back_on_error(db: Session) -> Iterator[None]:
    """Roll the transaction back (releasing the study's lock) when the block fails."""
    try:
        yield
    except BaseException:
        db.rollback()
        raise


def _commit(db: Session) -> None:
    try:
        db.commit()
    except IntegrityError:  # another import or addition at the same moment
        db.rollback()
        raise AppError("the participant list changed at the same moment; nothing was "
                       "changed, send the form again", status=409,
                       field="participants_file") from None


def add_participants(db: Session, study: Study, count: int | str, site: str | None = None,
                     *, actor: str, client: str = "") -> list[Participant]:
    """Add ``count`` participants (at ``site``) to the study, with the next decks of its
    design; logged ``participants_added``. Returns them, without links yet.

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.app import _study as st
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada = st.create_researcher(db, "ada", "a long passphrase")
    ...     study = st.create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                             deck_size=4, n_participants=2, rounds=1,
    ...                             catalogue=load_catalogue())
    ...     added = add_participants(db, study, 2, actor="cli")
    ...     print([(p.number, p.deck) for p in added], study.n_participants)
    [(3, 3), (4, 1)] 4
    """
    how_many = _int_field(count, "count", 1, MAX_PARTICIPANTS)
    site = (site or "").strip() or None
    known = sites_of(study)
    if known and site not in known:
        raise AppError(f"expected one of the study's sites: {', '.join(known)}, got "
                       f"{(site or '')[:40]!r}", status=422, field="site")
    if not known and site is not None:
        raise AppError(f"this study has no sites, got {site[:40]!r}", status=422, field="site")
    with writing(db), _rolled_back_on_error(db):
        _lock(db, study)
        made = _new_participants(db, study, [site] * how_many)
        _audit.record(db, "participants_added", actor=actor, study_id=study.id, client=client,
                      detail=f"{how_many} participant{'s' * (how_many != 1)}"
                             + (f" at {site}" if site else ""))
        _commit(db)
    return made


def import_participants(db: Session, study: Study, data: bytes, *, name: str,
                        professions: Mapping[str, str], actor: str, client: str = ""
                        ) -> Imported:
    """Import a participants file (:func:`parse_participants`) into the study.

    Each practitioner takes the first free place of their site (no label, no link ever
    issued, not withdrawn), by participant number; those left over are added
    (:func:`add_participants`' decks). Nothing is stored when the file has a problem.
    Logged ``participants_imported`` with counts only.
    """
    with writing(db), _rolled_back_on_error(db):
        _lock(db, study)
        people = list(db.scalars(select(Participant).where(Participant.study_id == study.id)
                                 .order_by(Participant.number)))
        entries = parse_participants(data, name=name, sites=sites_of(study),
                                     professions=professions,
                                     taken=[p.label for p in people if p.label])
        free: dict[str | None, list[Participant]] = {}
        for p in people:
            if (p.label is None and p.link_hash is None and p.claimed_at is None
                    and p.withdrawn_at is None):
                free.setdefault(p.site, []).append(p)
        placed: list[tuple[Participant, Entry]] = []
        left: list[Entry] = []
        for entry in entries:
            pool = free.get(entry.site)
            if pool:
                placed.append((pool.pop(0), entry))
            else:
                left.append(entry)
        added = _new_participants(db, study, [e.site for e in left])
        for p, entry in [*placed, *zip(added, left, strict=True)]:
            p.label, p.email, p.profession = entry.label, entry.email, entry.profession
        done = Imported(len(placed), len(left), sum(e.email is not None for e in entries))
        _audit.record(db, "participants_imported", actor=actor, study_id=study.id,
                      client=client, detail=done.describe())
        _commit(db)
    return done


def links_table(study: Study, issued: Sequence[tuple[Participant, str]],
                link_of: Callable[[str], str]) -> pd.DataFrame:
    """The links just issued as a table: ``label``, ``site``, ``rater_id``, ``link``
    (``link_of`` turns a token into its link, e.g. :meth:`AppState.link`).

    >>> p = Participant(number=3, label="Anna", site="Leeds")
    >>> links_table(Study(id=2), [(p, "tok")], lambda t: "https://x.org/p/" + t).to_dict("records")
    [{'label': 'Anna', 'site': 'Leeds', 'rater_id': 's2-p03', 'link': 'https://x.org/p/tok'}]
    """
    return pd.DataFrame([{"label": p.label or "", "site": p.site or "",
                          "rater_id": rater_id(study.id, p.number), "link": link_of(token)}
                         for p, token in issued],
                        columns=["label", "site", "rater_id", "link"], dtype=object)


def participant(db: Session, study: Study, number: int | str) -> Participant:
    """Participant ``number`` of the study (422 naming ``participant`` otherwise)."""
    wanted = _int_field(number, "participant", 1, max(1, study.n_participants))
    found = db.scalar(select(Participant).where(Participant.study_id == study.id,
                                                Participant.number == wanted))
    if found is None:
        raise AppError(f"no participant {wanted} in this study", status=422,
                       field="participant")
    return found


def reissue_link(db: Session, study: Study, number: int | str, *, actor: str,
                 client: str = "") -> tuple[Participant, str]:
    """A new link for one practitioner: their old link and browser session stop working,
    nobody else's change. One who had consented carries on with the new link without
    consenting again. Logged ``link_reissued`` with the rater id. Returns the
    participant and the new token (shown once; only its hash is kept).

    Examples
    --------
    >>> import tempfile
    >>> from dsk.app import open_database
    >>> from dsk.app import _study as st
    >>> from dsk.catalogue import load_catalogue
    >>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
    ...     ada = st.create_researcher(db, "ada", "a long passphrase")
    ...     study = st.create_study(db, owner=ada, title="Pilot", set_id="training-12",
    ...                             deck_size=3, n_participants=2, rounds=1,
    ...                             catalogue=load_catalogue())
    ...     (one, old), (two, other) = st.issue_links(db, study)
    ...     _ = st.claim_link(db, old, "gp", 3)
    ...     p, new = reissue_link(db, study, 1, actor="cli")
    ...     print(p.session_hash, p.claimed_at is not None,
    ...           st.participant_by_link(db, new).number,
    ...           st.participant_by_link(db, other).number)
    None True 1 2
    """
    p = participant(db, study, number)
    if p.withdrawn_at is not None:
        raise AppError(f"{rater_id(study.id, p.number)} has withdrawn from the study; their "
                       "link cannot be re-issued", status=409, field="participant")
    token = new_token()
    with writing(db):
        p.link_hash, p.session_hash, p.invited_at = token_hash(token), None, utcnow()
        _audit.record(db, "link_reissued", actor=actor, study_id=study.id, client=client,
                      detail=rater_id(study.id, p.number))
        db.commit()
    return p, token


# ---------------------------------------------------------------- monitoring

#: Columns of :func:`monitor`.
MONITOR_COLUMNS = ("group", "invited", "started", "finished", "median_seconds",
                   "last_activity")
#: Columns of :func:`stalled`.
STALLED_COLUMNS = ("who", "rater_id", "site", "profession", "answered", "last_activity",
                   "idle_hours")


def _last_activity(people: pd.DataFrame, answers: pd.DataFrame) -> pd.Series:
    """Each person's latest consent or answer (any round), by ``rater_id``."""
    last = answers.groupby("rater_id")["submitted_at"].max() if len(answers) else pd.Series(
        dtype="datetime64[ns]")
    started = pd.to_datetime(people.set_index("rater_id")["started_at"])
    both = pd.concat([started, last.reindex(started.index)], axis=1)
    return both.max(axis=1)


def _answered(people: pd.DataFrame, answers: pd.DataFrame, round_: int) -> pd.Series:
    mine = answers[answers["round"] == round_] if len(answers) else answers
    counts = mine.groupby("rater_id").size() if len(mine) else pd.Series(dtype="int64")
    return counts.reindex(people["rater_id"], fill_value=0).astype("int64")


def _submitted(people: pd.DataFrame, answers: pd.DataFrame, round_: int) -> np.ndarray:
    """Whether each person pressed "Submit my answers" for ``round_`` (their answers of
    that round are marked ``submitted``)."""
    if not len(answers):
        return np.zeros(len(people), dtype=bool)
    mine = answers[(answers["round"] == round_) & answers["submitted"].astype(bool)]
    return people["rater_id"].isin(set(mine["rater_id"])).to_numpy()


def monitor(people: pd.DataFrame, answers: pd.DataFrame, *, by: str, round_: int,
            deck_size: int, groups: Sequence[str] = ()) -> pd.DataFrame:
    """Progress per group of practitioners (``by`` is a column of ``people``).

    ``people`` has one row per (not withdrawn) participant: ``rater_id``, ``invited``
    (a link was issued), ``started_at`` (consent time, NaT before) and the column
    ``by`` (e.g. ``site`` or ``profession``); ``answers`` one row per answer:
    ``rater_id``, ``round``, ``seconds``, ``submitted_at`` (when it was saved) and
    ``submitted`` (its round was submitted: the practitioner pressed "Submit my
    answers"). Per group (the ``groups`` first, in their order, then the others sorted;
    a last row ``all``): how many were ``invited``, ``started`` (consented),
    ``finished`` (submitted ``round_``: answers saved but not submitted do not count),
    the ``median_seconds`` per case over the round's answers, submitted or not, and the
    ``last_activity`` (latest consent or answer, any round).

    Examples
    --------
    A hand-worked case: at Leeds, a and b started and c was only invited; a answered
    both cases of the deck (30 s and 50 s) and submitted them, b one (100 s). York's d
    has no link. Leeds: invited 3, started 2, finished 1, median of 30, 50 and 100 is
    50 s, and the last activity is b's answer at 11:00.

    >>> t = pd.Timestamp("2026-12-01 09:00")
    >>> people = pd.DataFrame({"rater_id": ["a", "b", "c", "d"],
    ...                        "site": ["Leeds", "Leeds", "Leeds", "York"],
    ...                        "invited": [True, True, True, False],
    ...                        "started_at": [t, t, pd.NaT, pd.NaT]})
    >>> answers = pd.DataFrame({"rater_id": ["a", "a", "b"], "round": [1, 1, 1],
    ...                         "seconds": [30.0, 50.0, 100.0],
    ...                         "submitted_at": [t + pd.Timedelta(hours=h) for h in (1, 2, 2)],
    ...                         "submitted": [True, True, False]})
    >>> table = monitor(people, answers, by="site", round_=1, deck_size=2,
    ...                 groups=["Leeds", "York"])
    >>> print(table.drop(columns="last_activity").to_string(index=False))
    group  invited  started  finished  median_seconds
    Leeds        3        2         1            50.0
     York        0        0         0             NaN
      all        3        2         1            50.0
    >>> [str(x) for x in table["last_activity"]]
    ['2026-12-01 11:00:00', 'NaT', '2026-12-01 11:00:00']

    Had a answered both cases without pressing "Submit my answers", nobody would have
    finished:

    >>> answers["submitted"] = False
    >>> monitor(people, answers, by="site", round_=1, deck_size=2)["finished"].tolist()
    [0, 0, 0]
    """
    last = _last_activity(people, answers)
    frame = pd.DataFrame({
        "group": people[by].fillna("").astype(str).to_numpy(),
        "invited": people["invited"].astype(bool).to_numpy(),
        "started": pd.to_datetime(people["started_at"]).notna().to_numpy(),
        "finished": _submitted(people, answers, round_),
        "last_activity": last.reindex(people["rater_id"]).to_numpy()},
        index=people["rater_id"].to_numpy())
    frame["finished"] &= frame["started"]
    seconds = answers[answers["round"] == round_] if len(answers) else answers
    group_of = frame["group"]
    order = list(dict.fromkeys([*groups, *sorted(set(group_of) - set(groups))]))
    rows = []
    for name, members in [*((g, frame[group_of == g]) for g in order), ("all", frame)]:
        times = seconds[seconds["rater_id"].isin(members.index)]["seconds"] if len(seconds) \
            else pd.Series(dtype=float)
        rows.append({"group": name, "invited": int(members["invited"].sum()),
                     "started": int(members["started"].sum()),
                     "finished": int(members["finished"].sum()),
                     "median_seconds": float(np.median(times)) if len(times) else np.nan,
                     "last_activity": pd.to_datetime(members["last_activity"]).max()})
    out = pd.DataFrame(rows, columns=list(MONITOR_COLUMNS))
    out["last_activity"] = pd.to_datetime(out["last_activity"])
    return out


def stalled(people: pd.DataFrame, answers: pd.DataFrame, *, round_: int, deck_size: int,
            now: dt.datetime, hours: float = STALLED_HOURS) -> pd.DataFrame:
    """The practitioners who started but have not finished (submitted) ``round_`` and
    have done nothing (consent or answer) for more than ``hours``, longest idle first.

    ``people`` and ``answers`` are as for :func:`monitor`; ``people`` also has
    ``label`` (None when there is none), ``site`` and ``profession``. ``who`` is the
    label, or the rater id when there is no label.

    Examples
    --------
    a finished; b answered one case at 11:00 and c none since consenting at 09:00;
    d never started. Three days later (09:00) with ``hours=48``, c (72 hours idle,
    listed by rater id: no label) and b (70) have stalled; with ``hours=71``, only c.

    >>> t = pd.Timestamp("2026-12-01 09:00")
    >>> people = pd.DataFrame({"rater_id": ["a", "b", "c", "d"],
    ...                        "label": ["Ann", "Ben", None, "Dee"],
    ...                        "site": "Leeds", "profession": "gp", "invited": True,
    ...                        "started_at": [t, t, t, pd.NaT]})
    >>> answers = pd.DataFrame({"rater_id": ["a", "a", "b"], "round": 1,
    ...                         "seconds": 40.0, "submitted_at": t + pd.Timedelta(hours=2),
    ...                         "submitted": [True, True, False]})
    >>> later = (t + pd.Timedelta(days=3)).to_pydatetime()
    >>> stalled(people, answers, round_=1, deck_size=2, now=later)[
    ...     ["who", "answered", "idle_hours"]].to_dict("records")
    [{'who': 'c', 'answered': 0, 'idle_hours': 72.0}, {'who': 'Ben', 'answered': 1, 'idle_hours': 70.0}]
    >>> list(stalled(people, answers, round_=1, deck_size=2, now=later, hours=71)["who"])
    ['c']
    """
    last = _last_activity(people, answers)
    done = _answered(people, answers, round_)
    idle = (pd.Timestamp(now) - last.reindex(people["rater_id"])).dt.total_seconds() / 3600
    started = pd.to_datetime(people["started_at"]).notna().to_numpy()
    keep = started & ~_submitted(people, answers, round_) & (idle.to_numpy() > hours)
    chosen = people[keep]
    out = pd.DataFrame({
        "who": [lab if isinstance(lab, str) and lab else rid
                for lab, rid in zip(chosen["label"], chosen["rater_id"], strict=True)],
        "rater_id": chosen["rater_id"].to_numpy(),
        "site": chosen["site"].fillna("").to_numpy(),
        "profession": chosen["profession"].fillna("").to_numpy(),
        "answered": done.to_numpy()[keep],
        "last_activity": last.reindex(chosen["rater_id"]).to_numpy(),
        "idle_hours": np.round(idle.to_numpy()[keep].astype(float), 1)},
        columns=list(STALLED_COLUMNS))
    return out.sort_values(["idle_hours", "rater_id"], ascending=[False, True],
                           kind="stable").reset_index(drop=True)


@dataclass
class Monitoring:
    """The study page's monitoring tables (see :func:`monitoring`)."""

    by_site: pd.DataFrame
    by_profession: pd.DataFrame
    stalled: pd.DataFrame
    hours: int
    round: int
    #: answers saved (any round) but not submitted: never exported nor shown to colleagues
    unsubmitted: int = 0


def parse_hours(value: str | int | None) -> int:
    """The ``stalled_hours`` query parameter: whole hours from 1 to 8760, default 48.

    >>> parse_hours(None), parse_hours(" 12 ")
    (48, 12)
    >>> parse_hours("0")
    Traceback (most recent call last):
    ...
    dsk.app._study.AppError: stalled_hours: expected a whole number from 1 to 8760, got 0
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return STALLED_HOURS
    return _int_field(value, "stalled_hours", 1, 24 * 365)


def frames(db: Session, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``people`` and ``answers`` tables of :func:`monitor` for a study (without
    the withdrawn)."""
    rows = db.execute(select(Participant).where(Participant.study_id == study.id,
                                                Participant.withdrawn_at.is_(None))
                      .order_by(Participant.number)).scalars().all()
    people = pd.DataFrame({
        "rater_id": [rater_id(study.id, p.number) for p in rows],
        "label": pd.Series([p.label for p in rows], dtype=object),
        "site": pd.Series([p.site for p in rows], dtype=object),
        "profession": pd.Series([p.profession for p in rows], dtype=object),
        "invited": [p.link_hash is not None or p.claimed_at is not None for p in rows],
        "started_at": pd.to_datetime(pd.Series([p.claimed_at for p in rows],
                                               dtype="datetime64[ns]"))})
    numbers = {p.id: rater_id(study.id, p.number) for p in rows}
    got = db.execute(select(Response.participant_id, Response.round, Response.seconds,
                            Response.submitted_at).where(Response.study_id == study.id)).all()
    done = {(int(pid), int(r)) for pid, r in db.execute(
        select(RoundSubmission.participant_id, RoundSubmission.round)
        .where(RoundSubmission.study_id == study.id))}
    answers = pd.DataFrame({
        "rater_id": [numbers.get(pid, "") for pid, *_ in got],
        "round": pd.Series([r for _, r, _, _ in got], dtype="int64"),
        "seconds": pd.Series([s for _, _, s, _ in got], dtype=float),
        "submitted_at": pd.Series([at for *_, at in got], dtype="datetime64[ns]"),
        "submitted": pd.Series([(pid, r) in done for pid, r, _, _ in got], dtype=bool)})
    return people, answers[answers["rater_id"] != ""].reset_index(drop=True)


def monitoring(db: Session, study: Study, professions: Mapping[str, str], *,
               hours: int = STALLED_HOURS, now: dt.datetime | None = None) -> Monitoring:
    """Progress by site and by profession (its label; "not given yet" before consent),
    and the stalled practitioners, in the current round (the last round once closed)."""
    people, answers = frames(db, study)
    round_ = current_round(study) or study.rounds
    people["profession"] = [professions.get(p, p) if isinstance(p, str) else "not given yet"
                            for p in people["profession"]]
    by_site = monitor(people, answers, by="site", round_=round_, deck_size=study.deck_size,
                      groups=sites_of(study))
    by_profession = monitor(people, answers, by="profession", round_=round_,
                            deck_size=study.deck_size,
                            groups=[v for v in professions.values()
                                    if v in set(people["profession"])])
    late = stalled(people, answers, round_=round_, deck_size=study.deck_size,
                   now=now or utcnow(), hours=hours)
    unsubmitted = int((~answers["submitted"].astype(bool)).sum()) if len(answers) else 0
    return Monitoring(by_site, by_profession, late, hours, round_, unsubmitted)
