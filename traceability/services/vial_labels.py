"""Issuing and reissuing vial labels, reconciling them, and judging scanned tags.

A person asks for labels with one signed statement about the batch (`labels.issued`
or `labels.reissued`); the service then appends one entry per vial (`label.issued`,
signed with the service key) carrying the SHA-256 of the new tag, never the tag
itself, so the log can be exported without handing out valid labels. The tags live in
`label_issues`, from which labels are printed again at will.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from labels.digital_link import with_label_query
from labels.isbt128 import eye_readable
from labels.label_content import VialLabel
from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.label_tags import (
    FLAGGED,
    IssuedLabel,
    LabelRequest,
    Reconciliation,
    ReissueRequest,
    TagVerdict,
    new_tag,
    reconcile,
    tag_digest,
    tag_verdict,
)
from traceability.errors import ConflictError, InvalidInputError
from traceability.services import audit_trail, batch_records
from traceability.services.batch_records import vials_of
from traceability.services.qc_results import subject_of
from traceability.storage.models import Batch, LabelIssue, LabelScan, Product, User, Vial


def din_of(product: Product, batch: Batch, vial: Vial) -> str | None:
    """The vial's ISBT 128 DIN when its product has a facility number, else None.

    Facility number, the two-digit year of manufacture, and the vial's row id as the
    six-digit sequence: unique per facility and year while a site holds fewer than a
    million vials, and derivable again from the record.
    """
    if product.isbt128_facility is None:
        return None
    assert vial.id is not None  # noqa: S101 - stored
    return f"{product.isbt128_facility}{batch.manufactured_on:%y}{vial.id % 1_000_000:06d}"


def _view(row: LabelIssue) -> IssuedLabel:
    assert row.id is not None  # noqa: S101 - stored
    return IssuedLabel(row.id, row.vial_id, row.replaces_id, row.reason)


def labels_of(session: Session, vials: Sequence[Vial]) -> Sequence[LabelIssue]:
    ids = [v.id for v in vials]
    return session.exec(
        select(LabelIssue).where(col(LabelIssue.vial_id).in_(ids)).order_by(col(LabelIssue.id))
    ).all()


def current_labels(session: Session, vials: Sequence[Vial]) -> dict[int, LabelIssue]:
    """Each labelled vial's current label, by vial id."""
    rows = labels_of(session, vials)
    replaced = {r.replaces_id for r in rows if r.replaces_id is not None}
    return {r.vial_id: r for r in rows if r.id not in replaced}


def _product(session: Session, batch: Batch) -> Product:
    product = session.get(Product, batch.product_id)
    assert product is not None  # noqa: S101 - a foreign key
    return product


def _vials_named(vials: Sequence[Vial], serials: Sequence[str], lot: str) -> list[Vial]:
    by_serial = {v.serial: v for v in vials}
    unknown = [s for s in serials if s not in by_serial]
    if unknown:
        raise InvalidInputError(
            f"batch {lot} has no vial {', '.join(unknown[:5])}", field="statement.what.serials"
        )
    return [by_serial[s] for s in serials]


