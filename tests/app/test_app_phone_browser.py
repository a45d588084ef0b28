"""One practitioner on a 390 px phone in Debian's Chromium, and axe-core on every page.

The issue's seven steps, in one run with one practitioner (Pat), against a live server
that sends e-mail through a real local SMTP server (aiosmtpd): Pat, invited by e-mail,
(1) answers three cases, (2) goes back and changes case 2, (3) reloads mid-typing and
finds the draft, (4) carries on in a second browser with a link the researcher
re-issued (the first browser is then refused), (5) submits on the review page, (6)
receives the round-2 e-mail when the researcher opens round 2 and follows what it says
(asks for the link again at ``/link``, and gets it by e-mail), and (7) revises an
answer in round 2. Each page state is checked with axe-core (installed from npm by
``make test`` into ``tests/app/node_modules``) at phone (390 px) and desktop (1280 px)
widths, expecting no violation, and the case page fits in 2.5 screens.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from app_axe import AXE, PHONE, check, need_axe
from app_bots import Practitioner, Researcher, csrf_of, default_answer
from app_mail import SmtpServer, links_in

from dsk.app import create_researcher
from dsk.app._live import LiveServer

PAT = "pat@example.org"


def _axe(page: Any, state: str, checked: list[str]) -> None:
    check(page, state, checked)


def _score(page: Any, level: int, rationale: str, agency: str,
           factor: str | None = None) -> None:
    page.get_by_role("radio", name=re.compile(rf"^{level} ")).check()
    page.get_by_label("How confident are you").fill("70")
    page.get_by_label("Risk of significant harm").select_option(str(level + 2))
    page.get_by_label("Why this level?").fill(rationale)
    if factor is not None:
        page.locator("#salient_factors-field > summary").click()
        page.get_by_label("Find a factor").fill(factor[:5])
        page.get_by_label(factor, exact=True).check()
    page.get_by_label("Which agency should lead?").select_option(label=agency)
    page.get_by_role("button", name="Save and continue").click()


def _new_phone(browser: Any) -> tuple[Any, Any, list[str]]:
    """A fresh phone browser (its own cookies) and a page in it; dialogs are recorded."""
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                              bypass_csp=True)  # lets axe-core in; the app's own
    ctx.set_default_timeout(15_000)                # scripts never need it
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return ctx, page, dialogs


def _only_link(message: Any, base: str, path: str) -> str:
    found = [u for u in links_in(message, base) if u.startswith(base + path)]
    assert len(found) == 1, message.get_content()
    return found[0]


def test_a_practitioner_on_a_phone(browser: Any, sqlite_url: str, tmp_path: Path,
                                   smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    need_axe()
    create_researcher(sqlite_url, "ada", "correct horse battery")
    monkeypatch.setenv("DSK_SMTP_URL", smtp.url)  # the live server's --smtp
    checked: list[str] = []
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http, \
            httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as colleague:
        base = server.url
        ada = Researcher(http)
        assert ada.login().status_code == 200
        study = ada.create_study(title="Phone pilot", deck_size=3, n_participants=5, rounds=2)
        r = ada.import_participants(study, f"label,email,site\nPat,{PAT},\n")
        assert r.status_code == 200, r.text  # Pat is participant 1
        links = ada.links(study)
        other = Practitioner(colleague, links[4])  # shares deck 1 with Pat
        other.consent()
        other.play_round()
        # Pat is invited by e-mail (a fresh link; the one just issued is replaced)
        page_ = http.get(f"/studies/{study}/mail/invitations")
        assert "1 participant with an e-mail address" in page_.text, page_.text
        assert http.post(f"/studies/{study}/mail/invitations",
                         data={"csrf_token": csrf_of(page_.text)}).status_code == 200
        invitation, = smtp.inbox.wait_for(PAT)
        assert invitation["Subject"] == "Invitation to the study “Phone pilot”"
        pat_link = _only_link(invitation, base, "/p/")
        smtp.inbox.take()

        ctx, page, dialogs = _new_phone(browser)
        page.goto(pat_link)
        page.add_script_tag(path=str(AXE))
        assert page.evaluate(  # axe-core finds a violation when there is one
            "async () => { const img = document.createElement('img'); img.src = '/x.png';"
            " document.querySelector('main').append(img); const r = await axe.run(document);"
            " img.remove(); return r.violations.map(v => v.id); }") == ["image-alt"]
        _axe(page, "consent", checked)
        page.get_by_role("button", name="Start").click()
        assert "Choose your profession" in page.locator("#errors").inner_text()
        assert page.evaluate("document.activeElement.id") == "errors"  # focus moved there
        _axe(page, "consent with errors", checked)
        page.get_by_label("Your profession", exact=True).select_option("social_worker")
        page.get_by_label("Years of experience in your profession", exact=True).fill("8")
        page.get_by_label("I have read the above").check()
        page.get_by_role("button", name="Start").click()

        # ---- case 1, empty: short on a phone, in the right tab order
        assert page.locator("h1").inner_text() == "Case 1 of 3"
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height <= 2.5 * PHONE["height"], height
        print(f"case page at 390 px: {height} px")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.locator("[tabindex]:not([tabindex='-1'])").count() == 0
        order = page.evaluate(
            "Array.from(document.querySelectorAll('#scoring input:not([type=hidden]), "
            "#scoring select, #scoring textarea, #scoring summary')).map(e => e.name || e.id "
            "|| e.tagName.toLowerCase()).filter((n, i, all) => all.indexOf(n) === i)")
        assert order == ["need_level", "level-help-summary", "confidence", "risk", "rationale",
                         "summary", "factor-filter", "salient_factors", "salient_other",
                         "lead_agency"], order  # what the levels mean: on demand, on a phone
        assert page.locator("#level-help dd").nth(1).is_hidden()
        page.locator("#level-help-summary").click()
        assert page.locator("#level-help dd").nth(1).is_visible()
        _axe(page, "case, what the levels mean", checked)
        page.locator("#level-help-summary").click()
        page.get_by_label("Why this level?").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"  # reasons -> factors
        assert page.locator("#factor-list").is_hidden()  # the factors open on demand
        _axe(page, "case, empty", checked)
        page.locator("#salient_factors-field > summary").click()
        page.get_by_label("Find a factor").fill("hous")
        assert page.get_by_label("Housing", exact=True).is_visible()
        assert page.get_by_label("Domestic abuse", exact=True).is_hidden()
        _axe(page, "case, factors filtered", checked)
        page.get_by_label("Find a factor").fill("")
        page.locator("#salient_factors-field > summary").click()

        # ---- 1. answer 3 cases (case 2 first refused: plain words, focus on the summary)
        _score(page, 3, "Several agencies are involved.", "The school", "Domestic abuse")
        assert page.locator("h1").inner_text() == "Case 2 of 3"
        page.get_by_label("Why this level?").fill("Not sure yet")
        page.get_by_role("button", name="Save and continue").click()
        assert page.locator("h1").inner_text() == "Case 2 of 3"
        assert "Choose a level of need" in page.locator("#errors").inner_text()
        assert page.evaluate("document.activeElement.id") == "errors"
        assert page.get_by_label("Why this level?").input_value() == "Not sure yet"
        _axe(page, "case with errors", checked)
        _score(page, 2, "Early help will do.", "The health visitor", "Housing")
        _score(page, 1, "Nothing more needed.", "The school")

        # the review page: every case, by level name, with a link to change it
        assert page.locator("h1").inner_text() == "Check your answers"
        review = page.locator("#cases-field").inner_text()
        assert "3 Team around the child" in review and "2 Targeted early help" in review
        _axe(page, "review", checked)

        # ---- 2. go back and change case 2
        page.get_by_role("link", name="Change case 2").click()
        assert page.locator("h1").inner_text() == "Case 2 of 3"
        assert page.locator("#saved-note").is_visible()
        page.get_by_role("radio", name=re.compile(r"^4 ")).check()
        page.get_by_label("Why this level?").fill("On reflection, the baby is at risk")
        page.get_by_role("button", name="Save and continue").click()
        assert page.locator("h1").inner_text() == "Check your answers"
        assert "4 Specialist or statutory" in page.locator("#case-2").inner_text()

        # ---- 3. reload mid-typing (case 3) and find the draft
        page.get_by_role("link", name="Change case 3").click()
        page.get_by_role("radio", name=re.compile(r"^2 ")).check()
        page.get_by_label("Why this level?").fill("The family asked for help with")
        page.locator("#draft-status", has_text="Draft saved").wait_for()
        page.reload()
        assert page.get_by_label("Why this level?").input_value() == (
            "The family asked for help with")
        assert page.locator("#draft-note").is_visible()  # from the server, not the browser
        assert page.locator("input[name=need_level]:checked").get_attribute("value") == "2"
        _axe(page, "case with a draft", checked)

        # ---- 4. the researcher re-issues Pat's link; Pat carries on in a second browser
        new_link = ada.reissue_link(study, 1)
        ctx2, page2, dialogs2 = _new_phone(browser)
        page2.goto(new_link)
        assert page2.locator("h1").inner_text() == "Carry on with “Phone pilot”"
        _axe(page2, "carry on here", checked)
        page2.get_by_role("button", name="Carry on here").click()
        assert page2.locator("h1").inner_text() == "Check your answers"
        page2.get_by_role("link", name="Change case 3").click()
        assert page2.get_by_label("Why this level?").input_value() == (
            "The family asked for help with")  # the draft, on the other device
        assert page2.locator("input[name=need_level]:checked").get_attribute("value") == "2"
        # the first browser is refused: its session and the old link have ended
        refused = page.reload()
        assert refused is not None and refused.status == 401
        assert "Not signed in" in page.locator("h1").inner_text()
        _axe(page, "old device refused", checked)
        gone = page.goto(pat_link)
        assert gone is not None and gone.status == 404
        ctx.close()
        page = page2
        page.get_by_label("Why this level?").fill("The family asked for help with housing.")
        page.get_by_role("button", name="Save and continue").click()
        assert page.locator("h1").inner_text() == "Check your answers"
        assert "2 Targeted early help" in page.locator("#case-3").inner_text()

        # ---- 5. submit on the review page: round 1 complete, and what comes next
        page.get_by_role("button", name="Submit my answers").click()
        assert page.locator("h1").inner_text() == "Round 1 complete"
        steps = page.locator("#next-steps").inner_text()
        assert "Round 2 opens when the researcher opens it." in steps
        assert "e-mail" in steps
        _axe(page, "round 1 complete", checked)
        for _ in range(3):  # Back never asks to send a form again: every entry is a GET
            page.go_back()
            assert page.url.startswith(base + "/s")
            assert page.locator("h1").inner_text() == "Round 1 complete"
        assert dialogs == dialogs2 == []

        # ---- leave this device, and carry on with the same link
        page.goto(base + "/s")
        page.get_by_role("button", name="Leave this device").click()
        assert page.locator("h1").inner_text() == "You have left this device"
        _axe(page, "left the device", checked)
        page.goto(new_link)
        page.get_by_role("button", name="Carry on here").click()
        assert page.locator("h1").inner_text() == "Round 1 complete"

        # ---- 6. round 2 opens: Pat gets the e-mail and follows what it says
        assert smtp.inbox.take() == []
        assert ada.close_round(study).status_code == 200
        notice, = smtp.inbox.wait_for(PAT)
        assert notice["Subject"] == "Round 2 of “Phone pilot” is open"
        assert "Round 2 is now open" in notice.get_content()
        smtp.inbox.take()
        page.goto(_only_link(notice, base, "/link"))  # ask for the link again
        _axe(page, "link request", checked)
        page.get_by_label("Your e-mail address").fill(PAT)
        page.get_by_role("button", name="Send me my link").click()
        assert page.locator("#link-sent").is_visible()
        _axe(page, "link requested", checked)
        resent, = smtp.inbox.wait_for(PAT)
        page.goto(_only_link(resent, base, "/p/"))
        # the link sent again ends the old link and session, and keeps the answers
        assert page.locator("h1").inner_text() == "Carry on with “Phone pilot”"
        page.get_by_role("button", name="Carry on here").click()

        # ---- 7. round 2, with colleagues' answers: Pat revises case 2
        assert page.locator("h1").inner_text() == "Case 1 of 3"
        assert page.locator("#feedback").is_visible()
        assert "Team around the child" in page.locator("#distribution").inner_text()
        _axe(page, "round 2 with feedback", checked)
        page.get_by_role("button", name="Save and continue").click()
        assert page.locator("h1").inner_text() == "Case 2 of 3"
        page.get_by_role("radio", name=re.compile(r"^3 ")).check()
        page.get_by_label("Why this level?").fill("Colleagues convinced me: a team will do.")
        page.get_by_role("button", name="Save and continue").click()
        page.get_by_role("button", name="Save and continue").click()
        assert "3 Team around the child" in page.locator("#case-2").inner_text()
        _axe(page, "round 2 review", checked)
        page.get_by_role("button", name="Submit my answers").click()
        assert page.locator("h1").inner_text() == "All done"
        _axe(page, "all done", checked)
        table = pd.read_csv(io.StringIO(http.get(f"/studies/{study}/judgements.csv").text))
        pat = table[table["rater_id"] == table.loc[table["rationale"].str.startswith(
            "On reflection", na=False), "rater_id"].iloc[0]]
        assert sorted(pat["round"]) == [1, 1, 1, 2, 2, 2]
        by_round = pat.set_index(["round", "rationale"])["need_level"].to_dict()
        assert by_round[(1, "On reflection, the baby is at risk")] == 4
        assert by_round[(1, "The family asked for help with housing.")] == 2
        assert by_round[(2, "Colleagues convinced me: a team will do.")] == 3

        # ---- withdrawing
        page.goto(base + "/s/withdraw")
        _axe(page, "withdraw", checked)
        page.get_by_role("button", name=re.compile("Withdraw")).click()
        _axe(page, "withdrawn", checked)
        assert dialogs2 == []
        ctx2.close()
        table_after = http.get(f"/studies/{study}/judgements.csv").text
        assert "On reflection" not in table_after  # withdrawn: the answers are gone
    assert len(checked) == 19, checked
    assert default_answer(0)  # the colleague's answers came from the shared bots


def test_every_core_60_case_fits_in_two_and_a_half_phone_screens(
        browser: Any, sqlite_url: str, tmp_path: Path) -> None:
    """All 60 cases of ``core-60`` at 390 x 844 px (a phone's CSS viewport: 2.5 screens
    are 2,110 px), the longest narrative (about 2,200 characters) included, in full:
    the layout makes them fit, never a shortened text."""
    create_researcher(sqlite_url, "ada", "correct horse battery")
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http:
        ada = Researcher(http)
        assert ada.login().status_code == 200
        study = ada.create_study(title="All of core", set_id="core-60", deck_size=60,
                                 n_participants=1, rounds=1)
        link, = ada.links(study)
        ctx, page, _ = _new_phone(browser)
        page.goto(link)
        page.get_by_label("Your profession", exact=True).select_option("social_worker")
        page.get_by_label("Years of experience in your profession", exact=True).fill("8")
        page.get_by_label("I have read the above").check()
        page.get_by_role("button", name="Start").click()
        heights: dict[int, tuple[int, int]] = {}
        for position in range(1, 61):
            page.goto(f"{server.url}/s/case/{position}")
            heights[position] = page.evaluate(
                "[document.documentElement.scrollHeight, "
                "document.querySelector('.narrative').innerText.length]")
        ctx.close()
    longest = max(heights, key=lambda k: heights[k][1])
    tallest = max(heights, key=lambda k: heights[k][0])
    print(f"longest narrative: case {longest}, {heights[longest][1]} characters, "
          f"{heights[longest][0]} px; tallest page: case {tallest}, {heights[tallest][0]} px")
    assert heights[longest][1] > 2100  # the long one really is there, in full
    too_tall = {k: v[0] for k, v in heights.items() if v[0] > 2.5 * PHONE["height"]}
    assert too_tall == {}, too_tall
