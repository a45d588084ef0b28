"""The participant list, links CSV, re-issued links, monitoring and confirmations, on
SQLite and PostgreSQL (the ``db_url`` fixture), played by the bots over HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from app_bots import Practitioner, Researcher, csrf_of
from sqlalchemy import select, update
from typer.testing import CliRunner

from dsk.app import _roster as roster
from dsk.app import _study as st
from dsk.app._models import Assignment, AuditEvent, Participant, Response, StudyVignette, utcnow
from dsk.cli import app as dsk_cli
from dsk.decks import make_decks


def _core(researcher: Researcher):  # type: ignore[no-untyped-def]
    return researcher.client.app.state.core  # type: ignore[attr-defined]


def _people(researcher: Researcher, study: int) -> list[Participant]:
    with _core(researcher).db() as db:
        return list(db.scalars(select(Participant).where(Participant.study_id == study)
                               .order_by(Participant.number)))


def _problems(page: str) -> list[str]:
    block = page[page.index('id="import-problems"'):]
    block = block[:block.index("</ul>")]
    import html

    return [html.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block, re.S)]


BAD_FILE = (
    "label,email,site,profession,phone\n"          # line 1: an extra column
    "Anna,anna@example.org,Leeds,social_worker,\n"
    ",bob@example.org,York,,\n"                      # line 3: no label
    "Cara,cara@,York,,\n"                            # line 4: bad e-mail
    "Dan,,Hull,,\n"                                  # line 5: unknown site
    "Anna,,York,,\n"                                 # line 6: duplicate label
    "Eve,,Leeds,nurse,\n"                            # line 7: unknown profession
    "Finn,,York,General practitioner,,extra\n"       # line 8: a cell beyond the header
)
BAD_PROBLEMS = [
    "line 1, column 5: unknown column 'phone'; expected only the columns label, email, "
    "site and profession",
    "line 3, column 1 (label): missing; give every participant a label",
    "line 4, column 2 (email): expected an e-mail address such as name@example.org, got "
    "'cara@'",
    "line 5, column 3 (site): unknown site 'Hull'; expected one of the study's sites: "
    "Leeds, York",
    "line 6, column 1 (label): 'Anna' is given twice (first on line 2)",
    "line 7, column 4 (profession): unknown profession 'nurse'; expected one of the ids ",
    "line 8, column 6: extra column; the header names 5 columns",
]


def test_import_reports_every_problem_at_once(researcher: Researcher, db_url: str,
                                              tmp_path: Path) -> None:
    researcher.login()
    study = researcher.create_study(n_participants=2, sites="Leeds,York", rounds=1)
    r = researcher.import_participants(study, BAD_FILE)
    assert r.status_code == 422
    got = _problems(r.text)
    assert len(got) == len(BAD_PROBLEMS)
    for line, wanted in zip(got, BAD_PROBLEMS, strict=True):
        assert line.startswith(wanted), (line, wanted)
    assert got[5].endswith(" or their labels")
    assert "7 problems, nothing was imported" in r.text
    assert all(p.label is None for p in _people(researcher, study))  # nothing stored
    # the same file from the command line: the same problems, exit status 1
    path = tmp_path / "people.csv"
    path.write_text(BAD_FILE, encoding="utf-8")
    result = CliRunner().invoke(dsk_cli, ["study", "participants", "import", str(study),
                                          str(path), "--db", db_url])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("line ")][:5] == \
        BAD_PROBLEMS[:5]
    # a label already in the study, a missing column, and text that is not UTF-8
    assert researcher.import_participants(study, "label,site\nAnna,Leeds\n").status_code == 200
    again = researcher.import_participants(study, "label,site\nAnna,York\n")
    assert _problems(again.text) == [
        "line 2, column 1 (label): 'Anna' is already a participant of this study"]
    assert _problems(researcher.import_participants(study, "label,email\nZoe,\n").text) == [
        "line 1: missing the column 'site'; expected a header line naming the columns "
        "label, site and optionally email and profession"]
    assert _problems(researcher.import_participants(study, b"label,site\nZo\xe9,York\n").text) \
        == ["line 2: not UTF-8 text (byte 14); save the file as CSV UTF-8"]
    assert _problems(researcher.import_participants(study, "label;site\nZoe;York\n").text) == [
        "line 1: the columns are separated by semicolons; save the file as CSV with commas "
        "(CSV UTF-8)"]
    assert _problems(researcher.import_participants(
        study, 'label,site\n"Zoe\nSmith",York\n"open,York\n').text) == [
        "line 2, column 1 (label): expected one line, got a line break inside the label",
        "line 4: not a CSV line (unexpected end of data)"]
    assert _problems(researcher.import_participants(study, "").text) == [
        "line 1: empty; expected a header line naming the columns label, site and optionally "
        "email and profession"]


def test_import_with_a_byte_order_mark_fills_free_places_then_adds(
        researcher: Researcher) -> None:
    researcher.login()
    study = researcher.create_study(n_participants=3, sites="Leeds,York", rounds=1)
    text = ("\ufeffLabel,Site,Email,Profession\r\n"
            "Anna,Leeds,anna@example.org,social_worker\r\n"
            "Ben,York,,General practitioner\r\n"
            "Cara,York,cara@example.org,\r\n")
    r = researcher.import_participants(study, text.encode("utf-8"))
    assert r.status_code == 200 and r.url.path == f"/studies/{study}"
    people = _people(researcher, study)
    # Leeds had places 1 and 2, York place 3: Cara is added as participant 4
    assert [(p.number, p.label, p.site, p.email, p.profession) for p in people] == [
        (1, "Anna", "Leeds", "anna@example.org", "social_worker"),
        (2, None, "Leeds", None, None),
        (3, "Ben", "York", None, "gp"),
        (4, "Cara", "York", "cara@example.org", None)]
    assert "Anna" in r.text and "cara@example.org" in r.text  # shown to the researcher
    with _core(researcher).db() as db:
        line = db.scalar(select(AuditEvent).where(AuditEvent.action == "participants_imported"))
    assert line is not None
    assert line.detail == "3 participants (2 in free places, 1 added), 2 e-mail addresses"


def test_adding_participants_deals_the_next_decks_of_the_design(
        researcher: Researcher) -> None:
    researcher.login()
    study = researcher.create_study(n_participants=4, deck_size=3, rounds=1, seed=7)
    # 12 vignettes in decks of 3: 4 decks; import 6 (4 places, 2 added), then add 3
    assert researcher.import_participants(
        study, "label,site\n" + "".join(f"P{i},\n" for i in range(6))).status_code == 200
    assert researcher.add_participants(study, 3).status_code == 200
    assert researcher.add_participants(study, 0).status_code == 422
    with _core(researcher).db() as db:
        ids = list(db.scalars(select(StudyVignette.vignette_id).where(
            StudyVignette.study_id == study).order_by(StudyVignette.ordinal)))
        got = pd.DataFrame(db.execute(
            select(Participant.number, Participant.deck, Assignment.position,
                   Assignment.vignette_id)
            .join(Assignment, Assignment.participant_id == Participant.id)
            .where(Participant.study_id == study)
            .order_by(Participant.number, Assignment.position)).all(),
            columns=["respondent", "deck", "position", "vignette_id"])
        assert st.get_study(db, study).n_participants == 9
    wanted = make_decks(ids, 3, 9, random_state=7)
    pd.testing.assert_frame_equal(got, wanted, check_dtype=False)
    assert got.drop_duplicates("respondent")["deck"].tolist() == [1, 2, 3, 4, 1, 2, 3, 4, 1]
    assert [p.label for p in _people(researcher, study)] == [
        "P0", "P1", "P2", "P3", "P4", "P5", None, None, None]


def test_links_csv_has_every_link_once_with_cells_neutralised(researcher: Researcher) -> None:
    researcher.login()
    study = researcher.create_study(n_participants=3, sites="Leeds,York", rounds=1)
    researcher.import_participants(study, "label,site\n=HYPERLINK(1),Leeds\nBen,Leeds\n"
                                          "Cara,York\n")
    r = researcher.links_csv(study)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store"
    assert 'filename="study-' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["label"], x["site"], x["rater_id"]) for x in rows] == [
        ("'=HYPERLINK(1)", "Leeds", f"s{study}-p01"), ("Ben", "Leeds", f"s{study}-p02"),
        ("Cara", "York", f"s{study}-p03")]
    assert len({x["link"] for x in rows}) == 3
    # the links work; one site only replaces that site's unused links
    york = list(csv.DictReader(io.StringIO(researcher.links_csv(study, "York").text)))
    assert [x["label"] for x in york] == ["Cara"]
    for row, status in ((rows[0], 200), (rows[2], 404), (york[0], 200)):
        path = "/" + row["link"].split("/", 3)[3]
        assert researcher.client.get(path).status_code == status, row
    with _core(researcher).db() as db:
        details = list(db.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "links_issued").order_by(AuditEvent.id)))
    assert details == ["every site as CSV", "site York as CSV"]


def test_reissue_one_link_ends_only_that_link_and_session(researcher: Researcher,
                                                          make_client) -> None:  # type: ignore[no-untyped-def]
    researcher.login()
    study = researcher.create_study(n_participants=3, deck_size=3, rounds=1)
    links = researcher.links(study)
    ann, ben = (Practitioner(make_client(), link) for link in links[:2])
    unused = links[2]
    for bot in (ann, ben):
        assert bot.consent().status_code == 200
    ann.play_round(limit=1)
    # the confirmation page changes nothing
    assert researcher.client.get(f"/studies/{study}/participants/1/reissue").status_code == 200
    assert ann.page().status_code == 200
    new = researcher.reissue_link(study, 1)
    assert ann.page().status_code == 401                      # old session ended
    assert ann.client.get(ann.link).status_code == 404        # old link gone
    assert ben.page().status_code == 200                      # nobody else touched
    assert researcher.client.get("/" + unused.split("/", 3)[3]).status_code == 200
    ben.play_round(limit=1)
    # on another device the new link carries on, without consenting again
    other = make_client()
    page = other.get("/" + new.split("/", 3)[3])
    assert page.status_code == 200 and 'name="profession"' not in page.text
    r = other.post("/" + new.split("/", 3)[3], data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 200 and 'name="form_token"' in r.text
    with _core(researcher).db() as db:
        answers = db.scalar(select(Response.id).where(Response.study_id == study,
                                                      Response.participant_id == 1))
        line = db.scalar(select(AuditEvent).where(AuditEvent.action == "link_reissued"))
    assert answers is not None  # Ann's answer is kept
    assert line is not None and line.detail == f"s{study}-p01"
    assert researcher.client.get(f"/studies/{study}/participants/9/reissue").status_code == 422


def _at(hours_ago: float) -> dt.datetime:
    return utcnow() - dt.timedelta(hours=hours_ago)


def test_monitoring_counts_a_hand_made_scenario(researcher: Researcher,
                                               make_client) -> None:  # type: ignore[no-untyped-def]
    researcher.login()
    study = researcher.create_study(n_participants=5, deck_size=2, rounds=1,
                                    sites="Leeds,York")
    # Leeds: 1, 2, 3; York: 4, 5
    links = researcher.links(study)[:4]
    bots = [Practitioner(make_client(), link) for link in links]
    bots[0].consent("social_worker")
    bots[0].play_round()                  # p1: finished
    bots[1].consent("social_worker")
    bots[1].play_round(limit=1)           # p2: one case of two
    bots[2].consent("gp")                 # p3: consented only
    # p4: invited only
    core = _core(researcher)
    with core.db() as db:
        pid = {p.number: p.id for p in db.scalars(select(Participant).where(
            Participant.study_id == study))}
        first = db.scalars(select(Response).where(Response.participant_id == pid[1])
                           .order_by(Response.id)).all()
        for r, seconds, ago in zip(first, (30.0, 50.0), (61, 60), strict=True):
            r.seconds, r.submitted_at = seconds, _at(ago)
        db.execute(update(Response).where(Response.participant_id == pid[2])
                   .values(seconds=100.0, submitted_at=_at(50)))
        db.execute(update(Participant).where(Participant.id == pid[5])
                   .values(link_hash=None, invited_at=None))  # as if never issued
        for number, ago in ((1, 62), (2, 70), (3, 10)):
            db.execute(update(Participant).where(Participant.id == pid[number])
                       .values(claimed_at=_at(ago)))
        db.commit()
        got = roster.monitoring(db, st.get_study(db, study), core.professions)
    assert got.by_site[["group", "invited", "started", "finished", "median_seconds"]] \
        .to_dict("records") == [
        {"group": "Leeds", "invited": 3, "started": 3, "finished": 1, "median_seconds": 50.0},
        {"group": "York", "invited": 1, "started": 0, "finished": 0,
         "median_seconds": pytest.approx(float("nan"), nan_ok=True)},
        {"group": "all", "invited": 4, "started": 3, "finished": 1, "median_seconds": 50.0}]
    assert got.by_profession[["group", "invited", "started", "finished"]].values.tolist() == [
        ["Social worker", 2, 2, 1], ["General practitioner", 1, 1, 0],
        ["not given yet", 1, 0, 0], ["all", 4, 3, 1]]
    leeds_last = got.by_site.loc[0, "last_activity"]  # p3's consent
    assert abs((pd.Timestamp(_at(10)) - leeds_last).total_seconds()) < 60
    assert pd.isna(got.by_site.loc[1, "last_activity"])
    # stalled: p2 (idle 50 h) by default; with 5 hours also p3 (10 h since consent)
    assert got.stalled[["rater_id", "answered"]].values.tolist() == [[f"s{study}-p02", 1]]
    page = researcher.monitoring(study).text
    assert re.findall(r'<td data-label="Practitioner" class="who">([^<]+)</td>', page) == [
        f"s{study}-p02"]
    researcher.import_participants(study, "label,site\nYara,York\n")  # p5 gets a label
    with core.db() as db:
        db.execute(update(Participant).where(Participant.id == pid[2]).values(label="Bea"))
        db.commit()
    page = researcher.monitoring(study, "5").text
    assert re.findall(r'<td data-label="Practitioner" class="who">([^<]+)</td>', page) == [
        "Bea", f"s{study}-p03"]
    assert "nothing for more than 5 hours" in page
    assert researcher.monitoring(study, "100").text.count('class="who"') == 0
    for bad in ("0", "-1", "2.5", "x" * 30):
        r = researcher.monitoring(study, bad)
        assert r.status_code == 422 and "stalled_hours: expected a whole number" in r.text


def test_closing_and_creating_links_ask_first(researcher: Researcher) -> None:
    researcher.login()
    study = researcher.create_study(n_participants=2, rounds=2)
    page = researcher.client.get(f"/studies/{study}").text
    # the study page's buttons only open the confirmation pages
    assert not re.search(r'<form method="post" action="/studies/\d+/(close|links)"', page)
    first = researcher.links(study)
    confirm = researcher.client.get(f"/studies/{study}/close")
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.text
    assert researcher.client.get(f"/studies/{study}/close").status_code == 200  # a reload
    asked = researcher.client.get(f"/studies/{study}/links")
    assert "The 2 links already created for them and not yet used will stop working" \
        in asked.text
    with _core(researcher).db() as db:
        assert st.get_study(db, study).phase == "round1"
    assert researcher.client.get("/" + first[0].split("/", 3)[3]).status_code == 200
    r = researcher.client.post(f"/studies/{study}/close",
                               data={"csrf_token": csrf_of(confirm.text)},
                               follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/studies/{study}")
    with _core(researcher).db() as db:
        assert st.get_study(db, study).phase == "round2"
    assert researcher.close_round(study).status_code == 200
    assert researcher.client.get(f"/studies/{study}/close").status_code == 409


def test_withdrawal_and_deletion_clear_label_and_email(researcher: Researcher,
                                                       make_client) -> None:  # type: ignore[no-untyped-def]
    researcher.login()
    study = researcher.create_study(n_participants=2, deck_size=2, rounds=1)
    researcher.import_participants(study, "label,email,site\nAnna Smith,anna@example.org,\n"
                                          "Ben Jones,ben@example.org,\n")
    links = researcher.links(study)
    ann = Practitioner(make_client(), links[0])
    ann.consent()
    ann.play_round()
    export = researcher.client.get(f"/studies/{study}/judgements.csv").text
    assert f"s{study}-p01" in export and "Anna" not in export and "example.org" not in export
    confirm = ann.client.get("/s/withdraw")
    ann.client.post("/s/withdraw", data={"csrf_token": csrf_of(confirm.text)})
    page = researcher.client.get(f"/studies/{study}/participants/delete").text
    researcher.client.post(f"/studies/{study}/participants/delete", data={
        "participant": "2", "confirm_title": "Pilot", "csrf_token": csrf_of(page)})
    people = _people(researcher, study)
    assert [(p.label, p.email, p.withdrawn_at is not None) for p in people] == [
        (None, None, True), (None, None, True)]
    page = researcher.client.get(f"/studies/{study}").text
    assert "Anna" not in page and "example.org" not in page
    with _core(researcher).db() as db:
        trail = " ".join(db.scalars(select(AuditEvent.detail)))
    assert "Anna" not in trail and "example.org" not in trail


def test_migration_0008_on_and_off(db_url: str) -> None:
    """Labels, e-mail addresses and link times come with 0008 and go back with it."""
    import sqlalchemy as sa

    from dsk.app._db import downgrade, make_engine, upgrade

    engine = make_engine(db_url)
    upgrade(engine, "0007")
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
        conn.execute(sa.text("INSERT INTO participants (id, study_id, number, deck, "
                             "profession) VALUES (1, 1, 1, 1, 'gp')"))
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT label, email, invited_at, profession FROM "
                                    "participants")).one() == (None, None, None, "gp")
        conn.execute(sa.text("UPDATE participants SET label = 'Anna'"))
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.text("INSERT INTO participants (id, study_id, number, deck, "
                                 "label) VALUES (2, 1, 2, 1, 'Anna')"))
    downgrade(engine, "0007")
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("participants")}
        assert not {"label", "email", "invited_at"} & columns
        assert conn.execute(sa.text("SELECT count(*) FROM participants")).scalar() == 1
    upgrade(engine)
    engine.dispose()


def test_roster_docstring_examples() -> None:
    """The hand-worked examples of :mod:`dsk.app._roster` (a private module, which the
    suite's doctest runs do not collect)."""
    import doctest

    result = doctest.testmod(roster, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 10, result


def test_a_viewer_sees_monitoring_and_labels_but_no_actions(
        researcher: Researcher, make_client, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from dsk.app import create_researcher

    researcher.login()
    study = researcher.create_study(n_participants=2, sites="Leeds,York", rounds=1)
    researcher.import_participants(study, "label,email,site\nAnna,anna@example.org,Leeds\n")
    create_researcher(db_url, "vera", "a viewer's long password")
    assert researcher.add_collaborator(study, "vera", "viewer").status_code == 200
    viewer = Researcher(make_client())
    viewer.login("vera", "a viewer's long password")
    page = viewer.client.get(f"/studies/{study}").text
    assert 'id="monitor-sites"' in page and 'id="monitor-professions"' in page
    assert "Anna" in page and "anna@example.org" in page
    assert "/participants/import" not in page and "/reissue" not in page
    assert "/participants/add" not in page
    assert viewer.import_participants(study, "label,site\nBen,York\n").status_code == 403
    assert viewer.client.get(f"/studies/{study}/links").status_code == 403
    # refused values on the editor's side, never a server error
    assert researcher.client.get(f"/studies/{study}/links?site=Hull").status_code == 422
    page = researcher.client.get(f"/studies/{study}/links").text
    bad = researcher.client.post(f"/studies/{study}/links", data={
        "csrf_token": csrf_of(page), "format": "xlsx"})
    assert bad.status_code == 422 and "format: expected html or csv" in bad.text
    assert researcher.add_participants(study, 1, "Hull").status_code == 422
    assert researcher.add_participants(study, 999).status_code == 422  # over 1000 in all
    assert len(_people(researcher, study)) == 2
