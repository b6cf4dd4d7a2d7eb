"""Indexes that find a vial's newest custody event and a unit's newest handoff at once.

Every custody step reads both. With an index on `vial_id` (or `unit_uri`) alone,
PostgreSQL fetched all of that vial's rows and sorted them for the newest, so a step
on a vial with a long history cost more; on SQLite the single-column index already
held the row id. The two-column indexes replace the single-column ones.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_custody_events_vial_id_id", "custody_events", ["vial_id", "id"])
    op.drop_index("ix_custody_events_vial_id", table_name="custody_events")
    op.create_index("ix_handoffs_unit_uri_id", "handoffs", ["unit_uri", "id"])
    op.drop_index("ix_handoffs_unit_uri", table_name="handoffs")


def downgrade() -> None:
    op.create_index("ix_handoffs_unit_uri", "handoffs", ["unit_uri"])
    op.drop_index("ix_handoffs_unit_uri_id", table_name="handoffs")
    op.create_index("ix_custody_events_vial_id", "custody_events", ["vial_id"])
    op.drop_index("ix_custody_events_vial_id_id", table_name="custody_events")
