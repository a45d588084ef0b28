"""Initial tables: researchers, sessions, studies, participants, decks, responses.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "researchers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "researcher_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("researcher_id", sa.Integer(),
                  sa.ForeignKey("researchers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("set_id", sa.String(100), nullable=False),
        sa.Column("deck_size", sa.Integer(), nullable=False),
        sa.Column("n_participants", sa.Integer(), nullable=False),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "study_vignettes",
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("vignette_id", sa.String(100), primary_key=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("complexity_band", sa.String(20), nullable=False),
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("deck", sa.Integer(), nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("session_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("profession", sa.String(100), nullable=True),
        sa.Column("experience_years", sa.Integer(), nullable=True),
        sa.UniqueConstraint("study_id", "number", name="uq_participant_number"),
    )
    op.create_index("ix_participants_study_id", "participants", ["study_id"])
    op.create_table(
        "assignments",
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("vignette_id", sa.String(100), nullable=False),
    )
    op.create_table(
        "responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vignette_id", sa.String(100), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("need_level", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("salient_factors", sa.Text(), nullable=False),
        sa.Column("salient_other", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("lead_agency", sa.String(100), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("form_nonce", sa.String(64), nullable=False, unique=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("participant_id", "vignette_id", "round", name="uq_response_once"),
    )
    op.create_index("ix_responses_study_round", "responses", ["study_id", "round"])


def downgrade() -> None:
    for table in ("responses", "assignments", "participants", "study_vignettes", "studies",
                  "researcher_sessions", "researchers", "app_settings"):
        op.drop_table(table)
