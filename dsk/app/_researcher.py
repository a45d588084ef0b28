"""Researchers' pages: the dashboard, studies, participant links, rounds and exports.

A study is made from a bundled set or from an uploaded vignettes file (read by
:func:`dsk.app._study.read_vignettes_file`); a file that cannot be used re-shows the
form with its errors, and nothing is stored. Links are issued for every site or one,
shown once on a page or given as a CSV file (label, site, rater id, link). Creating
links and closing a round are first confirmed on pages of their own, and the study
page shows the participant list and its monitoring tables (:mod:`dsk.app._roster_pages`,
:mod:`dsk.app._roster`).

Every handler first checks the researcher's session (:meth:`AppState.researcher`),
which sends a browser without one to the log-in page, and every handler of a study
checks the researcher's role in it (:meth:`AppState.study`): a viewer sees progress
and exports, an editor also issues links, moves participants and closes rounds, the
owner also adds and removes collaborators. To anyone else the study does not exist.
Before round 2 opens, an editor or the owner can hide a round-1 reason (one naming a
family, say) from colleagues; the hiding is logged (:func:`dsk.app._study.hide_reason`).
Every action, view of a study page and export adds a line to the study's audit trail
(:mod:`dsk.app._audit`), in the action's own transaction.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from dsk.io import write_table

from . import _audit as audit
from . import _mail as mail
from . import _study as st
from ._models import Researcher, Study
from ._ops import study_survey
from ._rights import (
    WITHDRAWN_HEADER,
    WITHDRAWN_KEY,
    add_parquet_metadata,
    parse_information,
    withdrawn_count,
)
from ._roster import links_table, monitoring, parse_hours
from ._state import PHASES, AppState, State, form_text, upload_name
from ._survey import qualtrics_txt, spreadsheet_csv

router = APIRouter()




async def act_on_study(request: Request, study_id: int, core: State, need: str,
                        act: Callable[[Session, Researcher, Study, FormData], object],
                        anchor: str = "", *, action: str | None = None,
                        detail: Callable[[Session, Study, FormData], str] | None = None
                        ) -> Response:
    """The shape of every study action: check the CSRF token, then (in a worker thread) the
    researcher's role ``need`` in the study, run ``act`` (recorded in the audit trail as
    ``action``, with ``detail`` worked out when it commits; without ``action``, ``act``
    records its own line), and go back to the study page."""
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)

    def run() -> None:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, need)
            if action is None:
                act(db, who, study, form)
                return
            with audit.recording(db, action, actor=audit.researcher_actor(who.username),
                                 study_id=study.id, client=client,
                                 detail=lambda: detail(db, study, form) if detail else ""):
                act(db, who, study, form)

    await run_in_threadpool(run)
    return RedirectResponse(f"/studies/{study_id}{anchor}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, core: State) -> HTMLResponse:
    with core.db() as db:
        who = core.researcher(db, request)
        return core.render(request, "dashboard.html", researcher=who,
                           studies=st.visible_studies(db, who), sets=core.sets, phases=PHASES,
                           form={})


@router.post("/studies")
async def new_study(request: Request, core: State) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    fields = {k: str(form.get(k) or "") for k in
              ("title", "set_id", "deck_size", "n_participants", "rounds", "seed", "sites",
               "info_sheet", "contact", "ethics_ref", "retention_until")}
    upload = form.get("vignettes_file")
    data: bytes | None = None
    name = ""
    if isinstance(upload, UploadFile) and upload.filename:
        name = upload_name(upload.filename)
        data = await upload.read(st.MAX_UPLOAD + 1)
    client = core.client_address(request)

    def make() -> Response:
        with core.db() as db:
            who = core.researcher(db, request)
            try:
                with audit.recording(db, "study_created", client=client,
                                     actor=audit.researcher_actor(who.username),
                                     detail=fields["title"].strip()):
                    study = _create(db, who, fields, name, data)
            except st.AppError as exc:
                db.rollback()
                return core.render(request, "dashboard.html", status=exc.status,
                                   researcher=who, studies=st.visible_studies(db, who),
                                   sets=core.sets,
                                   phases=PHASES, form=fields,
                                   errors={exc.field or "title": exc.message})
            return RedirectResponse(f"/studies/{study.id}", status_code=303)

    def _create(db: Session, who: Researcher, fields: dict[str, str], name: str,
                data: bytes | None) -> Study:
        vignettes, source, digest = None, "", ""
        if data is not None:
            vignettes = st.read_uploaded_vignettes(data, name, core.catalogue)
            source, digest = name, hashlib.sha256(data).hexdigest()
        return st.create_study(
            db, owner=who, title=fields["title"], set_id=fields["set_id"], deck_size=fields["deck_size"],
            n_participants=fields["n_participants"], rounds=fields["rounds"],
            seed=fields["seed"], sites=fields["sites"], catalogue=core.catalogue,
            vignettes=vignettes, source=source, source_sha256=digest,
            information=parse_information(fields["info_sheet"], fields["contact"],
                                          fields["ethics_ref"], fields["retention_until"]))

    return await run_in_threadpool(make)


@router.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: int, core: State,
               stalled_hours: str | None = None) -> HTMLResponse:
    """The study page: settings, actions, the participant list, monitoring (practitioners
    who did nothing for ``stalled_hours``, default 48, are listed as stalled), progress."""
    hours = parse_hours(stalled_hours)
    with core.db() as db:
        who, study, role = core.study(db, request, study_id)
        page = core.render(request, "study.html", researcher=who, study=study, role=role,
                           rows=st.progress(db, study), phases=PHASES,
                           monitor=monitoring(db, study, core.professions, hours=hours),
                           mail=mail.summary(db, core.post, study),
                           sites=st.sites_of(study), professions=core.professions,
                           collaborators=st.collaborators(db, study) if role == "owner" else [],
                           reasons=st.round1_reasons(db, study)
                           if study.rounds == 2 and role != "viewer" else [])
        audit.record_now(db, "study_viewed", actor=audit.researcher_actor(who.username),
                         study_id=study.id, client=core.client_address(request))
        return page


@router.post("/studies/{study_id}/links", response_class=HTMLResponse)
async def links(request: Request, study_id: int, core: State) -> Response:
    """Issue links (for every site or one) and show them once, or, with ``format=csv``,
    give them as a CSV file (label, site, rater id, link; see
    :func:`dsk.app._roster.links_table`). The confirmation page is ``GET .../links``."""
    form = await request.form()
    core.check_csrf(request, form)
    site = str(form.get("site") or "").strip() or None
    fmt = str(form.get("format") or "html")
    if fmt not in ("html", "csv"):
        raise st.AppError(f"expected html or csv, got {fmt[:20]!r}", status=422, field="format")
    client = core.client_address(request)

    def issue() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "editor")
            with audit.recording(db, "links_issued", actor=audit.researcher_actor(who.username),
                                 study_id=study.id, client=client,
                                 detail=(f"site {site}" if site else "every site")
                                 + (" as CSV" if fmt == "csv" else "")):
                issued = st.issue_links(db, study, site)
            if fmt == "csv":
                table = links_table(study, issued, core.link)
                response = _csv_response(spreadsheet_csv(table), f"study-{study_id}-links"
                                         + (f"-{_safe_name(site)}" if site else "") + ".csv")
            else:
                rows = [(p.label or "", st.rater_id(study.id, p.number), p.site or "",
                         core.link(token)) for p, token in issued]
                response = core.render(request, "links.html", researcher=who, study=study,
                                       links=rows, site=site, sites=st.sites_of(study))
            response.headers["Cache-Control"] = "no-store"
            return response

    return await run_in_threadpool(issue)


def _safe_name(text: str) -> str:
    """``text`` as part of a file name (letters, digits and - only).

    >>> _safe_name("St Helens/Knowsley")
    'St-Helens-Knowsley'
    """
    return "-".join(re.findall(r"[A-Za-z0-9]+", text))[:60] or "site"


@router.post("/studies/{study_id}/site")
async def move_site(request: Request, study_id: int, core: State) -> Response:
    return await act_on_study(request, study_id, core, "editor", lambda db, _, study, form:
                               st.move_to_site(db, study, form_text(form, "participant"),
                                               form_text(form, "site")),
                               action="site_moved", detail=lambda db, study, form:
                               f"{st.rater_id(study.id, int(form_text(form, 'participant')))} to "
                               f"{form_text(form, 'site').strip()}")


@router.post("/studies/{study_id}/close")
async def close(request: Request, study_id: int, core: State) -> Response:
    """Close the current round; when round 2 opens, everyone with an e-mail address who
    submitted round 1 is told so by e-mail (:func:`dsk.app._mail.notify_round2`)."""
    client = core.client_address(request)

    def act(db: Session, who: Researcher, study: Study, form: FormData) -> None:
        if st.close_round(db, study) == "round2":
            mail.notify_round2(db, core.post, study, client=client,
                               actor=audit.researcher_actor(who.username))

    return await act_on_study(request, study_id, core, "editor", act,
                               action="round_closed", detail=lambda db, study, form:
                               f"now {PHASES[study.phase].lower()}")


@router.post("/studies/{study_id}/reasons/hide")
async def hide_reason(request: Request, study_id: int, core: State) -> Response:
    """An editor or the owner hides a round-1 reason from colleagues, before round 2."""
    return await act_on_study(request, study_id, core, "editor", lambda db, who, study, form:
                               st.hide_reason(db, study, form_text(form, "response_id"), who),
                               anchor="#reasons", action="reason_hidden",
                               detail=lambda db, study, form:
                               f"answer {int(form_text(form, 'response_id'))}")


def _excel(value: str | None) -> bool:
    """The ``excel`` query parameter of a CSV export: ``1`` adds a UTF-8 byte-order mark."""
    if value in (None, "", "0"):
        return False
    if value == "1":
        return True
    raise st.AppError(f"expected 1 or 0, got {value[:20]!r}", status=422, field="excel")


def _exported(core: AppState, request: Request, db: Session, who: Researcher, study_id: int,
              what: str, excel: bool) -> None:
    """Record an export in the study's audit trail (and commit that line)."""
    audit.record_now(db, "exported", actor=audit.researcher_actor(who.username),
                     study_id=study_id, detail=what + (" for Excel" if excel else ""),
                     client=core.client_address(request))


