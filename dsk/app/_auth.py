"""Researchers' accounts: log-in, log-out, changing one's password, the admin pages.

A successful log-in stores a hashed session token and sets it in an HttpOnly cookie
for ``RESEARCHER_HOURS``; failed attempts are counted in the database and back off
exponentially per client address and account (:class:`dsk.app._security.LoginLimiter`;
the address from :meth:`AppState.client_address`), and a wrong current password on the
password-change form counts as a failed log-in. A disabled account cannot log in. Changing a
password (current one required) ends the account's other sessions. Admins create,
disable and enable accounts at ``/admin``; for anyone else that page does not exist.
Each of these actions, and each failed log-in, adds a line to the audit trail
(:mod:`dsk.app._audit`) in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import math

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import _audit as audit
from . import _study as st
from ._models import Researcher, ResearcherSession, utcnow
from ._security import (
    hash_password,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
    wait_in_words,
)
from ._state import RESEARCHER_HOURS, State

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
    client = core.client_address(request)

    def check() -> str | None:
        wait = core.limiter.retry_after(username, client)
        if wait > 0:
            raise st.AppError(f"too many failed log-in attempts; try again in "
                              f"{wait_in_words(wait)}", status=429, field="username",
                              headers={"Retry-After": str(math.ceil(wait))})
        with core.db() as db:
            found = db.scalar(select(Researcher).where(Researcher.username == username))
            ok = verify_password(password, found.password_hash if found else _DUMMY_HASH)
            if not ok or found is None or found.disabled:
                # the name as typed (cut short), never the password
                audit.record(db, "login_failed", client=client,
                             actor=audit.researcher_actor(username[:audit.TYPED_NAME]),
                             detail="no such account" if found is None else
                             "wrong password" if not ok else "account disabled")
                db.commit()
            if not ok or found is None:
                return None
            if found.disabled:
                raise st.AppError("this account is disabled; ask an admin to enable it",
                                  status=403, field="username")
            if needs_rehash(found.password_hash):  # an scrypt hash of earlier versions
                found.password_hash = hash_password(password)
            token = new_token()
            db.execute(delete(ResearcherSession).where(ResearcherSession.expires_at < utcnow()))
            db.add(ResearcherSession(token_hash=token_hash(token), researcher_id=found.id,
                                     expires_at=utcnow() + dt.timedelta(hours=RESEARCHER_HOURS)))
            audit.record(db, "login", actor=audit.researcher_actor(found.username),
                         client=client)
            db.commit()
            return token

    token = await run_in_threadpool(check)
    if token is None:
        await run_in_threadpool(core.limiter.failed, username, client)
        return core.render(request, "login.html", status=401, username=username,
                           errors={"password": "password: wrong user name or password"})
    await run_in_threadpool(core.limiter.succeeded, username, client)
    response = RedirectResponse("/", status_code=303)
    core.set_cookie(response, core.researcher_cookie, token, RESEARCHER_HOURS * 3600)
    return response


@router.post("/logout")
async def logout(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    token = request.cookies.get(core.researcher_cookie)
    client = core.client_address(request)

    def forget() -> None:
        if token:
            with core.db() as db:
                row = db.get(ResearcherSession, token_hash(token))
                who = db.get(Researcher, row.researcher_id) if row is not None else None
                if who is not None:
                    audit.record(db, "logout", actor=audit.researcher_actor(who.username),
                                 client=client)
                db.execute(delete(ResearcherSession)
                           .where(ResearcherSession.token_hash == token_hash(token)))
                db.commit()

    await run_in_threadpool(forget)
    response = RedirectResponse("/login", status_code=303)
    core.clear_cookie(response, core.researcher_cookie)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        who = core.researcher(db, request)
        return core.render(request, "account.html", researcher=who)


@router.post("/account/password")
async def change_password(request: Request, core: State) -> Response:
    """Set a new password (the current one required); the account's other sessions end."""
    form = await request.form()
    core.check_csrf(request, form)
    token = request.cookies.get(core.researcher_cookie)
    client = core.client_address(request)

    def change() -> Response:
        with core.db() as db:
            who = core.researcher(db, request)
            # guessing the current password here counts as failed log-ins do
            wait = core.limiter.retry_after(who.username, client)
            if wait > 0:
                raise st.AppError(f"too many wrong passwords; try again in "
                                  f"{wait_in_words(wait)}", status=429,
                                  field="current_password",
                                  headers={"Retry-After": str(math.ceil(wait))})
            try:
                with audit.recording(db, "password_changed", client=client,
                                     actor=audit.researcher_actor(who.username)):
                    st.change_password(db, who, str(form.get("current_password") or ""),
                                       str(form.get("new_password") or ""),
                                       keep=token_hash(token) if token else None)
            except st.AppError as exc:
                db.rollback()
                if exc.field == "current_password":
                    core.limiter.failed(who.username, client)
                return core.render(request, "account.html", status=exc.status, researcher=who,
                                   errors={exc.field or "new_password": exc.message})
            return core.render(request, "account.html", researcher=who, changed=True)

    return await run_in_threadpool(change)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        who = core.admin(db, request)
        return core.render(request, "admin.html", researcher=who, accounts=_accounts(db),
                           form={})


def _accounts(db: Session) -> list[Researcher]:
    return list(db.scalars(select(Researcher).order_by(Researcher.username)))


@router.post("/admin/accounts")
async def admin_create(request: Request, core: State) -> Response:
    """An admin creates an account (never overwriting an existing one)."""
    form = await request.form()
    core.check_csrf(request, form)
    fields = {"username": str(form.get("username") or ""),
              "is_admin": "yes" if form.get("is_admin") == "yes" else ""}
    client = core.client_address(request)

    def create() -> Response:
        with core.db() as db:
            who = core.admin(db, request)
            try:
                with audit.recording(db, "account_created", client=client,
                                     actor=audit.researcher_actor(who.username),
                                     detail=fields["username"].strip()
                                     + (" (admin)" if fields["is_admin"] else "")):
                    st.create_researcher(db, fields["username"],
                                         str(form.get("password") or ""),
                                         admin=bool(fields["is_admin"]))
            except st.AppError as exc:
                db.rollback()
                message = exc.message.replace("; give --reset to set its password", "")
                return core.render(request, "admin.html", status=exc.status, researcher=who,
                                   accounts=_accounts(db), form=fields,
                                   errors={exc.field or "username": message})
            return RedirectResponse("/admin", status_code=303)

    return await run_in_threadpool(create)


async def _set_disabled(request: Request, researcher_id: int, core: State,
                        disabled: bool) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)

    def switch() -> None:
        with core.db() as db:
            who = core.admin(db, request)
            target = db.get(Researcher, researcher_id)
            with audit.recording(db, "account_disabled" if disabled else "account_enabled",
                                 actor=audit.researcher_actor(who.username), client=client,
                                 detail=target.username if target is not None else ""):
                st.set_disabled(db, researcher_id, disabled, by=who)

    await run_in_threadpool(switch)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/accounts/{researcher_id}/disable")
async def admin_disable(request: Request, researcher_id: int, core: State) -> Response:
    """Disable an account: it cannot log in and its sessions end."""
    return await _set_disabled(request, researcher_id, core, True)


@router.post("/admin/accounts/{researcher_id}/enable")
async def admin_enable(request: Request, researcher_id: int, core: State) -> Response:
    return await _set_disabled(request, researcher_id, core, False)
