"""The custody log: entries, tree nodes, checkpoints, actor keys and revocations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOG_TABLES = ("log_entries", "log_nodes", "log_checkpoints", "actor_keys", "key_revocations")


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sqlmodel.AutoString(length=512), nullable=False),
        sa.Column("subject_seq", sa.BigInteger(), nullable=False),
        sa.Column("subject_prev", sa.LargeBinary(32), nullable=True),
        sa.Column("entry_type", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("key_id", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("appended_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("subject", "subject_seq", name="uq_log_entries_subject_seq"),
    )
    op.create_index("ix_log_entries_key_id", "log_entries", ["key_id"])

    op.create_table(
        "log_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )

    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "actor_keys",
        sa.Column("key_id", sqlmodel.AutoString(length=32), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("label", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("registered_index", sa.BigInteger(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_actor_keys_user_id", "actor_keys", ["user_id"])

    op.create_table(
        "key_revocations",
        sa.Column(
            "key_id",
            sqlmodel.AutoString(length=32),
            sa.ForeignKey("actor_keys.key_id"),
            primary_key=True,
        ),
        sa.Column("revoked_index", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.AutoString(length=2000), nullable=False),
    )

    bind = op.get_bind()
    for table in LOG_TABLES:
        for statement in append_only.create_statements(bind.dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in LOG_TABLES:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    for table in reversed(LOG_TABLES):
        op.drop_table(table)
