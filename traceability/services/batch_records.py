"""Products, specification versions, batches and vials: registering them, signed.

Each use case takes a signed statement (docs/signed-writes.md), checks the domain
request in its `what`, appends it to the custody log as the person's own entry, and
stores the rows with that entry's index, in one unit of work. Vials are commissioned by
the service in the same transaction: one entry per vial, its Digital Link URI as
subject, pointing at the person's signed batch registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from labels.digital_link import VialId, batch_uri, product_uri
from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.qc_record import BatchState
from traceability.domain.registrations import (
    BatchRegistration,
    ProductRegistration,
    read_specification,
)
from traceability.domain.specifications import (
    Specification,
    specification_from_json,
    specification_to_json,
)
from traceability.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from traceability.services import audit_trail
from traceability.services import sites as site_service
from traceability.storage.models import Batch, Product, Site, SpecificationVersion, User, Vial


def register_product(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> Product:
    request = ProductRegistration.from_what(signed.statement.what)
    signed_requests.expect(
        signed, type="product.registered", subject=product_uri(resolver, request.gtin), user=user
    )
    if session.exec(
        select(Product).where((Product.code == request.code) | (Product.gtin == request.gtin))
    ).first():
        raise ConflictError(f"a product with code {request.code} or GTIN {request.gtin} exists")
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    product = Product(
        code=request.code,
        name=request.name,
        gtin=request.gtin,
        processing_class=request.processing_class.value,
        storage_condition=request.storage_condition,
        isbt128_facility=request.isbt128_facility,
        created_at=now,
    )
    session.add(product)
    session.flush()
    assert product.id is not None  # noqa: S101 - flushed
    session.add(
        SpecificationVersion(
            product_id=product.id,
            version=1,
            document=specification_to_json(request.specification),
            log_index=appended.index,
            created_by=user.username,
            created_at=now,
        )
    )
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="product",
        record_id=product.code,
        changes=diff(
            None,
            {
                "name": product.name,
                "gtin": product.gtin,
                "specification_version": 1,
                "log_index": appended.index,
            },
        ),
    )
    return product


def add_specification_version(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    product: Product,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> SpecificationVersion:
    signed_requests.expect(
        signed, type="spec.version.created", subject=product_uri(resolver, product.gtin), user=user
    )
    specification = read_specification(signed.statement.what, product.code)
    latest = latest_version(session, product)
    if specification.version != latest + 1:
        raise InvalidInputError(
            f"the next version of {product.code} is {latest + 1}",
            field="statement.what.specification.version",
        )
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    assert product.id is not None  # noqa: S101 - stored
    row = SpecificationVersion(
        product_id=product.id,
        version=specification.version,
        document=specification_to_json(specification),
        log_index=appended.index,
        created_by=user.username,
        created_at=now,
    )
    session.add(row)
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="specification",
        record_id=f"{product.code} v{row.version}",
        changes=diff(None, {"version": row.version, "log_index": appended.index}),
    )
    return row


def latest_version(session: Session, product: Product) -> int:
    value = session.exec(
        select(func.max(SpecificationVersion.version)).where(
            SpecificationVersion.product_id == product.id
        )
    ).one()
    return int(value or 0)


def register_batch(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> Batch:
    request = BatchRegistration.from_what(signed.statement.what)
    product = get_product(session, request.product, field="statement.what.product")
    signed_requests.expect(
        signed,
        type="batch.registered",
        subject=batch_uri(resolver, product.gtin, request.lot),
        user=user,
    )
    version = session.exec(
        select(SpecificationVersion).where(
            SpecificationVersion.product_id == product.id,
            SpecificationVersion.version == request.specification_version,
        )
    ).first()
    if version is None:
        raise InvalidInputError(
            f"{product.code} has no specification version {request.specification_version}",
            field="statement.what.specification_version",
        )
    if session.exec(select(Batch).where(Batch.lot == request.lot)).first() is not None:
        raise ConflictError(f"lot {request.lot} is already registered")
    site = _making_site(session, request.site, user) if request.site is not None else None
    if site is None and site_service.has_labs(session):
        # Once labs are set up, a batch without one would be open to every lab's staff.
        raise InvalidInputError(
            "name the lab that makes the batch (site)", field="statement.what.site"
        )
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    assert product.id is not None and version.id is not None  # noqa: S101 - stored
    batch = Batch(
        product_id=product.id,
        lot=request.lot,
        donor_code=request.donor_code,
        processing_class=request.processing_class.value,
        manufactured_on=request.manufactured_on,
        expires_on=request.expires_on,
        specification_version_id=version.id,
        state=BatchState.quarantine.value,
        log_index=appended.index,
        created_by=user.username,
        created_at=now,
        site_id=site.id if site is not None else None,
    )
    session.add(batch)
    session.flush()
    assert batch.id is not None  # noqa: S101 - flushed
    subject = signed.statement.subject
    for serial in request.serials:
        uri = VialId(product.gtin, request.lot, serial).uri(resolver)
        commissioned = log.append_as_service(
            session,
            subject=uri,
            type="vial.commissioned",
            now=now,
            what={"batch": subject, "batch_entry": appended.index, "serial": serial},
            why={"bizStep": "commissioning", "disposition": "in_progress"},
        )
        session.add(
            Vial(
                batch_id=batch.id,
                serial=serial,
                uri=uri,
                log_index=commissioned.index,
                created_at=now,
            )
        )
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="batch",
        record_id=batch.lot,
        changes=diff(
            None,
            {
                "product": product.code,
                "donor_code": batch.donor_code,
                "vials": len(request.serials),
                "log_index": appended.index,
            },
        ),
    )
    return batch


def _making_site(session: Session, code: str, user: User) -> Site:
    """The laboratory a batch is registered at: a lab the registering person acts for."""
    site = site_service.get_site(session, code, field="statement.what.site")
    if site.kind != "lab":
        raise InvalidInputError(
            f"site {code} is a {site.kind}; a batch is made at a lab", field="statement.what.site"
        )
    if not site_service.is_member(session, site, user):
        raise PermissionDeniedError(f"you do not act for site {code}")
    return site


def keeps_record(session: Session, batch: Batch, user: User) -> bool:
    """Only the staff of the lab that makes a batch enter, review, label or decide on its
    record: a lab or QA role alone is not enough, or a clinic's lab could review the
    manufacturer's results. A batch registered without a site has no such limit."""
    site = site_of(session, batch)
    return site is None or site_service.is_member(session, site, user)


