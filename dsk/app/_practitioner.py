"""Practitioners' pages: the one-time link and consent, the scoring pages, round 2.

Every scoring form carries a signed one-time form token naming the participant,
round and vignette and the time the page was shown, so a forged, misdirected or
replayed form is refused and time on task is measured by the server.

Within the round that is open, a practitioner can go back to any case
(``GET /s/case/{position}``) and change its answer until they press "Submit my
answers" on the review page (``GET /s/review``, ``POST /s/submit``); the round's
answers are then final. A changed answer replaces the old one (one answer per
participant, vignette and round), and its ``seconds`` is the time spent on the case
over every visit that saved it: the old answer's seconds plus the time from when the
changing visit's page was first shown (or its draft began) to the save.

Every form follows POST-redirect-GET: each POST answers a redirect (303) to a page
read with GET, so a reload never sends a form again and Back never asks to. A refused
answer is kept as the case's draft and its messages ride, signed and for a few
minutes, in a cookie of this browser to the page that shows them.

Drafts: the page's script (``static/draft.js``) posts the form's fields to
``POST /s/draft`` as the practitioner types, and the case page shows its draft again
(after a reload, or on another device); without the script, the form works as before.
A draft is kept when the round closes before its case was saved, and the pages say so.

"Leave this device" (``POST /s/leave``, a button on every page of a browser with a
study session) ends that session: the cookie is cleared and the session no longer
works, the answers are kept, and the participant's link works once more, so that
they can carry on in another browser (without giving their consent details again).

Consenting, leaving a device, carrying on in another browser and submitting a round
add a line to the study's audit trail (:mod:`dsk.app._audit`) naming the participant
by rater id only, without the client address, which would tie the code to a person.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql.elements import BindParameter

from . import _audit as audit
from . import _mail
from . import _study as st
from ._models import Assignment, Draft, Participant, RoundSubmission, Study, StudyVignette, utcnow
from ._models import Response as Answer
from ._security import new_token, token_hash
from ._state import PARTICIPANT_DAYS, AppState, State

router = APIRouter()

#: The consent form's nonce: what ``new_token()[:32]`` gives.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")

#: Most characters of a refused or drafted field kept (the longest the form accepts;
#: 40 for the others).
ECHO = {"salient_other": 500, "rationale": st.MAX_TEXT}
#: The scoring form's single-valued fields, in the order of the page.
FIELDS = ("need_level", "confidence", "risk", "rationale", "salient_other", "lead_agency")
#: Seconds a refused form's messages wait in the browser's cookie for the page showing them.
FLASH_SECONDS = 600


def _empty() -> dict[str, Any]:
    return {"need_level": "", "confidence": "", "risk": "", "salient_factors": [],
            "salient_other": "", "rationale": "", "lead_agency": ""}


def _values_of(r: Answer) -> dict[str, Any]:
    """A saved answer as the values of the scoring form."""
    return {"need_level": str(r.need_level), "confidence": str(round(r.confidence * 100)),
            "risk": str(int(r.risk)), "salient_factors": json.loads(r.salient_factors),
            "salient_other": r.salient_other, "rationale": r.rationale,
            "lead_agency": r.lead_agency}


def form_values(form: Any, factor_ids: Any) -> dict[str, Any]:
    """The scoring form's fields as sent, cut to what the form accepts (for a draft).

    Examples
    --------
    >>> from starlette.datastructures import FormData
    >>> sent = FormData([("need_level", "3"), ("rationale", "x" * 6000),
    ...                  ("salient_factors", "housing"), ("salient_factors", "moon")])
    >>> values = form_values(sent, {"housing"})
    >>> values["need_level"], len(values["rationale"]), values["salient_factors"]
    ('3', 5000, ['housing'])
    """
    values: dict[str, Any] = {k: str(form.get(k) or "")[:ECHO.get(k, 40)] for k in FIELDS}
    values["salient_factors"] = [str(f) for f in form.getlist("salient_factors")[:100]
                                 if str(f) in factor_ids]
    return values


def level_names(core: AppState) -> dict[int, str]:
    """Each need level's name, as the review page shows it ("Team around the child")."""
    return {level: label.split(":", 1)[0] for level, (_, label) in core.levels.items()}


# ---------------------------------------------------------------- flash messages


def _flash_name(core: AppState) -> str:
    return ("__Host-" if core.secure_cookies else "") + "dsk_flash"


