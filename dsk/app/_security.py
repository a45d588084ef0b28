"""Passwords, tokens, CSRF, log-in back-off and client addresses.

Passwords are hashed with argon2id (``argon2-cffi``, its default parameters, RFC 9106's
low-memory choice: 3 passes over 64 MiB, 4 lanes), the parameters stored in the hash so
they can be raised later. Hashes made earlier with ``hashlib.scrypt``
(``scrypt$n$r$p$salt$digest``) still verify; :func:`needs_rehash` tells the log-in to
replace them (and argon2id hashes with outdated parameters) at the next successful
log-in. Tokens (one-time links, sessions) are 32 random bytes; only their SHA-256 is
stored. Form tokens are HMAC-SHA256 signed with a per-database secret.

Failed log-ins are counted in the database (table ``login_throttle``), so every worker
process sees the same counts and a restart forgets nothing; :class:`LoginLimiter`
explains the back-off: exponential per client address, per account from an address,
and per account, the last holding only addresses that have themselves failed on it,
so that the owner at a fresh address can still log in. The client address is the
connecting address unless that is a trusted proxy (``--trusted-proxy``), then the
right-most untrusted address in ``X-Forwarded-For`` (:func:`forwarded_client`).

Why our own tokens and signatures: the standard library has every primitive needed;
passlib is no longer maintained and itsdangerous would add a dependency for twenty lines.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import secrets
from collections.abc import Callable, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ._db import writing
from ._models import LoginThrottle, utcnow

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


# ------------------------------------------------------------------ log-in back-off

#: A key's failures are forgotten once it has had none for this long.
FORGET_AFTER = dt.timedelta(days=1)
_KEY_PART = 80  # longer user names or addresses are keyed by a hash (the key column holds 200)


def wait_in_words(seconds: float) -> str:
    """``seconds`` of waiting in plain words, rounded up (for the 429 page).

    Examples
    --------
    >>> wait_in_words(0.2), wait_in_words(45), wait_in_words(61), wait_in_words(900)
    ('1 second', '45 seconds', '2 minutes', '15 minutes')
    >>> wait_in_words(3600), wait_in_words(5400)
    ('1 hour', '1 hour 30 minutes')
    """
    def plural(n: int, unit: str) -> str:
        return f"{n} {unit}" + ("" if n == 1 else "s")

    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return plural(whole, "second")
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return plural(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    return plural(hours, "hour") + (f" {plural(minutes, 'minute')}" if minutes else "")


def _key_part(text: str) -> str:
    if len(text) <= _KEY_PART:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _client_part(address: str) -> str:
    """An IPv4 address as it is; an IPv6 address by its /64 network (what one line or
    one host is usually given, so that an attacker cannot step through 2**64 addresses)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return _key_part(address)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def throttle_keys(account: str, client: str) -> tuple[str, str, str]:
    """The three keys a log-in attempt is counted under: the client address, the
    account from that address, and the account (user names compared case-blind).

    Examples
    --------
    >>> throttle_keys("Ada", "203.0.113.7")
    ('client:203.0.113.7', 'account+client:ada|203.0.113.7', 'account:ada')
    >>> throttle_keys("ada", "2001:db8::1:2")[0]
    'client:2001:db8::/64'
    """
    name, address = _key_part(account.strip().casefold()), _client_part(client)
    return f"client:{address}", f"account+client:{name}|{address}", f"account:{name}"


