"""Practitioners' drafts, and the rounds they have submitted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Two new tables, empty at first: ``drafts`` (what a practitioner has typed in a case but
not yet saved, per participant, round and vignette) and ``round_submissions`` (the rounds
whose answers a practitioner has submitted as final). Existing answers are kept and stay
open to change until their practitioner submits the round.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("vignette_id", sa.String(100), primary_key=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "round_submissions",
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("round", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_round_submissions_study_id", "round_submissions", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_round_submissions_study_id", "round_submissions")
    op.drop_table("round_submissions")
    op.drop_table("drafts")
