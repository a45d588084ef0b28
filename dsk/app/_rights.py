"""Practitioners' data rights: the information sheet, withdrawal, deletion and retention.

Each study holds an information sheet (plain text), a contact and an ethics reference,
shown on the consent page; the owner sets them when creating the study and may change
them until the first practitioner consents (after that, the sheet is what people agreed
to). A practitioner who withdraws (:func:`withdraw`) loses every answer (both rounds;
hidden-reason log entries go with them), their profession and experience, and the label
and e-mail address the researcher gave them (:mod:`dsk.app._roster`); their session
and link end and they are marked withdrawn. The owner can do the same to one participant
(:func:`delete_participant`) or delete a whole study (:func:`delete_study`), typing the
study's title to confirm. A study whose retention date has passed is deleted by
:func:`purge` (``dsk study purge``). Each of these adds one line to the audit trail
(:mod:`dsk.app._audit`) in its own transaction, never with an answer in it; the trail
of a deleted study is kept. Exports state how many withdrawn participants were removed
(:func:`withdrawn_count`).

Examples
--------
>>> import tempfile
>>> from dsk.app import open_database
>>> from dsk.app import _study as st
>>> from dsk.catalogue import load_catalogue
>>> with tempfile.TemporaryDirectory() as tmp, open_database(tmp + "/app.sqlite3") as db:
...     ada = st.create_researcher(db, "ada", "a long passphrase")
...     info = parse_information("Why we ask.\\nWhat we keep.", "ada@example.org", "REC 1",
...                              "2030-01-31", today=dt.date(2026, 12, 1))
...     study = st.create_study(db, owner=ada, title="Pilot", set_id="training-12",
...                             deck_size=3, n_participants=2, rounds=1,
...                             catalogue=load_catalogue(), information=info)
...     p = db.scalar(select(Participant).where(Participant.number == 1))
...     _ = st.save_answer(db, p, st.deck_of(db, p)[0], 1,
...                        st.Answer(3, 0.5, 3.0, (), "", "a reason", "school"), 10, "n1")
...     print(study.retention_until, withdraw(db, p), withdrawn_count(db, study.id))
...     print([d.title for d in purge(db, dt.date(2030, 2, 1), dry_run=True)])
2030-01-31 1 1
['Pilot']
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from . import _audit
from ._models import Draft, Participant, Researcher, Response, RoundSubmission, Study, utcnow
from ._study import AppError, check_form, rater_id, writing

#: Most characters of an information sheet (the longest field a form may send).
MAX_SHEET = 10_000
#: The response header of the HTTP judgements exports giving the number of withdrawn
#: participants whose answers were removed.
WITHDRAWN_HEADER = "X-Dsk-Withdrawn"
#: The key of the same number in a Parquet export's file metadata.
WITHDRAWN_KEY = "dsk.withdrawn_participants"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def utc_today() -> dt.date:
    """Today's date in UTC (the app's clock)."""
    return utcnow().date()


def parse_date(value: str | dt.date | None, field: str, *, not_before: dt.date | None = None
               ) -> dt.date | None:
    """A date written ``YYYY-MM-DD`` (None when empty), not before ``not_before``.

    >>> parse_date(" 2027-06-30 ", "retention_until")
    datetime.date(2027, 6, 30)
    >>> for bad in ("30/06/2027", "2027-02-30", "2020-01-01"):
    ...     try:
    ...         parse_date(bad, "retention_until", not_before=dt.date(2026, 12, 1))
    ...     except AppError as exc:
    ...         print(exc.message)
    retention_until: expected a date as YYYY-MM-DD, got '30/06/2027'
    retention_until: expected a date as YYYY-MM-DD, got '2027-02-30'
    retention_until: expected today (2026-12-01) or a later date, got 2020-01-01
    """
    if isinstance(value, dt.date):
        date: dt.date | None = value
    else:
        text = (value or "").strip()
        if not text:
            return None
        try:
            date = dt.date.fromisoformat(text) if _DATE.fullmatch(text) else None
        except ValueError:
            date = None
        if date is None:
            raise AppError(f"expected a date as YYYY-MM-DD, got {text[:40]!r}", status=422,
                           field=field)
    if date is not None and not_before is not None and date < not_before:
        raise AppError(f"expected today ({not_before.isoformat()}) or a later date, got "
                       f"{date.isoformat()}", status=422, field=field)
    return date


def _line(value: str, field: str, limit: int) -> str:
    text = (value or "").strip()
    if "\n" in text or "\r" in text:
        raise AppError("expected one line", status=422, field=field)
    if len(text) > limit:
        raise AppError(f"expected at most {limit} characters, got {len(text)}", status=422,
                       field=field)
    return text


def _sheet(value: str) -> str:
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_SHEET:
        raise AppError(f"expected at most {MAX_SHEET} characters, got {len(text)}", status=422,
                       field="info_sheet")
    return text


@dataclass(frozen=True)
class StudyInformation:
    """What practitioners are told about a study, and how long it is kept.

    Made by :func:`parse_information`; :func:`dsk.app._study.create_study` stores it
    with the study (``information=``) and logs the retention date, when there is one,
    under ``actor`` (by default the owner).
    """

    info_sheet: str = ""
    contact: str = ""
    ethics_ref: str = ""
    retention_until: dt.date | None = None
    actor: str = ""

    def apply(self, db: Session, study: Study, owner: Researcher) -> None:
        """Set the study's fields (it must have its id) and log its retention date."""
        study.info_sheet, study.contact, study.ethics_ref = (
            self.info_sheet, self.contact, self.ethics_ref)
        study.retention_until = self.retention_until
        if self.retention_until is not None:
            _audit.record(db, "retention_set", study_id=study.id,
                          actor=self.actor or _audit.researcher_actor(owner.username),
                          detail=f"retention until {self.retention_until.isoformat()}")