def _csv_response(text: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/studies/{study_id}/judgements.{fmt}")
def export(request: Request, study_id: int, fmt: str, core: State,
           excel: str | None = None) -> Response:
    """The judgements as Parquet (the analysis file, exact text) or as CSV for spreadsheets
    (formulas neutralised, see :func:`dsk.app._survey.spreadsheet_csv`; ``?excel=1`` adds
    a byte-order mark). Only submitted answers are exported (see
    :func:`dsk.app._study.judgements`). The number of withdrawn participants whose
    answers were removed is in the ``X-Dsk-Withdrawn`` header, that of the answers
    saved but never submitted in ``X-Dsk-Unsubmitted``, and both, in Parquet, in the
    file's metadata."""
    if fmt not in ("csv", "parquet"):
        raise st.AppError(f"expected csv or parquet, got {fmt!r}", status=404, field="format")
    bom = _excel(excel)
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id)
        frame = st.judgements(db, study)
        _exported(core, request, db, who, study_id, f"judgements.{fmt}", bom)
        withdrawn = str(withdrawn_count(db, study.id))  # stated in a header, not in the table
        unsubmitted = str(st.unsubmitted_count(db, study))
    if fmt == "csv":
        response = _csv_response(spreadsheet_csv(frame, excel=bom),
                                 f"study-{study_id}-judgements.csv")
        response.headers[WITHDRAWN_HEADER] = withdrawn
        response.headers[st.UNSUBMITTED_HEADER] = unsubmitted
        return response
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(frame, Path(tmp) / f"judgements.{fmt}")
        data = add_parquet_metadata(path, {WITHDRAWN_KEY: withdrawn,
                                           st.UNSUBMITTED_KEY: unsubmitted}).read_bytes()
    return Response(data, media_type="application/vnd.apache.parquet", headers={
        "Content-Disposition": f'attachment; filename="study-{study_id}-judgements.{fmt}"',
        WITHDRAWN_HEADER: withdrawn, st.UNSUBMITTED_HEADER: unsubmitted})


