"""Database tables of the scoring app (SQLAlchemy 2 declarative models).

The schema is created and upgraded by the Alembic migrations in
``dsk/app/migrations``; a test checks that the migrations and these models agree.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Key-value settings, e.g. the signing secret (kept so restarts keep sessions)."""

    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Researcher(Base):
    __tablename__ = "researchers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: manages accounts (the admin pages); gives no access to other researchers' studies
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: a disabled account cannot log in, and its sessions were ended
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: runs workshops (projector, room of phones); an admin grants it
    is_trainer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ResearcherSession(Base):
    __tablename__ = "researcher_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    researcher_id: Mapped[int] = mapped_column(ForeignKey("researchers.id", ondelete="CASCADE"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Study(Base):
    __tablename__ = "studies"
    #: AUTOINCREMENT on SQLite, so that a deleted study's number is never given to a new
    #: one (its audit trail, kept by number, would otherwise become the new study's)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    #: the researcher who created the study; only they manage its collaborators
    owner_id: Mapped[int] = mapped_column(ForeignKey("researchers.id"), index=True)
    set_id: Mapped[str] = mapped_column(String(100))
    deck_size: Mapped[int] = mapped_column(Integer)
    n_participants: Mapped[int] = mapped_column(Integer)
    rounds: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    #: the researcher's own vignettes file (its name), or "" for a bundled set
    source: Mapped[str] = mapped_column(String(300), default="", server_default="")
    #: sha256 of that file's bytes, or ""
    source_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: JSON list of site names, in order; "[]" when the study has no sites
    sites: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    #: round1 -> (round2 when rounds == 2) -> closed
    phase: Mapped[str] = mapped_column(String(20), default="round1")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: the information sheet practitioners read before consenting (plain text), or ""
    info_sheet: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: whom practitioners contact about the study (one line), or ""
    contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    #: the ethics committee's reference for the study, or ""
    ethics_ref: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: the study is deleted by ``dsk study purge`` once this date has passed (null: kept)
    retention_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Collaborator(Base):
    """A researcher other than the owner who may see (viewer) or run (editor) a study."""

    __tablename__ = "study_collaborators"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'editor')",
                                      name="ck_collaborator_role"),)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    researcher_id: Mapped[int] = mapped_column(ForeignKey("researchers.id", ondelete="CASCADE"),
                                               primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(10))


