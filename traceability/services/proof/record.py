"""A batch record's tables against the batch's signed entries.

Each row is compared with the row its entry makes, read with the same domain readers
the service used when it wrote the row (`ResultEntry.from_what`, `ReviewEntry`, ...), so
that what is compared is exactly what was signed. Derived values are derived again: a
result's verdict from its signed values and the signed specification version, the
batch's state from its signed dispositions and recall.

What a row holds that no entry states (ids, server times, the printed name of an
e-signature, the gate's text as it stood) is not compared, and nothing decides on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlmodel import Session, select

from traceability.clock import as_utc
from traceability.custody_log.evidence import LogEvidence, Proven, Unproven
from traceability.domain.deviations import Assignment, Closure, DeviationRecord
from traceability.domain.disposition import DispositionRequest
from traceability.domain.qc_record import BatchState
from traceability.domain.qc_requests import OosConclusion, ResultEntry, ReviewEntry
from traceability.domain.registrations import (
    BatchRegistration,
    ProductRegistration,
    read_specification,
)
from traceability.domain.specifications import (
    Specification,
    evaluate,
    specification_to_json,
)
from traceability.domain.statement_kinds import DISPOSITION_DECIDED, spellings
from traceability.errors import TraceabilityError
from traceability.services.proof.findings import ProofFinding, compare, unproven
from traceability.storage.models import (
    Batch,
    Deviation,
    DeviationEvent,
    Disposition,
    OosDecision,
    Product,
    QcResult,
    QcReview,
    Recall,
    Site,
    SpecificationVersion,
    Vial,
)

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
"""`now` for re-reading a result: it was checked against the clock when it was signed."""

Row = TypeVar("Row", QcResult, QcReview, OosDecision, Deviation, DeviationEvent, Disposition)


@dataclass
class BatchEntries:
    """The proven entries about a batch's subject, by type."""

    subject: str
    by_type: dict[str, list[Proven]]

    def of(self, *types: str) -> list[Proven]:
        """Entries of these kinds (current names), under any name a log holds them by."""
        return [p for t in spellings(*types) for p in self.by_type.get(t, [])]


def check_batch_row(
    session: Session, batch: Batch, proven: Proven | Unproven, entries: BatchEntries
) -> list[ProofFinding]:
    """The batch's own row against its `batch.registered` entry and its decisions."""
    record = f"batch {batch.lot}"
    if isinstance(proven, Unproven):
        return [unproven(record, proven)]
    entry = proven.entry
    if entry.type != "batch.registered":
        return [ProofFinding("changed", record, entry.index, f"its entry is a {entry.type}")]
    try:
        request = BatchRegistration.from_what(entry.what)
    except TraceabilityError as e:
        return [ProofFinding("changed", record, entry.index, f"the entry does not read: {e}")]
    product = session.get(Product, batch.product_id)
    version = session.get(SpecificationVersion, batch.specification_version_id)
    site = session.get(Site, batch.site_id) if batch.site_id is not None else None
    stored = {
        "product": product.code if product else None,
        "lot": batch.lot,
        "donor_code": batch.donor_code,
        "processing_class": batch.processing_class,
        "manufactured_on": batch.manufactured_on,
        "expires_on": batch.expires_on,
        "specification_version": version.version if version else None,
        "site": site.code if site else None,
        "created_by": batch.created_by,
        "state": batch.state,
    }
    signed = {
        "product": request.product,
        "lot": request.lot,
        "donor_code": request.donor_code,
        "processing_class": request.processing_class.value,
        "manufactured_on": request.manufactured_on,
        "expires_on": request.expires_on,
        "specification_version": request.specification_version,
        "site": request.site,
        "created_by": proven.who,
        "state": signed_state(entries).value,
    }
    return compare(record, entry.index, stored, signed)


def signed_state(entries: BatchEntries) -> BatchState:
    """The batch's state as its signed dispositions and recall leave it."""
    state = BatchState.quarantine
    decisions = entries.of(DISPOSITION_DECIDED, "batch.recalled")
    for proven in sorted(decisions, key=lambda p: p.index):
        if proven.entry.type == "batch.recalled":
            state = BatchState.recalled
            continue
        try:
            state = BatchState(DispositionRequest.from_what(proven.entry.what).decision.value)
        except (TraceabilityError, ValueError):
            continue
    return state


def signed_decisions(entries: BatchEntries) -> tuple[str, ...]:
    """The decisions of the batch's proven dispositions, in the order they were signed."""
    out = []
    for proven in sorted(entries.of(DISPOSITION_DECIDED), key=lambda p: p.index):
        try:
            out.append(DispositionRequest.from_what(proven.entry.what).decision.value)
        except TraceabilityError:
            continue
    return tuple(out)


