"""Temperature files: the exact bytes of each uploaded logger file, kept as the original
record (until now only their digest, count and span were kept).

Append-only, one row per distinct file (by SHA-256).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "temperature_files"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sqlmodel.AutoString(length=64), nullable=False, unique=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    bind = op.get_bind()
    for statement in append_only.create_statements(bind.dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in append_only.drop_statements(bind.dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
