"""E-mail: the study's editable message templates, the outbox of messages sent, and
scheduled jobs (a round closing at its deadline, a reminder before it).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Two new tables, empty at first: ``mail_templates`` (a study's own subject and body of the
invitation, reminder and round-2 notice; a study without a row uses the defaults) and
``outbox`` (one row per e-mail: to which participant, what kind, when it was sent or
why it failed; never the address, the link or the body) and ``scheduled_jobs`` (what is
due when; ``done_at`` is set by the one process that claims it).
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
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_scheduled_jobs_study_id", "scheduled_jobs", ["study_id"])
    op.create_index("ix_scheduled_jobs_due", "scheduled_jobs", ["done_at", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_jobs_due", table_name="scheduled_jobs")
    op.drop_index("ix_scheduled_jobs_study_id", table_name="scheduled_jobs")
    op.drop_table("scheduled_jobs")
    op.drop_index("ix_outbox_participant_id", table_name="outbox")
    op.drop_index("ix_outbox_study_kind", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("mail_templates")
