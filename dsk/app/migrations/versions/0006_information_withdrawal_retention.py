"""Information sheet, contact, ethics reference and retention date of a study; the time a
participant withdrew.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Existing studies get an empty information sheet, contact and ethics reference and no
retention date; no participant has withdrawn. On SQLite the ``studies`` table is rebuilt
with AUTOINCREMENT, so that the number of a deleted study is never given to a new one
(the audit trail keeps a deleted study's lines under its number). Rebuilding a table
drops the old one: run this (both ways) with foreign keys off, as
:func:`dsk.app._db.upgrade` does, or SQLite deletes the rows that refer to it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("studies", recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("info_sheet", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("contact", sa.String(300), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("ethics_ref", sa.String(100), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("retention_until", sa.Date(), nullable=True))
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("withdrawn_at")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("retention_until")
        batch.drop_column("ethics_ref")
        batch.drop_column("contact")
        batch.drop_column("info_sheet")
