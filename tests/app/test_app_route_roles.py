"""Every route of the app against every role, on SQLite and PostgreSQL.

``ROUTES`` lists each route of the app's route table with the status each role gets;
:func:`test_every_route_is_listed` fails when the app has a route that is not listed,
so a new route cannot skip the role check. Each case runs on a fresh study owned by
``owner``, with ``editor`` and ``viewer`` as collaborators; ``other`` is a researcher
without a role in it and ``admin`` an admin account (admins manage accounts, not
studies). ``LOGIN`` is a redirect (303) to the log-in page.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from app_bots import csrf_of
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsk.app import _security, create_app
from dsk.app import _study as st
from dsk.app._mail import DEFAULTS
from dsk.app._models import Participant, ResearcherSession, utcnow
from dsk.app._security import new_token, token_hash
from dsk.app._state import RESEARCHER_COOKIE

ROLES = ("anonymous", "other", "viewer", "editor", "owner", "admin")
LOGIN = "login"
PASSWORD = "the same long password"
Expected = dict[str, int | str]


def everyone(status: int | str) -> Expected:
    return dict.fromkeys(ROLES, status)


def signed_in(status: int) -> Expected:
    return everyone(status) | {"anonymous": LOGIN}


def admins(status: int) -> Expected:
    return everyone(404) | {"anonymous": LOGIN, "admin": status}


def study_role(need: str, status: int) -> Expected:
    """Without a role the study does not exist; with a weaker one than ``need``, 403."""
    order = ("viewer", "editor", "owner")
    out: Expected = {"anonymous": LOGIN, "other": 404, "admin": 404}
    for role in order:
        out[role] = status if order.index(role) >= order.index(need) else 403
    return out


ROUTES: dict[tuple[str, str], Expected] = {
    ("GET", "/healthz"): everyone(200),
    ("GET", "/login"): everyone(200),
    ("POST", "/login"): everyone(401),
    ("POST", "/logout"): everyone(LOGIN),
    ("GET", "/"): signed_in(200),
    ("POST", "/studies"): signed_in(303),
    ("GET", "/studies/{study_id}"): study_role("viewer", 200),
    ("POST", "/studies/{study_id}/links"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/site"): study_role("editor", 303),
    ("POST", "/studies/{study_id}/close"): study_role("editor", 303),
    ("POST", "/studies/{study_id}/collaborators"): study_role("owner", 303),
    ("POST", "/studies/{study_id}/collaborators/remove"): study_role("owner", 303),
    ("POST", "/studies/{study_id}/reasons/hide"): study_role("editor", 303),
    ("GET", "/studies/{study_id}/judgements.{fmt}"): study_role("viewer", 200),
    ("GET", "/studies/{study_id}/survey.csv"): study_role("viewer", 200),
    ("GET", "/studies/{study_id}/qualtrics.txt"): study_role("viewer", 200),
    ("GET", "/studies/{study_id}/audit"): study_role("owner", 200),
    ("GET", "/studies/{study_id}/audit.csv"): study_role("owner", 200),
    ("GET", "/account"): signed_in(200),
    ("POST", "/account/password"): signed_in(200),
    ("GET", "/admin"): admins(200),
    ("GET", "/admin/audit"): admins(200),
    ("POST", "/admin/accounts"): admins(303),
    ("POST", "/admin/accounts/{researcher_id}/disable"): admins(303),
    ("POST", "/admin/accounts/{researcher_id}/enable"): admins(303),
    ("GET", "/p/{token}"): everyone(404),
    ("POST", "/p/{token}"): everyone(404),
    ("GET", "/s"): everyone(401),
    ("GET", "/s/case/{position}"): everyone(401),
    ("GET", "/s/review"): everyone(401),
    ("POST", "/s/answer"): everyone(400),
    ("POST", "/s/draft"): everyone(400),
    ("POST", "/s/submit"): everyone(401),
    ("POST", "/s/leave"): everyone(303),
    ("GET", "/s/left"): everyone(200),
    ("GET", "/s/withdraw"): everyone(401),
    ("POST", "/s/withdraw"): everyone(401),
    ("GET", "/withdrawn"): everyone(200),
    ("GET", "/studies/{study_id}/information"): study_role("owner", 200),
    ("POST", "/studies/{study_id}/information"): study_role("owner", 303),
    ("POST", "/studies/{study_id}/retention"): study_role("owner", 303),
    ("GET", "/studies/{study_id}/participants/delete"): study_role("owner", 200),
    ("POST", "/studies/{study_id}/participants/delete"): study_role("owner", 303),
    ("GET", "/studies/{study_id}/delete"): study_role("owner", 200),
    ("POST", "/studies/{study_id}/delete"): study_role("owner", 303),
    ("GET", "/studies/{study_id}/close"): study_role("editor", 200),
    ("GET", "/studies/{study_id}/links"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/participants/import"): study_role("editor", 303),
    ("POST", "/studies/{study_id}/participants/add"): study_role("editor", 303),
    ("GET", "/studies/{study_id}/participants/{number}/reissue"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/participants/{number}/reissue"): study_role("editor", 200),
    # e-mail (this app has no mail server: sending is refused with a 409 saying so)
    ("GET", "/studies/{study_id}/mail/invitations"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/mail/invitations"): study_role("editor", 409),
    ("GET", "/studies/{study_id}/mail/reminders"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/mail/reminders"): study_role("editor", 409),
    ("POST", "/studies/{study_id}/mail/retry"): study_role("editor", 409),
    ("GET", "/studies/{study_id}/mail/templates"): study_role("editor", 200),
    ("POST", "/studies/{study_id}/mail/templates"): study_role("editor", 303),
    ("POST", "/studies/{study_id}/deadline"): study_role("editor", 303),
    ("GET", "/link"): everyone(200),
    ("POST", "/link"): everyone(303),
    # workshops: none of these roles is a trainer, so the trainer's pages do not exist
    ("GET", "/admin/trainers"): admins(200),
    ("POST", "/admin/trainers/{researcher_id}"): admins(303),
    ("GET", "/workshops"): signed_in(404),
    ("POST", "/workshops"): signed_in(404),
    ("GET", "/workshops/{workshop_id}"): signed_in(404),
    ("GET", "/workshops/{workshop_id}/state"): signed_in(404),
    ("GET", "/workshops/{workshop_id}/judgements.{fmt}"): signed_in(404),
    ("POST", "/workshops/{workshop_id}/step"): signed_in(404),
    ("POST", "/workshops/{workshop_id}/vary"): signed_in(404),
    ("POST", "/workshops/{workshop_id}/participants/{participant_id}/remove"): signed_in(404),
    ("POST", "/workshops/{workshop_id}/delete"): signed_in(404),
    ("GET", "/w"): everyone(200),
    ("POST", "/w"): everyone(404),
    ("GET", "/w/room"): everyone(401),
    ("POST", "/w/vote"): everyone(401),
    ("GET", "/w/state"): everyone(200),
    ("GET", "/w/events"): everyone(200),
}
#: Files sent with the form of a route (name: (file name, bytes, type)).
FILES: dict[str, dict[str, tuple[str, bytes, str]]] = {
    "/studies/{study_id}/participants/import":
        {"participants_file": ("people.csv", b"label,site\nAnna,Leeds\n", "text/csv")},
}


@dataclass
class World:
    """One app and its accounts; each case gets a fresh study and a fresh browser."""

    app: FastAPI
    ids: dict[str, int] = field(default_factory=dict)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def account(self, username: str, admin: bool = False) -> int:
        with self.app.state.core.db() as db:
            return int(st.create_researcher(db, username, PASSWORD, admin=admin).id)

    def new_study(self) -> int:
        with self.app.state.core.db() as db:
            study = st.create_study(db, owner=self.ids["owner"], title="Case", deck_size=3,
                                    set_id="training-12", n_participants=2, rounds=2,
                                    sites="Leeds,York", catalogue=self.app.state.core.catalogue)
            st.add_collaborator(db, study, "editor", "editor")
            st.add_collaborator(db, study, "viewer", "viewer")
            st.add_collaborator(db, study, "spare", "viewer")
            self.ids["study"] = int(study.id)
            return int(study.id)

    def round1_answer(self) -> int:
        """The id of a round-1 answer in the newest study (a reason that can be hidden)."""
        with self.app.state.core.db() as db:
            p = db.scalar(select(Participant).where(Participant.study_id == self.ids["study"],
                                                    Participant.number == 1))
            assert p is not None
            vignette = st.deck_of(db, p)[0]
            answer = st.Answer(3, 0.5, 4.0, (), "", "a reason", "school")
            return int(st.save_answer(db, p, vignette, 1, answer, 5.0, new_token()).id)

    def browser(self, role: str) -> tuple[TestClient, str]:
        """A fresh browser signed in as ``role``, and its CSRF token."""
        client = TestClient(self.app, base_url="http://127.0.0.1", follow_redirects=False)
        csrf = csrf_of(client.get("/login").text)
        if role != "anonymous":
            token = new_token()
            with self.app.state.core.db() as db:
                db.add(ResearcherSession(token_hash=token_hash(token),
                                         researcher_id=self.ids[role],
                                         expires_at=utcnow().replace(year=2100)))
                db.commit()
            client.cookies.set(RESEARCHER_COOKIE, token)
        return client, csrf


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    """Like the ``db_url`` fixture, but one database per backend for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('roles') / 'app.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    with pytest.MonkeyPatch.context() as patch:
        # argon2id with small costs: this module checks who may do what, not hashing time
        patch.setattr(_security, "_ARGON2", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
        app = create_app(url, login_attempts=10**6)
        world = World(app)
        for role in ROLES[1:]:
            world.ids[role] = world.account(role, admin=role == "admin")
        world.ids["spare"] = world.account("spare")
        yield world
        app.state.core.engine.dispose()


def _form(world: World, role: str, path: str) -> dict[str, Any]:
    """A valid form for ``path`` (so that only the role decides the answer)."""
    n = next(world.counter)
    forms: dict[str, Callable[[], dict[str, Any]]] = {
        "/login": lambda: {"username": role, "password": "not the password"},
        "/studies": lambda: {"title": f"New {n}", "set_id": "training-12", "deck_size": "2",
                             "n_participants": "2", "rounds": "1", "seed": "1"},
        "/studies/{study_id}/site": lambda: {"participant": "1", "site": "York"},
        "/studies/{study_id}/collaborators": lambda: {"username": "other", "role": "viewer"},
        "/studies/{study_id}/collaborators/remove":
            lambda: {"researcher_id": str(world.ids["spare"])},
        "/studies/{study_id}/reasons/hide":
            lambda: {"response_id": str(world.round1_answer())},
        "/account/password": lambda: {"current_password": PASSWORD, "new_password": PASSWORD},
        "/admin/accounts": lambda: {"username": f"new-{n}", "password": "a fine password"},
        "/p/{token}": lambda: {"profession": "gp", "experience_years": "3", "consent": "yes"},
        "/studies/{study_id}/information":
            lambda: {"info_sheet": "About the study", "contact": "ada@example.org",
                     "ethics_ref": "REC 1"},
        "/studies/{study_id}/retention": lambda: {"retention_until": "2099-12-31"},
        "/studies/{study_id}/participants/delete":
            lambda: {"participant": "1", "confirm_title": "Case"},
        "/studies/{study_id}/delete": lambda: {"confirm_title": "Case"},
        "/s/submit": lambda: {"round": "1"},
        "/studies/{study_id}/participants/add": lambda: {"count": "1", "site": "York"},
        "/studies/{study_id}/mail/templates": lambda: {
            f"{kind}_{part}": text for kind, (subject, body) in DEFAULTS.items()
            for part, text in (("subject", subject), ("body", body))},
        "/link": lambda: {"email": f"someone-{n}@example.org"},
        "/studies/{study_id}/deadline":
            lambda: {"closes_at": "2099-01-01T12:00", "remind_hours": "24"},
    }
    return forms.get(path, dict)()


def _id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(ROUTES), ids=_id)
def test_route_checks_the_role(world: World, route: tuple[str, str], role: str) -> None:
    method, path = route
    study = world.new_study()
    throwaway = world.account(f"throwaway-{next(world.counter)}") if "{researcher_id}" in path else 0
    url = path.format(study_id=study, fmt="csv", token="not-an-issued-link",
                      researcher_id=throwaway, position=1, number=1, workshop_id=1,
                      participant_id=1)
    client, csrf = world.browser(role)
    try:
        if method == "GET":
            r = client.get(url)
        else:
            r = client.post(url, data=_form(world, role, path) | {"csrf_token": csrf},
                            files=FILES.get(path))
    finally:
        client.close()
    expected = ROUTES[route][role]
    location = r.headers.get("location", "")
    if expected == LOGIN:
        assert (r.status_code, location) == (303, "/login"), r.text[:300]
        return
    assert r.status_code == expected, re.sub(r"\s+", " ", r.text)[:400]
    if r.status_code == 303:
        assert location != "/login"
    if r.status_code == 404 and "{study_id}" in path:
        # exactly what a missing study gives
        assert f"study_id: no study {study}" in r.text