class StudyVignette(Base):
    """A copy of each vignette's narrative, so a study never depends on files changing."""

    __tablename__ = "study_vignettes"
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    vignette_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    narrative: Mapped[str] = mapped_column(Text)
    complexity_band: Mapped[str] = mapped_column(String(20), default="")


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("study_id", "number", name="uq_participant_number"),
                      UniqueConstraint("study_id", "label", name="uq_participant_label"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    deck: Mapped[int] = mapped_column(Integer)
    #: sha256 of the one-time link token; null until a link is issued
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    #: sha256 of the participant's browser session token, set when the link is used
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    profession: Mapped[str | None] = mapped_column(String(100), nullable=True)
    experience_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the site whose links this participant's link was issued with (null: no sites)
    site: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: when the practitioner withdrew (or the owner deleted their data): their answers,
    #: profession and experience are gone, their session and link ended; null otherwise
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: the researcher's own name for the practitioner (personal data: shown only to the
    #: study's researchers, never exported with the answers; cleared on withdrawal)
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    #: the practitioner's e-mail address, for invitations (personal data, as ``label``)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    #: when their current link was issued (null: never, or before this was recorded)
    invited_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Assignment(Base):
    __tablename__ = "assignments"
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    vignette_id: Mapped[str] = mapped_column(String(100))


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        UniqueConstraint("participant_id", "vignette_id", "round", name="uq_response_once"),
        Index("ix_responses_study_round", "study_id", "round"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    vignette_id: Mapped[str] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(Integer)
    need_level: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    risk: Mapped[float] = mapped_column(Float)
    salient_factors: Mapped[str] = mapped_column(Text)  # JSON list of factor ids
    salient_other: Mapped[str] = mapped_column(Text, default="")
    rationale: Mapped[str] = mapped_column(Text)
    lead_agency: Mapped[str] = mapped_column(String(100))
    seconds: Mapped[float] = mapped_column(Float)
    form_nonce: Mapped[str] = mapped_column(String(64), unique=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class HiddenReason(Base):
    """A round-1 reason (rationale) that colleagues do not see in round 2, and the log of
    its hiding: which answer, by whom, when (never the reason itself)."""

    __tablename__ = "hidden_reasons"
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"),
                                             primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          index=True)
    #: the researcher who hid it (null once their account is deleted)
    researcher_id: Mapped[int | None] = mapped_column(
        ForeignKey("researchers.id", ondelete="SET NULL"), nullable=True)
    hidden_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    """One line of the audit trail: who did what, when, and to which study.

    ``study_id`` is no foreign key, so the trail outlives a deleted study (its deletion
    is itself an event). ``detail`` never holds a practitioner's answers or a password.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_study_at", "study_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    #: ``researcher:NAME``, ``participant:RATER_ID``, ``cli`` or ``anonymous``
    actor: Mapped[str] = mapped_column(String(120))
    #: one of :data:`dsk.app._audit.ACTIONS`
    action: Mapped[str] = mapped_column(String(40))
    study_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: what was acted on, in a few plain words (a file name, a role, a participant)
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the client address the request came from ("" from the command line)
    client: Mapped[str] = mapped_column(String(64), default="", server_default="")


class LoginThrottle(Base):
    """Failed log-ins counted per key (an account, a client address, or both), kept in the
    database so that every worker process sees them and a restart forgets nothing."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: no attempt for this key is checked before this time
    blocked_until: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Draft(Base):
    """What a practitioner has typed or ticked in a case but not yet saved as an answer,
    kept as they type (``POST /s/draft``), so a reload or another device finds it again."""

    __tablename__ = "drafts"
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    vignette_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: JSON object of the scoring form's fields (``salient_factors`` a list)
    fields: Mapped[str] = mapped_column(Text)
    #: when the page this draft began on was shown (for the answer's ``seconds``)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RoundSubmission(Base):
    """A practitioner pressed "Submit my answers" for a round: its answers are final."""

    __tablename__ = "round_submissions"
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          index=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MailTemplate(Base):
    """A study's own subject and body for one kind of e-mail (invitation, reminder,
    round-2 notice); without a row the default of :mod:`dsk.app._mail` is used."""

    __tablename__ = "mail_templates"
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)


class Outbox(Base):
    """One e-mail to a participant: its kind, and when it was sent or why it failed.

    Never the address, the link or the body (a link is stored only as its hash, on the
    participant)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_study_kind", "study_id", "kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    #: one of :data:`dsk.app._mail.KINDS`, or ``link`` (sent again on request)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: when the mail server accepted it (null: not yet, or it failed)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: why the last attempt failed ("" when it has not failed)
    error: Mapped[str] = mapped_column(String(300), default="", server_default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ScheduledJob(Base):
    """Something due at a time: a round closing at its deadline (``close``) or a reminder
    before it (``remind``), for round ``round``. The process that sets ``done_at`` (an
    ``UPDATE ... WHERE done_at IS NULL``) runs it; no other does."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (Index("ix_scheduled_jobs_due", "done_at", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          index=True)
    kind: Mapped[str] = mapped_column(String(20))
    round: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Workshop(Base):
    """A training session: a trainer, a projector and a room of phones voting on cases.

    ``stage`` is what the projector shows of the current case (see
    :data:`dsk.app._workshop.STAGES`); ``version`` grows by one at every change phones
    must follow, so a phone that reconnects knows whether it missed something.
    """

    __tablename__ = "workshops"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the trainer who created it; the votes are theirs to export and delete
    owner_id: Mapped[int] = mapped_column(ForeignKey("researchers.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    #: the join code; it stops working when the workshop ends (and is never given again)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    #: the bundled set id or the uploaded file's name
    source: Mapped[str] = mapped_column(String(300))
    #: JSON list of bundled ruleset ids the trainer may reveal
    rulesets: Mapped[str] = mapped_column(Text, default="[]")
    #: "" (none), "simulated" or "study:ID" (round-1 answers of that study)
    reference: Mapped[str] = mapped_column(String(40), default="")
    panel_seed: Mapped[int] = mapped_column(Integer, default=0)
    show_note: Mapped[bool] = mapped_column(Boolean, default=True)
    #: index of the case on screen (in ``WorkshopVignette.ordinal`` order)
    current: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(20), default="vote")
    #: 1 for the first vote on the case on screen, 2 for the re-vote after discussion
    round: Mapped[int] = mapped_column(Integer, default=1)
    #: the what-if variant on screen (its vignette id), or null
    variant_id: Mapped[str | None] = mapped_column(String(140), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: open -> ended
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WorkshopVignette(Base):
    """A case of a workshop (or a what-if variant of one), copied so the workshop never
    depends on files changing: its narrative, teaching note and full vignette row."""

    __tablename__ = "workshop_vignettes"
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"),
                                             primary_key=True)
    vignette_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    #: place in the running order; variants take their original's ordinal
    ordinal: Mapped[int] = mapped_column(Integer)
    narrative: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    #: the vignettes-table row as JSON (factors, derived features, reports)
    row: Mapped[str] = mapped_column(Text)
    varied_from: Mapped[str | None] = mapped_column(String(140), nullable=True)
    variation: Mapped[str] = mapped_column(String(300), default="")


class WorkshopParticipant(Base):
    """A phone in the room: no account, no link; a signed cookie holds its token."""

    __tablename__ = "workshop_participants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"),
                                             index=True)
    #: sha256 of the phone's token
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(60), default="")
    profession: Mapped[str | None] = mapped_column(String(100), nullable=True)
    joined_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: when the trainer removed the phone (its votes are deleted); null otherwise
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class WorkshopVote(Base):
    """One phone's level for one case in one round (1: first vote, 2: re-vote)."""

    __tablename__ = "workshop_votes"
    __table_args__ = (UniqueConstraint("participant_id", "vignette_id", "round",
                                       name="uq_workshop_vote_once"),
                      Index("ix_workshop_votes_case", "workshop_id", "vignette_id", "round"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workshop_id: Mapped[int] = mapped_column(ForeignKey("workshops.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_participants.id", ondelete="CASCADE"))
    vignette_id: Mapped[str] = mapped_column(String(140))
    round: Mapped[int] = mapped_column(Integer)
    need_level: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    voted_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
