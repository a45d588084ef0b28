"""E-mail to practitioners over SMTP: invitations, reminders, the round-2 notice, links.

The mail server is one URL (:func:`parse_smtp_url`, ``dsk serve --smtp URL`` or the
environment variable ``DSK_SMTP_URL``); :class:`Mailer` sends plain-text messages with
the standard library's :mod:`smtplib`, over one connection per batch. Each study has
three templates its researchers can edit (:data:`KINDS`), a subject and a body each,
with placeholders in braces (:data:`PLACEHOLDERS`) that are checked when saved
(:func:`check_template`): an unknown one is refused by name, and a subject is one line,
so no header can be injected. The messages are plain text: nothing in them is HTML.

Every message is a row of the ``outbox`` table (participant, kind, when it was sent or
why it failed; never the address, the link or the body). Sending is two steps: first,
in one transaction, the rows (and any new links, whose old links stop working) are
stored; then the messages go to the server and each row records ``sent_at`` or its
error. A failed message is shown on the study page and sent again by
:func:`retry`. :func:`invite` invites every participant with an address who has no
invitation row yet, so sending twice, or reloading, invites nobody twice.
:func:`remind` reminds those who have not submitted the current round (a new link for
those who have not started; the others are told to use theirs, or ask for it again);
:func:`notify_round2` e-mails everyone who submitted round 1 when round 2 opens;
:func:`resend_link` sends a practitioner who asks (``/link``) a new link. Audit lines
give counts only, never an address.

Examples
--------
>>> cfg = parse_smtp_url("smtp://study%40example.org:s3cret@mail.example.org:587"
...                      "?from=study@example.org")
>>> cfg.host, cfg.port, cfg.security, cfg.username, cfg.sender
('mail.example.org', 587, 'starttls', 'study@example.org', 'study@example.org')
>>> "s3cret" in repr(cfg)
False
>>> subject, body = render("invitation", DEFAULTS["invitation"],
...                        {"label": "Anna", "study": "Pilot", "contact": "Dr Ng",
...                         "link": "https://x.org/p/abc"})
>>> subject
'Invitation to the study “Pilot”'
>>> "https://x.org/p/abc" in body
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import smtplib
import ssl
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from . import _audit
from ._models import (
    LoginThrottle,
    MailTemplate,
    Outbox,
    Participant,
    RoundSubmission,
    ScheduledJob,
    Study,
    utcnow,
)
from ._roster import _EMAIL, _lock
from ._security import new_token, token_hash
from ._study import AppError, current_round, rater_id, writing

#: The e-mails a researcher can edit, and their names on the pages.
KINDS: dict[str, str] = {"invitation": "Invitation", "reminder": "Reminder",
                         "round2": "Round 2 opens"}
#: Words of each kind of message (``link``: a link sent again on request; not editable).
KIND_WORDS = {"invitation": "invitation", "reminder": "reminder",
              "round2": "round-2 notice", "link": "link sent again"}
#: The placeholders each template may use, and what they stand for.
PLACEHOLDERS: dict[str, dict[str, str]] = {
    "invitation": {"label": "the practitioner's label", "study": "the study's title",
                   "contact": "the study's contact", "deadline": "when the round closes",
                   "link": "their new personal link"},
    "reminder": {"label": "the practitioner's label", "study": "the study's title",
                 "contact": "the study's contact", "deadline": "when the round closes",
                 "access": "how to carry on: a new link if they have not started, otherwise "
                           "to use the link they have or ask for it again"},
    "round2": {"label": "the practitioner's label", "study": "the study's title",
               "contact": "the study's contact",
               "access": "to use the link they have, or ask for it again"},
}
#: The placeholder each body must contain (where the link, or the way back, goes).
REQUIRED = {"invitation": "link", "reminder": "access", "round2": "access"}
MAX_SUBJECT, MAX_BODY = 200, 5000

DEFAULTS: dict[str, tuple[str, str]] = {
    "invitation": (
        "Invitation to the study “{study}”",
        "Hello {label},\n\n"
        "You are invited to take part in the study “{study}”: you read a few short case "
        "descriptions and say, for each, what level of need the child has and why.\n\n"
        "Your personal link (it is yours alone; please do not forward it):\n{link}\n\n"
        "Open it to read the information sheet and decide whether to take part.\n\n"
        "Questions: {contact}.\n"),
    "reminder": (
        "Reminder: the study “{study}”",
        "Hello {label},\n\n"
        "A reminder about the study “{study}”: your answers have not been submitted "
        "yet (deadline: {deadline}).\n\n{access}\n\nQuestions: {contact}.\n"),
    "round2": (
        "Round 2 of “{study}” is open",
        "Hello {label},\n\n"
        "Thank you for your answers in round 1 of “{study}”. Round 2 is now open: you see "
        "your colleagues' round-1 answers, anonymised, and can revise yours.\n\n"
        "{access}\n\nQuestions: {contact}.\n"),
}
_LINK_AGAIN = (
    "Your link to the study “{study}”",
    "Hello {label},\n\n"
    "You asked for your link to the study “{study}” again. Your new personal link (the "
    "old one no longer works; your answers are kept):\n{link}\n\n"
    "If you did not ask for it, you can ignore this message. Questions: {contact}.\n")

#: Requests for a link (``/link``) one client may make per hour, and messages one address
#: may receive that way per hour.
LINK_REQUESTS_PER_CLIENT, LINK_MAILS_PER_ADDRESS = 10, 3
_HOUR = dt.timedelta(hours=1)
_log = logging.getLogger("dsk.app.mail")


# ---------------------------------------------------------------- the mail server


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send (see :func:`parse_smtp_url`); the password is never shown."""

    host: str
    port: int
    security: str  # "ssl" (smtps://), "starttls" or "none"
    sender: str
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 20.0
    cafile: str = ""  # certificates to trust instead of the system's (PEM)


