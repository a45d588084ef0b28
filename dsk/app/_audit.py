"""The audit trail: who did what to which study, and when.

Every action on practitioners' data or on accounts adds one :class:`AuditEvent` row
through :func:`record`, in the same transaction as the action itself, so that an
action is never stored without its line in the trail (nor the line without the
action). Views and exports, which change nothing else, commit their line on their
own. The trail names the actor (``researcher:NAME``, ``participant:RATER_ID``,
``cli`` for the command line) and what was acted on, never a practitioner's answers,
reasons or a password. It is kept when a study is deleted: ``study_id`` is no
foreign key, and the deletion is itself an event.

:func:`trail` gives a study's trail as a table, for the owner's page, its CSV export
and ``dsk study audit ID``.

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

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ._models import AuditEvent

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
    "site_moved": "moved a participant to another site",
    "round_closed": "closed a round",
    "role_changed": "gave a collaborator a role",
    "role_removed": "took a collaborator's role away",
    "reason_hidden": "hid a reason from colleagues",
    "consented": "consented and started",
    "left_device": "left a device",
    "withdrew": "withdrew from the study",
    "participant_deleted": "deleted a participant's data",
    "study_deleted": "deleted the study",
    "retention_set": "set the retention date",
    "purged": "purged data past its retention date",
    "audit_viewed": "viewed the audit trail",
    "audit_exported": "exported the audit trail",
}

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


def trail(db: Session, study_id: int) -> pd.DataFrame:
    """The audit trail of one study, oldest first, with :data:`TRAIL_COLUMNS`."""
    rows = db.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id)
                      .order_by(AuditEvent.at, AuditEvent.id)).all()
    return pd.DataFrame(
        [(e.at.isoformat(timespec="seconds"), e.actor, e.action, ACTIONS.get(e.action, e.action),
          e.detail, e.client) for e in rows], columns=list(TRAIL_COLUMNS))
