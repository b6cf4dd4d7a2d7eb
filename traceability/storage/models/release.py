"""Release: electronic signatures, dispositions of batches and recalls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from traceability.storage.types import utc_field


class ESignature(SQLModel, table=True):
    """One electronic signature (21 CFR Part 11): who, in which sign-in session, what it
    means, what it signed, and the custody-log entry that binds it to the record.
    Append-only; the session tells whether a later signing may use the password alone."""

    __tablename__ = "esignatures"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    auth_session_id: int = Field(foreign_key="auth_sessions.id", index=True)
    printed_name: str = Field(max_length=200)
    meaning: str = Field(max_length=200)
    record: str = Field(max_length=200)
    signed_at: datetime = utc_field()
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))


class Disposition(SQLModel, table=True):
    """QA's e-signed decision on a batch, with the gate as it stood. Append-only."""

    __tablename__ = "dispositions"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batches.id", index=True)
    decision: str = Field(max_length=32)
    meaning: str = Field(max_length=200)
    justification: str | None = Field(default=None, max_length=4000)
    signer: str = Field(max_length=64)
    printed_name: str = Field(max_length=200)
    signed_at: datetime = utc_field()
    esignature_id: int = Field(foreign_key="esignatures.id", unique=True)
    gate: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))


class Recall(SQLModel, table=True):
    """A batch recalled (a late positive sterility result after a conditional release),
    with the notice: every vial, where it was and whether it was administered."""

    __tablename__ = "recalls"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batches.id", unique=True)
    cause_result_id: int | None = Field(default=None, foreign_key="qc_results.id")
    reason: str = Field(max_length=2000)
    notice: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class Notice(SQLModel, table=True):
    """A message to a site's people or to one person, shown in their inbox (a recall
    tells everyone who holds or held a vial of the batch). Append-only."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_recipient", "recipient", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=128)
    """A party: `site:CLINIC1` (everyone who acts for it) or `user:cora`."""
    kind: str = Field(max_length=32)
    subject: str = Field(max_length=512)
    """What it is about: the batch's URI."""
    text: str = Field(max_length=4000)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    """The signed entry it reports (the recall)."""
    created_at: datetime = utc_field()


class NoticeMailing(SQLModel, table=True):
    """A notice mailed to one address: the outbox's record of what went out, so that a
    notice is mailed once to each address however often the sender runs. Append-only."""

    __tablename__ = "notice_mailings"
    __table_args__ = (UniqueConstraint("notice_id", "email", name="uq_notice_mailing"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notices.id", index=True)
    email: str = Field(max_length=254)
    sent_at: datetime = utc_field()