def check_specification(
    session: Session, evidence: LogEvidence, batch: Batch
) -> tuple[Specification | None, list[ProofFinding]]:
    """The batch's specification version as signed, if its row is what the entry says."""
    row = session.get(SpecificationVersion, batch.specification_version_id)
    product = session.get(Product, batch.product_id)
    record = f"specification of {batch.lot}"
    if row is None or product is None:
        return None, [ProofFinding("missing-row", record, None, "no specification version row")]
    proven = evidence.prove(row.log_index)
    if isinstance(proven, Unproven):
        return None, [unproven(record, proven)]
    entry = proven.entry
    # Version 1 comes with the product's registration; later ones are entries of their own.
    if entry.type not in ("spec.version.created", "product.registered"):
        return None, [ProofFinding("changed", record, entry.index, f"its entry is a {entry.type}")]
    try:
        specification = read_specification(entry.what, product.code)
    except TraceabilityError as e:
        return None, [ProofFinding("changed", record, entry.index, f"the entry does not read: {e}")]
    findings = compare(
        f"specification_versions #{row.id}",
        entry.index,
        {"version": row.version, "document": row.document},
        {"version": specification.version, "document": specification_to_json(specification)},
    )
    return (None if findings else specification), findings


def check_product(session: Session, evidence: LogEvidence, batch: Batch) -> list[ProofFinding]:
    """The product row (name, GTIN, storage condition... shown on every vial's page and
    the certificate) against its `product.registered` entry, found through the product's
    first specification version, which that entry made."""
    product = session.get(Product, batch.product_id)
    first = session.exec(
        select(SpecificationVersion).where(
            SpecificationVersion.product_id == batch.product_id, SpecificationVersion.version == 1
        )
    ).first()
    record = f"product of {batch.lot}"
    if product is None or first is None:
        return [ProofFinding("missing-row", record, None, "no product row or first version")]
    proven = evidence.prove(first.log_index)
    if isinstance(proven, Unproven):
        return [unproven(record, proven)]
    entry = proven.entry
    if entry.type != "product.registered":
        return [ProofFinding("changed", record, entry.index, f"its entry is a {entry.type}")]
    try:
        request = ProductRegistration.from_what(entry.what)
    except TraceabilityError as e:
        return [ProofFinding("changed", record, entry.index, f"the entry does not read: {e}")]
    return compare(
        f"products #{product.id}",
        entry.index,
        {
            "code": product.code,
            "name": product.name,
            "gtin": product.gtin,
            "processing_class": product.processing_class,
            "storage_condition": product.storage_condition,
            "isbt128_facility": product.isbt128_facility,
        },
        {
            "code": request.code,
            "name": request.name,
            "gtin": request.gtin,
            "processing_class": request.processing_class.value,
            "storage_condition": request.storage_condition,
            "isbt128_facility": request.isbt128_facility,
        },
    )


def check_vials(
    evidence: LogEvidence, batch: Batch, vials: Sequence[Vial], entries: BatchEntries
) -> list[ProofFinding]:
    """Each vial row against its `vial.commissioned` entry; the set against the batch's
    signed registration, which lists every vial's serial."""
    findings: list[ProofFinding] = []
    registered = entries.of("batch.registered")
    serials: list[str] = []
    if registered:
        try:
            serials = list(BatchRegistration.from_what(registered[0].entry.what).serials)
        except TraceabilityError:
            serials = []
    proven = evidence.prove_many(v.log_index for v in vials)
    for vial in vials:
        record = f"vial {vial.serial}"
        found = proven[vial.log_index]
        if isinstance(found, Unproven):
            findings.append(unproven(record, found))
            continue
        entry = found.entry
        findings += compare(
            f"vials #{vial.id}",
            entry.index,
            {"type": entry.type, "uri": vial.uri, "batch": entries.subject, "serial": vial.serial},
            {
                "type": "vial.commissioned",
                "uri": entry.subject,
                "batch": entry.what.get("batch"),
                "serial": entry.what.get("serial"),
            },
        )
    have = {v.serial for v in vials}
    for serial in serials:
        if serial not in have:
            findings.append(
                ProofFinding(
                    "missing-row",
                    f"vial {serial}",
                    registered[0].index,
                    "the signed batch registration lists this vial but there is no vial row",
                )
            )
    for serial in sorted(have - set(serials)):
        if registered:
            findings.append(
                ProofFinding(
                    "extra-row",
                    f"vial {serial}",
                    registered[0].index,
                    "a vial row the signed batch registration does not list",
                )
            )
    return findings