def parse_smtp_url(url: str) -> SmtpConfig:
    """Read ``smtp://[USER:PASSWORD@]HOST[:PORT]?from=ADDRESS[&starttls=0|1][&timeout=S]
    [&cafile=PATH]`` (``smtps://`` for implicit TLS, port 465 by default; ``smtp://`` uses
    port 25, with STARTTLS when a user name is given unless ``starttls=0``). User and
    password are percent-encoded, in ASCII (:mod:`smtplib` logs in with ASCII only).

    Over TLS the server's certificate must be valid for ``HOST`` and signed by an
    authority the system trusts (OpenSSL's store; ``SSL_CERT_FILE`` points it elsewhere),
    or, with ``cafile``, by one of the certificates in that PEM file (for a relay
    whose certificate comes from the organisation's own authority). There is no
    setting to skip the check, and a server that does not offer STARTTLS when it is
    asked for is not written to in plain text. Errors name ``--smtp`` and never show
    the password.

    Examples
    --------
    >>> parse_smtp_url("smtps://mail.example.org?from=study@example.org")
    SmtpConfig(host='mail.example.org', port=465, security='ssl', sender='study@example.org', username='', timeout=20.0, cafile='')
    >>> relay = parse_smtp_url("smtp://study:s3cret@relay.uni.example:587?starttls=1"
    ...                        "&from=study@uni.example")
    >>> relay.security, relay.port, relay.username
    ('starttls', 587, 'study')
    >>> parse_smtp_url("smtp://relay.uni.example?from=s@uni.example&cafile=/nowhere.pem")
    Traceback (most recent call last):
    ...
    ValueError: --smtp: cafile: expected a TLS connection (smtps://, starttls=1 or a user name) (got smtp://relay.uni.example?from=s@uni.example&cafile=/nowhere.pem)
    >>> parse_smtp_url("smtp://127.0.0.1:2525?from=s@example.org").security
    'none'
    >>> parse_smtp_url("smtp://u:secret@mail.example.org")
    Traceback (most recent call last):
    ...
    ValueError: --smtp: give the sender's address as ?from=ADDRESS, e.g. smtp://mail.example.org:587?starttls=1&from=study@example.org (got smtp://u:***@mail.example.org)
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:
        parts, port, host = urlsplit(""), None, None
    shown = text
    if parts.password:
        shown = text.replace(f":{parts.password}@", ":***@", 1)
    shown = shown[:200]

    def fail(message: str) -> ValueError:
        return ValueError(f"--smtp: {message} (got {shown})")

    if parts.scheme not in ("smtp", "smtps"):
        raise fail("expected smtp://[USER:PASSWORD@]HOST[:PORT]?from=ADDRESS, or smtps:// "
                   "for implicit TLS")
    if not host:
        raise fail("expected a host name after smtp://")
    if parts.path not in ("", "/"):
        raise fail("expected no path after the host")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"from", "starttls", "timeout", "cafile"})
    if unknown:
        raise fail(f"unknown setting {unknown[0]!r}; expected only from, starttls, timeout "
                   "and cafile")
    sender = query.get("from", [""])[-1].strip()
    if not sender:
        raise ValueError("--smtp: give the sender's address as ?from=ADDRESS, e.g. "
                         "smtp://mail.example.org:587?starttls=1&from=study@example.org "
                         f"(got {shown})")
    if not _EMAIL.fullmatch(sender):
        raise fail(f"from: expected an e-mail address such as study@example.org, got "
                   f"{sender[:60]!r}")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if not (username + password).isascii():
        raise fail("user name and password: expected ASCII characters only (the log-in "
                   "sends them as ASCII)")
    starttls = query.get("starttls", [""])[-1].strip()
    if starttls not in ("", "0", "1"):
        raise fail(f"starttls: expected 0 or 1, got {starttls[:20]!r}")
    if parts.scheme == "smtps":
        if starttls == "1":
            raise fail("starttls: smtps:// is already TLS; leave out starttls")
        security = "ssl"
    else:
        security = "starttls" if starttls == "1" or (starttls == "" and username) else "none"
    timeout = 20.0
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 300:
            raise fail("timeout: expected seconds from 0 to 300")
    cafile = query.get("cafile", [""])[-1].strip()
    if cafile:
        if security == "none":
            raise fail("cafile: expected a TLS connection (smtps://, starttls=1 or a user "
                       "name)")
        problem = _check_cafile(cafile)
        if problem:
            raise fail(f"cafile: {problem}")
    return SmtpConfig(host, port or (465 if security == "ssl" else 25), security, sender,
                      username, password, timeout, cafile)


def _check_cafile(path: str) -> str:
    """Why ``path`` is not a file of certificates to trust, or "".

    >>> _check_cafile("/no/such/ca.pem")
    "no such file '/no/such/ca.pem'"
    """
    if not os.path.isfile(path):
        return f"no such file {path[:120]!r}"
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, ValueError):
        return f"expected PEM certificates (-----BEGIN CERTIFICATE-----) in {path[:120]!r}"
    return ""


class _Refused(smtplib.SMTPException):
    """The connection was given up before anything was sent; the text says why."""


def _describe(exc: BaseException, config: SmtpConfig) -> str:
    """Why sending failed, in plain words: never the server's text (it may echo an
    address) and never the password.

    >>> cfg = SmtpConfig("mail.example.org", 25, "none", "s@example.org")
    >>> _describe(ConnectionRefusedError(111, "Connection refused"), cfg)
    'cannot reach the mail server mail.example.org:25 (Connection refused)'
    >>> _describe(smtplib.SMTPRecipientsRefused({"a@b.org": (550, b"no")}), cfg)
    'the mail server refused the address'
    """
    if isinstance(exc, _Refused):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or "certificate verify failed"
        return (f"the mail server's certificate is not trusted for {config.host} ({why}); "
                "nothing was sent (if your organisation signs it, give its authority with "
                "cafile=PATH)")
    if isinstance(exc, ssl.SSLError):
        hint = ("; it did not answer in TLS: a port such as 587 wants smtp:// with starttls=1"
                if exc.reason == "WRONG_VERSION_NUMBER" else "")
        return (f"no TLS connection with the mail server {config.host}:{config.port} "
                f"({exc.reason or 'handshake failed'}); nothing was sent{hint}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the mail server refused the address"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the mail server refused the user name or password (code {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the mail server refused the message (code {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the mail server {config.host}:{config.port} closed the connection"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ("the mail server does not support what this message needs (STARTTLS, or "
                "an address that is not ASCII)")
    if isinstance(exc, ValueError):
        return "the message could not be written (a line break in a header?)"
    if isinstance(exc, OSError):
        why = exc.strerror or type(exc).__name__
        return f"cannot reach the mail server {config.host}:{config.port} ({why})"
    return f"sending failed ({type(exc).__name__})"


@dataclass(frozen=True)
class Mail:
    """One plain-text message to send."""

    to: str
    subject: str
    body: str


class Mailer:
    """Sends :class:`Mail` over SMTP as plain text, one connection per batch."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def _tls(self) -> ssl.SSLContext:
        """The TLS settings: the certificate is checked, for the host name too."""
        if not self.config.cafile:
            return ssl.create_default_context()
        problem = _check_cafile(self.config.cafile)  # checked at start; it may have gone
        if problem:
            raise _Refused(f"cafile: {problem}; nothing was sent")
        return ssl.create_default_context(cafile=self.config.cafile)

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        where = f"the mail server {c.host}:{c.port}"
        if c.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout,
                                                  context=self._tls())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
        try:
            if c.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise _Refused(f"{where} does not offer STARTTLS, so nothing was sent "
                                   "(it would not have been encrypted)")
                smtp.starttls(context=self._tls())
            if c.username:
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("auth"):
                    raise _Refused(f"{where} does not offer to log in (AUTH) on this "
                                   + ("encrypted connection" if c.security != "none" else
                                      "connection without TLS; use starttls=1 or smtps://"))
                smtp.login(c.username, c.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def message(self, mail: Mail) -> EmailMessage:
        """The message as sent: plain text, UTF-8, subject on one line."""
        msg = EmailMessage()
        msg["From"] = self.config.sender
        msg["To"] = mail.to
        msg["Subject"] = " ".join(mail.subject.split())
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.config.sender.rsplit("@", 1)[-1])
        msg.set_content(mail.body)
        return msg

    def send(self, mails: Sequence[Mail]) -> list[str]:
        """Send every message; per message "" when the server took it, else why not."""
        errors = [""] * len(mails)
        if not mails:
            return errors
        done = 0
        try:
            with self._connect() as smtp:
                for i, mail in enumerate(mails):
                    try:
                        smtp.send_message(self.message(mail))
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                            smtplib.SMTPDataError, smtplib.SMTPNotSupportedError,
                            ValueError) as exc:  # this message only; the next may go
                        errors[i] = _describe(exc, self.config)
                    done = i + 1
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            why = _describe(exc, self.config)
            for i in range(done, len(mails)):
                errors[i] = errors[i] or why
        failed = sum(bool(e) for e in errors)
        if failed:
            _log.warning("e-mail: %d of %d messages not sent (%s)", failed, len(mails),
                         next(e for e in errors if e))
        return errors


