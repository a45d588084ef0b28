"""Participants' label and e-mail address (the researcher's participant list), and the
time their link was last issued.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Existing participants get no label, no e-mail address and no link time (a link issued
before this revision still counts as issued: its hash is set). A label is unique within
a study; withdrawal or deletion clears both label and address.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("label", sa.String(100), nullable=True))
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("invited_at", sa.DateTime(), nullable=True))
        batch.create_unique_constraint("uq_participant_label", ["study_id", "label"])


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_constraint("uq_participant_label", type_="unique")
        batch.drop_column("invited_at")
        batch.drop_column("email")
        batch.drop_column("label")