def _rows_against(
    rows: Sequence[Row],
    entries: BatchEntries,
    *,
    table: str,
    types: tuple[str, ...],
    made: Callable[[Proven, Row], tuple[Mapping[str, Any], Mapping[str, Any]]],
    evidence: LogEvidence,
) -> list[ProofFinding]:
    """Rows of one table against the batch's entries of `types`: each row's entry proven,
    about the batch and of the right type, and making that row; each entry with a row."""
    findings: list[ProofFinding] = []
    proven = evidence.prove_many(r.log_index for r in rows)
    seen: dict[int, int] = {}
    for row in rows:
        record = f"{table} #{row.id}"
        found = proven[row.log_index]
        if isinstance(found, Unproven):
            findings.append(unproven(record, found))
            continue
        entry = found.entry
        if entry.type not in spellings(*types) or entry.subject != entries.subject:
            findings.append(
                ProofFinding(
                    "changed",
                    record,
                    entry.index,
                    f"bound to a {entry.type} entry about {entry.subject}, not to a "
                    f"{' or '.join(types)} about this batch",
                )
            )
            continue
        if entry.index in seen:
            findings.append(
                ProofFinding(
                    "extra-row",
                    record,
                    entry.index,
                    f"a second row for one entry (the first is #{seen[entry.index]})",
                )
            )
            continue
        seen[entry.index] = row.id or 0
        try:
            stored, signed = made(found, row)
        except (TraceabilityError, TypeError, ValueError) as e:
            findings.append(
                ProofFinding("changed", record, entry.index, f"the entry does not read: {e}")
            )
            continue
        findings += compare(record, entry.index, stored, signed)
    for proven_entry in entries.of(*types):
        if proven_entry.index not in seen:
            findings.append(
                ProofFinding(
                    "missing-row",
                    f"{table} of {entries.subject.rsplit('/', 1)[-1]}",
                    proven_entry.index,
                    f"the signed {proven_entry.entry.type} has no row",
                )
            )
    return findings


def check_results(
    evidence: LogEvidence,
    results: Sequence[QcResult],
    entries: BatchEntries,
    specification: Specification | None,
) -> list[ProofFinding]:
    by_id = {r.id: r for r in results}

    def made(proven: Proven, row: QcResult) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        request = ResultEntry.from_what(proven.entry.what, now=FAR_FUTURE)
        target = by_id.get(request.supersedes) if request.supersedes is not None else None
        verdict: object = "no signed specification to judge it by"
        reasons: object = None
        if specification is not None:
            evaluation = evaluate(specification.test(request.result.test), request.result)
            # The entry's values are in canonical (sorted) order, the row's as entered.
            verdict, reasons = evaluation.verdict.value, sorted(evaluation.reasons)
        stored = {
            "test": row.test,
            "values": row.values,
            "unit": row.unit,
            "method": row.method,
            "instrument": row.instrument,
            "reagent_lots": row.reagent_lots,
            "analyst": row.analyst,
            "tested_at": as_utc(row.tested_at),
            "assay_valid": row.assay_valid,
            "verdict": row.verdict,
            "reasons": sorted(row.reasons) if reasons is not None else None,
            "supersedes": row.supersedes_id,
            "supersedes an earlier result of its test": True,
            "reason": row.reason,
            "entered_by": row.entered_by,
        }
        signed = {
            "test": request.result.test,
            "values": dict(request.result.values),
            "unit": request.result.unit,
            "method": request.method,
            "instrument": request.instrument,
            "reagent_lots": list(request.reagent_lots),
            "analyst": request.analyst,
            "tested_at": request.tested_at,
            "assay_valid": request.result.assay_valid,
            "verdict": verdict,
            "reasons": reasons,
            "supersedes": request.supersedes,
            "supersedes an earlier result of its test": request.supersedes is None
            or (
                target is not None
                and target.test == request.result.test
                and target.log_index < proven.entry.index
            ),
            "reason": request.reason,
            "entered_by": proven.who,
        }
        return stored, signed

    return _rows_against(
        results,
        entries,
        table="qc_results",
        types=("qc.result.entered",),
        made=made,
        evidence=evidence,
    )


def check_reviews(
    evidence: LogEvidence,
    reviews: Sequence[QcReview],
    results: Mapping[int, QcResult],
    entries: BatchEntries,
) -> list[ProofFinding]:
    def made(proven: Proven, row: QcReview) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        request = ReviewEntry.from_what(proven.entry.what)
        reviewed = results.get(row.result_id)
        return (
            {
                "result": row.result_id,
                "decision": row.decision,
                "comment": row.comment,
                "reviewer": row.reviewer,
                "after the result": True,
            },
            {
                "result": request.result,
                "decision": request.decision.value,
                "comment": request.comment,
                "reviewer": proven.who,
                "after the result": reviewed is not None
                and reviewed.log_index < proven.entry.index,
            },
        )

    return _rows_against(
        reviews,
        entries,
        table="qc_reviews",
        types=("qc.result.reviewed",),
        made=made,
        evidence=evidence,
    )


