"""Notices: what a site's people or one person must know (a recall), in their inbox.

Append-only, one row per recipient and event.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "notices"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("recipient", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("subject", sqlmodel.AutoString(length=512), nullable=False),
        sa.Column("text", sqlmodel.AutoString(length=4000), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notices_recipient", TABLE, ["recipient", "id"])
    bind = op.get_bind()
    for statement in append_only.create_statements(bind.dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in append_only.drop_statements(bind.dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
