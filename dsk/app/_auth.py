"""Researchers' log-in and log-out.

A successful log-in stores a hashed session token and sets it in an HttpOnly cookie
for ``RESEARCHER_HOURS``; failed attempts are counted per client and user name by
:class:`dsk.app._security.LoginLimiter`.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select

from . import _study as st
from ._models import Researcher, ResearcherSession, utcnow
from ._security import hash_password, needs_rehash, new_token, token_hash, verify_password
from ._state import RESEARCHER_COOKIE, RESEARCHER_HOURS, State

router = APIRouter()

# Checked when the user name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = hash_password("not a real password")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, core: State) -> HTMLResponse:
    return core.render(request, "login.html")


@router.post("/login")
async def login(request: Request, core: State) -> Response:
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
            if needs_rehash(found.password_hash):  # an scrypt hash of earlier versions
                found.password_hash = hash_password(password)
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


@router.post("/logout")
async def logout(request: Request, core: State) -> Response:
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
