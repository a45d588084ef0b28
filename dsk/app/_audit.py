"""The audit trail: who did what to which study, and when.

Every action on practitioners' data or on accounts adds one :class:`AuditEvent` row
through :func:`record`, in the same transaction as the action itself, so that an
action is never stored without its line in the trail (nor the line without the
action). Views and exports, which change nothing else, commit their line on their
own (:func:`record_now`). Most actions are functions of :mod:`dsk.app._study` that commit themselves; a
handler wraps such a call in :func:`recording`, which adds the line just before that
commit. The trail names the actor (``researcher:NAME``, ``participant:RATER_ID``,
``cli`` for the command line) and what was acted on, never a practitioner's answers,
reasons, a password, or a link or session token. Researchers' lines keep the client
address; practitioners' lines do not, since it would tie a participant code to a
person. It is kept when a study is deleted: ``study_id`` is no
foreign key, and the deletion is itself an event.

:func:`trail` gives a study's trail as a table, for the owner's page, its CSV export
and ``dsk study audit ID``; ``trail(db, None)`` gives the account events (log-ins,
failed log-ins, account changes), which belong to no study, for the admins' page.

Examples
--------
>>> from sqlalchemy import create_engine
>>> from sqlalchemy.orm import Session
>>> from dsk.app._models import Base
>>> engine = create_engine("sqlite://")
>>> Base.metadata.create_all(engine)
>>> with Session(engine) as db:
...     _ = record(db, "study_viewed", actor="researcher:ada", study_id=1, client="127.0.0.1")
...     _ = record(db, "round_closed", actor="researcher:ada", study_id=1, detail="round 1")
...     _ = record(db, "login", actor="researcher:ada")
...     db.commit()
...     table = trail(db, 1)
>>> list(table["what"]), list(table["detail"]), list(table["client"])
(['viewed the study page', 'closed a round'], ['', 'round 1'], ['127.0.0.1', ''])
>>> record(db, "tea_break", actor="cli")
Traceback (most recent call last):
...
ValueError: action: expected one of the audit actions, got 'tea_break'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ._db import writing
from ._models import AuditEvent, Study

#: Every action the trail records, with the words its pages and exports use.
ACTIONS: dict[str, str] = {
    "login": "signed in",
    "login_failed": "failed to sign in",
    "logout": "signed out",
    "password_changed": "changed their password",
    "account_created": "created an account",
    "account_reset": "reset an account's password",
    "account_disabled": "disabled an account",
    "account_enabled": "enabled an account",
    "study_created": "created the study",
    "study_viewed": "viewed the study page",
    "exported": "exported data",
    "links_issued": "issued participant links",
    "participants_imported": "imported participants",
    "participants_added": "added participants",
    "link_reissued": "re-issued one participant's link",
    "site_moved": "moved a participant to another site",
    "round_closed": "closed a round",
    "role_changed": "gave a collaborator a role",
    "role_removed": "took a collaborator's role away",
    "reason_hidden": "hid a reason from colleagues",
    "consented": "consented and started",
    "left_device": "left a device",
    "resumed": "carried on in another browser",
    "answers_submitted": "submitted their answers of a round",
    "withdrew": "withdrew from the study",
    "participant_deleted": "deleted a participant's data",
    "study_deleted": "deleted the study",
    "retention_set": "set the retention date",
    "purged": "purged data past its retention date",
    "audit_viewed": "viewed the audit trail",
    "audit_exported": "exported the audit trail",
    "invitations_sent": "sent invitations by e-mail",
    "reminders_sent": "sent reminders by e-mail",
    "round2_notices_sent": "e-mailed the round-2 notice",
    "mail_retried": "sent unsent e-mails again",
    "mail_templates_changed": "changed the e-mail templates",
    "link_resent": "e-mailed a practitioner their link again, on request",
    "deadline_set": "set the round's deadline",
    "trainer_granted": "gave an account the trainer role",
    "trainer_removed": "took the trainer role away",
    "workshop_created": "created a workshop",
    "workshop_viewed": "viewed a workshop's projector page",
    "workshop_step": "moved a workshop on",
    "workshop_varied": "showed a what-if variant",
    "workshop_participant_removed": "removed a phone from a workshop",
    "workshop_exported": "exported a workshop's votes",
    "workshop_deleted": "deleted a workshop",
}

#: Longest user name, as typed, that names the actor of a failed log-in.
TYPED_NAME = 60
#: Columns of :func:`trail`.
TRAIL_COLUMNS = ("at", "actor", "action", "what", "detail", "client")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str, limit: int) -> str:
    return _CONTROLS.sub(" ", text)[:limit]


def researcher_actor(username: str) -> str:
    """The actor of a researcher's action.

    >>> researcher_actor("ada")
    'researcher:ada'
    """
    return f"researcher:{username}"


def participant_actor(rater: str) -> str:
    """The actor of a practitioner's action, by their rater id (never by name).

    >>> participant_actor("s1-p003")
    'participant:s1-p003'
    """
    return f"participant:{rater}"


def record(db: Session, action: str, *, actor: str, study_id: int | None = None,
           detail: str = "", client: str = "") -> AuditEvent:
    """Add one line to the trail in ``db``'s transaction (the caller commits).

    ``detail`` and ``actor`` lose control characters and are cut to 500 and 120
    characters, so a hostile user name cannot forge or flood lines of the trail.
    """
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of the audit actions, got {action!r}")
    event = AuditEvent(action=action, actor=_clean(actor, 120), study_id=study_id,
                       detail=_clean(detail, 500), client=_clean(client, 64))
    db.add(event)
    return event


def record_now(db: Session, action: str, *, actor: str, study_id: int | None = None,
               detail: str = "", client: str = "") -> None:
    """Add one line and commit it at once: for views and exports, which change nothing
    else (under the SQLite write lock, as :func:`dsk.app._study.writing`)."""
    record(db, action, actor=actor, study_id=study_id, detail=detail, client=client)
    with writing(db):
        db.commit()


@contextmanager
def recording(db: Session, action: str, *, actor: str, study_id: int | None = None,
              detail: str | Callable[[], str] = "", client: str = "") -> Iterator[None]:
    """Record ``action`` in the transaction of the first commit made inside the block.

    For an action whose own function commits (most of :mod:`dsk.app._study`): the line
    is added just before that commit, so the action and its line are stored together
    or not at all. A block that raises before committing, rolls back, or commits
    nothing records nothing. A callable ``detail`` is called at that commit, once the
    action's inputs have passed its checks. Without ``study_id``, the line names the
    study created in the block, if any (``study_created``).

    Examples
    --------
    >>> from sqlalchemy import create_engine
    >>> from dsk.app._models import Base, Setting
    >>> engine = create_engine("sqlite://")
    >>> Base.metadata.create_all(engine)
    >>> with Session(engine) as db:
    ...     with recording(db, "round_closed", actor="researcher:ada", study_id=1,
    ...                    detail=lambda: "round 1"):
    ...         db.add(Setting(key="phase", value="round2"))
    ...         db.commit()
    ...     try:
    ...         with recording(db, "round_closed", actor="researcher:ada", study_id=1):
    ...             raise ValueError("phase: the study is already closed")
    ...     except ValueError:
    ...         db.rollback()
    ...     db.add(Setting(key="later", value="a commit after the block records nothing"))
    ...     db.commit()
    ...     list(trail(db, 1)["detail"])
    ['round 1']
    """
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of the audit actions, got {action!r}")
    created: list[Study] = []
    done = False

    def flushed(session: Session, context: Any) -> None:
        # after a flush, ``session.new`` still lists what that flush inserted
        created.extend(o for o in session.new if isinstance(o, Study))

    def committing(session: Session) -> None:
        nonlocal done
        if done:
            return
        done = True
        sid = study_id if study_id is not None else (created[0].id if created else None)
        record(session, action, actor=actor, study_id=sid,
               detail=detail() if callable(detail) else detail, client=client)

    sa_event.listen(db, "after_flush", flushed)
    sa_event.listen(db, "before_commit", committing)
    try:
        yield
    finally:
        sa_event.remove(db, "after_flush", flushed)
        sa_event.remove(db, "before_commit", committing)


def _lines(study_id: int | None) -> Any:
    return (AuditEvent.study_id.is_(None) if study_id is None
            else AuditEvent.study_id == study_id)


def trail(db: Session, study_id: int | None, *, newest_first: bool = False,
          limit: int | None = None) -> pd.DataFrame:
    """The audit trail of one study (``None``: the account events, which have no study),
    oldest first unless ``newest_first``, at most ``limit`` lines, with
    :data:`TRAIL_COLUMNS`."""
    order = ((AuditEvent.at.desc(), AuditEvent.id.desc()) if newest_first
             else (AuditEvent.at, AuditEvent.id))
    rows = db.scalars(select(AuditEvent).where(_lines(study_id)).order_by(*order)
                      .limit(limit)).all()
    return pd.DataFrame(
        [(e.at.isoformat(timespec="seconds"), e.actor, e.action, ACTIONS.get(e.action, e.action),
          e.detail, e.client) for e in rows], columns=list(TRAIL_COLUMNS))


def trail_length(db: Session, study_id: int | None) -> int:
    """How many lines :func:`trail` holds for ``study_id`` (``None``: account events)."""
    return int(db.scalar(select(func.count()).select_from(AuditEvent)
                         .where(_lines(study_id))) or 0)
