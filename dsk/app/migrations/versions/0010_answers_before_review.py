"""Answers given before the review page existed count as submitted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Only submitted answers are exported and shown to colleagues (a practitioner submits a
round with "Submit my answers" on its review page, recorded in ``round_submissions``
since 0007). Before 0007 an answer was final once saved, so a database upgraded from
then has answers that nobody could submit. This migration records a submission for
every participant and round that has answers and none yet, when that round is already
closed (its answers can no longer be submitted) or the participant answered their whole
deck in it (the old "All done"); the submission's time is the round's last answer.
Answers of an open round with cases left stay unsubmitted: the review page asks for
them. No table changes; downgrading leaves the recorded submissions, which 0009 reads
the same way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("""
        INSERT INTO round_submissions (participant_id, round, study_id, submitted_at)
        SELECT r.participant_id, r.round, r.study_id, MAX(r.submitted_at)
        FROM responses r
        JOIN studies s ON s.id = r.study_id
        WHERE NOT EXISTS (SELECT 1 FROM round_submissions x
                          WHERE x.participant_id = r.participant_id AND x.round = r.round)
        GROUP BY r.participant_id, r.round, r.study_id, s.phase, s.deck_size
        HAVING s.phase = 'closed'
            OR (r.round = 1 AND s.phase = 'round2')
            OR COUNT(*) >= s.deck_size
    """))


def downgrade() -> None:
    pass