NO_SERVER = "no mail server is configured (start dsk serve with --smtp URL)"


# ---------------------------------------------------------------- templates


def check_template(kind: str, subject: str, body: str) -> tuple[str, str]:
    """The template cleaned (subject stripped, body's line ends ``\\n``), or a 422 naming
    the field (``KIND_subject`` or ``KIND_body``) and the unknown placeholder.

    Examples
    --------
    >>> check_template("reminder", " Hi {label} ", "{access}\\r\\nBye")
    ('Hi {label}', '{access}\\nBye\\n')
    >>> for subject, body in (("Hi {name}", "{access}"), ("a\\nBcc: x@y.org", "{access}"),
    ...                       ("Hi", "no way back"), ("Hi {", "{access}")):
    ...     try:
    ...         check_template("reminder", subject, body)
    ...     except AppError as exc:
    ...         print(exc.message)
    reminder_subject: unknown placeholder {name}; expected {label}, {study}, {contact}, {deadline} or {access}
    reminder_subject: expected one line; a subject cannot contain a line break
    reminder_body: missing {access}, where the practitioner's way back to the study goes
    reminder_subject: a lone { or }; write {{ or }} for a brace
    """
    if kind not in PLACEHOLDERS:
        raise AppError(f"expected one of {', '.join(KINDS)}, got {kind[:20]!r}", status=422,
                       field="kind")
    subject, body = subject.strip(), body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\n" in subject or "\r" in subject:
        raise AppError("expected one line; a subject cannot contain a line break",
                       status=422, field=f"{kind}_subject")
    for name, text, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        where = f"{kind}_{name}"
        if not text:
            raise AppError(f"missing; write the {name} of the e-mail", status=422, field=where)
        if len(text) > limit:
            raise AppError(f"expected at most {limit} characters, got {len(text)}",
                           status=422, field=where)
        used = _placeholders(text, kind, where)
        if name == "body" and REQUIRED[kind] not in used:
            what = "link" if kind == "invitation" else "way back to the study"
            raise AppError(f"missing {{{REQUIRED[kind]}}}, where the practitioner's {what} "
                           "goes", status=422, field=where)
    return subject, body + "\n"


