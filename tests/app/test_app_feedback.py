"""Round-2 feedback that protects colleagues, on SQLite and PostgreSQL.

Counts never include the reader's own answer; reasons are shown only when at least three
other practitioners answered the case; a reason the owner or an editor hid before
round 2 is never shown, and the hiding is logged without the reason.
"""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from app_bots import Practitioner, Researcher, csrf_of
from sqlalchemy.orm import Session

from dsk.app import _study as st
from dsk.app import open_database
from dsk.app._db import downgrade, make_engine, upgrade
from dsk.app._models import HiddenReason, Participant, RoundSubmission
from dsk.catalogue import load_catalogue

CASE = "tame-01-disclosure"


def _study(db: Session, answers: list[tuple[int, str, tuple[str, ...]]],
           n_participants: int | None = None, submitted: bool = True
           ) -> tuple[st.Study, list[Participant]]:
    """A one-deck two-round study in which participant i answered CASE with answers[i]
    and (with ``submitted``) pressed "Submit my answers" for round 1."""
    owner = db.scalar(sa.select(st.Researcher).where(st.Researcher.username == "ada"))
    if owner is None:
        owner = st.create_researcher(db, "ada", "a long passphrase")
    study = st.create_study(db, owner=owner, title="Small", set_id="training-12", deck_size=12,
                            n_participants=n_participants or len(answers), rounds=2,
                            catalogue=load_catalogue())
    people = list(db.scalars(sa.select(Participant).where(Participant.study_id == study.id)
                             .order_by(Participant.number)))
    for p, (level, reason, factors) in zip(people, answers, strict=False):
        st.save_answer(db, p, CASE, 1, st.Answer(level, 0.5, 3.0, factors, "", reason,
                                                 "school"), 10.0, f"{study.id}-{p.number}")
        if submitted:
            db.add(RoundSubmission(participant_id=p.id, round=1, study_id=study.id))
    db.commit()
    return study, people


def test_two_others_show_counts_but_no_reasons(db_url: str) -> None:
    with open_database(db_url) as db:
        _, people = _study(db, [(4, "first", ("housing",)), (4, "second", ("housing",)),
                                (2, "mine", ("disclosure",))])
        seen = st.feedback(db, people[2], CASE)
        assert seen.counts == {1: 0, 2: 0, 3: 0, 4: 2} and seen.total == 2
        assert seen.own_level == 2
        assert seen.top_factors == [("housing", 2)]  # not the reader's "disclosure"
        assert seen.rationales == [] and seen.reasons_withheld


def test_three_others_show_reasons_never_ones_own(db_url: str) -> None:
    with open_database(db_url) as db:
        _, people = _study(db, [(4, "first", ("housing",)), (1, "second", ("housing",)),
                                (2, "mine", ("disclosure",)), (4, "fourth", ("disclosure",))])
        seen = st.feedback(db, people[2], CASE)
        assert seen.counts == {1: 1, 2: 0, 3: 0, 4: 2} and seen.total == 3
        assert seen.own_level == 2 and not seen.reasons_withheld
        assert seen.top_factors == [("housing", 2), ("disclosure", 1)]
        assert seen.rationales == ["first", "second", "fourth"]
        # the first practitioner sees the three others, not themselves
        first = st.feedback(db, people[0], CASE)
        assert first.counts == {1: 1, 2: 1, 3: 0, 4: 1}
        assert first.rationales == ["second", "mine", "fourth"]


def test_answers_never_submitted_are_not_shown(db_url: str) -> None:
    """A colleague who saved an answer but never pressed "Submit my answers" is not
    counted, and their reason is not shown."""
    with open_database(db_url) as db:
        study, people = _study(db, [(4, "first", ("housing",)), (1, "second", ("housing",)),
                                    (2, "mine", ("disclosure",)), (4, "fourth", ())])
        db.execute(sa.delete(RoundSubmission).where(
            RoundSubmission.participant_id.in_([people[0].id, people[3].id])))
        db.commit()
        seen = st.feedback(db, people[2], CASE)
        assert seen.counts == {1: 1, 2: 0, 3: 0, 4: 0} and seen.total == 1
        assert seen.top_factors == [("housing", 1)] and seen.reasons_withheld
        assert st.feedback(db, people[0], CASE).own_level == 4  # one's own still shows
        assert st.unsubmitted_count(db, study) == 2