def _append_label(
    session: Session,
    log: CustodyLog,
    *,
    batch: Batch,
    vial: Vial,
    request_index: int,
    user: User,
    now: datetime,
    replaces: LabelIssue | None,
    reason: str | None,
) -> LabelIssue:
    tag = new_tag()
    what: dict[str, object] = {"request_entry": request_index, "tag_sha256": tag_digest(tag)}
    din = din_of(_product(session, batch), batch, vial)
    if din is not None:
        what["din"] = din
    if replaces is not None:
        what["voids_tag_sha256"] = tag_digest(replaces.tag)
        what["reason"] = reason
    appended = log.append_as_service(
        session,
        subject=vial.uri,
        type="label.issued",
        now=now,
        what=what,
        why={"bizStep": "encoding", "disposition": "encoded"},
    )
    assert vial.id is not None  # noqa: S101 - stored
    row = LabelIssue(
        vial_id=vial.id,
        tag=tag,
        replaces_id=replaces.id if replaces else None,
        reason=reason,
        issued_by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(row)
    return row


def issue(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> list[LabelIssue]:
    """First labels for the named vials, or every unlabelled one; a labelled one needs a reissue."""
    signed_requests.expect(
        signed, type="labels.issued", subject=subject_of(session, batch, resolver), user=user
    )
    batch_records.check_keeps_record(session, batch, user)
    request = LabelRequest.from_what(signed.statement.what)
    vials = vials_of(session, batch)
    current = current_labels(session, vials)
    if request.serials is None:
        chosen = [v for v in vials if v.id not in current]
        if not chosen:
            raise ConflictError(f"every vial of {batch.lot} has a label; reissue with a reason")
    else:
        chosen = _vials_named(vials, request.serials, batch.lot)
        labelled = [v.serial for v in chosen if v.id in current]
        if labelled:
            raise ConflictError(
                f"vial {', '.join(labelled[:5])} already has a label; reissue it with a reason"
            )
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    rows = [
        _append_label(
            session,
            log,
            batch=batch,
            vial=v,
            request_index=appended.index,
            user=user,
            now=now,
            replaces=None,
            reason=None,
        )
        for v in chosen
    ]
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="labels issued",
        record_type="batch",
        record_id=batch.lot,
        changes=diff(None, {"labels": len(rows), "log_index": appended.index}),
    )
    return rows


def reissue(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> list[LabelIssue]:
    """New labels for the named vials; each one's current label becomes void, with the reason."""
    signed_requests.expect(
        signed, type="labels.reissued", subject=subject_of(session, batch, resolver), user=user
    )
    batch_records.check_keeps_record(session, batch, user)
    request = ReissueRequest.from_what(signed.statement.what)
    vials = vials_of(session, batch)
    chosen = _vials_named(vials, request.serials, batch.lot)
    current = current_labels(session, vials)
    unlabelled = [v.serial for v in chosen if v.id not in current]
    if unlabelled:
        raise ConflictError(f"vial {', '.join(unlabelled[:5])} has no label yet; issue one first")
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    rows = []
    for vial in chosen:
        assert vial.id is not None  # noqa: S101 - stored
        rows.append(
            _append_label(
                session,
                log,
                batch=batch,
                vial=vial,
                request_index=appended.index,
                user=user,
                now=now,
                replaces=current[vial.id],
                reason=request.reason,
            )
        )
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="labels reissued",
        record_type="batch",
        record_id=batch.lot,
        changes=diff(None, {"serials": list(request.serials), "log_index": appended.index}),
        reason=request.reason,
    )
    return rows


def reconciliation(session: Session, batch: Batch) -> Reconciliation:
    vials = vials_of(session, batch)
    rows = labels_of(session, vials)
    ids = [r.id for r in rows]
    scanned = set(
        session.exec(
            select(LabelScan.label_id)
            .where(col(LabelScan.label_id).in_(ids))
            .where(LabelScan.verdict == TagVerdict.valid.value)
        ).all()
    )
    return reconcile(
        {v.id: v.serial for v in vials if v.id is not None},
        [_view(r) for r in rows],
        {i for i in scanned if i is not None},
    )


@dataclass(frozen=True)
class Printable:
    """What one vial's label shows: its QR payload and the text beside it."""

    vial: Vial
    label: LabelIssue
    uri: str
    din: str | None


def printable(session: Session, batch: Batch, resolver: str) -> list[Printable]:
    """Every vial's current label, in serial order; ConflictError if none was issued yet."""
    product = _product(session, batch)
    vials = vials_of(session, batch)
    current = current_labels(session, vials)
    if not current:
        raise ConflictError(f"no labels were issued for {batch.lot} yet; issue them first")
    out = []
    for vial in sorted(vials, key=lambda v: v.serial):
        label = current.get(vial.id or 0)
        if label is None:
            continue
        din = din_of(product, batch, vial)
        out.append(
            Printable(
                vial=vial,
                label=label,
                uri=with_label_query(vial.uri, expiry=batch.expires_on, tag=label.tag),
                din=eye_readable(din) if din else None,
            )
        )
    return out


@dataclass(frozen=True)
class IssuedNow:
    """A label just issued or reissued, as the caller who asked for it is told."""

    serial: str
    uri: str
    log_index: int
    reissue: bool


def issued_now(
    session: Session, batch: Batch, rows: Sequence[LabelIssue], resolver: str
) -> list[IssuedNow]:
    """What `issue` or `reissue` just wrote, with each label's QR payload (flushed first,
    so that the new labels are the batch's current ones)."""
    session.flush()
    printed = {p.label.id: p for p in printable(session, batch, resolver)}
    return [
        IssuedNow(
            serial=printed[r.id].vial.serial,
            uri=printed[r.id].uri,
            log_index=r.log_index,
            reissue=r.replaces_id is not None,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ScanJudgement:
    verdict: TagVerdict
    label_id: int | None
    keep: bool
    """Worth a `label_scans` row: the label's first valid scan, or any flagged one."""


def vial_label_contents(session: Session, batch: Batch, resolver: str) -> list[VialLabel]:
    """What each vial's current label shows, for the labels package to draw."""
    product = _product(session, batch)
    return [
        VialLabel(
            uri=p.uri,
            product=product.name,
            lot=batch.lot,
            serial=p.vial.serial,
            expiry=batch.expires_on,
            storage=product.storage_condition,
            din=p.din,
        )
        for p in printable(session, batch, resolver)
    ]


PROCESSING_DESCRIPTIONS = {
    "advanced-therapy": "more than minimally manipulated; for use under authorization only",
    "minimally-manipulated": "minimally manipulated (21 CFR 1271.10)",
}


def judge_scan(session: Session, vial: Vial, tag: str | None) -> ScanJudgement:
    """The verdict on a tag scanned with this vial's URI. Reads only."""
    row = (
        session.exec(select(LabelIssue).where(LabelIssue.tag == tag)).first()
        if tag is not None and len(tag) <= 32
        else None
    )
    voided = (
        row is not None
        and session.exec(select(LabelIssue.id).where(LabelIssue.replaces_id == row.id)).first()
        is not None
    )
    assert vial.id is not None  # noqa: S101 - stored
    verdict = tag_verdict(tag, vial_id=vial.id, label=_view(row) if row else None, voided=voided)
    first = (
        verdict is TagVerdict.valid
        and row is not None
        and session.exec(
            select(LabelScan.id)
            .where(LabelScan.label_id == row.id)
            .where(LabelScan.verdict == TagVerdict.valid.value)
        ).first()
        is None
    )
    return ScanJudgement(verdict, row.id if row else None, first or verdict in FLAGGED)


def keep_scan(
    session: Session,
    vial: Vial,
    tag: str | None,
    judgement: ScanJudgement,
    *,
    by: str | None,
    now: datetime,
) -> None:
    assert vial.id is not None  # noqa: S101 - stored
    session.add(
        LabelScan(
            vial_id=vial.id,
            label_id=judgement.label_id,
            tag=tag[:64] if tag else None,
            verdict=judgement.verdict.value,
            by=by,
            created_at=now,
        )
    )


def flagged_scans(session: Session, vial: Vial) -> Sequence[LabelScan]:
    return session.exec(
        select(LabelScan)
        .where(LabelScan.vial_id == vial.id)
        .where(LabelScan.verdict != TagVerdict.valid.value)
        .order_by(col(LabelScan.id))
    ).all()


def expiry_on_label_matches(label_expiry: str | None, expires_on: date) -> bool | None:
    """Whether the `17=YYMMDD` the label carried is the batch's expiry (None: not given)."""
    if label_expiry is None:
        return None
    return label_expiry == f"{expires_on:%y%m%d}"
