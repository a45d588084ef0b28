"""The audit trail, on SQLite and PostgreSQL: what is recorded, what never is, who sees it.

A scenario with two researchers (``ada`` owns the study and is an admin, ``bob``
collaborates) and one practitioner must leave exactly the expected lines, in order;
refused forms and actions that fail leave none; no line holds a password, a reason or
a link; the owner's page, CSV and ``dsk study audit`` show the trail, collaborators
cannot see it.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from app_bots import csrf_of, default_answer, form_token_of
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dsk.app import _study as st
from dsk.app import create_app, create_researcher, open_database
from dsk.app._audit import ACTIONS, recording, trail
from dsk.app._models import AuditEvent, Researcher, Setting
from dsk.app._state import PARTICIPANT_COOKIE, RESEARCHER_COOKIE
from dsk.cli import app as dsk_cli

ADA_PASSWORD, BOB_PASSWORD = "ada's own long passphrase", "bob's own long passphrase"
WRONG_PASSWORD = "not-ada's-password-7431"
RATIONALE = "The Smith family at 12 Acacia Road, named here by mistake"
HOSTILE = '=HYPERLINK("http://evil.example/","click")'

Line = tuple[str, str, int | None]


@dataclass
class Browser:
    """A TestClient that does not follow redirects, and its CSRF token."""

    client: TestClient
    csrf: str

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def post(self, url: str, **data: str) -> httpx.Response:
        return self.client.post(url, data=data | {"csrf_token": self.csrf})


@pytest.fixture
def app(db_url: str) -> Iterator[FastAPI]:
    create_researcher(db_url, "ada", ADA_PASSWORD, admin=True)
    create_researcher(db_url, "bob", BOB_PASSWORD)
    made = create_app(db_url)
    yield made
    made.state.core.engine.dispose()


@pytest.fixture
def browser(app: FastAPI) -> Iterator[Callable[[], Browser]]:
    clients: list[TestClient] = []

    def make() -> Browser:
        client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
        clients.append(client)
        return Browser(client, csrf_of(client.get("/login").text))

    yield make
    for client in clients:
        client.close()


def _log_in(make: Callable[[], Browser], username: str, password: str) -> Browser:
    b = make()
    r = b.post("/login", username=username, password=password)
    assert (r.status_code, r.headers["location"]) == (303, "/"), r.text
    return b


def _lines(app: FastAPI) -> list[AuditEvent]:
    with app.state.core.db() as db:
        return list(db.scalars(sa.select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)))


def _who_what(app: FastAPI) -> list[Line]:
    return [(e.actor, e.action, e.study_id) for e in _lines(app)]


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


@dataclass
class Scenario:
    study: int
    rater: str
    secrets: list[str]


def _scenario(app: FastAPI, make: Callable[[], Browser]) -> Scenario:
    """Two researchers and a practitioner through a two-round study; returns what was
    used that must never be in the trail."""
    stranger = make()  # someone guessing ada's password
    assert stranger.post("/login", username="ada", password=WRONG_PASSWORD).status_code == 401
    ada = _log_in(make, "ada", ADA_PASSWORD)
    # a refused form creates no study and records nothing
    refused = ada.post("/studies", title="Pilot", set_id="training-12", deck_size="0",
                       n_participants="2", rounds="2", seed="1", sites="Leeds, York")
    assert refused.status_code == 422
    r = ada.post("/studies", title="Pilot", set_id="training-12", deck_size="2",
                 n_participants="2", rounds="2", seed="1", sites="Leeds, York")
    assert r.status_code == 303, r.text
    study = int(r.headers["location"].rsplit("/", 1)[1])
    assert ada.post(f"/studies/{study}/collaborators", username="bob",
                    role="editor").status_code == 303
    assert ada.post(f"/studies/{study}/collaborators", username="nobody",
                    role="viewer").status_code == 422
    bob = _log_in(make, "bob", BOB_PASSWORD)
    page = bob.post(f"/studies/{study}/links")
    assert page.status_code == 200
    links = [html.unescape(u) for u in re.findall(r'class="plink" href="([^"]+)"', page.text)]
    assert len(links) == 2
    # the practitioner: a refused consent records nothing, then consent and one answer
    p = make()
    path = "/" + links[0].split("/", 3)[3]
    refused = p.post(path, profession="social_worker", experience_years="5")
    assert (refused.status_code, refused.headers["location"]) == (303, path)
    r = p.post(path, profession="social_worker", experience_years="5", consent="yes")
    assert r.status_code == 303
    vignette = p.get("/s").text
    answer = default_answer(0) | {"rationale": RATIONALE}
    r = p.client.post("/s/answer", data=answer | {"csrf_token": p.csrf,
                                                  "form_token": form_token_of(vignette)})
    assert r.status_code == 303
    assert bob.post(f"/studies/{study}/site", participant="1", site="York").status_code == 303
    seen = ada.get(f"/studies/{study}").text
    assert RATIONALE in html.unescape(seen)
    response_id = re.search(r'name="response_id" value="(\d+)"', seen)
    assert response_id
    assert ada.post(f"/studies/{study}/reasons/hide",
                    response_id=response_id.group(1)).status_code == 303
    assert bob.get(f"/studies/{study}/judgements.csv").status_code == 200
    assert ada.get(f"/studies/{study}/judgements.parquet").status_code == 200
    assert bob.post(f"/studies/{study}/close").status_code == 303
    assert bob.post(f"/studies/{study}/close").status_code == 303
    # closing a closed study fails: no line for a round that was not closed
    assert bob.post(f"/studies/{study}/close").status_code == 409
    # an editor, then a viewer, cannot see the trail; nor, then, a former collaborator
    assert bob.get(f"/studies/{study}/audit").status_code == 403
    assert ada.post(f"/studies/{study}/collaborators", username="bob",
                    role="viewer").status_code == 303
    assert bob.get(f"/studies/{study}/audit.csv").status_code == 403
    assert p.post("/s/leave").status_code == 303
    again = make()
    assert again.post(path).status_code == 303  # carries on in another browser
    bob_id = _id_of(app, "bob")
    assert ada.post(f"/studies/{study}/collaborators/remove",
                    researcher_id=str(bob_id)).status_code == 303
    assert bob.get(f"/studies/{study}/audit").status_code == 404
    assert bob.get("/admin/audit").status_code == 404
    cookies = [c.cookies.get(name) or "" for c in (ada.client, bob.client, p.client,
                                                   again.client)
               for name in (RESEARCHER_COOKIE, PARTICIPANT_COOKIE)]
    tokens = [link.rsplit("/", 1)[1] for link in links]
    return Scenario(study, st.rater_id(study, 1),
                    [ADA_PASSWORD, BOB_PASSWORD, WRONG_PASSWORD, RATIONALE, "Smith", "Acacia",
                     *tokens, *[c for c in cookies if c]])


def _id_of(app: FastAPI, username: str) -> int:
    with app.state.core.db() as db:
        return int(db.scalar(sa.select(Researcher.id)
                             .where(Researcher.username == username)) or 0)


def _expected(s: int, rater: str) -> list[Line]:
    ada, bob, p = "researcher:ada", "researcher:bob", f"participant:{rater}"
    return [
        (ada, "login_failed", None),
        (ada, "login", None),
        (ada, "study_created", s),
        (ada, "role_changed", s),
        (bob, "login", None),
        (bob, "links_issued", s),
        (p, "consented", s),
        (bob, "site_moved", s),
        (ada, "study_viewed", s),
        (ada, "reason_hidden", s),
        (bob, "exported", s),
        (ada, "exported", s),
        (bob, "round_closed", s),
        (bob, "round_closed", s),
        (ada, "role_changed", s),
        (p, "left_device", s),
        (p, "resumed", s),
        (ada, "role_removed", s),
    ]


def test_a_scenario_leaves_exactly_its_lines(app: FastAPI, browser: Callable[[], Browser]) -> None:
    s = _scenario(app, browser)
    assert _who_what(app) == _expected(s.study, s.rater)
    details = [(e.action, e.detail) for e in _lines(app)]
    assert details == [
        ("login_failed", "wrong password"), ("login", ""), ("study_created", "Pilot"),
        ("role_changed", "bob as editor"), ("login", ""), ("links_issued", "every site"),
        ("consented", ""), ("site_moved", f"{s.rater} to York"), ("study_viewed", ""),
        ("reason_hidden", details[9][1]), ("exported", "judgements.csv"),
        ("exported", "judgements.parquet"), ("round_closed", "now round 2 open"),
        ("round_closed", "now closed"), ("role_changed", "bob as viewer"),
        ("left_device", ""), ("resumed", ""), ("role_removed", "bob")]
    assert re.fullmatch(r"answer \d+", details[9][1])
    # researchers' lines name the client; practitioners' lines never do
    for e in _lines(app):
        assert e.client == ("" if e.actor.startswith("participant:") else "testclient"), e.action


def test_no_line_holds_a_password_a_reason_or_a_link(app: FastAPI,
                                                     browser: Callable[[], Browser]) -> None:
    s = _scenario(app, browser)
    assert len(s.secrets) >= 10
    events = _lines(app)
    assert events
    for e in events:
        text = " ".join((e.actor, e.action, e.detail, e.client))
        for secret in s.secrets:
            assert secret not in text, (secret, text)


def test_the_owner_sees_and_exports_the_trail(app: FastAPI, browser: Callable[[], Browser],
                                              db_url: str) -> None:
    s = _scenario(app, browser)
    ada = _log_in(browser, "ada", ADA_PASSWORD)
    page = ada.get(f"/studies/{s.study}")
    assert f'href="/studies/{s.study}/audit"' in page.text
    r = ada.get(f"/studies/{s.study}/audit")
    assert r.status_code == 200
    rows = re.findall(r'<tr class="(\w+)"><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>',
                      r.text)
    # newest first: the page view just before it, then the scenario backwards
    shown = [(actor, action, s.study) for action, actor, _ in rows]
    assert shown == ([("researcher:ada", "study_viewed", s.study)]
                     + [x for x in reversed(_expected(s.study, s.rater)) if x[2] is not None])
    assert [html.unescape(what) for _, _, what in rows][:2] == [ACTIONS["study_viewed"],
                                                                 ACTIONS["role_removed"]]
    r = ada.get(f"/studies/{s.study}/audit.csv?excel=1")
    assert r.status_code == 200 and r.text.startswith("\ufeffat,actor,action,what,detail,client")
    assert 'filename="study-' in r.headers["content-disposition"]
    exported = [(row["actor"], row["action"]) for row in _csv_rows(r.text)]
    # oldest first, and the page view is in it
    assert exported == [(a, b) for a, b, sid in _expected(s.study, s.rater) if sid is not None] + [
        ("researcher:ada", "study_viewed"), ("researcher:ada", "audit_viewed")]
    assert _who_what(app)[-2:] == [("researcher:ada", "audit_viewed", s.study),
                                   ("researcher:ada", "audit_exported", s.study)]
    assert ada.get(f"/studies/{s.study}/audit.csv?excel=2").status_code == 422
    # admins see the account events on their own page: log-ins, failures, no study events
    r = ada.get("/admin/audit")
    assert r.status_code == 200
    assert '<a href="/admin/audit"' in ada.get("/admin").text
    actions = re.findall(r'<tr class="(\w+)">', r.text)
    assert actions == ["login", "login", "login", "login_failed"]
    assert "wrong password" in r.text and WRONG_PASSWORD not in r.text


def test_dsk_study_audit_prints_the_trail(app: FastAPI, browser: Callable[[], Browser], db_url: str,
                                          tmp_path: Path) -> None:
    s = _scenario(app, browser)
    runner = CliRunner()
    shown = runner.invoke(dsk_cli, ["study", "audit", str(s.study), "--db", db_url])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    study_lines = [x for x in _expected(s.study, s.rater) if x[2] is not None]
    assert len(lines) == len(study_lines)
    assert [line.split("  ")[1] for line in lines] == [actor for actor, _, _ in study_lines]
    assert lines[0].endswith("researcher:ada  created the study (Pilot)  from testclient")
    assert lines[4].split("  ", 1)[1] == f"researcher:bob  moved a participant to another " \
                                         f"site ({s.rater} to York)  from testclient"
    assert f"participant:{s.rater}  consented and started" in shown.output
    written = runner.invoke(dsk_cli, ["study", "audit", str(s.study), "--csv",
                                      str(tmp_path / "trail.csv"), "--db", db_url])
    assert written.exit_code == 0, written.output
    rows = _csv_rows((tmp_path / "trail.csv").read_text(encoding="utf-8"))
    assert [r["action"] for r in rows][-1] == "audit_viewed"
    assert _who_what(app)[-2:] == [("cli", "audit_viewed", s.study),
                                   ("cli", "audit_exported", s.study)]
    missing = runner.invoke(dsk_cli, ["study", "audit", "999", "--db", db_url])
    assert (missing.exit_code, missing.output.strip()) == (1, "error: study_id: no study 999")


def test_a_formula_user_name_is_neutralised_in_the_csv(app: FastAPI, browser: Callable[[], Browser],
                                                       db_url: str, tmp_path: Path) -> None:
    create_researcher(db_url, HOSTILE, "a hostile long password")
    ada = _log_in(browser, "ada", ADA_PASSWORD)
    r = ada.post("/studies", title="@SUM(1+1)", set_id="training-12", deck_size="2",
                 n_participants="1", rounds="1", seed="1")
    study = int(r.headers["location"].rsplit("/", 1)[1])
    assert ada.post(f"/studies/{study}/collaborators", username=HOSTILE,
                    role="viewer").status_code == 303
    hostile = _log_in(browser, HOSTILE, "a hostile long password")
    assert hostile.get(f"/studies/{study}").status_code == 200
    text = ada.get(f"/studies/{study}/audit.csv").text
    rows = _csv_rows(text)
    assert [r["detail"] for r in rows[:2]] == ["'@SUM(1+1)", f"'{HOSTILE} as viewer"]
    assert rows[2]["actor"] == f"researcher:{HOSTILE}"
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values()), row
    assert HOSTILE.replace('"', "&#34;") in ada.get(f"/studies/{study}/audit").text
    written = CliRunner().invoke(dsk_cli, ["study", "audit", str(study), "--csv",
                                           str(tmp_path / "t.csv"), "--db", db_url])
    assert written.exit_code == 0, written.output
    rows = _csv_rows((tmp_path / "t.csv").read_text(encoding="utf-8"))
    assert rows[1]["detail"] == f"'{HOSTILE} as viewer"


def test_account_and_study_commands_are_recorded_as_cli(db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(dsk_cli, [*args, "--db", db_url])
        assert done.exit_code == 0, done.output
        return str(done.output)

    run("admin", "create", "carol", "--password", "carol's long password", "--admin")
    refused = runner.invoke(dsk_cli, ["admin", "create", "carol", "--password",
                                      "carol's other password", "--db", db_url])
    assert refused.exit_code == 1  # an existing account: refused, nothing recorded
    run("admin", "create", "carol", "--password", "carol's other password", "--reset")
    run("admin", "disable", "carol")
    run("admin", "enable", "carol")
    run("study", "create", "--set", "training-12", "--title", "By hand", "--deck-size", "2",
        "--participants", "2")
    run("study", "export", "1", "-o", str(tmp_path / "j.csv"), "--excel")
    run("study", "survey", "1", "-o", str(tmp_path / "s.txt"))
    with open_database(db_url) as db:
        events = list(db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
        table = trail(db, 1)
    assert [(e.actor, e.action, e.study_id, e.detail, e.client) for e in events] == [
        ("cli", "account_created", None, "carol (admin)", ""),
        ("cli", "account_reset", None, "carol", ""),
        ("cli", "account_disabled", None, "carol", ""),
        ("cli", "account_enabled", None, "carol", ""),
        ("cli", "study_created", 1, "By hand", ""),
        ("cli", "exported", 1, "j.csv for Excel", ""),
        ("cli", "exported", 1, "s.txt", "")]
    assert list(table["what"]) == ["created the study", "exported data", "exported data"]
    for e in events:
        assert "password" not in e.detail


def test_admin_pages_record_account_changes(app: FastAPI, browser: Callable[[], Browser]) -> None:
    ada = _log_in(browser, "ada", ADA_PASSWORD)
    assert ada.post("/admin/accounts", username="dora",
                    password="dora's long password").status_code == 303
    assert ada.post("/admin/accounts", username="dora",
                    password="dora's long password").status_code == 409  # refused: no line
    dora = _id_of(app, "dora")
    assert ada.post(f"/admin/accounts/{dora}/disable").status_code == 303
    assert ada.post(f"/admin/accounts/{_id_of(app, 'ada')}/disable").status_code == 409
    disabled = browser().post("/login", username="dora", password="dora's long password")
    assert disabled.status_code == 403
    assert ada.post(f"/admin/accounts/{dora}/enable").status_code == 303
    d = _log_in(browser, "dora", "dora's long password")
    assert d.post("/account/password", current_password="wrong one",
                  new_password="a new long password").status_code == 422
    assert d.post("/account/password", current_password="dora's long password",
                  new_password="a new long password").status_code == 200
    assert d.post("/logout").status_code == 303
    nobody = browser().post("/login", username="x" * 500, password="whatever it is")
    assert nobody.status_code == 401
    assert [(e.actor, e.action, e.detail) for e in _lines(app)] == [
        ("researcher:ada", "login", ""),
        ("researcher:ada", "account_created", "dora"),
        ("researcher:ada", "account_disabled", "dora"),
        ("researcher:dora", "login_failed", "account disabled"),
        ("researcher:ada", "account_enabled", "dora"),
        ("researcher:dora", "login", ""),
        ("researcher:dora", "password_changed", ""),
        ("researcher:dora", "logout", ""),
        ("researcher:" + "x" * 60, "login_failed", "no such account")]
    assert all(e.study_id is None for e in _lines(app))


def test_a_line_is_stored_with_its_action_or_not_at_all(db_url: str) -> None:
    """The line is in the action's own transaction: when that commit fails, neither stays."""
    with open_database(db_url) as db:
        db.add(Setting(key="taken", value="first"))
        db.commit()
        with pytest.raises(sa.exc.IntegrityError):
            with recording(db, "round_closed", actor="researcher:ada", study_id=1,
                           detail="round 1"):
                db.add(Setting(key="taken", value="second"))
                db.commit()
        db.rollback()
        with recording(db, "round_closed", actor="researcher:ada", study_id=1,
                       detail=lambda: "round 1"):
            db.add(Setting(key="free", value="second"))
            db.commit()
            db.add(Setting(key="later", value="a second commit in the block"))
            db.commit()
        assert [(e.action, e.detail) for e in db.scalars(sa.select(AuditEvent))] == [
            ("round_closed", "round 1")]
        assert db.get(Setting, "free") is not None
