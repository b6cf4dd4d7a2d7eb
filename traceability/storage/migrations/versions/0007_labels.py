"""Label issues and scans (append-only); products may carry an ISBT 128 facility number.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("label_issues", "label_scans")


def upgrade() -> None:
    op.add_column(
        "products", sa.Column("isbt128_facility", sqlmodel.AutoString(length=5), nullable=True)
    )
    op.create_table(
        "label_issues",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vial_id", sa.Integer(), sa.ForeignKey("vials.id"), nullable=False),
        sa.Column("tag", sqlmodel.AutoString(length=32), nullable=False, unique=True),
        sa.Column(
            "replaces_id",
            sa.Integer(),
            sa.ForeignKey("label_issues.id"),
            nullable=True,
            unique=True,
        ),
        sa.Column("reason", sqlmodel.AutoString(length=2000), nullable=True),
        sa.Column("issued_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_label_issues_vial_id", "label_issues", ["vial_id"])
    op.create_table(
        "label_scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vial_id", sa.Integer(), sa.ForeignKey("vials.id"), nullable=False),
        sa.Column("label_id", sa.Integer(), sa.ForeignKey("label_issues.id"), nullable=True),
        sa.Column("tag", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("verdict", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("by", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_label_scans_vial_id", "label_scans", ["vial_id"])
    op.create_index("ix_label_scans_label_id", "label_scans", ["label_id"])
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.create_statements(bind.dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    op.drop_table("label_scans")
    op.drop_table("label_issues")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("isbt128_facility")
