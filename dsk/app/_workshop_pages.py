"""Workshop pages: the trainer's list and projector, the room's join page and phone.

Trainer pages (``/workshops...``) need a signed-in account with the trainer role; for
anyone else they do not exist (404), and a trainer sees only their own workshops. An
admin grants or takes away the role at ``/admin/trainers``. Every trainer action and
every export adds a line to the audit trail (the votes are personal data, owned by the
trainer's account).

Phones join at ``/w`` with the code (or the QR code's link ``/w?code=...``); the
phone's token travels in a signed HttpOnly cookie, so it needs no account and no
link of its own. A phone follows the trainer through Server-Sent Events
(``/w/events``), falling back to polling ``/w/state``; without JavaScript the page
has a link to load it again. Joins are rate limited per client address
(:class:`dsk.app._workshop.JoinLimiter`, one per app).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from starlette.datastructures import UploadFile

from dsk.io import write_table
from dsk.rules import bundled_rulesets
from dsk.sets import load_set

from . import _audit as audit
from . import _study as st
from . import _workshop as ws
from ._models import Researcher, Study, Workshop
from ._security import new_token, token_hash, wait_in_words
from ._state import AppState, State, form_text, upload_name

router = APIRouter()
#: The phone's cookie (its token, signed).
PHONE_COOKIE = "dsk_w"
PHONE_HOURS = 12
#: Seconds between two looks at the database for a change made by another process.
SSE_POLL = 1.0
#: The phone streams of this process waiting for each workshop to change: their event
#: loop and event (set through the loop, so any thread or loop may wake them).
_waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}


#: The last version read of each workshop, and when (one read a second serves every
#: phone's stream in this process; changes made here wake the streams at once).
_versions: dict[int, tuple[float, int | None]] = {}


async def _latest_version(core: AppState, workshop_id: int) -> int | None:
    now = asyncio.get_running_loop().time()
    seen = _versions.get(workshop_id)
    if seen is not None and now - seen[0] < SSE_POLL:
        return seen[1]

    def read() -> int | None:
        with core.db() as db:
            return db.scalar(select(Workshop.version).where(Workshop.id == workshop_id))

    version = await run_in_threadpool(read)
    _versions[workshop_id] = (now, version)
    return version


def _notify(workshop_id: int) -> None:
    _versions.pop(workshop_id, None)
    for loop, event in list(_waiters.get(workshop_id, ())):
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # that loop has closed
            _waiters.get(workshop_id, set()).discard((loop, event))


def trainer(core: AppState, db, request: Request) -> Researcher:  # type: ignore[no-untyped-def]
    """The signed-in trainer; for other accounts the workshop pages do not exist."""
    who = core.researcher(db, request)
    if not who.is_trainer:
        raise st.AppError("no such page (workshops need the trainer role; ask an admin)",
                          status=404)
    return who


def _actor(who: Researcher) -> str:
    return audit.researcher_actor(who.username)


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG (no script, no external image)."""
    code = segno.make(url, error="m")
    return Markup(code.svg_inline(scale=8, omitsize=True, dark="#000", light="#fff",
                                  title="QR code to join"))


# ------------------------------------------------------------------ admin: the role

