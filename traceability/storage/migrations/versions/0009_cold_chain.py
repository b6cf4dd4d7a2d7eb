"""Cold chain: temperature uploads, excursions, the vials they affect, QA closures.

All four tables are append-only: an excursion is closed by a new closure row, never by
changing the excursion.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = (
    "temperature_uploads",
    "excursions",
    "excursion_vials",
    "excursion_closures",
)


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.AutoString(length=length), nullable=nullable)


def _place() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("storage_units.id"), nullable=True),
        sa.Column("shipper_id", sa.Integer(), sa.ForeignKey("shippers.id"), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "temperature_uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        *_place(),
        _text("source", 8),
        _text("sha256", 64),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        _text("uploaded_by", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    for column in ("unit_id", "shipper_id", "sha256"):
        op.create_index(f"ix_temperature_uploads_{column}", "temperature_uploads", [column])
    op.create_table(
        "excursions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "upload_id", sa.Integer(), sa.ForeignKey("temperature_uploads.id"), nullable=False
        ),
        *_place(),
        _text("kind", 8),
        sa.Column("start_at", UTCDateTime(), nullable=False),
        sa.Column("end_at", UTCDateTime(), nullable=True),
        _text("peak_celsius", 16),
        _text("limit", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    for column in ("upload_id", "unit_id", "shipper_id"):
        op.create_index(f"ix_excursions_{column}", "excursions", [column])
    op.create_table(
        "excursion_vials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("excursion_id", sa.Integer(), sa.ForeignKey("excursions.id"), nullable=False),
        sa.Column("vial_id", sa.Integer(), sa.ForeignKey("vials.id"), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("excursion_id", "vial_id", name="uq_excursion_vial"),
    )
    op.create_index("ix_excursion_vials_excursion_id", "excursion_vials", ["excursion_id"])
    op.create_index("ix_excursion_vials_vial_id", "excursion_vials", ["vial_id"])
    op.create_table(
        "excursion_closures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "excursion_id",
            sa.Integer(),
            sa.ForeignKey("excursions.id"),
            nullable=False,
            unique=True,
        ),
        _text("assessment", 4000),
        _text("closed_by", 64),
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
    for table in reversed(APPEND_ONLY):
        op.drop_table(table)
