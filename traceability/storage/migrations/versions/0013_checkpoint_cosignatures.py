"""Cosignatures of checkpoints: the log's own ML-DSA-44 one and its witnesses'.

Append-only, one row per (checkpoint size, cosigner name, key ID): the exact signature
line as received, so that the published checkpoint is the signed note plus these lines.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "checkpoint_cosignatures"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("size", sa.BigInteger(), sa.ForeignKey("log_checkpoints.size"), nullable=False),
        sa.Column("cosigner", sqlmodel.AutoString(length=255), nullable=False),
        sa.Column("key_id", sqlmodel.AutoString(length=8), nullable=False),
        sa.Column("algorithm", sa.Integer(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("size", "cosigner", "key_id", name="uq_checkpoint_cosignature"),
    )
    op.create_index("ix_checkpoint_cosignatures_cosigner", TABLE, ["cosigner", "size"])
    bind = op.get_bind()
    for statement in append_only.create_statements(bind.dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in append_only.drop_statements(bind.dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
