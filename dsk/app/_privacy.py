"""Pages of withdrawal and deletion: a practitioner withdraws; the owner edits the
information sheet and retention date and deletes a participant's data or the study.

A practitioner withdraws from any page of their study session ("Withdraw from the
study" beside "Leave this device", and on the completion page): ``GET /s/withdraw``
says what will be deleted, its button posts to ``POST /s/withdraw``, which deletes
their answers (:func:`dsk.app._rights.withdraw`), clears the cookie and redirects to
``GET /withdrawn``, which says plainly what happened (the redirect carries a signed
note of the study and the number of answers deleted, so a reload cannot withdraw twice).

Only the study's owner reaches the other pages (an editor or viewer gets 403, anyone
else 404): ``/studies/ID/information`` (the information sheet, contact and ethics
reference, editable until the first practitioner consents, and the retention date),
``/studies/ID/participants/delete`` and ``/studies/ID/delete``. Both deletions ask the
owner to type the study's title; a wrong title shows the form again with the error
and deletes nothing.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from . import _rights as rights
from . import _study as st
from ._audit import researcher_actor
from ._models import Participant
from ._models import Response as Answer
from ._state import AppState, State, form_text

router = APIRouter()




# ---------------------------------------------------------------- practitioners


@router.get("/s/withdraw", response_class=HTMLResponse)
def withdraw_page(request: Request, core: State) -> HTMLResponse:
    """What withdrawing deletes, and the button that does it."""
    with core.db() as db:
        p = core.participant(db, request)
        study = st.get_study(db, p.study_id)
        answers = int(db.scalar(select(func.count()).select_from(Answer)
                                .where(Answer.participant_id == p.id)) or 0)
        return core.render(request, "withdraw.html", study=study, answers=answers)


@router.post("/s/withdraw")
async def withdraw(request: Request, core: State) -> Response:
    """Delete this practitioner's answers and end their session and link."""
    form = await request.form()
    core.check_csrf(request, form)

    def run() -> str:
        with core.db() as db:
            p = core.participant(db, request)
            count = rights.withdraw(db, p)  # practitioners' lines hold no address
            return core.signer.sign(f"withdrawn:{p.study_id}:{count}")

    note = await run_in_threadpool(run)
    response = RedirectResponse(f"/withdrawn?note={note}", status_code=303)
    core.clear_cookie(response, core.participant_cookie)
    return response


@router.get("/withdrawn", response_class=HTMLResponse)
def withdrawn(request: Request, core: State, note: str = "") -> HTMLResponse:
    """After a withdrawal: what happened, and whom to contact."""
    payload = core.signer.unsign(note[:200]) if note else None
    found = re.fullmatch(r"withdrawn:([0-9]{1,9}):([0-9]{1,9})", payload or "")
    study, answers = None, None
    if found is not None:
        answers = int(found.group(2))
        with core.db() as db:
            study = db.get(st.Study, int(found.group(1)))
    return core.render(request, "withdrawn.html", study=study, answers=answers, leave=False)


# ---------------------------------------------------------------- the owner


def _information_page(core: AppState, request: Request, study_id: int, status: int = 200,
                      errors: dict[str, str] | None = None,
                      form: dict[str, str] | None = None) -> HTMLResponse:
    with core.db() as db:
        who, study, role = core.study(db, request, study_id, "owner")
        shown = form or {"info_sheet": study.info_sheet, "contact": study.contact,
                         "ethics_ref": study.ethics_ref,
                         "retention_until": study.retention_until.isoformat()
                         if study.retention_until else ""}
        return core.render(request, "information.html", status=status, researcher=who,
                           study=study, role=role, consented=rights.consented(db, study),
                           today=rights.utc_today().isoformat(), form=shown,
                           errors=errors or {})


@router.get("/studies/{study_id}/information", response_class=HTMLResponse)
def information(request: Request, study_id: int, core: State) -> HTMLResponse:
    """The owner's page of the information sheet, contact, ethics reference, retention."""
    return _information_page(core, request, study_id)