def parse_information(info_sheet: str = "", contact: str = "", ethics_ref: str = "",
                      retention_until: str | dt.date | None = None, *,
                      today: dt.date | None = None, actor: str = "") -> StudyInformation:
    r"""Check a study's information sheet, contact, ethics reference and retention date.

    The sheet is plain text (line breaks kept, at most :data:`MAX_SHEET` characters);
    the contact (300) and the ethics reference (100) are one line each; the retention
    date is ``YYYY-MM-DD``, today or later, or empty for none. Problems are 422 errors
    naming the field.

    >>> parse_information("Line one\r\nLine two ", " ada@example.org ", "", "")
    StudyInformation(info_sheet='Line one\nLine two', contact='ada@example.org', ethics_ref='', retention_until=None, actor='')
    >>> parse_information(contact="ada\nbob")
    Traceback (most recent call last):
    ...
    dsk.app._study.AppError: contact: expected one line
    """
    check_form([("info_sheet", info_sheet or ""), ("contact", contact or ""),
                ("ethics_ref", ethics_ref or "")])  # as a web form is, for the command line
    return StudyInformation(
        _sheet(info_sheet), _line(contact, "contact", 300), _line(ethics_ref, "ethics_ref", 100),
        parse_date(retention_until, "retention_until",
                   not_before=today if today is not None else utc_today()), actor)


def consented(db: Session, study: Study) -> int:
    """How many of the study's practitioners have consented (used their link)."""
    return int(db.scalar(select(func.count()).select_from(Participant).where(
        Participant.study_id == study.id, Participant.claimed_at.is_not(None))) or 0)


def set_information(db: Session, study: Study, info_sheet: str, contact: str,
                    ethics_ref: str) -> Study:
    """Change the information sheet, contact and ethics reference, until the first
    practitioner consents (409 afterwards: they agreed to the sheet as it was)."""
    info = parse_information(info_sheet, contact, ethics_ref)
    with writing(db):
        if consented(db, study):
            raise AppError("practitioners have already consented to the information sheet "
                           "as it is, so it can no longer be changed", status=409,
                           field="info_sheet")
        study.info_sheet, study.contact, study.ethics_ref = (
            info.info_sheet, info.contact, info.ethics_ref)
        db.commit()
    return study


