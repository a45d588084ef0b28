"""A researcher runs a study with e-mail, end to end with the oTree-style bots, on
SQLite and PostgreSQL, against a real local SMTP server (aiosmtpd) whose messages are
read: import the participant list, edit a template, add a participant and
download everyone's links, invite by e-mail, watch monitoring change as practitioners start (drafts, review,
submit) and stall, remind (the mail server down, then the outbox sent again), re-issue a link, a practitioner asks for theirs again, set a
deadline, and close round 1 only after its confirmation page; round 2 opens with an
e-mail to those who submitted, and a practitioner revises."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pandas as pd
from app_bots import Practitioner, Researcher, ask_for_link, default_answer
from app_mail import SmtpServer

PEOPLE = ("label,email,site\n"
          "Anna,anna@example.org,\n"
          "Ben,ben@example.org,\n"
          "Cara,cara@example.org,\n"
          "Dan,,\n")
BASE = "http://127.0.0.1:8000"


def _progress(bot: Researcher, study: int) -> tuple[int, int, int]:
    """Invited, started, finished: the "All" row of the monitoring table by profession."""
    page = bot.monitoring(study).text
    table = page[page.index('id="monitor-professions"'):]
    row = table[table.index('class="total"'):table.index("</tr>", table.index('class="total"'))]
    found = [int(re.search(rf'data-label="{name}">(\d+)<', row).group(1))  # type: ignore[union-attr]
             for name in ("Invited", "Started", "Finished")]
    return found[0], found[1], found[2]


def _link(msg: EmailMessage) -> str:
    found = re.findall(re.escape(BASE) + r"/p/[A-Za-z0-9_-]+", msg.get_content())
    assert len(found) == 1, msg.get_content()
    return found[0]


def _phase(bot: Researcher, study: int) -> str:
    found = re.search(r'<strong id="phase">([^<]+)<', bot.monitoring(study).text)
    assert found
    return found.group(1)


def test_a_researcher_runs_a_study_by_e_mail(make_client: Callable[..., Any],
                                              smtp: SmtpServer) -> None:
    def browser() -> Any:
        return make_client(smtp_url=smtp.url)

    ada = Researcher(browser())
    ada.login()
    study = ada.create_study(title="Flow", n_participants=2, deck_size=2, rounds=2)
    # the participant list, and monitoring before anything happens
    assert ada.import_participants(study, PEOPLE).status_code == 200
    assert _progress(ada, study) == (0, 0, 0)
    # a template is checked on saving, then used
    bad = ada.save_templates(study, invitation_body="No link at all")
    assert bad.status_code == 422 and "invitation_body: missing {link}" in bad.text
    assert ada.mail_templates(study)["invitation_subject"] == "Invitation to the study “{study}”"
    assert ada.save_templates(study, invitation_subject="Join “{study}”, {label}"
                              ).status_code == 200
    # one more practitioner, and everyone's link as a CSV (to hand out in person)
    assert ada.add_participants(study, 1).status_code == 200
    sheet = ada.links_csv(study)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert sorted(r["label"] for r in rows) == ["", "Anna", "Ben", "Cara", "Dan"]
    assert _progress(ada, study) == (5, 0, 0)
    # invitations, after their confirmation page: one each to the three with an address
    assert "3 participants with an e-mail address" in ada.confirm_page(
        study, "mail/invitations").text
    assert smtp.inbox.messages == []  # the confirmation page sends nothing
    assert ada.send_mail(study, "invitations").status_code == 200
    invited = {m["To"]: m for m in smtp.inbox.take()}
    assert sorted(invited) == ["anna@example.org", "ben@example.org", "cara@example.org"]
    assert invited["anna@example.org"]["Subject"] == "Join “Flow”, Anna"
    assert _link(invited["anna@example.org"]) not in sheet.text  # a fresh link each
    # Anna: a draft, both cases, the review page, submit; Ben answers one case only
    anna = Practitioner(browser(), _link(invited["anna@example.org"]))
    assert anna.consent().status_code == 200
    first = anna.page().text
    assert anna.draft(first, {"rationale": "Half a thought"}).status_code == 204
    assert "Half a thought" in anna.case(1).text
    anna.play_round(finish=False)
    review = anna.review().text
    assert "Check your answers" in review and 'href="/s/case/2"' in review
    assert anna.finish().status_code == 200
    ben = Practitioner(browser(), _link(invited["ben@example.org"]))
    assert ben.consent().status_code == 200
    assert ben.submit(ben.page().text, default_answer(0)).status_code == 200
    assert _progress(ada, study) == (5, 2, 1)
    assert "1 answer saved but not yet submitted" in ada.monitoring(study).text
    assert 'id="no-stalled"' in ada.monitoring(study, stalled_hours="1").text  # not yet

    # reminders: Ben (carry on) and Cara (a new link), never Anna
    assert "2 participants with an e-mail address have not submitted round 1" in \
        ada.confirm_page(study, "mail/reminders").text
    smtp.stop()  # the mail server is down: the outbox shows it, and they are sent again
    failed = ada.send_mail(study, "reminders")
    assert failed.status_code == 200 and 'id="mail-failures"' in failed.text
    smtp.start()
    retried = ada.retry_mail(study)
    assert retried.status_code == 200 and 'id="mail-failures"' not in retried.text
    reminded = {m["To"]: m for m in smtp.inbox.take()}
    assert sorted(reminded) == ["ben@example.org", "cara@example.org"]
    assert f"{BASE}/link" in reminded["ben@example.org"].get_content()
    cara_link = _link(reminded["cara@example.org"])
    # Ben has lost his link: he asks for it, and carries on elsewhere with his answer
    assert ask_for_link(browser(), "ben@example.org").status_code == 200
    ben_again = _link(smtp.inbox.wait_for("ben@example.org")[0])
    smtp.inbox.take()
    ben = Practitioner(browser(), ben_again)
    assert ben.carry_on().status_code == 200
    assert "1 of 2 answered" in ben.page().text
    # the researcher re-issues Cara's link (participant 3): only hers ends
    assert "Give Cara a new link" in ada.confirm_page(study, "participants/3/reissue").text
    new_cara = ada.reissue_link(study, 3)
    assert browser().get(cara_link.removeprefix(BASE)).status_code == 404
    cara = Practitioner(browser(), new_cara)
    assert cara.consent().status_code == 200
    assert _progress(ada, study) == (5, 3, 1)

    # a deadline, then closing round 1 only after its confirmation page
    r = ada.set_deadline(study, "2099-01-01T09:00", 24)
    assert r.status_code == 200 and "Round 1 closes by itself on" in r.text
    confirm = ada.confirm_page(study, "close")
    assert confirm.status_code == 200 and "Close round 1 of “Flow”?" in confirm.text
    assert "2 practitioners have saved answers in round 1 without pressing" not in confirm.text
    assert "1 practitioner has saved answers in round 1 without pressing" in confirm.text
    assert _phase(ada, study) == "Round 1 open" and smtp.inbox.messages == []
    assert ada.close_round(study).status_code == 200
    assert _phase(ada, study) == "Round 2 open"
    notice, = smtp.inbox.take()
    assert notice["To"] == "anna@example.org" and "Round 2 is now open" in notice.get_content()
    # Anna revises in round 2; the export holds her two rounds and nothing of Ben's
    anna.play_round(lambda i: default_answer(i) | {"need_level": "4"})
    table = pd.read_csv(io.StringIO(ada.client.get(f"/studies/{study}/judgements.csv").text))
    assert sorted(table["round"]) == [1, 1, 2, 2]
    assert set(table[table["round"] == 2]["need_level"]) == {4}
    assert table["rater_id"].nunique() == 1
    assert _progress(ada, study) == (5, 3, 1)  # round 2: Anna alone has finished it