class LoginLimiter:
    """Exponential back-off of failed log-ins, counted in the ``login_throttle`` table.

    Every failed log-in (or wrong current password on the password-change form) adds
    one to three counters: ``client:ADDR``, ``account+client:NAME|ADDR`` and
    ``account:NAME`` (:func:`throttle_keys`). A counter's first ``attempts - 1``
    failures cost nothing; its ``attempts``-th sets a wait of ``delay`` seconds and
    each further failure doubles it, up to ``max_delay`` (defaults: 5, 2 s, 15
    minutes: after five failures 2 s, then 4, 8, ... and 15 minutes from the fifteenth
    on). A counter is forgotten :data:`FORGET_AFTER` (a day) after its last failure.

    An attempt waits while its ``client:`` or ``account+client:`` counter is blocked.
    The ``account:`` counter, which adds up the failures from every address, holds only
    clients that have themselves failed on that account: an owner at an address that
    has not guessed logs in even while the account is attacked, and a distributed
    guesser gets one free guess per address, then waits for the account's back-off
    (so with many addresses it gains about one guess per address, plus one whenever the
    account's wait ends). A successful log-in deletes that client's
    ``account+client:`` counter and takes the failures it held off the ``client:`` and
    ``account:`` counters (the owner's own typing errors are forgiven; failures on other
    accounts are not). Attempts refused while blocked are not counted, so an attacker
    cannot extend the owner's wait by hammering.

    Counting is one ``INSERT ... ON CONFLICT DO UPDATE SET failures = failures + 1``
    per key (SQLite and PostgreSQL), so failures in several worker processes at once
    are all counted, and a restart forgets nothing. ``clock`` gives the time (naive
    UTC), for tests.

    Examples
    --------
    >>> import tempfile, datetime as dt
    >>> from sqlalchemy.orm import sessionmaker
    >>> from dsk.app._db import make_engine, upgrade
    >>> engine = make_engine(tempfile.mkdtemp() + "/app.sqlite3")
    >>> upgrade(engine)
    >>> now = dt.datetime(2026, 1, 1)
    >>> limiter = LoginLimiter(sessionmaker(engine), attempts=3, delay=10, clock=lambda: now)
    >>> [limiter.failed("ada", "203.0.113.7") for _ in range(5)]
    [0.0, 0.0, 10.0, 20.0, 40.0]
    >>> limiter.retry_after("ada", "203.0.113.7"), limiter.retry_after("ada", "198.51.100.2")
    (40.0, 0.0)
    >>> engine.dispose()
    """

    def __init__(self, sessions: sessionmaker[Session], attempts: int = 5, delay: float = 2.0,
                 max_delay: float = 900.0,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        if attempts < 1:
            raise ValueError(f"login_attempts: expected at least 1, got {attempts}")
        if not 0 < delay <= max_delay <= FORGET_AFTER.total_seconds():
            raise ValueError(f"login_delay, login_max_delay: expected 0 < login_delay <= "
                             f"login_max_delay <= {FORGET_AFTER.total_seconds():.0f} seconds, "
                             f"got {delay} and {max_delay}")
        self.sessions = sessions
        self.attempts, self.delay, self.max_delay = attempts, float(delay), float(max_delay)
        self.clock = clock

    def delay_after(self, failures: int) -> float:
        """Seconds a counter is blocked for after its ``failures``-th failure.

        >>> limiter = LoginLimiter(sessionmaker(), attempts=5, delay=2, max_delay=900)
        >>> [limiter.delay_after(n) for n in (1, 4, 5, 6, 7, 13, 14, 10**6)]
        [0.0, 0.0, 2.0, 4.0, 8.0, 512.0, 900.0, 900.0]
        """
        steps = failures - self.attempts
        if steps < 0:
            return 0.0
        return self.max_delay if steps > 60 else min(self.max_delay, self.delay * 2.0 ** steps)

    def retry_after(self, account: str, client: str) -> float:
        """Seconds before ``client`` may try to log in to ``account``; 0 when it may now."""
        now = self.clock()
        keys = throttle_keys(account, client)
        with self.sessions() as db:
            rows = {r.key: r for r in db.scalars(select(LoginThrottle)
                                                 .where(LoginThrottle.key.in_(keys)))}
        client_row, pair, account_row = (rows.get(k) for k in keys)
        holding = [client_row, pair]
        if pair is not None and pair.failures > 0 and pair.last_failure > now - FORGET_AFTER:
            holding.append(account_row)
        waits = [(r.blocked_until - now).total_seconds() for r in holding if r is not None]
        return max([0.0, *waits])

    def failed(self, account: str, client: str) -> float:
        """Count a failed attempt under the three keys; the wait it imposes on ``client``
        (the longest of its ``client:`` and ``account+client:`` counters)."""
        now = self.clock()
        cutoff = now - FORGET_AFTER
        waits = []
        with self.sessions() as db, writing(db):
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            for key in throttle_keys(account, client):  # always in this order: no deadlock
                count = (insert(LoginThrottle)
                         .values(key=key, failures=1, last_failure=now, blocked_until=now)
                         .on_conflict_do_update(
                             index_elements=[LoginThrottle.key],
                             set_={"failures": case((LoginThrottle.last_failure < cutoff, 1),
                                                    else_=LoginThrottle.failures + 1),
                                   "last_failure": now})
                         .returning(LoginThrottle.failures))
                failures = db.execute(count).scalar_one()
                wait = self.delay_after(failures)
                db.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                           .values(blocked_until=now + dt.timedelta(seconds=wait)))
                waits.append(wait)
            db.commit()
        return max(waits[:2])

    def succeeded(self, account: str, client: str) -> None:
        """A correct password from ``client``: forgive its failures on ``account``."""
        now = self.clock()
        client_key, pair_key, account_key = throttle_keys(account, client)
        with self.sessions() as db, writing(db):
            if db.get_bind().dialect.name == "postgresql":  # lock in the order of failed()
                db.execute(select(LoginThrottle.key).where(LoginThrottle.key == client_key)
                           .with_for_update())
            gone = db.execute(delete(LoginThrottle).where(LoginThrottle.key == pair_key)
                              .returning(LoginThrottle.failures, LoginThrottle.last_failure)
                              ).first()
            if gone is not None and gone.failures > 0 and gone.last_failure > now - FORGET_AFTER:
                db.execute(update(LoginThrottle)
                           .where(LoginThrottle.key.in_([client_key, account_key]))
                           .values(failures=case((LoginThrottle.failures > gone.failures,
                                                  LoginThrottle.failures - gone.failures),
                                                 else_=0)))
            db.commit()
        self._sweep(now)

    def _sweep(self, now: dt.datetime) -> None:
        """Delete forgotten counters (best effort: a clash with a failing log-in in
        another worker just leaves them for the next success)."""
        with self.sessions() as db, writing(db):
            try:
                db.execute(delete(LoginThrottle)
                           .where(LoginThrottle.last_failure < now - FORGET_AFTER,
                                  LoginThrottle.blocked_until < now))
                db.commit()
            except DBAPIError:
                db.rollback()


