"""Survey export (generic CSV, Qualtrics Advanced Format) and import into judgements; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Practitioner, Researcher, default_answer
from typer.testing import CliRunner

from dsk.app import (
    SurveyError,
    import_survey,
    open_database,
    qualtrics_txt,
    read_survey,
    survey_design_of,
    write_survey,
)
from dsk.app import _study as st
from dsk.app.cli import admin_app, serve, study_app
from dsk.catalogue import load_catalogue
from dsk.io import read_table

CATALOGUE = load_catalogue()


@pytest.fixture
def study_db(sqlite_url: str) -> tuple[str, int]:
    with open_database(sqlite_url) as db:
        owner = st.create_researcher(db, RESEARCHER, RESEARCHER_PASSWORD)
        study = st.create_study(db, owner=owner, title="Survey", set_id="training-12", deck_size=3,
                                n_participants=4, rounds=1, seed=2, catalogue=load_catalogue())
        return sqlite_url, study.id


def _qualtrics_export(design: pd.DataFrame, path: Path) -> None:
    """A response export shaped like Qualtrics': three header rows, numeric codes or text."""
    deck1 = design[design["deck"] == 1]
    deck2 = design[design["deck"] == 2]
    columns = ["ResponseId", "profession", "experience_years", *design["question_id"]]
    header2 = ["Response ID", "Profession", "Years", *design["text"].str[:20]]
    header3 = ['{"ImportId":"_recordId"}'] + ['{"ImportId":"QID1"}'] * (len(columns) - 1)
    r1 = dict.fromkeys(columns, "")
    r1.update(ResponseId="R_1", profession="social_worker", experience_years="7")
    for i, q in enumerate(deck1[deck1["field"] == "need_level"]["question_id"]):
        prefix = q.rsplit("_", 1)[0]
        r1.update({q: str(i + 2), f"{prefix}_conf": "80", f"{prefix}_risk": "6",
                   f"{prefix}_factors": "1,31", f"{prefix}_why": "numeric codes",
                   f"{prefix}_agency": "14"})
    r2 = dict.fromkeys(columns, "")
    r2.update(ResponseId="R_2", profession="police", experience_years="2")
    for q in deck2[deck2["field"] == "need_level"]["question_id"]:
        prefix = q.rsplit("_", 1)[0]
        r2.update({q: "4 Specialist or statutory: children's social care leads",
                   f"{prefix}_factors": "Domestic abuse; housing",
                   f"{prefix}_agency": "The police service"})
    rows = [dict(zip(columns, header2, strict=True)), dict(zip(columns, header3, strict=True)),
            r1, r2]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


def test_survey_round_trip(study_db: tuple[str, int], tmp_path: Path) -> None:
    db_url, study_id = study_db
    design = survey_design_of(db_url, study_id, CATALOGUE)
    assert design["question_id"].is_unique
    assert set(design["deck"]) == {1, 2, 3, 4}
    assert (design.groupby("deck")["vignette_id"].nunique() == 3).all()
    write_survey(design, tmp_path / "survey.csv", CATALOGUE)
    design = read_survey(tmp_path / "survey.csv")
    txt = qualtrics_txt(design, CATALOGUE)
    assert txt.startswith("[[AdvancedFormat]]")
    assert txt.count("[[Block:Deck") == 4 and txt.count("[[Question:DB]]") == 12
    assert "[[Question:MC:MultipleAnswer]]" in txt and "[[ID:d1_" in txt
    _qualtrics_export(design, tmp_path / "responses.csv")
    table = import_survey(tmp_path / "responses.csv", design, catalogue=CATALOGUE)
    assert len(table) == 6
    one = table[table["rater_id"] == "survey-R_1"]
    assert one["need_level"].tolist() == [2, 3, 4]
    assert one["confidence"].tolist() == [0.8] * 3 and one["risk"].tolist() == [6.0] * 3
    assert list(one["salient_factors"].iloc[0]) == ["health_appointments", "domestic_abuse"]
    assert set(one["lead_agency"]) == {"social_care"}
    two = table[table["rater_id"] == "survey-R_2"]
    assert two["need_level"].tolist() == [4, 4, 4]
    assert list(two["salient_factors"].iloc[0]) == ["domestic_abuse", "housing"]
    assert set(two["lead_agency"]) == {"police"} and two["confidence"].isna().all()
    assert set(table["panel_id"]) == {f"study-{study_id}"}
    assert set(two["vignette_id"]) == set(design[design["deck"] == 2]["vignette_id"])


