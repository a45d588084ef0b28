"""The FastAPI application: researcher, practitioner and round-2 pages.

Pages are rendered on the server (Jinja2) and work without JavaScript. Every POST
form carries a CSRF token (an HMAC of a per-browser cookie, the "signed double
submit cookie" pattern); every scoring form also carries a signed one-time form token
naming the participant, round and vignette and the time the page was shown, so a
forged, misdirected or replayed form is refused and time on task is measured by
the server.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import cookie_parser

from dsk.catalogue import Catalogue, load_catalogue
from dsk.io import write_table
from dsk.sets import bundled_sets, load_set

from . import _study as st
from ._db import make_engine, upgrade
from ._models import Participant, Researcher, ResearcherSession, Setting, Study, utcnow
from ._ops import study_survey
from ._security import LoginLimiter, Signer, hash_password, new_token, token_hash, verify_password
from ._survey import qualtrics_txt

HERE = Path(__file__).resolve().parent
CSRF_COOKIE, PARTICIPANT_COOKIE, RESEARCHER_COOKIE = "dsk_csrf", "dsk_p", "dsk_r"
PARTICIPANT_DAYS, RESEARCHER_HOURS = 120, 12
PHASES = {"round1": "Round 1 open", "round2": "Round 2 open", "closed": "Closed"}
_DUMMY_HASH = hash_password("not a real password")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # one-time links must not leak through Referer
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"),
}


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


def _professions(catalogue: Catalogue) -> dict[str, str]:
    try:
        from dsk.panels import load_professions

        labels = {pid: p.label for pid, p in load_professions(catalogue=catalogue).items()}
    except Exception:  # noqa: BLE001 - the app must start even without panel profiles
        labels = {}
    labels["other"] = "Other"
    return labels


class _App:
    """Everything the handlers share; built once by :func:`create_app`."""

    def __init__(self, db_url: str, login_attempts: int, login_window: float,
                 catalogue: Catalogue, migrate: bool) -> None:
        self.engine = make_engine(db_url)
        if migrate:
            upgrade(self.engine)
        info = {"write_lock": threading.Lock()} if self.engine.dialect.name == "sqlite" else {}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.signer = Signer(_secret(self.sessions))
        self.limiter = LoginLimiter(login_attempts, login_window)
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

    @contextmanager
    def db(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("csrf", self.signer.csrf_token(request.state.csrf_cookie))
        context.setdefault("researcher", None)
        context.setdefault("errors", {})
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, exc: st.AppError) -> HTMLResponse:
        headings = {400: "Request refused", 401: "Not signed in", 403: "Not allowed",
                    404: "Not found", 409: "Already done", 410: "Link already used",
                    422: "Please check your answers", 429: "Too many attempts"}
        return self.render(request, "error.html", status=exc.status, message=exc.message,
                           heading=headings.get(exc.status, "Something went wrong"))

    # --------------------------------------------------------- guards
    def check_csrf(self, request: Request, form: Any) -> None:
        token = form.get("csrf_token")
        if not self.signer.check_csrf(request.cookies.get(CSRF_COOKIE),
                                      token if isinstance(token, str) else None):
            raise st.AppError("missing or wrong; reload the page and send the form again "
                              "(forms are protected against cross-site request forgery)",
                              status=403, field="csrf_token")

    def researcher(self, db: Session, request: Request) -> Researcher:
        token = request.cookies.get(RESEARCHER_COOKIE)
        if token:
            row = db.get(ResearcherSession, token_hash(token))
            if row is not None and row.expires_at > utcnow():
                found = db.get(Researcher, row.researcher_id)
                if found is not None:
                    return found
        raise _Redirect("/login")

    def participant(self, db: Session, request: Request) -> Participant:
        p = st.participant_by_session(db, request.cookies.get(PARTICIPANT_COOKIE))
        if p is None:
            raise st.AppError("this browser has no study session; open the link the researcher "
                              "sent you", status=401, field="session")
        return p

    # --------------------------------------------------------- pages
    def vignette_page(self, request: Request, db: Session, p: Participant, study: Study,
                      round_: int, vignette_id: str, *, form_token: str | None = None,
                      values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                      deck: list[str] | None = None,
                      done: set[str] | None = None) -> HTMLResponse:
        deck = deck if deck is not None else st.deck_of(db, p)
        done = done if done is not None else st.answered_ids(db, p, round_)
        feedback = None
        if values is None:
            values = {"need_level": "", "confidence": "", "risk": "", "salient_factors": [],
                      "salient_other": "", "rationale": "", "lead_agency": ""}
            if round_ == 2:
                first = st.answered(db, p, 1).get(vignette_id)
                if first is not None:
                    values = _values_of(first)
        if round_ == 2:
            feedback = st.feedback(db, p, vignette_id)
        if form_token is None:
            payload = f"{p.id}|{round_}|{vignette_id}|{int(time.time() * 1000)}|{new_token()[:22]}"
            form_token = self.signer.sign(payload)
        narrative = db.scalar(select(st.StudyVignette.narrative).where(
            st.StudyVignette.study_id == study.id, st.StudyVignette.vignette_id == vignette_id))
        return self.render(
            request, "vignette.html", status=422 if errors else 200, round=round_,
            position=deck.index(vignette_id) + 1, total=len(deck), done=len(done),
            narrative=narrative or "", feedback=feedback, levels=self.levels,
            agencies=self.agencies, factor_groups=self.factor_groups,
            factor_labels=self.factor_labels, values=values, errors=errors or {},
            form_token=form_token)


class _Guard:
    """Pure ASGI middleware: gives every browser a CSRF cookie and sets security headers.

    (Starlette's ``BaseHTTPMiddleware`` would cost about a millisecond per request.)
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b"".join(v for k, v in scope["headers"] if k == b"cookie").decode("latin-1")
        cookie = cookie_parser(raw).get(CSRF_COOKIE) if raw else None
        fresh = None
        if not cookie or len(cookie) < 32:
            fresh = cookie = new_token()
        scope.setdefault("state", {})["csrf_cookie"] = cookie
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
                if fresh:
                    headers.append("set-cookie", f"{CSRF_COOKIE}={fresh}; HttpOnly; "
                                   f"Max-Age={PARTICIPANT_DAYS * 86400}; Path=/; SameSite=lax")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _values_of(r: st.Response) -> dict[str, Any]:
    import json

    return {"need_level": str(r.need_level), "confidence": str(round(r.confidence * 100)),
            "risk": str(int(r.risk)), "salient_factors": json.loads(r.salient_factors),
            "salient_other": r.salient_other, "rationale": r.rationale,
            "lead_agency": r.lead_agency}


def create_app(db_url: str | Path, *, login_attempts: int = 5, login_window: float = 300.0,
               catalogue: Catalogue | None = None, migrate: bool = True,
               threads: int = 8) -> FastAPI:
    """Build the scoring app on a database (``sqlite:///file``, a path, or ``postgresql://``).

    The schema is brought up to date with the bundled Alembic migrations unless
    ``migrate`` is false. ``threads`` caps the worker threads that run requests.
    """
    core = _App(str(db_url), login_attempts, login_window, catalogue or load_catalogue(), migrate)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Fewer worker threads than anyio's default 40: requests are short and
        # CPU-bound, and many threads fighting over the GIL stretch the tail.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        core.engine.dispose()

    app = FastAPI(title="dsk scoring", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.core = core
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(_Guard)

    @app.exception_handler(st.AppError)
    async def app_error(request: Request, exc: st.AppError) -> HTMLResponse:
        return core.error(request, exc)

    @app.exception_handler(_Redirect)
    async def redirect(request: Request, exc: _Redirect) -> RedirectResponse:
        return RedirectResponse(exc.url, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return core.error(request, st.AppError(message, status=exc.status_code))

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", media_type="text/plain")

    # ------------------------------------------------------------- researcher
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        return core.render(request, "login.html")

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        core.check_csrf(request, form)
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        client = request.client.host if request.client else "?"
        wait = core.limiter.retry_after(client, username)
        if wait > 0:
            raise st.AppError(f"too many failed log-in attempts; try again in "
                              f"{max(1, round(wait / 60))} minute(s)", status=429, field="username")

        def check() -> str | None:
            with core.db() as db:
                found = db.scalar(select(Researcher).where(Researcher.username == username))
                ok = verify_password(password, found.password_hash if found else _DUMMY_HASH)
                if not ok or found is None:
                    return None
                token = new_token()
                db.execute(delete(ResearcherSession).where(ResearcherSession.expires_at < utcnow()))
                db.add(ResearcherSession(token_hash=token_hash(token), researcher_id=found.id,
                                         expires_at=utcnow() + dt.timedelta(hours=RESEARCHER_HOURS)))
                db.commit()
                return token

        token = await run_in_threadpool(check)
        if token is None:
            core.limiter.failed(client, username)
            return core.render(request, "login.html", status=401, username=username,
                               errors={"password": "password: wrong user name or password"})
        core.limiter.succeeded(client, username)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(RESEARCHER_COOKIE, token, max_age=RESEARCHER_HOURS * 3600,
                            httponly=True, samesite="lax", path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        core.check_csrf(request, form)
        token = request.cookies.get(RESEARCHER_COOKIE)

        def forget() -> None:
            if token:
                with core.db() as db:
                    db.execute(delete(ResearcherSession)
                               .where(ResearcherSession.token_hash == token_hash(token)))
                    db.commit()

        await run_in_threadpool(forget)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(RESEARCHER_COOKIE, path="/")
        return response

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request) -> HTMLResponse:
        with core.db() as db:
            who = core.researcher(db, request)
            studies = list(db.scalars(select(Study).order_by(Study.id.desc())))
            return core.render(request, "dashboard.html", researcher=who, studies=studies,
                               sets=core.sets, phases=PHASES, form={})

    @app.post("/studies")
    async def new_study(request: Request) -> Response:
        form = await request.form()
        core.check_csrf(request, form)
        fields = {k: str(form.get(k) or "") for k in
                  ("title", "set_id", "deck_size", "n_participants", "rounds", "seed")}

        def make() -> Response:
            with core.db() as db:
                who = core.researcher(db, request)
                try:
                    study = st.create_study(db, catalogue=core.catalogue, **fields)
                except st.AppError as exc:
                    studies = list(db.scalars(select(Study).order_by(Study.id.desc())))
                    return core.render(request, "dashboard.html", status=exc.status,
                                       researcher=who, studies=studies, sets=core.sets,
                                       phases=PHASES, form=fields,
                                       errors={exc.field or "title": exc.message})
                return RedirectResponse(f"/studies/{study.id}", status_code=303)

        return await run_in_threadpool(make)

    @app.get("/studies/{study_id}", response_class=HTMLResponse)
    def study_page(request: Request, study_id: int) -> HTMLResponse:
        with core.db() as db:
            who = core.researcher(db, request)
            study = st.get_study(db, study_id)
            return core.render(request, "study.html", researcher=who, study=study,
                               rows=st.progress(db, study), phases=PHASES,
                               professions=core.professions)

    @app.post("/studies/{study_id}/links", response_class=HTMLResponse)
    async def links(request: Request, study_id: int) -> HTMLResponse:
        form = await request.form()
        core.check_csrf(request, form)
        base = str(request.base_url).rstrip("/")

        def issue() -> HTMLResponse:
            with core.db() as db:
                who = core.researcher(db, request)
                study = st.get_study(db, study_id)
                issued = st.issue_links(db, study)
                rows = [(st.rater_id(study.id, p.number), f"{base}/p/{token}") for p, token in issued]
                return core.render(request, "links.html", researcher=who, study=study, links=rows)

        return await run_in_threadpool(issue)

    @app.post("/studies/{study_id}/close")
    async def close(request: Request, study_id: int) -> Response:
        form = await request.form()
        core.check_csrf(request, form)

        def advance() -> None:
            with core.db() as db:
                core.researcher(db, request)
                st.close_round(db, st.get_study(db, study_id))

        await run_in_threadpool(advance)
        return RedirectResponse(f"/studies/{study_id}", status_code=303)

    @app.get("/studies/{study_id}/judgements.{fmt}")
    def export(request: Request, study_id: int, fmt: str) -> Response:
        if fmt not in ("csv", "parquet"):
            raise st.AppError(f"expected csv or parquet, got {fmt!r}", status=404, field="format")
        with core.db() as db:
            core.researcher(db, request)
            frame = st.judgements(db, st.get_study(db, study_id))
        with tempfile.TemporaryDirectory() as tmp:
            data = write_table(frame, Path(tmp) / f"judgements.{fmt}").read_bytes()
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="study-{study_id}-judgements.{fmt}"'})

    @app.get("/studies/{study_id}/survey.csv")
    def survey_csv(request: Request, study_id: int) -> Response:
        with core.db() as db:
            core.researcher(db, request)
            design = study_survey(db, study_id, core.catalogue)
        return Response(design.to_csv(index=False, lineterminator="\n"),
                        media_type="text/csv; charset=utf-8", headers={
                            "Content-Disposition":
                                f'attachment; filename="study-{study_id}-survey.csv"'})

    @app.get("/studies/{study_id}/qualtrics.txt")
    def survey_qualtrics(request: Request, study_id: int) -> Response:
        with core.db() as db:
            core.researcher(db, request)
            design = study_survey(db, study_id, core.catalogue)
        return Response(qualtrics_txt(design, core.catalogue),
                        media_type="text/plain; charset=utf-8", headers={
                            "Content-Disposition":
                                f'attachment; filename="study-{study_id}-qualtrics.txt"'})

    # ------------------------------------------------------------- practitioners
    @app.get("/p/{token}", response_class=HTMLResponse)
    def link_page(request: Request, token: str) -> Response:
        with core.db() as db:
            mine = st.participant_by_session(db, request.cookies.get(PARTICIPANT_COOKIE))
            p = st.participant_by_link(db, token)
            if mine is not None and mine.id == p.id:
                return RedirectResponse("/s", status_code=303)
            if p.claimed_at is not None:
                raise st.AppError("this participant link has already been used; it works once. "
                                  "Open the study in the browser where you started, or ask the "
                                  "researcher for a new link", status=410, field="link")
            study = st.get_study(db, p.study_id)
            return core.render(request, "consent.html", study=study, token=token,
                                professions=core.professions, form={})

    @app.post("/p/{token}")
    async def consent(request: Request, token: str) -> Response:
        form = await request.form()
        core.check_csrf(request, form)
        values = {k: str(form.get(k) or "").strip() for k in ("profession", "experience_years")}

        def claim() -> Response:
            with core.db() as db:
                p = st.participant_by_link(db, token)
                study = st.get_study(db, p.study_id)
                errors = {}
                if values["profession"] not in core.professions:
                    errors["profession"] = "profession: missing; choose your profession"
                try:
                    years = st._int_field(values["experience_years"], "experience_years", 0, 60)
                except st.AppError as exc:
                    errors["experience_years"] = exc.message
                if form.get("consent") != "yes":
                    errors["consent"] = "consent: tick the box to agree to take part"
                if errors:
                    return core.render(request, "consent.html", status=422, study=study,
                                       token=token, professions=core.professions, form=values,
                                       errors=errors)
                session_token = st.claim_link(db, token, values["profession"], years)
            response = RedirectResponse("/s", status_code=303)
            response.set_cookie(PARTICIPANT_COOKIE, session_token,
                                max_age=PARTICIPANT_DAYS * 86400, httponly=True,
                                samesite="lax", path="/")
            return response

        return await run_in_threadpool(claim)

    @app.get("/s", response_class=HTMLResponse)
    def participant_home(request: Request) -> HTMLResponse:
        with core.db() as db:
            found = st.participant_and_study(db, request.cookies.get(PARTICIPANT_COOKIE))
            if found is None:
                raise st.AppError("this browser has no study session; open the link the "
                                  "researcher sent you", status=401, field="session")
            p, study = found
            round_ = st.current_round(study)
            if round_ is None:
                return core.render(request, "waiting.html", heading="The study is closed",
                                   message="Thank you for taking part.")
            done = st.answered_ids(db, p, round_)
            deck = st.deck_of(db, p)
            left = [v for v in deck if v not in done]
            if not left:
                if round_ == 1 and study.rounds == 2:
                    return core.render(
                        request, "waiting.html", heading="Round 1 complete",
                        message="Thank you. When the researcher opens round 2, come back in this "
                                "browser (or follow your link again) to see how colleagues "
                                "answered and review your answers.")
                return core.render(request, "waiting.html", heading="All done",
                                   message="Thank you: all your answers are saved.")
            return core.vignette_page(request, db, p, study, round_, left[0], deck=deck,
                                      done=done)

    @app.post("/s/answer")
    async def answer(request: Request) -> Response:
        form = await request.form()
        core.check_csrf(request, form)
        raw_token = form.get("form_token")
        payload = core.signer.unsign(raw_token) if isinstance(raw_token, str) else None
        if payload is None:
            raise st.AppError("missing, damaged or not issued by this server; reload the page "
                              "to get a fresh form", status=400, field="form_token")
        pid, rnd, vignette_id, issued_ms, nonce = payload.split("|")
        answer_, errors = st.parse_answer(form, core.catalogue)

        def save() -> Response:
            with core.db() as db:
                p = core.participant(db, request)
                if int(pid) != p.id:
                    raise st.AppError("this form belongs to another participant",
                                      status=403, field="form_token")
                study = st.get_study(db, p.study_id)
                round_ = int(rnd)
                if st.current_round(study) != round_:
                    raise st.AppError(f"round {round_} is closed; your answer was not saved",
                                      status=409, field="round")
                if vignette_id not in st.deck_of(db, p):
                    raise st.AppError("this vignette is not in your deck",
                                      status=403, field="form_token")
                if answer_ is None:
                    values: dict[str, Any] = {k: str(form.get(k) or "") for k in
                              ("need_level", "confidence", "risk", "salient_other",
                               "rationale", "lead_agency")}
                    values["salient_factors"] = form.getlist("salient_factors")
                    return core.vignette_page(request, db, p, study, round_, vignette_id,
                                              form_token=str(raw_token), values=values,
                                              errors=errors)
                seconds = max(0.0, time.time() - int(issued_ms) / 1000.0)
                st.save_answer(db, p, vignette_id, round_, answer_, seconds, nonce)
            return RedirectResponse("/s", status_code=303)

        return await run_in_threadpool(save)

    return app
