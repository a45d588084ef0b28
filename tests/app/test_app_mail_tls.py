"""E-mail through a relay that wants a log-in and TLS, as a university's does: a real
local aiosmtpd server offering STARTTLS (log-in and mail only after it) or speaking
TLS from the start (smtps), with AUTH PLAIN/LOGIN checked against a user name and
password, and a certificate made by ``trustme`` for 127.0.0.1 that the app trusts
through ``cafile=PATH`` or the standard ``SSL_CERT_FILE``. A wrong password, an
untrusted certificate or a server without STARTTLS is a plain failure on the outbox
row, never a crash, never the password, and never a fall back to plain text."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from app_bots import Researcher, csrf_of
from app_mail import Inbox, SmtpServer, free_port
from sqlalchemy import select

from dsk.app import _mail as mail
from dsk.app._models import AuditEvent, Outbox

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "study@uni.example", "app-password"
PEOPLE = ("label,email,site\n"
          "Anna,anna@example.org,\n"
          "Ben,ben@example.org,\n")
TWO = [mail.Mail("anna@example.org", "Hello Anna", "Body one"),
       mail.Mail("ben@example.org", "Hello Ben", "Body two")]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority made for these tests (nobody else trusts it)."""
    return trustme.CA()


@pytest.fixture(scope="module")
def cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def relay(ca: trustme.CA) -> Iterator[Callable[..., SmtpServer]]:
    """Start a server: ``tls`` "starttls" or "ssl", a certificate for ``host`` from
    ``ca`` (or a stranger's CA with ``trusted=False``), log-in as USER/PASSWORD."""
    started: list[SmtpServer] = []

    def start(tls: str = "starttls", *, host: str = "127.0.0.1", trusted: bool = True,
              mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")) -> SmtpServer:
        signer = ca if trusted else trustme.CA()
        server = SmtpServer(free_port(), Inbox(), tls=tls, cert=signer.issue_cert(host),
                            users={USER: PASSWORD}, mechanisms=mechanisms)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _system_trust_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tests' CA is trusted only where a test says so."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    yield


def _login(user: str = USER, password: str = PASSWORD) -> tuple[str, str]:
    return quote(user, safe=""), quote(password, safe="")


def _send(url: str, mails: list[mail.Mail] = TWO) -> list[str]:
    return mail.Mailer(mail.parse_smtp_url(url)).send(mails)


def _check_arrived(server: SmtpServer) -> None:
    got = server.inbox.take()
    assert [(m["From"], m["To"], m["Subject"]) for m in got] == [
        ("study@example.org", "anna@example.org", "Hello Anna"),
        ("study@example.org", "ben@example.org", "Hello Ben")]
    assert got[1].get_content().splitlines() == ["Body two"]
    # both over TLS, after logging in; the password went over TLS only
    assert server.inbox.sessions == [(True, USER), (True, USER)]
    assert server.inbox.logins == [(USER, True, True)]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_with_a_login_delivers(relay: Callable[..., SmtpServer], cafile: str,
                                        mechanism: str) -> None:
    server = relay("starttls", mechanisms=(mechanism,))
    # a user name means STARTTLS (on by default with a log-in)
    assert _send(server.url_with(*_login(), cafile=cafile)) == ["", ""]
    _check_arrived(server)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtps_with_a_login_delivers(relay: Callable[..., SmtpServer], cafile: str,
                                     mechanism: str) -> None:
    server = relay("ssl", mechanisms=(mechanism,))
    assert _send(server.url_with(*_login(), cafile=cafile)) == ["", ""]
    _check_arrived(server)


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_the_system_trust_store_is_used_without_cafile(
        relay: Callable[..., SmtpServer], cafile: str, tls: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``cafile`` the certificate is checked against OpenSSL's default store,
    which ``SSL_CERT_FILE`` moves (as an administrator would for a private CA)."""
    server = relay(tls)
    url = server.url_with(*_login(), **({"starttls": "1"} if tls == "starttls" else {}))
    refused = _send(url)
    assert refused[0].startswith("the mail server's certificate is not trusted for 127.0.0.1")
    assert server.inbox.messages == [] and server.inbox.logins == []
    monkeypatch.setenv("SSL_CERT_FILE", cafile)
    assert _send(url) == ["", ""]
    _check_arrived(server)


def test_the_readme_relay_example_works(relay: Callable[..., SmtpServer],
                                        cafile: str) -> None:
    """The README's example for a relay with a log-in and STARTTLS, pointed at the local
    relay (same user, password and settings; its host and port, and our CA)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"DSK_SMTP_URL='(smtp://[^']*starttls=1[^']*)'", readme)
    assert len(found) == 1, found
    example = mail.parse_smtp_url(found[0])
    assert (example.host, example.port, example.security, example.username,
            example.password, example.sender) == (
        "smtp.uni.example", 587, "starttls", USER, PASSWORD, "study@uni.example")
    server = relay("starttls")
    url = found[0].replace("smtp.uni.example:587", f"127.0.0.1:{server.port}") + \
        f"&cafile={cafile}"
    assert _send(url) == ["", ""]
    got = server.inbox.take()
    assert [m["From"] for m in got] == ["study@uni.example"] * 2
    assert server.inbox.sessions == [(True, USER), (True, USER)]


@pytest.fixture
def tls_app(make_client: Callable[..., Any]) -> Callable[[str], Researcher]:
    def signed_in(url: str) -> Researcher:
        bot = Researcher(make_client(smtp_url=url))
        bot.login()
        return bot
    return signed_in


def _invite(bot: Researcher) -> tuple[int, str]:
    study = bot.create_study(n_participants=2, deck_size=2, rounds=1)
    assert bot.import_participants(study, PEOPLE).status_code == 200
    page = bot.client.get(f"/studies/{study}/mail/invitations")
    r = bot.client.post(f"/studies/{study}/mail/invitations",
                        data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    return study, r.text


def _stored(bot: Researcher) -> tuple[list[str], str]:
    core = bot.client.app.state.core  # type: ignore[attr-defined]
    with core.db() as db:
        errors = [r.error for r in db.scalars(select(Outbox).order_by(Outbox.id))]
        trail = "\n".join(f"{e.action} {e.detail}" for e in db.scalars(select(AuditEvent)))
    return errors, trail


def test_the_app_invites_through_a_starttls_relay(relay: Callable[..., SmtpServer],
                                                  cafile: str,
                                                  tls_app: Callable[[str], Researcher]) -> None:
    server = relay("starttls")
    bot = tls_app(server.url_with(*_login(), starttls="1", cafile=cafile))
    _, page = _invite(bot)
    assert "Sent: 2 invitations" in page and 'id="mail-failures"' not in page
    got = server.inbox.take()
    assert sorted((m["From"], m["To"], m["Subject"]) for m in got) == [
        ("study@example.org", "anna@example.org", "Invitation to the study “Pilot”"),
        ("study@example.org", "ben@example.org", "Invitation to the study “Pilot”")]
    assert server.inbox.sessions == [(True, USER), (True, USER)]
    assert _stored(bot)[0] == ["", ""]


def test_a_wrong_password_is_a_plain_logged_failure(
        relay: Callable[..., SmtpServer], cafile: str, tls_app: Callable[[str], Researcher],
        caplog: pytest.LogCaptureFixture) -> None:
    server = relay("starttls")
    bot = tls_app(server.url_with(*_login(password="hunter22"), cafile=cafile))
    with caplog.at_level(logging.WARNING, logger="dsk.app.mail"):
        study, page = _invite(bot)
    why = "the mail server refused the user name or password (code 535)"
    assert page.count(why) == 2 and 'id="mail-failures"' in page
    errors, trail = _stored(bot)
    assert errors == [why, why]
    assert f"e-mail: 2 of 2 messages not sent ({why})" in caplog.text
    assert "invitations_sent 0 sent, 2 failed" in trail
    # smtplib tries each kind of log-in the server offers (PLAIN, then LOGIN), over TLS
    assert server.inbox.messages == []
    assert server.inbox.logins == [(USER, True, False)] * 2
    for text in (page, trail, caplog.text, *errors,
                 bot.client.get(f"/studies/{study}").text):
        assert "hunter22" not in text


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
@pytest.mark.parametrize("problem", ["unknown authority", "another host"])
def test_an_untrusted_certificate_is_refused(relay: Callable[..., SmtpServer], cafile: str,
                                             tls: str, problem: str) -> None:
    """Nothing is sent, not the password and not the messages, and no plain text."""
    if problem == "unknown authority":
        server = relay(tls, trusted=False)
        why = "unable to get local issuer certificate"
    else:
        server = relay(tls, host="mail.example.org")
        why = "IP address mismatch"
    errors = _send(server.url_with(*_login(), cafile=cafile))
    assert errors == [errors[0]] * 2
    assert errors[0].startswith("the mail server's certificate is not trusted for "
                                f"127.0.0.1 ({why}")
    assert errors[0].endswith("nothing was sent (if your organisation signs it, give its "
                              "authority with cafile=PATH)")
    assert PASSWORD not in errors[0]
    assert server.inbox.messages == [] and server.inbox.logins == []


def test_starttls_to_a_server_without_it_fails_plainly(smtp: SmtpServer) -> None:
    """The plain local server (no STARTTLS, no AUTH): asked for STARTTLS, by
    ``starttls=1`` or by a user name, nothing goes to it in plain text."""
    where = f"the mail server 127.0.0.1:{smtp.port}"
    for url in (smtp.url_with(starttls="1"), smtp.url_with(*_login())):
        errors = _send(url)
        assert errors == [f"{where} does not offer STARTTLS, so nothing was sent (it "
                          "would not have been encrypted)"] * 2
    assert smtp.inbox.messages == []
    # still fine without TLS when none is asked for
    assert _send(smtp.url) == ["", ""]
    assert len(smtp.inbox.take()) == 2


def test_no_login_is_sent_before_tls(relay: Callable[..., SmtpServer], cafile: str) -> None:
    """``starttls=0`` with a user name to a relay that offers a log-in only after
    STARTTLS: the password is never sent in plain text."""
    server = relay("starttls")
    errors = _send(server.url_with(*_login(), starttls="0"))
    assert errors[0] == (f"the mail server 127.0.0.1:{server.port} does not offer to log in "
                         "(AUTH) on this connection without TLS; use starttls=1 or smtps://")
    assert server.inbox.logins == [] and server.inbox.messages == []


def test_smtps_to_a_plain_server_fails_plainly(smtp: SmtpServer, cafile: str) -> None:
    url = smtp.url.replace("smtp://", "smtps://") + f"&cafile={cafile}"
    errors = _send(url)
    # OpenSSL names the problem (WRONG_VERSION_NUMBER here: a plain-text greeting)
    assert errors[0].startswith(f"no TLS connection with the mail server 127.0.0.1:{smtp.port} (")
    assert "); nothing was sent" in errors[0] and errors == [errors[0]] * 2
    if "(WRONG_VERSION_NUMBER)" in errors[0]:
        assert errors[0].endswith("it did not answer in TLS: a port such as 587 wants "
                                  "smtp:// with starttls=1")
    assert smtp.inbox.messages == []


def test_cafile_and_login_settings_are_checked(tmp_path: Path, cafile: str) -> None:
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n", encoding="utf-8")
    base = "smtp://u:hunter22@mail.example.org:587?from=s@example.org"
    for url, words in (
            (f"{base}&cafile={tmp_path / 'missing.pem'}",
             f"cafile: no such file '{tmp_path / 'missing.pem'}'"),
            (f"{base}&cafile={not_pem}",
             f"cafile: expected PEM certificates (-----BEGIN CERTIFICATE-----) in '{not_pem}'"),
            (f"smtp://mail.example.org?from=s@example.org&cafile={cafile}",
             "cafile: expected a TLS connection (smtps://, starttls=1 or a user name)"),
            ("smtp://u:p%C3%A4ss@mail.example.org?from=s@example.org",
             "user name and password: expected ASCII characters only")):
        with pytest.raises(ValueError, match="^--smtp: ") as caught:
            mail.parse_smtp_url(url)
        assert words in str(caught.value) and "hunter22" not in str(caught.value)
    config = mail.parse_smtp_url(f"smtps://u:hunter22@mail.example.org?from=s@example.org"
                                 f"&cafile={cafile}")
    assert config.cafile == cafile and "hunter22" not in repr(config)


def test_a_cafile_gone_after_the_start_is_a_plain_failure(
        relay: Callable[..., SmtpServer], ca: trustme.CA, tmp_path: Path) -> None:
    server = relay("ssl")
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    mailer = mail.Mailer(mail.parse_smtp_url(server.url_with(*_login(), cafile=str(path))))
    path.unlink()
    assert mailer.send(TWO) == [f"cafile: no such file '{path}'; nothing was sent"] * 2
    assert server.inbox.messages == [] and server.inbox.logins == []
