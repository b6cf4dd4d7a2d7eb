"""Deviations against batches and their assignment and closure events (append-only).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("deviations", "deviation_events")


def upgrade() -> None:
    op.create_table(
        "deviations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("title", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.AutoString(length=4000), nullable=False),
        sa.Column("severity", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("recorded_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_deviations_batch_id", "deviations", ["batch_id"])
    op.create_table(
        "deviation_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("deviation_id", sa.Integer(), sa.ForeignKey("deviations.id"), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("assignee", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("conclusion", sqlmodel.AutoString(length=4000), nullable=True),
        sa.Column("by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_deviation_events_deviation_id", "deviation_events", ["deviation_id"])
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.create_statements(bind.dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    op.drop_table("deviation_events")
    op.drop_table("deviations")
