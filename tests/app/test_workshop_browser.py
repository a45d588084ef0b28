"""A workshop in Debian's Chromium: a trainer at a 1920x1080 projector and five phones.

Against a live server: the trainer creates the ready-made workshop; five phones (390 px
contexts, each its own cookies) join with the code; on two cases the room votes, the
trainer reveals in stages (room, checklist, reference panel, note), shows a what-if
variant, the room votes on it, then re-votes after discussion; the trainer ends the
workshop. Every phone follows without a reload (the page's live part is swapped in
when the state's version changes), axe-core finds no violation on the phone and
projector pages, and the export holds every vote once. With ``DSK_SCREENSHOTS=1`` the
run saves the screenshots of ``docs/trainers.md`` into ``docs/images/``.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from app_axe import PHONE, check, need_axe

from dsk.app import create_researcher
from dsk.app._live import LiveServer
from dsk.catalogue import load_catalogue
from dsk.narrative import household
from dsk.schema import validate
from dsk.sets import load_set

PROJECTOR = {"width": 1920, "height": 1080}
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SHOOT = os.environ.get("DSK_SCREENSHOTS") == "1"


def _shot(page: Any, name: str) -> None:
    if SHOOT:
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / f"workshop-{name}.png"),
                        full_page=name.startswith("projector"))


def _click(trainer: Any, button: str) -> None:
    trainer.locator(f"#do-{button}").click()
    trainer.wait_for_load_state()


def _all_show(phones: list[Any], text: str) -> None:
    for phone in phones:
        phone.get_by_text(text).first.wait_for(timeout=15_000)


def _vote(phone: Any, level: int, reason: str = "") -> None:
    phone.get_by_role("radio", name=re.compile(rf"^{level} ")).check()
    if reason:
        phone.get_by_label("Why, in one line").fill(reason)
    phone.get_by_role("button", name=re.compile("Vote|Change my vote")).click()
    phone.get_by_text(f"Your vote: level {level}").wait_for()


def _child_of(vignette_id: str) -> str:
    """The first name of the child of one training-12 case, as its narrative gives it."""
    catalogue = load_catalogue()
    row = load_set("training-12", catalogue).set_index("vignette_id").loc[vignette_id]
    return household({**row.to_dict(), "vignette_id": vignette_id}, catalogue).child.first


def test_a_workshop_with_five_phones(browser: Any, sqlite_url: str, tmp_path: Path) -> None:
    need_axe()
    create_researcher(sqlite_url, "tina", "correct horse battery")
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE researchers SET is_trainer = 1 WHERE username = 'tina'")
    checked: list[str] = []
    with LiveServer(sqlite_url, log=tmp_path / "server.log") as server:
        base = server.url
        tctx = browser.new_context(viewport=PROJECTOR, bypass_csp=True)
        tctx.set_default_timeout(15_000)
        trainer = tctx.new_page()
        trainer.goto(base + "/login")
        trainer.get_by_label("User name").fill("tina")
        trainer.get_by_label("Password").fill("correct horse battery")
        trainer.get_by_role("button", name="Log in").click()
        trainer.goto(base + "/workshops")
        check(trainer, "workshop list", checked, back_to=PROJECTOR)
        trainer.locator("#ready-made").click()
        code = trainer.locator("#code").inner_text()
        assert re.fullmatch(r"[A-Z0-9]{6}", code)
        _shot(trainer, "projector-join")
        check(trainer, "projector: voting", checked, back_to=PROJECTOR)

        phones, contexts = [], []
        for i in range(5):
            ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                      bypass_csp=True)
            ctx.set_default_timeout(15_000)
            phone = ctx.new_page()
            phone.goto(f"{base}/w?code={code}" if i else f"{base}/w")
            if i == 0:
                phone.get_by_label("Code on the screen").fill(code.lower())
                check(phone, "phone: join", checked)
                _shot(phone, "phone-join")
            phone.get_by_label("Your name").fill(f"Phone {i + 1}")
            phone.get_by_role("button", name="Join").click()
            phone.get_by_text("Level of need").wait_for()
            phones.append(phone)
            contexts.append(ctx)
        trainer.reload()
        assert "Phones in the room (5)" in trainer.content()

        # case 1: vote, then reveal step by step
        for phone, level in zip(phones, (4, 4, 4, 3, 4), strict=True):
            _vote(phone, level, "a disclosure")
        check(phones[0], "phone: voted", checked)
        _shot(phones[0], "phone-vote")
        trainer.locator("#voted-n").filter(has_text="5").wait_for()  # live count, no reload
        _click(trainer, "reveal")
        _all_show(phones, "Votes are closed for this case")
        assert trainer.locator("#room-answers").is_visible()
        _click(trainer, "reveal")
        assert "decisive" in trainer.locator("#checklist").inner_text()
        _click(trainer, "reveal")
        _click(trainer, "reveal")
        assert trainer.locator("#note").is_visible()
        _shot(trainer, "projector-reveal")
        check(trainer, "projector: everything revealed", checked, back_to=PROJECTOR)

        # case 2: vote, reveal the room, a what-if, a re-vote on the variant
        _click(trainer, "next")
        _all_show(phones, "Level of need")
        child = _child_of("wicked-05-toxic-trio-baby")
        for phone in phones:
            assert child in phone.locator("#live").inner_text()
        for phone, level in zip(phones, (4, 3, 3, 4, 3), strict=True):
            _vote(phone, level)
        _click(trainer, "reveal")
        trainer.get_by_label("Change one factor of this case to").select_option(
            "domestic_abuse:none")
        _click(trainer, "vary")
        _all_show(phones, "What if: domestic_abuse: historic -> none")
        check(phones[1], "phone: what-if", checked)
        _shot(phones[1], "phone-whatif")
        for phone, level in zip(phones, (3, 3, 2, 3, 2), strict=True):
            _vote(phone, level)
        _click(trainer, "reveal")
        _click(trainer, "reveal")
        text = trainer.locator("#checklist").inner_text()
        assert "As first shown" in text and "What if" in text
        _shot(trainer, "projector-whatif")
        check(trainer, "projector: what-if", checked, back_to=PROJECTOR)
        _click(trainer, "revote")
        _all_show(phones, "re-vote")
        for phone, level in zip(phones, (3, 3, 3, 3, 2), strict=True):
            _vote(phone, level)
        _click(trainer, "end")
        _all_show(phones, "The workshop has ended")
        check(phones[4], "phone: ended", checked)
        assert "Krippendorff" in trainer.locator("#agreement").inner_text()
        assert "5 voters" in trainer.locator("#agreement").inner_text()
        _shot(trainer, "projector-end")

        cookies = {c["name"]: c["value"] for c in tctx.cookies()}
        export = httpx.get(base + "/workshops/1/judgements.csv", cookies=cookies)
        assert export.status_code == 200
        table = validate(pd.read_csv(io.StringIO(export.text)), "judgements")
        variant = "wicked-05-toxic-trio-baby-domestic_abuse-none"
        assert table.groupby(["vignette_id", "round"]).size().to_dict() == {
            ("tame-01-disclosure", 1): 5, ("wicked-05-toxic-trio-baby", 1): 5,
            (variant, 1): 5, (variant, 2): 5}
        assert table["rater_id"].nunique() == 5
        for ctx in [*contexts, tctx]:
            ctx.close()
    assert len(checked) == 8
