"""Foundation: users, sessions, sign-in events, audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from traceability.storage import append_only
from traceability.storage.types import UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_trail", "sign_in_events")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("full_name", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("roles", sqlmodel.AutoString(length=200), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sqlmodel.AutoString(length=512), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("password_changed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_users_username", "users", ["username"], unique=True)

    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_digest", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_auth_sessions_token_digest", "auth_sessions", ["token_digest"], unique=True)
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])

    op.create_table(
        "sign_in_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("username", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("channel", sqlmodel.AutoString(length=16), nullable=False),
        sa.Column("client", sqlmodel.AutoString(length=64), nullable=True),
        sa.Column("reason", sqlmodel.AutoString(length=64), nullable=False),
    )
    op.create_index("ix_sign_in_events_username_at", "sign_in_events", ["username", "at"])

    op.create_table(
        "audit_trail",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("actor", sqlmodel.AutoString(length=128), nullable=False),
        sa.Column("action", sqlmodel.AutoString(length=32), nullable=False),
        sa.Column("record_type", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("record_id", sqlmodel.AutoString(length=256), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("reason", sqlmodel.AutoString(length=2000), nullable=True),
    )
    op.create_index("ix_audit_trail_at", "audit_trail", ["at"])
    op.create_index("ix_audit_trail_actor_user_id", "audit_trail", ["actor_user_id"])
    op.create_index("ix_audit_trail_record", "audit_trail", ["record_type", "record_id"])

    bind = op.get_bind()
    append_only.install(op.execute, bind.dialect.name, APPEND_ONLY)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        for statement in append_only.drop_statements(bind.dialect.name, table):
            op.execute(statement)
    op.drop_table("audit_trail")
    op.drop_table("sign_in_events")
    op.drop_table("auth_sessions")
    op.drop_table("users")