def check_keeps_record(session: Session, batch: Batch, user: User) -> None:
    """PermissionDeniedError unless `keeps_record`."""
    if not keeps_record(session, batch, user):
        site = site_of(session, batch)
        assert site is not None  # noqa: S101 - only a site's batch is kept by some
        raise PermissionDeniedError(
            f"batch {batch.lot} is made at {site.code}; only those who act for "
            f"{site.code} keep its record"
        )


def site_of(session: Session, batch: Batch) -> Site | None:
    return session.get(Site, batch.site_id) if batch.site_id is not None else None


def get_product(session: Session, code: str, *, field: str = "code") -> Product:
    product = session.exec(select(Product).where(Product.code == code)).first()
    if product is None:
        raise (
            NotFoundError(f"no product {code!r}")
            if field == "code"
            else InvalidInputError(f"no product {code!r}", field=field)
        )
    return product


def get_batch(session: Session, lot: str) -> Batch:
    batch = session.exec(select(Batch).where(Batch.lot == lot)).first()
    if batch is None:
        raise NotFoundError(f"no batch with lot {lot!r}")
    return batch


def specification_of(session: Session, batch: Batch) -> Specification:
    row = session.get(SpecificationVersion, batch.specification_version_id)
    assert row is not None  # noqa: S101 - a foreign key
    return specification_from_json(row.document)


def list_products(session: Session) -> Sequence[Product]:
    return session.exec(select(Product).order_by(col(Product.code))).all()


def list_batches(session: Session) -> Sequence[Batch]:
    return session.exec(select(Batch).order_by(col(Batch.id).desc())).all()


def lot_of(session: Session, vial: Vial) -> str | None:
    """The lot of the vial's batch (None only if the row is missing: a foreign key)."""
    batch = session.get(Batch, vial.batch_id)
    return batch.lot if batch is not None else None


def vials_of(session: Session, batch: Batch) -> Sequence[Vial]:
    return session.exec(select(Vial).where(Vial.batch_id == batch.id).order_by(col(Vial.id))).all()


def versions_of(session: Session, product: Product) -> Sequence[SpecificationVersion]:
    return session.exec(
        select(SpecificationVersion)
        .where(SpecificationVersion.product_id == product.id)
        .order_by(col(SpecificationVersion.version))
    ).all()