# ------------------------------------------------------------------ client addresses

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address written bare, ``[v6]``, ``v4:port`` or ``[v6]:port``; None if malformed."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def trusted_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse ``--trusted-proxy`` values: addresses (``10.0.0.5``) or networks
    (``10.0.0.0/8``, ``fd00::/8``).

    Examples
    --------
    >>> trusted_networks(["127.0.0.1", "10.0.0.0/8"])
    (IPv4Network('127.0.0.1/32'), IPv4Network('10.0.0.0/8'))
    >>> trusted_networks(["proxy.example.org"])
    Traceback (most recent call last):
    ...
    ValueError: --trusted-proxy: expected an IP address or network such as 10.0.0.0/8, got 'proxy.example.org'
    """
    networks = []
    for value in [values] if isinstance(values, str) else values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError(f"--trusted-proxy: expected an IP address or network such as "
                             f"10.0.0.0/8, got {str(value)[:100]!r}") from None
    return tuple(networks)


def forwarded_client(peer: str, forwarded_for: Iterable[str],
                     trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: ``peer`` (the address that connected), unless it is a
    trusted proxy; then the right-most address of the ``X-Forwarded-For`` headers that
    is not a trusted proxy (malformed entries are skipped; when every entry is a
    trusted proxy, the left-most one).

    Examples
    --------
    >>> proxies = trusted_networks(["10.0.0.0/8"])
    >>> forwarded_client("203.0.113.9", ["198.51.100.1"], proxies)  # no proxy: header ignored
    '203.0.113.9'
    >>> forwarded_client("10.0.0.2", ["198.51.100.1, 203.0.113.9, 10.0.0.3"], proxies)
    '203.0.113.9'
    >>> forwarded_client("10.0.0.2", ["not an address, 203.0.113.9:4711"], proxies)
    '203.0.113.9'
    >>> forwarded_client("10.0.0.2", [], proxies)
    '10.0.0.2'
    """
    peer_ip = _ip(peer)
    if peer_ip is None or not any(peer_ip in net for net in trusted):
        return str(peer_ip) if peer_ip is not None else peer
    chain = [ip for header in forwarded_for for entry in header.split(",")
             if (ip := _ip(entry)) is not None]
    for ip in reversed(chain):
        if not any(ip in net for net in trusted):
            return str(ip)
    return str(chain[0]) if chain else str(peer_ip)
