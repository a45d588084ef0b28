"""Workshops: a trainer, a projector, a room of phones, and the checklist revealed.

A trainer (a researcher account with the trainer role, granted by an admin) makes a
workshop from a vignette set (a bundled one or an uploaded file), picks the cases and
their order, and chooses what can be revealed: bundled checklists (rulesets), a
reference panel (simulated, from a stored seed) and the teaching note. The room joins
with a short code (:func:`new_code`); each phone gets a random token in a signed
cookie, so it votes once per case and round and can change its vote until the trainer
reveals the room's answers.

The projector steps through :data:`STAGES` for each case. Every change that phones
must follow raises the workshop's ``version``; a phone's state (:func:`phone_state`)
carries it, so one that reconnects sees at once whether it missed something.

The votes export as a judgements table (:func:`judgements`): ``rater_kind`` human,
``panel_id`` ``workshop-ID``, round 1 for the first vote and 2 for a re-vote, a
what-if variant under its own vignette id.

Examples
--------
>>> code = new_code(__import__("random").Random(1))
>>> len(code), set(code) <= set(CODE_ALPHABET)
(6, True)
>>> normalise_code(" abc-def ")
'ABCDEF'
>>> next_stage("vote", ["toxic-trio"], "", True)
'room'
>>> next_stage("room", [], "", True)
'note'
>>> next_stage("note", [], "", True) is None
True
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsk.catalogue import Catalogue
from dsk.schema import validate

from . import _study as st
from ._models import (
    Participant,
    Researcher,
    Response,
    Study,
    StudyVignette,
    Workshop,
    WorkshopParticipant,
    WorkshopVignette,
    WorkshopVote,
    utcnow,
)

#: Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, 5/S, 2/Z).
CODE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
CODE_LENGTH = 6
#: What the projector shows of a case, in order (stages not chosen are skipped).
STAGES = ("vote", "room", "checklist", "reference", "note")
STAGE_LABELS = {"vote": "Voting", "room": "The room's answers", "checklist": "The checklist",
                "reference": "The reference panel", "note": "The teaching note"}
#: The ready-made workshop: its title, set and cases in order. A tame case first (the room
#: and the checklist agree), then the training cases where the bundled panel parts from the
#: threshold checklist for the reason its note teaches, and last a case where both reach the
#: same level for different reasons (a session of about two hours with discussion).
READY_MADE = {
    "title": "Where checklists break down",
    "set_id": "training-12",
    "rulesets": ["threshold-of-need", "toxic-trio"],
    "cases": ["tame-01-disclosure", "wicked-05-toxic-trio-baby", "wicked-08-protective",
              "wicked-09-turbulence", "wicked-10-exploitation-signs", "wicked-12-disengagement",
              "wicked-07-count-cliff"],
    #: the training experiment's seed (experiments/training.yaml), so the reference panel
    #: gives what the teaching notes say it gives
    "panel_seed": "12",
}
#: The simulated reference panel (a bundled panel file): the training experiment's mixed panel
#: of twelve practitioners from seven professions, as a multi-agency room is.
REFERENCE_PANEL = "mixed-12"
MAX_CASES = 60
MAX_REASON = 200
MAX_NAME = 60


def new_code(rng: random.Random | None = None) -> str:
    """A join code of :data:`CODE_LENGTH` characters from :data:`CODE_ALPHABET`."""
    pick = rng.choice if rng is not None else random.SystemRandom().choice
    return "".join(pick(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """A typed code in capitals, without spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch.isalnum())[:20]


def refuse(problems: Sequence[str], status: int = 422) -> st.AppError:
    """One error for every problem found (each ``field: what is wrong``), naming the
    first field, as the app's forms do.

    >>> print(refuse(["title: expected a title", "cases: no case 'x'"]).message)
    title: expected a title
    cases: no case 'x'
    """
    field, _, first = problems[0].partition(": ")
    return st.AppError("\n".join([first, *problems[1:]]), status=status, field=field)


