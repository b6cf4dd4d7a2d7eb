"""What a scanned label opens: a vial's record, in a public and a staff view.

The resolver serves this for a vial's Digital Link URI. Anyone holding the vial may
see that it has a documented origin, passed QC and an unbroken custody chain; only
signed-in staff see names, log indices and the pseudonymous donor code. The view is
built here, apart from HTTP, so the page and the JSON say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session, select

from audit.entry import parse_entry
from labels.digital_link import VialId
from traceability.custody_log.appender import subject_entries
from traceability.domain.custody import ADMINISTRABLE, CustodyState
from traceability.domain.label_tags import TagVerdict
from traceability.domain.qc_record import BatchState, QcStatus, record_status
from traceability.domain.statement_kinds import current
from traceability.errors import NotFoundError
from traceability.services import qc_results, vial_labels
from traceability.services.batch_records import specification_of, vials_of
from traceability.services.custody import positions
from traceability.services.proof.batch import BatchProof
from traceability.services.stored import stored
from traceability.storage.models import Batch, LogEntryRow, Product, Vial

EVENT_NAMES = {
    "vial.commissioned": "Vial commissioned when the batch was registered",
    "label.issued": "Label issued",
    "custody.stored": "Stored",
    "custody.packed": "Packed into a shipper",
    "custody.handover.offered": "Handoff offered",
    "custody.handover.accepted": "Handoff accepted: custody passed",
    "custody.handed_to_courier": "Handed to a courier",
    "custody.handed_to_site": "Handed to the receiving site",
    "custody.dispatched": "In transit",
    "custody.received": "Received; container condition recorded",
    "custody.administered": "Administered",
    "custody.destroyed": "Destroyed",
    "coldchain.excursion.detected": "Temperature excursion",
}
"""By current type name; an entry written under an old name is looked up by its current
one (`statement_kinds.current`)."""


@dataclass(frozen=True)
class TimelineEvent:
    when: str
    event: str
    type: str
    # Staff only:
    actor: str | None = None
    log_index: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class QcLine:
    test: str
    name: str
    status: str


@dataclass(frozen=True)
class VialRecord:
    uri: str
    product: str
    product_code: str
    gtin: str
    lot: str
    serial: str
    expires_on: date
    storage_condition: str
    processing_class: str
    status: str
    custody_state: str
    disposition: str
    """The batch's state, shown beside where the vial is: once a vial leaves storage its
    status says where it is, and a clinic must still see that it is not released."""
    released: bool
    qc_passed: int
    qc_required: int
    qc: list[QcLine]
    timeline: list[TimelineEvent]
    tag: str
    """The verdict on the scanned tag (TagVerdict's value)."""
    tag_flagged: bool
    expiry_on_label_matches: bool | None
    proven: bool = True
    """Whether the signed log proves the batch's record this page is built from; when it
    does not, nothing here is to be relied on and the vial is not shown as released."""
    held: bool = False
    """The service's self-check found the database disagreeing with the log somewhere:
    until QA resolves it, no vial is shown as released, this one included."""
    staff: dict[str, Any] | None = field(default=None)
    """Only for signed-in users: donor code, batch record link, label history."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_on"] = self.expires_on.isoformat()
        if self.staff is None:
            del data["staff"]
            for event in data["timeline"]:
                for private in ("actor", "log_index", "detail"):
                    del event[private]
        return data


def find_vial(session: Session, identity: VialId) -> tuple[Product, Batch, Vial]:
    """The stored vial the identity names; NotFoundError (never a hint which part is wrong)."""
    row = session.exec(
        select(Product, Batch, Vial)
        .join(Batch, Batch.product_id == Product.id)  # type: ignore[arg-type]
        .join(Vial, Vial.batch_id == Batch.id)  # type: ignore[arg-type]
        .where(Product.gtin == identity.gtin)
        .where(Batch.lot == identity.lot)
        .where(Vial.serial == identity.serial)
    ).first()
    if row is None:
        raise NotFoundError("no vial with this identifier is registered here")
    return row


def vial_status(batch: Batch, state: CustodyState) -> str:
    """What a patient or nurse needs to know: the disposition, or where the vial is.

    Between sites it is "in transit"; on arrival "received"; at the end "administered"
    or "destroyed"; in storage it is its batch's disposition (quarantine, released, ...).
    """
    if state in (CustodyState.administered, CustodyState.destroyed, CustodyState.received):
        return state.value
    if state in (CustodyState.with_courier, CustodyState.in_transit, CustodyState.delivered):
        return "in transit"
    return batch.state


def _who(session: Session, actor: str | None, what: dict[str, object]) -> str:
    """The signer; for a service entry caused by a person's request, that person too."""
    if actor is not None:
        return actor
    request = what.get("request_entry") or what.get("batch_entry")
    if isinstance(request, int):
        row = session.get(LogEntryRow, request)
        if row is not None:
            person = parse_entry(bytes(row.entry)).actor
            if person:
                return f"service, for {person}"
    return "service"


def _timeline(session: Session, vial: Vial, *, staff: bool) -> list[TimelineEvent]:
    events = []
    for row in subject_entries(session, vial.uri):
        entry = parse_entry(bytes(row.entry))
        what = entry.body.get("what")
        what = what if isinstance(what, dict) else {}
        name = EVENT_NAMES.get(current(entry.type), entry.type)
        detail = None
        if entry.type == "label.issued" and "voids_tag_sha256" in what:
            name = "Label reissued; the earlier label is void"
            detail = str(what.get("reason", ""))
        events.append(
            TimelineEvent(
                when=entry.when,
                event=name,
                type=entry.type,
                actor=_who(session, entry.actor, what) if staff else None,
                log_index=entry.index if staff else None,
                detail=detail if staff else None,
            )
        )
    return events


def vial_record(
    session: Session,
    product: Product,
    batch: Batch,
    vial: Vial,
    *,
    verdict: TagVerdict,
    label_expiry: str | None,
    staff: bool,
    proof: BatchProof,
    alarms: Sequence[str] = (),
    record_reader: bool = False,
) -> VialRecord:
    """The vial's record; not proven (and never released) while the batch's proof has
    findings or the last self-check found anything (`alarms`)."""
    proven = proof.ok
    qc = _qc(session, batch)
    position = positions.position_of(session, vial)
    extra = None
    if staff:
        history = vial_labels.labels_of(session, [vial])
        replaced = {r.replaces_id for r in history}
        extra = {
            "custodian": str(position.custodian) if position.custodian else None,
            "donor_code": batch.donor_code if record_reader else None,
            "batch_record": f"/ui/batches/{batch.lot}" if record_reader else None,
            "batch_log_index": batch.log_index,
            "unproven": proof.lines() or list(alarms),
            "labels": [
                {
                    "issued_at": r.created_at.isoformat(),
                    "issued_by": r.issued_by,
                    "log_index": r.log_index,
                    "void": r.id in replaced,
                    "reason": r.reason,
                }
                for r in history
            ],
        }
    return VialRecord(
        uri=vial.uri,
        product=product.name,
        product_code=product.code,
        gtin=product.gtin,
        lot=batch.lot,
        serial=vial.serial,
        expires_on=batch.expires_on,
        storage_condition=product.storage_condition,
        processing_class=batch.processing_class,
        status=vial_status(batch, position.state),
        custody_state=position.state.value,
        disposition=batch.state,
        released=proven
        and not alarms
        and stored(BatchState, batch.state, f"batch {batch.lot}") in ADMINISTRABLE,
        qc_passed=sum(1 for line in qc if line.status == QcStatus.passed.value),
        qc_required=len(qc),
        qc=qc,
        timeline=_timeline(session, vial, staff=staff),
        tag=verdict.value,
        tag_flagged=verdict not in (TagVerdict.valid, TagVerdict.absent),
        expiry_on_label_matches=vial_labels.expiry_on_label_matches(label_expiry, batch.expires_on),
        proven=proven,
        held=bool(alarms),
        staff=extra,
    )


@dataclass(frozen=True)
class BatchSummary:
    """What a shipper label's batch URI opens: the lot as a whole, public."""

    uri: str
    product: str
    lot: str
    expires_on: date
    storage_condition: str
    status: str
    vials: int
    qc_passed: int
    qc_required: int
    qc: list[QcLine]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_on"] = self.expires_on.isoformat()
        return data


def find_batch(session: Session, gtin: str, lot: str) -> tuple[Product, Batch]:
    row = session.exec(
        select(Product, Batch)
        .join(Batch, Batch.product_id == Product.id)  # type: ignore[arg-type]
        .where(Product.gtin == gtin)
        .where(Batch.lot == lot)
    ).first()
    if row is None:
        raise NotFoundError("no batch with this identifier is registered here")
    return row


def _qc(session: Session, batch: Batch) -> list[QcLine]:
    specification = specification_of(session, batch)
    statuses = record_status(specification, qc_results.views(session, batch))
    names = {t.code: t.name for t in specification.tests}
    return [QcLine(code, names[code], status.value) for code, status in statuses.items()]


def batch_summary(session: Session, product: Product, batch: Batch, uri: str) -> BatchSummary:
    qc = _qc(session, batch)
    return BatchSummary(
        uri=uri,
        product=product.name,
        lot=batch.lot,
        expires_on=batch.expires_on,
        storage_condition=product.storage_condition,
        status=batch.state,
        vials=len(vials_of(session, batch)),
        qc_passed=sum(1 for line in qc if line.status == QcStatus.passed.value),
        qc_required=len(qc),
        qc=qc,
    )
