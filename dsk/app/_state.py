"""What every router of the scoring app shares: the database, the signer, the templates.

:func:`dsk.app.create_app` builds one :class:`AppState` and keeps it on
``app.state.core``; handlers receive it through the :data:`State` dependency rather
than from a closure. The routers are split by role: ``_public`` (health check),
``_auth`` (researcher log-in and log-out), ``_researcher`` (studies, links, exports),
``_practitioner`` (consent, scoring, round 2) and ``_audit_pages`` (the audit trail).
``docs/architecture.md`` (section "Scoring app") describes what the app does and where
it sits in the data flow.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import FormData

from dsk.catalogue import Catalogue
from dsk.sets import bundled_sets, load_set

from . import _study as st
from ._db import make_engine, upgrade
from ._mail import Mailer, Post, parse_smtp_url
from ._models import Participant, Researcher, ResearcherSession, Setting, Study, utcnow
from ._security import LoginLimiter, Signer, forwarded_client, token_hash, trusted_networks
from ._workshop import JoinLimiter

HERE = Path(__file__).resolve().parent
CSRF_COOKIE, PARTICIPANT_COOKIE, RESEARCHER_COOKIE = "dsk_csrf", "dsk_p", "dsk_r"
PARTICIPANT_DAYS, RESEARCHER_HOURS = 120, 12
#: Where participant links point when no public URL is given: ``dsk serve``'s own address.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
#: Sent with ``secure_cookies``: browsers then use only HTTPS for a year.
HSTS = "max-age=31536000"
PHASES = {"round1": "Round 1 open", "round2": "Round 2 open", "closed": "Closed"}
_HEADINGS = {400: "Request refused", 401: "Not signed in", 403: "Not allowed",
             404: "Not found", 409: "Already done", 410: "Link already used",
             422: "Please check your answers", 429: "Too many attempts"}


class Redirect(Exception):
    """Raised by a guard to send the browser elsewhere (a 303 to ``url``)."""

    def __init__(self, url: str) -> None:
        self.url = url


def _secret(sessions: sessionmaker[Session]) -> str:
    with sessions() as db:
        found = db.get(Setting, "secret")
        if found is not None:
            return found.value
        db.add(Setting(key="secret", value=secrets.token_hex(32)))
        try:
            db.commit()
        except IntegrityError:
            db.rollback()
        found = db.get(Setting, "secret")
        assert found is not None
        return found.value


def origin_of(url: str, field: str = "public_url") -> str:
    """The origin (``scheme://host[:port]``, default port left out) of an absolute URL.

    Raises :class:`ValueError` naming ``field`` for anything but an ``http`` or
    ``https`` URL with a host and no path, query or fragment.

    >>> origin_of("https://Study.Example.org:443/")
    'https://study.example.org'
    >>> origin_of("http://127.0.0.1:8000")
    'http://127.0.0.1:8000'
    >>> origin_of("study.example.org")
    Traceback (most recent call last):
    ...
    ValueError: public_url: expected http://HOST[:PORT] or https://HOST[:PORT], got 'study.example.org'
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # an unclosed IPv6 address, a port that is no number
        parts, port = urlsplit(""), -1
    if (parts.scheme not in ("http", "https") or not parts.hostname or port == -1
            or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username is not None):
        raise ValueError(f"{field}: expected http://HOST[:PORT] or https://HOST[:PORT], "
                         f"got {url[:200]!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _professions(catalogue: Catalogue) -> dict[str, str]:
    try:
        from dsk.panels import load_professions

        labels = {pid: p.label for pid, p in load_professions(catalogue=catalogue).items()}
    except Exception:  # noqa: BLE001 - the app must start even without panel profiles
        labels = {}
    labels["other"] = "Other"
    return labels


class AppState:
    """Everything the handlers share; built once by :func:`dsk.app.create_app`."""

    def __init__(self, db_url: str, login_attempts: int, login_delay: float,
                 login_max_delay: float, catalogue: Catalogue, migrate: bool, threads: int,
                 public_url: str = DEFAULT_PUBLIC_URL, secure_cookies: bool = False,
                 trusted_proxies: Iterable[str] = (), smtp_url: str | None = None,
                 scheduler_seconds: float = 5.0) -> None:
        #: Proxies whose ``X-Forwarded-For`` is believed (see :meth:`client_address`).
        self.trusted_proxies = trusted_networks(trusted_proxies)
        #: The origin participant links are built from and posted forms must come from.
        self.public_url = origin_of(public_url)
        if secure_cookies and not self.public_url.startswith("https://"):
            raise ValueError(f"public_url: secure cookies need an https:// public URL, got "
                             f"{self.public_url!r}")
        #: The mail server (``post.mailer`` is None without one) and the links' base URL.
        self.post = Post(Mailer(parse_smtp_url(smtp_url)) if smtp_url else None,
                         self.public_url)
        #: Seconds between two looks for due deadlines and reminders (0: never look).
        self.scheduler_seconds = scheduler_seconds
        #: The time (naive UTC) deadlines are measured by; tests replace it.
        self.clock: Callable[[], dt.datetime] = utcnow
        #: ``Secure`` cookies named with the ``__Host-`` prefix, and HSTS (behind TLS).
        self.secure_cookies = secure_cookies
        prefix = "__Host-" if secure_cookies else ""
        self.csrf_cookie, self.participant_cookie, self.researcher_cookie = (
            prefix + CSRF_COOKIE, prefix + PARTICIPANT_COOKIE, prefix + RESEARCHER_COOKIE)
        self.engine = make_engine(db_url)
        if migrate:
            upgrade(self.engine)
        info = {"write_lock": threading.Lock()} if self.engine.dialect.name == "sqlite" else {}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.signer = Signer(_secret(self.sessions))
        self.limiter = LoginLimiter(self.sessions, login_attempts, login_delay, login_max_delay)
        self.join_limiter = JoinLimiter()  # one per app, as the login limiter
        self.threads = threads
        self.catalogue = catalogue
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True,
                               lstrip_blocks=True, auto_reload=False)
        self.levels = dict(catalogue.need_levels)
        self.agencies = {a: label[:1].upper() + label[1:] for a, label in catalogue.agencies.items()}
        self.factor_labels = {f.id: f.label for f in catalogue.factors}
        self.factor_groups = [(d, label, [f for f in catalogue.factors if f.domain == d])
                              for d, label in catalogue.domains.items()]
        self.professions = _professions(catalogue)
        choices = self.env.get_template("_choices.html").module

        @lru_cache(maxsize=4096)
        def factor_fieldsets(checked: tuple[str, ...]) -> Markup:
            return Markup(choices.factors(self.factor_groups, checked))  # type: ignore[attr-defined]

        @lru_cache(maxsize=64)
        def agency_options(selected: str) -> Markup:
            return Markup(choices.agencies(self.agencies, selected))  # type: ignore[attr-defined]

        self.env.globals.update(
            factor_fieldsets=lambda checked: factor_fieldsets(tuple(sorted(checked or ()))),
            agency_options=lambda selected: agency_options(selected or ""))
        self.sets = [{"id": s, "n": len(load_set(s, catalogue))} for s in bundled_sets()]

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        """Set an HttpOnly, SameSite=Lax cookie on the whole site (Secure when configured)."""
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                            path="/", secure=self.secure_cookies)

    def clear_cookie(self, response: Response, name: str) -> None:
        """End cookie ``name`` in the browser (same attributes as when it was set)."""
        response.delete_cookie(name, path="/", httponly=True, samesite="lax",
                               secure=self.secure_cookies)

    def link(self, token: str) -> str:
        """The participant link of ``token``, on the public URL (never the Host header)."""
        return f"{self.public_url}/p/{token}"

    def client_address(self, request: Request) -> str:
        """The address of the client behind ``request``: the connecting address, unless
        that is one of ``trusted_proxies``, then the right-most address in
        ``X-Forwarded-For`` that is not (see :func:`dsk.app._security.forwarded_client`).
        Without trusted proxies a forged header changes nothing."""
        peer = request.client.host if request.client else "unknown"
        if not self.trusted_proxies:
            return peer
        return forwarded_client(peer, request.headers.getlist("x-forwarded-for"),
                                self.trusted_proxies)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A database session, closed on exit."""
        with self.sessions() as session:
            yield session

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        """Render template ``name``; every page gets the CSRF token and an ``errors`` dict."""
        context.setdefault("csrf", self.signer.csrf_token(request.state.csrf_cookie))
        context.setdefault("researcher", None)
        context.setdefault("errors", {})
        context.setdefault("leave", self.participant_cookie in request.cookies)
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, exc: st.AppError) -> HTMLResponse:
        """The error page for ``exc``, with the status it carries."""
        page = self.render(request, "error.html", status=exc.status, message=exc.message,
                           heading=_HEADINGS.get(exc.status, "Something went wrong"))
        page.headers.update(exc.headers)
        return page

    # --------------------------------------------------------- guards
    def check_csrf(self, request: Request, form: FormData) -> None:
        """Refuse (403) a form whose CSRF token does not match this browser's cookie."""
        token = form.get("csrf_token")
        if not self.signer.check_csrf(request.cookies.get(self.csrf_cookie),
                                      token if isinstance(token, str) else None):
            raise st.AppError("missing or wrong; reload the page and send the form again "
                              "(forms are protected against cross-site request forgery)",
                              status=403, field="csrf_token")

    def check_origin(self, request: Request) -> None:
        """Refuse (403) a POST whose ``Origin`` (or, without one, ``Referer``) is not the
        public URL.

        Every current browser sends ``Origin`` with a POST (``null`` when it hides it,
        refused here); a request with neither header is no browser's form and still
        needs its CSRF token.
        """
        sent, header = request.headers.get("origin"), "Origin"
        if sent is None:
            referer = request.headers.get("referer")
            if referer is None:
                return
            header = "Referer"
            try:
                sent = urlsplit(referer)._replace(path="", query="", fragment="").geturl()
            except ValueError:  # not a URL, such as "http://[::1/x" (refused below)
                sent = referer
        try:
            ok = origin_of(sent, header) == self.public_url
        except ValueError:
            ok = False
        if not ok:
            raise st.AppError(f"this form was sent from {sent[:100]!r}, not from this site "
                              f"({self.public_url}); open the page at {self.public_url} and "
                              "send the form from there (if that is not this server's address, "
                              "start it with --public-url)", status=403, field=header.lower())

    def researcher(self, db: Session, request: Request) -> Researcher:
        """The signed-in researcher (an enabled account), or a redirect to the log-in page."""
        token = request.cookies.get(self.researcher_cookie)
        if token:
            row = db.get(ResearcherSession, token_hash(token))
            if row is not None and row.expires_at > utcnow():
                found = db.get(Researcher, row.researcher_id)
                if found is not None and not found.disabled:
                    return found
        raise Redirect("/login")

    def study(self, db: Session, request: Request, study_id: int, need: str = "viewer"
              ) -> tuple[Researcher, Study, str]:
        """The signed-in researcher, the study and their role in it (at least ``need``).

        Every researcher route that names a study goes through here: without a role the
        study does not exist (404, the page of a missing study); with a role weaker than
        ``need`` the action is refused (403). See :func:`dsk.app._study.study_for`.
        """
        who = self.researcher(db, request)
        study, role = st.study_for(db, study_id, who, need)
        return who, study, role

    def admin(self, db: Session, request: Request) -> Researcher:
        """The signed-in researcher when they are an admin; for others the page does not
        exist (404)."""
        who = self.researcher(db, request)
        if not who.is_admin:
            raise st.AppError("no such page", status=404)
        return who

    def participant(self, db: Session, request: Request) -> Participant:
        """The participant of this browser's study session, or a 401."""
        p = st.participant_by_session(db, request.cookies.get(self.participant_cookie))
        if p is None:
            raise st.AppError("this browser has no study session; open the link the researcher "
                              "sent you", status=401, field="session")
        return p


def form_text(form: FormData, name: str) -> str:
    """The text of form field ``name``; "" when it is missing or is a file.

    >>> form_text(FormData([("title", "Pilot")]), "title"), form_text(FormData(), "title")
    ('Pilot', '')
    """
    value = form.get(name)
    return value if isinstance(value, str) else ""


def upload_name(filename: str, default: str = "upload") -> str:
    r"""An uploaded file's own name, without any folder a browser may send.

    >>> upload_name("C:\Users\ada\list.csv"), upload_name("")
    ('list.csv', 'upload')
    """
    return Path(filename.replace("\\", "/")).name[:200] or default


def state_of(request: Request) -> AppState:
    """The :class:`AppState` of the app serving ``request`` (for exception handlers)."""
    core: AppState = request.app.state.core
    return core


async def app_state(request: Request) -> AppState:
    """FastAPI dependency: the :class:`AppState` of the app serving ``request``.

    ``async`` so that FastAPI resolves it on the event loop, without a thread hop.
    """
    return state_of(request)


#: Handler parameter type that receives the shared :class:`AppState`.
State = Annotated[AppState, Depends(app_state)]
