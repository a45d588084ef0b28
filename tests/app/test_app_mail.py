"""E-mail over SMTP: invitations, reminders, the round-2 notice, unsent messages sent
again, templates and ``/link``, on SQLite and PostgreSQL (``db_url``), with a real
local SMTP server (aiosmtpd) whose received messages the tests read."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from app_bots import Practitioner, Researcher, csrf_of
from app_mail import SmtpServer
from sqlalchemy import select
from typer.testing import CliRunner

from dsk.app import _mail as mail
from dsk.app._models import AuditEvent, Outbox, Participant
from dsk.cli import app as dsk_cli

PEOPLE = ("label,email,site\n"
          "Anna,anna@example.org,\n"
          "Ben,ben@example.org,\n"
          "Cara,Cara@Example.org,\n"
          "Dan,,\n")
LINK = re.compile(r"http://127\.0\.0\.1:8000/p/[A-Za-z0-9_-]+")


@pytest.fixture
def mailing(make_client: Callable[..., Any], smtp: SmtpServer) -> Researcher:
    """A signed-in researcher on an app that sends through the local server."""
    bot = Researcher(make_client(smtp_url=smtp.url))
    bot.login()
    return bot


def _core(bot: Researcher) -> Any:
    return bot.client.app.state.core  # type: ignore[attr-defined]


def _study(bot: Researcher, rounds: int = 2) -> int:
    study = bot.create_study(n_participants=2, deck_size=2, rounds=rounds)
    r = bot.import_participants(study, PEOPLE)
    assert r.status_code == 200, r.text
    return study


def _confirm_and_send(bot: Researcher, study: int, what: str) -> Any:
    page = bot.client.get(f"/studies/{study}/mail/{what}")
    assert page.status_code == 200, page.text
    r = bot.client.post(f"/studies/{study}/mail/{what}", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    assert str(r.url).endswith(f"/studies/{study}#mail")
    return r


def _link_in(msg: EmailMessage) -> str:
    found = LINK.findall(msg.get_content())
    assert len(found) == 1, msg.get_content()
    return found[0]


def _audit_text(bot: Researcher) -> str:
    with _core(bot).db() as db:
        return "\n".join(f"{e.actor} {e.action} {e.detail} {e.client}"
                         for e in db.scalars(select(AuditEvent)))


def _practitioner(make_client: Callable[..., Any], smtp: SmtpServer, link: str) -> Practitioner:
    return Practitioner(make_client(smtp_url=smtp.url), link)


def test_invitations_reminders_and_round_two(make_client: Callable[..., Any], smtp: SmtpServer,
                                             mailing: Researcher) -> None:
    study = _study(mailing)
    page = mailing.client.get(f"/studies/{study}/mail/invitations").text
    assert "3 participants with an e-mail address" in page
    result = _confirm_and_send(mailing, study, "invitations")
    got = smtp.inbox.take()
    assert sorted(m["To"] for m in got) == ["Cara@Example.org", "anna@example.org",
                                            "ben@example.org"]
    anna_mail = next(m for m in got if m["To"] == "anna@example.org")
    assert anna_mail["From"] == "study@example.org"
    assert anna_mail["Subject"] == "Invitation to the study “Pilot”"
    assert anna_mail.get_content_type() == "text/plain"
    assert "Hello Anna," in anna_mail.get_content()
    links = {m["To"]: _link_in(m) for m in got}
    assert len(set(links.values())) == 3
    assert "Sent: 3 invitations" in result.text
    # reloading the result, or sending again, invites nobody twice
    mailing.client.get(f"/studies/{study}")
    assert "0 participants with an e-mail address" in mailing.client.get(
        f"/studies/{study}/mail/invitations").text
    again = mailing.client.post(f"/studies/{study}/mail/invitations",
                                data={"csrf_token": csrf_of(result.text)})
    assert again.status_code == 200 and smtp.inbox.take() == []
    # Anna follows her link, consents, answers and submits; Ben starts only
    anna = _practitioner(make_client, smtp, links["anna@example.org"])
    assert anna.consent().status_code == 200
    anna.play_round()
    ben = _practitioner(make_client, smtp, links["ben@example.org"])
    assert ben.consent().status_code == 200
    # reminders go to Ben (use your link) and Cara (a new link), not to Anna
    assert "2 participants with an e-mail address have not submitted round 1" in \
        mailing.client.get(f"/studies/{study}/mail/reminders").text
    _confirm_and_send(mailing, study, "reminders")
    got = smtp.inbox.take()
    assert sorted(m["To"] for m in got) == ["Cara@Example.org", "ben@example.org"]
    ben_mail, = (m for m in got if m["To"] == "ben@example.org")
    assert LINK.search(ben_mail.get_content()) is None
    assert "http://127.0.0.1:8000/link" in ben_mail.get_content()
    cara_link = _link_in(next(m for m in got if m["To"] == "Cara@Example.org"))
    assert cara_link != links["Cara@Example.org"]
    old = make_client(smtp_url=smtp.url).get(links["Cara@Example.org"].split(":8000")[1])
    assert old.status_code == 404
    cara = _practitioner(make_client, smtp, cara_link)
    assert cara.consent().status_code == 200
    # closing round 1 e-mails the round-2 notice to Anna alone (she submitted round 1)
    assert mailing.close_round(study).status_code == 200
    got = smtp.inbox.take()
    assert [m["To"] for m in got] == ["anna@example.org"]
    assert got[0]["Subject"] == "Round 2 of “Pilot” is open"
    assert "Round 2 is now open" in got[0].get_content()
    assert "round 2" in anna.page().text.lower()
    # the audit trail counts, and never names an address or holds a link
    trail = _audit_text(mailing)
    for action in ("invitations_sent", "reminders_sent", "round2_notices_sent"):
        assert action in trail
    assert "invitations_sent 3 sent, 0 failed" in trail
    assert "example.org" not in trail and "/p/" not in trail
    for url in [*links.values(), cara_link]:
        assert url.rsplit("/", 1)[1] not in trail
    with _core(mailing).db() as db:
        kinds = sorted(r.kind for r in db.scalars(select(Outbox)))
    assert kinds == ["invitation"] * 3 + ["reminder"] * 2 + ["round2"]


def test_a_failed_send_is_shown_and_sent_again(make_client: Callable[..., Any],
                                               smtp: SmtpServer, mailing: Researcher) -> None:
    study = _study(mailing)
    smtp.stop()
    page = _confirm_and_send(mailing, study, "invitations").text
    assert 'id="mail-failures"' in page
    assert page.count("cannot reach the mail server 127.0.0.1:") == 3
    assert "Send unsent e-mails again" in page
    smtp.start()
    r = mailing.client.post(f"/studies/{study}/mail/retry", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200
    got = smtp.inbox.take()
    assert sorted(m["To"] for m in got) == ["Cara@Example.org", "anna@example.org",
                                            "ben@example.org"]
    assert 'id="mail-failures"' not in r.text and "Sent: 3 invitations" in r.text
    # the links of the retried messages work
    anna_mail = next(m for m in got if m["To"] == "anna@example.org")
    assert _practitioner(make_client, smtp, _link_in(anna_mail)).consent().status_code == 200
    assert "mail_retried 3 sent, 0 failed" in _audit_text(mailing)


def test_link_sent_again_answers_the_same_for_any_address(
        make_client: Callable[..., Any], smtp: SmtpServer, mailing: Researcher) -> None:
    study = _study(mailing)
    _confirm_and_send(mailing, study, "invitations")
    first = _link_in(smtp.inbox.to("anna@example.org")[0])
    smtp.inbox.take()
    assert _practitioner(make_client, smtp, first).consent().status_code == 200
    # Anna has consented, then loses her link: she asks for it again
    stranger = make_client(smtp_url=smtp.url)

    def ask(address: str) -> Any:
        page = stranger.get("/link")
        assert page.status_code == 200
        return stranger.post("/link", data={"email": address, "csrf_token": csrf_of(page.text)})

    known, unknown = ask("ANNA@example.org"), ask("nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    assert str(known.url) == str(unknown.url)
    assert known.text == unknown.text
    got = smtp.inbox.take()
    assert [m["To"] for m in got] == ["anna@example.org"]
    new = _link_in(got[0])
    assert new != first
    assert make_client(smtp_url=smtp.url).get(first.split(":8000")[1]).status_code == 404
    resumed = make_client(smtp_url=smtp.url).get(new.split(":8000")[1])
    assert resumed.status_code == 200 and "carry on" in resumed.text.lower()
    with _core(mailing).db() as db:
        anna_row = db.scalar(select(Participant).where(Participant.label == "Anna"))
        assert anna_row is not None and anna_row.claimed_at is not None
    trail = _audit_text(mailing)
    assert "anonymous link_resent 1 sent, 0 failed" in trail
    assert "example.org" not in trail and new.rsplit("/", 1)[1] not in trail
    # the same address is sent at most LINK_MAILS_PER_ADDRESS an hour
    for _ in range(mail.LINK_MAILS_PER_ADDRESS + 1):
        assert ask("anna@example.org").status_code == 200
    assert len(smtp.inbox.take()) == mail.LINK_MAILS_PER_ADDRESS - 1
    # a bad address is named; too many requests from one client are refused
    bad = ask("not an address")
    assert bad.status_code == 422 and "email: expected an e-mail address" in bad.text
    for _ in range(mail.LINK_REQUESTS_PER_CLIENT):
        last = ask("nobody@example.org")
    assert last.status_code == 429


def test_templates_are_checked_and_used(smtp: SmtpServer, mailing: Researcher) -> None:
    study = _study(mailing)
    page = mailing.client.get(f"/studies/{study}/mail/templates")
    assert page.status_code == 200
    form = {f"{k}_{part}": v for k, (s, b) in mail.DEFAULTS.items()
            for part, v in (("subject", s), ("body", b))}

    def save(**changes: str) -> Any:
        return mailing.client.post(f"/studies/{study}/mail/templates",
                                   data=form | changes | {"csrf_token": csrf_of(page.text)})

    r = save(reminder_body="Hello {name}, {access}")
    assert r.status_code == 422
    assert "reminder_body: unknown placeholder {name}; expected {label}, {study}, {contact}, " \
           "{deadline} or {access}" in r.text
    r = save(invitation_subject="Hi\r\nBcc: everyone@example.org")
    assert r.status_code == 422 and "invitation_subject: expected one line" in r.text
    r = save(invitation_body="No link here")
    assert r.status_code == 422 and "invitation_body: missing {link}" in r.text
    r = save(invitation_subject="Join {study}, {label}",
             invitation_body="<b>Hi</b> {label}: {link}\nBraces: {{ok}}")
    assert r.status_code == 200 and str(r.url).endswith(f"/studies/{study}#mail")
    _confirm_and_send(mailing, study, "invitations")
    anna = smtp.inbox.to("anna@example.org")[0]
    assert anna["Subject"] == "Join Pilot, Anna"
    assert anna.get_content().startswith("<b>Hi</b> Anna: http://127.0.0.1:8000/p/")
    assert "Braces: {ok}" in anna.get_content()
    assert anna.get_content_type() == "text/plain"
    assert "mail_templates_changed" in _audit_text(mailing)


def test_without_a_mail_server_the_pages_say_so(researcher: Researcher) -> None:
    study = _study(researcher)
    page = researcher.client.get(f"/studies/{study}").text
    assert "No mail server is configured" in page
    confirm = researcher.client.get(f"/studies/{study}/mail/invitations")
    assert confirm.status_code == 200 and "No mail server is configured" in confirm.text
    assert "Send the invitations" not in confirm.text
    r = researcher.client.post(f"/studies/{study}/mail/invitations",
                               data={"csrf_token": csrf_of(page)})
    assert r.status_code == 409 and "smtp: no mail server is configured" in r.text
    with researcher.client.app.state.core.db() as db:  # type: ignore[attr-defined]
        assert db.scalars(select(Outbox)).all() == []


def test_smtp_url_errors_name_the_option_and_hide_the_password() -> None:
    for url, words in (("http://mail.example.org?from=a@b.org", "expected smtp://"),
                       ("smtp://mail.example.org", "give the sender's address"),
                       ("smtp://u:hunter22@mail.example.org?from=x", "from: expected an e-mail"),
                       ("smtp://mail.example.org?from=a@b.org&tls=1", "unknown setting 'tls'"),
                       ("smtps://m.example.org?from=a@b.org&starttls=1", "already TLS")):
        with pytest.raises(ValueError, match="^--smtp: ") as caught:
            mail.parse_smtp_url(url)
        assert words in str(caught.value) and "hunter22" not in str(caught.value)
    result = CliRunner().invoke(dsk_cli, ["serve", "--smtp", "smtp://u:hunter22@x.org"])
    assert result.exit_code != 0
    assert "--smtp" in result.output and "hunter22" not in result.output


def test_a_failure_never_stores_the_password_or_address(smtp: SmtpServer) -> None:
    port = smtp.port
    smtp.stop()
    mailer = mail.Mailer(mail.parse_smtp_url(
        f"smtp://u:hunter22@127.0.0.1:{port}?from=s@example.org&starttls=0&timeout=2"))
    errors = mailer.send([mail.Mail("anna@example.org", "Hi", "Body")])
    assert errors[0].startswith(f"cannot reach the mail server 127.0.0.1:{port}")
    assert "hunter22" not in errors[0] and "anna" not in errors[0]


def test_migration_0009_on_and_off(db_url: str) -> None:
    """The templates, outbox and scheduled jobs tables come with 0009 and go with it; nothing else does."""
    import sqlalchemy as sa

    from dsk.app._db import downgrade, make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0008")
    before = set(sa.inspect(engine).get_table_names())
    assert "outbox" not in before
    upgrade(engine, "0009")
    tables = set(sa.inspect(engine).get_table_names())
    assert tables - before == {"outbox", "mail_templates", "scheduled_jobs"}
    upgrade(engine)
    downgrade(engine, "0008")
    after = set(sa.inspect(engine).get_table_names())
    assert after == before  # and with 0010 and 0011 undone too, the tables of 0008
    engine.dispose()


def test_a_deadline_reminds_then_closes_the_round(make_client: Callable[..., Any],
                                                  smtp: SmtpServer,
                                                  mailing: Researcher) -> None:
    import datetime as dt

    core = _core(mailing)
    start = dt.datetime(2026, 12, 1, 9, 0)
    core.clock = lambda: start
    study = _study(mailing)
    _confirm_and_send(mailing, study, "invitations")
    links = {m["To"]: _link_in(m) for m in smtp.inbox.take()}
    anna = _practitioner(make_client, smtp, links["anna@example.org"])
    anna.consent()
    anna.play_round()
    assert "Round 2 opens when the researcher opens it." in anna.page().text
    page = mailing.client.get(f"/studies/{study}").text
    assert "No deadline: the round stays open" in page

    def set_deadline(closes_at: str, hours: str) -> Any:
        return mailing.client.post(f"/studies/{study}/deadline", data={
            "closes_at": closes_at, "remind_hours": hours, "csrf_token": csrf_of(page)})

    r = set_deadline("2026-12-01T08:00", "24")
    assert r.status_code == 422 and "closes_at: expected a time after now" in r.text
    r = set_deadline("2026-12-03T17:00", "24")
    assert r.status_code == 200
    assert "Round 1 closes by itself on <strong>2026-12-03 17:00 UTC</strong>, with a " \
           "reminder e-mailed on 2026-12-02 17:00 UTC" in r.text
    # the practitioner who has submitted round 1 is told when round 2 opens
    assert "Round 2 opens on Thursday 3 December 2026 at 17:00 (UTC)." in anna.page().text

    def run(at: dt.datetime) -> int:
        with core.db() as db:
            return mail.run_due(db, core.post, at)

    assert run(dt.datetime(2026, 12, 2, 16, 59)) == 0 and smtp.inbox.take() == []
    reminder_time = dt.datetime(2026, 12, 2, 17, 0)
    assert run(reminder_time) == 1
    assert run(reminder_time) == 0  # claimed once: a second process finds nothing to do
    got = smtp.inbox.take()
    assert sorted(m["To"] for m in got) == ["Cara@Example.org", "ben@example.org"]
    assert "deadline: 3 December 2026, 17:00 UTC" in got[0].get_content()
    assert run(dt.datetime(2026, 12, 3, 17, 1)) == 1
    assert "Round 2 open" in mailing.client.get(f"/studies/{study}").text
    assert [m["To"] for m in smtp.inbox.take()] == ["anna@example.org"]
    trail = _audit_text(mailing)
    assert "scheduler round_closed deadline reached: round1 to round2" in trail
    assert "scheduler reminders_sent 2 sent, 0 failed" in trail
    assert "deadline_set round 1 closes 2026-12-03 17:00 UTC, reminder 24 hours before" in trail


def test_the_scheduler_loop_closes_a_round_at_its_deadline(db_url: str) -> None:
    import datetime as dt
    import time

    from fastapi.testclient import TestClient

    from dsk.app import _study as st
    from dsk.app import create_app
    from dsk.app._models import Study

    app = create_app(db_url, scheduler_seconds=0.05)
    core = app.state.core
    with core.db() as db:
        ada = st.create_researcher(db, "ada", "a long passphrase")
        study = st.create_study(db, owner=ada, title="Pilot", set_id="training-12",
                                deck_size=2, n_participants=2, rounds=1,
                                catalogue=core.catalogue)
        mail.set_deadline(db, study, "2026-12-03T17:00", "0", actor="cli",
                          now=dt.datetime(2026, 12, 1))
        study_id = study.id
    core.clock = lambda: dt.datetime(2026, 12, 4)
    with TestClient(app):
        for _ in range(400):
            with core.db() as db:
                found = db.get(Study, study_id)
                assert found is not None
                if found.phase == "closed":
                    break
            time.sleep(0.05)
    with core.db() as db:
        found = db.get(Study, study_id)
        assert found is not None and found.phase == "closed"
    core.engine.dispose()


def test_one_refused_address_does_not_stop_the_others(smtp: SmtpServer,
                                                      mailing: Researcher) -> None:
    study = _study(mailing)
    smtp.inbox.refuse.add("ben@example.org")
    page = _confirm_and_send(mailing, study, "invitations").text
    assert sorted(m["To"] for m in smtp.inbox.take()) == ["Cara@Example.org",
                                                           "anna@example.org"]
    failures = page[page.index('id="mail-failures"'):page.index("</table>",
                                                                 page.index('id="mail-failures"'))]
    assert "Ben" in failures and "the mail server refused the address" in failures
    assert "ben@example.org" not in failures
    with _core(mailing).db() as db:
        errors = [r.error for r in db.scalars(select(Outbox))]
    assert sorted(errors) == ["", "", "the mail server refused the address"]
    smtp.inbox.refuse.clear()
    r = mailing.client.post(f"/studies/{study}/mail/retry", data={"csrf_token": csrf_of(page)})
    assert [m["To"] for m in smtp.inbox.take()] == ["ben@example.org"]
    assert 'id="mail-failures"' not in r.text


def test_the_link_limit_counts_every_simultaneous_request(db_url: str) -> None:
    """The ``/link`` limits count in one ``INSERT ... ON CONFLICT`` statement: 24
    requests at once from 8 threads are 24 uses, none lost; after the hour, it starts
    again at 1."""
    import datetime as dt
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.orm import sessionmaker

    from dsk.app._db import make_engine, upgrade
    from dsk.app._models import LoginThrottle

    engine = make_engine(db_url)
    upgrade(engine)
    sessions = sessionmaker(engine)
    now = dt.datetime(2026, 12, 1, 9, 0)

    def use(_: int) -> bool:
        with sessions() as db:
            return mail._count(db, "mail-link-client:203.0.113.7", 20, now)

    with ThreadPoolExecutor(8) as pool:
        allowed = list(pool.map(use, range(24)))
    assert allowed.count(True) == 20 and allowed.count(False) == 4
    with sessions() as db:
        row = db.get(LoginThrottle, "mail-link-client:203.0.113.7")
        assert row is not None and row.failures == 24
        assert mail._count(db, "mail-link-client:203.0.113.7", 20, now + dt.timedelta(hours=1))
        db.expire_all()
        row = db.get(LoginThrottle, "mail-link-client:203.0.113.7")
        assert row is not None and row.failures == 1
        assert row.blocked_until == now + dt.timedelta(hours=2)
    engine.dispose()
