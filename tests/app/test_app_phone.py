"""A practitioner on a phone: change and review, submit, drafts, post-redirect-get.

Bots over HTTP (``app_bots``) on SQLite and PostgreSQL: an answer is changed before the
round is submitted and replaced in the export; every form answers a redirect (303) to
a page read with GET; drafts kept on one client are found on another; a round closing
mid-draft keeps the draft and says so; at most five factors.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import pandas as pd
import pytest
from app_bots import Practitioner, Researcher, csrf_of, default_answer, form_token_of
from sqlalchemy import func, select

from dsk.app import _practitioner
from dsk.app._models import Assignment, Draft, Participant, Response, RoundSubmission

FACTORS = ["domestic_abuse", "parental_mental_health", "housing", "disclosure",
           "school_attendance", "parental_substance_misuse"]


def _started(make_client, researcher: Researcher, *, deck: int = 3, rounds: int = 2,
             n: int = 1) -> tuple[int, list[Practitioner]]:  # type: ignore[no-untyped-def]
    study = researcher.create_study(deck_size=deck, n_participants=n, rounds=rounds)
    bots = [Practitioner(make_client(), link) for link in researcher.links(study)]
    for bot in bots:
        assert bot.consent().status_code == 200
    return study, bots


def _post(bot: Practitioner, path: str, data: dict) -> tuple[int, str]:  # type: ignore[type-arg]
    r = bot.client.post(path, data=data, follow_redirects=False)
    return r.status_code, r.headers.get("location", "")


def _judgements(researcher: Researcher, study: int) -> pd.DataFrame:
    """The export: submitted answers only."""
    csv = researcher.client.get(f"/studies/{study}/judgements.csv").text
    return pd.read_csv(io.StringIO(csv))


def _saved(researcher: Researcher, study: int) -> pd.DataFrame:
    """Every saved answer of the study, submitted or not (from the database), in the
    order of the export."""
    with _db(researcher) as db:
        rows = db.execute(
            select(Response.round, Participant.number, Assignment.position,
                   Response.need_level, Response.rationale, Response.seconds)
            .join(Participant, Participant.id == Response.participant_id)
            .join(Assignment, (Assignment.participant_id == Response.participant_id)
                  & (Assignment.vignette_id == Response.vignette_id))
            .where(Response.study_id == study)
            .order_by(Response.round, Participant.number, Assignment.position)).all()
    return pd.DataFrame(rows, columns=["round", "number", "position", "need_level",
                                       "rationale", "seconds"])


def test_change_an_answer_then_review_and_submit(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study, (bot,) = _started(make_client, researcher)
    titles = bot.play_round(finish=False)
    assert titles == ["Case 1 of 3", "Case 2 of 3", "Case 3 of 3"]
    review = html.unescape(bot.page().text)  # every case answered: the review page
    assert "Check your answers" in review and "Submit my answers" in review
    # levels by name, never by id; each case with a link to change it
    assert "2 Targeted early help" in review and "targeted" not in review.split("<main")[1]
    assert [int(n) for n in re.findall(r'href="/s/case/(\d)"', review)] == [1, 2, 3]
    before = _saved(researcher, study)
    assert len(_judgements(researcher, study)) == 0  # not exported before "Submit"
    # go back to case 2: the saved answer is filled in; change it
    page = bot.case(2).text
    assert "Case 2 of 3" in page and "Your saved answer is filled in below" in page
    assert 'value="2" required checked' in page  # default_answer(1): level 2
    changed = default_answer(1) | {"need_level": "4", "rationale": "Changed my mind."}
    assert _post(bot, "/s/answer", changed | {"csrf_token": csrf_of(page),
                                              "form_token": form_token_of(page)}) == (303, "/s")
    review = html.unescape(bot.page().text)
    row = re.search(r'<li id="case-2">(.*?)</li>', review, re.S)
    assert row and "4 Specialist or statutory" in row.group(1)
    after = _saved(researcher, study)
    assert len(after) == len(before) == 3  # one row per participant, vignette and round
    two = after[after["position"] == 2].iloc[0]
    old = before[before["position"] == 2].iloc[0]
    assert (two["need_level"], two["rationale"]) == (4, "Changed my mind.")
    assert two["seconds"] >= old["seconds"]  # the visits' times add up
    assert list(after[after["position"] != 2]["need_level"]) == list(
        before[before["position"] != 2]["need_level"])
    # submit: final
    kept = bot.case(3).text  # a case page shown before submitting
    page = bot.client.get("/s/review").text
    assert _post(bot, "/s/submit", {"csrf_token": csrf_of(page), "round": "1"}) == (303, "/s")
    done = html.unescape(bot.page().text)
    assert "Round 1 complete" in done
    assert "Round 2 opens when the researcher opens it." in done
    assert "if the researcher has your e-mail address, you will get an e-mail" in done
    late = bot.submit(kept, default_answer(2) | {"need_level": "1"})
    assert late.status_code == 409 and "they are final" in html.unescape(late.text)
    assert bot.draft(kept, {"rationale": "more"}).status_code == 409
    # submitting again, or the case and review pages: back to what comes next
    assert _post(bot, "/s/submit", {"csrf_token": csrf_of(page), "round": "1"}) == (303, "/s")
    assert bot.client.get("/s/case/2", follow_redirects=False).headers["location"] == "/s"
    assert bot.client.get("/s/review", follow_redirects=False).headers["location"] == "/s"
    with _db(researcher) as db:
        assert db.scalar(select(func.count()).select_from(RoundSubmission)) == 1
    assert "submitted their answers of a round" in html.unescape(
        researcher.client.get(f"/studies/{study}/audit").text)
    assert _judgements(researcher, study)["need_level"].tolist() == after["need_level"].tolist()


def _db(researcher: Researcher):  # type: ignore[no-untyped-def]
    return researcher.client.app.state.core.db()  # type: ignore[attr-defined]


def test_every_form_answers_a_redirect(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    """POST-redirect-GET: consent (refused and given), an answer (refused and saved), a
    refused and a done submit, leaving a device and withdrawing each answer 303."""
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    link = researcher.links(study)[0]
    bot = Practitioner(make_client(), link)
    page = bot.client.get(bot.link).text
    assert _post(bot, bot.link, {"csrf_token": csrf_of(page)}) == (303, bot.link)
    again = html.unescape(bot.client.get(bot.link).text)
    assert "Choose your profession" in again and 'id="errors" tabindex="-1"' in again
    assert "autofocus" not in again
    assert _post(bot, bot.link, {"profession": "gp", "experience_years": "4", "consent": "yes",
                                 "csrf_token": csrf_of(page)}) == (303, "/s")
    page = bot.page().text
    form = {"csrf_token": csrf_of(page), "form_token": form_token_of(page)}
    assert _post(bot, "/s/answer", form | {"rationale": "half"}) == (303, "/s/case/1")
    shown = html.unescape(bot.client.get("/s/case/1").text)
    summary = shown[shown.index('id="errors"'):shown.index("</div>", shown.index('id="errors"'))]
    for field, message in [("need_level", "Choose a level of need"),
                           ("confidence", "Say how confident you are, from 0 to 100"),
                           ("risk", "Choose a risk of significant harm from 0 to 10"),
                           ("lead_agency", "Choose the agency that should lead")]:
        assert f'<a href="#{field}-field">{message}</a>' in summary
    assert ">half</textarea>" in shown  # what was typed is kept
    review = bot.client.get("/s/review").text
    assert _post(bot, "/s/submit", {"csrf_token": csrf_of(review), "round": "1"}) == (
        303, "/s/review")
    assert "Answer cases 1, 2 before you submit" in html.unescape(bot.client.get("/s/review").text)
    for position in (0, 1):
        page = bot.page().text
        assert _post(bot, "/s/answer", default_answer(position) | {
            "csrf_token": csrf_of(page), "form_token": form_token_of(page)}) == (303, "/s")
    review = bot.page().text
    assert _post(bot, "/s/submit", {"csrf_token": csrf_of(review), "round": "1"}) == (303, "/s")
    assert "All done" in bot.page().text
    assert _post(bot, "/s/leave", {"csrf_token": csrf_of(review)}) == (303, "/s/left")
    other = Practitioner(make_client(), link)
    resume = other.client.get(other.link).text
    assert _post(other, other.link, {"csrf_token": csrf_of(resume)}) == (303, "/s")
    withdraw = other.client.get("/s/withdraw").text
    status, where = _post(other, "/s/withdraw", {"csrf_token": csrf_of(withdraw)})
    assert status == 303 and where.startswith("/withdrawn")
    with _db(researcher) as db:  # withdrawing deletes drafts and submissions too
        assert db.scalar(select(func.count()).select_from(Draft)) == 0
        assert db.scalar(select(func.count()).select_from(RoundSubmission)) == 0


def test_drafts_follow_to_another_device(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study, (bot,) = _started(make_client, researcher, rounds=1)
    page = bot.page().text
    typed = {"need_level": "3", "rationale": "Half a thought about the", "risk": "4",
             "salient_factors": ["housing", "not_a_factor"], "confidence": "x" * 90}
    assert bot.draft(page, typed).status_code == 204
    assert bot.draft(page, typed | {"rationale": "Half a thought about the baby"}
                     ).status_code == 204
    again = bot.page().text  # a reload
    assert "Your draft is filled in below" in again
    assert ">Half a thought about the baby</textarea>" in again
    assert 'value="3" required checked' in again and '<option value="4" selected>' in again
    assert 'value="housing" checked' in again and "not_a_factor" not in again
    assert 'value="' + "x" * 40 + '"' in again  # cut to what the field holds
    # another device: leave this one, carry on elsewhere, find the draft there
    assert _post(bot, "/s/leave", {"csrf_token": csrf_of(again)})[0] == 303
    other = Practitioner(make_client(), bot.link)
    resume = other.client.get(other.link).text
    there = other.client.post(other.link, data={"csrf_token": csrf_of(resume)}).text
    assert "Case 1 of 3" in there and ">Half a thought about the baby</textarea>" in there
    with _db(researcher) as db:
        assert db.scalar(select(func.count()).select_from(Draft)) == 1
    # saving the answer ends the draft; a draft sent late by the old page keeps nothing
    saved = other.submit(there, default_answer(0) | {"rationale": "Whole thought."})
    assert "Case 2 of 3" in saved.text
    assert other.draft(there, {"rationale": "late"}).status_code == 204
    assert "Whole thought." in other.case(1).text and "late" not in other.case(1).text
    with _db(researcher) as db:
        assert db.scalar(select(func.count()).select_from(Draft)) == 0
    # the draft endpoint checks its form like the answer does
    assert other.client.post("/s/draft", data={"csrf_token": csrf_of(there)}).status_code == 400
    assert other.client.post("/s/draft", data={"form_token": form_token_of(there)}
                             ).status_code == 403
    assert _saved(researcher, study)["rationale"].tolist() == ["Whole thought."]


def test_round_closes_mid_draft(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study, (bot,) = _started(make_client, researcher, rounds=2)
    page = bot.page().text
    bot.submit(page, default_answer(0))
    page = bot.page().text  # case 2
    assert bot.draft(page, {"rationale": "Typed before the close"}).status_code == 204
    assert researcher.close_round(study).status_code == 200
    # the script's next draft: kept, with a plain message
    r = bot.draft(page, {"rationale": "Typed before the close, and after"})
    assert r.status_code == 409
    assert r.text == ("Round 1 has closed, so this case can no longer be answered. What you "
                      "typed is kept as a draft. Reload the page to see what comes next.")
    # pressing Save: kept as a draft, then told what happened and what comes next
    sent = bot.client.post("/s/answer", data=default_answer(1) | {
        "rationale": "Typed before the close, and after, and saved", "csrf_token": csrf_of(page),
        "form_token": form_token_of(page)}, follow_redirects=False)
    assert (sent.status_code, sent.headers["location"]) == (303, "/s")
    now = html.unescape(bot.page().text)
    assert "Case 1 of 3" in now and "round 2" in now.lower()
    assert ("Round 1 closed before your answer to case 2 was saved, so it does not count in "
            "round 1. What you had written is kept as a draft. Round 2 is open now.") in now
    case2 = html.unescape(bot.case(2).text)  # the round-1 draft fills round 2's form
    assert ">Typed before the close, and after, and saved</textarea>" in case2
    assert "which round 1 closed before it was saved, is filled in below" in case2
    table = _saved(researcher, study)
    assert len(table) == 1 and "saved" not in table["rationale"].iloc[0]
    assert len(_judgements(researcher, study)) == 0  # round 1 was never submitted
    # closed altogether: the closed page says so too
    researcher.close_round(study)
    closed = html.unescape(bot.page().text)
    assert "The study is closed" in closed and "Round 1 closed before your answer to case 2" in closed


def test_at_most_five_factors(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study, (bot,) = _started(make_client, researcher, rounds=1)
    page = bot.page().text
    assert 'name="salient_factors"' in page and "<details" in page
    r = bot.submit(page, default_answer(0) | {"salient_factors": FACTORS})
    text = html.unescape(r.text)
    assert "Case 1 of 3" in text and "Choose at most 5 factors that mattered most; you chose 6" in text
    assert re.search(r'<details id="salient_factors-field"[^>]* open>', text)  # opened on error
    ok = bot.submit(page, default_answer(0) | {"salient_factors": FACTORS[:5]})
    assert "Case 2 of 3" in ok.text
    assert len(_saved(researcher, study)) == 1


def test_a_form_older_than_the_answer_is_refused(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    study, (bot,) = _started(make_client, researcher, rounds=1)
    first = bot.page().text
    bot.submit(first, default_answer(0))
    tab_a, tab_b = bot.case(1).text, bot.case(1).text
    assert "Case 2" in bot.submit(tab_b, default_answer(0) | {"rationale": "From tab B."}).text
    r = bot.submit(tab_a, default_answer(0) | {"rationale": "From tab A."})
    assert r.status_code == 409 and "changed in another tab or browser" in html.unescape(r.text)
    replay = bot.submit(first, default_answer(0))
    assert replay.status_code == 409
    assert _saved(researcher, study)["rationale"].tolist() == ["From tab B."]


def test_a_forged_flash_is_ignored(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    _, (bot,) = _started(make_client, researcher, rounds=1)
    page = bot.page().text
    bot.submit(page, default_answer(0) | {"rationale": ""})
    cookie = bot.client.cookies.get("dsk_flash")
    assert cookie is None  # shown once, then gone
    bot.client.cookies.set("dsk_flash", "flash:eyJraW5kIjoiYW5zd2VyIn0.forged")
    assert "Please check your answers" not in bot.case(1).text


def test_round_two_date_on_the_completion_page(make_client, researcher: Researcher,  # type: ignore[no-untyped-def]
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _, (bot,) = _started(make_client, researcher, deck=1, rounds=2)
    monkeypatch.setattr(_practitioner, "round2_opening",
                        lambda study: dt.datetime(2026, 12, 8, 9, 30))
    bot.play_round()
    assert "Round 2 opens on Tuesday 8 December 2026 at 09:30 (UTC)." in bot.page().text


def test_case_pages_by_number(make_client, researcher: Researcher) -> None:  # type: ignore[no-untyped-def]
    _, (bot,) = _started(make_client, researcher, rounds=1)
    assert "Case 3 of 3" in bot.case(3).text  # any case, in any order
    for bad in ("0", "4", "x", "1.0", "\u0661"):
        r = bot.case(bad)  # type: ignore[arg-type]
        assert r.status_code == 404 and "your cases are numbered 1 to 3" in r.text, bad
    assert make_client().get("/s/case/1").status_code == 401
