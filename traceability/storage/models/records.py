"""Batch records: products and their specification versions, batches, vials, QC results
with reviews and OOS decisions, deviations, and labels.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from traceability.storage.types import utc_field


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
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()
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
    created_at: datetime = utc_field()


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
    tested_at: datetime = utc_field()
    assay_valid: bool
    verdict: str = Field(max_length=16)
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    supersedes_id: int | None = Field(default=None, foreign_key="qc_results.id", unique=True)
    reason: str | None = Field(default=None, max_length=2000)
    entered_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class QcReview(SQLModel, table=True):
    """The second person's decision on a result. Append-only; one per result."""

    __tablename__ = "qc_reviews"

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="qc_results.id", unique=True)
    decision: str = Field(max_length=16)
    comment: str | None = Field(default=None, max_length=2000)
    reviewer: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


class OosDecision(SQLModel, table=True):
    """QA's conclusion of the OOS investigation a failed result opened. Append-only."""

    __tablename__ = "oos_decisions"

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="qc_results.id", unique=True)
    conclusion: str = Field(max_length=16)
    reason: str = Field(max_length=2000)
    decided_by: str = Field(max_length=64)
    log_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()


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
    created_at: datetime = utc_field()


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
