"""Answers saved but not submitted, on SQLite and PostgreSQL.

Until a practitioner presses "Submit my answers" on the review page, their answers of
that round are not exported, do not make them "finished" in the monitoring tables, and
are not shown to colleagues in round 2. When the round closes, such answers are kept
in the database (a withdrawal or a deletion removes them as any other) but stay out
of the exports and of round 2's feedback: nobody confirmed them. The exports state
how many were left out (``X-Dsk-Unsubmitted``; ``dsk.unsubmitted_answers`` in a
Parquet file's metadata; ``dsk study export`` prints it), and the confirmation page
of closing a round says how many practitioners have not submitted.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from app_bots import Practitioner, Researcher, default_answer
from typer.testing import CliRunner

from dsk.cli import app as dsk_cli


def _finished(page: str) -> str:
    """The "All" row's Finished cell of the monitoring table by profession."""
    table = page[page.index('id="monitor-professions"'):]
    row = table[table.index('class="total"'):]
    found = re.search(r'data-label="Finished">(\d+)<', row)
    assert found, row[:400]
    return found.group(1)


def test_unsubmitted_answers_count_nowhere(make_client: Callable[..., Any],
                                           researcher: Researcher, db_url: str,
                                           tmp_path: Path) -> None:
    study = researcher.create_study(deck_size=3, n_participants=5, rounds=2)
    links = researcher.links(study)
    # 1, 2 and 3 share nothing; 1 and 5 share deck 1 (training-12 has four decks of 3)
    ann, bea, cal = (Practitioner(make_client(), links[i]) for i in (0, 4, 1))
    for bot in (ann, bea, cal):
        assert bot.consent().status_code == 200
    ann.play_round(lambda i: default_answer(i) | {"need_level": "4",
                                                  "rationale": f"Ann submitted {i}."})
    bea.play_round(lambda i: default_answer(i) | {"need_level": "1",
                                                  "rationale": f"Bea only saved {i}."},
                   finish=False)  # every case answered, "Submit my answers" not pressed
    first = cal.page().text
    assert cal.submit(first, default_answer(0)).status_code == 200  # one case of three

    def export() -> tuple[pd.DataFrame, Any]:
        r = researcher.client.get(f"/studies/{study}/judgements.csv")
        assert r.status_code == 200
        return pd.read_csv(io.StringIO(r.text)), r.headers

    table, headers = export()
    assert len(table) == 3 and set(table["rationale"].str[:3]) == {"Ann"}
    assert headers["X-Dsk-Unsubmitted"] == "4"  # Bea's 3 and Cal's 1
    assert headers["X-Dsk-Withdrawn"] == "0"
    page = researcher.client.get(f"/studies/{study}").text
    assert _finished(page) == "1"  # Ann only: Bea answered everything but did not submit
    assert "4 answers saved but not yet submitted" in page

    # closing round 1 asks, saying who has not submitted
    confirm = researcher.client.get(f"/studies/{study}/close").text
    assert "2 practitioners have saved answers in round 1 without pressing" in confirm
    assert researcher.close_round(study).status_code == 200
    # kept, still left out; Bea can no longer submit round 1 (sent anyway, the form
    # leads to the page of the open round)
    assert "round 2" in bea.page().text.lower()
    refused = bea.client.post("/s/submit", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',  # type: ignore[union-attr]
                                bea.page().text).group(1), "round": "1"})
    assert refused.status_code == 200 and str(refused.url).endswith("/s")  # round 2's page
    table, headers = export()
    assert len(table) == 3 and headers["X-Dsk-Unsubmitted"] == "4"
    assert "4 answers saved but not yet submitted" in researcher.client.get(
        f"/studies/{study}").text

    # Ann's round-2 page shows no colleague: Bea's saved answers are not feedback
    ann_case = ann.page().text
    assert 'id="feedback"' in ann_case
    assert "(0 colleagues, anonymised" in ann_case
    assert "Bea only saved" not in ann_case
    # Bea's own round-2 page still shows her own round-1 answer, as hers, and tells her
    # plainly that her round-1 answers did not count; Cal is told about his one answer
    bea_case = bea.page().text
    assert "your round-1 answer, not counted" in bea_case
    assert ("Round 1 closed before you pressed \u201cSubmit my answers\u201d, so your 3 saved "
            "round-1 answers were not submitted and do not count in the study&#39;s results."
            ) in bea_case
    assert ("so your 1 saved round-1 answer was not submitted and does not count"
            in cal.page().text)
    assert "Submit my answers\u201d, so your" not in ann_case

    # the Parquet export and the command line say the same
    parquet = researcher.client.get(f"/studies/{study}/judgements.parquet")
    (tmp_path / "j.parquet").write_bytes(parquet.content)
    meta = pq.read_schema(tmp_path / "j.parquet").metadata
    assert meta[b"dsk.unsubmitted_answers"] == b"4"
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(dsk_cli, ["study", "export", str(study), "-o", str(out),
                                          "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "wrote 3 judgements" in result.output
    assert "4 answers saved but never submitted left out" in " ".join(result.output.split())
    assert len(pd.read_csv(out)) == 3

    # once Ann submits round 2, her round-2 answers are exported too
    ann.play_round()
    table, headers = export()
    assert sorted(table["round"]) == [1, 1, 1, 2, 2, 2]
    assert headers["X-Dsk-Unsubmitted"] == "4"
    # once the study is closed, its last page still says so
    assert researcher.close_round(study).status_code == 200
    closed = bea.page().text
    assert "The study is closed" in closed
    assert "so your 3 saved round-1 answers were not submitted" in closed
    assert "Submit my answers\u201d, so your" not in ann.page().text


def test_migration_0010_submits_the_answers_of_before_the_review_page(db_url: str) -> None:
    """Answers saved before 0007 (final once saved) count as submitted after 0010 when
    their round is closed or the whole deck was answered; a half-answered open round
    waits for "Submit my answers"."""
    import sqlalchemy as sa

    from dsk.app import _study as st
    from dsk.app import open_database
    from dsk.app._db import downgrade, make_engine, upgrade
    from dsk.app._models import Participant, RoundSubmission
    from dsk.catalogue import load_catalogue

    with open_database(db_url) as db:
        ada = st.create_researcher(db, "ada", "a long passphrase")
        studies = [st.create_study(db, owner=ada, title=t, set_id="training-12", deck_size=2,
                                   n_participants=2, rounds=2, catalogue=load_catalogue())
                   for t in ("open", "closed")]
        for study in studies:
            one, two = db.scalars(sa.select(Participant).where(
                Participant.study_id == study.id).order_by(Participant.number))
            for p, cases in ((one, 2), (two, 1)):  # one answered the deck, two half of it
                for vignette in st.deck_of(db, p)[:cases]:
                    st.save_answer(db, p, vignette, 1, st.Answer(
                        3, 0.5, 3.0, (), "", "why", "school"), 5.0, f"{p.id}-{vignette}")
        st.close_round(db, studies[1])
        ids = [(s.id, [p.id for p in db.scalars(sa.select(Participant).where(
            Participant.study_id == s.id).order_by(Participant.number))]) for s in studies]
        db.execute(sa.delete(RoundSubmission))  # as in a database from before 0007
        db.commit()
        assert st.unsubmitted_count(db, studies[0]) == 3
    engine = make_engine(db_url)
    downgrade(engine, "0009")
    upgrade(engine)
    with engine.connect() as conn:
        got = sorted(tuple(r) for r in conn.execute(sa.text(
            "SELECT participant_id, round FROM round_submissions")))
    engine.dispose()
    (_, (open_one, _)), (_, (closed_one, closed_two)) = ids
    assert got == sorted([(open_one, 1), (closed_one, 1), (closed_two, 1)])