def _placeholders(text: str, kind: str, where: str) -> set[str]:
    allowed = PLACEHOLDERS[kind]
    expected = ", ".join(f"{{{n}}}" for n in list(allowed)[:-1]) + f" or {{{list(allowed)[-1]}}}"
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise AppError("a lone { or }; write {{ or }} for a brace", status=422,
                       field=where) from None
    used = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            raise AppError(f"unknown placeholder {{{name[:40]}}}; expected {expected}",
                           status=422, field=where)
        if spec or conversion:
            raise AppError(f"write the placeholder as {{{name}}}, without : or !",
                           status=422, field=where)
        used.add(name)
    return used


def render(kind: str, template: tuple[str, str], values: Mapping[str, str]
           ) -> tuple[str, str]:
    """Subject and body of one message: ``template`` with ``values`` filled in (the
    subject kept on one line, whatever the values hold)."""
    subject, body = template
    allowed = PLACEHOLDERS.get(kind, PLACEHOLDERS["invitation"])
    filled = {name: values.get(name, "") for name in allowed}
    return " ".join(subject.format_map(filled).split()), body.format_map(filled)


def templates(db: Session, study: Study) -> dict[str, tuple[str, str]]:
    """The study's templates by kind (its own, or the defaults)."""
    own = {t.kind: (t.subject, t.body) for t in db.scalars(
        select(MailTemplate).where(MailTemplate.study_id == study.id))}
    return {kind: own.get(kind, DEFAULTS[kind]) for kind in KINDS}


def save_templates(db: Session, study: Study, form: Mapping[str, str], *, actor: str,
                   client: str = "") -> None:
    """Check every template of ``form`` (``KIND_subject``, ``KIND_body``) and store them
    all, or none (the first problem is raised); logged ``mail_templates_changed``."""
    checked = {kind: check_template(kind, str(form.get(f"{kind}_subject") or ""),
                                    str(form.get(f"{kind}_body") or "")) for kind in KINDS}
    with writing(db):
        for kind, (subject, body) in checked.items():
            row = db.get(MailTemplate, (study.id, kind))
            if row is None:
                db.add(MailTemplate(study_id=study.id, kind=kind, subject=subject, body=body))
            else:
                row.subject, row.body = subject, body
        _audit.record(db, "mail_templates_changed", actor=actor, study_id=study.id,
                      client=client, detail=", ".join(KINDS.values()))
        db.commit()


# ---------------------------------------------------------------- sending


@dataclass
class Post:
    """What sending needs from the app: the mail server (None: none configured) and the
    public URL links are built on."""

    mailer: Mailer | None
    public_url: str

    def link(self, token: str) -> str:
        return f"{self.public_url}/p/{token}"


