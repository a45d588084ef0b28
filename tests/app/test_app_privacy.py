"""Information sheet, withdrawal, deletion and retention, on SQLite and PostgreSQL;
migration 0006 from 0005 and back."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from app_bots import Practitioner, Researcher, csrf_of
from typer.testing import CliRunner

from dsk.app import _rights as rights
from dsk.app import _study as st
from dsk.app import open_database
from dsk.app._db import downgrade, make_engine, upgrade
from dsk.app._models import (
    Assignment,
    AuditEvent,
    Collaborator,
    HiddenReason,
    Participant,
    Response,
    RoundSubmission,
    Study,
    StudyVignette,
)
from dsk.catalogue import Catalogue, load_catalogue
from dsk.cli import app as dsk_cli

SECRET = "SECRET-REASON naming the Smith family"
CASE = "tame-01-disclosure"
STUDY_TABLES = (Study, StudyVignette, Participant, Response, HiddenReason, Collaborator)


def st_catalogue() -> Catalogue:
    return load_catalogue()


def _count(db_url: str, table: type, **where: object) -> int:
    with open_database(db_url) as db:
        query = sa.select(sa.func.count()).select_from(table)
        for name, value in where.items():
            query = query.where(getattr(table, name) == value)
        return int(db.scalar(query) or 0)


def _per_participant(db_url: str, study_id: int) -> dict[int, int]:
    with open_database(db_url) as db:
        return {int(n): int(c) for n, c in db.execute(
            sa.select(Participant.number, sa.func.count(Response.id))
            .outerjoin(Response, Response.participant_id == Participant.id)
            .where(Participant.study_id == study_id).group_by(Participant.number))}


def _audit_text(db_url: str) -> str:
    with open_database(db_url) as db:
        return "\n".join(" | ".join(str(v) for v in (e.actor, e.action, e.study_id, e.detail,
                                                     e.client))
                         for e in db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def _four_consented(make_client, researcher: Researcher) -> tuple[int, dict[str, Practitioner]]:  # type: ignore[no-untyped-def]
    """A two-round study of training-12, decks of all 12, four practitioners who consented."""
    study = researcher.create_study(deck_size=12, n_participants=4, rounds=2)
    people = {}
    for link, rater in sorted(researcher.links_with_raters(study).items(), key=lambda kv: kv[1]):
        bot = Practitioner(make_client(), link)
        assert bot.consent(profession="social_worker", years=4).status_code == 200
        people[rater] = bot
    return study, people


def _answer_round(db_url: str, study: int, round_: int, secret_of: str = "") -> None:
    """Every participant answers every vignette of their deck in ``round_`` and submits."""
    with open_database(db_url) as db:
        for p in db.scalars(sa.select(Participant).where(Participant.study_id == study)):
            rater = st.rater_id(study, p.number)
            for position, vignette in enumerate(st.deck_of(db, p)):
                reason = SECRET if rater == secret_of else f"reason of {rater} on {vignette}"
                st.save_answer(db, p, vignette, round_, st.Answer(
                    1 + position % 4, 0.5, 3.0, ("housing",), "", reason, "school"), 5.0,
                    f"{rater}-{round_}-{vignette}")
            db.add(RoundSubmission(participant_id=p.id, round=round_, study_id=study))
        db.commit()


def test_withdrawal_deletes_exactly_that_participants_answers(  # type: ignore[no-untyped-def]
        make_client, researcher: Researcher, db_url: str, tmp_path: Path) -> None:
    study, people = _four_consented(make_client, researcher)
    leaver = f"s{study}-p02"
    _answer_round(db_url, study, 1, secret_of=leaver)
    with open_database(db_url) as db:  # hide one of the leaver's reasons, before round 2
        study_obj = st.get_study(db, study)
        reason = next(r for r in st.round1_reasons(db, study_obj) if r.rater_id == leaver)
        owner = db.get(st.Researcher, study_obj.owner_id)
        assert owner is not None
        st.hide_reason(db, study_obj, reason.response_id, owner)
    assert researcher.close_round(study).status_code == 200
    _answer_round(db_url, study, 2, secret_of=leaver)
    before = _per_participant(db_url, study)
    assert before == {1: 24, 2: 24, 3: 24, 4: 24}
    assert _count(db_url, HiddenReason) == 1
    with open_database(db_url) as db:
        reader = db.scalar(sa.select(Participant).where(Participant.study_id == study,
                                                        Participant.number == 1))
        assert reader is not None
        seen = st.feedback(db, reader, CASE)
        assert seen.total == 3 and not seen.reasons_withheld

    bot = people[leaver]
    page = bot.page().text
    assert 'href="/s/withdraw"' in page  # on every page of the study
    confirm = bot.client.get("/s/withdraw")
    assert confirm.status_code == 200
    assert "Withdraw and delete my answers" in confirm.text and "24 so far" in confirm.text
    # CSRF-protected like every form: nothing is deleted without the token
    assert bot.client.post("/s/withdraw", data={}).status_code == 403
    assert _per_participant(db_url, study)[2] == 24
    old_session = bot.client.cookies["dsk_p"]
    done = bot.client.post("/s/withdraw", data={"csrf_token": csrf_of(confirm.text)},
                           follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/withdrawn?note=")
    assert 'dsk_p=""' in done.headers["set-cookie"]
    shown = bot.client.get(done.headers["location"])
    assert shown.status_code == 200 and "You have withdrawn from the study" in shown.text
    assert "Your 24 answers were deleted" in shown.text
    assert "your link no longer works" in shown.text
    # a reload says the same and deletes nothing more; a forged note says nothing specific
    assert "Your 24 answers" in bot.client.get(done.headers["location"]).text
    forged = bot.client.get(done.headers["location"].replace(":24.", ":99."))
    assert forged.status_code == 200 and "99" not in forged.text

    after = _per_participant(db_url, study)
    assert after == {1: 24, 2: 0, 3: 24, 4: 24}
    assert _count(db_url, HiddenReason) == 0  # its log entry went with the answer
    assert _count(db_url, Response) == 72
    with open_database(db_url) as db:
        gone = db.scalar(sa.select(Participant).where(Participant.study_id == study,
                                                      Participant.number == 2))
        assert gone is not None and gone.withdrawn_at is not None
        assert (gone.profession, gone.experience_years, gone.session_hash, gone.link_hash) == (
            None, None, None, None)
        others = list(db.scalars(sa.select(Participant.profession)
                                 .where(Participant.study_id == study, Participant.number != 2)))
        assert others == ["social_worker"] * 3
        # colleagues' round-2 feedback no longer includes the leaver's answers
        assert db.get(Participant, reader.id) is not None
        seen = st.feedback(db, reader, CASE)
        assert seen.total == 2 and seen.reasons_withheld
        assert SECRET not in "".join(r.rationale for r in st.round1_reasons(db, st.get_study(
            db, study)))
    # logged, without content
    trail = _audit_text(db_url)
    assert f"participant:{leaver} | withdrew | {study} | {leaver}: 24 answers deleted" in trail
    assert "SECRET" not in trail and "Smith" not in trail and "social_worker" not in trail
    # the session and the link are ended
    assert bot.page().status_code == 401
    bot.client.cookies.set("dsk_p", old_session)
    assert bot.page().status_code == 401
    assert bot.client.post("/s/withdraw", data={"csrf_token": csrf_of(confirm.text)}
                           ).status_code == 401
    again = make_client().get(bot.link)
    assert again.status_code == 404 and "withdraws" in again.text
    # no new link is issued for a withdrawn participant
    assert {rid for rid, _, _ in researcher.issued_links(study)} == set()

    # exports state how many withdrawn participants were removed
    csv = researcher.client.get(f"/studies/{study}/judgements.csv")
    assert csv.headers[rights.WITHDRAWN_HEADER] == "1"
    assert leaver not in csv.text and csv.text.count("\n") == 73 and "withdrawn" not in csv.text
    parquet = researcher.client.get(f"/studies/{study}/judgements.parquet")
    assert parquet.headers[rights.WITHDRAWN_HEADER] == "1"
    parsed = pq.read_table(io.BytesIO(parquet.content))
    assert parsed.schema.metadata[rights.WITHDRAWN_KEY.encode()] == b"1"
    assert parsed.num_rows == 72 and leaver not in set(parsed.column("rater_id").to_pylist())
    page = researcher.client.get(f"/studies/{study}").text
    assert "1 withdrawn participant removed" in page and ">withdrawn</td>" in page
    out = tmp_path / "j.parquet"
    printed = CliRunner().invoke(dsk_cli, ["study", "export", str(study), "-o", str(out),
                                           "--db", db_url])
    assert printed.exit_code == 0, printed.output
    said = " ".join(printed.output.split())  # the console wraps long lines
    assert said.startswith("wrote 72 judgements") and "1 withdrawn participant removed" in said
    assert pq.read_schema(out).metadata[rights.WITHDRAWN_KEY.encode()] == b"1"


def test_an_answer_saved_as_its_author_withdraws_is_refused(db_url: str) -> None:
    with open_database(db_url) as db:
        owner = st.create_researcher(db, "ada", "a long passphrase")
        study = st.create_study(db, owner=owner, title="Pilot", set_id="training-12",
                                deck_size=3, n_participants=1, rounds=1,
                                catalogue=st_catalogue())
        p = db.scalar(sa.select(Participant).where(Participant.study_id == study.id))
        assert p is not None
        pid, deck = p.id, st.deck_of(db, p)
        st.save_answer(db, p, deck[0], 1, st.Answer(2, 0.5, 3.0, (), "", "x", "school"), 5, "a")
        with open_database(db_url) as other:  # the withdrawal, in another session
            same = other.get(Participant, pid)
            assert same is not None and rights.withdraw(other, same) == 1
        with pytest.raises(st.AppError, match="you have withdrawn") as refused:
            st.save_answer(db, p, deck[1], 1, st.Answer(2, 0.5, 3.0, (), "", "y", "school"),
                           5, "b")
        assert refused.value.status == 409
    assert _count(db_url, Response) == 0
    with open_database(db_url) as db, pytest.raises(st.AppError, match="already withdrawn"):
        again = db.get(Participant, pid)
        assert again is not None
        rights.withdraw(db, again)


def test_answers_racing_a_withdrawal_leave_nothing(db_url: str) -> None:
    """Answers saved in another thread while the practitioner withdraws: each is either
    deleted by the withdrawal or refused, never left behind."""
    with open_database(db_url) as db:
        owner = st.create_researcher(db, "ada", "a long passphrase")
        study = st.create_study(db, owner=owner, title="Pilot", set_id="training-12",
                                deck_size=12, n_participants=1, rounds=1,
                                catalogue=st_catalogue())
        p = db.scalar(sa.select(Participant).where(Participant.study_id == study.id))
        assert p is not None
        pid, deck = p.id, st.deck_of(db, p)
    first = threading.Event()
    refused: list[int] = []

    def answer() -> None:
        with open_database(db_url, migrate=False) as db:
            me = db.get(Participant, pid)
            assert me is not None
            for i, vignette in enumerate(deck):
                try:
                    st.save_answer(db, me, vignette, 1, st.Answer(2, 0.5, 3.0, (), "", "r",
                                                                   "school"), 1.0, f"r{i}")
                except st.AppError as exc:
                    refused.append(exc.status)
                first.set()

    worker = threading.Thread(target=answer)
    worker.start()
    assert first.wait(timeout=60)
    with open_database(db_url, migrate=False) as db:
        leaver = db.get(Participant, pid)
        assert leaver is not None
        rights.withdraw(db, leaver)
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert _count(db_url, Response, participant_id=pid) == 0
    assert set(refused) <= {409}


def test_owner_deletes_one_participant_after_typing_the_title(  # type: ignore[no-untyped-def]
        make_client, researcher: Researcher, db_url: str) -> None:
    study, people = _four_consented(make_client, researcher)
    _answer_round(db_url, study, 1)
    form = researcher.client.get(f"/studies/{study}/participants/delete?participant=3")
    assert form.status_code == 200 and 'value="3" selected' in form.text
    wrong = researcher.client.post(f"/studies/{study}/participants/delete", data={
        "participant": "3", "confirm_title": "pilot", "csrf_token": csrf_of(form.text)})
    assert wrong.status_code == 422
    assert "confirm_title: does not match the study&#39;s title" in wrong.text
    assert "Nothing was deleted" in wrong.text and 'value="3" selected' in wrong.text
    assert _per_participant(db_url, study) == {1: 12, 2: 12, 3: 12, 4: 12}
    done = researcher.client.post(f"/studies/{study}/participants/delete", data={
        "participant": "3", "confirm_title": " Pilot ", "csrf_token": csrf_of(form.text)})
    assert done.status_code == 200 and str(done.url).endswith(f"/studies/{study}#progress")
    assert "1 withdrawn participant removed" in done.text
    assert _per_participant(db_url, study) == {1: 12, 2: 12, 3: 0, 4: 12}
    assert people[f"s{study}-p03"].page().status_code == 401  # their session ended
    assert people[f"s{study}-p01"].page().status_code == 200
    trail = _audit_text(db_url)
    assert (f"researcher:ada | participant_deleted | {study} | s{study}-p03: 12 answers "
            "deleted") in trail
    # a deleted participant is no longer offered, and cannot be deleted twice
    form = researcher.client.get(f"/studies/{study}/participants/delete")
    assert f"s{study}-p03" not in form.text and f"s{study}-p04" in form.text
    twice = researcher.client.post(f"/studies/{study}/participants/delete", data={
        "participant": "3", "confirm_title": "Pilot", "csrf_token": csrf_of(form.text)})
    assert twice.status_code == 409 and "already withdrawn" in twice.text


def test_owner_deletes_the_study_after_typing_its_title(  # type: ignore[no-untyped-def]
        make_client, researcher: Researcher, db_url: str) -> None:
    study, _ = _four_consented(make_client, researcher)
    kept = researcher.create_study(title="Kept", deck_size=3, n_participants=2, rounds=1)
    _answer_round(db_url, study, 1, secret_of=f"s{study}-p01")
    with open_database(db_url) as db:
        st.create_researcher(db, "bob", "a long passphrase")
        st.add_collaborator(db, st.get_study(db, study), "bob", "editor")
    counts = {t.__name__: _count(db_url, t) for t in STUDY_TABLES}
    form = researcher.client.get(f"/studies/{study}/delete")
    assert form.status_code == 200 and "48 answers" in form.text
    wrong = researcher.client.post(f"/studies/{study}/delete", data={
        "confirm_title": "Kept", "csrf_token": csrf_of(form.text)})
    assert wrong.status_code == 422 and "does not match the study&#39;s title" in wrong.text
    assert {t.__name__: _count(db_url, t) for t in STUDY_TABLES} == counts
    done = researcher.client.post(f"/studies/{study}/delete", data={
        "confirm_title": "Pilot", "csrf_token": csrf_of(form.text)})
    assert done.status_code == 200 and str(done.url).endswith("/")
    assert "Kept" in done.text and ">Pilot<" not in done.text
    assert researcher.client.get(f"/studies/{study}").status_code == 404
    for table in (Study, StudyVignette, Participant, Response, HiddenReason, Collaborator):
        column = "id" if table is Study else "study_id"
        assert _count(db_url, table, **{column: study}) == 0, table.__name__
    with open_database(db_url) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Assignment)
                         .join(Participant, Participant.id == Assignment.participant_id)
                         .where(Participant.study_id == kept)) == 6
    assert _count(db_url, Participant, study_id=kept) == 2
    trail = _audit_text(db_url)
    assert f"researcher:ada | study_deleted | {study} | title 'Pilot': 4 participants" in trail
    assert "SECRET" not in trail
    # the number of a deleted study is never given to a new one (its trail is kept under it)
    newer = researcher.create_study(title="Newer", deck_size=3, n_participants=2, rounds=1)
    assert newer > kept > study


def test_purge_deletes_what_has_passed_its_retention_date(  # type: ignore[no-untyped-def]
        db_url: str) -> None:
    runner = CliRunner()
    with open_database(db_url) as db:
        owner = st.create_researcher(db, "ada", "a long passphrase")
        ids = {}
        for title, until in (("Early", "2030-01-01"), ("Late", "2031-06-30"), ("Open", "")):
            ids[title] = st.create_study(
                db, owner=owner, title=title, set_id="training-12", deck_size=3,
                n_participants=2, rounds=1, catalogue=st_catalogue(),
                information=rights.parse_information(retention_until=until)).id

    def purge(*args: str) -> str:
        result = runner.invoke(dsk_cli, ["study", "purge", "--db", db_url, *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert purge("--today", "2030-01-01") == "no study is past its retention date\n"
    listed = purge("--dry-run", "--today", "2030-01-02")
    assert listed == (f"would delete study {ids['Early']} 'Early' (retention until "
                      "2030-01-01): 2 participants, 0 answers\n")
    assert _count(db_url, Study) == 3
    deleted = purge("--today", "2030-01-02")
    assert deleted.startswith(f"deleted study {ids['Early']} 'Early'")
    assert _count(db_url, Study) == 2 and _count(db_url, Participant, study_id=ids["Early"]) == 0
    assert f"cli | purged | {ids['Early']} | title 'Early' (retention date passed)" in (
        _audit_text(db_url))
    assert purge("--today", "2031-06-30") == "no study is past its retention date\n"
    assert "'Late'" in purge("--today", "2099-01-01")
    with open_database(db_url) as db:
        assert list(db.scalars(sa.select(Study.title))) == ["Open"]
    bad = runner.invoke(dsk_cli, ["study", "purge", "--db", db_url, "--today", "01/02/2030"])
    assert bad.exit_code == 1
    assert "today: expected a date as YYYY-MM-DD, got '01/02/2030'" in bad.output


def test_the_consent_page_shows_the_information_sheet_escaped(  # type: ignore[no-untyped-def]
        make_client, researcher: Researcher, db_url: str) -> None:
    page = researcher.client.get("/").text
    made = researcher.client.post("/studies", data={
        "title": "Pilot", "set_id": "training-12", "deck_size": "3", "n_participants": "2",
        "rounds": "1", "seed": "1", "sites": "", "csrf_token": csrf_of(page),
        "info_sheet": "Why we ask.\r\n\r\n<script>alert(1)</script> & more",
        "contact": "Dr Ada <ada@example.org>", "ethics_ref": "REC/26/1",
        "retention_until": "2099-12-31"})
    assert made.status_code == 200, made.text[:500]
    study = int(re.search(r"/studies/(\d+)$", str(made.url)).group(1))  # type: ignore[union-attr]
    assert "Retention: <strong id=\"retention\">2099-12-31</strong>" in made.text
    assert "Ethics reference REC/26/1" in made.text
    assert f"researcher:ada | retention_set | {study} | retention until 2099-12-31" in (
        _audit_text(db_url))
    link = researcher.links(study)[0]
    bot = Practitioner(make_client(), link)
    consent = bot.client.get(bot.link).text
    assert "<script>alert" not in consent
    assert ('<div class="info-sheet" id="info-sheet">Why we ask.\n\n&lt;script&gt;alert(1)'
            "&lt;/script&gt; &amp; more</div>") in consent
    assert "Dr Ada &lt;ada@example.org&gt;" in consent and "REC/26/1" in consent
    assert "simply close this page" in consent
    bot.consent()
    assert bot.play_round()
    finished = bot.page().text
    assert "All done" in finished and "Dr Ada &lt;ada@example.org&gt;" in finished
    assert 'href="/s/withdraw"' in finished
    # after the first consent the sheet is fixed; the retention date is not
    info = researcher.client.get(f"/studies/{study}/information")
    assert info.status_code == 200 and "can no longer be changed" in info.text
    changed = researcher.client.post(f"/studies/{study}/information", data={
        "info_sheet": "Another text", "contact": "", "ethics_ref": "",
        "csrf_token": csrf_of(info.text)})
    assert changed.status_code == 409 and "info_sheet: practitioners have already" in changed.text
    with open_database(db_url) as db:
        assert st.get_study(db, study).info_sheet.startswith("Why we ask.")
    moved = researcher.client.post(f"/studies/{study}/retention", data={
        "retention_until": "2098-01-31", "csrf_token": csrf_of(info.text)})
    assert moved.status_code == 200 and "2098-01-31" in moved.text
    past = researcher.client.post(f"/studies/{study}/retention", data={
        "retention_until": "2001-01-01", "csrf_token": csrf_of(info.text)})
    assert past.status_code == 422
    assert "retention_until: expected today" in past.text and "got 2001-01-01" in past.text
    assert f"retention_set | {study} | retention until 2098-01-31" in _audit_text(db_url)
    assert "2001" not in _audit_text(db_url)


def test_information_sheet_before_consent_and_errors(  # type: ignore[no-untyped-def]
        make_client, researcher: Researcher, db_url: str, tmp_path: Path) -> None:
    study = researcher.create_study(deck_size=3, n_participants=2, rounds=1)
    info = researcher.client.get(f"/studies/{study}/information").text
    saved = researcher.client.post(f"/studies/{study}/information", data={
        "info_sheet": "First line\nSecond line", "contact": "ada@example.org",
        "ethics_ref": "REC 9", "csrf_token": csrf_of(info)})
    assert saved.status_code == 200 and "First line\nSecond line</textarea>" in saved.text
    bad = researcher.client.post(f"/studies/{study}/information", data={
        "info_sheet": "x", "contact": "two\nlines", "ethics_ref": "", "csrf_token": csrf_of(info)})
    assert bad.status_code == 422 and "contact: expected one line" in bad.text
    assert "two\nlines" in bad.text  # the form is shown again as sent
    page = researcher.client.get("/").text
    refused = researcher.client.post("/studies", data={
        "title": "Dated", "set_id": "training-12", "deck_size": "3", "n_participants": "2",
        "rounds": "1", "seed": "1", "csrf_token": csrf_of(page),
        "retention_until": "31/12/2099"})
    assert refused.status_code == 422
    assert "retention_until: expected a date as YYYY-MM-DD" in refused.text
    assert _count(db_url, Study) == 1
    # the command line: --info-sheet FILE, --contact, --ethics-ref, --retention-until
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("About this study.\nWe keep answers for five years.\n", encoding="utf-8")
    made = CliRunner().invoke(dsk_cli, [
        "study", "create", "--set", "training-12", "--title", "CLI", "--deck-size", "3",
        "--participants", "2", "--info-sheet", str(sheet), "--contact", "ada@example.org",
        "--ethics-ref", "REC 7", "--retention-until", "2099-01-31", "--db", db_url])
    assert made.exit_code == 0, made.output
    with open_database(db_url) as db:
        cli = db.scalar(sa.select(Study).where(Study.title == "CLI"))
        assert cli is not None
        assert (cli.info_sheet, cli.contact, cli.ethics_ref, cli.retention_until) == (
            "About this study.\nWe keep answers for five years.", "ada@example.org", "REC 7",
            dt.date(2099, 1, 31))
    assert f"cli | retention_set | {cli.id} | retention until 2099-01-31" in _audit_text(db_url)
    sheet.write_bytes(b"\xff\xfe bad")
    broken = CliRunner().invoke(dsk_cli, [
        "study", "create", "--set", "training-12", "--title", "CLI", "--deck-size", "3",
        "--participants", "2", "--info-sheet", str(sheet), "--db", db_url])
    assert broken.exit_code == 1 and f"info_sheet: {sheet}: not UTF-8 text" in broken.output


def test_migration_0006_on_and_off(db_url: str) -> None:

    engine = make_engine(db_url)
    upgrade(engine, "0005")
    now = dt.datetime(2026, 12, 1, 12, 0)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO researchers (id, username, password_hash, created_at, is_admin, "
            "disabled) VALUES (1, 'ada', 'x', :now, :f, :f)"), {"now": now, "f": False})
        conn.execute(sa.text(
            "INSERT INTO studies (id, title, owner_id, set_id, deck_size, n_participants, "
            "rounds, seed, source, source_sha256, sites, phase, created_at) VALUES "
            "(1, 'Old', 1, 'training-12', 1, 1, 1, 1, '', '', '[]', 'round1', :now)"),
            {"now": now})
        conn.execute(sa.text(
            "INSERT INTO participants (id, study_id, number, deck, claimed_at, profession, "
            "experience_years) VALUES (1, 1, 1, 1, :now, 'gp', 3)"), {"now": now})
        conn.execute(sa.text(
            "INSERT INTO assignments (participant_id, position, vignette_id) VALUES (1, 1, 'v')"))
        conn.execute(sa.text(
            "INSERT INTO responses (id, study_id, participant_id, vignette_id, round, "
            "need_level, confidence, risk, salient_factors, salient_other, rationale, "
            "lead_agency, seconds, form_nonce, submitted_at) VALUES (1, 1, 1, 'v', 1, 2, 0.5, "
            "3, '[]', '', 'kept', 'school', 4, 'n', :now)"), {"now": now})

    def counts() -> tuple[int, ...]:
        with engine.connect() as conn:
            return tuple(int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() or 0)
                         for t in ("studies", "participants", "assignments", "responses"))

    upgrade(engine)
    assert counts() == (1, 1, 1, 1)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT info_sheet, contact, ethics_ref, retention_until "
                                   "FROM studies")).one()
        assert tuple(row) == ("", "", "", None)
        assert conn.execute(sa.text("SELECT withdrawn_at, profession FROM participants")
                            ).one() == (None, "gp")
    downgrade(engine, "0005")
    assert counts() == (1, 1, 1, 1)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert "info_sheet" not in {c["name"] for c in inspector.get_columns("studies")}
        assert "withdrawn_at" not in {c["name"] for c in inspector.get_columns("participants")}
    upgrade(engine)
    engine.dispose()
    assert counts() == (1, 1, 1, 1)
    with open_database(db_url) as db:  # the migrated study can be deleted as a new one
        study = st.get_study(db, 1)
        assert rights.delete_study(db, study, "Old", actor="cli").answers == 1
    assert counts() == (0, 0, 0, 0)
