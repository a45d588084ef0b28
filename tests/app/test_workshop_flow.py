"""Workshop mode over HTTP: a trainer, a projector and phones, on SQLite and PostgreSQL.

The whole flow (create the ready-made workshop, join, vote, reveal in stages, what-if,
re-vote, end, export) and the bad inputs: a bad code, a vote on a revealed case, a bad
level, a removed phone, an expired code, the join rate limit, someone else's workshop.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Researcher, csrf_of

from dsk.app import _workshop_pages as pages
from dsk.app import create_researcher
from dsk.app._models import AuditEvent
from dsk.app._models import Researcher as Account
from dsk.app._workshop import CODE_ALPHABET, JoinLimiter, parse_vote
from dsk.schema import validate

_CODE = re.compile(r'id="code">([A-Z0-9]+)<')
_CASE = re.compile(r'name="vignette_id" value="([^"]+)"')


def _make_trainer(client, username: str = RESEARCHER) -> None:  # type: ignore[no-untyped-def]
    with client.app.state.core.db() as db:
        account = db.query(Account).filter_by(username=username).one()
        account.is_trainer = True
        db.commit()


@pytest.fixture
def trainer(make_client) -> Researcher:  # type: ignore[no-untyped-def]
    bot = Researcher(make_client())
    _make_trainer(bot.client)
    bot.login()
    return bot


def _ready_made(trainer: Researcher) -> tuple[int, str]:
    page = trainer.client.get("/workshops")
    assert page.status_code == 200
    r = trainer.client.post("/workshops", data={"csrf_token": csrf_of(page.text),
                                                "ready_made": "yes"})
    assert r.status_code == 200, r.text
    workshop = int(str(r.url).rsplit("/", 1)[1])
    code = _CODE.search(r.text)
    assert code, r.text
    return workshop, code.group(1)


def _join(client, code: str, name: str = "", profession: str = ""):  # type: ignore[no-untyped-def]
    page = client.get(f"/w?code={code}")
    return client.post("/w", data={"csrf_token": csrf_of(page.text), "code": code,
                                   "display_name": name, "profession": profession})


def _vote(client, level: str, reason: str = "", case: str | None = None):  # type: ignore[no-untyped-def]
    page = client.get("/w/room").text
    found = _CASE.search(page)
    token = csrf_of(client.get("/w").text)  # the room's page has no form once votes close
    return client.post("/w/vote", data={"csrf_token": token, "need_level": level,
                                        "reason": reason,
                                        "vignette_id": case or (found.group(1) if found else "")})


def _step(trainer: Researcher, workshop: int, action: str):  # type: ignore[no-untyped-def]
    page = trainer.client.get(f"/workshops/{workshop}").text
    return trainer.client.post(f"/workshops/{workshop}/step",
                               data={"csrf_token": csrf_of(page), "action": action})


def test_whole_workshop(make_client, trainer: Researcher) -> None:
    workshop, code = _ready_made(trainer)
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    projector = trainer.client.get(f"/workshops/{workshop}").text
    assert "<svg" in projector and code in projector  # the QR code, inline
    phones = [make_client() for _ in range(3)]
    for i, phone in enumerate(phones):
        r = _join(phone, code.lower(), name=f"P{i}", profession="social_worker" if i else "")
        assert r.status_code == 200 and "tame-01-disclosure" in r.text
    state = phones[0].get("/w/state").json()
    assert state["case"] == "tame-01-disclosure" and state["stage"] == "vote"
    version = state["version"]
    for phone, level in zip(phones, ("4", "4", "3"), strict=True):
        assert _vote(phone, level, "a disclosure").status_code == 200
    # a vote can be changed until the reveal, and counts once
    assert "level 2" in _vote(phones[2], "2").text
    assert trainer.client.get(f"/workshops/{workshop}/state").json()["voted"] == 3

    r = _step(trainer, workshop, "reveal")  # the room's distribution
    assert r.status_code == 200 and 'id="room-answers"' in r.text
    assert phones[0].get("/w/state").json()["version"] == version + 1
    late = _vote(phones[2], "4", case="tame-01-disclosure")
    assert late.status_code == 409 and "revealed" in late.text
    r = _step(trainer, workshop, "reveal")  # the checklist, with its fired rules
    assert 'id="checklist"' in r.text and "decisive" in r.text and "disclosure" in r.text
    r = _step(trainer, workshop, "reveal")
    assert 'id="reference"' in r.text and "Simulated practitioners" in r.text
    r = _step(trainer, workshop, "reveal")
    assert 'id="note"' in r.text and "Tame." in r.text
    assert _step(trainer, workshop, "reveal").status_code == 409  # nothing left to reveal

    # re-vote after discussion: round 2
    assert _step(trainer, workshop, "revote").status_code == 200
    for phone in phones:
        assert _vote(phone, "4").status_code == 200

    # the second case, and a what-if on it
    assert _step(trainer, workshop, "next").status_code == 200
    assert "wicked-05-toxic-trio-baby" in phones[0].get("/w/room").text
    for phone, level in zip(phones, ("4", "3", "3"), strict=True):
        _vote(phone, level)
    _step(trainer, workshop, "reveal")
    page = trainer.client.get(f"/workshops/{workshop}").text
    r = trainer.client.post(f"/workshops/{workshop}/vary",
                            data={"csrf_token": csrf_of(page), "change": "domestic_abuse:none"})
    assert r.status_code == 200 and "domestic_abuse: historic -&gt; none" in r.text
    variant = phones[0].get("/w/state").json()["case"]
    assert variant == "wicked-05-toxic-trio-baby-domestic_abuse-none"
    for phone, level in zip(phones, ("3", "3", "2"), strict=True):
        assert _vote(phone, level).status_code == 200
    _step(trainer, workshop, "reveal")
    r = _step(trainer, workshop, "reveal")  # the checklist on both, side by side
    assert "As first shown" in r.text and "What if" in r.text

    r = _step(trainer, workshop, "end")
    assert "Krippendorff" in r.text and "3 voters" in r.text
    assert phones[0].get("/w/state").json()["status"] == "ended"

    export = trainer.client.get(f"/workshops/{workshop}/judgements.csv")
    assert export.status_code == 200
    table = validate(pd.read_csv(io.StringIO(export.text)), "judgements")
    assert len(table) == 12
    assert set(table["panel_id"]) == {f"workshop-{workshop}"}
    assert set(table["rater_kind"]) == {"human"}
    counts = table.groupby(["vignette_id", "round"]).size().to_dict()
    assert counts == {("tame-01-disclosure", 1): 3, ("tame-01-disclosure", 2): 3,
                      ("wicked-05-toxic-trio-baby", 1): 3, (variant, 1): 3}
    first = table[(table["vignette_id"] == "tame-01-disclosure") & (table["round"] == 1)]
    assert sorted(first["need_level"]) == [2, 4, 4]  # the changed vote, counted once
    with trainer.client.app.state.core.db() as db:
        actions = [e.action for e in db.query(AuditEvent).all()]
    assert {"workshop_created", "workshop_step", "workshop_varied",
            "workshop_exported"} <= set(actions)


def test_bad_inputs(make_client, trainer: Researcher) -> None:
    workshop, code = _ready_made(trainer)
    phone = make_client()
    r = _join(phone, "ZZZZZZ")
    assert r.status_code == 404 and "no workshop has the code" in r.text
    r = _join(phone, code, profession="astronaut")
    assert r.status_code == 422 and "profession" in r.text
    assert _join(phone, code).status_code == 200
    for level, words in (("5", "from 1 to 4"), ("", "choose a level"), ("two", "from 1 to 4")):
        r = _vote(phone, level)
        assert r.status_code == 422 and words in r.text, r.text
    r = _vote(phone, "2", "x" * 201)
    assert r.status_code == 422 and "at most 200" in r.text
    r = _vote(phone, "2", case="wicked-05-toxic-trio-baby")
    assert r.status_code == 409 and "no longer on the screen" in r.text
    assert phone.get("/w/room").status_code == 200
    # a phone without the cookie, or with a forged one
    stranger = make_client()
    assert stranger.get("/w/room").status_code == 401
    stranger.cookies.set(pages.PHONE_COOKIE, "forged.token")
    assert stranger.get("/w/room").status_code == 401
    assert stranger.get("/w/state").json()["status"] == "none"

    # "back to the original case" is offered, and taken, only while a variant is on screen
    assert 'id="do-original"' not in trainer.client.get(f"/workshops/{workshop}").text
    r = _step(trainer, workshop, "original")
    assert r.status_code == 409 and "no what-if variant is on screen" in r.text
    assert trainer.client.get(f"/workshops/{workshop}/state").json()["stage"] == "vote"

    # the trainer removes the phone: its votes go, it can vote no more
    _vote(phone, "3")
    page = trainer.client.get(f"/workshops/{workshop}").text
    pid = re.search(r"/participants/(\d+)/remove", page).group(1)
    r = trainer.client.post(f"/workshops/{workshop}/participants/{pid}/remove",
                            data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200
    assert trainer.client.get(f"/workshops/{workshop}/state").json()["voted"] == 0
    r = _vote(phone, "3", case="tame-01-disclosure")
    assert r.status_code == 403 and "removed" in r.text
    assert phone.get("/w/state").json()["removed"] is True

    # the code expires when the workshop ends
    other = make_client()
    assert _join(other, code).status_code == 200
    _step(trainer, workshop, "end")
    r = _join(make_client(), code)
    assert r.status_code == 410 and "ended" in r.text
    r = _vote(other, "2", case="tame-01-disclosure")
    assert r.status_code == 410

    # bad trainer actions are refused with a page, never a 500
    assert _step(trainer, workshop, "dance").status_code in (409, 422)
    assert trainer.client.get(f"/workshops/{workshop}/judgements.xlsx").status_code == 404
    assert trainer.client.get("/workshops/99999").status_code == 404
    page = trainer.client.get("/workshops").text
    r = trainer.client.post("/workshops", data={"csrf_token": csrf_of(page), "title": "",
                                                "set_id": "training-12",
                                                "cases": "tame-01-disclosure, nope",
                                                "rulesets": "no-such", "panel_seed": "-1",
                                                "reference": "simulated"})
    assert r.status_code == 422
    for words in ("title:", "no case &#39;nope&#39;", "no bundled checklist", "panel_seed"):
        assert words in r.text, words


def test_join_rate_limit(make_client, trainer: Researcher) -> None:  # type: ignore[no-untyped-def]
    core = trainer.client.app.state.core
    core.join_limiter = JoinLimiter(joins=3, wrong=2)
    _, code = _ready_made(trainer)
    phone = make_client()
    assert _join(phone, "AAAAAA").status_code == 404
    assert _join(phone, "BBBBBB").status_code == 404
    r = _join(phone, code)  # two wrong codes from this address: wait
    assert r.status_code == 429 and "Retry-After" in r.headers
    core.join_limiter = JoinLimiter(joins=3, wrong=2)
    for _ in range(3):
        assert _join(make_client(), code).status_code == 200
    assert _join(make_client(), code).status_code == 429


def test_access_and_deletion(make_client, trainer: Researcher) -> None:
    workshop, code = _ready_made(trainer)
    phone = make_client()
    _join(phone, code)
    _vote(phone, "2")
    # an account without the trainer role sees no workshop pages
    create_researcher(trainer.client.app.state.core.engine.url.render_as_string(
        hide_password=False), "bob", RESEARCHER_PASSWORD)
    bob = Researcher(make_client())
    bob.login("bob", RESEARCHER_PASSWORD)
    assert bob.client.get("/workshops").status_code == 404
    assert bob.client.get(f"/workshops/{workshop}/judgements.csv").status_code == 404
    # another trainer does not see this one's workshop
    _make_trainer(bob.client, "bob")
    assert bob.client.get("/workshops").status_code == 200
    assert bob.client.get(f"/workshops/{workshop}").status_code == 404
    assert bob.client.get(f"/workshops/{workshop}/judgements.csv").status_code == 404
    # deleting the workshop deletes its votes and phones
    page = trainer.client.get(f"/workshops/{workshop}").text
    r = trainer.client.post(f"/workshops/{workshop}/delete", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200 and "No workshops yet" in r.text
    from dsk.app._models import WorkshopParticipant, WorkshopVote

    with trainer.client.app.state.core.db() as db:
        assert db.query(WorkshopVote).count() == 0
        assert db.query(WorkshopParticipant).count() == 0
    assert phone.get("/w/state").json()["status"] == "none"


def test_admin_grants_the_role(make_client) -> None:  # type: ignore[no-untyped-def]
    admin_client = make_client()
    url = admin_client.app.state.core.engine.url.render_as_string(hide_password=False)
    create_researcher(url, "root", RESEARCHER_PASSWORD, admin=True)
    admin = Researcher(admin_client)
    admin.login("root", RESEARCHER_PASSWORD)
    page = admin.client.get("/admin/trainers")
    assert page.status_code == 200 and RESEARCHER in page.text
    with admin.client.app.state.core.db() as db:
        ada = db.query(Account).filter_by(username=RESEARCHER).one().id
    r = admin.client.post(f"/admin/trainers/{ada}", data={"csrf_token": csrf_of(page.text),
                                                          "trainer": "yes"})
    assert r.status_code == 200
    ada_bot = Researcher(make_client())
    ada_bot.login()
    assert ada_bot.client.get("/workshops").status_code == 200
    assert ada_bot.client.get("/admin/trainers").status_code == 404


def test_sse_sends_the_state_on_connect(make_client, trainer: Researcher) -> None:
    _, code = _ready_made(trainer)
    phone = make_client()
    _join(phone, code)
    with phone.stream("GET", "/w/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data:"):
                state = json.loads(line[5:])
                break
    assert state["case"] == "tame-01-disclosure" and state["version"] == 1


def test_parse_vote_names_each_field() -> None:
    with pytest.raises(Exception, match="need_level.*\n.*reason"):
        parse_vote("0", "y" * 300)
    assert parse_vote("1", "") == (1, "")


def test_uploaded_file_and_chosen_cases(trainer: Researcher, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dsk.catalogue import load_catalogue
    from dsk.io import write_table
    from dsk.sets import load_set

    frame = load_set("training-12", load_catalogue()).head(3)
    path = tmp_path / "mine.jsonl"
    write_table(frame, path)
    page = trainer.client.get("/workshops").text
    ids = list(frame["vignette_id"])
    r = trainer.client.post(
        "/workshops", data={"csrf_token": csrf_of(page), "title": "Mine", "set_id": "",
                            "cases": f"{ids[2]}, {ids[0]}", "rulesets": "toxic-trio",
                            "panel_seed": "3", "reference": ""},
        files={"vignettes_file": ("mine.jsonl", path.read_bytes(), "application/json")})
    assert r.status_code == 200, r.text
    assert "Case 1 of 2" in r.text and frame["narrative"].iloc[2].split("\n")[0] in r.text


def _earlier_study(trainer: Researcher, levels: list[int], withdrawn_level: int) -> int:
    """A study of the trainer's own with round-1 answers on tame-01-disclosure, one withdrawn."""
    import datetime as dt

    from dsk.app._models import Participant, Response, Study, StudyVignette

    with trainer.client.app.state.core.db() as db:
        owner = db.query(Account).filter_by(username=RESEARCHER).one()
        study = Study(title="Pilot 2025", owner_id=owner.id, set_id="training-12", deck_size=4,
                      n_participants=len(levels) + 1, rounds=2, seed=1)
        db.add(study)
        db.flush()
        db.add(StudyVignette(study_id=study.id, vignette_id="tame-01-disclosure", ordinal=0, narrative="..."))
        for k, level in enumerate([*levels, withdrawn_level]):
            person = Participant(study_id=study.id, number=k + 1, deck=0,
                                 withdrawn_at=dt.datetime(2026, 1, 1) if k == len(levels) else None)
            db.add(person)
            db.flush()
            for rnd in (1, 2):
                db.add(Response(study_id=study.id, participant_id=person.id, vignette_id="tame-01-disclosure",
                                round=rnd, need_level=level if rnd == 1 else 1, confidence=0.5, risk=0.5,
                                salient_factors="[]", rationale="", lead_agency="social_care", seconds=30.0,
                                form_nonce=f"n{study.id}-{k}-{rnd}"))
        db.commit()
        return int(study.id)


