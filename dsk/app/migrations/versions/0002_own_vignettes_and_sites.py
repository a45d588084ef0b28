"""A study's own vignettes file (name and hash) and its sites; each participant's site.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("source", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("source_sha256", sa.String(64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("sites", sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("site", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("site")
    with op.batch_alter_table("studies") as batch:
        for name in ("sites", "source_sha256", "source"):
            batch.drop_column(name)
