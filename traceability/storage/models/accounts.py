"""People, their sessions and sign-ins, and the audit trail of changes to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
)
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from traceability.storage.types import utc_field


class UserBase(SQLModel):
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    roles: str = Field(max_length=200)
    is_active: bool = True


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=512)
    created_at: datetime = utc_field()
    password_changed_at: datetime = utc_field()
    must_change_password: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa_false()}
    )
    """Set when an administrator chose the password (a new account, a reset): until the
    person sets their own, they can do nothing else."""
    email: str | None = Field(default=None, max_length=254)
    """Where notices (a recall) are mailed when an SMTP server is configured; staff
    contact data, never written to the log."""


class AuthSession(SQLModel, table=True):
    """A bearer token or a web sign-in; only the token's SHA-256 is kept."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_digest: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=16)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    revoked_at: datetime | None = utc_field(nullable=True)


class SignInEvent(SQLModel, table=True):
    """Every sign-in attempt, success or failure. Append-only."""

    __tablename__ = "sign_in_events"
    __table_args__ = (Index("ix_sign_in_events_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field()
    username: str = Field(max_length=64)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    success: bool
    channel: str = Field(max_length=16)
    client: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=64)


class AuditTrailEntry(SQLModel, table=True):
    """One creation or correction of a record (21 CFR 11.10(e)). Append-only.

    `changes` is a list of `{"field", "old", "new"}`; secrets appear as "(changed)".
    """

    __tablename__ = "audit_trail"
    __table_args__ = (Index("ix_audit_trail_record", "record_type", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_field(index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    record_type: str = Field(max_length=64)
    record_id: str = Field(max_length=256)
    changes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=2000)


APPEND_ONLY_TABLES: tuple[str, ...] = ("audit_trail", "sign_in_events")
"""Evidence tables; the database refuses UPDATE and DELETE on them."""