def test_every_route_is_listed(tmp_path: Path) -> None:
    """A route the table above does not list fails here: add it, with its statuses."""
    app = create_app(f"sqlite:///{tmp_path / 'app.sqlite3'}")
    routes = {(method, r.path) for r in app.routes if isinstance(r, APIRoute)
              for method in r.methods or ()}
    assert routes - set(ROUTES) == set(), "routes missing from ROUTES"
    assert set(ROUTES) - routes == set(), "ROUTES lists routes the app does not have"
    others = [r for r in app.routes if not isinstance(r, APIRoute)]
    assert [getattr(r, "path", None) for r in others] == ["/static"]
    app.state.core.engine.dispose()


def test_the_table_is_what_the_issue_asks() -> None:
    """A sanity check of ROUTES itself: every study route hides the study from others."""
    for (_, path), expected in ROUTES.items():
        assert set(expected) == set(ROLES), path
        if "{study_id}" in path:
            assert (expected["other"], expected["admin"], expected["anonymous"]) == (
                404, 404, LOGIN), path
    assert {k: v["viewer"] for k, v in ROUTES.items()
            if "{study_id}" in k[1] and v["viewer"] != 403} == {
        ("GET", "/studies/{study_id}"): 200,
        ("GET", "/studies/{study_id}/judgements.{fmt}"): 200,
        ("GET", "/studies/{study_id}/survey.csv"): 200,
        ("GET", "/studies/{study_id}/qualtrics.txt"): 200}
