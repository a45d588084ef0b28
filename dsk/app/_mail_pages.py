"""E-mail pages: invitations, reminders, unsent messages, templates, a link sent again.

An editor or the owner sends invitations (``GET .../mail/invitations`` asks, saying how
many practitioners get one and that their unused links stop working; its ``POST``
sends and goes back to the study page) and reminders (``.../mail/reminders``, the
same way), sends unsent messages again (``POST .../mail/retry``) and edits the
study's templates (``GET``/``POST .../mail/templates``; a template with a problem is
shown again with it, and nothing is stored). ``POST .../deadline`` sets the current
round's deadline: the round closes by itself then, with a reminder some hours before
(:func:`dsk.app._mail.run_due`, run by the app's scheduler loop). Without a mail server (``dsk serve
--smtp``) the pages say so and nothing is sent. A practitioner who gave an e-mail
address asks for their link again on the public page ``/link``: it answers the same
whether or not the address is known (the work is done after the answer is sent) and
is rate limited per client and per address. The logic is in :mod:`dsk.app._mail`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.datastructures import FormData

from . import _audit as audit
from . import _mail as mail
from . import _study as st
from ._models import Researcher, Study
from ._researcher import act_on_study
from ._state import State

router = APIRouter()


def _no_server(study_id: int) -> list[str]:
    return ["No mail server is configured, so no e-mail can be sent: start the app with "
            "dsk serve --smtp URL (or the environment variable DSK_SMTP_URL)."]


@router.get("/studies/{study_id}/mail/invitations", response_class=HTMLResponse)
def confirm_invitations(request: Request, study_id: int, core: State) -> HTMLResponse:
    """Ask before e-mailing invitations: how many, and that unused links stop working."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        people = mail.invitation_targets(db, study)
        count = len(people)
        unused = sum(p.link_hash is not None for p in people)
        paragraphs = [f"{count} participant{'s' * (count != 1)} with an e-mail address who "
                      f"ha{'ve' if count != 1 else 's'} not started and not yet been invited "
                      "by e-mail will get an invitation with a new personal link."
                      + (f" The {unused} unused link{'s' * (unused != 1)} already created for "
                         "them will stop working." if unused else ""),
                      "Practitioners already invited by e-mail are not invited again; an "
                      "invitation that failed is sent again with “Send unsent e-mails again” "
                      "on the study page."]
        buttons = [("", "", "Send the invitations")] if count else []
        if core.post.mailer is None:
            paragraphs, buttons = _no_server(study_id), []
        elif study.phase == "closed":
            paragraphs, buttons = ["The study is closed: nobody can be invited."], []
        return core.render(request, "confirm.html", researcher=who, study=study,
                           heading=f"Send invitations for “{study.title}”?",
                           paragraphs=paragraphs, action=f"/studies/{study.id}/mail/invitations",
                           hidden={}, buttons=buttons)


