"""Products, specification versions and batch records as the API and pages show them.

Built here, in the services, so that a route never reads the tables: a batch record
gathers its product, specification version, vials, results with their reviews and OOS
state, and the status of every required test, in one place that the JSON API and the
batch page share.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from labels.digital_link import batch_uri, product_uri
from traceability.domain.qc_record import record_status
from traceability.services import batch_records, qc_results
from traceability.storage.models import Batch, Product, SpecificationVersion


class SpecificationVersionPublic(BaseModel):
    version: int
    document: dict[str, Any]
    log_index: int
    created_by: str
    created_at: datetime


class ProductPublic(BaseModel):
    code: str
    name: str
    gtin: str
    uri: str
    processing_class: str
    storage_condition: str
    isbt128_facility: str | None
    specifications: list[SpecificationVersionPublic]


class VialPublic(BaseModel):
    serial: str
    uri: str
    log_index: int


class ResultPublic(BaseModel):
    id: int
    test: str
    values: dict[str, Any]
    unit: str | None
    method: str
    instrument: str
    reagent_lots: list[str]
    analyst: str
    tested_at: datetime
    assay_valid: bool
    verdict: str
    reasons: list[str]
    supersedes: int | None
    reason: str | None
    entered_by: str
    log_index: int
    review: str | None
    reviewed_by: str | None = None
    review_comment: str | None = None
    """Why the reviewer approved or, above all, sent the result back."""
    oos: str | None


class BatchPublic(BaseModel):
    lot: str
    uri: str
    product: str
    donor_code: str
    processing_class: str
    manufactured_on: date
    expires_on: date
    specification_version: int
    state: str
    log_index: int
    created_by: str
    site: str | None = None
    """The lab that makes the batch; only those who act for it keep its record."""
    vials: list[VialPublic]
    tests: dict[str, str]
    results: list[ResultPublic]


def product_public(session: Session, product: Product, resolver: str) -> ProductPublic:
    return ProductPublic(
        code=product.code,
        name=product.name,
        gtin=product.gtin,
        uri=product_uri(resolver, product.gtin),
        processing_class=product.processing_class,
        storage_condition=product.storage_condition,
        isbt128_facility=product.isbt128_facility,
        specifications=[version_public(v) for v in batch_records.versions_of(session, product)],
    )


def version_public(row: SpecificationVersion) -> SpecificationVersionPublic:
    return SpecificationVersionPublic(
        version=row.version,
        document=row.document,
        log_index=row.log_index,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def batch_public(session: Session, batch: Batch, resolver: str) -> BatchPublic:
    product = session.get(Product, batch.product_id)
    version = session.get(SpecificationVersion, batch.specification_version_id)
    assert product is not None and version is not None  # noqa: S101 - foreign keys
    specification = batch_records.specification_of(session, batch)
    views = {v.id: v for v in qc_results.views(session, batch)}
    stored = qc_results.results_of(session, batch)
    reviews = qc_results.reviews_of(session, stored)
    results = [
        ResultPublic(
            id=r.id,
            test=r.test,
            values=r.values,
            unit=r.unit,
            method=r.method,
            instrument=r.instrument,
            reagent_lots=r.reagent_lots,
            analyst=r.analyst,
            tested_at=r.tested_at,
            assay_valid=r.assay_valid,
            verdict=r.verdict,
            reasons=r.reasons,
            supersedes=r.supersedes_id,
            reason=r.reason,
            entered_by=r.entered_by,
            log_index=r.log_index,
            review=views[r.id].review,
            reviewed_by=reviews[r.id].reviewer if r.id in reviews else None,
            review_comment=reviews[r.id].comment if r.id in reviews else None,
            oos=views[r.id].oos,
        )
        for r in stored
        if r.id is not None
    ]
    return BatchPublic(
        lot=batch.lot,
        uri=batch_uri(resolver, product.gtin, batch.lot),
        product=product.code,
        donor_code=batch.donor_code,
        processing_class=batch.processing_class,
        manufactured_on=batch.manufactured_on,
        expires_on=batch.expires_on,
        specification_version=version.version,
        state=batch.state,
        log_index=batch.log_index,
        created_by=batch.created_by,
        site=site.code if (site := batch_records.site_of(session, batch)) else None,
        vials=[
            VialPublic(serial=v.serial, uri=v.uri, log_index=v.log_index)
            for v in batch_records.vials_of(session, batch)
        ],
        tests={
            code: status.value
            for code, status in record_status(specification, list(views.values())).items()
        },
        results=results,
    )