def _access(post: Post, token: str | None) -> str:
    if token is not None:
        return ("Your personal link (it is yours alone; please do not forward it):\n"
                + post.link(token))
    return ("Carry on with the personal link you were sent, in the browser where you "
            "started. If you no longer have it, ask for it again at "
            f"{post.public_url}/link: a new link is e-mailed to this address.")


def _values(post: Post, study: Study, p: Participant, token: str | None,
            closes: str = "") -> dict[str, str]:
    return {"label": p.label or "colleague", "study": study.title, "deadline": closes,
            "contact": study.contact or "the researcher who invited you",
            "link": post.link(token) if token else "", "access": _access(post, token)}


def _new_link(p: Participant) -> str:
    """Give ``p`` a new link (the old one and any session stop working); the caller
    commits."""
    token = new_token()
    p.link_hash, p.session_hash, p.invited_at = token_hash(token), None, utcnow()
    return token


@dataclass(frozen=True)
class Sent:
    """How many messages the server took and how many failed."""

    sent: int
    failed: int

    def describe(self) -> str:
        """The audit trail's words for it (counts only).

        >>> Sent(3, 1).describe()
        '3 sent, 1 failed'
        """
        return f"{self.sent} sent, {self.failed} failed"


def _deliver(db: Session, post: Post, study: Study,
             jobs: Sequence[tuple[Outbox, Participant, str | None]],
             template_of: Mapping[str, tuple[str, str]]) -> Sent:
    """Send the messages of ``jobs`` (their rows are committed) and record each result."""
    mails = []
    closes = _deadline_words(deadline(db, study)) if jobs else ""
    for row, p, token in jobs:
        kind = row.kind
        subject, body = render(kind, template_of[kind],
                               _values(post, study, p, token, closes))
        mails.append(Mail(p.email or "", subject, body))
    if post.mailer is None:
        errors = [NO_SERVER] * len(mails)
    else:
        errors = post.mailer.send(mails)
    now = utcnow()
    with writing(db):
        for (row, _, _), error in zip(jobs, errors, strict=True):
            row.attempts += 1
            row.error = error[:300]
            row.sent_at = None if error else now
        db.commit()
    failed = sum(bool(e) for e in errors)
    return Sent(len(errors) - failed, failed)


def _queue(db: Session, study: Study, kind: str, people: Sequence[Participant],
           link_for: Sequence[bool]) -> list[tuple[Outbox, Participant, str | None]]:
    jobs = []
    for p, fresh in zip(people, link_for, strict=True):
        token = _new_link(p) if fresh else None
        row = Outbox(study_id=study.id, participant_id=p.id, kind=kind, created_at=utcnow(),
                     error="", attempts=0)
        db.add(row)
        jobs.append((row, p, token))
    return jobs


def _with_email(study: Study) -> list[ColumnElement[bool]]:
    return [Participant.study_id == study.id, Participant.email.is_not(None),
            Participant.withdrawn_at.is_(None)]


def invitation_targets(db: Session, study: Study) -> list[Participant]:
    """Participants with an address who have not started and have no invitation yet."""
    invited = select(Outbox.participant_id).where(Outbox.study_id == study.id,
                                                  Outbox.kind == "invitation")
    return list(db.scalars(select(Participant).where(
        *_with_email(study), Participant.claimed_at.is_(None),
        Participant.id.not_in(invited)).order_by(Participant.number)))


def reminder_targets(db: Session, study: Study) -> list[Participant]:
    """Participants with an address, given a link, who have not submitted the current
    round (none once the study is closed)."""
    round_ = current_round(study)
    if round_ is None:
        return []
    done = select(RoundSubmission.participant_id).where(RoundSubmission.study_id == study.id,
                                                        RoundSubmission.round == round_)
    query = select(Participant).where(
        *_with_email(study), Participant.id.not_in(done),
        (Participant.link_hash.is_not(None)) | (Participant.claimed_at.is_not(None)))
    if round_ == 2:  # round 2 is for those who submitted round 1
        first = select(RoundSubmission.participant_id).where(
            RoundSubmission.study_id == study.id, RoundSubmission.round == 1)
        query = query.where(Participant.id.in_(first))
    return list(db.scalars(query.order_by(Participant.number)))


def _needs_server(post: Post) -> None:
    if post.mailer is None:
        raise AppError(NO_SERVER, status=409, field="smtp")


def invite(db: Session, post: Post, study: Study, *, actor: str, client: str = "") -> Sent:
    """E-mail a new link to every participant with an address who has not started and
    has not been invited by e-mail (their earlier, unused link stops working); logged
    ``invitations_sent`` with counts."""
    _needs_server(post)
    if study.phase == "closed":
        raise AppError("the study is closed", status=409, field="phase")
    with writing(db):
        _lock(db, study)
        people = invitation_targets(db, study)
        jobs = _queue(db, study, "invitation", people, [True] * len(people))
        db.commit()
    done = _deliver(db, post, study, jobs, templates(db, study))
    _audit.record_now(db, "invitations_sent", actor=actor, study_id=study.id, client=client,
                      detail=done.describe())
    return done