def next_stage(stage: str, rulesets: Sequence[str], reference: str, note: bool) -> str | None:
    """The stage after ``stage`` for a workshop with these reveals (None: the last)."""
    shown = {"vote": True, "room": True, "checklist": bool(rulesets),
             "reference": bool(reference), "note": note}
    later = STAGES[STAGES.index(stage) + 1:]
    return next((s for s in later if shown[s]), None)


# ------------------------------------------------------------------ creating

def _row_json(row: pd.DataFrame) -> str:
    return row.to_json(orient="records", force_ascii=False)


def vignette_frame(cases: Sequence[WorkshopVignette]) -> pd.DataFrame:
    """The stored cases as a vignettes table again (for the rules and :mod:`dsk.vary`)."""
    records = [json.loads(c.row)[0] for c in cases]
    return pd.DataFrame.from_records(records)


def parse_cases(text: str, available: Sequence[str]) -> list[str]:
    """The case ids typed (commas or new lines between them) in that order; empty text
    means every case. Raises ``AppError`` naming ``cases`` with every unknown id.

    >>> parse_cases("b, a", ["a", "b", "c"])
    ['b', 'a']
    >>> parse_cases("", ["a", "b"])
    ['a', 'b']
    >>> parse_cases("a, x, a", ["a"])
    Traceback (most recent call last):
    ...
    dsk.app._study.AppError: cases: no case 'x' in the set (it has: a); 'a' is listed twice
    """
    wanted = [w.strip() for w in text.replace("\n", ",").split(",") if w.strip()]
    if not wanted:
        return list(available)[:MAX_CASES]
    problems = [f"no case {w!r} in the set (it has: {', '.join(available)[:300]})"
                for w in dict.fromkeys(wanted) if w not in available]
    problems += [f"{w!r} is listed twice" for w, n in collections.Counter(wanted).items()
                 if n > 1]
    if len(wanted) > MAX_CASES:
        problems.append(f"expected at most {MAX_CASES} cases, got {len(wanted)}")
    if problems:
        raise st.AppError("; ".join(problems), status=422, field="cases")
    return wanted


def create_workshop(db: Session, owner: Researcher, *, title: str, vignettes: pd.DataFrame,
                    source: str, cases: str, rulesets: Sequence[str], known_rulesets:
                    Sequence[str], reference: str, panel_seed: str, show_note: bool,
                    rng: random.Random | None = None) -> Workshop:
    """Store a new workshop with its cases (``AppError`` naming each bad field, all at once)."""
    problems: dict[str, str] = {}
    title = " ".join(title.split())
    if not title or len(title) > 200:
        problems["title"] = "title: expected a title of 1 to 200 characters"
    try:
        ids = parse_cases(cases, [str(v) for v in vignettes["vignette_id"]])
    except st.AppError as exc:
        problems["cases"], ids = exc.message, []
    bad = [r for r in rulesets if r not in known_rulesets]
    if bad:
        problems["rulesets"] = (f"rulesets: no bundled checklist {', '.join(map(repr, bad))} "
                                f"(there are: {', '.join(known_rulesets)})")
    if reference.startswith("study:"):
        problem = _study_reference_problem(db, owner, reference, ids)
        if problem:
            problems["reference"] = problem
    elif reference not in ("", "simulated"):
        problems["reference"] = (f"reference: expected none, simulated or one of your studies, got "
                                 f"{reference[:40]!r}")
    seed = 0
    try:
        seed = int(panel_seed or "0")
        if not 0 <= seed <= st.MAX_ID:
            raise ValueError
    except ValueError:
        problems["panel_seed"] = (f"panel_seed: expected a whole number from 0 to {st.MAX_ID}, "
                                  f"got {panel_seed[:40]!r}")
    if problems:
        raise refuse(list(problems.values()))
    workshop = Workshop(owner_id=owner.id, title=title, source=source[:300],
                        rulesets=json.dumps(list(rulesets)), reference=reference,
                        panel_seed=seed, show_note=show_note, current=0, stage="vote",
                        round=1, version=1, status="open", code=new_code(rng))
    db.add(workshop)
    db.flush()
    by_id = vignettes.set_index(vignettes["vignette_id"].astype(str), drop=False)
    for ordinal, vid in enumerate(ids):
        row = by_id.loc[[vid]]
        note = str(row["note"].iloc[0]) if "note" in row and pd.notna(row["note"].iloc[0]) else ""
        db.add(WorkshopVignette(workshop_id=workshop.id, vignette_id=vid, ordinal=ordinal,
                                narrative=str(row["narrative"].iloc[0]), note=note,
                                row=_row_json(row.reset_index(drop=True)), variation=""))
    try:
        db.commit()
    except IntegrityError:  # the same code drawn twice: draw again
        db.rollback()
        return create_workshop(db, owner, title=title, vignettes=vignettes, source=source,
                               cases=cases, rulesets=rulesets, known_rulesets=known_rulesets,
                               reference=reference, panel_seed=panel_seed,
                               show_note=show_note, rng=rng)
    return workshop


