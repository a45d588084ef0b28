"""The FastAPI application: one shared state, four routers by role, one middleware.

Pages are rendered on the server (Jinja2) and work without JavaScript. Every POST
form carries a CSRF token (an HMAC of a per-browser cookie, the "signed double
submit cookie" pattern, set by :class:`_Guard`); every scoring form also carries a
signed one-time form token (see :mod:`dsk.app._practitioner`).

:func:`create_app` builds the :class:`~dsk.app._state.AppState` (database, signer,
templates, catalogue labels), keeps it on ``app.state.core`` and includes the
routers: ``_public`` (health check), ``_auth`` (log-in, log-out), ``_researcher``
(studies, links, exports), ``_practitioner`` (consent, scoring, round 2) and
``_audit_pages`` (the audit trail's pages) and ``_roster_pages`` (participant list,
re-issued links, confirmation pages) and ``_mail_pages`` (e-mail: invitations,
reminders, templates, a link sent again). Handlers
receive the state through a dependency, not a closure. One app-wide dependency,
``_form_guard``, checks every posted form (:func:`dsk.app._study.check_form`) before
any handler sees it.

When the database cannot be reached (a PostgreSQL restart, a SQLite file locked for
too long), a page answers 503 with ``Retry-After`` and says to try again, never a
500. A scoring form's one-time token is spent only when its answer commits, so the
form can be sent again (an answer that did commit is refused a second time with a 409).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsk.catalogue import Catalogue, load_catalogue

from . import (
    _audit_pages,
    _auth,
    _mail,
    _mail_pages,
    _practitioner,
    _privacy,
    _public,
    _researcher,
    _roster_pages,
    _workshop_pages,
)
from . import _study as st
from ._security import new_token
from ._state import DEFAULT_PUBLIC_URL, HERE, HSTS, PARTICIPANT_DAYS, AppState, Redirect, state_of

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # One-time links must not leak through Referer to other sites; "same-origin" (not
    # "no-referrer") so that browsers send the real Origin with this site's own forms.
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
}


class _Guard:
    """Pure ASGI middleware: gives every browser a CSRF cookie and sets security headers
    (with ``secure``, the cookie is ``Secure`` and HSTS is sent).

    (Starlette's ``BaseHTTPMiddleware`` would cost about a millisecond per request.)
    """

    def __init__(self, app: ASGIApp, cookie: str, secure: bool) -> None:
        self.app = app
        self.cookie = cookie
        self.secure = secure
        self.attributes = "; Secure" if secure else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b"".join(v for k, v in scope["headers"] if k == b"cookie").decode("latin-1")
        cookie = cookie_parser(raw).get(self.cookie) if raw else None
        fresh = None
        if not cookie or len(cookie) < 32:
            fresh = cookie = new_token()
        scope.setdefault("state", {})["csrf_cookie"] = cookie
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers[name] = value
                if self.secure:
                    headers["Strict-Transport-Security"] = HSTS
                if not static:
                    headers["Cache-Control"] = "no-store"
                if fresh:
                    headers.append("set-cookie", f"{self.cookie}={fresh}; HttpOnly; "
                                   f"Max-Age={PARTICIPANT_DAYS * 86400}; Path=/; "
                                   f"SameSite=lax{self.attributes}")
            await send(message)

        await self.app(scope, receive, send_with_headers)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    core: AppState = app.state.core
    # Fewer worker threads than anyio's default 40: requests are short and
    # CPU-bound, and many threads fighting over the GIL stretch the tail.
    anyio.to_thread.current_default_thread_limiter().total_tokens = core.threads
    scheduler = (asyncio.create_task(_scheduler(core)) if core.scheduler_seconds > 0
                 else None)
    yield
    if scheduler is not None:
        scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler
    core.engine.dispose()


def _run_due(core: AppState) -> int:
    with core.db() as db:
        return _mail.run_due(db, core.post, core.clock())


async def _scheduler(core: AppState) -> None:
    """Every ``scheduler_seconds``, run the deadlines and reminders that are due
    (:func:`dsk.app._mail.run_due`; each is claimed by one process only). A failure
    (the database unreachable, say) is logged and tried again next time."""
    while True:
        await asyncio.sleep(core.scheduler_seconds)
        try:
            await anyio.to_thread.run_sync(_run_due, core)
        except Exception as exc:  # noqa: BLE001 - the loop must outlive one failure
            _log.warning("scheduled jobs not run: %s", " ".join(str(exc).split())[:200])


async def _form_guard(request: Request) -> None:
    """App-wide dependency: every form posted to any route passes :func:`st.check_form`
    (no control characters, no oversized field, one value per single-valued field) before
    its handler runs. Starlette keeps the parsed form on the request, so the handler's
    own ``await request.form()`` reads the same form again without parsing it twice.
    A field of up to 2 MB gets the 422 naming it (Starlette's default cut-off of 1 MB
    would answer a bare 400). First the form's ``Origin`` (or ``Referer``) must be the
    public URL (:meth:`AppState.check_origin`). Before that, an id in the path beyond
    what the database's INTEGER columns hold (``/studies/2147483648``) is a missing row
    (404), for every route, before any handler looks it up."""
    for name, value in request.path_params.items():
        if name.endswith("_id") and isinstance(value, str) and value.isascii() \
                and value.isdigit() and (len(value) > 10 or int(value) > st.MAX_ID):
            raise st.AppError(f"no {name.removesuffix('_id')} {value[:40]}", status=404,
                              field=name)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        state_of(request).check_origin(request)
        form = await request.form(max_part_size=2 * 2**20)
        st.check_form(list(form.multi_items()))


async def _app_error(request: Request, exc: st.AppError) -> HTMLResponse:
    return state_of(request).error(request, exc)


async def _redirect(request: Request, exc: Redirect) -> RedirectResponse:
    return RedirectResponse(exc.url, status_code=303)


async def _invalid(request: Request, exc: RequestValidationError) -> HTMLResponse:
    """A path or query parameter the route cannot read (``/studies/abc``, ``/studies/1.5``):
    the error page naming it, 404 for a path (no such page), 422 for a query parameter,
    rather than FastAPI's JSON."""
    error = exc.errors()[0] if exc.errors() else {}
    where = [str(part) for part in error.get("loc", ())]
    name = st._field_name(where[-1]) if where else "request"
    got = ascii(str(error.get("input", ""))[:40])
    message = (f"expected a whole number in the digits 0-9, got {got}"
               if error.get("type") == "int_parsing" else f"{error.get('msg', 'not valid')}")
    status = 404 if where[:1] == ["path"] else 422
    return state_of(request).error(request, st.AppError(message, status=status, field=name))


async def _http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return state_of(request).error(request, st.AppError(message, status=exc.status_code))


#: Seconds a browser (or client) is asked to wait before trying again after a 503.
RETRY_AFTER = 2
_log = logging.getLogger("dsk.app")


async def _database_down(request: Request, exc: Exception) -> HTMLResponse:
    """503 for a database that cannot be reached (or no free connection in the pool);
    other database errors stay errors."""
    if isinstance(exc, DBAPIError) and not (isinstance(exc, OperationalError | InterfaceError)
                                            or exc.connection_invalidated):
        raise exc
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    _log.warning("database not reachable (%s %s): %s", request.method, request.url.path,
                 " ".join(str(cause).split())[:200])
    response = state_of(request).render(
        request, "error.html", status=503, heading="Please try again",
        message="the database is not reachable; try again in a moment (reload the page, or "
                "send the form again: an answer is never saved twice)")
    response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s pages to ``app`` one by one, as ``include_router`` once did.

    Recent FastAPI keeps an included router as one nested entry of ``app.routes``; adding
    the routes themselves keeps ``app.routes`` a flat list of every page, whatever the
    FastAPI version.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"{route!r}: the app's routers hold only API routes")
        app.add_api_route(route.path, route.endpoint, methods=sorted(route.methods or ()),
                          name=route.name, response_class=route.response_class,
                          response_model=route.response_model)