def remind(db: Session, post: Post, study: Study, *, actor: str, client: str = "") -> Sent:
    """Remind everyone of :func:`reminder_targets`: a new link for those who have not
    started, the way back for the others; logged ``reminders_sent``."""
    _needs_server(post)
    if current_round(study) is None:
        raise AppError("the study is closed", status=409, field="phase")
    with writing(db):
        _lock(db, study)
        people = reminder_targets(db, study)
        jobs = _queue(db, study, "reminder", people, [p.claimed_at is None for p in people])
        db.commit()
    done = _deliver(db, post, study, jobs, templates(db, study))
    _audit.record_now(db, "reminders_sent", actor=actor, study_id=study.id, client=client,
                      detail=done.describe())
    return done


def notify_round2(db: Session, post: Post, study: Study, *, actor: str,
                  client: str = "") -> Sent:
    """When round 2 opens: e-mail everyone with an address who submitted round 1
    (without a mail server, their rows are stored as failed, to send later)."""
    with writing(db):
        done_ids = select(RoundSubmission.participant_id).where(
            RoundSubmission.study_id == study.id, RoundSubmission.round == 1)
        people = list(db.scalars(select(Participant).where(
            *_with_email(study), Participant.id.in_(done_ids)).order_by(Participant.number)))
        jobs = _queue(db, study, "round2", people, [False] * len(people))
        db.commit()
    if not jobs:
        return Sent(0, 0)
    done = _deliver(db, post, study, jobs, templates(db, study))
    _audit.record_now(db, "round2_notices_sent", actor=actor, study_id=study.id,
                      client=client, detail=done.describe())
    return done


def retry(db: Session, post: Post, study: Study, *, actor: str, client: str = "") -> Sent:
    """Send every unsent message of the study again. An invitation or link gets a new
    link (the one it carried never arrived), unless its practitioner has started since:
    then it is no longer needed and dropped; a reminder gets one if they have not
    started. Rows of withdrawn participants, or without an address now, are dropped."""
    _needs_server(post)
    with writing(db):
        _lock(db, study)
        rows = list(db.scalars(select(Outbox).where(Outbox.study_id == study.id,
                                                    Outbox.sent_at.is_(None))
                               .order_by(Outbox.id)))
        jobs: list[tuple[Outbox, Participant, str | None]] = []
        for row in rows:
            p = db.get(Participant, row.participant_id)
            needs_link = row.kind in ("invitation", "link", "reminder")
            if (p is None or p.withdrawn_at is not None or p.email is None
                    or (row.kind in ("invitation", "link") and p.claimed_at is not None)):
                db.delete(row)
                continue
            fresh = needs_link and p.claimed_at is None
            jobs.append((row, p, _new_link(p) if fresh else None))
        db.commit()
    done = _deliver(db, post, study, jobs, _with_link_template(templates(db, study)))
    _audit.record_now(db, "mail_retried", actor=actor, study_id=study.id, client=client,
                      detail=done.describe())
    return done


def _with_link_template(of: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {**of, "link": _LINK_AGAIN}


@dataclass
class Failure:
    """An unsent message as the study page lists it."""

    who: str
    kind: str
    error: str
    at: dt.datetime


@dataclass
class Summary:
    """The study page's e-mail section."""

    configured: bool
    sent: dict[str, int]
    failures: list[Failure]
    invitable: int
    deadline: Deadline | None = None


def summary(db: Session, post: Post, study: Study) -> Summary:
    """Messages sent per kind, the unsent ones, and how many invitations are due."""
    sent = {kind: 0 for kind in KIND_WORDS}
    for kind, count in db.execute(select(Outbox.kind, func.count()).where(
            Outbox.study_id == study.id, Outbox.sent_at.is_not(None)).group_by(Outbox.kind)):
        sent[kind] = int(count)
    failures = []
    for row, p in db.execute(select(Outbox, Participant).join(
            Participant, Participant.id == Outbox.participant_id).where(
            Outbox.study_id == study.id, Outbox.sent_at.is_(None),
            Participant.withdrawn_at.is_(None)).order_by(Outbox.id)):
        failures.append(Failure(p.label or rater_id(study.id, p.number),
                                KIND_WORDS.get(row.kind, row.kind),
                                row.error or "not sent yet", row.created_at))
    return Summary(post.mailer is not None, sent, failures,
                   len(invitation_targets(db, study)), deadline(db, study))


# ---------------------------------------------------------------- a link sent again


def _address_key(address: str) -> str:
    """The throttle key of an address: its hash, so no address is stored there."""
    return "mail-link-address:" + hashlib.sha256(address.lower().encode()).hexdigest()[:40]


def _count(db: Session, key: str, limit: int, now: dt.datetime) -> bool:
    """Count one more use of ``key`` in the current hour; False once over ``limit``.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (SQLite and PostgreSQL), as
    the login limiter counts (:class:`dsk.app._security.LoginLimiter`): simultaneous
    requests, in several worker processes too, are each counted. The row's
    ``blocked_until`` is the end of its hour; a use after it starts a new hour at 1.
    """
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    expired = LoginThrottle.blocked_until <= now
    count = (insert(LoginThrottle)
             .values(key=key, failures=1, last_failure=now, blocked_until=now + _HOUR)
             .on_conflict_do_update(
                 index_elements=[LoginThrottle.key],
                 set_={"failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                       "blocked_until": case((expired, now + _HOUR),
                                             else_=LoginThrottle.blocked_until),
                       "last_failure": now})
             .returning(LoginThrottle.failures))
    with writing(db):
        used = int(db.execute(count).scalar_one())
        db.commit()
    return used <= limit