def set_retention(db: Session, study: Study, value: str | dt.date | None, *, actor: str,
                  client: str = "", now: dt.date | None = None) -> dt.date | None:
    """Set (or, empty, remove) the study's retention date, today or later; logged."""
    date = parse_date(value, "retention_until", not_before=now or utc_today())
    with writing(db):
        study.retention_until = date
        _audit.record(db, "retention_set", actor=actor, study_id=study.id, client=client,
                      detail=f"retention until {date.isoformat()}" if date
                      else "no retention date")
        db.commit()
    return date


def withdrawn_count(db: Session, study_id: int) -> int:
    """How many of the study's participants withdrew or had their data deleted."""
    return int(db.scalar(select(func.count()).select_from(Participant).where(
        Participant.study_id == study_id, Participant.withdrawn_at.is_not(None))) or 0)


def _remove(db: Session, participant: Participant, action: str, actor: str, client: str,
            detail: str) -> int:
    """Delete a participant's answers, drafts and personal details, end their session and link,
    mark them withdrawn and log ``action``, in one transaction. Returns the answers
    deleted.

    The participant's row is updated first: on PostgreSQL that locks it, so an answer
    being saved at the same moment (:func:`dsk.app._study.save_answer` checks the row
    under a share lock) is either deleted here or refused there.
    """
    with writing(db):
        marked = db.execute(
            update(Participant)
            .where(Participant.id == participant.id, Participant.withdrawn_at.is_(None))
            .values(withdrawn_at=utcnow(), profession=None, experience_years=None,
                    session_hash=None, link_hash=None, label=None, email=None))
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            db.rollback()
            raise AppError("this participant has already withdrawn; their answers were "
                           "deleted", status=409, field="participant")
        gone = db.execute(delete(Response).where(Response.participant_id == participant.id))
        db.execute(delete(Draft).where(Draft.participant_id == participant.id))
        db.execute(delete(RoundSubmission).where(RoundSubmission.participant_id ==
                                                 participant.id))
        count = int(gone.rowcount)  # type: ignore[attr-defined]
        _audit.record(db, action, actor=actor, study_id=participant.study_id, client=client,
                      detail=f"{detail}: {count} answer{'s' * (count != 1)} deleted")
        db.commit()
    db.refresh(participant)
    return count


def withdraw(db: Session, participant: Participant, client: str = "") -> int:
    """The practitioner withdraws: see :func:`_remove`; logged ``withdrew`` under their
    rater id. Returns how many answers were deleted."""
    rater = rater_id(participant.study_id, participant.number)
    return _remove(db, participant, "withdrew", _audit.participant_actor(rater), client,
                   rater)


def check_title(study: Study, typed: str) -> None:
    """Refuse (422) a typed title that is not the study's (spaces around it ignored)."""
    if (typed or "").strip() != study.title.strip():
        raise AppError("does not match the study's title; type it exactly as shown. "
                       "Nothing was deleted", status=422, field="confirm_title")


def delete_participant(db: Session, study: Study, number: int | str, typed_title: str, *,
                       actor: str, client: str = "") -> tuple[Participant, int]:
    """The owner deletes one participant's data (as :func:`withdraw`), after typing the
    study's title; logged ``participant_deleted``. Returns the participant and how many
    answers were deleted."""
    from ._study import _int_field

    check_title(study, typed_title)
    wanted = _int_field(number, "participant", 1, study.n_participants)
    p = db.scalar(select(Participant).where(Participant.study_id == study.id,
                                            Participant.number == wanted))
    if p is None:
        raise AppError(f"no participant {wanted} in this study", status=422, field="participant")
    return p, _remove(db, p, "participant_deleted", actor, client,
                      rater_id(study.id, p.number))


