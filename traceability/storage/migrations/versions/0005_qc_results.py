"""QC results, their reviews and OOS decisions (all append-only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("qc_results", "qc_reviews", "oos_decisions")


def upgrade() -> None:
    op.create_table(
        "qc_results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("test", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("unit", sqlmodel.AutoString(length=32), nullable=True),
        sa.Column("method", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("instrument", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("reagent_lots", sa.JSON(), nullable=False),
        sa.Column("analyst", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("tested_at", UTCDateTime(), nullable=False),
        sa.Column("assay_valid", sa.Boolean(), nullable=False),
        sa.Column("verdict", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column(
            "supersedes_id",
            sa.Integer(),
            sa.ForeignKey("qc_results.id"),
            nullable=True,
            unique=True,
        ),
        sa.Column("reason", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("entered_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_qc_results_batch_id", "qc_results", ["batch_id"])
    op.create_table(
        "qc_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "result_id", sa.Integer(), sa.ForeignKey("qc_results.id"), nullable=False, unique=True
        ),
        sa.Column("decision", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("comment", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("reviewer", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "oos_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "result_id", sa.Integer(), sa.ForeignKey("qc_results.id"), nullable=False, unique=True
        ),
        sa.Column("conclusion", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.AutoString(length=2000), nullable=False),
        sa.Column("decided_by", sqlmodel.AutoString(length=64), nullable=False),
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
    for table in ("oos_decisions", "qc_reviews", "qc_results"):
        op.drop_table(table)
