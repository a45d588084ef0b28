"""Researchers' pages for the participant list, links and confirmations.

An editor or the owner imports a participants CSV (``POST .../participants/import``;
a file with problems re-shows the form with every problem, line and column, and stores
nothing), adds participants to a running study (``POST .../participants/add``) and
re-issues one practitioner's link (``GET .../participants/{number}/reissue`` asks, its
``POST`` does it and shows the new link once). Creating links for everyone
(``GET .../links`` asks, saying how many unused links stop working; the ``POST`` of
:mod:`dsk.app._researcher` shows them, or gives them as a CSV file) and closing a round
(``GET .../close`` asks; the ``POST`` closes and goes back to the study page) ask for
confirmation on a page of their own. A GET never changes anything. Every action is
recorded in the study's audit trail (:mod:`dsk.app._audit`) with counts or rater ids,
never a label or an e-mail address. The logic is in :mod:`dsk.app._roster`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from . import _audit as audit
from . import _roster as roster
from . import _study as st
from ._models import Participant, Researcher, RoundSubmission, Study
from ._models import Response as Answer
from ._researcher import act_on_study
from ._state import PHASES, State, upload_name

router = APIRouter()

#: Largest participants file the import form accepts.
MAX_PARTICIPANTS_FILE = 2 * 2**20


def _unsubmitted_in(db: Session, study: Study, round_: int) -> int:
    """How many (not withdrawn) practitioners saved answers in ``round_`` and have not
    submitted it."""
    done = select(RoundSubmission.participant_id).where(
        RoundSubmission.study_id == study.id, RoundSubmission.round == round_)
    return int(db.scalar(
        select(func.count(func.distinct(Answer.participant_id)))
        .where(Answer.study_id == study.id, Answer.round == round_,
               Answer.participant_id.not_in(done))) or 0)


@router.get("/studies/{study_id}/close", response_class=HTMLResponse)
def confirm_close(request: Request, study_id: int, core: State) -> HTMLResponse:
    """Ask before closing the current round (the form posts to ``.../close``)."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        if study.phase == "closed":
            raise st.AppError("the study is already closed", status=409, field="phase")
        current = "round 1" if study.phase == "round1" else "round 2"
        after = ("round 2 opens: practitioners see their colleagues' round-1 answers and "
                 "can revise theirs" if study.phase == "round1" and study.rounds == 2
                 else "the study closes: nobody can answer any more")
        waiting = _unsubmitted_in(db, study, 1 if study.phase == "round1" else 2)
        unsent = ([f"{waiting} practitioner{'s have' if waiting != 1 else ' has'} saved "
                   f"answers in {current} without pressing “Submit my answers”: closing "
                   "keeps those answers in the database but leaves them out of the "
                   "exports and of colleagues' round-2 view. A reminder first gives them "
                   "the chance to submit."] if waiting else [])
        return core.render(
            request, "confirm.html", researcher=who, study=study,
            heading=f"Close {current} of “{study.title}”?",
            paragraphs=[f"Practitioners can no longer answer {current}; {after}. "
                        "This cannot be undone.", *unsent,
                        f"Now: {PHASES[study.phase]}."],
            action=f"/studies/{study.id}/close", hidden={},
            buttons=[("", "", f"Close {current}")])