# ------------------------------------------------------------------ reading

def workshop_for(db: Session, workshop_id: int, who: Researcher) -> Workshop:
    """The trainer's own workshop; anyone else's does not exist (404)."""
    found = db.get(Workshop, workshop_id)
    if found is None or found.owner_id != who.id:
        raise st.AppError(f"no workshop {workshop_id}", status=404, field="workshop_id")
    return found


def cases_of(db: Session, workshop: Workshop) -> list[WorkshopVignette]:
    """The workshop's cases in order (variants left out)."""
    return list(db.scalars(select(WorkshopVignette)
                           .where(WorkshopVignette.workshop_id == workshop.id,
                                  WorkshopVignette.varied_from.is_(None))
                           .order_by(WorkshopVignette.ordinal)))


def on_screen(db: Session, workshop: Workshop) -> WorkshopVignette | None:
    """The case (or what-if variant) the projector shows now."""
    if workshop.variant_id:
        return db.get(WorkshopVignette, (workshop.id, workshop.variant_id))
    if workshop.current < 0:
        return None
    return db.scalar(select(WorkshopVignette)
                     .where(WorkshopVignette.workshop_id == workshop.id,
                            WorkshopVignette.varied_from.is_(None))
                     .order_by(WorkshopVignette.ordinal).offset(workshop.current).limit(1))


def case_count(db: Session, workshop: Workshop) -> int:
    return int(db.scalar(select(func.count()).select_from(WorkshopVignette)
                         .where(WorkshopVignette.workshop_id == workshop.id,
                                WorkshopVignette.varied_from.is_(None))) or 0)


def original_of(db: Session, workshop: Workshop, case: WorkshopVignette) -> WorkshopVignette:
    if case.varied_from:
        found = db.get(WorkshopVignette, (workshop.id, case.varied_from))
        if found is not None:
            return found
    return case


def distribution(db: Session, workshop: Workshop, vignette_id: str, round_: int) -> list[int]:
    """How many phones voted each level 1-4 on a case in a round (removed phones left out)."""
    counts = [0, 0, 0, 0]
    rows = db.execute(select(WorkshopVote.need_level, func.count())
                      .join(WorkshopParticipant,
                            WorkshopParticipant.id == WorkshopVote.participant_id)
                      .where(WorkshopVote.workshop_id == workshop.id,
                             WorkshopVote.vignette_id == vignette_id,
                             WorkshopVote.round == round_,
                             WorkshopParticipant.removed_at.is_(None))
                      .group_by(WorkshopVote.need_level)).all()
    for level, n in rows:
        counts[int(level) - 1] = int(n)
    return counts


def participants(db: Session, workshop: Workshop) -> list[WorkshopParticipant]:
    return list(db.scalars(select(WorkshopParticipant)
                           .where(WorkshopParticipant.workshop_id == workshop.id,
                                  WorkshopParticipant.removed_at.is_(None))
                           .order_by(WorkshopParticipant.id)))


