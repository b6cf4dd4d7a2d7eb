"""Products, versioned specifications, batches and vials.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("specification_versions", "vials")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sqlmodel.AutoString(length=32), nullable=False, unique=True),
        sa.Column("name", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("gtin", sqlmodel.AutoString(length=14), nullable=False, unique=True),
        sa.Column("processing_class", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("storage_condition", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "specification_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("product_id", "version", name="uq_spec_product_version"),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("lot", sqlmodel.AutoString(length=20), nullable=False, unique=True),
        sa.Column("donor_code", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("processing_class", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("manufactured_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column(
            "specification_version_id",
            sa.Integer(),
            sa.ForeignKey("specification_versions.id"),
            nullable=False,
        ),
        sa.Column("state", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_batches_product_id", "batches", ["product_id"])
    op.create_table(
        "vials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("serial", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("uri", sqlmodel.AutoString(length=512), nullable=False, unique=True),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("batch_id", "serial", name="uq_vial_batch_serial"),
    )
    op.create_index("ix_vials_batch_id", "vials", ["batch_id"])
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.create_statements(bind.dialect.name, table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    for table in ("vials", "batches", "specification_versions", "products"):
        op.drop_table(table)
