"""The audit trail's pages: a study's trail for its owner, the account events for admins.

``GET /studies/{id}/audit`` shows the owner the study's trail, newest first (the
newest :data:`SHOWN` lines); ``GET /studies/{id}/audit.csv`` exports all of it, oldest
first, through :func:`dsk.app._survey.spreadsheet_csv`, so that a user name written as
a formula is shown, never run (``?excel=1`` adds a byte-order mark). Collaborators
get a 403, anyone else a 404, as for every study page. ``GET /admin/audit`` shows
admins the events that belong to no study: log-ins, failed log-ins, log-outs and
account changes; for anyone else it does not exist. Viewing and exporting a trail
are themselves recorded.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from . import _audit as audit
from ._researcher import _csv_response, _excel
from ._state import State
from ._survey import spreadsheet_csv

router = APIRouter()

#: Most lines a trail page shows (the CSV export has them all).
SHOWN = 1000


@router.get("/studies/{study_id}/audit", response_class=HTMLResponse)
def study_audit(request: Request, study_id: int, core: State) -> HTMLResponse:
    """The study's audit trail, newest first (owner only)."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "owner")
        lines = audit.trail(db, study.id, newest_first=True, limit=SHOWN)
        total = audit.trail_length(db, study.id)
        audit.record_now(db, "audit_viewed", actor=audit.researcher_actor(who.username),
                         study_id=study.id, client=core.client_address(request))
        return core.render(request, "audit.html", researcher=who, study=study,
                           lines=lines.to_dict("records"), total=total)


@router.get("/studies/{study_id}/audit.csv")
def study_audit_csv(request: Request, study_id: int, core: State,
                    excel: str | None = None) -> Response:
    """The study's whole audit trail as CSV, oldest first (owner only)."""
    bom = _excel(excel)
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "owner")
        lines = audit.trail(db, study.id)
        audit.record_now(db, "audit_exported", actor=audit.researcher_actor(who.username),
                         study_id=study.id, detail="audit.csv" + (" for Excel" if bom else ""),
                         client=core.client_address(request))
    return _csv_response(spreadsheet_csv(lines, excel=bom), f"study-{study_id}-audit.csv")


@router.get("/admin/audit", response_class=HTMLResponse)
def admin_audit(request: Request, core: State) -> HTMLResponse:
    """Account events (no study), newest first (admins only)."""
    with core.db() as db:
        who = core.admin(db, request)
        lines = audit.trail(db, None, newest_first=True, limit=SHOWN)
        total = audit.trail_length(db, None)
        audit.record_now(db, "audit_viewed", actor=audit.researcher_actor(who.username),
                         detail="account events", client=core.client_address(request))
        return core.render(request, "audit.html", researcher=who, study=None,
                           lines=lines.to_dict("records"), total=total)
