"""Round-1 reasons hidden from colleagues in round 2, with who hid them and when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hidden_reasons",
        sa.Column("response_id", sa.Integer(),
                  sa.ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("researcher_id", sa.Integer(),
                  sa.ForeignKey("researchers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("hidden_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_hidden_reasons_study_id", "hidden_reasons", ["study_id"])


def downgrade() -> None:
    op.drop_index("ix_hidden_reasons_study_id", "hidden_reasons")
    op.drop_table("hidden_reasons")
