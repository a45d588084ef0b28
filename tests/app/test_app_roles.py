"""Owners, collaborators and accounts, on SQLite and PostgreSQL; migration 0003 from 0002."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa
import typer
from app_bots import RESEARCHER, RESEARCHER_PASSWORD, Practitioner, Researcher, default_answer
from typer.testing import CliRunner

from dsk.app import _study as st
from dsk.app import create_researcher, open_database
from dsk.app._db import downgrade, make_engine, upgrade
from dsk.app._models import Collaborator, ResearcherSession, Study
from dsk.app._models import Researcher as Account
from dsk.app.cli import admin_app

PASSWORD = "another good password"


def _bot(make_client, db_url: str, username: str, admin: bool = False) -> Researcher:  # type: ignore[no-untyped-def]
    """A new account ``username`` (password PASSWORD), logged in in a fresh browser."""
    create_researcher(db_url, username, PASSWORD, admin=admin)
    bot = Researcher(make_client())
    assert bot.login(username, PASSWORD).status_code == 200
    return bot


def _id_of(db_url: str, username: str) -> int:
    with open_database(db_url) as db:
        return int(db.scalar(sa.select(Account.id).where(Account.username == username)) or 0)


def _sessions(db_url: str, username: str) -> int:
    with open_database(db_url) as db:
        return int(db.scalar(sa.select(sa.func.count()).select_from(ResearcherSession)
                             .join(Account, Account.id == ResearcherSession.researcher_id)
                             .where(Account.username == username)) or 0)


# ---------------------------------------------------------------- isolation and roles


def test_other_researchers_do_not_see_a_study(make_client, researcher: Researcher,
                                              db_url: str) -> None:
    study = researcher.create_study(title="Ada's pilot", deck_size=2, n_participants=2,
                                    rounds=1)
    links = researcher.links(study)
    bob = _bot(make_client, db_url, "bob")
    own = bob.create_study(title="Bob's pilot", deck_size=2, n_participants=1, rounds=1)
    dashboard = bob.client.get("/").text
    assert "Bob's pilot" in html.unescape(dashboard) and "Ada's pilot" not in html.unescape(dashboard)
    assert "Bob&#39;s pilot" not in researcher.client.get("/").text
    missing = bob.client.get("/studies/999")
    for url in (f"/studies/{study}", f"/studies/{study}/judgements.csv",
                f"/studies/{study}/judgements.parquet", f"/studies/{study}/survey.csv",
                f"/studies/{study}/qualtrics.txt"):
        r = bob.client.get(url)
        # the same page as a study that does not exist, but for its number
        assert r.status_code == 404, url
        assert (r.text.replace(f"no study {study}", "no study N")
                == missing.text.replace("no study 999", "no study N")), url
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', bob.client.get("/").text)
    assert csrf
    for action in ("links", "close", "site", "collaborators", "collaborators/remove"):
        r = bob.client.post(f"/studies/{study}/{action}", data={"csrf_token": csrf.group(1)})
        assert r.status_code == 404 and f"study_id: no study {study}" in r.text, action
    # nothing changed: the links Ada issued still work, round 1 is still open
    assert "Round 1 open" in researcher.client.get(f"/studies/{study}").text
    assert Practitioner(make_client(), links[0]).consent().status_code == 200
    assert researcher.client.get(f"/studies/{own}").status_code == 404


def test_viewer_sees_and_exports_editor_runs_owner_shares(make_client, researcher: Researcher,
                                                          db_url: str) -> None:
    study = researcher.create_study(deck_size=2, n_participants=2, rounds=2, sites="Leeds, York")
    viewer, editor = _bot(make_client, db_url, "vera"), _bot(make_client, db_url, "eddie")
    assert researcher.add_collaborator(study, "vera", "viewer").status_code == 200
    assert researcher.add_collaborator(study, "eddie", "editor").status_code == 200
    page = researcher.client.get(f"/studies/{study}").text
    assert re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td>", page) == [("eddie", "editor"),
                                                                   ("vera", "viewer")]
    # the viewer: the study on the dashboard, progress and exports, no actions
    assert re.search(r'viewer</td>', viewer.client.get("/").text)
    seen = viewer.client.get(f"/studies/{study}").text
    assert 'id="progress"' in seen and 'id="role">viewer' in seen
    assert "/links" not in seen and "/close" not in seen and "Collaborators" not in seen
    for fmt in ("judgements.csv", "judgements.parquet", "survey.csv", "qualtrics.txt"):
        assert viewer.client.get(f"/studies/{study}/{fmt}").status_code == 200, fmt
    for refused in (viewer.close_round(study), viewer.move_to_site(study, 1, "York"),
                    viewer.client.post(f"/studies/{study}/links",
                                       data={"csrf_token": re.findall(
                                           r'name="csrf_token" value="([^"]+)"', seen)[0]}),
                    viewer.add_collaborator(study, "eddie", "viewer")):
        assert refused.status_code == 403
        assert "needs the" in refused.text and "you are a viewer" in refused.text
    # the editor: links, sites and rounds, but not collaborators
    links = editor.links(study)
    assert len(links) == 2
    assert editor.move_to_site(study, 1, "York").status_code == 200
    r = editor.add_collaborator(study, "vera", "editor")
    assert r.status_code == 403 and "needs the owner role" in r.text
    p = Practitioner(make_client(), links[0])
    p.consent()
    p.play_round()
    assert editor.close_round(study).status_code == 200
    assert "Round 2 open" in researcher.client.get(f"/studies/{study}").text
    # the owner changes and takes away roles; the study then no longer exists for vera
    assert researcher.add_collaborator(study, "vera", "editor").status_code == 200
    assert 'id="role">editor' in viewer.client.get(f"/studies/{study}").text
    assert researcher.remove_collaborator(study, _id_of(db_url, "vera")).status_code == 200
    assert viewer.client.get(f"/studies/{study}").status_code == 404
    assert "No studies yet" in viewer.client.get("/").text
    # refusals name the field
    r = researcher.add_collaborator(study, "nobody-here", "viewer")
    assert r.status_code == 422 and "username: no account 'nobody-here'" in html.unescape(r.text)
    r = researcher.add_collaborator(study, "vera", "owner")
    assert r.status_code == 422 and "role: expected viewer or editor" in r.text
    r = researcher.add_collaborator(study, RESEARCHER, "viewer")
    assert r.status_code == 422 and "owns the study" in r.text
    r = researcher.remove_collaborator(study, _id_of(db_url, "vera"))
    assert r.status_code == 422 and "researcher_id: account" in r.text


def test_cli_study_create_needs_an_owner(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dsk.app.cli import study_app

    runner = CliRunner()
    args = ["create", "--set", "training-12", "--title", "x", "--deck-size", "2",
            "--participants", "2", "--db", db_url]
    r = runner.invoke(study_app, args)
    assert r.exit_code == 1 and "owner: no researcher account yet" in r.output
    create_researcher(db_url, "ada", RESEARCHER_PASSWORD)
    assert runner.invoke(study_app, args).exit_code == 0
    create_researcher(db_url, "bob", RESEARCHER_PASSWORD)
    r = runner.invoke(study_app, args)
    assert r.exit_code == 1 and "owner: give --owner USERNAME" in r.output
    r = runner.invoke(study_app, [*args, "--owner", "bob"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(study_app, [*args, "--owner", "carol"])
    assert r.exit_code == 1 and "owner: no account 'carol'" in r.output
    with open_database(db_url) as db:
        owners = db.execute(sa.select(Study.id, Account.username)
                            .join(Account, Account.id == Study.owner_id).order_by(Study.id)).all()
    assert [tuple(row) for row in owners] == [(1, "ada"), (2, "bob")]


# ---------------------------------------------------------------- accounts


def test_change_password_ends_other_sessions(make_client, researcher: Researcher,
                                             db_url: str) -> None:
    elsewhere = Researcher(make_client())
    elsewhere.login()
    assert _sessions(db_url, RESEARCHER) == 2
    r = researcher.change_password("not my password", "a brand new password")
    assert r.status_code == 422 and "current_password: wrong password" in r.text
    r = researcher.change_password(RESEARCHER_PASSWORD, "short")
    assert r.status_code == 422 and "new_password: expected at least 8 characters" in r.text
    r = researcher.change_password(RESEARCHER_PASSWORD, "a brand new password")
    assert r.status_code == 200 and 'id="changed"' in r.text
    assert str(researcher.client.get("/").url).endswith("/")  # this session goes on
    assert str(elsewhere.client.get("/").url).endswith("/login")  # the other one ended
    assert _sessions(db_url, RESEARCHER) == 1
    assert Researcher(make_client()).login().status_code == 401
    assert Researcher(make_client()).login(password="a brand new password").status_code == 200


def test_admin_creates_and_disables_accounts(make_client, researcher: Researcher,
                                             db_url: str) -> None:
    assert researcher.client.get("/admin").status_code == 404  # not an admin
    admin = _bot(make_client, db_url, "root", admin=True)
    assert 'href="/admin"' in admin.client.get("/").text
    assert 'href="/admin"' not in researcher.client.get("/").text
    assert admin.create_account("carol", "carol's password").status_code == 200
    r = admin.create_account("carol", "some other password")
    assert r.status_code == 409 and "an account 'carol' already exists" in html.unescape(r.text)
    assert "--reset" not in r.text
    r = admin.create_account("dave", "short")
    assert r.status_code == 422 and "password: expected at least 8 characters" in r.text
    carol = Researcher(make_client())
    assert carol.login("carol", "carol's password").status_code == 200
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    assert admin.client.get(f"/studies/{study}").status_code == 404  # admins manage accounts
    # disabling ends the sessions at once, and log-in is refused
    assert _sessions(db_url, RESEARCHER) == 1
    assert admin.set_disabled(_id_of(db_url, RESEARCHER), True).status_code == 200
    assert _sessions(db_url, RESEARCHER) == 0
    assert str(researcher.client.get("/").url).endswith("/login")
    r = Researcher(make_client()).login()
    assert r.status_code == 403 and "this account is disabled" in r.text
    assert Researcher(make_client()).login(password="wrong password").status_code == 401
    assert "disabled" in admin.client.get("/admin").text
    r = admin.set_disabled(_id_of(db_url, "root"), True)
    assert r.status_code == 409 and "cannot disable your own account" in r.text
    assert admin.set_disabled(999, True).status_code == 404
    assert admin.set_disabled(_id_of(db_url, RESEARCHER), False).status_code == 200
    again = Researcher(make_client())
    assert again.login().status_code == 200
    assert again.client.get(f"/studies/{study}").status_code == 200  # the study is still theirs
    # an account created as an admin can use the admin page
    assert admin.create_account("erin", "erin's password", admin=True).status_code == 200
    erin = Researcher(make_client())
    erin.login("erin", "erin's password")
    assert erin.client.get("/admin").status_code == 200


def test_cli_admin_create_refuses_to_overwrite(db_url: str) -> None:
    runner = CliRunner()
    cli = typer.Typer()
    cli.add_typer(admin_app, name="admin")
    r = runner.invoke(cli, ["admin", "create", "ada", "--password", RESEARCHER_PASSWORD,
                                  "--db", db_url])
    assert r.exit_code == 0 and "researcher 'ada' can now log in" in r.output
    with open_database(db_url) as db:
        ada = db.scalar(sa.select(Account).where(Account.username == "ada"))
        assert ada is not None and not ada.is_admin
        db.add(ResearcherSession(token_hash="x" * 64, researcher_id=ada.id,
                                 expires_at=dt.datetime(2100, 1, 1)))
        db.commit()
        old_hash = ada.password_hash
    r = runner.invoke(cli, ["admin", "create", "ada", "--password", "a new password",
                                  "--db", db_url])
    assert r.exit_code == 1
    assert "username: an account 'ada' already exists; give --reset" in r.output
    with open_database(db_url) as db:
        assert db.scalar(sa.select(Account.password_hash)) == old_hash
    assert _sessions(db_url, "ada") == 1
    r = runner.invoke(cli, ["admin", "create", "ada", "--password", "a new password", "--reset",
                                  "--db", db_url])
    assert r.exit_code == 0 and "password set; its sessions have ended" in r.output
    assert _sessions(db_url, "ada") == 0
    with open_database(db_url) as db:
        assert db.scalar(sa.select(Account.password_hash)) != old_hash
    r = runner.invoke(cli, ["admin", "create", "root", "--password", "a new password", "--admin",
                                  "--db", db_url])
    assert r.exit_code == 0 and "admin 'root' can now log in" in r.output
    with open_database(db_url) as db:
        assert db.scalar(sa.select(Account.is_admin).where(Account.username == "root")) is True
    # a NUL in the name (PostgreSQL cannot store one) is refused in words, nothing stored
    r = runner.invoke(cli, ["admin", "create", "ev\x00e", "--password", "a new password",
                            "--db", db_url])
    assert r.exit_code == 1, r.output
    assert ("username: contains the control character U+0000 at character 3; choose a user "
            "name without it") in r.output
    with open_database(db_url) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Account)) == 2


# ---------------------------------------------------------------- migration 0003


def _at_0002(db_url: str, researchers: list[str]) -> sa.Engine:
    """A database at revision 0002 with ``researchers`` and one study (a participant who
    answered one vignette), as it was before studies had owners."""
    engine = make_engine(db_url)
    upgrade(engine, "0002")
    now = dt.datetime(2026, 11, 1)
    with engine.begin() as conn:
        for name in researchers:
            conn.execute(sa.text("INSERT INTO researchers (username, password_hash, created_at) "
                                 "VALUES (:u, 'x', :t)"), {"u": name, "t": now})
        conn.execute(sa.text(
            "INSERT INTO studies (id, title, set_id, deck_size, n_participants, rounds, seed, "
            "phase, created_at) VALUES (1, 'Old', 'training-12', 1, 1, 1, 1, 'round1', :t)"),
            {"t": now})
        conn.execute(sa.text("INSERT INTO study_vignettes VALUES (1, 'v1', 0, 'A case.', '')"))
        conn.execute(sa.text("INSERT INTO participants (id, study_id, number, deck) "
                             "VALUES (1, 1, 1, 1)"))
        conn.execute(sa.text("INSERT INTO assignments VALUES (1, 1, 'v1')"))
        conn.execute(sa.text(
            "INSERT INTO responses (study_id, participant_id, vignette_id, round, need_level, "
            "confidence, risk, salient_factors, salient_other, rationale, lead_agency, seconds, "
            "form_nonce, submitted_at) VALUES (1, 1, 'v1', 1, 3, 0.5, 4, '[]', '', 'why', "
            "'school', 9, 'n1', :t)"), {"t": now})
    return engine


def test_upgrade_from_0002_gives_studies_to_the_first_researcher(db_url: str) -> None:
    engine = _at_0002(db_url, ["first", "second"])
    upgrade(engine)
    with engine.connect() as conn:
        accounts = conn.execute(sa.text("SELECT username, is_admin, disabled FROM researchers "
                                        "ORDER BY id")).all()
        owner = conn.execute(sa.text("SELECT r.username FROM studies s JOIN researchers r "
                                     "ON r.id = s.owner_id")).scalar()
        kept = [conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("participants", "assignments", "responses", "study_vignettes")]
    engine.dispose()
    assert [tuple(a) for a in accounts] == [("first", True, False), ("second", False, False)]
    assert owner == "first" and kept == [1, 1, 1, 1]  # nothing was lost in the rebuild
    with open_database(db_url) as db:
        first, second = db.scalars(sa.select(Account).order_by(Account.id)).all()
        assert [s.title for s, _ in st.visible_studies(db, first)] == ["Old"]
        assert st.visible_studies(db, second) == []
        assert st.judgements(db, st.get_study(db, 1))["need_level"].tolist() == [3]
        # the owner column is required and points at an account
        db.add(Study(title="x", set_id="s", deck_size=1, n_participants=1, rounds=1, seed=1,
                     owner_id=999))
        with pytest.raises(sa.exc.IntegrityError):
            db.commit()
        db.rollback()
        db.add(Collaborator(study_id=1, researcher_id=second.id, role="owner"))
        with pytest.raises(sa.exc.IntegrityError):  # the role is viewer or editor
            db.commit()


def test_upgrade_from_0002_without_researchers(db_url: str) -> None:
    """Studies made with the command line before any account existed get an owner too."""
    engine = _at_0002(db_url, [])
    upgrade(engine)
    engine.dispose()
    with open_database(db_url) as db:
        owner = db.scalar(sa.select(Account).join(Study, Study.owner_id == Account.id))
        assert owner is not None and (owner.username, owner.is_admin) == ("owner", True)
    from fastapi.testclient import TestClient

    from dsk.app import create_app

    app = create_app(db_url)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        bot = Researcher(client)
        assert bot.login("owner", "!no password set").status_code == 401
        create_researcher(db_url, "owner", RESEARCHER_PASSWORD, reset=True)
        assert bot.login("owner", RESEARCHER_PASSWORD).status_code == 200
        assert client.get("/studies/1").status_code == 200
    app.state.core.engine.dispose()


def test_an_empty_database_upgrades_from_0002(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0002")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM researchers")).scalar() == 0
    engine.dispose()


def test_a_study_survives_its_collaborators(make_client, researcher: Researcher,
                                            db_url: str) -> None:
    """A collaborator's account can go (rows cascade); the study and its answers stay."""
    study = researcher.create_study(deck_size=2, n_participants=1, rounds=1)
    _bot(make_client, db_url, "vera")
    researcher.add_collaborator(study, "vera", "viewer")
    p = Practitioner(make_client(), researcher.links(study)[0])
    p.consent()
    p.play_round(lambda i: default_answer(i))
    with open_database(db_url) as db:
        db.execute(sa.delete(Account).where(Account.username == "vera"))
        db.commit()
        assert db.scalar(sa.select(sa.func.count()).select_from(Collaborator)) == 0
    assert researcher.client.get(f"/studies/{study}/judgements.csv").text.count("\n") == 3