def test_a_reader_who_did_not_answer_sees_all_others(db_url: str) -> None:
    with open_database(db_url) as db:
        _, people = _study(db, [(3, "a", ()), (3, "b", ()), (3, "c", ())], n_participants=4)
        seen = st.feedback(db, people[3], CASE)
        assert seen.own_level is None and seen.counts[3] == 3 and seen.total == 3
        assert seen.rationales == ["a", "b", "c"]
        # another study's answers to the same case are not colleagues'
        _study(db, [(1, "elsewhere", ()), (1, "elsewhere", ())])
        assert st.feedback(db, people[3], CASE).counts == {1: 0, 2: 0, 3: 3, 4: 0}


def test_a_hidden_reason_is_never_shown_and_the_hiding_is_logged(db_url: str) -> None:
    with open_database(db_url) as db:
        study, people = _study(db, [(4, "the Smith family at no. 4", ()), (3, "b", ()),
                                    (3, "c", ()), (2, "d", ())])
        ada = db.get(st.Researcher, study.owner_id)
        assert ada is not None
        target = next(r for r in st.round1_reasons(db, study) if r.rationale.startswith("the"))
        st.hide_reason(db, study, str(target.response_id), ada)
        st.hide_reason(db, study, target.response_id, ada)  # again: one log entry
        for reader in people[1:]:
            seen = st.feedback(db, reader, CASE)
            assert all("Smith" not in text for text in seen.rationales)
            assert seen.counts[4] == 1  # the answer still counts; only its reason is hidden
        assert st.feedback(db, people[3], CASE).rationales == ["b", "c"]
        rows = db.execute(sa.select(HiddenReason)).scalars().all()
        assert [(r.response_id, r.study_id, r.researcher_id) for r in rows] == [
            (target.response_id, study.id, ada.id)]
        assert rows[0].hidden_at is not None
        columns = {c.name for c in HiddenReason.__table__.columns}
        assert columns == {"response_id", "study_id", "researcher_id", "hidden_at"}
        # an answer of another study, an unknown one and a malformed id are refused
        other, _ = _study(db, [(1, "x", ())])
        foreign = st.round1_reasons(db, other)[0].response_id
        for bad, message in ((foreign, f"no round-1 answer {foreign} in this study"),
                             ("999999", "no round-1 answer 999999 in this study"),
                             ("+3", "expected a whole number")):
            with pytest.raises(st.AppError, match=re.escape(message)) as info:
                st.hide_reason(db, study, bad, ada)
            assert info.value.status == 422 and info.value.field == "response_id"
        # once round 2 is open, nothing more can be hidden
        st.close_round(db, study)
        with pytest.raises(st.AppError, match="only before round 2 opens") as info:
            st.hide_reason(db, study, st.round1_reasons(db, study)[1].response_id, ada)
        assert info.value.status == 409
        assert db.scalar(sa.select(sa.func.count()).select_from(HiddenReason)) == 1


def test_consent_page_says_reasons_are_shown_in_two_round_studies(
        make_client, researcher: Researcher) -> None:
    notice = "Your reasons are shown to colleagues."
    for rounds, shown in ((2, True), (1, False)):
        study = researcher.create_study(deck_size=2, n_participants=1, rounds=rounds)
        link = researcher.links(study)[0]
        page = make_client().get(link).text
        assert (notice in page) is shown, rounds
        if shown:
            text = html.unescape(page)
            assert "anonymised" in text and "at least three colleagues" in text


def _reasons_table(page: str) -> str:
    start = page.index('id="reasons"')
    return page[start:page.index("</table>", start)]


