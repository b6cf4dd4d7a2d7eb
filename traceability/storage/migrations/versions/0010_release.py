"""E-signatures, batch dispositions and recalls (append-only).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("esignatures", "dispositions", "recalls")


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "esignatures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column(
            "auth_session_id", sa.Integer(), sa.ForeignKey("auth_sessions.id"), nullable=False
        ),
        _text("printed_name", 200),
        _text("meaning", 200),
        _text("record", 200),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_esignatures_user_id", "esignatures", ["user_id"])
    op.create_index("ix_esignatures_auth_session_id", "esignatures", ["auth_session_id"])
    op.create_table(
        "dispositions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        _text("decision", 32),
        _text("meaning", 200),
        _text("justification", 4000, nullable=True),
        _text("signer", 64),
        _text("printed_name", 200),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column(
            "esignature_id",
            sa.Integer(),
            sa.ForeignKey("esignatures.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("gate", sa.JSON(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_dispositions_batch_id", "dispositions", ["batch_id"])
    op.create_table(
        "recalls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False, unique=True
        ),
        sa.Column("cause_result_id", sa.Integer(), sa.ForeignKey("qc_results.id"), nullable=True),
        _text("reason", 2000),
        sa.Column("notice", sa.JSON(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.create_statements(bind.dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    for table in ("recalls", "dispositions", "esignatures"):
        op.drop_table(table)