@dataclass(frozen=True)
class Fired:
    """A rule that fired on the case: its id, level and ``because`` text."""

    rule_id: str
    level: int
    because: str
    decisive: bool


@dataclass(frozen=True)
class Decision:
    """A checklist's decision on a case, with every rule that fired."""

    ruleset_id: str
    title: str
    level: int
    defaulted: bool
    fired: tuple[Fired, ...]


def checklist(case: WorkshopVignette, ruleset_ids: Sequence[str], catalogue: Catalogue
              ) -> list[Decision]:
    """Each chosen checklist's decision on ``case`` (the rules' explanation: fired rules
    in file order, the decisive one marked)."""
    from dsk.rules import bundled_rulesets, evaluate, load_ruleset

    frame = vignette_frame([case])
    paths = bundled_rulesets()
    out = []
    for rid in ruleset_ids:
        rs = load_ruleset(paths[rid], catalogue)
        result = evaluate(rs, frame, engine="vector", catalogue=catalogue)
        decisive = int(result.decisive[0])
        fired = tuple(Fired(rs.rules[j].id, rs.rules[j].level, rs.rules[j].because or "",
                            j == decisive)
                      for j in range(len(rs.rules)) if result.fired[0, j])
        out.append(Decision(rs.id, rs.title, int(result.need_level[0]),
                            bool(result.defaulted[0]), fired))
    return out


#: Simulated reference counts by (panel, seed, digest of the vignettes judged): keyed by what
#: is judged, not by workshop id, so a database's reused id (or a second database in the same
#: process) never shows another workshop's panel.
_REFERENCE_CACHE: dict[tuple[str, int, str], dict[str, list[int]]] = {}
_REFERENCE_CACHE_SIZE = 256
_REFERENCE_LOCK = threading.Lock()


def _reference_frame(workshop: Workshop, case: WorkshopVignette, cases: Sequence[WorkshopVignette],
                     catalogue: Catalogue) -> pd.DataFrame:
    """The vignettes the reference panel judges together with ``case``.

    A simulated practitioner's draws depend on the whole table judged (raters and cases
    are drawn in order), so the panel judges what it would in an experiment: the whole
    bundled set a case came from (then the ready-made workshop, with the training
    experiment's panel and seed, shows what the teaching notes describe), otherwise the
    workshop's own cases in their running order; a what-if variant is judged alone.
    """
    if case.varied_from is not None:
        return vignette_frame([case])
    from dsk.sets import bundled_sets, load_set

    if workshop.source in bundled_sets():
        full = load_set(workshop.source, catalogue)
        same = full[full["vignette_id"] == case.vignette_id]
        if len(same) == 1 and same["narrative"].iloc[0] == case.narrative:
            return full
    return vignette_frame([c for c in cases if c.varied_from is None])


def reference_distribution(workshop: Workshop, case: WorkshopVignette,
                           cases: Sequence[WorkshopVignette], catalogue: Catalogue) -> list[int]:
    """The simulated reference panel's levels 1-4 on ``case`` in round 1 (its stored seed;
    the same seed gives the same counts); ``cases`` are all of the workshop's cases."""
    frame = _reference_frame(workshop, case, cases, catalogue)
    digest = hashlib.sha256(frame.to_json(orient="records").encode()).hexdigest()
    key = (REFERENCE_PANEL, workshop.panel_seed, digest)
    with _REFERENCE_LOCK:
        if key in _REFERENCE_CACHE:
            return _REFERENCE_CACHE[key][case.vignette_id]
    from dsk.panels import load_panel, load_professions, simulate_panel

    professions = load_professions(catalogue=catalogue)
    panel = load_panel(REFERENCE_PANEL, professions)
    table = simulate_panel(frame, panel, random_state=workshop.panel_seed, rounds=1,
                           professions=professions, catalogue=catalogue, rationale=False)
    counts = {str(vid): [int((levels == level).sum()) for level in (1, 2, 3, 4)]
              for vid, levels in table.groupby("vignette_id")["need_level"]}
    with _REFERENCE_LOCK:
        if len(_REFERENCE_CACHE) >= _REFERENCE_CACHE_SIZE:
            _REFERENCE_CACHE.clear()
        _REFERENCE_CACHE[key] = counts
    return counts[case.vignette_id]


