"""Notices by mail: a user's email address (staff contact data, never in the log), and
the outbox record of each notice mailed to each address (append-only).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "notice_mailings"


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("email", sqlmodel.AutoString(length=254), nullable=True))
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("notice_id", sa.Integer(), sa.ForeignKey("notices.id"), nullable=False),
        sa.Column("email", sqlmodel.AutoString(length=254), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("notice_id", "email", name="uq_notice_mailing"),
    )
    op.create_index("ix_notice_mailings_notice_id", TABLE, ["notice_id"])
    bind = op.get_bind()
    for statement in append_only.create_statements(bind.dialect.name, TABLE):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in append_only.drop_statements(bind.dialect.name, TABLE):
        op.execute(statement)
    op.drop_table(TABLE)
    with op.batch_alter_table("users") as users:
        users.drop_column("email")