def check_link_request(db: Session, client: str, now: dt.datetime | None = None) -> None:
    """Refuse (429) a client's request for a link beyond
    :data:`LINK_REQUESTS_PER_CLIENT` an hour (whatever the address)."""
    if not _count(db, f"mail-link-client:{client[:100]}", LINK_REQUESTS_PER_CLIENT,
                  now or utcnow()):
        raise AppError("too many requests from this address; try again in an hour",
                       status=429, field="email", headers={"Retry-After": "3600"})


def check_address(address: str) -> str:
    """The address typed on ``/link``, or a 422 naming ``email``.

    >>> check_address(" Anna@Example.org ")
    'Anna@Example.org'
    """
    address = address.strip()
    if not address or len(address) > 254 or not _EMAIL.fullmatch(address):
        raise AppError("expected an e-mail address such as name@example.org", status=422,
                       field="email")
    return address


def resend_link(db: Session, post: Post, address: str, *, client: str = "",
                now: dt.datetime | None = None) -> int:
    """Send a new link to each invited participant of an open study whose address is
    ``address`` (any case): their old link and session stop working, their answers are
    kept. At most :data:`LINK_MAILS_PER_ADDRESS` an hour per address; none without a
    mail server. Returns how many were sent (the page never says)."""
    if post.mailer is None:
        return 0
    found = list(db.scalars(select(Participant).join(Study, Study.id == Participant.study_id)
                            .where(func.lower(Participant.email) == address.lower(),
                                   Participant.withdrawn_at.is_(None),
                                   Study.phase != "closed",
                                   (Participant.link_hash.is_not(None))
                                   | (Participant.claimed_at.is_not(None)))
                            .order_by(Participant.id)))
    if not found or not _count(db, _address_key(address), LINK_MAILS_PER_ADDRESS,
                               now or utcnow()):
        return 0
    sent = 0
    for p in found:
        study = db.get(Study, p.study_id)
        assert study is not None
        with writing(db):
            jobs = _queue(db, study, "link", [p], [True])
            db.commit()
        done = _deliver(db, post, study, jobs, {"link": _LINK_AGAIN})
        _audit.record_now(db, "link_resent", actor="anonymous", study_id=study.id,
                          client=client, detail=done.describe())
        sent += done.sent
    return sent


# ---------------------------------------------------------------- deadlines

#: Most hours before the deadline a reminder may be sent.
MAX_REMIND_HOURS = 24 * 30


@dataclass(frozen=True)
class Deadline:
    """The current round's deadline (naive UTC) and its reminder's time, if any."""

    round: int
    closes_at: dt.datetime
    remind_at: dt.datetime | None


def parse_deadline(closes_at: str, remind_hours: str, now: dt.datetime
                   ) -> tuple[dt.datetime | None, int]:
    """The deadline form's fields: ``closes_at`` as ``YYYY-MM-DDTHH:MM`` (UTC, in the
    future; empty for no deadline) and ``remind_hours`` (whole hours before it, 0 for no
    reminder, at most :data:`MAX_REMIND_HOURS`).

    Examples
    --------
    >>> now = dt.datetime(2026, 12, 1, 12, 0)
    >>> parse_deadline("2026-12-03T17:00", "24", now)
    (datetime.datetime(2026, 12, 3, 17, 0), 24)
    >>> parse_deadline("", "", now)
    (None, 0)
    >>> for when, hours in (("2026-12-01T11:00", "0"), ("3 Dec", "0"),
    ...                     ("2026-12-03T17:00", "x")):
    ...     try:
    ...         parse_deadline(when, hours, now)
    ...     except AppError as exc:
    ...         print(exc.message)
    closes_at: expected a time after now (2026-12-01 12:00 UTC), got 2026-12-01 11:00
    closes_at: expected a date and time such as 2026-12-31T17:00 (UTC), got '3 Dec'
    remind_hours: expected a whole number of hours from 0 to 720, got 'x'
    """
    text = closes_at.strip()
    hours_text = remind_hours.strip() or "0"
    if not hours_text.isascii() or not hours_text.isdigit() or int(hours_text) > MAX_REMIND_HOURS:
        raise AppError(f"expected a whole number of hours from 0 to {MAX_REMIND_HOURS}, got "
                       f"{hours_text[:20]!r}", status=422, field="remind_hours")
    hours = int(hours_text)
    if not text:
        return None, hours
    try:
        when = dt.datetime.strptime(text[:16], "%Y-%m-%dT%H:%M") if len(text) in (16, 19) \
            else None
        if when is not None and len(text) == 19:
            when = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        when = None
    if when is None:
        raise AppError(f"expected a date and time such as 2026-12-31T17:00 (UTC), got "
                       f"{text[:40]!r}", status=422, field="closes_at")
    if when <= now:
        raise AppError(f"expected a time after now ({now:%Y-%m-%d %H:%M} UTC), got "
                       f"{when:%Y-%m-%d %H:%M}", status=422, field="closes_at")
    return when, hours