def _set_flash(core: AppState, response: Response, data: dict[str, Any]) -> None:
    """Carry ``data`` (a refused form's messages) to the next page, signed, for a while."""
    data = dict(data, until=int(time.time()) + FLASH_SECONDS)
    raw = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    core.set_cookie(response, _flash_name(core),
                    core.signer.sign("flash:" + raw.decode().rstrip("=")), FLASH_SECONDS)


def _flash(core: AppState, request: Request, kind: str, key: str) -> dict[str, Any] | None:
    """The flash of ``kind`` for ``key`` this browser carries, if signed here and fresh."""
    signed = request.cookies.get(_flash_name(core))
    payload = core.signer.unsign(signed[:8000]) if signed else None
    if payload is None or not payload.startswith("flash:"):
        return None
    raw = payload[len("flash:"):]
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        return None
    if (not isinstance(data, dict) or data.get("kind") != kind or data.get("key") != key
            or not isinstance(data.get("until"), int) or data["until"] < time.time()):
        return None
    return data


def _shown(core: AppState, request: Request, response: HTMLResponse) -> HTMLResponse:
    """``response``, ending the browser's flash (shown once)."""
    if _flash_name(core) in request.cookies:
        core.clear_cookie(response, _flash_name(core))
    return response


# ---------------------------------------------------------------- drafts and answers


def _draft(db: Session, p: Participant, round_: int, vignette_id: str) -> Draft | None:
    return db.get(Draft, (p.id, round_, vignette_id))


@dataclass(frozen=True)
class _Case:
    """One case of a participant's deck in a round, read in one statement."""

    in_deck: bool
    draft: Draft | None
    saved: Answer | None


# built once with bound parameters (see dsk.app._study's statements of the same kind)
_ROUND: BindParameter[int] = bindparam("round")
_VIGNETTE: BindParameter[str] = bindparam("vignette_id")
_PARTICIPANT: BindParameter[int] = bindparam("participant_id")
_CASE = (select(Assignment.position, Draft, Answer)
         .outerjoin(Draft, (Draft.participant_id == Assignment.participant_id)
                    & (Draft.round == _ROUND) & (Draft.vignette_id == Assignment.vignette_id))
         .outerjoin(Answer, (Answer.participant_id == Assignment.participant_id)
                    & (Answer.round == _ROUND) & (Answer.vignette_id == Assignment.vignette_id))
         .where(Assignment.participant_id == _PARTICIPANT, Assignment.vignette_id == _VIGNETTE))
_TEXT_AND_DRAFT = (select(StudyVignette.narrative, Draft)
                   .outerjoin(Draft, (Draft.participant_id == _PARTICIPANT)
                              & (Draft.round == _ROUND)
                              & (Draft.vignette_id == StudyVignette.vignette_id))
                   .where(StudyVignette.study_id == bindparam("study_id"),
                          StudyVignette.vignette_id == _VIGNETTE))
_SAVED = select(Answer).where(Answer.participant_id == _PARTICIPANT, Answer.round == _ROUND,
                              Answer.vignette_id == _VIGNETTE)


def _case(db: Session, p: Participant, round_: int, vignette_id: str) -> _Case:
    """Whether ``vignette_id`` is in the participant's deck, with its draft and saved
    answer of ``round_`` (one SQL statement instead of three)."""
    row = db.execute(_CASE, {"participant_id": p.id, "round": round_,
                             "vignette_id": vignette_id}).first()
    return _Case(False, None, None) if row is None else _Case(True, row[1], row[2])


def save_draft(db: Session, p: Participant, round_: int, vignette_id: str,
               values: dict[str, Any], started: dt.datetime) -> None:
    """Keep ``values`` as the participant's draft of the case (replacing an older one)."""
    text = json.dumps(values, separators=(",", ":"))
    for _ in range(2):  # a draft inserted at the same moment elsewhere: update it instead
        with st.writing(db):
            row = _draft(db, p, round_, vignette_id)
            if row is None:
                db.add(Draft(participant_id=p.id, round=round_, vignette_id=vignette_id,
                             fields=text, started_at=started, updated_at=utcnow()))
            else:
                row.fields, row.updated_at = text, utcnow()
                row.started_at = min(row.started_at, started)
            try:
                db.commit()
                return
            except IntegrityError:
                db.rollback()
    raise st.AppError("the draft could not be kept; try again", status=409, field="draft")