def test_owner_hides_a_reason_over_http(make_client, researcher: Researcher,
                                        db_url: str) -> None:
    study = researcher.create_study(deck_size=12, n_participants=4, rounds=2)
    bots = [Practitioner(make_client(), link) for link in researcher.links(study)]
    for i, bot in enumerate(bots):
        bot.consent()
        bot.play_round(lambda position, i=i: {  # one reason names a family
            "need_level": "3", "confidence": "60", "risk": "5", "salient_factors": [],
            "salient_other": "", "rationale": "The Jones family, 4 Mill Lane"
            if (i, position) == (0, 0) else f"reason {i}", "lead_agency": "social_care"})
    page = researcher.client.get(f"/studies/{study}").text
    table = _reasons_table(page)
    assert table.count("<tr>") == 1 + 4 * 12  # the header and every round-1 reason
    row = next(r for r in table.split("<tr>") if "Jones" in r)
    response_id = re.search(r'name="response_id" value="(\d+)"', row).group(1)  # type: ignore[union-attr]
    # a viewer neither sees the reasons nor can hide one
    with open_database(db_url) as db:
        st.create_researcher(db, "vera", "vera's long password")
    researcher.add_collaborator(study, "vera", "viewer")
    viewer = Researcher(make_client())
    viewer.login("vera", "vera's long password")
    assert 'id="reasons"' not in viewer.client.get(f"/studies/{study}").text
    r = viewer.client.post(f"/studies/{study}/reasons/hide", data={
        "response_id": response_id, "csrf_token": csrf_of(page)})
    assert r.status_code == 403
    # the owner hides it
    r = researcher.client.post(f"/studies/{study}/reasons/hide", data={
        "response_id": response_id, "csrf_token": csrf_of(page)})
    assert r.status_code == 200
    row = next(r for r in _reasons_table(r.text).split("<tr>") if "Jones" in r)
    assert "hidden" in row and "<button" not in row
    with open_database(db_url) as db:
        logged = db.scalars(sa.select(HiddenReason)).all()
        assert [str(h.response_id) for h in logged] == [response_id]
    researcher.close_round(study)
    for bot in bots[1:]:  # every case of the deck, in round 2
        page, shown = bot.page().text, 0
        while 'name="form_token"' in page:
            assert "Jones" not in page
            shown += 'id="rationales"' in page  # three colleagues answered every case
            page = bot.submit(page, {"need_level": "3", "confidence": "60", "risk": "5",
                                     "rationale": "kept", "lead_agency": "school"}).text
        assert shown == 12 and "Submit my answers" in page
        assert "All done" in bot.finish().text
    page = researcher.client.get(f"/studies/{study}").text
    assert "reasons can no longer be hidden" in page and "Hide the reason" not in page
    r = researcher.client.post(f"/studies/{study}/reasons/hide", data={
        "response_id": response_id, "csrf_token": csrf_of(page)})
    assert r.status_code == 409 and "only before round 2 opens" in r.text


def test_migration_0004_on_and_off(db_url: str) -> None:

    engine = make_engine(db_url)
    upgrade(engine, "0003")
    with engine.connect() as conn:
        assert "hidden_reasons" not in sa.inspect(conn).get_table_names()
    upgrade(engine)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert {c["name"] for c in inspector.get_columns("hidden_reasons")} == {
            "response_id", "study_id", "researcher_id", "hidden_at"}
        assert {fk["referred_table"] for fk in inspector.get_foreign_keys("hidden_reasons")} == {
            "responses", "studies", "researchers"}
    downgrade(engine, "0003")
    with engine.connect() as conn:
        assert "hidden_reasons" not in sa.inspect(conn).get_table_names()
    upgrade(engine)
    engine.dispose()
    with open_database(db_url) as db:  # a deleted answer takes its log entry with it
        study, _ = _study(db, [(1, "x", ()), (2, "y", ())])
        ada = db.get(st.Researcher, study.owner_id)
        assert ada is not None
        hidden = st.hide_reason(db, study, st.round1_reasons(db, study)[0].response_id, ada)
        db.execute(sa.delete(st.Response).where(st.Response.id == hidden.response_id))
        db.commit()
        assert db.scalar(sa.select(sa.func.count()).select_from(HiddenReason)) == 0
