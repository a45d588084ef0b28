"""Workshops: a trainer role, workshops, their cases, the room's phones and votes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Existing accounts are not trainers. A workshop's phones and votes are deleted with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("researchers") as batch:
        batch.add_column(sa.Column("is_trainer", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "workshops",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("researchers.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("code", sa.String(12), nullable=False, unique=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("rulesets", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("panel_seed", sa.Integer(), nullable=False),
        sa.Column("show_note", sa.Boolean(), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.String(140), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_workshops_owner_id", "workshops", ["owner_id"])
    op.create_table(
        "workshop_vignettes",
        sa.Column("workshop_id", sa.Integer(),
                  sa.ForeignKey("workshops.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("vignette_id", sa.String(140), primary_key=True),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("varied_from", sa.String(140), nullable=True),
        sa.Column("variation", sa.String(300), nullable=False),
    )
    op.create_table(
        "workshop_participants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workshop_id", sa.Integer(),
                  sa.ForeignKey("workshops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(60), nullable=False),
        sa.Column("profession", sa.String(100), nullable=True),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_workshop_participants_workshop_id", "workshop_participants",
                    ["workshop_id"])
    op.create_table(
        "workshop_votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workshop_id", sa.Integer(),
                  sa.ForeignKey("workshops.id", ondelete="CASCADE"), nullable=False),
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("workshop_participants.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("vignette_id", sa.String(140), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("need_level", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("voted_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("participant_id", "vignette_id", "round",
                            name="uq_workshop_vote_once"),
    )
    op.create_index("ix_workshop_votes_case", "workshop_votes",
                    ["workshop_id", "vignette_id", "round"])


def downgrade() -> None:
    op.drop_index("ix_workshop_votes_case", "workshop_votes")
    op.drop_table("workshop_votes")
    op.drop_index("ix_workshop_participants_workshop_id", "workshop_participants")
    op.drop_table("workshop_participants")
    op.drop_table("workshop_vignettes")
    op.drop_index("ix_workshops_owner_id", "workshops")
    op.drop_table("workshops")
    with op.batch_alter_table("researchers") as batch:
        batch.drop_column("is_trainer")