def _epoch(when: dt.datetime) -> float:
    return when.replace(tzinfo=dt.timezone.utc).timestamp()


def _naive(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def store_answer(db: Session, p: Participant, vignette_id: str, round_: int,
                 answer: st.Answer, issued: float, nonce: str,
                 case: _Case | None = None) -> None:
    """Save the answer of a form shown at ``issued`` (epoch seconds), or change the saved
    one; the case's draft goes. A replayed form, or one shown before the answer was last
    changed (in another tab or browser), is refused (409) and changes nothing. ``case``
    is the case as already read in this request (read here when not given)."""
    case = case if case is not None else _case(db, p, round_, vignette_id)
    draft, old = case.draft, case.saved
    start = min(issued, _epoch(draft.started_at)) if draft is not None else issued
    elapsed = max(0.0, time.time() - start)

    def drop_draft(db: Session) -> None:
        """The case's draft goes with the answer, in its transaction (kept if it fails)."""
        if draft is not None:
            db.execute(delete(Draft).where(Draft.participant_id == p.id,
                                           Draft.round == round_,
                                           Draft.vignette_id == vignette_id))

    if old is None:
        st.save_answer(db, p, vignette_id, round_, answer, elapsed, nonce, also=drop_draft)
    else:
        replayed = st.AppError(
            f"this form was already submitted: vignette {vignette_id!r} already has your "
            f"round-{round_} answer, which is kept", status=409, field="form_token")
        if old.form_nonce == nonce:
            raise replayed
        if _epoch(old.submitted_at) > issued:
            raise st.AppError("this case's answer was changed in another tab or browser after "
                              "this page was shown; your change was not saved. Open the case "
                              "again to see the answer now kept", status=409,
                              field="form_token")
        try:
            with st.writing(db):
                if db.scalar(select(Participant.withdrawn_at).where(
                        Participant.id == p.id).with_for_update(read=True)) is not None:
                    db.rollback()
                    raise st.AppError("you have withdrawn from this study; your answer was "
                                      "not saved", status=409, field="session")
                changed = db.execute(
                    update(Answer)
                    .where(Answer.id == old.id, Answer.form_nonce == old.form_nonce)
                    .values(need_level=answer.need_level, confidence=answer.confidence,
                            risk=answer.risk,
                            salient_factors=json.dumps(list(answer.salient_factors)),
                            salient_other=answer.salient_other, rationale=answer.rationale,
                            lead_agency=answer.lead_agency, seconds=old.seconds + elapsed,
                            form_nonce=nonce, submitted_at=utcnow()))
                if changed.rowcount != 1:  # type: ignore[attr-defined]
                    db.rollback()
                    raise replayed
                drop_draft(db)
                db.commit()
        except IntegrityError:
            db.rollback()
            raise replayed from None


def round2_opening(study: Study) -> dt.datetime | None:
    """When round 2 is due to open: round 1's deadline, if the researcher set one
    (:func:`dsk.app._mail.deadline`, read in the session ``study`` belongs to)."""
    db = object_session(study)
    if db is None or study.phase != "round1":
        return None
    found = _mail.deadline(db, study)
    return found.closes_at if found else None


@dataclass(frozen=True, order=True)
class Kept:
    """A draft of a case kept when its round closed before the case was saved."""

    round: int
    position: int


def kept_drafts(db: Session, p: Participant, study: Study, deck: list[str]) -> list[Kept]:
    """Drafts of rounds no longer open whose cases have no answer in that round."""
    open_round = st.current_round(study)
    rows = db.execute(
        select(Draft.round, Draft.vignette_id, Answer.id)
        .outerjoin(Answer, (Answer.participant_id == Draft.participant_id)
                   & (Answer.round == Draft.round) & (Answer.vignette_id == Draft.vignette_id))
        .where(Draft.participant_id == p.id)).all()
    return sorted(Kept(int(rnd), deck.index(vid) + 1) for rnd, vid, saved in rows
                  if saved is None and rnd != open_round and vid in deck)


def _kept_note(kept: list[Kept], study: Study) -> str:
    if not kept:
        return ""
    rnd = kept[-1].round  # the latest round that closed on a draft
    cases = ", ".join(str(k.position) for k in kept if k.round == rnd)
    which = f"case{'s' if ',' in cases else ''} {cases}"
    then = (f"Round {rnd + 1} is open now." if st.current_round(study) == rnd + 1
            else "The study is now closed: there is nothing more to do.")
    return (f"Round {rnd} closed before your answer to {which} was saved, so it does not "
            f"count in round {rnd}. What you had written is kept as a draft. {then}")


def _unsubmitted_note(db: Session, p: Participant, study: Study) -> str:
    """What to tell a practitioner whose saved answers of a round that has closed were never
    submitted (they do not count: see ``dsk.app._study.unsubmitted_count``); "" otherwise."""
    open_round = st.current_round(study)
    closed = [r for r in range(1, study.rounds + 1) if open_round is None or r < open_round]
    if not closed:
        return ""
    submitted = set(db.scalars(select(RoundSubmission.round)
                               .where(RoundSubmission.participant_id == p.id)))
    rows = db.execute(select(Answer.round, func.count())
                      .where(Answer.participant_id == p.id,
                             Answer.round.in_([r for r in closed if r not in submitted]))
                      .group_by(Answer.round)).all()
    notes = [f"Round {rnd} closed before you pressed \u201cSubmit my answers\u201d, so your "
             f"{n} saved round-{rnd} answer{'s' if n != 1 else ''} "
             f"{'were' if n != 1 else 'was'} not submitted and do{'es' if n == 1 else ''} not "
             "count in the study's results." for rnd, n in sorted(rows) if n]
    return " ".join(notes)


def _notes(*parts: str) -> str:
    return " ".join(part for part in parts if part)


# ---------------------------------------------------------------- pages


def vignette_page(core: AppState, request: Request, db: Session, p: Participant, study: Study,
                  round_: int, vignette_id: str, *, deck: list[str] | None = None,
                  done: set[str] | None = None) -> HTMLResponse:
    """The scoring page of one vignette (with colleagues' answers in round 2): its draft,
    else its saved answer, else (round 2) the round-1 answer or draft; and the messages
    of a refused form sent from this browser."""
    if deck is None or done is None:
        deck, done = st.deck_and_done(db, p, round_)
    feedback = None
    note = ""
    values = _empty()
    # the case's text and its draft in one statement
    keys = {"participant_id": p.id, "round": round_, "vignette_id": vignette_id}
    row = db.execute(_TEXT_AND_DRAFT, keys | {"study_id": study.id}).first()
    narrative, draft = (row[0], row[1]) if row is not None else ("", None)
    saved = db.scalar(_SAVED, keys) if vignette_id in done else None
    if draft is not None:
        values = _empty() | json.loads(draft.fields)
        note = "Your draft is filled in below: it is not saved as an answer until you press Save."
    elif saved is not None:
        values = _values_of(saved)
    elif round_ == 2:
        first = st.answered(db, p, 1).get(vignette_id)
        earlier = _draft(db, p, 1, vignette_id)
        if first is not None:
            values = _values_of(first)
        elif earlier is not None:
            values = _empty() | json.loads(earlier.fields)
            note = ("What you had written in round 1, which round 1 closed before it was "
                    "saved, is filled in below.")
    if round_ == 2:
        feedback = st.feedback(db, p, vignette_id)
    payload = f"{p.id}|{round_}|{vignette_id}|{int(time.time() * 1000)}|{new_token()[:22]}"
    form_token = core.signer.sign(payload)
    flash = _flash(core, request, "answer", f"{p.id}|{round_}|{vignette_id}")
    errors = flash.get("errors") if flash else None
    if not isinstance(errors, dict):
        errors = {}
    position = deck.index(vignette_id) + 1
    kept = kept_drafts(db, p, study, deck) if round_ == 2 and not done else []
    unsubmitted = _unsubmitted_note(db, p, study) if round_ == 2 and not done else ""
    return _shown(core, request, core.render(
        request, "vignette.html", round=round_, position=position, total=len(deck),
        done=len(done), narrative=narrative or "", feedback=feedback, levels=core.levels,
        level_names=level_names(core), agencies=core.agencies,
        factor_groups=core.factor_groups, factor_labels=core.factor_labels, values=values,
        errors={str(k): str(v) for k, v in errors.items()}, form_token=form_token,
        draft_note=note, saved=saved is not None, max_factors=st.MAX_FACTORS,
        notice=_notes(unsubmitted, _kept_note(kept, study)), scripts=True))


def review_page(core: AppState, request: Request, db: Session, p: Participant, study: Study,
                round_: int) -> HTMLResponse:
    """Every case of the round with its level, a link to change it, and the submit button."""
    deck = st.deck_of(db, p)
    saved = st.answered(db, p, round_)
    names = level_names(core)
    rows = [{"position": i + 1, "answer": saved.get(vid),
             "level": names.get(saved[vid].need_level, "") if vid in saved else "",
             "agency": core.agencies.get(saved[vid].lead_agency, "") if vid in saved else ""}
            for i, vid in enumerate(deck)]
    flash = _flash(core, request, "submit", f"{p.id}|{round_}")
    errors = flash.get("errors") if flash else None
    if not isinstance(errors, dict):
        errors = {}
    return _shown(core, request, core.render(
        request, "review.html", round=round_, rows=rows, left=len(deck) - len(saved),
        errors={str(k): str(v) for k, v in errors.items()}, scripts=True, study=study))


def completion_page(core: AppState, request: Request, db: Session, p: Participant,
                    study: Study, round_: int | None) -> HTMLResponse:
    """After a submitted round, or once the study is closed: what happens next."""
    note = _kept_note(kept_drafts(db, p, study, st.deck_of(db, p)), study)
    if round_ is None:
        note = _notes(_unsubmitted_note(db, p, study), note)
        return core.render(request, "waiting.html", heading="The study is closed",
                           message="Thank you for taking part.", notice=note, study=study)
    if round_ == 1 and study.rounds == 2:
        opens = round2_opening(study)
        when = (f"Round 2 opens on {opens:%A} {opens.day} {opens:%B %Y} at {opens:%H:%M} (UTC)."
                if opens
                else "Round 2 opens when the researcher opens it.")
        return core.render(
            request, "waiting.html", heading="Round 1 complete",
            message="Thank you: your round-1 answers are submitted.", notice=note,
            next_steps=[when,
                        "How you will hear: if the researcher has your e-mail address, you "
                        "will get an e-mail when round 2 opens. Otherwise, come back to this "
                        "page in this browser, or follow your link again.",
                        "In round 2 you will see, for each case, how colleagues answered in "
                        "round 1, and you can keep or change your answer."],
            study=study)
    return core.render(request, "waiting.html", heading="All done",
                       message="Thank you: all your answers are submitted.", notice=note,
                       study=study)


def _session(core: AppState, db: Session, request: Request) -> st.Visit:
    """The participant, study and submitted rounds of this browser's session, or a 401."""
    found = st.visit(db, request.cookies.get(core.participant_cookie))
    if found is None:
        raise st.AppError("this browser has no study session; open the link the "
                          "researcher sent you", status=401, field="session")
    return found


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
        flash = _flash(core, request, "consent", token_hash(token)[:16])
        errors = flash.get("errors") if flash else None
        shown = flash.get("form") if flash else None
        return _shown(core, request, core.render(
            request, "consent.html", study=study, token=token, professions=core.professions,
            consent_nonce=new_token()[:32],
            form={str(k): str(v) for k, v in shown.items()} if isinstance(shown, dict) else {},
            errors={str(k): str(v) for k, v in errors.items()}
            if isinstance(errors, dict) else {}, scripts=True))


@router.post("/p/{token}")
async def consent(request: Request, token: str, core: State) -> Response:
    """Consent (or, after leaving a device, carry on); refused consent goes back to the
    link's page with its messages."""
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
            actor = audit.participant_actor(st.rater_id(p.study_id, p.number))
            if p.claimed_at is not None and p.session_hash == token_hash(session_token):
                return _session_response(core, session_token)  # this form, sent again
            if p.claimed_at is not None:  # consented earlier, then left a device
                with audit.recording(db, "resumed", actor=actor, study_id=p.study_id):
                    return _session_response(core, _resume(db, token))
            errors = {}
            if values["profession"] not in core.professions:
                errors["profession"] = "Choose your profession"
            years = 0
            try:
                years = st._int_field(values["experience_years"], "experience_years", 0, 60)
            except st.AppError:
                errors["experience_years"] = ("Years of experience: enter a whole number from "
                                              "0 to 60")
            if form.get("consent") != "yes":
                errors["consent"] = "Tick the box to agree to take part"
            if errors:
                shown = {k: v[:40] for k, v in values.items()}  # never echo a long field
                response = RedirectResponse(f"/p/{token}", status_code=303)
                _set_flash(core, response, {"kind": "consent", "key": token_hash(token)[:16],
                                            "errors": errors, "form": shown})
                return response
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


@router.post("/s/leave")
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
    response = RedirectResponse("/s/left", status_code=303)
    core.clear_cookie(response, core.participant_cookie)
    return response


@router.get("/s/left", response_class=HTMLResponse)
def left_page(request: Request, core: State) -> HTMLResponse:
    """After "Leave this device": what happened and how to carry on."""
    return core.render(request, "waiting.html", heading="You have left this device",
                       message="This browser no longer holds your study session. Your "
                               "answers so far are kept. To carry on, open the link the "
                               "researcher sent you again, here or in another browser: it "
                               "works again.", leave=False)


@router.get("/s", response_class=HTMLResponse)
def participant_home(request: Request, core: State) -> HTMLResponse:
    """The next case without an answer; once all have one, the review page; after the
    round is submitted (or closed), what comes next."""
    with core.db() as db:
        visit = _session(core, db, request)
        p, study = visit.participant, visit.study
        round_ = st.current_round(study)
        if round_ is None or round_ in visit.submitted:
            return completion_page(core, request, db, p, study, round_)
        deck, done = st.deck_and_done(db, p, round_)
        left = [v for v in deck if v not in done]
        if not left:
            return review_page(core, request, db, p, study, round_)
        return vignette_page(core, request, db, p, study, round_, left[0], deck=deck, done=done)


@router.get("/s/case/{position}", response_class=HTMLResponse)
def case_page(request: Request, position: str, core: State) -> Response:
    """Case ``position`` (1-based) of the open round, to answer or change."""
    with core.db() as db:
        visit = _session(core, db, request)
        p, study = visit.participant, visit.study
        round_ = st.current_round(study)
        if round_ is None or round_ in visit.submitted:
            return RedirectResponse("/s", status_code=303)
        deck, done = st.deck_and_done(db, p, round_)
        if not (position.isascii() and position.isdigit() and 1 <= int(position) <= len(deck)):
            raise st.AppError(f"no case {position[:10]!r} in your deck; your cases are numbered "
                              f"1 to {len(deck)}", status=404, field="position")
        return vignette_page(core, request, db, p, study, round_, deck[int(position) - 1],
                             deck=deck, done=done)


@router.get("/s/review", response_class=HTMLResponse)
def review(request: Request, core: State) -> Response:
    """Your answers of the open round, each with a link to change it."""
    with core.db() as db:
        visit = _session(core, db, request)
        p, study = visit.participant, visit.study
        round_ = st.current_round(study)
        if round_ is None or round_ in visit.submitted:
            return RedirectResponse("/s", status_code=303)
        return review_page(core, request, db, p, study, round_)


def _scoring_form(core: AppState, form: Any) -> tuple[int, int, str, float, str]:
    """Participant id, round, vignette, time shown (epoch seconds) and nonce of a form."""
    raw = form.get("form_token")
    payload = core.signer.unsign(raw) if isinstance(raw, str) else None
    parts = payload.split("|") if payload is not None else []
    # the same key signs CSRF tokens ("csrf:..."): only a scoring form's payload is one
    if len(parts) != 5 or not all(p.isascii() and p.isdigit() for p in parts[:2] + parts[3:4]):
        raise st.AppError("missing, damaged or not issued by this server; reload the page "
                          "to get a fresh form", status=400, field="form_token")
    pid, rnd, vignette_id, issued_ms, nonce = parts
    return int(pid), int(rnd), vignette_id, int(issued_ms) / 1000.0, nonce


def _check_form_owner(db: Session, p: Participant, pid: int, round_: int,
                      vignette_id: str) -> _Case:
    """The form's case (with its draft and saved answer), if the form is this
    participant's and the case is in their deck; else a 403."""
    if pid != p.id:
        raise st.AppError("this form belongs to another participant",
                          status=403, field="form_token")
    case = _case(db, p, round_, vignette_id)
    if not case.in_deck:
        raise st.AppError("this vignette is not in your deck", status=403, field="form_token")
    return case


def _final(round_: int) -> st.AppError:
    return st.AppError(f"you have submitted your round-{round_} answers: they are final and "
                       "can no longer be changed", status=409, field="round")


@router.post("/s/answer")
async def answer(request: Request, core: State) -> Response:
    """Save (or change) one case's answer, then on to the next case or the review; a
    refused answer goes back to its case, kept as a draft, with its messages."""
    form = await request.form()
    core.check_csrf(request, form)
    pid, round_, vignette_id, issued, nonce = _scoring_form(core, form)
    answer_, errors = st.parse_answer(form, core.catalogue)
    values = form_values(form, core.catalogue.factor_ids)

    def save() -> Response:
        with core.db() as db:
            visit = _session(core, db, request)
            p, study = visit.participant, visit.study
            case = _check_form_owner(db, p, pid, round_, vignette_id)
            if st.current_round(study) != round_:
                # kept as a draft; the pages say what happened and what comes next
                save_draft(db, p, round_, vignette_id, values, _naive(issued))
                return RedirectResponse("/s", status_code=303)
            if round_ in visit.submitted:
                raise _final(round_)
            if answer_ is None:
                save_draft(db, p, round_, vignette_id, values, _naive(issued))
                position = st.deck_of(db, p).index(vignette_id) + 1
                response = RedirectResponse(f"/s/case/{position}", status_code=303)
                _set_flash(core, response, {"kind": "answer", "errors": errors,
                                            "key": f"{p.id}|{round_}|{vignette_id}"})
                return response
            store_answer(db, p, vignette_id, round_, answer_, issued, nonce, case)
        return RedirectResponse("/s", status_code=303)

    return await run_in_threadpool(save)


@router.post("/s/draft")
async def draft(request: Request, core: State) -> Response:
    """Keep what is typed in a case as its draft (sent by the page's script as one types):
    204 when kept, 409 with a plain message once the round is closed or submitted (the
    draft is still kept when the round closed)."""
    form = await request.form()
    core.check_csrf(request, form)
    pid, round_, vignette_id, issued, nonce = _scoring_form(core, form)
    values = form_values(form, core.catalogue.factor_ids)

    def keep() -> Response:
        with core.db() as db:
            visit = _session(core, db, request)
            p, study = visit.participant, visit.study
            saved = _check_form_owner(db, p, pid, round_, vignette_id).saved
            if saved is not None and (saved.form_nonce == nonce
                                      or _epoch(saved.submitted_at) >= issued):
                # this page's answer was saved meanwhile (a draft sent late): nothing to keep
                return Response(status_code=204)
            if round_ in visit.submitted:
                return PlainTextResponse(_final(round_).message[len("round: "):].capitalize()
                                         + ".", status_code=409)
            save_draft(db, p, round_, vignette_id, values, _naive(issued))
            if st.current_round(study) != round_:
                return PlainTextResponse(
                    f"Round {round_} has closed, so this case can no longer be answered. "
                    "What you typed is kept as a draft. Reload the page to see what comes "
                    "next.", status_code=409)
        return Response(status_code=204)

    return await run_in_threadpool(keep)


@router.post("/s/submit")
async def submit(request: Request, core: State) -> Response:
    """Submit the open round's answers (all cases answered): they are final."""
    form = await request.form()
    core.check_csrf(request, form)

    def run() -> Response:
        with core.db() as db:
            visit = _session(core, db, request)
            p, study = visit.participant, visit.study
            sent_round = st._int_field(form.get("round"), "round", 1, 2)
            round_ = st.current_round(study)
            if round_ != sent_round or sent_round in visit.submitted:
                return RedirectResponse("/s", status_code=303)  # the pages say what is next
            deck, done = st.deck_and_done(db, p, round_)
            left = [i + 1 for i, v in enumerate(deck) if v not in done]
            if left:
                response = RedirectResponse("/s/review", status_code=303)
                cases = ", ".join(map(str, left))
                _set_flash(core, response, {"kind": "submit", "key": f"{p.id}|{round_}",
                                            "errors": {"cases": (
                                                f"Answer case{'s' * (len(left) > 1)} {cases} "
                                                "before you submit")}})
                return response
            with st.writing(db):
                db.add(RoundSubmission(participant_id=p.id, round=round_,
                                       study_id=p.study_id, submitted_at=utcnow()))
                audit.record(db, "answers_submitted", study_id=p.study_id,
                             detail=f"round {round_}",
                             actor=audit.participant_actor(st.rater_id(p.study_id, p.number)))
                try:
                    db.commit()
                except IntegrityError:  # submitted at the same moment in another request
                    db.rollback()
        return RedirectResponse("/s", status_code=303)

    return await run_in_threadpool(run)
