"""Passwords, tokens, CSRF and login rate limiting (standard library only).

Passwords are hashed with ``hashlib.scrypt`` (n=2**14, r=8, p=1, 16-byte salt), the
parameters stored with the hash so they can be raised later. Tokens (one-time links,
sessions) are 32 random bytes; only their SHA-256 is stored. Form tokens are
HMAC-SHA256 signed with a per-database secret.

Why our own: the standard library has every primitive needed; passlib is no longer
maintained and itsdangerous would add a dependency for twenty lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("password: expected a non-empty password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 2**20, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                               p=int(p), maxmem=64 * 2**20, dklen=len(digest) // 2)
    return hmac.compare_digest(candidate.hex(), digest)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Signer:
    """HMAC signatures of short payloads (form tokens, CSRF tokens)."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def mac(self, payload: str) -> str:
        raw = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def sign(self, payload: str) -> str:
        return f"{payload}.{self.mac(payload)}"

    def unsign(self, signed: str) -> str | None:
        payload, _, mac = signed.rpartition(".")
        if not payload or not hmac.compare_digest(mac, self.mac(payload)):
            return None
        return payload

    def csrf_token(self, cookie: str) -> str:
        return self.mac("csrf:" + cookie)

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie), token)


class LoginLimiter:
    """At most ``attempts`` failed logins per ``window`` seconds per client and per username.

    Kept in memory: ``dsk serve`` runs one process. A success clears the client's record.
    """

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, client: str, username: str) -> float:
        """Seconds to wait before another attempt is allowed; 0 when allowed now."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for key in (f"c:{client}", f"u:{username.lower()}"):
                q = self._recent(key, now)
                if len(q) >= self.attempts:
                    wait = max(wait, self.window - (now - q[0]))
            return wait

    def failed(self, client: str, username: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"c:{client}", f"u:{username.lower()}"):
                self._recent(key, now).append(now)

    def succeeded(self, client: str, username: str) -> None:
        with self._lock:
            self._failures.pop(f"c:{client}", None)
            self._failures.pop(f"u:{username.lower()}", None)