def create_app(db_url: str | Path, *, login_attempts: int = 5, login_delay: float = 2.0,
               login_max_delay: float = 900.0, catalogue: Catalogue | None = None,
               migrate: bool = True, threads: int = 8, public_url: str = DEFAULT_PUBLIC_URL,
               secure_cookies: bool = False, trusted_proxies: Sequence[str] = (),
               smtp_url: str | None = None, scheduler_seconds: float = 5.0) -> FastAPI:
    """Build the scoring app on a database (``sqlite:///file``, a path, or ``postgresql://``).

    The schema is brought up to date with the bundled Alembic migrations unless
    ``migrate`` is false. ``threads`` caps the worker threads that run requests.
    ``catalogue`` defaults to the bundled one. ``public_url`` is the address
    practitioners reach the app at (``https://HOST[:PORT]``): participant links are
    built from it, never from the request's Host header, and posted forms must come
    from it. ``secure_cookies`` (behind TLS; needs an ``https://`` public URL) marks
    the cookies ``Secure`` with the ``__Host-`` prefix and sends HSTS.

    Failed log-ins back off exponentially (:class:`dsk.app._security.LoginLimiter`):
    after ``login_attempts`` failures a client waits ``login_delay`` seconds, doubled
    at each further failure up to ``login_max_delay``. ``trusted_proxies`` (addresses
    or networks, ``--trusted-proxy``) are the reverse proxies whose ``X-Forwarded-For``
    names the client; from anyone else that header is ignored.

    ``smtp_url`` (``--smtp``, see :func:`dsk.app._mail.parse_smtp_url`) is the mail
    server invitations, reminders and links are sent through; without it the app sends
    no e-mail and its pages say so. Every ``scheduler_seconds`` (0: never) the app
    closes the rounds whose deadline has passed and sends the reminders due.
    """
    core = AppState(str(db_url), login_attempts, login_delay, login_max_delay,
                    catalogue if catalogue is not None else load_catalogue(), migrate, threads,
                    public_url, secure_cookies, trusted_proxies, smtp_url, scheduler_seconds)
    app = FastAPI(title="dsk scoring", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=_lifespan, dependencies=[Depends(_form_guard)])
    app.state.core = core
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(_Guard, cookie=core.csrf_cookie, secure=core.secure_cookies)
    app.exception_handler(st.AppError)(_app_error)
    app.exception_handler(Redirect)(_redirect)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(DBAPIError)(_database_down)
    app.exception_handler(PoolTimeout)(_database_down)
    app.exception_handler(RequestValidationError)(_invalid)
    for router in (_public.router, _auth.router, _researcher.router, _practitioner.router,
                   _audit_pages.router, _privacy.router, _roster_pages.router,
                   _mail_pages.router, _workshop_pages.router):
        _add_routes(app, router)
    return app