@router.get("/studies/{study_id}/mail/reminders", response_class=HTMLResponse)
def confirm_reminders(request: Request, study_id: int, core: State) -> HTMLResponse:
    """Ask before e-mailing reminders to those who have not submitted the round."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        people = mail.reminder_targets(db, study)
        fresh = sum(p.claimed_at is None for p in people)
        count = len(people)
        round_ = st.current_round(study)
        paragraphs = [f"{count} participant{'s' * (count != 1)} with an e-mail address "
                      f"ha{'ve' if count != 1 else 's'} not submitted round {round_} and will "
                      "get a reminder.",
                      f"{count - fresh} of them have started: their reminder tells them to "
                      "carry on with their link, or ask for it again. "
                      f"{fresh} have not started: their reminder carries a new link, and "
                      "their old one stops working."]
        buttons = [("", "", "Send the reminders")] if count else []
        if core.post.mailer is None:
            paragraphs, buttons = _no_server(study_id), []
        elif round_ is None:
            paragraphs, buttons = ["The study is closed: there is nothing to remind of."], []
        return core.render(request, "confirm.html", researcher=who, study=study,
                           heading=f"Send reminders for “{study.title}”?",
                           paragraphs=paragraphs, action=f"/studies/{study.id}/mail/reminders",
                           hidden={}, buttons=buttons)


async def _send(request: Request, study_id: int, core: State, what: str) -> Response:
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)
    act = {"invitations": mail.invite, "reminders": mail.remind, "retry": mail.retry}[what]

    def run() -> None:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "editor")
            act(db, core.post, study, actor=audit.researcher_actor(who.username),
                client=client)

    await run_in_threadpool(run)
    return RedirectResponse(f"/studies/{study_id}#mail", status_code=303)


@router.post("/studies/{study_id}/mail/invitations")
async def send_invitations(request: Request, study_id: int, core: State) -> Response:
    """E-mail the invitations, then back to the study page (its e-mail section)."""
    return await _send(request, study_id, core, "invitations")


@router.post("/studies/{study_id}/mail/reminders")
async def send_reminders(request: Request, study_id: int, core: State) -> Response:
    """E-mail the reminders, then back to the study page."""
    return await _send(request, study_id, core, "reminders")


@router.post("/studies/{study_id}/mail/retry")
async def retry(request: Request, study_id: int, core: State) -> Response:
    """Send every unsent e-mail of the study again, then back to the study page."""
    return await _send(request, study_id, core, "retry")


@router.post("/studies/{study_id}/deadline")
async def set_deadline(request: Request, study_id: int, core: State) -> Response:
    """Set or clear the current round's deadline (and its reminder), then back to the
    study page."""
    client = core.client_address(request)

    def act(db: Session, who: Researcher, study: Study, form: FormData) -> None:
        mail.set_deadline(db, study, str(form.get("closes_at") or ""),
                          str(form.get("remind_hours") or ""), client=client, now=core.clock(),
                          actor=audit.researcher_actor(who.username))

    return await act_on_study(request, study_id, core, "editor", act, "#deadline")


def _templates_page(core: State, request: Request, who: object, study: object,
                    form: dict[str, str], errors: dict[str, str], status: int = 200
                    ) -> HTMLResponse:
    return core.render(request, "mail_templates.html", status=status, researcher=who,
                       study=study, form=form, errors=errors, kinds=mail.KINDS,
                       placeholders=mail.PLACEHOLDERS)


@router.get("/studies/{study_id}/mail/templates", response_class=HTMLResponse)
def templates(request: Request, study_id: int, core: State) -> HTMLResponse:
    """The study's e-mail templates, to edit."""
    with core.db() as db:
        who, study, _ = core.study(db, request, study_id, "editor")
        form = {}
        for kind, (subject, body) in mail.templates(db, study).items():
            form[f"{kind}_subject"], form[f"{kind}_body"] = subject, body
        return _templates_page(core, request, who, study, form, {})


@router.post("/studies/{study_id}/mail/templates", response_class=HTMLResponse)
async def save_templates(request: Request, study_id: int, core: State) -> Response:
    """Store the templates; one with a problem is shown again with it (422)."""
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)
    values = {f"{kind}_{part}": str(form.get(f"{kind}_{part}") or "")
              for kind in mail.KINDS for part in ("subject", "body")}

    def run() -> Response:
        with core.db() as db:
            who, study, _ = core.study(db, request, study_id, "editor")
            try:
                mail.save_templates(db, study, values, client=client,
                                    actor=audit.researcher_actor(who.username))
            except st.AppError as exc:
                db.rollback()
                return _templates_page(core, request, who, study, values,
                                       {exc.field or "form": exc.message}, status=exc.status)
        return RedirectResponse(f"/studies/{study_id}#mail", status_code=303)

    return await run_in_threadpool(run)


@router.get("/link", response_class=HTMLResponse)
def link_form(request: Request, core: State, sent: str | None = None) -> HTMLResponse:
    """The public page where a practitioner asks for their link again."""
    return core.render(request, "link_request.html", sent=sent == "1", form={},
                       configured=core.post.mailer is not None)


@router.post("/link")
async def link_request(request: Request, core: State) -> Response:
    """Send a new link to the address typed, if it is a participant's (the answer is the
    same either way; the work is done after it is sent)."""
    form = await request.form()
    core.check_csrf(request, form)
    client = core.client_address(request)
    typed = str(form.get("email") or "")
    try:
        address = mail.check_address(typed)
    except st.AppError as exc:
        return core.render(request, "link_request.html", status=exc.status, sent=False,
                           form={"email": typed[:254]}, errors={"email": exc.message},
                           configured=core.post.mailer is not None)

    def limit() -> None:
        with core.db() as db:
            mail.check_link_request(db, client)

    await run_in_threadpool(limit)

    def work() -> None:
        with core.db() as db:
            mail.resend_link(db, core.post, address, client=client)

    return RedirectResponse("/link?sent=1", status_code=303,
                            background=BackgroundTask(run_in_threadpool, work))
