"""Passwords, tokens, CSRF and login rate limiting.

Passwords are hashed with argon2id (``argon2-cffi``, its default parameters, RFC 9106's
low-memory choice: 3 passes over 64 MiB, 4 lanes), the parameters stored in the hash so
they can be raised later. Hashes made earlier with ``hashlib.scrypt``
(``scrypt$n$r$p$salt$digest``) still verify; :func:`needs_rehash` tells the log-in to
replace them (and argon2id hashes with outdated parameters) at the next successful
log-in. Tokens (one-time links, sessions) are 32 random bytes; only their SHA-256 is
stored. Form tokens are HMAC-SHA256 signed with a per-database secret.

Why our own tokens and signatures: the standard library has every primitive needed;
passlib is no longer maintained and itsdangerous would add a dependency for twenty lines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: Parameters of the scrypt hashes of earlier versions (kept to verify them).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_ARGON2 = PasswordHasher()  # argon2id


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted: two calls give different hashes).

    Examples
    --------
    >>> stored = hash_password("correct horse battery")
    >>> stored.startswith("$argon2id$"), verify_password("correct horse battery", stored)
    (True, True)
    >>> verify_password("wrong", stored), needs_rehash(stored)
    (False, False)
    """
    if not password:
        raise ValueError("password: expected a non-empty password")
    return _ARGON2.hash(password)


def scrypt_hash(password: str) -> str:
    """The scrypt hash earlier versions stored (for tests of the upgrade to argon2id).

    Examples
    --------
    >>> old = scrypt_hash("pw")
    >>> old.startswith("scrypt$16384$8$1$"), verify_password("pw", old), needs_rehash(old)
    (True, True, True)
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 2**20, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                                   r=int(r), p=int(p), maxmem=64 * 2**20,
                                   dklen=len(digest) // 2)
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(candidate.hex(), digest)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, an argon2id or an older scrypt hash."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _ARGON2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` should be replaced by :func:`hash_password` of the password just
    verified: an scrypt hash, or an argon2 hash with other parameters than today's."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except (VerificationError, InvalidHashError, ValueError):
        return True


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    """Whether two strings are equal, in constant time; any text, not only ASCII
    (``hmac.compare_digest`` raises TypeError for a non-ASCII string)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


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
        """The payload of ``signed`` when its signature is right, else None (also for
        text no signer makes, such as non-ASCII characters).

        >>> signer = Signer("key")
        >>> signer.unsign(signer.sign("1|2")), signer.unsign("1|2.\u00e9"), signer.unsign("x")
        ('1|2', None, None)
        """
        payload, _, mac = signed.rpartition(".")
        if not payload or not _same(mac, self.mac(payload)):
            return None
        return payload

    def csrf_token(self, cookie: str) -> str:
        return self.mac("csrf:" + cookie)

    def check_csrf(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return _same(self.csrf_token(cookie), token)


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
