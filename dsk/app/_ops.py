"""Database-level operations for the command line and notebooks (open, migrate, act, close)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from dsk.catalogue import Catalogue

from . import _study as st
from ._db import make_engine, upgrade


@contextmanager
def open_database(db_url: str | Path, migrate: bool = True) -> Iterator[Session]:
    """A session on the app database, its schema brought up to date first."""
    engine = make_engine(db_url, pool_size=1)
    try:
        if migrate:
            upgrade(engine)
        with sessionmaker(engine, expire_on_commit=False)() as session:
            yield session
    finally:
        engine.dispose()


def create_researcher(db_url: str | Path, username: str, password: str, *,
                      admin: bool = False, reset: bool = False) -> None:
    """Add a researcher who can log in (an admin when ``admin``).

    An existing account is refused unless ``reset``, which sets its password and ends
    its sessions (see :func:`dsk.app._study.create_researcher`).
    """
    with open_database(db_url) as db:
        st.create_researcher(db, username, password, admin=admin, reset=reset)


def export_judgements(db_url: str | Path, study_id: int) -> pd.DataFrame:
    """A study's answers as a validated judgements table (``dsk.schema``)."""
    with open_database(db_url) as db:
        return st.judgements(db, st.get_study(db, study_id))


def survey_design_of(db_url: str | Path, study_id: int, catalogue: Catalogue) -> pd.DataFrame:
    """The survey design of a study's decks (see :mod:`dsk.app._survey`)."""
    with open_database(db_url) as db:
        return study_survey(db, study_id, catalogue)


def study_survey(db: Session, study_id: int, catalogue: Catalogue) -> pd.DataFrame:
    from sqlalchemy import select

    from ._models import Assignment, Participant, StudyVignette
    from ._survey import survey_design

    study = st.get_study(db, study_id)
    rows = db.execute(
        select(Participant.deck, Participant.number, Assignment.position, Assignment.vignette_id)
        .join(Assignment, Assignment.participant_id == Participant.id)
        .where(Participant.study_id == study.id)
        .order_by(Participant.number, Assignment.position)).all()
    decks = pd.DataFrame(rows, columns=["deck", "number", "position", "vignette_id"])
    first = decks.groupby("deck")["number"].transform("min")
    decks = decks[decks["number"] == first]
    vignettes = pd.DataFrame(db.execute(
        select(StudyVignette.vignette_id, StudyVignette.ordinal, StudyVignette.narrative)
        .where(StudyVignette.study_id == study.id)).all(),
        columns=["vignette_id", "ordinal", "narrative"])
    return survey_design(study.id, decks, vignettes, catalogue)