def test_an_earlier_studys_round_one_answers_as_the_reference(trainer: Researcher) -> None:
    study = _earlier_study(trainer, [4, 4, 3], withdrawn_level=2)
    page = trainer.client.get("/workshops").text
    assert f'value="study:{study}"' in page and "Pilot 2025" in page
    # a study that asked about none of the chosen cases, or someone else's, is refused by field
    bad = trainer.client.post("/workshops", data={
        "csrf_token": csrf_of(page), "title": "Wrong", "set_id": "training-12", "cases": "tame-03-injury",
        "panel_seed": "1", "reference": f"study:{study}"})
    assert bad.status_code == 422 and "asked about none of these cases" in bad.text
    bad = trainer.client.post("/workshops", data={
        "csrf_token": csrf_of(page), "title": "Wrong", "set_id": "training-12", "cases": "tame-01-disclosure",
        "panel_seed": "1", "reference": "study:999"})
    assert bad.status_code == 422 and "you have no study" in bad.text
    r = trainer.client.post("/workshops", data={
        "csrf_token": csrf_of(page), "title": "With the pilot", "set_id": "training-12",
        "cases": "tame-01-disclosure", "rulesets": "threshold-of-need", "panel_seed": "1",
        "reference": f"study:{study}"})
    assert r.status_code == 200, r.text
    workshop = int(str(r.url).rsplit("/", 1)[1])
    for _ in range(3):  # the room, the checklist, then the reference panel
        r = _step(trainer, workshop, "reveal")
    assert 'id="reference"' in r.text and "Practitioners in the earlier study, round 1" in r.text
    section = r.text[r.text.index('id="reference"'):]
    section = section[:section.index("</section>")]
    assert "(3 votes)" in section  # round 1 only, the withdrawn participant left out
    cells = re.findall(r"</span> (\d+)</td>", section)
    assert cells == ["0", "0", "1", "2"]