@router.get("/studies/{study_id}/survey.csv")
def survey_csv(request: Request, study_id: int, core: State,
               excel: str | None = None) -> Response:
    bom = _excel(excel)
    with core.db() as db:
        who, _, _ = core.study(db, request, study_id)
        design = study_survey(db, study_id, core.catalogue)
        _exported(core, request, db, who, study_id, "survey.csv", bom)
    return _csv_response(spreadsheet_csv(design, excel=bom), f"study-{study_id}-survey.csv")


@router.get("/studies/{study_id}/qualtrics.txt")
def survey_qualtrics(request: Request, study_id: int, core: State) -> Response:
    with core.db() as db:
        who, _, _ = core.study(db, request, study_id)
        design = study_survey(db, study_id, core.catalogue)
        _exported(core, request, db, who, study_id, "qualtrics.txt", False)
    return Response(qualtrics_txt(design, core.catalogue),
                    media_type="text/plain; charset=utf-8", headers={
                        "Content-Disposition":
                            f'attachment; filename="study-{study_id}-qualtrics.txt"'})


@router.post("/studies/{study_id}/collaborators")
async def add_collaborator(request: Request, study_id: int, core: State) -> Response:
    """The owner gives an account the viewer or editor role (or changes its role)."""
    return await act_on_study(request, study_id, core, "owner", lambda db, _, study, form:
                               st.add_collaborator(db, study, form_text(form, "username"),
                                                   form_text(form, "role")),
                               action="role_changed", detail=lambda db, study, form:
                               f"{form_text(form, 'username').strip()} as {form_text(form, 'role')}")


@router.post("/studies/{study_id}/collaborators/remove")
async def remove_collaborator(request: Request, study_id: int, core: State) -> Response:
    """The owner takes a collaborator's role away."""
    return await act_on_study(request, study_id, core, "owner", lambda db, _, study, form:
                               st.remove_collaborator(db, study, form_text(form, "researcher_id")),
                               action="role_removed", detail=_removed)


def _removed(db: Session, study: Study, form: FormData) -> str:
    """The user name of the collaborator whose role is taken away."""
    found = db.get(Researcher, int(form_text(form, "researcher_id")))
    return found.username if found is not None else form_text(form, "researcher_id")
