"""E-mail: the study's editable message templates and the outbox of messages sent.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Two new tables, empty at first: ``mail_templates`` (a study's own subject and body of the
invitation, reminder and round-2 notice; a study without a row uses the defaults) and
``outbox`` (one row per e-mail: to which participant, what kind, when it was sent or
why it failed; never the address, the link or the body).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_templates",
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("participant_id", sa.Integer(),
                  sa.ForeignKey("participants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(300), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_outbox_study_kind", "outbox", ["study_id", "kind"])
    op.create_index("ix_outbox_participant_id", "outbox", ["participant_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_participant_id", table_name="outbox")
    op.drop_index("ix_outbox_study_kind", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("mail_templates")
