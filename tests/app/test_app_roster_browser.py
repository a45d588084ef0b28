"""The researcher's pages in Debian's Chromium (Playwright), against a live server that
sends e-mail through a local SMTP server: no page scrolls sideways at 320 px, and
axe-core finds no violation at 390 px and at 1280 px, on every page state (the study
list, the study page in each state with its monitoring and outbox, the participant
import with errors, the confirmation pages, the links pages, the e-mail templates with
and without errors, account, admin, audit, information and deletion pages); the
participant list is imported, links are re-issued and a round is closed only after
confirming."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from app_axe import check, need_axe
from app_mail import SmtpServer
from sqlalchemy import update

from dsk.app import create_researcher, open_database
from dsk.app._live import LiveServer
from dsk.app._models import Participant, Response

PEOPLE = ("label,email,site,profession\n"
          "Anna Marie Longfellow-Featherstonehaugh,anna.marie.longfellow@example.org,"
          "Leeds,social_worker\n"
          "Ben,ben@example.org,York,General practitioner\n"
          "Cara,,Leeds,\n")


NARROW = {"width": 320, "height": 640}
CHECKED: list[str] = []


def _no_sideways_scroll(page: Any, what: str) -> None:
    """No sideways scrolling at 320 px, and no axe-core violation at 390 and 1280 px."""
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{what}: the page is {width} px wide at 320 px"
    check(page, what, CHECKED, back_to=NARROW)


def test_researcher_pages_reflow_at_320_px(browser: Any, sqlite_url: str, tmp_path: Path,
                                           smtp: SmtpServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    need_axe()
    CHECKED.clear()
    create_researcher(sqlite_url, "ada", "correct horse battery", admin=True)
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("label,email,site,colour\nDee,not-an-address,Paris,red\nDee,,Leeds,\n",
                   encoding="utf-8")
    monkeypatch.setenv("DSK_SMTP_URL", smtp.url)
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server:
        base = server.url
        ctx = browser.new_context(viewport=NARROW, accept_downloads=True,
                                  bypass_csp=True)  # lets axe-core in
        ctx.set_default_timeout(15_000)
        r = ctx.new_page()
        r.goto(base + "/login")
        r.get_by_label("User name").fill("ada")
        r.get_by_label("Password").fill("correct horse battery")
        r.get_by_role("button", name="Log in").click()
        r.get_by_label("Title", exact=True).fill("A study with a long title for phones")
        r.get_by_label("Vignette set").select_option("training-12")
        r.get_by_label("Vignettes per practitioner").fill("2")
        r.get_by_label("Participants", exact=True).fill("2")
        r.get_by_label("Sites").fill("Leeds, York")
        r.get_by_role("button", name="Create study").click()
        study_url = r.url
        _no_sideways_scroll(r, "study page")
        r.get_by_label("Participants file").set_input_files(str(bad))
        r.get_by_role("button", name="Import participants").click()
        assert "nothing was imported" in r.content()
        _no_sideways_scroll(r, "participant import with errors")
        r.goto(study_url)
        r.get_by_label("Participants file").set_input_files(str(people))
        r.get_by_role("button", name="Import participants").click()
        assert "anna.marie.longfellow@example.org" in r.locator("#progress").inner_text()
        _no_sideways_scroll(r, "study page with participants")

        r.get_by_role("button", name="Create participant links for every site").click()
        _no_sideways_scroll(r, "links confirmation")
        r.get_by_role("button", name="Create the links and show them").click()
        assert r.locator("#links tbody tr").count() == 3
        _no_sideways_scroll(r, "links page")
        with r.expect_download() as download:
            r.go_back()  # the confirmation page again: nothing was done by going back
            r.get_by_role("button", name="Create the links as a CSV file").click()
        assert download.value.suggested_filename.endswith("-links.csv")
        first = Path(download.value.path()).read_text(encoding="utf-8").splitlines()[1]
        link = first.rsplit(",", 1)[1]

        # Anna starts in another browser and stalls
        p = browser.new_context().new_page()
        p.goto(link)
        p.get_by_label("Your profession", exact=True).select_option("social_worker")
        p.get_by_label("Years of experience in your profession", exact=True).fill("3")
        p.get_by_label("I have read the above").check()
        p.get_by_role("button", name="Start").click()
        p.context.close()
        with open_database(sqlite_url) as db:
            long_ago = dt.datetime(2020, 1, 1)
            db.execute(update(Participant).where(Participant.number == 1)
                       .values(claimed_at=long_ago))
            db.execute(update(Response).values(submitted_at=long_ago))
            db.commit()
        r.goto(study_url)
        assert "Anna Marie" in r.locator("#stalled").inner_text()
        _no_sideways_scroll(r, "study page with a stalled practitioner")

        r.get_by_role("link", name="New link for Anna Marie Longfellow-Featherstonehaugh").click()
        _no_sideways_scroll(r, "re-issue confirmation")
        r.get_by_role("button", name="Give Anna Marie Longfellow-Featherstonehaugh a new link").click()
        assert r.locator("#links tbody tr").count() == 1
        _no_sideways_scroll(r, "re-issued link")

        # e-mail: the templates (refused, then saved), invitations after confirming, and
        # the outbox when the mail server is down
        r.goto(study_url)
        r.get_by_role("link", name="Edit the e-mail templates").click()
        _no_sideways_scroll(r, "mail templates")
        r.locator("textarea").first.fill("No link here")
        r.get_by_role("button", name="Save the templates").click()
        assert "missing {link}" in r.content()
        _no_sideways_scroll(r, "mail templates with errors")
        r.goto(study_url)
        smtp.stop()
        r.get_by_role("button", name="Send invitations").click()
        _no_sideways_scroll(r, "invitations confirmation")
        r.get_by_role("button", name="Send the invitations").click()
        r.locator("#mail-failures").wait_for(state="visible")  # the page after the redirect
        _no_sideways_scroll(r, "study page with unsent e-mails")
        smtp.start()
        r.get_by_role("button", name="Send unsent e-mails again").click()
        assert "Sent: 1 invitation," in r.locator("#mail-counts").inner_text()
        r.get_by_role("button", name="Send reminders").click()
        _no_sideways_scroll(r, "reminders confirmation")
        r.goto(study_url)
        r.get_by_role("button", name="Close round 1").click()
        _no_sideways_scroll(r, "close confirmation")
        assert r.locator("#phase").count() == 0  # not closed yet: a page of its own
        r.get_by_role("button", name="Close round 1").click()
        assert r.locator("#phase").inner_text() == "Round 2 open"
        _no_sideways_scroll(r, "closed study page")
        for path in ("/", "/account", "/admin", "/admin/audit", study_url.removeprefix(base) + "/audit",
                     study_url.removeprefix(base) + "/information",
                     study_url.removeprefix(base) + "/participants/delete"):
            r.goto(base + path)
            _no_sideways_scroll(r, path)
        ctx.close()
    assert len(CHECKED) == 22, CHECKED
