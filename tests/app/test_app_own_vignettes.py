"""A study from the researcher's own vignettes file, with sites: web upload, CLI, survey path,
and the migration that stores the file's name and the sites."""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import typer
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Practitioner, Researcher, default_answer
from typer.testing import CliRunner

from dsk.app import _study as st
from dsk.app import create_researcher, export_judgements, open_database, read_survey
from dsk.app._db import make_engine, upgrade
from dsk.app._models import Participant, Study, StudyVignette
from dsk.app.cli import admin_app, study_app
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.io import read_table, write_table

CATALOGUE = load_catalogue()

HAND_SET = textwrap.dedent("""\
    id: our-cases
    seed: 7
    vignettes:
      - id: baby-mh
        age_band: infant
        factors: {parental_mental_health: affecting_care}
      - id: disclosure
        age_band: primary
        factors: {disclosure: present}
      - id: strengths
        age_band: preschool
        factors: {positive_parenting: present, extended_family_support: present}
    """)


@pytest.fixture(scope="module")
def own_frame() -> pd.DataFrame:
    return generate("random", 8, 5, CATALOGUE, set_id="our-pilot")


def _own_file(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    return write_table(frame, folder / name)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(admin_app, name="admin")
    app.add_typer(study_app, name="study")
    return app


def _studies(db_url: str) -> int:
    with open_database(db_url) as db:
        return int(db.scalar(sa.select(sa.func.count()).select_from(Study)) or 0)


# ---------------------------------------------------------------- web page


def test_upload_own_file_with_sites(make_client, researcher: Researcher, db_url: str,
                                    own_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = _own_file(own_frame, tmp_path, "our pilot.csv")
    study = researcher.create_study(title="Own", vignettes_file=path, deck_size=4,
                                    n_participants=4, rounds=1, sites="Leeds, Bristol")
    page = _text(researcher.client.get(f"/studies/{study}").text)
    assert "Set our-pilot from the file our pilot.csv" in page and "2 decks of 4" in page
    assert "Sites: Leeds, Bristol." in page
    assert "our-pilot (our pilot.csv)" in html.unescape(researcher.client.get("/").text)
    leeds = researcher.issued_links(study, "Leeds")
    assert [(rid, site) for rid, site, _ in leeds] == [(f"s{study}-p01", "Leeds"),
                                                       (f"s{study}-p02", "Leeds")]
    bristol = researcher.issued_links(study, "Bristol")
    assert [site for _, site, _ in bristol] == ["Bristol", "Bristol"]
    r = researcher.client.post(f"/studies/{study}/links", data={
        "site": "York", "csrf_token": csrf(researcher, study)})
    assert r.status_code == 422 and "unknown site 'York'" in html.unescape(r.text)
    r = researcher.move_to_site(study, 4, "Leeds")  # then back: the form works both ways
    assert r.status_code == 200 and f"s{study}-p04 (Leeds)" in r.text
    assert researcher.move_to_site(study, 4, "Bristol").status_code == 200
    r = researcher.move_to_site(study, 9, "Leeds")
    assert r.status_code == 422 and "participant: expected a whole number from 1 to 4" in r.text
    for years, (_, _, link) in enumerate(leeds + bristol, start=3):
        bot = Practitioner(make_client(), link)
        bot.consent(years=years)
        assert len(bot.play_round()) == 4
    table = read_table(_download(researcher, study, tmp_path), "judgements")
    assert len(table) == 16
    assert set(table["vignette_id"]) <= set(own_frame["vignette_id"])
    assert table.groupby("rater_id")["site"].first().to_dict() == {
        f"s{study}-p01": "Leeds", f"s{study}-p02": "Leeds",
        f"s{study}-p03": "Bristol", f"s{study}-p04": "Bristol"}
    assert table.groupby("rater_id")["years_experience"].first().tolist() == [3.0, 4.0, 5.0, 6.0]
    assert sorted(table["deck_id"].unique()) == ["deck-1", "deck-2"]
    assert sorted(table.groupby("rater_id")["position"].apply(sorted).iloc[0]) == [1, 2, 3, 4]


def _text(page: str) -> str:
    """The page's text, tags removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def csrf(researcher: Researcher, study: int) -> str:
    from app_bots import csrf_of

    return csrf_of(researcher.client.get(f"/studies/{study}").text)


def _download(researcher: Researcher, study: int, folder: Path) -> Path:
    r = researcher.client.get(f"/studies/{study}/judgements.csv")
    assert r.status_code == 200
    out = folder / "export.csv"
    out.write_bytes(r.content)
    return out


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("broken.jsonl", None, "broken.jsonl, line 2: not valid JSON"),
    ("short.csv", "vignette_id,set_id\nv1,mine\n", "short.csv: vignettes: missing required columns seed, "),
    ("cases.yaml", HAND_SET.replace("disclosure: present", "disclosure: sometimes"),
     "cases.yaml:9:27: vignette 'disclosure', field 'factors.disclosure': 'disclosure' has no level 'sometimes'"),
    ("cases.xlsx", "x", "cases.xlsx: unknown file type '.xlsx'"),
    ("odd.yaml", "id: x\nseed: 1\nvignettes: [1, 2]\n",
     "odd.yaml: 2 problems in the vignette set\nodd.yaml:3:13: vignette 1: expected a mapping"),
    ("garbage.parquet", "PAR1 no footer", "garbage.parquet: not a readable Parquet file"),
])
def test_bad_upload_shows_the_errors_and_stores_nothing(
        researcher: Researcher, db_url: str, own_frame: pd.DataFrame, tmp_path: Path,
        name: str, content: str | None, expected: str) -> None:
    path = tmp_path / name
    if content is None:  # a good first line, then a broken one
        good = _own_file(own_frame.head(1), tmp_path, "one.jsonl").read_text()
        path.write_text(good + '{"vignette_id": "x",\n')
    else:
        path.write_text(content)
    r = researcher.post_study(title="Kept title", vignettes_file=path, deck_size=2,
                              n_participants=2, rounds=1, sites="Leeds")
    text = html.unescape(r.text)
    assert r.status_code == 422, text
    assert 'id="errors"' in text and f"vignettes_file: {expected}" in text
    assert 'href="#vignettes_file-field"' in text
    assert 'value="Kept title"' in text and 'value="Leeds"' in text  # the form is shown again
    assert _studies(db_url) == 0 and "No studies yet." in text


def test_bad_field_with_a_good_file_names_the_field(researcher: Researcher, db_url: str,
                                                    own_frame: pd.DataFrame,
                                                    tmp_path: Path) -> None:
    path = _own_file(own_frame, tmp_path, "ours.parquet")
    r = researcher.post_study(vignettes_file=path, deck_size=9, n_participants=2)
    assert r.status_code == 422
    assert "deck_size: expected a whole number from 1 to 8, got 9" in r.text
    r = researcher.post_study(vignettes_file=path, deck_size=2, n_participants=4,
                              sites="Leeds:1, Bristol:2")
    assert r.status_code == 422
    assert "sites: the sites&#39; counts add up to 3, but the study has 4" in r.text
    r = researcher.post_study(vignettes_file=path, deck_size=2, n_participants=4,
                              sites="Leeds, Leeds")
    assert r.status_code == 422 and "site &#39;Leeds&#39; is given twice" in r.text
    assert _studies(db_url) == 0


# ---------------------------------------------------------------- library and CLI


def test_sites_split_the_participants_in_blocks_balanced_over_decks(
        sqlite_url: str) -> None:
    """24 practitioners, 4 decks of 12 from 48 vignettes, 2 sites: each site gets each
    deck three times."""
    frame = generate("random", 48, 3, CATALOGUE, set_id="forty-eight")
    with open_database(sqlite_url) as db:
        owner = st.create_researcher(db, RESEARCHER, RESEARCHER_PASSWORD)
        study = st.create_study(db, owner=owner, title="Two sites", deck_size=12, n_participants=24,
                                rounds=1, catalogue=CATALOGUE, vignettes=frame,
                                sites="Leeds,Bristol")
        rows = [(p.site, p.deck) for p in st.progress(db, study)]
        assert study.set_id == "forty-eight" and st.sites_of(study) == ["Leeds", "Bristol"]
    counts = pd.DataFrame(rows, columns=["site", "deck"]).value_counts().to_dict()
    assert counts == {(site, deck): 3 for site in ("Leeds", "Bristol") for deck in (1, 2, 3, 4)}
    assert [site for site, _ in rows] == ["Leeds"] * 12 + ["Bristol"] * 12


def test_cli_create_from_jsonl_and_yaml(sqlite_url: str, own_frame: pd.DataFrame,
                                        tmp_path: Path) -> None:
    create_researcher(sqlite_url, RESEARCHER, RESEARCHER_PASSWORD)  # the owner
    runner = CliRunner()
    cli = _cli()
    jsonl = _own_file(own_frame, tmp_path, "ours.jsonl")
    r = runner.invoke(cli, ["study", "create", "--vignettes", str(jsonl), "--title", "Ours",
                            "--deck-size", "4", "--participants", "6", "--sites",
                            "Leeds,Bristol", "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    assert "created study 1: our-pilot, 6 participants, decks of 4, sites Leeds, Bristol" in r.output
    (tmp_path / "ours.yaml").write_text(HAND_SET)
    r = runner.invoke(cli, ["study", "create", "--vignettes", str(tmp_path / "ours.yaml"),
                            "--title", "Hand", "--deck-size", "3", "--participants", "2",
                            "--rounds", "2", "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    assert "created study 2: our-cases" in r.output
    with open_database(sqlite_url) as db:
        first, second = st.get_study(db, 1), st.get_study(db, 2)
        assert (first.source, first.set_id, second.source, second.set_id) == (
            "ours.jsonl", "our-pilot", "ours.yaml", "our-cases")
        assert len(first.source_sha256) == 64 and second.rounds == 2
        ids = set(db.scalars(sa.select(StudyVignette.vignette_id)
                             .where(StudyVignette.study_id == 2)))
        assert ids == {"baby-mh", "disclosure", "strengths"}
        assert [p.site for p in st.progress(db, first)] == ["Leeds"] * 3 + ["Bristol"] * 3
        assert {p.site for p in st.progress(db, second)} == {None}
    # errors: both or neither source; a bad file names its line and field; nothing stored
    r = runner.invoke(cli, ["study", "create", "--vignettes", str(jsonl), "--set", "core-60",
                            "--title", "x", "--deck-size", "2", "--participants", "2",
                            "--db", sqlite_url])
    assert r.exit_code == 1 and "give either --vignettes FILE or --set ID" in r.output
    bad = tmp_path / "bad.csv"
    frame = own_frame.copy()
    frame.loc[2, "age_band"] = 9
    write_table(frame, bad)
    r = runner.invoke(cli, ["study", "create", "--vignettes", str(bad), "--title", "x",
                            "--deck-size", "2", "--participants", "2", "--db", sqlite_url])
    assert r.exit_code == 1
    assert f"error: vignettes_file: {bad}, line 4" in r.output and "age_band" in r.output
    assert _studies(sqlite_url) == 2


# ---------------------------------------------------------------- survey path


def test_survey_round_trip_with_own_vignettes(sqlite_url: str, own_frame: pd.DataFrame,
                                              tmp_path: Path) -> None:
    create_researcher(sqlite_url, RESEARCHER, RESEARCHER_PASSWORD)  # the owner
    runner = CliRunner()
    cli = _cli()
    jsonl = _own_file(own_frame, tmp_path, "ours.jsonl")
    r = runner.invoke(cli, ["study", "create", "--vignettes", str(jsonl), "--title", "Survey",
                            "--deck-size", "4", "--participants", "2", "--sites",
                            "Leeds,Bristol", "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["study", "survey", "1", "-o", str(tmp_path / "survey.csv"),
                            "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    design = read_survey(tmp_path / "survey.csv")
    assert set(design["vignette_id"]) == set(own_frame["vignette_id"])
    narratives = dict(zip(own_frame["vignette_id"], own_frame["narrative"], strict=True))
    shown = design[design["field"] == "narrative"]
    assert all(narratives[v] == text for v, text in zip(shown["vignette_id"], shown["text"],
                                                        strict=True))
    levels = design[design["field"] == "need_level"]
    row = {"respondent_id": "R1", "Site": "Leeds", "experience_years": "4.0"}
    deck2 = levels[levels["deck"] == 2]
    for i, q in enumerate(deck2["question_id"]):
        row[q] = f"{1 + i % 4}.0"  # a spreadsheet's way of writing 1, 2, 3, 4
    pd.DataFrame([row]).to_csv(tmp_path / "responses.csv", index=False)
    r = runner.invoke(cli, ["study", "import", str(tmp_path / "responses.csv"), "--design",
                            str(tmp_path / "survey.csv"), "-o", str(tmp_path / "j.parquet")])
    assert r.exit_code == 0, r.output
    table = read_table(tmp_path / "j.parquet", "judgements")
    assert table["need_level"].tolist() == [1, 2, 3, 4]
    assert table["vignette_id"].tolist() == deck2["vignette_id"].tolist()
    assert table["position"].tolist() == deck2["position"].tolist() == [1, 2, 3, 4]
    assert set(table["deck_id"]) == {"deck-2"} and set(table["site"]) == {"Leeds"}
    assert set(table["years_experience"]) == {4.0}
    # 2.5 is not a need level: refused with the line and column
    first = deck2["question_id"].iloc[0]
    row[first] = "2.5"
    pd.DataFrame([{"respondent_id": "R0"}, row]).to_csv(tmp_path / "responses.csv", index=False)
    r = runner.invoke(cli, ["study", "import", str(tmp_path / "responses.csv"), "--design",
                            str(tmp_path / "survey.csv"), "-o", str(tmp_path / "k.parquet")])
    assert r.exit_code == 1
    assert f"responses.csv, line 3, column '{first}': expected a need level from 1 to 4" in r.output
    assert "got '2.5'" in r.output and not (tmp_path / "k.parquet").exists()


def test_survey_design_with_fractional_position_refused(tmp_path: Path) -> None:
    from dsk.app import SurveyError

    design = pd.DataFrame([{"study_id": 1, "deck": 1, "position": "2.5", "vignette_id": "a",
                            "question_id": "d1_01_level", "field": "need_level",
                            "type": "single", "text": "", "choices": ""}])
    design.to_csv(tmp_path / "survey.csv", index=False)
    with pytest.raises(SurveyError, match=r"survey.csv, line 2, column 'position': expected a "
                                          r"whole number, got '2.5'"):
        read_survey(tmp_path / "survey.csv")


# ---------------------------------------------------------------- migration


def test_upgrade_from_0001_keeps_studies(db_url: str) -> None:
    """A database made at revision 0001 with a study in it upgrades: the study gets no
    file and no sites, and still exports."""
    engine = make_engine(db_url, pool_size=1)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("studies")}
        assert "sites" not in columns
        conn.execute(sa.text(
            "INSERT INTO studies (id, title, set_id, deck_size, n_participants, rounds, seed, "
            "phase, created_at) VALUES (1, 'Old', 'training-12', 1, 1, 1, 1, 'round1', "
            "'2026-05-10 10:00:00')"))
        conn.execute(sa.text(
            "INSERT INTO participants (id, study_id, number, deck, profession, experience_years)"
            " VALUES (1, 1, 1, 1, 'police', 9)"))
        conn.execute(sa.text("INSERT INTO assignments (participant_id, position, vignette_id) "
                             "VALUES (1, 1, 'tame-01-disclosure')"))
        conn.execute(sa.text(
            "INSERT INTO responses (id, study_id, participant_id, vignette_id, round, need_level,"
            " confidence, risk, salient_factors, salient_other, rationale, lead_agency, seconds,"
            " form_nonce, submitted_at) VALUES (1, 1, 1, 'tame-01-disclosure', 1, 4, 0.9, 8,"
            " '[\"disclosure\"]', '', 'why', 'social_care', 12, 'n1', '2026-05-10 10:05:00')"))
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT source, source_sha256, sites FROM studies")).one()
        site = conn.execute(sa.text("SELECT site FROM participants")).scalar_one()
    engine.dispose()
    assert tuple(row) == ("", "", "[]") and site is None
    table = export_judgements(db_url, 1)
    assert table[["vignette_id", "need_level", "deck_id", "position", "years_experience"]
                 ].to_dict("records") == [{"vignette_id": "tame-01-disclosure", "need_level": 4,
                                           "deck_id": "deck-1", "position": 1,
                                           "years_experience": 9.0}]
    assert table["site"].isna().all()
    with open_database(db_url) as db:
        assert st.sites_of(st.get_study(db, 1)) == []


def test_practitioners_see_the_files_narratives(make_client, researcher: Researcher,
                                                own_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = _own_file(own_frame, tmp_path, "ours.jsonl")
    study = researcher.create_study(vignettes_file=path, deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    bot.consent()
    with open_database(researcher_db(researcher)) as db:
        participant = db.scalar(sa.select(Participant).where(Participant.study_id == study))
        assert participant is not None
        deck = st.deck_of(db, participant)
    narratives = dict(zip(own_frame["vignette_id"], own_frame["narrative"], strict=True))
    page = html.unescape(bot.page().text)
    assert narratives[deck[0]].split("\n")[0] in page
    assert bot.submit(bot.page().text, default_answer(0)).status_code == 200


def researcher_db(researcher: Researcher) -> str:
    return str(researcher.client.app.state.core.engine.url.render_as_string(  # type: ignore[attr-defined]
        hide_password=False))