def test_survey_import_errors_name_line_and_column(study_db: tuple[str, int],
                                                   tmp_path: Path) -> None:
    design = survey_design_of(*study_db, CATALOGUE)
    q = design[(design["deck"] == 1) & (design["field"] == "need_level")]["question_id"].iloc[0]
    pd.DataFrame([{"respondent_id": "a", q: "7"}]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SurveyError, match=rf"bad.csv, line 2, column '{q}': expected a need level"):
        import_survey(tmp_path / "bad.csv", design, catalogue=CATALOGUE)
    prefix = q.rsplit("_", 1)[0]
    pd.DataFrame([{"respondent_id": "a", q: "2", f"{prefix}_agency": "nasa"}]).to_csv(
        tmp_path / "bad.csv", index=False)
    with pytest.raises(SurveyError, match="unknown agency 'nasa'"):
        import_survey(tmp_path / "bad.csv", design, catalogue=CATALOGUE)
    pd.DataFrame([{"who": "a"}]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SurveyError, match="respondent_id"):
        import_survey(tmp_path / "bad.csv", design, catalogue=CATALOGUE)


def _cli() -> typer.Typer:
    """Mounted as dsk/cli.py mounts them."""
    app = typer.Typer()
    app.command("serve")(serve)
    app.add_typer(admin_app, name="admin")
    app.add_typer(study_app, name="study")
    return app


def test_cli_admin_export_survey_import(make_client, sqlite_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    cli = _cli()
    r = runner.invoke(cli, ["admin", "create", "grace", "--db", sqlite_url],
                      input="a good password\na good password\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["admin", "create", "x", "--password", "short", "--db", sqlite_url])
    assert r.exit_code == 1 and "password: expected at least 8 characters" in r.output
    from fastapi.testclient import TestClient

    from dsk.app import create_app

    client = TestClient(create_app(sqlite_url), base_url="http://127.0.0.1")
    bot = Researcher(client)
    bot.login("grace", "a good password")
    study = bot.create_study(deck_size=2, n_participants=1, rounds=1)
    p = Practitioner(TestClient(client.app, base_url="http://127.0.0.1"), bot.links(study)[0])
    p.consent()
    p.play_round(lambda i: default_answer(i) | {"need_level": "3"})
    out = tmp_path / "j.parquet"
    r = runner.invoke(cli, ["study", "export", str(study), "-o", str(out), "--db", sqlite_url])
    assert r.exit_code == 0, r.output
    assert read_table(out, "judgements")["need_level"].tolist() == [3, 3]
    r = runner.invoke(cli, ["study", "export", "99", "-o", str(out), "--db", sqlite_url])
    assert r.exit_code == 1 and "study_id: no study 99" in r.output
    for name in ("survey.csv", "survey.txt"):
        r = runner.invoke(cli, ["study", "survey", str(study), "-o", str(tmp_path / name),
                                "--db", sqlite_url])
        assert r.exit_code == 0, r.output
    assert client.get(f"/studies/{study}/qualtrics.txt").text == (tmp_path / "survey.txt").read_text()
    design = read_survey(tmp_path / "survey.csv")
    q = design[design["field"] == "need_level"]["question_id"].iloc[0]
    pd.DataFrame([{"respondent_id": "r9", q: "2"}]).to_csv(tmp_path / "resp.csv", index=False)
    r = runner.invoke(cli, ["study", "import", str(tmp_path / "resp.csv"), "--design",
                            str(tmp_path / "survey.csv"), "-o", str(tmp_path / "imp.csv"),
                            "--round", "2"])
    assert r.exit_code == 0, r.output
    imported = read_table(tmp_path / "imp.csv", "judgements")
    assert imported["need_level"].tolist() == [2] and imported["round"].tolist() == [2]
    assert json.loads(json.dumps(list(imported["salient_factors"].iloc[0]))) == []
