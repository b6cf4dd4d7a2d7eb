"""The laboratory that makes a batch (batches.site_id), so its record is its own staff's.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch (copy-and-swap) on SQLite: the table is referenced
    # by results, deviations and dispositions, and a copy would have to drop it.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE batches ADD COLUMN site_id INTEGER REFERENCES sites (id)")
    else:
        op.add_column(
            "batches",
            sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=True),
        )
    op.create_index("ix_batches_site_id", "batches", ["site_id"])


def downgrade() -> None:
    op.drop_index("ix_batches_site_id", table_name="batches")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("site_id")
