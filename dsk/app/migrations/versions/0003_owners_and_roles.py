"""Study owners, collaborators (viewer or editor), admin and disabled accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Existing studies had no owner, and every researcher could see them all. The upgrade
makes the first researcher (the lowest id, normally the account created first) the
owner of every existing study and an admin; the other accounts keep their log-in but
see only the studies they are then added to as collaborators. A database that holds
studies but no researcher gets an account named ``owner`` with no usable password
(set one with ``dsk admin create owner --reset``), so that every study has an owner.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Never the result of hashing a password, so the placeholder account cannot log in.
UNUSABLE_HASH = "!no password set"


def upgrade() -> None:
    with op.batch_alter_table("researchers") as batch:
        batch.add_column(sa.Column("is_admin", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))

    bind = op.get_bind()
    researchers = sa.table("researchers", sa.column("id", sa.Integer()),
                           sa.column("username", sa.String()),
                           sa.column("password_hash", sa.String()),
                           sa.column("created_at", sa.DateTime()),
                           sa.column("is_admin", sa.Boolean()))
    studies = sa.table("studies", sa.column("owner_id", sa.Integer()))
    first = bind.execute(sa.select(sa.func.min(researchers.c.id))).scalar()
    has_studies = bind.execute(sa.select(sa.func.count()).select_from(studies)).scalar()
    if first is None and has_studies:
        bind.execute(researchers.insert().values(
            username="owner", password_hash=UNUSABLE_HASH, is_admin=True,
            created_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
        first = bind.execute(sa.select(sa.func.min(researchers.c.id))).scalar()
    if first is not None:
        bind.execute(researchers.update().where(researchers.c.id == first)
                     .values(is_admin=True))
        bind.execute(studies.update().values(owner_id=first))

    # SQLite rebuilds the table to change it: dsk.app._db.upgrade turns foreign keys
    # off meanwhile, or dropping the old table would delete every participant and answer.
    with op.batch_alter_table("studies") as batch:
        batch.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_studies_owner_id_researchers", "researchers",
                                 ["owner_id"], ["id"])
        batch.create_index("ix_studies_owner_id", ["owner_id"])
    op.create_table(
        "study_collaborators",
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("researcher_id", sa.Integer(),
                  sa.ForeignKey("researchers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'editor')", name="ck_collaborator_role"),
    )
    op.create_index("ix_study_collaborators_researcher_id", "study_collaborators",
                    ["researcher_id"])


def downgrade() -> None:
    op.drop_index("ix_study_collaborators_researcher_id", "study_collaborators")
    op.drop_table("study_collaborators")
    with op.batch_alter_table("studies") as batch:
        batch.drop_index("ix_studies_owner_id")
        batch.drop_constraint("fk_studies_owner_id_researchers", type_="foreignkey")
        batch.drop_column("owner_id")
    with op.batch_alter_table("researchers") as batch:
        batch.drop_column("disabled")
        batch.drop_column("is_admin")
