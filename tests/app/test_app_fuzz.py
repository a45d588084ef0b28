"""No 500 on any route: hypothesis draws requests for every form of the app.

For every route of the app's route table, :data:`SPECS` holds a :class:`Spec`: the
form's real field names (from the templates and handlers), each with a strategy of
values the page itself would send, and the roles that reach deepest. A request for a
route mixes, field by field, good values, nasty text (:data:`NASTY`: NUL and other C0
controls, right-to-left marks, other scripts' and full-width digits, ``+3``, ``-0``,
``1e3``, huge numbers, empty and 1 MB strings), missing fields, repeated fields and
unknown extra fields; it is sent urlencoded, as multipart (where a text field may
arrive as a file and a file field as text) or with another content type, with a
valid CSRF token (mostly) and random path parameters (:data:`PATH_PARAMS`: real ids
and tokens, negative and huge numbers, junk, percent-encoded junk). The assertion: no
status of 500 or more, and every 4xx is an HTML page.

One app per backend (SQLite and PostgreSQL) serves the whole module, with its
accounts, studies, participants and sessions (:class:`World`); after every request
:meth:`World.restore` undoes what a request may have changed that later examples need
(sessions, passwords, disabled accounts, study phases, the consent link), so that the
examples stay independent and deterministic. Answers and new studies accumulate.

Adding a route
--------------
:func:`test_every_route_has_a_strategy` fails when the app has a route :data:`SPECS`
does not list. To add one, add an entry::

    ("GET", "/studies/{study_id}/audit"): Spec("owner", query={"page": ints(1, 5)}),

naming the role that reaches deepest (``owner``, ``admin``, ``practitioner`` (in
round 1 or round 2), ``scratch_practitioner`` (a new participant each time), ``other``
or ``anonymous``; the other roles are tried too) and the form fields, each with a
strategy of good values (or a function of the
:class:`World` and the role giving one, for ids known only once the data exist; the
damaged values are drawn for you). ``query=`` holds the query parameters of a GET,
``files=`` the names of file fields, ``examples=`` how many requests to draw (20), and
``reaches=`` statuses some example must get, which keeps the strategy deep. A path
parameter not yet in :data:`PATH_PARAMS` needs an entry there (or in the spec's
``path=``). A route that destroys data must aim at throwaway rows, not at the shared
study and participants: ``path={"study_id": _scratch_studies}`` gives a new study
(titled ``Scratch``) for each example, and the role ``scratch_practitioner`` a new
participant with a study session. For example::

    ("POST", "/studies/{study_id}/delete"): Spec(
        "owner", {"confirm": st.sampled_from(["Scratch", "A"])},
        path={"study_id": _scratch_studies}, reaches=(303, 422)),
    ("POST", "/s/withdraw"): Spec("scratch_practitioner", {"confirm": TEXT}),
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from dsk.app import _mail, _security, create_app
from dsk.app import _study as sv
from dsk.app._models import Participant, Researcher, ResearcherSession, Study, utcnow
from dsk.app._security import new_token, token_hash
from dsk.catalogue import load_catalogue
from dsk.design import generate
from dsk.io import write_table

CATALOGUE = load_catalogue()
PASSWORD = "the same long password"
PUBLIC = "http://127.0.0.1:8000"
Strategy = st.SearchStrategy[Any]

# ---------------------------------------------------------------- values

#: Text no form of the app sends.
NASTY_WORDS = [
    "", " ", "  \t ", "\r\n", "\n", "\t", "\x00", "a\x00b", "\x01", "\x07", "\x08", "\x0b",
    "\x1b[31m", "\x1f", "\x7f", "\x85", "\u200f", "\u202e1", "\u200b", "\ufeff", "\u0663",
    "\uff13", "\U0001d7d9", "+3", "-0", "-1", "0", "00", "007", "1e3", "3.0", "3_000",
    "0x10", "1,5", "NaN", "inf", "-inf", "999999999999", str(2**31), str(2**63), str(2**70),
    "9" * 400, "' OR 1=1 --", "<script>alert(1)</script>", "{{ 7*7 }}", "%00", "%ZZ",
    "..", "/", "\\", "é", "e\u0301", "\U0001f600", "true", "yes", "null", "[]", "{}",
    "=HYPERLINK(\"http://x\")", "@SUM(1)", "a|b|c|d|e", "x.y", ".", "csrf:", "5", "13",
    "61", "101", "1001", " 3 ", "3\n", "\t3",
]
#: Arbitrary text (no lone surrogates: HTTP cannot carry them).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
#: Oversized text: just over a field's limit, 1 MB, and over the 2 MB a part may hold.
BIG = st.sampled_from([sv.MAX_FIELD + 1, 2**20, 2 * 2**20 + 1]).flatmap(
    lambda n: st.sampled_from(["x", "\u00e9", "٣"]).map(lambda c: c * n))
NASTY: Strategy = st.one_of(st.sampled_from(NASTY_WORDS), st.sampled_from(NASTY_WORDS),
                            ANY_TEXT, ANY_TEXT, BIG)
#: Text a person might type (no control characters).
TEXT = st.one_of(st.sampled_from(["Pilot", "Leeds", "a reason", "x" * 200]),
                 st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1,
                         max_size=24))


def ints(lo: int, hi: int) -> Strategy:
    """A whole number from ``lo`` to ``hi`` in ASCII digits (the damaged values, out of
    range or in other digits, are :data:`NASTY`)."""
    return st.integers(lo, hi).map(str)


#: A field's good values: a strategy, or a function of the world and the requester's role
#: giving one (for ids and tokens known only once the data exist).
Field = Strategy | Callable[["World", str], Strategy]


@dataclass(frozen=True)
class Spec:
    """How to draw requests to one route (see the module docstring)."""

    role: str
    fields: dict[str, Field] = field(default_factory=dict)
    query: dict[str, Field] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    examples: int = 20
    #: Statuses some example must get (so that the strategy is known to reach that far).
    reaches: tuple[int, ...] = ()
    #: Path parameters of this route only (instead of :data:`PATH_PARAMS`).
    path: dict[str, Field] = field(default_factory=dict)


def _studies(w: World, role: str) -> Strategy:
    return st.sampled_from([w.ids["study"], w.ids["round2"]]).map(str)


def _scratch_studies(w: World, role: str) -> Strategy:
    """A new throwaway study for each example (for routes that delete or change one for
    good)."""
    return st.builds(w.scratch_study).map(str)


def _participant_files(w: World, role: str) -> Strategy:
    """A participant list (file name, content) for a scratch study (sites Leeds and York)."""
    good = [b"label,email,site,profession\nAsha,asha@example.org,Leeds,social_worker\n"
            b"Ben,,York,\n",
            "\ufefflabel,site\nCh\u00e9,Leeds\n".encode(),
            b"label,site\nDee,Nowhere\n", b"label;site\nEd;Leeds\n", b"",
            b"label,site\n=HYPERLINK(1),Leeds\n", b"label,site,extra\nFi,York,1\n",
            b"label,site\n\xff\xfe,Leeds\n", b"label,email,site\nGus,not an address,York\n"]
    files = st.sampled_from(good)
    return st.tuples(st.sampled_from(["people.csv", "x.txt", "p.csv"]),
                     st.one_of(files, files, files, st.binary(max_size=64)))


def _tokens(w: World, role: str) -> Strategy:
    """Links: the unclaimed one, one in use, one whose device was left, and junk."""
    return st.sampled_from([w.tokens["fresh"], w.tokens["claimed"], w.tokens["left"]])


def _form_tokens(w: World, role: str) -> Strategy:
    """Valid signed form tokens (mostly the requester's own), and tampered or misused ones."""
    own = st.sampled_from(w.form_tokens.get(role) or [t for ts in w.form_tokens.values()
                                                      for t in ts])
    good = st.one_of(own, own, own, st.sampled_from([t for ts in w.form_tokens.values()
                                                     for t in ts]))
    tampered = good.flatmap(lambda t: st.sampled_from([
        t[:-1] + ("A" if t[-1] != "A" else "B"), t + "x", t.rpartition(".")[0],
        t.rpartition(".")[0] + ".\u00e9", "." + t, t.replace("|", "|1", 1), t.upper()]))
    misused = st.sampled_from([
        f"csrf:{w.csrf_cookie}.{w.csrf}",  # a CSRF token (signed by the same key)
        w.signer.sign("1|2|3"), w.signer.sign("x|1|v|0|n"), w.signer.sign(f"{2**70}|1|v|0|n"),
        w.signer.sign("1|1|v|9" * 3 + "|n"), w.csrf, ""])
    return st.one_of(good, good, good, tampered, misused)


def _response_ids(w: World, role: str) -> Strategy:
    return st.sampled_from(w.response_ids).map(str) | ints(1, 10**4)


def _accounts(w: World, role: str) -> Strategy:
    return st.sampled_from([str(w.ids[k]) for k in ("victim", "other", "admin")])


def _uploads(w: World, role: str) -> Strategy:
    """An uploaded vignettes file: (file name, content)."""
    return st.one_of(st.sampled_from(_upload_files()), st.sampled_from(_upload_files()),
                     st.tuples(st.sampled_from(["x.csv", "x.jsonl", "x.yaml", "x.parquet"]),
                               st.binary(max_size=64)),
                     st.tuples(NASTY, st.sampled_from([b"", b"\x00", b"vignette_id\n"])))


def _withdrawal_notes(w: World, role: str) -> Strategy:
    """The signed note the withdrawal page is sent to, and tampered ones."""
    good = st.sampled_from([w.signer.sign(f"withdrawn:{w.ids['study']}:2"),
                            w.signer.sign(f"withdrawn:{2**31}:0"),
                            w.signer.sign("withdrawn:999999999:1")])
    return st.one_of(good, good.map(lambda t: t[:-1] + "x"), st.just(w.csrf))


SPECS: dict[tuple[str, str], Spec] = {
    ("GET", "/healthz"): Spec("anonymous", reaches=(200,)),
    ("GET", "/login"): Spec("anonymous", reaches=(200,)),
    ("POST", "/login"): Spec("anonymous", {
        "username": st.sampled_from(["owner", "admin", "nobody"]),
        "password": st.sampled_from([PASSWORD, "wrong password"])}, reaches=(303, 401)),
    ("POST", "/logout"): Spec("owner", reaches=(303,)),
    ("GET", "/"): Spec("owner", reaches=(200,)),
    ("POST", "/studies"): Spec("owner", {
        "title": TEXT, "set_id": st.sampled_from(["training-12", "nope"]),
        "deck_size": st.sampled_from(["1", "2", "3"]) | ints(1, 12),
        "n_participants": ints(1, 4), "rounds": ints(1, 2), "seed": ints(0, 10),
        "sites": st.sampled_from(["", "", "Leeds, York", "A:1,B:1"]),
        "vignettes_file": _uploads,
        "info_sheet": TEXT, "contact": TEXT, "ethics_ref": TEXT,
        "retention_until": st.sampled_from(["", "2031-01-31", "2020-01-01"])},
        files=("vignettes_file",), examples=80,
        reaches=(303, 422)),
    ("GET", "/studies/{study_id}"): Spec("owner", query={
        "stalled_hours": st.sampled_from(["", "48", "1", "0", "8761", "x", "٣"])},
        reaches=(200, 404, 422)),
    ("POST", "/studies/{study_id}/links"): Spec("owner", {
        "site": st.sampled_from(["", "Leeds", "York", "Nowhere"]),
        "format": st.sampled_from(["", "html", "csv", "xlsx"])}, reaches=(200, 422)),
    ("GET", "/studies/{study_id}/links"): Spec("owner", query={
        "site": st.sampled_from(["", "Leeds", "Nowhere"])}, reaches=(200,)),
    ("GET", "/studies/{study_id}/close"): Spec("owner", reaches=(200,)),
    ("GET", "/studies/{study_id}/participants/{number}/reissue"): Spec(
        "owner", reaches=(200, 404)),
    ("POST", "/studies/{study_id}/participants/{number}/reissue"): Spec(
        "owner", path={"study_id": _scratch_studies}, reaches=(200, 404)),
    ("POST", "/studies/{study_id}/participants/import"): Spec("owner", {
        "participants_file": _participant_files}, files=("participants_file",),
        path={"study_id": _scratch_studies}, examples=60, reaches=(303, 422)),
    ("POST", "/studies/{study_id}/participants/add"): Spec("owner", {
        "count": st.sampled_from(["1", "2", "0", "5000", "x"]),
        "site": st.sampled_from(["", "Leeds", "York", "Nowhere"])},
        path={"study_id": _scratch_studies}, reaches=(303, 422)),
    ("POST", "/studies/{study_id}/site"): Spec("owner", {
        "participant": ints(1, 6), "site": st.sampled_from(["Leeds", "York", "Nowhere"])},
        reaches=(303, 422)),
    ("POST", "/studies/{study_id}/close"): Spec("owner", path={"study_id": _scratch_studies},
                                                reaches=(303,)),
    ("POST", "/studies/{study_id}/collaborators"): Spec("owner", {
        "username": st.sampled_from(["other", "victim", "owner", "nobody"]),
        "role": st.sampled_from(["viewer", "editor", "owner"])}, reaches=(303, 422)),
    ("POST", "/studies/{study_id}/collaborators/remove"): Spec("owner", {
        "researcher_id": _accounts}, reaches=(303, 422)),
    ("POST", "/studies/{study_id}/reasons/hide"): Spec("owner", {
        "response_id": _response_ids}, reaches=(303,)),
    ("GET", "/studies/{study_id}/judgements.{fmt}"): Spec("owner", query={
        "excel": st.sampled_from(["1", "0", ""])}, reaches=(200,)),
    ("GET", "/studies/{study_id}/survey.csv"): Spec("owner", query={
        "excel": st.sampled_from(["1", "0", ""])}, reaches=(200, 422)),
    ("GET", "/studies/{study_id}/qualtrics.txt"): Spec("owner", reaches=(200,)),
    ("GET", "/account"): Spec("owner", reaches=(200,)),
    ("POST", "/account/password"): Spec("owner", {
        "current_password": st.sampled_from([PASSWORD, "not it"]),
        "new_password": st.sampled_from([PASSWORD, "short", "another long password"])},
        reaches=(200, 422)),
    ("GET", "/admin"): Spec("admin", reaches=(200,)),
    ("POST", "/admin/accounts"): Spec("admin", {
        "username": st.sampled_from(["owner", "fresh"]) | TEXT,
        "password": st.sampled_from(["a fine password", "short"]),
        "is_admin": st.sampled_from(["yes", "no"])}, reaches=(303, 409, 422)),
    ("POST", "/admin/accounts/{researcher_id}/disable"): Spec("admin", reaches=(303, 404)),
    ("POST", "/admin/accounts/{researcher_id}/enable"): Spec("admin", reaches=(303, 404)),
    ("GET", "/p/{token}"): Spec("anonymous", reaches=(200, 404)),
    ("POST", "/p/{token}"): Spec("anonymous", {
        "profession": st.sampled_from(["social_worker", "gp", "other", "astronaut"]),
        "experience_years": ints(0, 60), "consent": st.sampled_from(["yes", "no"])},
        examples=40, reaches=(303, 422)),
    ("GET", "/s"): Spec("practitioner", reaches=(200, 401)),
    ("POST", "/s/answer"): Spec("practitioner", {
        "form_token": _form_tokens, "need_level": ints(1, 4), "confidence": ints(0, 100),
        "risk": ints(0, 10),
        "salient_factors": st.sampled_from([*CATALOGUE.factor_ids[:3], "unknown"]),
        "salient_other": TEXT, "rationale": TEXT,
        "lead_agency": st.sampled_from([*list(CATALOGUE.agencies)[:3], "aliens"])},
        examples=80, reaches=(303, 400, 403, 409, 422)),
    ("GET", "/s/case/{position}"): Spec("practitioner", path={
        "position": st.sampled_from(["1", "2", "3", "0", "99", "٣", "+1", "1.0"])},
        reaches=(200, 404)),
    ("GET", "/s/review"): Spec("practitioner", reaches=(200,)),
    ("GET", "/s/left"): Spec("anonymous", reaches=(200,)),
    ("POST", "/s/draft"): Spec("practitioner", {
        "form_token": _form_tokens, "need_level": ints(1, 4), "confidence": ints(0, 100),
        "risk": ints(0, 10),
        "salient_factors": st.sampled_from([*CATALOGUE.factor_ids[:3], "unknown"]),
        "salient_other": TEXT, "rationale": TEXT,
        "lead_agency": st.sampled_from([*list(CATALOGUE.agencies)[:3], "aliens"])},
        examples=60, reaches=(204, 400, 403)),
    ("POST", "/s/submit"): Spec("scratch_practitioner", {"round": ints(1, 2)},
                                reaches=(303,)),
    ("POST", "/s/leave"): Spec("scratch_practitioner", reaches=(303,)),
    # e-mail: the world's app has no mail server, so sending is refused (409), never tried
    ("GET", "/studies/{study_id}/mail/invitations"): Spec("owner", reaches=(200,)),
    ("POST", "/studies/{study_id}/mail/invitations"): Spec("owner", reaches=(409,)),
    ("GET", "/studies/{study_id}/mail/reminders"): Spec("owner", reaches=(200,)),
    ("POST", "/studies/{study_id}/mail/reminders"): Spec("owner", reaches=(409,)),
    ("POST", "/studies/{study_id}/mail/retry"): Spec("owner", reaches=(409,)),
    ("GET", "/studies/{study_id}/mail/templates"): Spec("owner", reaches=(200,)),
    ("POST", "/studies/{study_id}/mail/templates"): Spec("owner", {
        f"{kind}_{part}": st.sampled_from([text, text, "Hi {name}", "a\r\nBcc: x@y.org",
                                           "{", "{link!r}", "{access}", "{link}"]) | TEXT
        for kind, (subject, body) in _mail.DEFAULTS.items()
        for part, text in (("subject", subject), ("body", body))},
        examples=40, reaches=(303, 422)),
    ("POST", "/studies/{study_id}/deadline"): Spec("owner", {
        "closes_at": st.sampled_from(["2099-01-01T12:00", "", "2020-01-01T00:00", "3 Dec",
                                      "2099-02-30T12:00", "2099-01-01T12:00:00"]),
        "remind_hours": st.sampled_from(["24", "0", "", "721", "x"])},
        reaches=(303, 422)),
    ("GET", "/link"): Spec("anonymous", query={"sent": st.sampled_from(["1", "0", ""])},
                           reaches=(200,)),
    ("POST", "/link"): Spec("anonymous", {
        "email": st.sampled_from(["anna@example.org", "nobody@example.org", "x@", ""])},
        reaches=(303, 422)),
    # the audit trail
    ("GET", "/studies/{study_id}/audit"): Spec("owner", reaches=(200, 404)),
    ("GET", "/studies/{study_id}/audit.csv"): Spec("owner", query={
        "excel": st.sampled_from(["1", "0", ""])}, reaches=(200,)),
    ("GET", "/admin/audit"): Spec("admin", reaches=(200,)),
    # workshop mode: the fuzz accounts are not trainers, so the trainer's pages answer 404;
    # the room's pages are anonymous (no phone cookie): never a 500 for any input
    ("GET", "/admin/trainers"): Spec("admin", reaches=(200,)),
    ("POST", "/admin/trainers/{researcher_id}"): Spec("admin", {"trainer": st.sampled_from(["yes", "no", ""])}),
    ("GET", "/workshops"): Spec("owner"),
    ("POST", "/workshops"): Spec("owner", {
        "title": TEXT, "set_id": st.sampled_from(["training-12", "nope", ""]), "cases": TEXT,
        "reference": st.sampled_from(["", "simulated", "study:1", "study:x", "other"]),
        "panel_seed": ints(0, 10), "show_note": st.sampled_from(["yes", ""]),
        "ready_made": st.sampled_from(["yes", ""])}),
    ("GET", "/workshops/{workshop_id}"): Spec("owner"),
    ("GET", "/workshops/{workshop_id}/state"): Spec("owner"),
    ("POST", "/workshops/{workshop_id}/step"): Spec("owner", {"action": st.sampled_from(
        ["reveal", "next", "revote", "end", "nope", ""])}),
    ("POST", "/workshops/{workshop_id}/vary"): Spec("owner", {"factor": TEXT, "level": TEXT}),
    ("POST", "/workshops/{workshop_id}/participants/{participant_id}/remove"): Spec("owner"),
    ("POST", "/workshops/{workshop_id}/delete"): Spec("owner"),
    ("GET", "/workshops/{workshop_id}/judgements.{fmt}"): Spec("owner"),
    ("GET", "/w"): Spec("anonymous", query={"code": TEXT}),
    ("POST", "/w"): Spec("anonymous", {"code": TEXT, "display_name": TEXT, "profession": TEXT}),
    ("GET", "/w/room"): Spec("anonymous"),
    ("POST", "/w/vote"): Spec("anonymous", {"need_level": TEXT, "reason": TEXT, "vignette_id": TEXT}),
    ("GET", "/w/state"): Spec("anonymous"),
    ("GET", "/w/events"): Spec("anonymous", examples=3),
    # withdrawal and deletion
    ("GET", "/s/withdraw"): Spec("practitioner", reaches=(200, 401)),
    ("POST", "/s/withdraw"): Spec("scratch_practitioner", reaches=(303,)),
    ("GET", "/withdrawn"): Spec("anonymous", query={"note": _withdrawal_notes},
                                reaches=(200,)),
    ("GET", "/studies/{study_id}/information"): Spec("owner", reaches=(200,)),
    ("POST", "/studies/{study_id}/information"): Spec("owner", {
        "info_sheet": TEXT, "contact": TEXT, "ethics_ref": TEXT},
        path={"study_id": _scratch_studies}, reaches=(303,)),
    ("POST", "/studies/{study_id}/retention"): Spec("owner", {
        "retention_until": st.sampled_from(["", "2031-01-31", "2020-01-01", "2031-02-30",
                                            "31/01/2031", "9999-12-31"])}, reaches=(303, 422)),
    ("GET", "/studies/{study_id}/participants/delete"): Spec("owner", query={
        "participant": ints(1, 6)}, reaches=(200,)),
    ("POST", "/studies/{study_id}/participants/delete"): Spec("owner", {
        "participant": ints(1, 3), "confirm_title": st.sampled_from(["Scratch", "A"])},
        path={"study_id": _scratch_studies}, reaches=(303, 422)),
    ("GET", "/studies/{study_id}/delete"): Spec("owner", reaches=(200,)),
    ("POST", "/studies/{study_id}/delete"): Spec("owner", {
        "confirm_title": st.sampled_from(["Scratch", "A", " Scratch "])},
        path={"study_id": _scratch_studies}, reaches=(303, 422)),
}

#: Path parameters: good values (from the World) and junk.
PATH_PARAMS: dict[str, Field] = {
    "study_id": _studies,
    "researcher_id": _accounts,
    "token": _tokens,
    "fmt": st.sampled_from(["csv", "parquet"]),
    "position": st.sampled_from(["1", "2"]),
    "number": st.sampled_from(["1", "2", "3"]),
    "workshop_id": st.sampled_from(["1", "2"]),
    "participant_id": st.sampled_from(["1", "2"]),
}
PATH_JUNK = st.one_of(
    st.sampled_from(["0", "-1", "-0", "+1", str(2**31), str(2**63), str(2**70), "1e3",
                     "\u0663", "\uff11", "abc", "1.5", " 1", "%00", "%ZZ", "%FF%FE", "%2F",
                     "%C0%AF", "..", "x" * 2000, "9" * 5000]),
    ANY_TEXT.filter(bool).map(lambda s: urllib.parse.quote(s, safe="")))
ROLES = ("owner", "admin", "other", "practitioner", "practitioner2", "anonymous")
#: Roles whose cookies are made anew for each request (not drawn for other routes).
SCRATCH_ROLES = ("scratch_practitioner",)
#: Cookie values no browser of this app holds.
COOKIE_JUNK = ["", "x", "a|b|c|d|e|" * 8, "\u00e9" * 40, '"quoted value of some length here"',
               "%00" * 12, new_token(), "x" * 5000, "a=b", "\\" * 40]


# ---------------------------------------------------------------- upload files


@functools.cache
def _upload_files() -> list[tuple[str, bytes]]:
    """A good vignettes file in each format, and damaged copies of it."""
    import tempfile

    frame = generate("random", 3, 5, CATALOGUE, set_id="fuzz")
    damaged = {"good": frame}
    for name, column, value in [("nul", "narrative", "a\x00b"), ("esc", "vignette_id", "v\x1b"),
                                ("long-id", "vignette_id", "v" * 150),
                                ("long-band", "complexity_band", "b" * 50),
                                ("long-set", "set_id", "s" * 300), ("empty", "narrative", ""),
                                ("dup", "vignette_id", "same"), ("rtl", "narrative", "\u202e")]:
        copy = frame.copy()
        copy[column] = [value] * len(copy) if name == "dup" else [value, *copy[column][1:]]
        damaged[name] = copy
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, table in damaged.items():
            for suffix in (".csv", ".jsonl", ".parquet"):
                try:
                    path = write_table(table, Path(tmp) / f"{name}{suffix}")
                except Exception:  # noqa: BLE001 - a writer that refuses it: not sent
                    continue
                out.append((f"{name}{suffix}", path.read_bytes()))
    yaml = ("id: our-cases\nseed: 7\nvignettes:\n  - id: baby\n    age_band: infant\n"
            "    factors: {parental_mental_health: affecting_care}\n")
    good = next(content for name, content in out if name == "good.parquet")
    out += [("cut.parquet", good[: len(good) // 2]), ("cases.yaml", yaml.encode()), ("cases.yaml", yaml.replace("baby", "b\x00").encode()),
            ("cases.yaml", yaml.replace("baby", "b" * 150).encode()),
            ("cases.yaml", b"a: &a [*a]\n"), ("cases.yml", b"\xff\xfe"),
            ("c.\u00e9" * 60 + ".csv", b""), ("x." + "\u00e9" * 190, b""),
            ("../../etc/passwd.csv", b"vignette_id\n"), ("C:\\x\\y.csv", b"")]
    return out


# ---------------------------------------------------------------- the world


@dataclass(repr=False)
class World:
    """One app on one backend, with what the routes need to reach deep."""

    app: FastAPI
    client: TestClient
    ids: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    form_tokens: dict[str, list[str]] = field(default_factory=dict)
    response_ids: list[int] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)
    csrf_cookie: str = field(default_factory=new_token)
    counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def core(self) -> Any:
        return self.app.state.core

    @property
    def signer(self) -> _security.Signer:
        signer: _security.Signer = self.core.signer
        return signer

    @property
    def csrf(self) -> str:
        return self.signer.csrf_token(self.csrf_cookie)

    def build(self) -> None:
        with self.core.db() as db:
            for name in ("owner", "admin", "other", "victim"):
                r = sv.create_researcher(db, name, PASSWORD, admin=name == "admin")
                self.ids[name] = int(r.id)
                self.hashes[int(r.id)] = r.password_hash
            for role in ("owner", "admin", "other"):
                self.sessions[role] = new_token()
            a = sv.create_study(db, owner=self.ids["owner"], title="A", set_id="training-12",
                                deck_size=3, n_participants=6, rounds=2, sites="Leeds,York",
                                catalogue=CATALOGUE)
            b = sv.create_study(db, owner=self.ids["owner"], title="B", set_id="training-12",
                                deck_size=12, n_participants=5, rounds=2, catalogue=CATALOGUE)
            self.ids["study"], self.ids["round2"] = int(a.id), int(b.id)
            sv.add_collaborator(db, a, "other", "viewer")
            links = dict(sv.issue_links(db, a))
            by_number = {p.number: (p, t) for p, t in links.items()}
            # 1: a practitioner with a session; 2: an unclaimed link; 3: left a device
            p1, t1 = by_number[1]
            self.sessions["practitioner"] = sv.claim_link(db, t1, "social_worker", 5)
            self.tokens["claimed"], self.tokens["fresh"], self.tokens["left"] = (
                t1, by_number[2][1], by_number[3][1])
            sv.claim_link(db, by_number[3][1], "gp", 2)
            self.ids["practitioner"], self.ids["fresh"], self.ids["left"] = (
                int(p1.id), int(by_number[2][0].id), int(by_number[3][0].id))
            # answers with the odd (but valid) text that exports and round 2 must show
            odd = ["=HYPERLINK(\"http://evil.example\")", "@SUM(1)\t-2", "\u202e\u0663 e\u0301",
                   "line\r\nbreak", "\U0001f600" * 50, "x" * sv.MAX_TEXT, "<b>&amp;</b>{{ 1 }}"]
            texts = itertools.cycle(odd)
            answer = sv.Answer(3, 0.5, 4.0, (CATALOGUE.factor_ids[0],), "+1 " + odd[0],
                               next(texts), "school")
            deck = sv.deck_of(db, by_number[4][0])
            self.response_ids.append(int(sv.save_answer(db, by_number[4][0], deck[0], 1, answer,
                                                        5.0, new_token()).id))
            self.form_tokens["practitioner"] = [self.form_token(int(p1.id), 1, vignette)
                                                for vignette in sv.deck_of(db, p1)]
            # study B in round 2, with four colleagues' round-1 answers to every vignette
            people = list(db.scalars(select(Participant).where(Participant.study_id == b.id)
                                     .order_by(Participant.number)))
            for p, token in sv.issue_links(db, b):
                session = sv.claim_link(db, token, "teacher", 3)
                if p.number == 1:
                    self.sessions["practitioner2"] = session
                    self.ids["practitioner2"] = int(p.id)
            for p in people[1:]:
                for vignette in sv.deck_of(db, p):
                    odd_answer = dataclasses.replace(answer, rationale=next(texts))
                    self.response_ids.append(int(sv.save_answer(
                        db, p, vignette, 1, odd_answer, 5.0, new_token()).id))
            sv.close_round(db, b)
            self.form_tokens["practitioner2"] = [
                *(self.form_token(int(people[0].id), 2, vignette)
                  for vignette in sv.deck_of(db, people[0])[:4]),
                self.form_token(int(people[0].id), 1, "tame-01-disclosure")]  # round closed
            self.form_tokens["practitioner"].append(
                self.form_token(int(p1.id), 1, "not-in-the-deck"))
        self.restore()

    def __repr__(self) -> str:
        return f"World({self.core.engine.dialect.name})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def form_token(self, pid: int, round_: int, vignette: str) -> str:
        """A form token as the scoring page issues it."""
        return self.signer.sign(f"{pid}|{round_}|{vignette}|1700000000000|{new_token()[:22]}")

    def restore(self) -> None:
        """Undo what a request may have changed that later examples rely on."""
        with self.core.db() as db:
            for role in ("owner", "admin", "other"):
                if db.get(ResearcherSession, token_hash(self.sessions[role])) is None:
                    db.add(ResearcherSession(token_hash=token_hash(self.sessions[role]),
                                             researcher_id=self.ids[role],
                                             expires_at=utcnow().replace(year=2100)))
            for rid, stored in self.hashes.items():
                db.execute(update(Researcher).where(Researcher.id == rid)
                           .values(password_hash=stored, disabled=False))
            db.execute(update(Study).where(Study.id == self.ids["study"])
                       .values(phase="round1"))
            db.execute(update(Study).where(Study.id == self.ids["round2"])
                       .values(phase="round2"))
            for role in ("practitioner", "practitioner2"):
                db.execute(update(Participant).where(Participant.id == self.ids[role])
                           .values(session_hash=token_hash(self.sessions[role])))
            db.execute(update(Participant).where(Participant.id == self.ids["fresh"])
                       .values(link_hash=token_hash(self.tokens["fresh"]), claimed_at=None,
                               session_hash=None, profession=None, experience_years=None))
            db.execute(update(Participant).where(Participant.id == self.ids["left"])
                       .values(link_hash=token_hash(self.tokens["left"]), session_hash=None))
            db.commit()

    def cookies(self, role: str) -> dict[str, str]:
        """The cookies of a browser of ``role``; ``scratch_practitioner`` is a new
        participant of a new study each time (for routes that end a participation)."""
        core = self.core
        out = {core.csrf_cookie: self.csrf_cookie}
        if role in ("owner", "admin", "other"):
            out[core.researcher_cookie] = self.sessions[role]
        elif role in ("practitioner", "practitioner2"):
            out[core.participant_cookie] = self.sessions[role]
        elif role == "scratch_practitioner":
            out[core.participant_cookie] = self.scratch_session()
        return out

    def scratch_study(self) -> int:
        """A new study owned by ``owner`` (``other`` a viewer), titled ``Scratch``, with
        three participants at two sites, one answer in round 1; its id."""
        with self.core.db() as db:
            study = sv.create_study(db, owner=self.ids["owner"], title="Scratch",
                                    set_id="training-12", deck_size=3, n_participants=3,
                                    rounds=2, sites="Leeds,York", catalogue=CATALOGUE)
            sv.add_collaborator(db, study, "other", "viewer")
            p = db.scalar(select(Participant).where(Participant.study_id == study.id))
            assert p is not None
            sv.save_answer(db, p, sv.deck_of(db, p)[0], 1,
                           sv.Answer(2, 0.5, 3.0, (), "", "a reason", "school"), 5.0,
                           new_token())
            return int(study.id)

    def scratch_session(self) -> str:
        """The study session of a participant who consented in a new scratch study."""
        study = self.scratch_study()
        with self.core.db() as db:
            _, token = sv.issue_links(db, sv.get_study(db, study))[0]
            return sv.claim_link(db, token, "social_worker", 4)


def _cheap_hasher() -> PasswordHasher:
    """argon2id with small costs: the fuzz test checks answers, not hashing time."""
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    """One app and its data per backend, for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'app.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres").new_database()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_security, "_ARGON2", _cheap_hasher())
        app = create_app(url, login_attempts=10**6, public_url=PUBLIC)
        with TestClient(app, base_url=PUBLIC, follow_redirects=False,
                        raise_server_exceptions=False) as client:
            world = World(app, client)
            world.build()
            yield world
        app.state.core.engine.dispose()


# ---------------------------------------------------------------- requests


@dataclass(repr=False)
class Request:
    """One drawn request (its repr, cut short, is what a failure prints)."""

    role: str
    method: str
    url: str
    headers: dict[str, str | bytes]
    body: bytes
    parts: list[tuple[str, str | bytes, str | None]]
    cookies: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        def short(v: object) -> str:
            text = repr(v)
            return text if len(text) < 120 else f"{text[:100]}... ({len(text)} chars)"

        parts = ", ".join(f"{n}={short(v)}" + (f" (file {f!r})" if f is not None else "")
                          for n, v, f in self.parts)
        return (f"Request({self.role}: {self.method} {short(self.url)} "
                f"headers={self.headers} cookies={self.cookies} [{parts}])")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _resolve(value: Field, world: World, role: str) -> Strategy:
    return value(world, role) if callable(value) and not isinstance(
        value, st.SearchStrategy) else value


def _multipart(parts: list[tuple[str, str | bytes, str | None]]) -> tuple[bytes, str]:
    boundary = "fuzz-boundary-7MA4YWxkTrZu0gW"
    out = io.BytesIO()
    for name, value, filename in parts:
        out.write(f"--{boundary}\r\n".encode())
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.write(f"Content-Disposition: {disposition}\r\n".encode("utf-8", "replace"))
        if filename is not None:
            out.write(b"Content-Type: application/octet-stream\r\n")
        out.write(b"\r\n")
        out.write(value if isinstance(value, bytes) else value.encode("utf-8", "replace"))
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@st.composite
def requests(draw: st.DrawFn, world: World, route: tuple[str, str]) -> Request:
    """A request to ``route``, built from :data:`SPECS` and :data:`PATH_PARAMS`."""
    method, path = route
    spec = SPECS[route]
    deep = spec.role
    if deep == "practitioner":  # in round 1 or in round 2
        deep = draw(st.sampled_from(["practitioner", "practitioner2"]), label="deep")
    # half the examples go deep (the deepest role, a clean envelope, real ids, at most one
    # damaged field); the others are wild
    wild = draw(st.booleans(), label="wild")
    others = tuple(deep if deep in SCRATCH_ROLES and r.startswith("practitioner") else r
                   for r in ROLES)  # a route that ends a participation never gets the shared ones
    role = draw(st.one_of(st.just(deep), st.sampled_from(others)) if wild else st.just(deep),
                label="role")

    def param(match: re.Match[str]) -> str:
        name = match.group(1)
        good = _resolve(spec.path.get(name, PATH_PARAMS[name]), world, role)
        return str(draw(st.one_of(good, good, PATH_JUNK) if wild else good, label=name))

    url = re.sub(r"\{(\w+)\}", param, path)
    # the form's fields: good, nasty, missing or repeated; then unknown extras
    parts: list[tuple[str, str | bytes, str | None]] = []
    fields = spec.query if method == "GET" else spec.fields
    # most requests damage a field or two, so that the others reach the checks behind
    damaged = draw(st.just([]) | st.lists(st.sampled_from(sorted(fields)), max_size=3 if wild
                                          else 1, unique=True) if fields else st.just([]),
                   label="damaged")
    for name, value in fields.items():
        good = _resolve(value, world, role)
        how = draw(st.sampled_from(["nasty", "missing", "twice"]), label=f"{name}?") \
            if name in damaged else "good"
        for _ in range(2 if how == "twice" else 0 if how == "missing" else 1):
            drawn = draw(good if how != "nasty" else NASTY, label=name)
            if name in spec.files and isinstance(drawn, tuple):
                parts.append((name, drawn[1], drawn[0]))
            else:
                parts.append((name, str(drawn), None))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]) if wild else st.just(0), label="extras")):
        parts.append((draw(st.sampled_from(["x", "csrf_token ", "salient_factors", "a[]"])
                           | ANY_TEXT, label="extra name"), draw(NASTY, label="extra"), None))
    headers: dict[str, str | bytes] = {}
    body = b""
    # the envelope: mostly as a browser sends it, else one thing about it wrong
    envelope = draw(st.sampled_from(["clean", "clean", "cookie", "method"] + [
        "csrf", "origin", "encoding"] * (method == "POST")) if wild else st.just("clean"),
        label="envelope")
    cookies = world.cookies(role)
    if envelope == "cookie":  # one of the cookies damaged (or sent without a session)
        name = draw(st.sampled_from([world.core.csrf_cookie, world.core.researcher_cookie,
                                     world.core.participant_cookie]), label="cookie")
        cookies[name] = draw(st.sampled_from(COOKIE_JUNK) | ANY_TEXT, label="cookie value")
    if envelope == "method":
        method = draw(st.sampled_from(["PUT", "DELETE", "PATCH", "OPTIONS",
                                       "POST" if method == "GET" else "GET"]), label="method")
    if route[0] == "GET":
        if parts:  # (a URL over 64 kB is no request a server takes)
            url += "?" + urllib.parse.urlencode([(n, str(v)[:4000]) for n, v, _ in parts])
        return Request(role, method, url, headers, body, parts, cookies)
    csrf = "valid" if envelope != "csrf" else draw(st.sampled_from(
        ["missing", "wrong", "non-ascii", "twice", "file"]), label="csrf")
    valid = world.signer.csrf_token(cookies[world.core.csrf_cookie])
    token = {"valid": valid, "wrong": valid[::-1], "non-ascii": "\u00e9" * 43,
             "twice": valid, "file": valid}.get(csrf)
    if token is not None:
        parts.insert(draw(st.integers(0, len(parts)), label="csrf at"),
                     ("csrf_token", token, "t.txt" if csrf == "file" else None))
        if csrf == "twice":
            parts.append(("csrf_token", token, None))
    origin = draw(st.sampled_from([("origin", None), ("origin", PUBLIC)])
                  if envelope != "origin" else st.sampled_from(
        [("origin", "null"), ("origin", "http://evil.example"), ("origin", "\u00e9"),
         ("origin", "http://127.0.0.1:8000:x"), ("origin", ""), ("referer", PUBLIC + "/s"),
         ("referer", "http://[::1/x"), ("referer", "http://127.0.0.1:99999/"),
         ("referer", "//evil.example/"), ("referer", "\u00e9"), ("referer", "")]),
        label="origin")
    if origin[1] is not None:
        headers[origin[0]] = origin[1].encode("utf-8")
    encoding = draw(st.sampled_from(["urlencoded", "multipart"] + ["multipart"] * 2 * bool(
                        spec.files)) if envelope != "encoding"
                    else st.sampled_from(["json", "none", "multipart", "no boundary", "raw"]),
                    label="encoding")
    if encoding == "multipart":
        as_files = draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts))
                        if envelope == "encoding" else st.just([False] * len(parts)),
                        label="as files")
        parts = [(n, v, f if f is not None or not as_file else "field.txt")
                 for (n, v, f), as_file in zip(parts, as_files, strict=True)]
        body, headers["content-type"] = _multipart(parts)
    else:
        texts = [(n, v if isinstance(v, str) else v.decode("latin-1")) for n, v, _ in parts]
        body = urllib.parse.urlencode(texts).encode()
        if encoding in ("urlencoded", "raw"):
            headers["content-type"] = "application/x-www-form-urlencoded"
        elif encoding == "json":
            headers["content-type"] = "application/json"
        elif encoding == "no boundary":
            headers["content-type"] = "multipart/form-data"
        if encoding == "raw":  # the form, then bytes that are no text in any encoding
            body += b"&" + draw(st.sampled_from([b"%FF%FE=%C0", b"\xff\xfe\x00", b"a=%",
                                                 b"=&&==", b"%E9=%E9"]), label="raw")
    return Request(role, method, url, headers, body, parts, cookies)


@pytest.mark.parametrize("route", sorted(SPECS), ids=lambda r: f"{r[0]} {r[1]}")
def test_no_route_answers_500(world: World, route: tuple[str, str]) -> None:
    """Every drawn request to ``route`` gets an answer below 500 (a 4xx is an HTML page)."""
    # The strategies need the world (its ids and tokens), so the hypothesis test is built
    # here; it uses no pytest fixture itself (no function-scoped-fixture health check), and
    # the module-scoped world serves every example (World.restore between them).
    @settings(derandomize=True, database=None, deadline=None,
              max_examples=SPECS[route].examples,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests(world, route))
    def check(request: Request) -> None:
        seen.add(_send(world, request))

    seen: set[int] = set()
    check()
    missed = set(SPECS[route].reaches) - seen
    assert not missed, f"no example got {sorted(missed)} (seen: {sorted(seen)})"


def _send(world: World, request: Request) -> int:
    client = world.client
    client.cookies.clear()  # (the cookies are sent as they are drawn, in one header)
    cookie = "; ".join(f"{name}={value}" for name, value in request.cookies.items())
    headers = request.headers | {"cookie": cookie.encode("utf-8", "replace")}
    try:
        r = client.request(request.method, request.url, content=request.body or None,
                           headers=headers)
    finally:
        world.restore()
    assert r.status_code < 500, f"{request!r} -> {r.status_code}: {r.text[:2000]}"
    if 400 <= r.status_code < 500:
        assert r.headers["content-type"].startswith("text/html"), (
            f"{request!r} -> {r.status_code} {r.headers['content-type']}: {r.text[:500]}")
    return r.status_code


def test_every_route_has_a_strategy(tmp_path: Path) -> None:
    """A route of the app that SPECS does not list fails here: add it (module docstring)."""
    app = create_app(f"sqlite:///{tmp_path / 'app.sqlite3'}")
    routes = {(method, r.path) for r in app.routes if isinstance(r, APIRoute)
              for method in r.methods or ()}
    assert routes - set(SPECS) == set(), "routes without a fuzz strategy in SPECS"
    assert set(SPECS) - routes == set(), "SPECS lists routes the app does not have"
    params = {p for _, path in routes for p in re.findall(r"\{(\w+)\}", path)}
    assert params - set(PATH_PARAMS) == set(), "path parameters missing from PATH_PARAMS"
    app.state.core.engine.dispose()


def test_static_files_and_unknown_paths(world: World) -> None:
    """Outside the route table: the static files (mounted, not routes) and pages that do
    not exist answer 404 pages, whatever the path."""
    @settings(derandomize=True, database=None, deadline=None, max_examples=25)
    @given(path=st.one_of(PATH_JUNK.map(lambda junk: f"/static/{junk}"), PATH_JUNK.map(
        lambda junk: f"/{junk}/x"), st.sampled_from(["/static/../_web.py", "/static/",
                                                     "/static/app.css/x", "/" + "x" * 8000])))
    def check(path: str) -> None:
        r = world.client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), (
            f"GET {path[:200]!r} -> {r.status_code}")

    assert world.client.get("/static/app.css").status_code == 200
    check()


def _answer_of(world: World, role: str, method: str, url: str,
               parts: list[tuple[str, str | bytes, str | None]],
               headers: dict[str, str | bytes] | None = None) -> tuple[int, str]:
    """Send one request as ``role`` (with a valid CSRF token unless ``parts`` has one);
    its status and its text without tags."""
    import html

    own = method == "POST" and all(name != "csrf_token" for name, _, _ in parts)
    csrf: list[tuple[str, str | bytes, str | None]] = [("csrf_token", world.csrf, None)] * own
    body, kind = _multipart(csrf + parts) if method == "POST" else (b"", "")
    request = Request(role, method, url, (headers or {}) | (
        {"content-type": kind} if kind else {}), body, parts, world.cookies(role))
    client = world.client
    client.cookies.clear()
    cookie = "; ".join(f"{k}={v}" for k, v in request.cookies.items())
    try:
        r = client.request(method, url, content=body or None,
                           headers=request.headers | {"cookie": cookie})
    finally:
        world.restore()
    return r.status_code, html.unescape(re.sub(r"<[^>]+>", " ", r.text))


def _upload(name: str) -> list[tuple[str, str | bytes, str | None]]:
    content = dict(_upload_files()).get(name, b"")
    return [("title", "T", None), ("set_id", "training-12", None), ("deck_size", "1", None),
            ("n_participants", "1", None), ("rounds", "1", None), ("seed", "1", None),
            ("vignettes_file", content, name)]


#: Requests that once answered 500, with the status and message they get now.
ONCE_500: list[tuple[str, str, str, list[tuple[str, str | bytes, str | None]], int, str]] = [
    ("owner", "GET", "/studies/2147483648", [], 404, "study_id: no study 2147483648"),
    ("owner", "GET", f"/studies/{2**70}/survey.csv", [], 404, f"study_id: no study {2**70}"),
    ("owner", "GET", "/studies/abc", [], 404,
     "study_id: expected a whole number in the digits 0-9, got 'abc'"),
    ("admin", "POST", f"/admin/accounts/{2**70}/disable", [], 404,
     f"researcher_id: no researcher {2**70}"),
    ("owner", "GET", "/studies/" + "9" * 5000, [], 404, "study_id: no study 99999"),
    ("anonymous", "POST", "/login", [("csrf_token", "\u00e9" * 43, None)], 403,
     "csrf_token: missing or wrong"),
    ("practitioner", "POST", "/s/answer", [("form_token", "1|1|v|0|n.\u00e9", None)], 400,
     "form_token: missing, damaged or not issued by this server"),
    ("practitioner", "POST", "/s/answer", [("form_token", "CSRF", None)], 400,
     "form_token: missing, damaged or not issued by this server"),
    ("owner", "POST", "/studies", _upload("nul.csv"), 422, "vignettes_file: nul.csv: vignette "
     "'fuzz-00001': narrative contains the control character U+0000 at character 2"),
    ("owner", "POST", "/studies", _upload("esc.jsonl"), 422, "vignettes_file: esc.jsonl: the "
     "vignette in row 1: vignette_id contains the control character U+001B"),
    ("owner", "POST", "/studies", _upload("long-id.parquet"), 422,
     "expected a vignette_id of at most 100 characters, got 150"),
    ("owner", "POST", "/studies", _upload("x." + "\u00e9" * 190), 422,
     "vignettes_file: x.\u00e9\u00e9\u00e9"),
    ("owner", "POST", "/studies/1/close", [("referer", "http://[::1/x", "header")], 403,
     "referer: this form was sent from 'http://[::1/x', not from this site"),
]


@pytest.mark.parametrize(("role", "method", "url", "parts", "status", "message"), ONCE_500,
                         ids=[f"{m} {u[:40]} {p[-1][0] if p else ''}"
                              for _, m, u, p, _, _ in ONCE_500])
def test_requests_that_once_answered_500(world: World, role: str, method: str, url: str,
                                         parts: list[tuple[str, str | bytes, str | None]],
                                         status: int, message: str) -> None:
    headers: dict[str, str | bytes] = {n: str(v) for n, v, f in parts if f == "header"}
    parts = [p for p in parts if p[2] != "header"]
    if parts and parts[0] == ("form_token", "CSRF", None):  # a CSRF token as a form token
        parts = [("form_token", f"csrf:{world.csrf_cookie}.{world.csrf}", None)]
    got, text = _answer_of(world, role, method, url, parts, headers)
    assert (got, message in " ".join(text.split())) == (status, True), text[-600:]
