"""Custody: sites and their members, storage units, shippers, custody events and two-party
handoffs, and the request guards (nonces, idempotent responses) of signed steps.
"""

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


class Site(SQLModel, table=True):
    """A place that holds vials: the manufacturing lab, a clinic, a depot."""

    __tablename__ = "sites"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    created_at: datetime = utc_field()


class SiteMember(SQLModel, table=True):
    """A user who acts for a site: hands over and accepts custody in its name."""

    __tablename__ = "site_members"
    __table_args__ = (UniqueConstraint("site_id", "user_id", name="uq_site_member"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = utc_field()


class StorageUnit(SQLModel, table=True):
    """A freezer or tank at a site, with its validated temperature limits."""

    __tablename__ = "storage_units"
    __table_args__ = (UniqueConstraint("site_id", "code", name="uq_storage_unit_code"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    max_celsius: str | None = Field(default=None, max_length=16)
    min_celsius: str | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = 0
    created_at: datetime = utc_field()


class Shipper(SQLModel, table=True):
    """A shipping container (e.g. a dry shipper), named by its SSCC Digital Link URI."""

    __tablename__ = "shippers"

    id: int | None = Field(default=None, primary_key=True)
    sscc: str = Field(max_length=18, unique=True)
    uri: str = Field(max_length=512, unique=True)
    site_id: int = Field(foreign_key="sites.id")
    max_celsius: str | None = Field(default=None, max_length=16)
    min_celsius: str | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = 0
    created_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class CustodyEvent(SQLModel, table=True):
    """One step in one vial's custody, with where it left the vial. Append-only.

    A vial's latest row says where it is and who holds it; a shipper's steps write a
    row for each vial packed in it, so the vials move together.
    """

    __tablename__ = "custody_events"
    __table_args__ = (Index("ix_custody_events_vial_id_id", "vial_id", "id"),)
    """Where a vial stands is its newest event: one index step, however long its history."""

    id: int | None = Field(default=None, primary_key=True)
    vial_id: int = Field(foreign_key="vials.id")
    step: str = Field(max_length=32)
    state: str = Field(max_length=32)
    custodian: str | None = Field(default=None, max_length=80)
    site_id: int | None = Field(default=None, foreign_key="sites.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="storage_units.id", index=True)
    rack: str | None = Field(default=None, max_length=32)
    box: str | None = Field(default=None, max_length=32)
    position: str | None = Field(default=None, max_length=32)
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id", index=True)
    handoff_id: int | None = Field(default=None, foreign_key="handoffs.id")
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class Handoff(SQLModel, table=True):
    """A handoff offered by the custodian to a named party. Append-only; it completes
    when that party accepts (a `HandoffAcceptance`), or lapses at `expires_at`."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_unit_uri_id", "unit_uri", "id"),)
    """A unit's open handoff can only be its newest: one index step to find it."""

    id: int | None = Field(default=None, primary_key=True)
    unit_uri: str = Field(max_length=512)
    vial_id: int | None = Field(default=None, foreign_key="vials.id")
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id")
    from_party: str = Field(max_length=80)
    to_party: str = Field(max_length=80, index=True)
    offered_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()


class HandoffAcceptance(SQLModel, table=True):
    __tablename__ = "handoff_acceptances"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoffs.id", unique=True)
    accepted_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class RequestNonce(SQLModel, table=True):
    """Each signed custody request's nonce, once: a replayed request finds it here."""

    __tablename__ = "request_nonces"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64, unique=True)
    username: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class IdempotentResponse(SQLModel, table=True):
    """The response to a request sent with an Idempotency-Key, kept to answer retries."""

    __tablename__ = "idempotent_responses"
    __table_args__ = (UniqueConstraint("username", "key", name="uq_idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    key: str = Field(max_length=128)
    request_sha256: str = Field(max_length=64)
    status: int
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_field()
