"""The researcher's pages at 320 px in Debian's Chromium (Playwright), against a live
server: no page scrolls sideways (the study page in each state, its confirmation pages,
the links pages, the dashboard, account, admin, audit, information and deletion pages),
and the participant list is imported, links are re-issued and a round is closed only
after confirming."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import update

from dsk.app import create_researcher, open_database
from dsk.app._live import LiveServer
from dsk.app._models import Participant, Response

PEOPLE = ("label,email,site,profession\n"
          "Anna Marie Longfellow-Featherstonehaugh,anna.marie.longfellow@example.org,"
          "Leeds,social_worker\n"
          "Ben,ben@example.org,York,General practitioner\n"
          "Cara,,Leeds,\n")


def _no_sideways_scroll(page: Any, what: str) -> None:
    page.wait_for_load_state()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{what}: the page is {width} px wide at 320 px"


def test_researcher_pages_reflow_at_320_px(browser: Any, sqlite_url: str,
                                           tmp_path: Path) -> None:
    create_researcher(sqlite_url, "ada", "correct horse battery", admin=True)
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE, encoding="utf-8")
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server:
        base = server.url
        ctx = browser.new_context(viewport={"width": 320, "height": 640},
                                  accept_downloads=True)
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