def _study_reference_problem(db: Session, owner: Researcher, reference: str, ids: Sequence[str]) -> str:
    """Why ``study:ID`` cannot be this workshop's reference panel ("" when it can)."""
    number = reference.removeprefix("study:")
    study = db.get(Study, int(number)) if number.isdigit() and len(number) < 10 else None
    if study is None or study.owner_id != owner.id:
        return f"reference: you have no study {number[:20]!r}"
    cases = set(db.scalars(select(StudyVignette.vignette_id).where(StudyVignette.study_id == study.id)))
    if ids and not cases & set(ids):
        return (f"reference: study {study.title!r} asked about none of these cases, so its answers "
                "cannot be shown beside them")
    return ""


def study_reference(db: Session, workshop: Workshop, case: WorkshopVignette) -> list[int]:
    """Levels 1-4 that an earlier study's practitioners gave ``case`` in round 1 (withdrawn
    participants left out); a what-if variant has none of its own."""
    study_id = int(workshop.reference.removeprefix("study:"))
    levels = list(db.scalars(
        select(Response.need_level).join(Participant, Participant.id == Response.participant_id)
        .where(Response.study_id == study_id, Response.vignette_id == case.vignette_id,
               Response.round == 1, Participant.withdrawn_at.is_(None))))
    return [levels.count(level) for level in (1, 2, 3, 4)]


# ------------------------------------------------------------------ the room

class JoinLimiter:
    """Joins per client address in a sliding minute: at most ``joins`` joins and at most
    ``wrong`` wrong codes (guessing codes is what the second limit stops)."""

    def __init__(self, joins: int = 120, wrong: int = 10, window: float = 60.0) -> None:
        self.joins, self.wrong, self.window = joins, wrong, window
        self._seen: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, kind: str, client: str, now: float) -> collections.deque[float]:
        times = self._seen.setdefault((kind, client), collections.deque())
        while times and times[0] < now - self.window:
            times.popleft()
        return times

    def check(self, client: str) -> float:
        """Seconds ``client`` must wait before joining again (0: it may join now)."""
        now = time.monotonic()
        with self._lock:
            waits = [times[0] + self.window - now
                     for kind, limit in (("join", self.joins), ("wrong", self.wrong))
                     if len(times := self._recent(kind, client, now)) >= limit]
        return max(waits, default=0.0)

    def note(self, client: str, ok: bool) -> None:
        with self._lock:
            self._recent("join" if ok else "wrong", client, time.monotonic()).append(
                time.monotonic())


def join(db: Session, code: str, token_hash: str, display_name: str, profession: str,
         professions: dict[str, str]) -> WorkshopParticipant:
    """Add a phone to the workshop whose code is ``code``."""
    typed = normalise_code(code)
    found = db.scalar(select(Workshop).where(Workshop.code == typed)) if typed else None
    if found is None:
        raise st.AppError(f"no workshop has the code {code.strip()[:20]!r}; check the code on "
                          "the screen", status=404, field="code")
    if found.status != "open":
        raise st.AppError("this workshop has ended; its code no longer works", status=410,
                          field="code")
    name = " ".join(display_name.split())
    problems = []
    if len(name) > MAX_NAME:
        problems.append(f"display_name: expected at most {MAX_NAME} characters, got {len(name)}")
    if profession and profession not in professions:
        problems.append(f"profession: expected one of the listed professions, got "
                        f"{profession[:40]!r}")
    if problems:
        raise refuse(problems)
    phone = WorkshopParticipant(workshop_id=found.id, token_hash=token_hash,
                                display_name=name, profession=profession or None)
    db.add(phone)
    db.commit()
    return phone


def phone_of(db: Session, token_hash: str | None) -> WorkshopParticipant | None:
    if not token_hash:
        return None
    return db.scalar(select(WorkshopParticipant)
                     .where(WorkshopParticipant.token_hash == token_hash))


