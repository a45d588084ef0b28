"""A whole study in Debian's Chromium driven by Playwright, against a live server on 127.0.0.1.

The researcher logs in and creates a two-round study; two practitioners follow their
one-time links, consent and score their decks (one with JavaScript off on a phone-sized
screen); one closes the browser mid-deck and resumes; the researcher closes round 1;
both revise in round 2 after seeing colleagues' answers; the researcher downloads the
export, which the analysis pipeline reads.
"""

from __future__ import annotations

import re
from pathlib import Path

from dsk.app import create_researcher
from dsk.app._live import LiveServer
from dsk.io import read_table

PAYLOAD = "<script>alert('x')</script> worried about the baby"



def _score(page, level: int, rationale: str, factors: list[str], agency: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("radio", name=re.compile(rf"^{level} ")).check()
    page.get_by_label("How confident are you").fill("75")
    page.get_by_label("Risk of significant harm").select_option(str(level + 2))
    if factors and page.locator("#salient_factors-field[open]").count() == 0:
        page.locator("#salient_factors-field > summary").click()  # the list opens on demand
    for label in factors:
        page.get_by_label(label, exact=True).check()
    page.get_by_label("Why this level?").fill(rationale)
    page.get_by_label("Which agency should lead?").select_option(label=agency)
    page.get_by_role("button", name="Save and continue").click()


def _case(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("h1").inner_text()


def test_whole_study_in_chromium(browser, sqlite_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    create_researcher(sqlite_url, "ada", "correct horse battery")
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server:
        base = server.url
        # ---- researcher creates the study
        rctx = browser.new_context(accept_downloads=True)
        rctx.set_default_timeout(15_000)
        r = rctx.new_page()
        r.goto(base + "/")
        assert r.url.endswith("/login")
        r.get_by_label("User name").fill("ada")
        r.get_by_label("Password", exact=True).fill("correct horse battery")
        r.get_by_role("button", name="Log in").click()
        r.get_by_label("Title", exact=True).fill("Browser pilot")
        r.get_by_label("Vignette set").select_option("training-12")
        r.get_by_label("Vignettes per practitioner").fill("3")
        r.get_by_label("Participants", exact=True).fill("5")  # 4 decks: participants 1 and 5 share deck 1
        r.get_by_label("Two rounds, with deliberation between them").check()
        r.get_by_role("button", name="Create study").click()
        assert r.locator("#phase").inner_text() == "Round 1 open"
        study_url = r.url
        r.get_by_role("button", name="Create participant links").click()
        r.get_by_role("button", name="Create the links and show them").click()  # confirmed
        rows = r.locator("#links tbody tr")
        links = {rows.nth(i).locator("td").first.inner_text():
                 rows.nth(i).locator("a").get_attribute("href") for i in range(rows.count())}
        assert len(links) == 5 and all(u.startswith(base + "/p/") for u in links.values())
        link_a, link_b = links["s1-p01"], links["s1-p05"]

        # ---- practitioner A: desktop, JavaScript on; closes the browser after one case
        actx = browser.new_context()
        actx.set_default_timeout(15_000)
        a = actx.new_page()
        dialogs: list[str] = []
        a.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        a.goto(link_a)
        a.get_by_label("Your profession", exact=True).select_option("social_worker")
        a.get_by_label("Years of experience in your profession", exact=True).fill("12")
        a.get_by_label("I have read the above").check()
        a.get_by_role("button", name="Start").click()
        assert _case(a) == "Case 1 of 3"
        levels_a = [4, 3, 2]
        _score(a, levels_a[0], "Disclosure means statutory.", ["Disclosure of abuse"],
               "Children's social care")
        assert _case(a) == "Case 2 of 3"
        state = actx.storage_state()
        actx.close()  # closes the browser mid-deck
        actx = browser.new_context(storage_state=state)
        actx.set_default_timeout(15_000)
        a = actx.new_page()
        a.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        a.goto(base + "/s")
        assert _case(a) == "Case 2 of 3"  # resumed where it was
        # a refused answer: no level chosen -> clear message, nothing lost
        a.get_by_label("Why this level?").fill("unsure")
        a.get_by_role("button", name="Save and continue").click()
        assert "Choose a level of need" in a.locator("#errors").inner_text()
        for level in levels_a[1:]:
            _score(a, level, "Several agencies involved.", ["Domestic abuse"], "The school")
        a.get_by_role("button", name="Submit my answers").click()
        assert "Round 1 complete" in a.locator("h1").inner_text()

        # ---- practitioner B: phone-sized, JavaScript off
        bctx = browser.new_context(java_script_enabled=False, viewport={"width": 375,
                                                                         "height": 700},
                                   is_mobile=True, has_touch=True)
        bctx.set_default_timeout(15_000)
        b = bctx.new_page()
        b.goto(link_b)
        b.get_by_label("Your profession", exact=True).select_option("police")
        b.get_by_label("Years of experience in your profession", exact=True).fill("3")
        b.get_by_label("I have read the above").check()
        b.get_by_role("button", name="Start").click()
        for _ in range(3):
            _score(b, 1, PAYLOAD, ["Domestic abuse", "Housing"], "The police service")
        b.get_by_role("button", name="Submit my answers").click()
        assert "Round 1 complete" in b.locator("h1").inner_text()
        # a forged link is refused in the browser too
        b.goto(base + "/p/not-a-real-link")
        assert "link is not valid" in b.locator("#error-message").inner_text()

        # layout fits a phone: measured in a JS-enabled phone context on the same page
        pctx = browser.new_context(storage_state=bctx.storage_state(),
                                   viewport={"width": 375, "height": 700}, is_mobile=True)
        p = pctx.new_page()
        p.goto(base + "/s")
        assert p.evaluate("document.documentElement.scrollWidth") <= 375
        pctx.close()

        # ---- researcher closes round 1
        r.goto(study_url)
        assert r.locator("#progress").inner_text().count("3 / 3") == 2
        assert PAYLOAD in r.locator("#reasons").inner_text()  # shown as text, not run
        r.get_by_role("button", name="Close round 1").click()
        r.get_by_role("button", name="Close round 1").click()  # on the confirmation page
        assert r.locator("#phase").inner_text() == "Round 2 open"

        # ---- round 2: A sees the others' levels with own answer marked, and factors
        a.goto(base + "/s")
        assert a.locator("#feedback").is_visible()
        own = a.locator("#distribution tr.own th").inner_text()
        assert own.startswith(f"{levels_a[0]} ")  # round 2 starts again at case 1
        assert "your round-1 answer, not counted" in a.locator("#distribution").inner_text()
        assert "Domestic abuse" in a.locator("#top-factors").inner_text()
        # one colleague answered these cases: too few for their reasons to be shown
        assert a.locator("#rationales-withheld").is_visible()
        assert a.locator("#rationales").count() == 0
        levels_a2 = []
        for _ in range(3):
            kept = int(a.locator("input[name=need_level]:checked").get_attribute("value"))
            levels_a2.append(kept)
            a.get_by_role("button", name="Save and continue").click()  # keeps round-1 answers
        a.get_by_role("button", name="Submit my answers").click()
        assert "All done" in a.locator("h1").inner_text()
        assert dialogs == []
        b.goto(base + "/s")
        assert "What colleagues said in round 1" in b.locator("#feedback h2").inner_text()
        for _ in range(3):
            _score(b, 2, "Revised after seeing colleagues.", [], "Children's social care")
        b.get_by_role("button", name="Submit my answers").click()
        assert "All done" in b.locator("h1").inner_text()

        # ---- researcher exports; the analysis pipeline reads it
        r.goto(study_url)
        assert r.locator("#progress").inner_text().count("3 / 3") == 4
        with r.expect_download() as info:
            r.get_by_role("link", name="Judgements (CSV)").click()
        path = tmp_path / "judgements.csv"
        info.value.save_as(path)
        with r.expect_download() as info:
            r.get_by_role("link", name="Judgements (Parquet)").click()
        info.value.save_as(tmp_path / "judgements.parquet")
        for name in ("judgements.csv", "judgements.parquet"):
            table = read_table(tmp_path / name, "judgements")
            assert len(table) == 12
            a1 = table[(table["rater_id"] == "s1-p01") & (table["round"] == 1)]
            assert a1["need_level"].tolist() == levels_a
            a2 = table[(table["rater_id"] == "s1-p01") & (table["round"] == 2)]
            assert sorted(a2["need_level"].tolist()) == sorted(levels_a2) == sorted(levels_a)
            b1 = table[(table["rater_id"] == "s1-p05") & (table["round"] == 1)]
            b2 = table[(table["rater_id"] == "s1-p05") & (table["round"] == 2)]
            assert b1["need_level"].tolist() == [1, 1, 1] and b2["need_level"].tolist() == [2] * 3
            assert set(b1["rationale"]) == {PAYLOAD}
            assert set(table["profession"]) == {"social_worker", "police"}
            assert set(b1["vignette_id"]) == set(a1["vignette_id"])  # the shared deck
        for ctx in (rctx, actx, bctx):
            ctx.close()