@dataclass(frozen=True)
class DeletedStudy:
    """What :func:`delete_study` or :func:`purge` deleted (or would delete)."""

    study_id: int
    title: str
    retention_until: dt.date | None
    participants: int
    answers: int

    def describe(self) -> str:
        """One line for ``dsk study purge``.

        >>> DeletedStudy(3, "Pilot", dt.date(2026, 1, 31), 12, 70).describe()
        "study 3 'Pilot' (retention until 2026-01-31): 12 participants, 70 answers"
        """
        until = self.retention_until.isoformat() if self.retention_until else "none"
        return (f"study {self.study_id} {self.title!r} (retention until {until}): "
                f"{self.participants} participants, {self.answers} answers")


def summary(db: Session, study: Study) -> DeletedStudy:
    """How much :func:`delete_study` would delete from ``study``."""
    people = int(db.scalar(select(func.count()).select_from(Participant)
                           .where(Participant.study_id == study.id)) or 0)
    answers = int(db.scalar(select(func.count()).select_from(Response)
                            .where(Response.study_id == study.id)) or 0)
    return DeletedStudy(int(study.id), study.title, study.retention_until, people, answers)


def _delete(db: Session, study: Study, action: str, actor: str, client: str, why: str
            ) -> DeletedStudy:
    done = summary(db, study)
    with writing(db):
        # the database cascades to vignettes, participants, their decks and answers,
        # hidden-reason entries and collaborators; the audit trail has no foreign key
        db.execute(delete(Study).where(Study.id == study.id))
        _audit.record(db, action, actor=actor, study_id=done.study_id, client=client,
                      detail=f"title {done.title!r}{why}: {done.participants} participants, "
                             f"{done.answers} answers deleted")
        db.commit()
    db.expunge(study)
    return done


def delete_study(db: Session, study: Study, typed_title: str, *, actor: str,
                 client: str = "") -> DeletedStudy:
    """The owner deletes the whole study after typing its title (422 otherwise, deleting
    nothing); logged ``study_deleted`` with the title. The audit trail is kept."""
    check_title(study, typed_title)
    return _delete(db, study, "study_deleted", actor, client, "")


def due_for_purge(db: Session, on: dt.date) -> list[Study]:
    """The studies whose retention date is before ``on``, oldest date first."""
    return list(db.scalars(select(Study).where(Study.retention_until.is_not(None),
                                               Study.retention_until < on)
                           .order_by(Study.retention_until, Study.id)))


def purge(db: Session, on: dt.date | None = None, *, dry_run: bool = False,
          actor: str = "cli") -> list[DeletedStudy]:
    """Delete every study whose retention date has passed by ``on`` (default today, UTC),
    each logged ``purged``; with ``dry_run`` only say which."""
    on = on or utc_today()
    out = []
    for study in due_for_purge(db, on):
        if dry_run:
            out.append(summary(db, study))
        else:
            out.append(_delete(db, study, "purged", actor, "", " (retention date passed)"))
    return out


def add_parquet_metadata(path: str | Path, metadata: dict[str, str]) -> Path:
    """Add key-value pairs to a Parquet file's metadata (the table is unchanged).

    >>> import tempfile
    >>> import pandas as pd
    >>> import pyarrow.parquet as pq
    >>> from dsk.io import write_table
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_table(pd.DataFrame({"a": [1]}), Path(tmp, "t.parquet"))
    ...     _ = add_parquet_metadata(path, {WITHDRAWN_KEY: "2"})
    ...     print(pq.read_schema(path).metadata[WITHDRAWN_KEY.encode()])
    b'2'
    """
    import pyarrow.parquet as pq

    path = Path(path)
    table = pq.read_table(path)
    merged = dict(table.schema.metadata or {})
    merged.update({k.encode(): v.encode() for k, v in metadata.items()})
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table.replace_schema_metadata(merged), tmp, compression="zstd")
    tmp.replace(path)
    return path