@router.get("/admin/trainers", response_class=HTMLResponse)
def trainers_page(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        who = core.admin(db, request)
        accounts = list(db.scalars(select(Researcher).order_by(Researcher.username)))
        return core.render(request, "workshop_trainers.html", researcher=who,
                           accounts=accounts)


@router.post("/admin/trainers/{researcher_id}")
async def set_trainer(request: Request, researcher_id: int, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    grant = form_text(form, "trainer") == "yes"
    client = core.client_address(request)

    def switch() -> None:
        with core.db() as db:
            who = core.admin(db, request)
            target = db.get(Researcher, researcher_id)
            if target is None:
                raise st.AppError(f"no account {researcher_id}", status=404,
                                  field="researcher_id")
            target.is_trainer = grant
            audit.record(db, "trainer_granted" if grant else "trainer_removed",
                         actor=_actor(who), client=client, detail=target.username)
            db.commit()

    await run_in_threadpool(switch)
    return RedirectResponse("/admin/trainers", status_code=303)


# ------------------------------------------------------------------ trainer pages

def _list_page(core: AppState, request: Request, db, who: Researcher, status: int = 200,  # type: ignore[no-untyped-def]
               form: dict[str, str] | None = None, errors: dict[str, str] | None = None
               ) -> HTMLResponse:
    mine = list(db.scalars(select(Workshop).where(Workshop.owner_id == who.id)
                           .order_by(Workshop.id.desc())))
    studies = list(db.scalars(select(Study).where(Study.owner_id == who.id).order_by(Study.id)))
    return core.render(request, "workshops.html", status=status, researcher=who,
                       workshops=mine, studies=studies, sets=core.sets, rulesets=list(bundled_rulesets()),
                       ready=ws.READY_MADE, form=form or {}, errors=errors or {})


@router.get("/workshops", response_class=HTMLResponse)
def workshops_page(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        who = trainer(core, db, request)
        return _list_page(core, request, db, who)


@router.post("/workshops")
async def new_workshop(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    fields = {k: form_text(form, k) for k in ("title", "set_id", "cases", "reference",
                                                "panel_seed", "show_note", "ready_made")}
    chosen = [str(v) for v in form.getlist("rulesets")]
    upload = form.get("vignettes_file")
    name, data = "", None
    if isinstance(upload, UploadFile) and upload.filename:
        name = upload_name(upload.filename)
        data = await upload.read(st.MAX_UPLOAD + 1)
    client = core.client_address(request)

    def make() -> Response:
        with core.db() as db:
            who = trainer(core, db, request)
            try:
                if fields["ready_made"] == "yes":
                    ready = ws.READY_MADE
                    workshop = ws.create_workshop(
                        db, who, title=str(ready["title"]),
                        vignettes=load_set(str(ready["set_id"]), core.catalogue),
                        source=str(ready["set_id"]), cases=", ".join(ready["cases"]),
                        rulesets=list(ready["rulesets"]),
                        known_rulesets=list(bundled_rulesets()), reference="simulated",
                        panel_seed=str(ready["panel_seed"]), show_note=True)
                else:
                    vignettes, source = _vignettes(core, fields["set_id"], name, data)
                    workshop = ws.create_workshop(
                        db, who, title=fields["title"], vignettes=vignettes, source=source,
                        cases=fields["cases"], rulesets=chosen,
                        known_rulesets=list(bundled_rulesets()),
                        reference=fields["reference"], panel_seed=fields["panel_seed"],
                        show_note=fields["show_note"] == "yes")
            except st.AppError as exc:
                db.rollback()
                return _list_page(core, request, db, who, exc.status, fields,
                                  {exc.field or "title": exc.message})
            audit.record_now(db, "workshop_created", actor=_actor(who), client=client,
                             detail=f"workshop {workshop.id}: {workshop.title}")
            return RedirectResponse(f"/workshops/{workshop.id}", status_code=303)

    return await run_in_threadpool(make)


def _vignettes(core: AppState, set_id: str, name: str, data: bytes | None):  # type: ignore[no-untyped-def]
    if data is not None:
        return st.read_uploaded_vignettes(data, name, core.catalogue), name
    known = [str(s["id"]) for s in core.sets]
    if set_id not in known:
        raise st.AppError(f"expected one of {', '.join(known)}, got {set_id[:40]!r}",
                          status=422, field="set_id")
    return load_set(set_id, core.catalogue), set_id


def _projector(core: AppState, request: Request, db: Any, who: Researcher, workshop: Workshop
               ) -> dict[str, Any]:
    case = ws.on_screen(db, workshop)
    rulesets = json.loads(workshop.rulesets)
    stages = [s for s in ws.STAGES
              if s in ("vote", "room") or (s == "checklist" and rulesets)
              or (s == "reference" and workshop.reference) or (s == "note" and workshop.show_note)]
    reached = stages[:stages.index(workshop.stage) + 1] if workshop.stage in stages else []
    context: dict[str, object] = {"workshop": workshop, "case": case, "stages": stages,
                                  "reached": reached, "labels": ws.STAGE_LABELS,
                                  "levels": core.levels, "researcher": who}
    join_url = f"{core.public_url}/w?code={workshop.code}"
    cases = ws.cases_of(db, workshop)
    context.update(join_url=join_url, qr=qr_svg(join_url),
                   cases=cases, phones=ws.participants(db, workshop),
                   factors=core.catalogue.factors)
    if case is not None:
        context["voted"] = sum(ws.distribution(db, workshop, case.vignette_id, workshop.round))
        if "room" in reached:
            context["room"] = ws.distribution(db, workshop, case.vignette_id, 1)
            if workshop.round == 2:
                context["room2"] = ws.distribution(db, workshop, case.vignette_id, 2)
        if "checklist" in reached:
            context["decisions"] = ws.checklist(case, rulesets, core.catalogue)
            original = ws.original_of(db, workshop, case)
            if original is not case:
                context["first_decisions"] = ws.checklist(original, rulesets, core.catalogue)
                context["original"] = original
        if "reference" in reached and workshop.reference == "simulated":
            context["reference"] = ws.reference_distribution(workshop, case, cases, core.catalogue)
            context["reference_label"] = "Simulated practitioners (a mixed panel of twelve)"
        elif "reference" in reached and workshop.reference.startswith("study:"):
            context["reference"] = ws.study_reference(db, workshop, case)
            context["reference_label"] = "Practitioners in the earlier study, round 1"
    if workshop.status == "ended":
        table = ws.judgements(db, workshop)
        context["alpha"], context["voters"] = ws.room_agreement(table)
    return context


@router.get("/workshops/{workshop_id}", response_class=HTMLResponse)
def projector(request: Request, workshop_id: int, core: State) -> HTMLResponse:
    """The projector view (large type for 1920x1080) with the trainer's buttons."""
    with core.db() as db:
        who = trainer(core, db, request)
        workshop = ws.workshop_for(db, workshop_id, who)
        page = core.render(request, "workshop_projector.html",
                           **_projector(core, request, db, who, workshop))
        audit.record_now(db, "workshop_viewed", actor=_actor(who),
                         client=core.client_address(request), detail=f"workshop {workshop.id}")
        return page


@router.get("/workshops/{workshop_id}/state")
def projector_state(request: Request, workshop_id: int, core: State) -> JSONResponse:
    """The projector's live numbers: the version and how many have voted."""
    with core.db() as db:
        who = trainer(core, db, request)
        workshop = ws.workshop_for(db, workshop_id, who)
        state = ws.phone_state(db, workshop)
        case = ws.on_screen(db, workshop)
        state["voted"] = (sum(ws.distribution(db, workshop, case.vignette_id, workshop.round))
                          if case is not None else 0)
        state["phones"] = len(ws.participants(db, workshop))
        return JSONResponse(state)


async def _trainer_action(request: Request, workshop_id: int, core: AppState, action: str,
                          run: Any) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)

    def go() -> None:
        with core.db() as db:
            who = trainer(core, db, request)
            workshop = ws.workshop_for(db, workshop_id, who)
            detail = run(db, workshop, form)
            audit.record_now(db, action, actor=_actor(who), client=client,
                             detail=f"workshop {workshop_id}" + (f": {detail}" if detail else ""))

    await run_in_threadpool(go)
    _notify(workshop_id)
    return RedirectResponse(f"/workshops/{workshop_id}#live", status_code=303)


@router.post("/workshops/{workshop_id}/step")
async def workshop_step(request: Request, workshop_id: int, core: State) -> Response:
    def run(db, workshop, form):  # type: ignore[no-untyped-def]
        action = form_text(form, "action")
        ws.step(db, workshop, action)
        return action

    return await _trainer_action(request, workshop_id, core, "workshop_step", run)


@router.post("/workshops/{workshop_id}/vary")
async def workshop_vary(request: Request, workshop_id: int, core: State) -> Response:
    def run(db, workshop, form):  # type: ignore[no-untyped-def]
        factor, _, level = form_text(form, "change").partition(":")
        variant = ws.what_if(db, workshop, factor, level, core.catalogue)
        return variant.variation

    return await _trainer_action(request, workshop_id, core, "workshop_varied", run)


@router.post("/workshops/{workshop_id}/participants/{participant_id}/remove")
async def workshop_remove(request: Request, workshop_id: int, participant_id: int,
                          core: State) -> Response:
    def run(db, workshop, form):  # type: ignore[no-untyped-def]
        ws.remove_participant(db, workshop, participant_id)
        return f"participant {participant_id}"

    return await _trainer_action(request, workshop_id, core, "workshop_participant_removed",
                                 run)


@router.post("/workshops/{workshop_id}/delete")
async def workshop_delete(request: Request, workshop_id: int, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)

    def go() -> None:
        with core.db() as db:
            who = trainer(core, db, request)
            workshop = ws.workshop_for(db, workshop_id, who)
            audit.record(db, "workshop_deleted", actor=_actor(who), client=client,
                         detail=f"workshop {workshop_id}: {workshop.title}")
            ws.delete_workshop(db, workshop)

    await run_in_threadpool(go)
    _notify(workshop_id)
    return RedirectResponse("/workshops", status_code=303)


@router.get("/workshops/{workshop_id}/judgements.{fmt}")
def workshop_export(request: Request, workshop_id: int, fmt: str, core: State) -> Response:
    """The votes as a judgements table (CSV or Parquet), for ``dsk run`` and the report."""
    if fmt not in ("csv", "parquet"):
        raise st.AppError(f"expected csv or parquet, got {fmt[:20]!r}", status=404,
                          field="format")
    with core.db() as db:
        who = trainer(core, db, request)
        workshop = ws.workshop_for(db, workshop_id, who)
        table = ws.judgements(db, workshop)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"judgements.{fmt}"
            write_table(table, path)
            data = path.read_bytes()
        audit.record_now(db, "workshop_exported", actor=_actor(who),
                         client=core.client_address(request),
                         detail=f"workshop {workshop_id} as {fmt}")
    media = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
    return Response(data, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="workshop-{workshop_id}-judgements.{fmt}"'})


# ------------------------------------------------------------------ the room

def _phone_token(core: AppState, request: Request) -> str | None:
    raw = request.cookies.get(PHONE_COOKIE)
    token = core.signer.unsign(raw) if raw else None
    return token_hash(token) if token else None


@router.get("/w", response_class=HTMLResponse)
def join_page(request: Request, core: State, code: str = "") -> HTMLResponse:
    return core.render(request, "workshop_join.html", form={"code": code[:20]},
                       professions=core.professions)


@router.post("/w")
async def join_workshop(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    fields = {k: form_text(form, k) for k in ("code", "display_name", "profession")}
    client = core.client_address(request)
    limiter = core.join_limiter
    wait = limiter.check(client)
    if wait > 0:
        raise st.AppError(f"too many attempts to join from this network; try again in "
                          f"{wait_in_words(wait)}", status=429, field="code",
                          headers={"Retry-After": str(math.ceil(wait))})
    token = new_token()

    def go() -> Response:
        with core.db() as db:
            try:
                ws.join(db, fields["code"], token_hash(token), fields["display_name"],
                        fields["profession"], core.professions)
            except st.AppError as exc:
                db.rollback()
                limiter.note(client, ok=exc.status not in (404, 410))
                return core.render(request, "workshop_join.html", status=exc.status,
                                   form=fields, professions=core.professions,
                                   errors={exc.field or "code": exc.message})
            limiter.note(client, ok=True)
            response = RedirectResponse("/w/room", status_code=303)
            core.set_cookie(response, PHONE_COOKIE, core.signer.sign(token), PHONE_HOURS * 3600)
            return response

    return await run_in_threadpool(go)


def _phone(core: AppState, db, request: Request):  # type: ignore[no-untyped-def]
    phone = ws.phone_of(db, _phone_token(core, request))
    if phone is None:
        raise st.AppError("this phone has not joined a workshop; type the code on the screen",
                          status=401, field="code")
    return phone


def _room_context(core: AppState, db: Any, request: Request) -> dict[str, Any]:
    phone = _phone(core, db, request)
    workshop = db.get(Workshop, phone.workshop_id)
    if workshop is None:
        raise st.AppError("this workshop has been deleted", status=410, field="code")
    case = ws.on_screen(db, workshop) if workshop.status == "open" else None
    mine = ws.my_vote(db, phone, case.vignette_id, workshop.round) if case else None
    return {"phone": phone, "workshop": workshop, "case": case, "mine": mine,
            "levels": core.levels, "removed": phone.removed_at is not None}


@router.get("/w/room", response_class=HTMLResponse)
def room(request: Request, core: State) -> HTMLResponse:
    """The phone's page: the case on screen and the vote (or what the room waits for)."""
    with core.db() as db:
        return core.render(request, "workshop_phone.html", **_room_context(core, db, request))


@router.post("/w/vote")
async def phone_vote(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    fields = {k: form_text(form, k) for k in ("vignette_id", "need_level", "reason")}

    def go() -> Response:
        with core.db() as db:
            phone = _phone(core, db, request)
            try:
                ws.vote(db, phone, fields["vignette_id"], fields["need_level"],
                        fields["reason"])
            except st.AppError as exc:
                db.rollback()
                if exc.status != 422:
                    raise
                context = _room_context(core, db, request)
                return core.render(request, "workshop_phone.html", status=exc.status,
                                   errors={exc.field or "need_level": exc.message},
                                   form=fields, **context)
            return RedirectResponse("/w/room?voted=1", status_code=303)

    return await run_in_threadpool(go)


def _state_of_phone(core: AppState, token: str | None) -> dict[str, object]:
    with core.db() as db:
        phone = ws.phone_of(db, token)
        if phone is None:
            return {"version": 0, "status": "none"}
        workshop = db.get(Workshop, phone.workshop_id)
        if workshop is None:
            return {"version": 0, "status": "deleted"}
        state = ws.phone_state(db, workshop)
        state["removed"] = phone.removed_at is not None
        state["workshop"] = workshop.id
        return state


@router.get("/w/state")
async def phone_state(request: Request, core: State) -> JSONResponse:
    """The polling fallback: the room's state (its version number first)."""
    state = await run_in_threadpool(_state_of_phone, core, _phone_token(core, request))
    return JSONResponse(state)


@router.get("/w/events")
async def phone_events(request: Request, core: State) -> Response:
    """Server-Sent Events: the current state at once, then each new state as it comes."""
    from sse_starlette.sse import EventSourceResponse

    token = _phone_token(core, request)

    async def stream():  # type: ignore[no-untyped-def]
        state = await run_in_threadpool(_state_of_phone, core, token)
        last = state.get("version")
        yield {"event": "state", "data": json.dumps(state), "id": str(last)}
        while state.get("status") == "open" and not state.get("removed"):
            wid = int(state["workshop"])
            waiter = (asyncio.get_running_loop(), asyncio.Event())
            _waiters.setdefault(wid, set()).add(waiter)
            try:
                await asyncio.wait_for(waiter[1].wait(), SSE_POLL)
            except TimeoutError:
                pass
            finally:
                _waiters.get(wid, set()).discard(waiter)
            if await request.is_disconnected():
                return
            if await _latest_version(core, wid) == last:
                continue
            state = await run_in_threadpool(_state_of_phone, core, token)
            if state.get("version") != last:
                last = state.get("version")
                yield {"event": "state", "data": json.dumps(state), "id": str(last)}

    return EventSourceResponse(stream(), ping=15)


def phone_cookie_hash(value: str) -> str:
    """The stored hash of a phone cookie's token (for tests)."""
    return hashlib.sha256(value.encode()).hexdigest()