def deadline(db: Session, study: Study) -> Deadline | None:
    """The deadline set for the study's current round, if any."""
    round_ = current_round(study)
    if round_ is None:
        return None
    jobs = {j.kind: j for j in db.scalars(select(ScheduledJob).where(
        ScheduledJob.study_id == study.id, ScheduledJob.round == round_,
        ScheduledJob.done_at.is_(None)))}
    close = jobs.get("close")
    if close is None:
        return None
    remind_job = jobs.get("remind")
    return Deadline(round_, close.due_at, remind_job.due_at if remind_job else None)


def set_deadline(db: Session, study: Study, closes_at: str, remind_hours: str, *,
                 actor: str, client: str = "", now: dt.datetime | None = None
                 ) -> Deadline | None:
    """Set (or, with an empty ``closes_at``, clear) the current round's deadline: the
    round closes then by itself, and with ``remind_hours`` those who have not submitted
    get a reminder that many hours before (when that is still to come). Replaces any
    deadline set before; logged ``deadline_set``."""
    now = now or utcnow()
    round_ = current_round(study)
    if round_ is None:
        raise AppError("the study is closed", status=409, field="phase")
    when, hours = parse_deadline(closes_at, remind_hours, now)
    with writing(db):
        _lock(db, study)
        for job in db.scalars(select(ScheduledJob).where(ScheduledJob.study_id == study.id,
                                                         ScheduledJob.done_at.is_(None))):
            db.delete(job)
        remind_at = None
        if when is not None:
            db.add(ScheduledJob(study_id=study.id, kind="close", round=round_, due_at=when))
            if hours and when - dt.timedelta(hours=hours) > now:
                remind_at = when - dt.timedelta(hours=hours)
                db.add(ScheduledJob(study_id=study.id, kind="remind", round=round_,
                                    due_at=remind_at))
        detail = (f"round {round_} closes {when:%Y-%m-%d %H:%M} UTC"
                  + (f", reminder {hours} hours before" if remind_at else "")
                  if when else f"no deadline for round {round_}")
        _audit.record(db, "deadline_set", actor=actor, study_id=study.id, client=client,
                      detail=detail)
        db.commit()
    return Deadline(round_, when, remind_at) if when else None


def _deadline_words(found: Deadline | None) -> str:
    """The ``{deadline}`` of a message.

    >>> _deadline_words(Deadline(1, dt.datetime(2026, 12, 3, 17, 0), None))
    '3 December 2026, 17:00 UTC'
    """
    if found is None:
        return "no deadline has been set"
    return f"{found.closes_at.day} {found.closes_at:%B %Y, %H:%M} UTC"


#: The actor of what the app does by itself at a set time.
SCHEDULER = "scheduler"


def run_due(db: Session, post: Post, now: dt.datetime) -> int:
    """Run every job due by ``now`` that no other process has claimed: each is claimed
    with one ``UPDATE ... WHERE done_at IS NULL`` (the process whose update changed the
    row runs it, so several workers never run one twice). A job whose round has already
    closed does nothing. Returns how many jobs this call ran."""
    due = list(db.scalars(select(ScheduledJob.id).where(ScheduledJob.done_at.is_(None),
                                                        ScheduledJob.due_at <= now)
                          .order_by(ScheduledJob.due_at, ScheduledJob.id)))
    ran = 0
    for job_id in due:
        with writing(db):
            claimed = db.execute(update(ScheduledJob).where(
                ScheduledJob.id == job_id, ScheduledJob.done_at.is_(None)).values(done_at=now))
            db.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        job = db.get(ScheduledJob, job_id)
        study = db.get(Study, job.study_id) if job is not None else None
        if job is None or study is None or current_round(study) != job.round:
            continue
        ran += 1
        if job.kind == "close":
            _close_at_deadline(db, post, study)
        elif post.mailer is not None:
            remind(db, post, study, actor=SCHEDULER)
    return ran


def _close_at_deadline(db: Session, post: Post, study: Study) -> None:
    from ._study import close_round

    before = study.phase
    with _audit.recording(db, "round_closed", actor=SCHEDULER, study_id=study.id,
                          detail=lambda: f"deadline reached: {before} to {study.phase}"):
        phase = close_round(db, study)
    if phase == "round2":
        notify_round2(db, post, study, actor=SCHEDULER)