def parse_vote(level: str, reason: str) -> tuple[int, str]:
    """A vote's level (1-4) and one-line reason, or ``AppError`` naming each bad field.

    >>> parse_vote("3", "  a baby  ")
    (3, 'a baby')
    >>> parse_vote("5", "x" * 201)
    Traceback (most recent call last):
    ...
    dsk.app._study.AppError: need_level: expected a level from 1 to 4, got '5'
    reason: expected one line of at most 200 characters, got 201
    """
    problems = []
    value = 0
    if level.strip() in ("1", "2", "3", "4"):
        value = int(level)
    else:
        problems.append(f"need_level: expected a level from 1 to 4, got {level[:20]!r}"
                        if level.strip() else "need_level: choose a level from 1 to 4")
    text = " ".join(reason.split())
    if len(text) > MAX_REASON or "\n" in reason.strip():
        problems.append(f"reason: expected one line of at most {MAX_REASON} characters, "
                        f"got {len(text)}")
    if problems:
        raise refuse(problems)
    return value, text


def vote(db: Session, phone: WorkshopParticipant, vignette_id: str, level: str, reason: str
         ) -> WorkshopVote:
    """Record (or change) the phone's vote on the case on screen.

    Refused when the phone was removed, the workshop ended, the case is no longer on
    screen, or the trainer has revealed the room's answers.
    """
    workshop = db.get(Workshop, phone.workshop_id)
    if phone.removed_at is not None:
        raise st.AppError("the trainer removed this phone from the workshop", status=403,
                          field="session")
    if workshop is None or workshop.status != "open":
        raise st.AppError("this workshop has ended; votes are closed", status=410,
                          field="session")
    case = on_screen(db, workshop)
    if case is None or case.vignette_id != vignette_id:
        raise st.AppError("this case is no longer on the screen; vote on the one shown now",
                          status=409, field="vignette_id")
    if workshop.stage != "vote":
        raise st.AppError("the trainer has revealed the answers to this case; votes can no "
                          "longer be given or changed", status=409, field="need_level")
    value, text = parse_vote(level, reason)
    found = db.scalar(select(WorkshopVote).where(WorkshopVote.participant_id == phone.id,
                                                 WorkshopVote.vignette_id == vignette_id,
                                                 WorkshopVote.round == workshop.round))
    if found is None:
        found = WorkshopVote(workshop_id=workshop.id, participant_id=phone.id,
                             vignette_id=vignette_id, round=workshop.round,
                             need_level=value, reason=text)
        db.add(found)
    else:
        found.need_level, found.reason, found.voted_at = value, text, utcnow()
    try:
        db.commit()
    except IntegrityError:  # the same phone's two votes at once: the other one counts
        db.rollback()
        raise st.AppError("this vote was sent twice at once; reload the page to see it",
                          status=409, field="need_level") from None
    return found


def my_vote(db: Session, phone: WorkshopParticipant, vignette_id: str, round_: int
            ) -> WorkshopVote | None:
    return db.scalar(select(WorkshopVote).where(WorkshopVote.participant_id == phone.id,
                                                WorkshopVote.vignette_id == vignette_id,
                                                WorkshopVote.round == round_))


# ------------------------------------------------------------------ the trainer's steps

def bump(workshop: Workshop) -> None:
    workshop.version += 1