def test_the_ready_made_reference_panel_shows_what_the_notes_describe(catalogue) -> None:  # type: ignore[no-untyped-def]
    """The ready-made workshop's simulated reference panel is the training experiment's:
    on each of its cases it gives the round-1 levels the training run gives (the panel
    judges the whole set, as in the run), so that where a note says the panel parts from
    the threshold checklist the room sees it do so; a case from another file is judged
    with the workshop's own cases."""
    from dsk.analysis import median_level
    from dsk.app._models import Workshop, WorkshopVignette
    from dsk.app._workshop import READY_MADE, REFERENCE_PANEL, reference_distribution
    from dsk.experiment import load_config
    from dsk.panels import load_panel, load_professions, simulate_panel
    from dsk.rules import bundled_rulesets, evaluate, load_ruleset
    from dsk.sets import load_set

    config = load_config("training")
    assert REFERENCE_PANEL == config.panels[0].panel and READY_MADE["panel_seed"] == str(config.seed)
    vignettes = load_set("training-12", catalogue)
    professions = load_professions(catalogue=catalogue)
    run = simulate_panel(vignettes, load_panel(REFERENCE_PANEL, professions), random_state=config.seed,
                         rounds=config.rounds, professions=professions, catalogue=catalogue,
                         rationale=False)
    run = run[run["round"] == 1]
    rows = {str(r["vignette_id"]): r for _, r in vignettes.iterrows()}

    def stored(vid: str) -> WorkshopVignette:
        return WorkshopVignette(vignette_id=vid, narrative=rows[vid]["narrative"], varied_from=None,
                                row=vignettes[vignettes["vignette_id"] == vid].to_json(orient="records"))

    cases = [stored(vid) for vid in READY_MADE["cases"]]
    ready = Workshop(id=10_001, source="training-12", panel_seed=int(READY_MADE["panel_seed"]))
    medians = {}
    for case in cases:
        counts = reference_distribution(ready, case, cases, catalogue)
        levels = run.loc[run["vignette_id"] == case.vignette_id, "need_level"]
        assert counts == [int((levels == level).sum()) for level in (1, 2, 3, 4)], case.vignette_id
        medians[case.vignette_id] = int(median_level(run)[case.vignette_id])
    threshold = load_ruleset(bundled_rulesets()["threshold-of-need"], catalogue)
    checklist = evaluate(threshold, vignettes, catalogue=catalogue).decisions().set_index("vignette_id")
    parts = {vid for vid in READY_MADE["cases"] if medians[vid] != int(checklist.loc[vid, "need_level"])}
    # the five cases the docs promise part from the checklist; the first and last agree with it
    assert parts == set(READY_MADE["cases"][1:6])
    # a workshop from an uploaded file is judged with its own cases only, even one with the
    # same id as another workshop (a reused id, or a second database): the panel is keyed by
    # what it judges
    other = Workshop(id=ready.id, source="my-cases.csv", panel_seed=12)
    pair = simulate_panel(vignettes.set_index("vignette_id").loc[READY_MADE["cases"][:2]].reset_index(),
                          load_panel(REFERENCE_PANEL, professions), random_state=12, rounds=1,
                          professions=professions, catalogue=catalogue, rationale=False)
    for case in cases[:2]:
        levels = pair.loc[pair["vignette_id"] == case.vignette_id, "need_level"]
        assert reference_distribution(other, case, cases[:2], catalogue) == \
            [int((levels == level).sum()) for level in (1, 2, 3, 4)]
