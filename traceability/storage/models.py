"""The tables. Each family follows `XBase` -> `X(table=True)` -> `XPublic`.

Responses are built from `*Public` models only, so a column added here (a password
hash, a token digest) never leaks through the API by accident. Tables whose rows are
GxP evidence (`audit_trail`, `sign_in_events`) are append-only: the migrations install
triggers that refuse UPDATE and DELETE on both engines.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from traceability.storage.types import UTCDateTime


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class UserBase(SQLModel):
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(max_length=200)
    roles: str = Field(max_length=200)
    is_active: bool = True


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=512)
    created_at: datetime = _utc()
    password_changed_at: datetime = _utc()


class UserPublic(SQLModel):
    id: int
    username: str
    full_name: str
    roles: list[str]
    is_active: bool
    created_at: datetime


class AuthSession(SQLModel, table=True):
    """A bearer token or a web sign-in; only the token's SHA-256 is kept."""

    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_digest: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=16)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    revoked_at: datetime | None = _utc(nullable=True)


class SignInEvent(SQLModel, table=True):
    """Every sign-in attempt, success or failure. Append-only."""

    __tablename__ = "sign_in_events"
    __table_args__ = (Index("ix_sign_in_events_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc()
    username: str = Field(max_length=64)
    user_id: int | None = Field(default=None, foreign_key="users.id")
    success: bool
    channel: str = Field(max_length=16)
    client: str | None = Field(default=None, max_length=64)
    reason: str = Field(max_length=64)


class SignInEventPublic(SQLModel):
    id: int
    at: datetime
    username: str
    user_id: int | None
    success: bool
    channel: str
    client: str | None
    reason: str


class AuditTrailEntry(SQLModel, table=True):
    """One creation or correction of a record (21 CFR 11.10(e)). Append-only.

    `changes` is a list of `{"field", "old", "new"}`; secrets appear as "(changed)".
    """

    __tablename__ = "audit_trail"
    __table_args__ = (Index("ix_audit_trail_record", "record_type", "record_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc(index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=32)
    record_type: str = Field(max_length=64)
    record_id: str = Field(max_length=256)
    changes: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=2000)


class AuditTrailEntryPublic(SQLModel):
    id: int
    at: datetime
    actor_user_id: int | None
    actor: str
    action: str
    record_type: str
    record_id: str
    changes: list[dict[str, Any]]
    reason: str | None


class LogEntryRow(SQLModel, table=True):
    """One custody-log entry: the exact canonical bytes, and columns copied out of them.

    `entry` is the evidence; the other columns exist for lookups and are checked
    against the bytes by `traceability audit verify-log`. UNIQUE on `idx` and on
    `(subject, subject_seq)` means a fork cannot be stored at any isolation level.
    """

    __tablename__ = "log_entries"
    __table_args__ = (
        UniqueConstraint("subject", "subject_seq", name="uq_log_entries_subject_seq"),
    )

    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    entry: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    subject: str = Field(max_length=512)
    subject_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject_prev: bytes | None = Field(sa_column=Column(LargeBinary(32), nullable=True))
    entry_type: str = Field(max_length=64)
    key_id: str = Field(max_length=32, index=True)
    appended_at: datetime = _utc()


class LogNode(SQLModel, table=True):
    """An interior node of the Merkle tree: the root of a complete, aligned subtree.

    Level 1 and up (leaves are `log_entries.leaf_hash`). Stored once, when the subtree
    completes, so proofs and the frontier need O(log n) lookups and never a rebuild.
    """

    __tablename__ = "log_nodes"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class CheckpointRow(SQLModel, table=True):
    """A signed C2SP checkpoint note as issued. Append-only; one per tree size."""

    __tablename__ = "log_checkpoints"

    size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    issued_at: datetime = _utc()


class CheckpointCosignatureRow(SQLModel, table=True):
    """A cosignature of a checkpoint (the log's own ML-DSA-44 one, or a witness's): the
    exact note signature line, verified before it was stored. Append-only."""

    __tablename__ = "checkpoint_cosignatures"
    __table_args__ = (
        UniqueConstraint("size", "cosigner", "key_id", name="uq_checkpoint_cosignature"),
        Index("ix_checkpoint_cosignatures_cosigner", "cosigner", "size"),
    )

    id: int | None = Field(default=None, primary_key=True)
    size: int = Field(
        sa_column=Column(BigInteger, ForeignKey("log_checkpoints.size"), nullable=False)
    )
    cosigner: str = Field(max_length=255)
    key_id: str = Field(max_length=8)
    algorithm: int
    cosigned_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    line: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = _utc()


class ActorKey(SQLModel, table=True):
    """A registered Ed25519 public key: a person's device or CLI key, or the service's.

    The registration entry in the log is the evidence; this row is its index for fast
    lookup. Private keys of people never reach the server.
    """

    __tablename__ = "actor_keys"

    key_id: str = Field(primary_key=True, max_length=32)
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    label: str = Field(max_length=200)
    registered_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    registered_at: datetime = _utc()


class KeyRevocation(SQLModel, table=True):
    """A key's revocation: entries it signs after `revoked_index` are refused."""

    __tablename__ = "key_revocations"

    key_id: str = Field(primary_key=True, foreign_key="actor_keys.key_id", max_length=32)
    revoked_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: datetime = _utc()
    reason: str = Field(max_length=2000)


APPEND_ONLY_TABLES: tuple[str, ...] = ("audit_trail", "sign_in_events")
"""Evidence tables; the database refuses UPDATE and DELETE on them."""

LOG_TABLES: tuple[str, ...] = (
    "log_entries",
    "log_nodes",
    "log_checkpoints",
    "actor_keys",
    "key_revocations",
)


class Product(SQLModel, table=True):
    """A cell-therapy product: its GTIN names it in every vial's Digital Link URI."""

    __tablename__ = "products"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    gtin: str = Field(max_length=14, unique=True)
    processing_class: str = Field(max_length=32)
    storage_condition: str = Field(max_length=200)
    isbt128_facility: str | None = Field(default=None, max_length=5)
    """An ISBT 128 facility identification number; its vials then also carry a DIN."""
    created_at: datetime = _utc()


class SpecificationVersion(SQLModel, table=True):
    """One immutable version of a product's release specification. Append-only."""

    __tablename__ = "specification_versions"
    __table_args__ = (UniqueConstraint("product_id", "version", name="uq_spec_product_version"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id")
    version: int
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _utc()


class Batch(SQLModel, table=True):
    """A lot of a product, made under one specification version."""

    __tablename__ = "batches"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="products.id", index=True)
    lot: str = Field(max_length=20, unique=True)
    donor_code: str = Field(max_length=32)
    processing_class: str = Field(max_length=32)
    manufactured_on: date
    expires_on: date
    specification_version_id: int = Field(foreign_key="specification_versions.id")
    state: str = Field(max_length=32)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = _utc()
    site_id: int | None = Field(default=None, foreign_key="sites.id", index=True)
    """The laboratory that makes the batch: only its members enter, review and decide
    on its record. None for a batch registered without a site (a one-site install)."""


class Vial(SQLModel, table=True):
    """One vial of a batch, named by its Digital Link URI. Append-only."""

    __tablename__ = "vials"
    __table_args__ = (UniqueConstraint("batch_id", "serial", name="uq_vial_batch_serial"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batches.id", index=True)
    serial: str = Field(max_length=20)
    uri: str = Field(max_length=512, unique=True)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class QcResult(SQLModel, table=True):
    """One QC result as entered and signed; corrections supersede it. Append-only."""

    __tablename__ = "qc_results"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batches.id", index=True)
    test: str = Field(max_length=32)
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    unit: str | None = Field(default=None, max_length=32)
    method: str = Field(max_length=200)
    instrument: str = Field(max_length=200)
    reagent_lots: list[str] = Field(sa_column=Column(JSON, nullable=False))
    analyst: str = Field(max_length=200)
    tested_at: datetime = _utc()
    assay_valid: bool
    verdict: str = Field(max_length=16)
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    supersedes_id: int | None = Field(default=None, foreign_key="qc_results.id", unique=True)
    reason: str | None = Field(default=None, max_length=2000)
    entered_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class QcReview(SQLModel, table=True):
    """The second person's decision on a result. Append-only; one per result."""

    __tablename__ = "qc_reviews"

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="qc_results.id", unique=True)
    decision: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    reviewer: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class OosDecision(SQLModel, table=True):
    """QA's conclusion of the OOS investigation a failed result opened. Append-only."""

    __tablename__ = "oos_decisions"

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="qc_results.id", unique=True)
    conclusion: str = Field(max_length=16)
    reason: str = Field(max_length=2000)
    decided_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class Deviation(SQLModel, table=True):
    """A departure from procedure recorded against a batch. Append-only."""

    __tablename__ = "deviations"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batches.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(max_length=4000)
    severity: str = Field(max_length=16)
    recorded_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class DeviationEvent(SQLModel, table=True):
    """An assignment or the closure of a deviation. Append-only; the latest says where it is."""

    __tablename__ = "deviation_events"

    id: int | None = Field(default=None, primary_key=True)
    deviation_id: int = Field(foreign_key="deviations.id", index=True)
    kind: str = Field(max_length=16)
    assignee: str | None = Field(default=None, max_length=64)
    conclusion: str | None = Field(default=None, max_length=4000)
    by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class LabelIssue(SQLModel, table=True):
    """One printed label of a vial and the tag its QR carries. Append-only.

    A reissue is a new row that `replaces` the earlier one, with a reason; the replaced
    label is then void. A vial's current label is the one nothing replaces.
    """

    __tablename__ = "label_issues"

    id: int | None = Field(default=None, primary_key=True)
    vial_id: int = Field(foreign_key="vials.id", index=True)
    tag: str = Field(max_length=32, unique=True)
    replaces_id: int | None = Field(default=None, foreign_key="label_issues.id", unique=True)
    reason: str | None = Field(default=None, max_length=2000)
    issued_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class LabelScan(SQLModel, table=True):
    """A scan of a vial's URI worth keeping: a label's first, and every flagged one.

    Append-only. `verdict` is what the vial page said of the scanned tag; `by` is the
    signed-in user, or None for an anonymous scan (no client address is kept).
    """

    __tablename__ = "label_scans"

    id: int | None = Field(default=None, primary_key=True)
    vial_id: int = Field(foreign_key="vials.id", index=True)
    label_id: int | None = Field(default=None, foreign_key="label_issues.id", index=True)
    tag: str | None = Field(default=None, max_length=64)
    verdict: str = Field(max_length=32)
    by: str | None = Field(default=None, max_length=64)
    created_at: datetime = _utc()


class Site(SQLModel, table=True):
    """A place that holds vials: the manufacturing lab, a clinic, a depot."""

    __tablename__ = "sites"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)
    created_at: datetime = _utc()


class SiteMember(SQLModel, table=True):
    """A user who acts for a site: hands over and accepts custody in its name."""

    __tablename__ = "site_members"
    __table_args__ = (UniqueConstraint("site_id", "user_id", name="uq_site_member"),)

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = _utc()


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
    created_at: datetime = _utc()


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
    created_at: datetime = _utc()


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
    created_at: datetime = _utc()


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
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class HandoffAcceptance(SQLModel, table=True):
    __tablename__ = "handoff_acceptances"

    id: int | None = Field(default=None, primary_key=True)
    handoff_id: int = Field(foreign_key="handoffs.id", unique=True)
    accepted_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class RequestNonce(SQLModel, table=True):
    """Each signed custody request's nonce, once: a replayed request finds it here."""

    __tablename__ = "request_nonces"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=64, unique=True)
    username: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


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
    created_at: datetime = _utc()


RECORD_TABLES: tuple[str, ...] = (
    "specification_versions",
    "vials",
    "qc_results",
    "qc_reviews",
    "oos_decisions",
    "deviations",
    "deviation_events",
    "label_issues",
    "label_scans",
    "custody_events",
    "handoffs",
    "handoff_acceptances",
    "request_nonces",
    "idempotent_responses",
    "temperature_uploads",
    "excursions",
    "excursion_vials",
    "excursion_closures",
    "esignatures",
    "dispositions",
    "recalls",
)
"""Batch-record tables that only ever grow (batches change state, with audit rows)."""


class TemperatureUpload(SQLModel, table=True):
    """One logger file or EPCIS sensor document for a storage unit or a shipper. Append-only.

    Exactly one of `unit_id` and `shipper_id` is set. The readings themselves are not
    kept row by row: `sha256` names the exact bytes uploaded, and the log entry at
    `log_index` (`coldchain.readings.uploaded`) records the digest, count and span.
    """

    __tablename__ = "temperature_uploads"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int | None = Field(default=None, foreign_key="storage_units.id", index=True)
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id", index=True)
    source: str = Field(max_length=8)
    sha256: str = Field(max_length=64, index=True)
    readings: int
    first_at: datetime = _utc()
    last_at: datetime = _utc()
    uploaded_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class Excursion(SQLModel, table=True):
    """A run of readings outside a unit's or shipper's limits that lasted too long.

    Append-only: it stays open until an `ExcursionClosure` row closes it. `end_at` is
    None when the data ended during the run; `limit` is the limit it breached, as text
    (e.g. "<= -150 °C"). `log_index` is the upload's entry, in which it was found.
    """

    __tablename__ = "excursions"

    id: int | None = Field(default=None, primary_key=True)
    upload_id: int = Field(foreign_key="temperature_uploads.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="storage_units.id", index=True)
    shipper_id: int | None = Field(default=None, foreign_key="shippers.id", index=True)
    kind: str = Field(max_length=8)
    start_at: datetime = _utc()
    end_at: datetime | None = _utc(nullable=True)
    peak_celsius: str = Field(max_length=16)
    limit: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class ExcursionVial(SQLModel, table=True):
    """A vial that was in the unit or shipper during an excursion, with its log entry.

    Append-only. `log_index` is that vial's `coldchain.excursion` entry.
    """

    __tablename__ = "excursion_vials"
    __table_args__ = (UniqueConstraint("excursion_id", "vial_id", name="uq_excursion_vial"),)

    id: int | None = Field(default=None, primary_key=True)
    excursion_id: int = Field(foreign_key="excursions.id", index=True)
    vial_id: int = Field(foreign_key="vials.id", index=True)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))


class ExcursionClosure(SQLModel, table=True):
    """QA's signed assessment that closes an excursion (once). Append-only."""

    __tablename__ = "excursion_closures"

    id: int | None = Field(default=None, primary_key=True)
    excursion_id: int = Field(foreign_key="excursions.id", unique=True)
    assessment: str = Field(max_length=4000)
    closed_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


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
    signed_at: datetime = _utc()
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
    signed_at: datetime = _utc()
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
    created_at: datetime = _utc()