async def _owner_form(request: Request, study_id: int, core: State, fields: tuple[str, ...],
                      act: str) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    values = {k: form_text(form, k) for k in fields}

    def run() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "owner")
            try:
                if act == "information":
                    rights.set_information(db, study, values["info_sheet"], values["contact"],
                                           values["ethics_ref"])
                else:
                    rights.set_retention(db, study, values["retention_until"],
                                         actor=researcher_actor(who.username),
                                         client=core.client_address(request))
            except st.AppError as exc:
                db.rollback()
                error = exc
            else:
                return RedirectResponse(f"/studies/{study_id}/information", status_code=303)
        shown = {k: v[:rights.MAX_SHEET] for k, v in values.items()}
        return _information_page(core, request, study_id, status=error.status,
                                 errors={error.field or fields[0]: error.message},
                                 form=None if act != "information" else shown)

    return await run_in_threadpool(run)


@router.post("/studies/{study_id}/information")
async def set_information(request: Request, study_id: int, core: State) -> Response:
    """The owner changes the information sheet, contact and ethics reference (until the
    first practitioner consents)."""
    return await _owner_form(request, study_id, core, ("info_sheet", "contact", "ethics_ref"),
                             "information")


@router.post("/studies/{study_id}/retention")
async def set_retention(request: Request, study_id: int, core: State) -> Response:
    """The owner sets or removes the retention date (logged)."""
    return await _owner_form(request, study_id, core, ("retention_until",), "retention")


def _delete_page(core: AppState, request: Request, study_id: int, what: str,
                 status: int = 200, errors: dict[str, str] | None = None,
                 chosen: str = "") -> HTMLResponse:
    with core.db() as db:
        who, study, role = core.study(db, request, study_id, "owner")
        people = [(p.number, st.rater_id(study.id, p.number)) for p in db.scalars(
            select(Participant).where(Participant.study_id == study.id,
                                      Participant.withdrawn_at.is_(None))
            .order_by(Participant.number))]
        summary = rights.summary(db, study)
        return core.render(request, "delete.html", status=status, researcher=who, study=study,
                           role=role, what=what, people=people, chosen=chosen,
                           summary=summary, errors=errors or {})


@router.get("/studies/{study_id}/participants/delete", response_class=HTMLResponse)
def delete_participant_page(request: Request, study_id: int, core: State,
                            participant: str = "") -> HTMLResponse:
    """The owner's form to delete one participant's data."""
    return _delete_page(core, request, study_id, "participant", chosen=participant[:12])


@router.post("/studies/{study_id}/participants/delete")
async def delete_participant(request: Request, study_id: int, core: State) -> Response:
    """Delete one participant's data after the owner typed the study's title."""
    form = await request.form()
    core.check_csrf(request, form)
    number, typed = form_text(form, "participant"), form_text(form, "confirm_title")

    def run() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "owner")
            try:
                rights.delete_participant(db, study, number, typed,
                                          actor=researcher_actor(who.username),
                                          client=core.client_address(request))
            except st.AppError as exc:
                db.rollback()
                error = exc
            else:
                return RedirectResponse(f"/studies/{study_id}#progress", status_code=303)
        return _delete_page(core, request, study_id, "participant", status=error.status,
                            errors={error.field or "confirm_title": error.message},
                            chosen=number[:12])

    return await run_in_threadpool(run)


@router.get("/studies/{study_id}/delete", response_class=HTMLResponse)
def delete_study_page(request: Request, study_id: int, core: State) -> HTMLResponse:
    """The owner's form to delete the whole study."""
    return _delete_page(core, request, study_id, "study")


@router.post("/studies/{study_id}/delete")
async def delete_study(request: Request, study_id: int, core: State) -> Response:
    """Delete the study and all its data after the owner typed its title."""
    form = await request.form()
    core.check_csrf(request, form)
    typed = form_text(form, "confirm_title")

    def run() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "owner")
            try:
                rights.delete_study(db, study, typed, actor=researcher_actor(who.username),
                                    client=core.client_address(request))
            except st.AppError as exc:
                db.rollback()
                error = exc
            else:
                return RedirectResponse("/", status_code=303)
        return _delete_page(core, request, study_id, "study", status=error.status,
                            errors={error.field or "confirm_title": error.message})

    return await run_in_threadpool(run)
