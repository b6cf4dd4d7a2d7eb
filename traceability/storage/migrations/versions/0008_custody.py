"""Sites, storage units, shippers; custody events and two-party handoffs (append-only).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = (
    "custody_events",
    "handoffs",
    "handoff_acceptances",
    "request_nonces",
    "idempotent_responses",
)


def _text(name: str, length: int, *, nullable: bool = False, unique: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sqlmodel.AutoString(length=length), nullable=nullable, unique=unique)


def _limits() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        _text("max_celsius", 16, nullable=True),
        _text("min_celsius", 16, nullable=True),
        sa.Column("allowed_excursion_minutes", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), primary_key=True),
        _text("code", 32, unique=True),
        _text("name", 200),
        _text("kind", 16),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "site_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("site_id", "user_id", name="uq_site_member"),
    )
    op.create_index("ix_site_members_site_id", "site_members", ["site_id"])
    op.create_index("ix_site_members_user_id", "site_members", ["user_id"])
    op.create_table(
        "storage_units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=False),
        _text("code", 32),
        _text("name", 200),
        *_limits(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("site_id", "code", name="uq_storage_unit_code"),
    )
    op.create_index("ix_storage_units_site_id", "storage_units", ["site_id"])
    op.create_table(
        "shippers",
        sa.Column("id", sa.Integer(), primary_key=True),
        _text("sscc", 18, unique=True),
        _text("uri", 512, unique=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=False),
        *_limits(),
        _text("created_by", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        _text("unit_uri", 512),
        sa.Column("vial_id", sa.Integer(), sa.ForeignKey("vials.id"), nullable=True),
        sa.Column("shipper_id", sa.Integer(), sa.ForeignKey("shippers.id"), nullable=True),
        _text("from_party", 80),
        _text("to_party", 80),
        _text("offered_by", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_handoffs_unit_uri", "handoffs", ["unit_uri"])
    op.create_index("ix_handoffs_to_party", "handoffs", ["to_party"])
    op.create_table(
        "handoff_acceptances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "handoff_id", sa.Integer(), sa.ForeignKey("handoffs.id"), nullable=False, unique=True
        ),
        _text("accepted_by", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "custody_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vial_id", sa.Integer(), sa.ForeignKey("vials.id"), nullable=False),
        _text("step", 32),
        _text("state", 32),
        _text("custodian", 80, nullable=True),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("storage_units.id"), nullable=True),
        _text("rack", 32, nullable=True),
        _text("box", 32, nullable=True),
        _text("position", 32, nullable=True),
        sa.Column("shipper_id", sa.Integer(), sa.ForeignKey("shippers.id"), nullable=True),
        sa.Column("handoff_id", sa.Integer(), sa.ForeignKey("handoffs.id"), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        _text("by", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    for column in ("vial_id", "site_id", "unit_id", "shipper_id"):
        op.create_index(f"ix_custody_events_{column}", "custody_events", [column])
    op.create_table(
        "request_nonces",
        sa.Column("id", sa.Integer(), primary_key=True),
        _text("nonce", 64, unique=True),
        _text("username", 64),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "idempotent_responses",
        sa.Column("id", sa.Integer(), primary_key=True),
        _text("username", 64),
        _text("key", 128),
        _text("request_sha256", 64),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("username", "key", name="uq_idempotency_key"),
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
    for table in (
        "idempotent_responses",
        "request_nonces",
        "custody_events",
        "handoff_acceptances",
        "handoffs",
        "shippers",
        "storage_units",
        "site_members",
        "sites",
    ):
        op.drop_table(table)