def step(db: Session, workshop: Workshop, action: str) -> None:
    """The trainer's click: ``reveal`` (the next stage), ``next``/``previous`` case,
    ``revote`` (round 2 of the case on screen), ``original`` (back from a what-if),
    ``end`` (votes close and the code stops working)."""
    if workshop.status != "open" and action != "end":
        raise st.AppError("this workshop has ended", status=409, field="action")
    rulesets = json.loads(workshop.rulesets)
    n = case_count(db, workshop)
    if action == "reveal":
        after = next_stage(workshop.stage, rulesets, workshop.reference, workshop.show_note)
        if after is None:
            raise st.AppError("everything about this case is shown already", status=409,
                              field="action")
        workshop.stage = after
    elif action in ("next", "previous"):
        target = workshop.current + (1 if action == "next" else -1)
        if not 0 <= target < n:
            raise st.AppError("there is no case " + ("after" if action == "next" else "before")
                              + " this one", status=409, field="action")
        workshop.current, workshop.stage, workshop.round, workshop.variant_id = (
            target, "vote", 1, None)
    elif action == "revote":
        if workshop.stage == "vote" or workshop.round == 2:
            raise st.AppError("a re-vote follows the reveal of the first vote, once",
                              status=409, field="action")
        workshop.stage, workshop.round = "vote", 2
    elif action == "original":
        if workshop.variant_id is None:
            raise st.AppError("no what-if variant is on screen to go back from", status=409,
                              field="action")
        workshop.variant_id, workshop.stage, workshop.round = None, "room", 1
    elif action == "end":
        if workshop.status == "ended":
            return
        workshop.status, workshop.ended_at = "ended", utcnow()
    else:
        raise st.AppError(f"expected reveal, next, previous, revote, original or end, got "
                          f"{action[:20]!r}", status=422, field="action")
    bump(workshop)
    db.commit()


def what_if(db: Session, workshop: Workshop, factor: str, level: str,
            catalogue: Catalogue) -> WorkshopVignette:
    """Show a variant of the case on screen with one factor changed (a minimal pair);
    the room votes on it as a case of its own."""
    from dsk.vary import vary_vignette

    if workshop.status != "open":
        raise st.AppError("this workshop has ended", status=409, field="change")
    case = on_screen(db, workshop)
    if case is None:
        raise st.AppError("no case is on the screen", status=409, field="change")
    base = original_of(db, workshop, case)
    factors = {f.id: f for f in catalogue.factors}
    if factor not in factors:
        raise st.AppError(f"no factor {factor[:40]!r} in the catalogue", status=422,
                          field="change")
    try:
        variant = vary_vignette(vignette_frame([base]), base.vignette_id, {factor: level},
                                catalogue)
    except (ValueError, KeyError) as exc:
        raise st.AppError(str(exc), status=422, field="change") from None
    vid = str(variant["vignette_id"].iloc[0])
    found = db.get(WorkshopVignette, (workshop.id, vid))
    if found is None:
        found = WorkshopVignette(workshop_id=workshop.id, vignette_id=vid,
                                 ordinal=base.ordinal,
                                 narrative=str(variant["narrative"].iloc[0]), note=base.note,
                                 row=_row_json(variant.reset_index(drop=True)),
                                 varied_from=base.vignette_id,
                                 variation=str(variant["variation"].iloc[0])[:300])
        db.add(found)
    workshop.variant_id, workshop.stage, workshop.round = vid, "vote", 1
    bump(workshop)
    db.commit()
    return found


def remove_participant(db: Session, workshop: Workshop, participant_id: int) -> None:
    """Remove a phone: its votes are deleted and it can vote no more."""
    phone = db.get(WorkshopParticipant, participant_id)
    if phone is None or phone.workshop_id != workshop.id or phone.removed_at is not None:
        raise st.AppError(f"no participant {participant_id} in this workshop", status=404,
                          field="participant_id")
    phone.removed_at = utcnow()
    phone.display_name, phone.profession = "", None
    db.execute(delete(WorkshopVote).where(WorkshopVote.participant_id == phone.id))
    bump(workshop)
    db.commit()


def delete_workshop(db: Session, workshop: Workshop) -> None:
    """Delete the workshop with its cases, phones and votes."""
    wid = workshop.id
    db.execute(delete(WorkshopVote).where(WorkshopVote.workshop_id == wid))
    db.execute(delete(WorkshopParticipant).where(WorkshopParticipant.workshop_id == wid))
    db.execute(delete(WorkshopVignette).where(WorkshopVignette.workshop_id == wid))
    db.execute(delete(Workshop).where(Workshop.id == wid))
    db.commit()


# ------------------------------------------------------------------ state and export

