"""One practitioner on a 390 px phone in Debian's Chromium, and axe-core on every page.

The practitioner answers three cases, goes back and changes case 2, reloads mid-typing
and finds the draft, and submits on the review page; then round 2 with colleagues'
answers. Each page state of the practitioner's flow is checked with axe-core (installed
from npm by ``make test`` into ``tests/app/node_modules``) at phone (390 px) and desktop
(1280 px) widths, expecting no violation, and the case page fits in 2.5 screens.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_bots import Practitioner, Researcher, default_answer

from dsk.app import create_researcher
from dsk.app._live import LiveServer

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _axe(page: Any, state: str, checked: list[str]) -> None:
    """No axe-core violation on the page as it is, at phone and at desktop width."""
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        found = page.evaluate(
            "async () => (await axe.run(document)).violations.map("
            "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))")
        assert found == [], f"{state} at {size['width']} px: {found}"
    page.set_viewport_size(PHONE)
    checked.append(state)


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


def test_a_practitioner_on_a_phone(browser: Any, sqlite_url: str, tmp_path: Path) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: `make test` installs axe-core with npm in tests/app")
    create_researcher(sqlite_url, "ada", "correct horse battery")
    checked: list[str] = []
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as http, \
            httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as colleague:
        ada = Researcher(http)
        assert ada.login().status_code == 200
        study = ada.create_study(title="Phone pilot", deck_size=3, n_participants=5, rounds=2)
        links = ada.links(study)
        other = Practitioner(colleague, links[4])  # shares deck 1 with the practitioner
        other.consent()
        other.play_round()

        ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                  bypass_csp=True)  # lets axe-core in; the app's own
        ctx.set_default_timeout(15_000)                # scripts never need it
        page = ctx.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(links[0])
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
        assert order == ["need_level", "confidence", "risk", "rationale", "summary",
                         "factor-filter", "salient_factors", "salient_other", "lead_agency"], order
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

        # ---- answer 3 cases (case 2 first refused: plain words, focus on the summary)
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

        # ---- the review page: every case, by level name, with a link to change it
        assert page.locator("h1").inner_text() == "Check your answers"
        review = page.locator("#cases-field").inner_text()
        assert "3 Team around the child" in review and "2 Targeted early help" in review
        _axe(page, "review", checked)

        # ---- go back and change case 2; reload mid-typing and find the draft
        page.get_by_role("link", name="Change case 2").click()
        assert page.locator("h1").inner_text() == "Case 2 of 3"
        assert page.locator("#saved-note").is_visible()
        page.get_by_role("radio", name=re.compile(r"^4 ")).check()
        page.get_by_label("Why this level?").fill("On reflection, the baby is at risk")
        page.locator("#draft-status", has_text="Draft saved").wait_for()
        page.reload()
        assert page.get_by_label("Why this level?").input_value() == (
            "On reflection, the baby is at risk")
        assert page.locator("#draft-note").is_visible()  # from the server, not the browser
        assert page.locator("input[name=need_level]:checked").get_attribute("value") == "4"
        _axe(page, "case with a draft", checked)
        page.get_by_role("button", name="Save and continue").click()
        assert page.locator("h1").inner_text() == "Check your answers"
        assert "4 Specialist or statutory" in page.locator("#case-2").inner_text()

        # ---- submit on the review page: round 1 complete, and what comes next
        page.get_by_role("button", name="Submit my answers").click()
        assert page.locator("h1").inner_text() == "Round 1 complete"
        steps = page.locator("#next-steps").inner_text()
        assert "Round 2 opens when the researcher opens it." in steps
        assert "e-mail" in steps
        _axe(page, "round 1 complete", checked)
        for _ in range(3):  # Back never asks to send a form again: every entry is a GET
            page.go_back()
            assert page.url.startswith(server.url + "/s")
            assert page.locator("h1").inner_text() == "Round 1 complete"
        assert dialogs == []

        # ---- leave the device, and carry on with the same link
        page.goto(server.url + "/s")
        page.get_by_role("button", name="Leave this device").click()
        assert page.locator("h1").inner_text() == "You have left this device"
        _axe(page, "left the device", checked)
        page.goto(links[0])
        _axe(page, "carry on here", checked)
        page.get_by_role("button", name=re.compile("Carry on")).click()
        assert page.locator("h1").inner_text() == "Round 1 complete"

        # ---- round 2, with colleagues' answers
        assert ada.close_round(study).status_code == 200
        page.goto(server.url + "/s")
        assert page.locator("#feedback").is_visible()
        assert "Team around the child" in page.locator("#distribution").inner_text()
        _axe(page, "round 2 with feedback", checked)
        for _ in range(3):
            page.get_by_role("button", name="Save and continue").click()
        _axe(page, "round 2 review", checked)
        page.get_by_role("button", name="Submit my answers").click()
        assert page.locator("h1").inner_text() == "All done"
        _axe(page, "all done", checked)

        # ---- withdrawing
        page.goto(server.url + "/s/withdraw")
        _axe(page, "withdraw", checked)
        page.get_by_role("button", name=re.compile("Withdraw")).click()
        _axe(page, "withdrawn", checked)
        assert dialogs == []
        ctx.close()
        table = http.get(f"/studies/{study}/judgements.csv").text
        assert "On reflection" not in table  # withdrawn: the answers are gone
    assert len(checked) == 15
    assert default_answer(0)  # the colleague's answers came from the shared bots