def check_oos(
    evidence: LogEvidence,
    decisions: Sequence[OosDecision],
    results: Mapping[int, QcResult],
    entries: BatchEntries,
) -> list[ProofFinding]:
    def made(proven: Proven, row: OosDecision) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        request = OosConclusion.from_what(proven.entry.what)
        concluded = results.get(row.result_id)
        return (
            {
                "result": row.result_id,
                "conclusion": row.conclusion,
                "reason": row.reason,
                "decided_by": row.decided_by,
                "on an earlier failed result": True,
            },
            {
                "result": request.result,
                "conclusion": request.conclusion.value,
                "reason": request.reason,
                "decided_by": proven.who,
                "on an earlier failed result": concluded is not None
                and concluded.verdict == "fail"
                and concluded.log_index < proven.entry.index,
            },
        )

    return _rows_against(
        decisions,
        entries,
        table="oos_decisions",
        types=("oos.concluded",),
        made=made,
        evidence=evidence,
    )


def check_deviations(
    evidence: LogEvidence,
    deviations: Sequence[Deviation],
    events: Sequence[DeviationEvent],
    entries: BatchEntries,
) -> list[ProofFinding]:
    def recorded(proven: Proven, row: Deviation) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        request = DeviationRecord.from_what(proven.entry.what)
        return (
            {
                "title": row.title,
                "description": row.description,
                "severity": row.severity,
                "recorded_by": row.recorded_by,
            },
            {
                "title": request.title,
                "description": request.description,
                "severity": request.severity.value,
                "recorded_by": proven.who,
            },
        )

    deviation_rows = {d.id: d for d in deviations}

    def changed(proven: Proven, row: DeviationEvent) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        kind = proven.entry.type.removeprefix("deviation.")
        what = proven.entry.what
        if kind == "assigned":
            assignment = Assignment.from_what(what)
            deviation, assignee, conclusion = assignment.deviation, assignment.assignee, None
        else:
            closure = Closure.from_what(what)
            deviation, assignee, conclusion = closure.deviation, None, closure.conclusion
        return (
            {
                "deviation": row.deviation_id,
                "kind": row.kind,
                "assignee": row.assignee,
                "conclusion": row.conclusion,
                "by": row.by,
                "after its deviation": True,
            },
            {
                "deviation": deviation,
                "kind": kind,
                "assignee": assignee,
                "conclusion": conclusion,
                "by": proven.who,
                "after its deviation": (
                    (earlier := deviation_rows.get(row.deviation_id)) is not None
                    and earlier.log_index < proven.entry.index
                ),
            },
        )

    return _rows_against(
        deviations,
        entries,
        table="deviations",
        types=("deviation.recorded",),
        made=recorded,
        evidence=evidence,
    ) + _rows_against(
        events,
        entries,
        table="deviation_events",
        types=("deviation.assigned", "deviation.closed"),
        made=changed,
        evidence=evidence,
    )


def check_dispositions(
    evidence: LogEvidence,
    dispositions: Sequence[Disposition],
    recall: Recall | None,
    results: Mapping[int, QcResult],
    entries: BatchEntries,
) -> list[ProofFinding]:
    def decided(proven: Proven, row: Disposition) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        request = DispositionRequest.from_what(proven.entry.what)
        return (
            {
                "decision": row.decision,
                "meaning": row.meaning,
                "justification": row.justification,
                "signer": row.signer,
            },
            {
                "decision": request.decision.value,
                "meaning": request.meaning,
                "justification": request.justification,
                "signer": proven.who,
            },
        )

    findings = _rows_against(
        dispositions,
        entries,
        table="dispositions",
        types=(DISPOSITION_DECIDED,),
        made=decided,
        evidence=evidence,
    )
    signed_recalls = entries.of("batch.recalled")
    if recall is None:
        findings += [
            ProofFinding("missing-row", "recall", p.index, "the signed recall has no recall row")
            for p in signed_recalls
        ]
        return findings
    found = evidence.prove(recall.log_index)
    if isinstance(found, Unproven):
        return [*findings, unproven(f"recalls #{recall.id}", found)]
    entry = found.entry
    if entry.type != "batch.recalled" or entry.subject != entries.subject:
        return [
            *findings,
            ProofFinding(
                "changed", f"recalls #{recall.id}", entry.index, f"its entry is a {entry.type}"
            ),
        ]
    cause = entry.what.get("cause")
    cause_row = results.get(recall.cause_result_id) if recall.cause_result_id else None
    findings += compare(
        f"recalls #{recall.id}",
        entry.index,
        {
            "cause": recall.cause_result_id,
            "cause entry": None if cause_row is None else cause_row.log_index,
            "notice": recall.notice,
        },
        {
            "cause": cause.get("result") if isinstance(cause, dict) else None,
            "cause entry": cause.get("log_index") if isinstance(cause, dict) else None,
            "notice": entry.what.get("vials"),
        },
    )
    return findings