def phone_state(db: Session, workshop: Workshop) -> dict[str, Any]:
    """What a phone needs to follow the trainer: the version, stage, round and case."""
    case = on_screen(db, workshop) if workshop.status == "open" else None
    return {"version": workshop.version, "status": workshop.status, "stage": workshop.stage,
            "round": workshop.round, "case": case.vignette_id if case else None}


def judgements(db: Session, workshop: Workshop) -> pd.DataFrame:
    """The workshop's votes as a judgements table (``dsk.schema``), one row per vote of a
    phone still in the room, sorted by case order, round and phone."""
    rows = db.execute(
        select(WorkshopVote, WorkshopParticipant.profession, WorkshopVignette.ordinal,
               WorkshopVignette.varied_from)
        .join(WorkshopParticipant, WorkshopParticipant.id == WorkshopVote.participant_id)
        .join(WorkshopVignette, (WorkshopVignette.workshop_id == WorkshopVote.workshop_id)
              & (WorkshopVignette.vignette_id == WorkshopVote.vignette_id))
        .where(WorkshopVote.workshop_id == workshop.id,
               WorkshopParticipant.removed_at.is_(None))).all()
    records = []
    for v, profession, ordinal, varied_from in rows:
        records.append({
            "vignette_id": v.vignette_id, "rater_id": f"w{workshop.id}-p{v.participant_id:03d}",
            "rater_kind": "human", "profession": profession,
            "panel_id": f"workshop-{workshop.id}", "round": int(v.round),
            "need_level": int(v.need_level), "rationale": v.reason,
            "_order": (ordinal, varied_from is not None, v.vignette_id, v.round,
                       v.participant_id)})
    records.sort(key=lambda rec: rec.pop("_order"))  # type: ignore[arg-type, return-value]
    columns = ["vignette_id", "rater_id", "rater_kind", "profession", "panel_id", "round",
               "need_level", "rationale"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in ("round", "need_level"):
        frame[name] = frame[name].astype("int64")
    return validate(frame, "judgements", source=f"workshop {workshop.id}")


def room_agreement(table: pd.DataFrame) -> tuple[float | None, int]:
    """Krippendorff's alpha (ordinal) of the room's first votes, and the number of voters
    (None when there is too little to compute it: fewer than two cases or voters)."""
    from dsk.analysis.coefficients import krippendorff_alpha

    first = table[table["round"] == 1]
    voters = int(first["rater_id"].nunique())
    if first["vignette_id"].nunique() < 2 or voters < 2:
        return None, voters
    try:
        alpha = krippendorff_alpha(first, level="ordinal", categories=[1, 2, 3, 4])
    except (ValueError, ZeroDivisionError):
        return None, voters
    return (None if pd.isna(alpha) else float(alpha)), voters


# ------------------------------------------------------------------ serving to a room

#: Addresses that listen on every network interface.
EVERY_INTERFACE = ("0.0.0.0", "::", "")


def lan_address() -> str:
    """This machine's address on its local network (the one a phone on the same Wi-Fi
    reaches it at), or ``127.0.0.1`` when it has none. No packet is sent: connecting a
    UDP socket only picks the interface a route would use."""
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed on the internet
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def room_banner(public_url: str) -> str:
    """What ``dsk serve --host 0.0.0.0`` prints: the join address, its QR code for the
    terminal, and a warning that the app is now reachable from the network.

    >>> text = room_banner("http://192.168.1.20:8000")
    >>> text.splitlines()[0]
    'Phones on this network join at http://192.168.1.20:8000/w'
    >>> "reachable from" in text
    True
    """
    import io

    import segno

    join_url = f"{public_url}/w"
    out = io.StringIO()
    segno.make(join_url, error="m").terminal(out=out, compact=True)
    return (f"Phones on this network join at {join_url}\n{out.getvalue()}"
            "Warning: listening on every interface, the app (log-in page, studies, "
            "workshops) is reachable from every machine on this network, not only this one. "
            "Use it on a network you trust and stop it when the workshop ends.")