@router.get("/studies/{study_id}/links", response_class=HTMLResponse)
def confirm_links(request: Request, study_id: int, core: State,
                  site: str | None = None) -> HTMLResponse:
    """Ask before creating links for every participant (of ``site``) who has not used
    theirs, saying how many unused links will stop working."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        site = (site or "").strip() or None
        if site is not None and site not in st.sites_of(study):
            known = ", ".join(st.sites_of(study)) or "none: this study has no sites"
            raise st.AppError(f"unknown site {site[:60]!r}; the study's sites are {known}",
                              status=422, field="site")
        query = select(func.count()).select_from(Participant).where(
            Participant.study_id == study.id, Participant.claimed_at.is_(None),
            Participant.withdrawn_at.is_(None))
        if site is not None:
            query = query.where(Participant.site == site)
        count = int(db.scalar(query) or 0)
        unused = int(db.scalar(query.where(Participant.link_hash.is_not(None))) or 0)
        where = f" of {site}" if site else ""
        return core.render(
            request, "confirm.html", researcher=who, study=study,
            heading=f"Create participant links{where}?",
            paragraphs=[f"{count} participant{'s' * (count != 1)}{where} who ha"
                        f"{'ve' if count != 1 else 's'} not started will get a new link. "
                        + (f"The {unused} link{'s' * (unused != 1)} already created for "
                           f"{'them' if unused != 1 else 'one of them'} and not yet used "
                           "will stop working." if unused else "None of them has a link yet."),
                        "The links are shown once, on the next page or in the CSV file: "
                        "they are stored only in a form that cannot be turned back into "
                        "links. Practitioners who have started keep theirs."],
            action=f"/studies/{study.id}/links", hidden={"site": site} if site else {},
            buttons=[("format", "html", "Create the links and show them"),
                     ("format", "csv", "Create the links as a CSV file")])


@router.get("/studies/{study_id}/participants/{number}/reissue", response_class=HTMLResponse)
def confirm_reissue(request: Request, study_id: int, number: str, core: State
                    ) -> HTMLResponse:
    """Ask before giving one practitioner a new link."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        p = roster.participant(db, study, number)
        name = p.label or st.rater_id(study.id, p.number)
        return core.render(
            request, "confirm.html", researcher=who, study=study,
            heading=f"Give {name} a new link?",
            paragraphs=[f"{name} ({st.rater_id(study.id, p.number)}) gets a new personal "
                        "link, shown once on the next page. Their old link and any browser "
                        "they are using now stop working; their answers are kept and, if "
                        "they have started, they carry on with the new link without "
                        "consenting again. No other participant is affected."],
            action=f"/studies/{study.id}/participants/{p.number}/reissue", hidden={},
            buttons=[("", "", f"Give {name} a new link")])


@router.post("/studies/{study_id}/participants/{number}/reissue", response_class=HTMLResponse)
async def reissue(request: Request, study_id: int, number: str, core: State) -> HTMLResponse:
    """Give one practitioner a new link (their old link and session end); shown once."""
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)

    def run() -> HTMLResponse:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "editor")
            p, token = roster.reissue_link(db, study, number, client=client,
                                           actor=audit.researcher_actor(who.username))
            rows = [(p.label or "", st.rater_id(study.id, p.number), p.site or "",
                     core.link(token))]
            response = core.render(request, "links.html", researcher=who, study=study,
                                   links=rows, site=None, sites=st.sites_of(study),
                                   reissued=True)
            response.headers["Cache-Control"] = "no-store"
            return response

    return await run_in_threadpool(run)


@router.post("/studies/{study_id}/participants/import", response_class=HTMLResponse)
async def import_file(request: Request, study_id: int, core: State) -> Response:
    """Import a participants CSV; every problem is shown, and nothing stored, if any."""
    form = await request.form()
    core.check_csrf(request, form)
    upload = form.get("participants_file")
    data: bytes | None = None
    name = "participants.csv"
    if isinstance(upload, UploadFile) and upload.filename:
        name = upload_name(upload.filename, name)
        data = await upload.read(MAX_PARTICIPANTS_FILE + 1)
    client = core.client_address(request)

    def run() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "editor")
            try:
                if data is None:
                    raise st.AppError("missing; choose a CSV file of participants",
                                      status=422, field="participants_file")
                if len(data) > MAX_PARTICIPANTS_FILE:
                    raise st.AppError(f"{name}: expected a file of at most "
                                      f"{MAX_PARTICIPANTS_FILE // 2**20} MB", status=422,
                                      field="participants_file")
                roster.import_participants(db, study, data, name=name, client=client,
                                           professions=core.professions,
                                           actor=audit.researcher_actor(who.username))
            except st.AppError as exc:
                db.rollback()
                problems = getattr(exc, "problems", None) or [exc.message]
                heading = (exc.message.split("\n", 1)[0] if getattr(exc, "problems", None)
                           else "The file could not be imported")
                return core.render(request, "participants_import.html", status=exc.status,
                                   researcher=who, study=study, problems=problems,
                                   heading=heading, sites=st.sites_of(study),
                                   professions=core.professions)
        return RedirectResponse(f"/studies/{study_id}#participants", status_code=303)

    return await run_in_threadpool(run)


@router.post("/studies/{study_id}/participants/add")
async def add(request: Request, study_id: int, core: State) -> Response:
    """Add participants (at one site) to a running study, with the next decks."""
    client = core.client_address(request)

    def act(db: Session, who: Researcher, study: Study, form: FormData) -> None:
        roster.add_participants(db, study, str(form.get("count") or ""),
                                str(form.get("site") or ""), client=client,
                                actor=audit.researcher_actor(who.username))

    return await act_on_study(request, study_id, core, "editor", act, "#participants")
