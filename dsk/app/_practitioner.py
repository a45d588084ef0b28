"""Practitioners' pages: the one-time link and consent, the scoring pages, round 2.

Every scoring form carries a signed one-time form token naming the participant,
round and vignette and the time the page was shown, so a forged, misdirected or
replayed form is refused and time on task is measured by the server.

"Leave this device" (``POST /s/leave``, a button on every page of a browser with a
study session) ends that session: the cookie is cleared and the session no longer
works, the answers are kept, and the participant's link works once more, so that
they can carry on in another browser (without giving their consent details again).

Consenting, leaving a device and carrying on in another browser add a line to the
study's audit trail (:mod:`dsk.app._audit`) naming the participant by rater id only,
without the client address, which would tie the code to a person.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import _audit as audit
from . import _study as st
from ._models import Participant, Study
from ._security import new_token, token_hash
from ._state import PARTICIPANT_DAYS, AppState, State

router = APIRouter()

#: The consent form's nonce: what ``new_token()[:32]`` gives.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")

#: Most characters of a refused field shown again in the re-displayed form (the longest
#: the form accepts; 40 for the others).
ECHO = {"salient_other": 500, "rationale": st.MAX_TEXT}


def _values_of(r: st.Response) -> dict[str, Any]:
    """A saved answer as the values of the scoring form."""
    return {"need_level": str(r.need_level), "confidence": str(round(r.confidence * 100)),
            "risk": str(int(r.risk)), "salient_factors": json.loads(r.salient_factors),
            "salient_other": r.salient_other, "rationale": r.rationale,
            "lead_agency": r.lead_agency}


def vignette_page(core: AppState, request: Request, db: Session, p: Participant, study: Study,
                  round_: int, vignette_id: str, *, form_token: str | None = None,
                  values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                  deck: list[str] | None = None, done: set[str] | None = None) -> HTMLResponse:
    """The scoring page of one vignette (with colleagues' answers in round 2)."""
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
        form_token = core.signer.sign(payload)
    narrative = db.scalar(select(st.StudyVignette.narrative).where(
        st.StudyVignette.study_id == study.id, st.StudyVignette.vignette_id == vignette_id))
    return core.render(
        request, "vignette.html", status=422 if errors else 200, round=round_,
        position=deck.index(vignette_id) + 1, total=len(deck), done=len(done),
        narrative=narrative or "", feedback=feedback, levels=core.levels,
        agencies=core.agencies, factor_groups=core.factor_groups,
        factor_labels=core.factor_labels, values=values, errors=errors or {},
        form_token=form_token)


@router.get("/p/{token}", response_class=HTMLResponse)
def link_page(request: Request, token: str, core: State) -> Response:
    with core.db() as db:
        mine = st.participant_by_session(db, request.cookies.get(core.participant_cookie))
        p = st.participant_by_link(db, token)
        if mine is not None and mine.id == p.id:
            return RedirectResponse("/s", status_code=303)
        if p.claimed_at is not None and p.session_hash is None:  # left a device
            return core.render(request, "resume.html", study=st.get_study(db, p.study_id),
                               token=token)
        if p.claimed_at is not None:
            raise st.AppError("this participant link has already been used; it works once. "
                              "Open the study in the browser where you started, or ask the "
                              "researcher for a new link", status=410, field="link")
        study = st.get_study(db, p.study_id)
        return core.render(request, "consent.html", study=study, token=token,
                           consent_nonce=new_token()[:32],
                           professions=core.professions, form={})


@router.post("/p/{token}")
async def consent(request: Request, token: str, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    values = {k: str(form.get(k) or "").strip() for k in ("profession", "experience_years")}
    nonce = str(form.get("consent_nonce") or "")
    # The session this consent form binds is derived from the form's own nonce, so the
    # same form sent again (its answer lost with a dying worker, say) finds its session
    # instead of a used link; another browser's form has another nonce.
    session_token = (core.signer.mac(f"consent:{token}:{nonce}") if _NONCE.fullmatch(nonce)
                     else new_token())

    def claim() -> Response:
        with core.db() as db:
            p = st.participant_by_link(db, token)
            study = st.get_study(db, p.study_id)
            actor = audit.participant_actor(st.rater_id(p.study_id, p.number))
            if p.claimed_at is not None and p.session_hash == token_hash(session_token):
                return _session_response(core, session_token)  # this form, sent again
            if p.claimed_at is not None:  # consented earlier, then left a device
                with audit.recording(db, "resumed", actor=actor, study_id=p.study_id):
                    return _session_response(core, _resume(db, token))
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
                shown = {k: v[:40] for k, v in values.items()}  # never echo a long field
                return core.render(request, "consent.html", status=422, study=study,
                                   consent_nonce=nonce if _NONCE.fullmatch(nonce)
                                   else new_token()[:32],
                                   token=token, professions=core.professions, form=shown,
                                   errors=errors)
            with audit.recording(db, "consented", actor=actor, study_id=p.study_id):
                st.claim_link(db, token, values["profession"], years, session_token)
        return _session_response(core, session_token)

    return await run_in_threadpool(claim)


def _session_response(core: AppState, session_token: str) -> Response:
    """To the scoring pages, with the new study session in this browser's cookie."""
    response = RedirectResponse("/s", status_code=303)
    core.set_cookie(response, core.participant_cookie, session_token, PARTICIPANT_DAYS * 86400)
    return response


def _resume(db: Session, token: str) -> str:
    """Bind a new browser session to the link of a participant who left a device."""
    session_token = new_token()
    with st.writing(db):
        result = db.execute(
            update(Participant)
            .where(Participant.link_hash == token_hash(token),
                   Participant.claimed_at.is_not(None), Participant.session_hash.is_(None))
            .values(session_hash=token_hash(session_token)))
        resumed = result.rowcount == 1  # type: ignore[attr-defined]
        if resumed:
            db.commit()
        else:
            db.rollback()
    if not resumed:
        raise st.AppError("this participant link is in use in another browser; leave the "
                          "study there first (\"Leave this device\"), or ask the researcher",
                          status=410, field="link")
    return session_token


@router.post("/s/leave", response_class=HTMLResponse)
async def leave(request: Request, core: State) -> Response:
    """End this browser's study session: the answers are kept and the link works again."""
    form = await request.form()
    core.check_csrf(request, form)
    session_token = request.cookies.get(core.participant_cookie)

    def forget() -> None:
        if not session_token:
            return
        with core.db() as db, st.writing(db):
            p = st.participant_by_session(db, session_token)
            if p is not None:
                audit.record(db, "left_device", study_id=p.study_id,
                             actor=audit.participant_actor(st.rater_id(p.study_id, p.number)))
            db.execute(update(Participant)
                       .where(Participant.session_hash == token_hash(session_token))
                       .values(session_hash=None))
            db.commit()

    await run_in_threadpool(forget)
    response = core.render(request, "waiting.html", heading="You have left this device",
                           message="This browser no longer holds your study session. Your "
                                   "answers so far are kept. To carry on, open the link the "
                                   "researcher sent you again, here or in another browser: it "
                                   "works again.", leave=False)
    core.clear_cookie(response, core.participant_cookie)
    return response


@router.get("/s", response_class=HTMLResponse)
def participant_home(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        found = st.participant_and_study(db, request.cookies.get(core.participant_cookie))
        if found is None:
            raise st.AppError("this browser has no study session; open the link the "
                              "researcher sent you", status=401, field="session")
        p, study = found
        round_ = st.current_round(study)
        if round_ is None:
            return core.render(request, "waiting.html", heading="The study is closed",
                               message="Thank you for taking part.", study=study)
        done = st.answered_ids(db, p, round_)
        deck = st.deck_of(db, p)
        left = [v for v in deck if v not in done]
        if not left:
            if round_ == 1 and study.rounds == 2:
                return core.render(
                    request, "waiting.html", heading="Round 1 complete",
                    message="Thank you. When the researcher opens round 2, come back in this "
                            "browser (or follow your link again) to see how colleagues "
                            "answered and review your answers.", study=study)
            return core.render(request, "waiting.html", heading="All done",
                               message="Thank you: all your answers are saved.", study=study)
        return vignette_page(core, request, db, p, study, round_, left[0], deck=deck, done=done)


@router.post("/s/answer")
async def answer(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    raw_token = form.get("form_token")
    payload = core.signer.unsign(raw_token) if isinstance(raw_token, str) else None
    parts = payload.split("|") if payload is not None else []
    # the same key signs CSRF tokens ("csrf:..."): only a scoring form's payload is one
    if len(parts) != 5 or not all(p.isascii() and p.isdigit() for p in parts[:2] + parts[3:4]):
        raise st.AppError("missing, damaged or not issued by this server; reload the page "
                          "to get a fresh form", status=400, field="form_token")
    pid, rnd, vignette_id, issued_ms, nonce = parts
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
                # re-shown as sent, but never more than the form itself accepts
                values: dict[str, Any] = {k: str(form.get(k) or "")[:ECHO.get(k, 40)] for k in
                                          ("need_level", "confidence", "risk", "salient_other",
                                           "rationale", "lead_agency")}
                values["salient_factors"] = [str(f)[:60] for f in
                                             form.getlist("salient_factors")[:100]]
                return vignette_page(core, request, db, p, study, round_, vignette_id,
                                     form_token=str(raw_token), values=values, errors=errors)
            seconds = max(0.0, time.time() - int(issued_ms) / 1000.0)
            st.save_answer(db, p, vignette_id, round_, answer_, seconds, nonce)
        return RedirectResponse("/s", status_code=303)

    return await run_in_threadpool(save)
