"""The scoring app over HTTP, on SQLite and PostgreSQL: the whole study, refusals, security."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from app_bots import Practitioner, Researcher, csrf_of, default_answer, form_token_of

from dsk.app._models import Base
from dsk.io import read_table


def _answer(level: int, rationale: str, factors: list[str]) -> dict:
    return {"need_level": str(level), "confidence": "60", "risk": "5", "salient_factors": factors,
            "salient_other": "grandmother nearby", "rationale": rationale,
            "lead_agency": "social_care"}


def test_whole_study_two_rounds(make_client, researcher: Researcher, tmp_path: Path) -> None:
    study = researcher.create_study(deck_size=3, n_participants=2, rounds=2)
    links = researcher.links(study)
    assert len(links) == 2 and all("/p/" in link for link in links)
    a, b = (Practitioner(make_client(), link) for link in links)
    assert a.consent("social_worker", 12).status_code == 200
    assert b.consent("police", 3).status_code == 200
    levels_a = {0: 4, 1: 3, 2: 2}
    seen_a = a.play_round(lambda i: _answer(levels_a[i], f"A thinks {i}",
                                            ["domestic_abuse", "disclosure"]))
    seen_b = b.play_round(lambda i: _answer(1, "B <b>reason</b>", ["housing"]))
    assert seen_a == ["Case 1 of 3", "Case 2 of 3", "Case 3 of 3"] and len(seen_b) == 3
    assert "Round 1 complete" in a.page().text
    progress = researcher.client.get(f"/studies/{study}").text
    assert progress.count("3 / 3") == 2 and "0 / 3" in progress

    assert researcher.close_round(study).status_code == 200
    page = a.page().text
    assert 'id="feedback"' in page and "Round 2" in page
    assert "(your round-1 answer, not counted)" in page
    # A's own round-1 answer is prefilled
    assert re.search(r'value="(\d)" required checked', page)
    # colleagues' reasons are shown (escaped) when they share a vignette
    a_deck = set(seen_a)
    assert a_deck
    levels_b2 = {}

    def revise(i: int) -> dict:
        levels_b2[i] = 2
        return _answer(2, "revised", ["housing", "domestic_abuse"])

    a.play_round(lambda i: _answer(levels_a[i], "kept", ["disclosure"]))
    b.play_round(revise)
    assert "All done" in a.page().text

    csv = researcher.client.get(f"/studies/{study}/judgements.csv")
    parquet = researcher.client.get(f"/studies/{study}/judgements.parquet")
    assert csv.status_code == 200 and parquet.status_code == 200
    (tmp_path / "j.csv").write_bytes(csv.content)
    (tmp_path / "j.parquet").write_bytes(parquet.content)
    for name in ("j.csv", "j.parquet"):
        table = read_table(tmp_path / name, "judgements")
        assert len(table) == 12
        assert set(table["rater_kind"]) == {"human"}
        assert sorted(table["round"].unique().tolist()) == [1, 2]
        mine = table[(table["profession"] == "social_worker") & (table["round"] == 1)]
        assert sorted(mine["need_level"].tolist()) == [2, 3, 4]
        theirs = table[(table["profession"] == "police")]
        assert theirs.loc[theirs["round"] == 1, "need_level"].tolist() == [1, 1, 1]
        assert theirs.loc[theirs["round"] == 2, "need_level"].tolist() == [2, 2, 2]
        assert list(mine["salient_factors"].iloc[0]) == ["disclosure", "domestic_abuse"]
        assert (table["seconds"] >= 0).all() and (table["confidence"] == 0.6).all()
    assert "The study is closed" not in a.page().text
    researcher.close_round(study)
    assert "The study is closed" in a.page().text


def test_round_two_shows_colleagues(make_client, researcher: Researcher) -> None:
    """All four practitioners share deck 1 of a one-deck study, so feedback is checkable."""
    study = researcher.create_study(deck_size=12, n_participants=4, rounds=2)
    links = researcher.links(study)
    bots = [Practitioner(make_client(), link) for link in links]
    for i, bot in enumerate(bots):
        bot.consent()
        bot.play_round(lambda _p, i=i: _answer([4, 4, 2, 1][i], f"reason of rater {i}",
                                               ["disclosure"] if i < 2 else ["housing"]))
    researcher.close_round(study)
    page = bots[2].page().text
    table = page[page.index('id="distribution"'):page.index("</table>", page.index('id="distribution"'))]
    cells = re.findall(r"<td>(\d+)", table)
    assert cells == ["1", "0", "0", "2"]  # levels 1-4 of the three others: one 1, two 4s
    own_row = re.search(r'<tr class="own">\s*<th scope="row">(\d)', table)
    assert own_row and own_row.group(1) == "2"
    factors = page[page.index('id="top-factors"'):]
    assert factors.index("Disclosure") < factors.index("</ol>")
    shown = page[page.index('id="rationales"'):page.index("</ul>", page.index('id="rationales"'))]
    assert "reason of rater 0" in shown and "reason of rater 1" in shown
    assert "reason of rater 3" in shown
    assert "reason of rater 2" not in shown  # not one's own


def test_invalid_answers_refused_with_field_names(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    bot.consent()
    page = bot.page().text
    bad = default_answer(0) | {"need_level": "7"}
    sent = bot.client.post("/s/answer", data=bad | {"csrf_token": csrf_of(page),
                                                    "form_token": form_token_of(page)},
                           follow_redirects=False)
    assert (sent.status_code, sent.headers["location"]) == (303, "/s/case/1")  # no re-post
    r = bot.client.get(sent.headers["location"])
    assert r.status_code == 200
    assert "Level of need: enter a number from 1 to 4, not 7" in html.unescape(r.text)
    assert "Please check your answers" not in bot.case(1).text  # shown once
    missing = default_answer(0)
    del missing["rationale"], missing["lead_agency"]
    r = bot.submit(page, missing)
    text = html.unescape(r.text)
    assert "Why this level: say briefly why you chose this level" in text
    assert "Choose the agency that should lead" in text
    r = bot.submit(page, default_answer(0) | {"lead_agency": "the moon", "risk": "11"})
    text = html.unescape(r.text)
    assert "Lead agency: 'the moon' is not in the list" in text
    assert "Risk of significant harm: enter a number from 0 to 10, not 11" in text
    r = bot.submit(page, default_answer(0) | {"salient_factors": ["not_a_factor"]})
    assert "Factors: 'not_a_factor' is not in the list" in html.unescape(r.text)
    # the re-shown form keeps what was typed
    assert "Because of case 0." in r.text
    assert "Case 1 of 2" in bot.page().text  # nothing was saved
    assert researcher.client.get(f"/studies/{study}/judgements.csv").text.count("\n") == 1


def test_forged_and_reused_links(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=2, rounds=1)
    links = researcher.links(study)
    stranger = make_client()
    r = stranger.get("/p/forged-token-that-was-never-issued")
    assert r.status_code == 404 and "link is not valid" in html.unescape(r.text)
    bot = Practitioner(make_client(), links[0])
    assert bot.consent().status_code == 200
    # the same browser following the link again resumes
    assert "Case 1 of 2" in bot.client.get(bot.link).text
    other = Practitioner(make_client(), links[0])
    r = other.client.get(other.link)
    assert r.status_code == 410 and "already been used" in r.text
    r = other.client.post(other.link, data={"profession": "gp", "experience_years": "3",
                                            "consent": "yes",
                                            "csrf_token": csrf_of(other.client.get("/login").text)})
    assert r.status_code == 410
    # issuing links again replaces unused links only
    fresh = researcher.links(study)
    assert len(fresh) == 1 and fresh[0] != links[1]
    assert make_client().get(Practitioner(stranger, links[1]).link).status_code == 404
    # consent is required, with field names
    late = Practitioner(make_client(), fresh[0])
    page = late.client.get(late.link).text
    r = late.client.post(late.link, data={"profession": "", "experience_years": "x",
                                          "csrf_token": csrf_of(page)})
    text = html.unescape(r.text)
    assert r.status_code == 200 and late.link in str(r.url)  # back to the link's page
    assert "Choose your profession" in text
    assert "Years of experience: enter a whole number from 0 to 60" in text
    assert "Tick the box to agree to take part" in text


def test_replayed_and_forged_forms(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=2, rounds=1)
    a, b = (Practitioner(make_client(), link) for link in researcher.links(study))
    a.consent()
    b.consent()
    page = a.page().text
    assert a.submit(page, default_answer(0)).status_code == 200
    replay = a.submit(page, default_answer(1))  # the same form again
    assert replay.status_code == 409 and "already submitted" in html.unescape(replay.text)
    tampered = dict(default_answer(0), csrf_token=csrf_of(page),
                    form_token=form_token_of(a.page().text)[:-3] + "AAA")
    r = a.client.post("/s/answer", data=tampered)
    assert r.status_code == 400 and "form_token" in r.text
    # a form issued to A cannot be posted by B
    stolen = dict(default_answer(0), csrf_token=csrf_of(b.page().text),
                  form_token=form_token_of(a.page().text))
    r = b.client.post("/s/answer", data=stolen)
    assert r.status_code == 403 and "another participant" in r.text
    export = researcher.client.get(f"/studies/{study}/judgements.csv")
    assert export.text.count("\n") == 1  # the header: one answer saved, not yet submitted
    assert export.headers["X-Dsk-Unsubmitted"] == "1"


def test_every_form_needs_csrf(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(researcher.client, researcher.links(study)[0])
    page = bot.client.get(bot.link).text
    token = csrf_of(page)
    app = researcher.client.app
    posts = sorted(r.path for r in app.routes if "POST" in getattr(r, "methods", ()))
    assert posts == ["/account/password", "/admin/accounts",
                     "/admin/accounts/{researcher_id}/disable",
                     "/admin/accounts/{researcher_id}/enable",
                     "/admin/trainers/{researcher_id}", "/link", "/login", "/logout",
                     "/p/{token}", "/s/answer", "/s/draft", "/s/leave", "/s/submit",
                     "/s/withdraw", "/studies", "/studies/{study_id}/close", "/studies/{study_id}/collaborators",
                     "/studies/{study_id}/collaborators/remove", "/studies/{study_id}/deadline",
                     "/studies/{study_id}/delete",
                     "/studies/{study_id}/information", "/studies/{study_id}/links",
                     "/studies/{study_id}/mail/invitations", "/studies/{study_id}/mail/reminders",
                     "/studies/{study_id}/mail/retry", "/studies/{study_id}/mail/templates",
                     "/studies/{study_id}/participants/add",
                     "/studies/{study_id}/participants/delete",
                     "/studies/{study_id}/participants/import",
                     "/studies/{study_id}/participants/{number}/reissue",
                     "/studies/{study_id}/reasons/hide", "/studies/{study_id}/retention",
                     "/studies/{study_id}/site", "/w", "/w/vote", "/workshops",
                     "/workshops/{workshop_id}/delete",
                     "/workshops/{workshop_id}/participants/{participant_id}/remove",
                     "/workshops/{workshop_id}/step", "/workshops/{workshop_id}/vary"]
    for path in posts:
        url = (path.replace("{token}", bot.link.rsplit("/", 1)[1])
               .replace("{study_id}", str(study)).replace("{researcher_id}", "1")
               .replace("{number}", "1").replace("{workshop_id}", "1")
               .replace("{participant_id}", "1"))
        for data in ({}, {"csrf_token": ("y" if token[0] == "x" else "x") + token[1:]}):
            r = researcher.client.post(url, data=data)
            assert r.status_code == 403, (url, r.status_code)
            assert "csrf_token" in r.text
    # a cross-site form cannot know the token: a fresh browser's cookie has a different one
    outsider = make_client()
    outsider.get("/login")
    r = outsider.post("/login", data={"username": "ada", "password": "x", "csrf_token": token})
    assert r.status_code == 403
    # the study was not closed by any of the refused posts
    assert "Round 1 open" in researcher.client.get(f"/studies/{study}").text


def test_user_text_is_escaped(make_client, researcher: Researcher) -> None:
    payload = '<script>alert("x")</script>'
    study = researcher.create_study(title=f"Pilot {payload}", deck_size=12, n_participants=4,
                                    rounds=2)
    assert payload not in researcher.client.get("/").text
    assert "&lt;script&gt;" in researcher.client.get(f"/studies/{study}").text
    bots = [Practitioner(make_client(), link) for link in researcher.links(study)]
    for bot in bots:  # four, so that each sees three colleagues' reasons
        bot.consent()
        bot.play_round(lambda i: _answer(3, payload, ["housing"]) | {"salient_other": payload})
    assert payload not in researcher.client.get(f"/studies/{study}").text  # reasons listed
    researcher.close_round(study)
    page = bots[1].page().text
    assert 'id="rationales"' in page
    assert payload not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in bots[1].page().headers


def test_login_rate_limited(make_client) -> None:
    client = make_client(login_attempts=3, login_delay=600)
    bot = Researcher(client)
    for _ in range(3):
        r = bot.login(password="wrong password")
        assert r.status_code == 401 and "wrong user name or password" in r.text
    r = bot.login()  # even the right password waits
    assert r.status_code == 429 and "too many failed log-in attempts" in r.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_resume_after_closing_the_browser(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=4, n_participants=1, rounds=1)
    first = Practitioner(make_client(), researcher.links(study)[0])
    first.consent()
    page = first.page().text
    first.submit(page, default_answer(0))
    assert "Case 2 of 4" in first.page().text
    cookies = {c.name: c.value for c in first.client.cookies.jar if c.expires}
    assert "dsk_p" in cookies  # persistent: survives closing the browser
    first.client.close()
    again = make_client()
    for name, value in cookies.items():
        again.cookies.set(name, value)
    page = again.get("/s").text
    assert "Case 2 of 4" in page and "1 of 4 answered" in page
    assert make_client().get("/s").status_code == 401


def test_pages_labelled_and_responsive(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    consent = bot.client.get(bot.link).text
    bot.consent()
    page = bot.page().text
    for text in (page, consent, researcher.client.get("/").text):
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
        # no inline script: at most the enhancing script, which the pages work without
        assert re.findall(r"<script[^>]*>", text) in (
            [], ['<script src="/static/draft.js" defer>']), text
        ids = set(re.findall(r'<label for="([^"]+)"', text))
        for tag in re.finditer(r"<(input|select|textarea)\b([^>]*)>", text):
            attrs = tag.group(2)
            if 'type="hidden"' in attrs:
                continue
            if 'type="radio"' in attrs or 'type="checkbox"' in attrs:
                before = text[:tag.start()]
                assert before.rfind("<label") > before.rfind("</label>"), attrs
                continue
            ident = re.search(r'id="([^"]+)"', attrs)
            assert ident and ident.group(1) in ids, attrs
    assert page.count("<fieldset") == 5 and page.count("<legend") == 5  # level, factors, 3 domains
    css = bot.client.get("/static/app.css").text
    assert "@media" in css and "max-width" in css


def test_researcher_pages_need_login(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    anonymous = make_client()
    for url in ("/", f"/studies/{study}", f"/studies/{study}/judgements.csv"):
        r = anonymous.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_study_form_errors_name_the_field(researcher: Researcher) -> None:
    page = researcher.client.get("/").text
    r = researcher.client.post("/studies", data={
        "title": "x", "set_id": "training-12", "deck_size": "13", "n_participants": "2",
        "rounds": "2", "seed": "1", "csrf_token": csrf_of(page)})
    assert r.status_code == 422
    assert "deck_size: expected a whole number from 1 to 12, got 13" in r.text
    r = researcher.client.post("/studies", data={
        "title": "x", "set_id": "nope", "deck_size": "3", "n_participants": "2",
        "rounds": "2", "seed": "1", "csrf_token": csrf_of(page)})
    assert r.status_code == 422 and "set_id: expected one of" in html.unescape(r.text)


def test_decks_are_balanced(make_client, researcher: Researcher) -> None:
    study = researcher.create_study(deck_size=3, n_participants=8, rounds=1)
    bots = [Practitioner(make_client(), link) for link in researcher.links(study)]
    firsts = []
    for bot in bots:
        bot.consent()
        bot.play_round()
    table = pd.read_csv(io.StringIO(
        researcher.client.get(f"/studies/{study}/judgements.csv").text))
    counts = table["vignette_id"].value_counts()
    assert len(table) == 24 and counts.max() - counts.min() <= 1 and len(counts) == 12
    firsts = table.groupby("rater_id")["vignette_id"].first()
    assert firsts.nunique() > 1


def test_migrations_match_models(db_url: str) -> None:
    from dsk.app._db import make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diffs == []


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///:memory:"])
def test_unsupported_databases_refused(url: str) -> None:
    from dsk.app._db import make_engine

    with pytest.raises(ValueError, match="--db"):
        make_engine(url)
