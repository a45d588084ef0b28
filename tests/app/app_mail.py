"""A real local SMTP server (aiosmtpd) for the scoring-app tests, and what it received.

Used by the e-mail tests and the browser tests: start one with the ``smtp`` fixture
(``conftest.py``) and point the app at ``smtp.url``; ``smtp.inbox`` holds every message
the app sent, parsed.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """What the local SMTP server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    #: addresses the server refuses (550)
    refuse: set[str] = field(default_factory=set)

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


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from=study@example.org&timeout=5"

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def links_in(msg: EmailMessage, base: str) -> list[str]:
    """The URLs on ``base`` (``http://127.0.0.1:PORT``) in the message's text."""
    return re.findall(re.escape(base) + r"/[A-Za-z0-9_/-]*", msg.get_content())