def test_downgrade_to_0002_keeps_the_studies(db_url: str) -> None:


    engine = _at_0002(db_url, ["first"])
    upgrade(engine)
    downgrade(engine, "0002")
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        columns = {c["name"] for c in inspector.get_columns("studies")}
        tables = set(inspector.get_table_names())
        kept = conn.execute(sa.text("SELECT count(*) FROM responses")).scalar()
    assert "owner_id" not in columns and "study_collaborators" not in tables and kept == 1
    upgrade(engine)  # and up again
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT owner_id FROM studies")).scalar() == 1
    engine.dispose()


def test_guessing_the_current_password_is_limited(make_client, db_url: str) -> None:
    bot = Researcher(make_client(login_attempts=2, login_delay=600))
    bot.login()
    for _ in range(2):
        assert bot.change_password("a wrong guess", "a brand new password").status_code == 422
    r = bot.change_password(RESEARCHER_PASSWORD, "a brand new password")
    assert r.status_code == 429 and "too many wrong passwords" in r.text
    assert Researcher(make_client(login_attempts=2, login_delay=600)).login().status_code == 429


def test_cli_admin_disable_and_enable(make_client, researcher: Researcher, db_url: str) -> None:
    cli = typer.Typer()
    cli.add_typer(admin_app, name="admin")
    runner = CliRunner()
    r = runner.invoke(cli, ["admin", "disable", RESEARCHER, "--db", db_url])
    assert r.exit_code == 0 and "is disabled; their sessions have ended" in r.output
    assert str(researcher.client.get("/").url).endswith("/login")
    assert Researcher(make_client()).login().status_code == 403
    r = runner.invoke(cli, ["admin", "enable", RESEARCHER, "--db", db_url])
    assert r.exit_code == 0 and "can log in again" in r.output
    assert Researcher(make_client()).login().status_code == 200
    r = runner.invoke(cli, ["admin", "disable", "nobody", "--db", db_url])
    assert r.exit_code == 1 and "error: username: no account 'nobody'" in r.output
