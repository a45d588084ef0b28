"""A real local SMTP server (aiosmtpd) for the scoring-app tests, and what it received.

Used by the e-mail tests and the browser tests: start one with the ``smtp`` fixture
(``conftest.py``) and point the app at ``smtp.url``; ``smtp.inbox`` holds every message
the app sent, parsed. Like a university relay, a server can also offer STARTTLS
(``tls="starttls"``: log-in and mail only after it) or speak TLS from the start
(``tls="ssl"``, smtps), with a certificate made by ``trustme``, and require a log-in
(``users``: user name to password; ``mechanisms``: the AUTH kinds it offers).
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Inbox:
    """What the local SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    #: addresses the server refuses (550)
    refuse: set[str] = field(default_factory=set)
    #: per message received: (over TLS?, the user name logged in or "")
    sessions: list[tuple[bool, str]] = field(default_factory=list)
    #: every log-in tried: (user name, over TLS?, accepted?)
    logins: list[tuple[str, bool, bool]] = field(default_factory=list)
    #: refuse mail (530) from a client that has not logged in
    login_required: bool = False

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        if self.login_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        login = session.login_data.decode() if session.login_data else ""
        self.sessions.append((_over_tls(server), login))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def take(self) -> list[EmailMessage]:
        got, self.messages[:] = list(self.messages), []
        return got

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """The messages to ``address``, once ``count`` of them have arrived (they are
        sent from the server's process when the page that sends them answers; the
        local server may hand them over a moment later)."""
        deadline = time.monotonic() + timeout
        while len(self.to(address)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        got = self.to(address)
        assert len(got) >= count, f"{len(got)} of {count} messages to {address} arrived"
        return got


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _over_tls(server: Any) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    controller: Controller | None = None
    #: "none", "starttls" (offered; log-in and mail only after it) or "ssl" (smtps)
    tls: str = "none"
    #: the server's certificate (``trustme.CA().issue_cert("127.0.0.1")``), for TLS
    cert: Any = None
    #: user name to password; when given, mail needs a log-in (over TLS only)
    users: dict[str, str] = field(default_factory=dict)
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from=study@example.org&timeout=5"

    def url_with(self, user: str = "", password: str = "", **settings: str) -> str:
        """The URL with a log-in (percent-encode it first) and more settings, e.g.
        ``starttls="1"`` or ``cafile=PATH``; ``smtps://`` for an ``ssl`` server."""
        scheme = "smtps" if self.tls == "ssl" else "smtp"
        login = f"{user}:{password}@" if user else ""
        extra = "".join(f"&{k}={v}" for k, v in settings.items())
        return f"{scheme}://{login}127.0.0.1:{self.port}?from=study@example.org&timeout=5{extra}"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = user in self.users and self.users[user] == password
        self.inbox.logins.append((user, _over_tls(server), ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.tls != "none":
            assert self.cert is not None, "a TLS server needs a certificate"
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.cert.configure_cert(context)
            if self.tls == "ssl":
                options["ssl_context"] = context
            else:
                options.update(tls_context=context, require_starttls=True)
        if self.users:
            self.inbox.login_required = True
            options.update(
                authenticator=self._authenticate,
                # aiosmtpd counts only STARTTLS as TLS; smtps is TLS throughout
                auth_require_tls=self.tls != "ssl",
                auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN")
                                        if m not in self.mechanisms])
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def links_in(msg: EmailMessage, base: str) -> list[str]:
    """The URLs on ``base`` (``http://127.0.0.1:PORT``) in the message's text."""
    return re.findall(re.escape(base) + r"/[A-Za-z0-9_/-]*", msg.get_content())
