"""Printed documents: the release certificate and the recall notice (reportlab).

A certificate is only worth what a reader can check. Besides the batch's results,
reviewers, custody and excursions, and the decision with its signature manifestation
(21 CFR 11.50), it prints the decision's exact log entry, a signed checkpoint and the
RFC 9162 inclusion proof of the entry under it: with the log's public key and the
`audit` package anyone can verify that the decision is in the log unchanged.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    Preformatted,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from sqlmodel import Session

from audit.bundle import Report, event_name
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.evidence import LogEvidence
from traceability.custody_log.tree import StoredTree
from traceability.custody_log.witnessing import cosigned_note
from traceability.domain.disposition import RELEASES, Decision
from traceability.errors import ConflictError, NotFoundError
from traceability.services import cold_chain, release
from traceability.services import document_tables as tables
from traceability.services.batch_records import vials_of
from traceability.services.proof.batch import require_proven
from traceability.storage.models import (
    Batch,
    Disposition,
    Excursion,
    LogEntryRow,
    Product,
    SpecificationVersion,
)

STYLES = getSampleStyleSheet()
BODY = STYLES["BodyText"]
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
MONO = ParagraphStyle("mono", parent=BODY, fontName="Courier", fontSize=7, leading=8.5)
GRID = TableStyle(
    [
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.93, 0.95)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


@dataclass(frozen=True)
class DecisionProof:
    """What a reader needs to verify the decision entry with the `audit` package."""

    index: int
    entry: bytes
    checkpoint: str
    size: int
    root_hash: str
    proof: tuple[str, ...]


def decision_proof(
    session: Session, log: CustodyLog, row: Disposition, now: datetime
) -> DecisionProof:
    checkpoint = log.issue_checkpoint(session, now=now)
    entry = session.get(LogEntryRow, row.log_index)
    assert entry is not None  # noqa: S101 - the decision's own entry
    tree = StoredTree(session)
    return DecisionProof(
        index=row.log_index,
        entry=bytes(entry.entry),
        checkpoint=cosigned_note(session, checkpoint),
        size=checkpoint.size,
        root_hash=bytes(checkpoint.root_hash).hex(),
        proof=tuple(h.hex() for h in tree.inclusion_proof(row.log_index, checkpoint.size)),
    )


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: Sequence[Sequence[str]], widths: Sequence[float]) -> Table:
    data = [[_p(str(cell), SMALL) for cell in row] for row in rows]
    table = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(GRID)
    return table


def _build(title: str, story: list[object]) -> bytes:
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    document.build(story)
    return buffer.getvalue()


def _investigations(rows: list[list[str]]) -> list[object]:
    story: list[object] = [_p("Deviations and OOS investigations", STYLES["Heading2"])]
    if len(rows) == 1:
        return [*story, _p("None recorded.")]
    return [*story, _table(rows, (15, 60, 30, 75))]


def release_certificate(
    session: Session,
    log: CustodyLog,
    batch: Batch,
    *,
    log_key: str,
    now: datetime,
    alarms: Sequence[str] = (),
) -> bytes:
    """The certificate of the batch's latest release decision, as things stood then.

    Results, reviews, custody and excursions are shown as of the decision's signing, so
    printing it again later gives the same certificate (only the checkpoint may be newer).
    """
    decisions = [
        d for d in release.dispositions_of(session, batch) if Decision(d.decision) in RELEASES
    ]
    if not decisions:
        raise ConflictError(f"batch {batch.lot} has no release decision to certify")
    decision = decisions[-1]
    note = log.issue_checkpoint(session, now=now).note
    require_proven(
        session,
        LogEvidence(session, log.keys.log.verifier(), note=note),
        batch,
        what="release certificate",
        alarms=alarms,
    )
    proof = decision_proof(session, log, decision, now)
    product = session.get(Product, batch.product_id)
    version = session.get(SpecificationVersion, batch.specification_version_id)
    assert product is not None and version is not None  # noqa: S101 - foreign keys
    touched = {
        e.id: e
        for v in vials_of(session, batch)
        for e in cold_chain.excursions_for_vial(session, v)
        if e.created_at <= decision.signed_at
    }
    story: list[object] = [
        _p(f"Release certificate: batch {batch.lot}", STYLES["Title"]),
        _p(
            f"{product.name} ({product.code}, GTIN {product.gtin}), specification version "
            f"{version.version}. Donor code {batch.donor_code}; {batch.processing_class}; made "
            f"{batch.manufactured_on.isoformat()}, expires {batch.expires_on.isoformat()}."
        ),
        Spacer(1, 4 * mm),
        _p("Decision", STYLES["Heading2"]),
        _p(f"{decision.decision.capitalize()}. {release.manifestation(decision).line()}."),
    ]
    if decision.justification:
        story.append(_p(f"Justification: {decision.justification}"))
    story += [
        _p(
            f"The decision is entry {decision.log_index} of the custody log, signed by "
            f"{decision.signer}'s own key.",
            SMALL,
        ),
        _p("Quality control", STYLES["Heading2"]),
        _table(tables.qc_rows(session, batch, decision.signed_at), (10, 32, 45, 18, 35, 40)),
        *_investigations(tables.investigation_rows(session, batch, decision.signed_at)),
        _p("Custody at the time of the decision", STYLES["Heading2"]),
        _table(tables.custody_rows(session, batch, decision.signed_at), (20, 30, 45, 25, 30)),
        _p("Temperature excursions", STYLES["Heading2"]),
        _p(
            "None recorded."
            if not touched
            else "; ".join(
                f"#{e.id} {e.kind} the limit from {e.start_at:%Y-%m-%d %H:%M} UTC "
                f"({'closed' if _closed_by(session, e, decision.signed_at) else 'OPEN'})"
                for e in touched.values()
            )
        ),
        KeepTogether(
            [
                _p("Verify this decision yourself", STYLES["Heading2"]),
                _p(
                    "With the log's public key and the audit package: the decision entry's "
                    "leaf hash is SHA-256(0x00 || entry); its RFC 9162 inclusion proof "
                    "against the signed checkpoint below must lead to the checkpoint's root.",
                    SMALL,
                ),
                _p(f"Log key: {log_key}", MONO),
                _p(f"Entry index {proof.index} in a tree of size {proof.size}.", MONO),
                _p(f"Root hash: {proof.root_hash}", MONO),
                _p("Inclusion proof (one hash per line):", MONO),
                Preformatted("\n".join(proof.proof) or "(empty: the tree has one entry)", MONO),
                _p("Checkpoint (C2SP signed note):", MONO),
                Preformatted(proof.checkpoint.rstrip("\n"), MONO),
                _p("Entry (RFC 8785 JSON bytes, base64; join the lines, then decode):", MONO),
                Preformatted(_wrap(base64.b64encode(proof.entry).decode("ascii"), 100), MONO),
            ]
        ),
    ]
    return _build(f"Release certificate {batch.lot}", story)


def _closed_by(session: Session, excursion: Excursion, moment: datetime) -> bool:
    closure = cold_chain.closure_of(session, excursion)
    return closure is not None and closure.created_at <= moment


def _wrap(text: str, width: int) -> str:
    """Hard-wrap at `width` characters; a reader joins the lines without adding anything."""
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def recall_notice(session: Session, batch: Batch) -> bytes:
    recall = release.recall_of(session, batch)
    if recall is None:
        raise NotFoundError(f"batch {batch.lot} was not recalled")
    product = session.get(Product, batch.product_id)
    assert product is not None  # noqa: S101 - a foreign key
    rows = [["Vial", "State", "Held by", "Site", "Administered"]]
    for line in recall.notice:
        rows.append(
            [
                str(line["serial"]),
                str(line["state"]),
                str(line["custodian"] or ""),
                str(line["site"] or ""),
                "YES" if line["administered"] else "no",
            ]
        )
    story: list[object] = [
        _p(f"Recall notice: batch {batch.lot}", STYLES["Title"]),
        _p(f"{product.name} ({product.code}), lot {batch.lot}."),
        _p(
            f"Recalled {recall.created_at:%Y-%m-%d %H:%M} UTC: {recall.reason}. Do not administer "
            "any vial of this batch; hold every vial in storage and contact the issuing site. "
            "For each administered vial, inform the treating physician."
        ),
        _p(f"Custody log entry {recall.log_index} records this recall.", SMALL),
        Spacer(1, 4 * mm),
        _table(rows, (25, 35, 50, 30, 30)),
    ]
    return _build(f"Recall notice {batch.lot}", story)


def _verification_story(report: Report, log_key: str) -> list[object]:
    state = "verifies" if report.ok else f"DOES NOT VERIFY: {len(report.findings)} finding(s)"
    story: list[object] = [
        _p("Verification", STYLES["Heading2"]),
        _p(
            f"The audit bundle of this batch ({report.entries} log entries with their "
            f"inclusion proofs, the signers' key registrations and a signed checkpoint) "
            f"was checked with the standalone audit package: it {state}."
        ),
        _p(f"Log key: {log_key}", MONO),
        _p(
            f"Checkpoint: {report.origin}, size {report.checkpoint_size}, signature "
            f"{'verified' if report.checkpoint_verified else 'NOT verified'}.",
            MONO,
        ),
        _p(f"Root hash: {report.root_hash}", MONO),
    ]
    if report.findings:
        rows = [["Entry", "Finding", "Detail"]]
        rows += [
            ["" if f.index is None else str(f.index), f.kind, f.detail] for f in report.findings
        ]
        story.append(_table(rows, (15, 30, 135)))
    return story


def _timeline_story(report: Report) -> list[object]:
    story: list[object] = [_p("Custody timeline", STYLES["Heading2"])]
    if not report.vials:
        story.append(_p("No vials."))
    for vial in report.vials:
        rows = [["#", "When (UTC)", "Event", "Who", "Where", "Temperatures"]]
        rows += [
            [
                f"{e.index}{'' if e.verified else ' (!)'}",
                e.when.replace("T", " ").rstrip("Z")[:19],
                event_name(e.type),
                e.who,
                e.where,
                e.temperatures,
            ]
            for e in vial.events
        ]
        story += [
            _p(f"Vial {vial.serial}", STYLES["Heading3"]),
            _table(rows, (12, 28, 30, 35, 45, 30)),
        ]
    return story


def inspection_report(session: Session, batch: Batch, report: Report, *, log_key: str) -> bytes:
    """The inspector's report of a batch: what the verified bundle shows, beside the record.

    The timeline comes from the verified log entries; the QC table, the signature
    manifestations and the excursions from the batch record, each with the log entry
    that binds it.
    """
    product = session.get(Product, batch.product_id)
    assert product is not None  # noqa: S101 - a foreign key
    flagged = {f.index for f in report.findings}
    decisions = [["Entry", "Decision", "Manifestation (21 CFR 11.50)", "Log signature"]]
    for d in release.dispositions_of(session, batch):
        decisions.append(
            [
                str(d.log_index),
                d.decision,
                release.manifestation(d).line(),
                "verified"
                if any(x.index == d.log_index and x.verified for x in report.dispositions)
                else ("DOES NOT VERIFY" if d.log_index in flagged else "not in the bundle"),
            ]
        )
    excursions = [["#", "Kind", "From (UTC)", "Peak", "Limit", "Vials", "State"]]
    seen: dict[int, list[str]] = {}
    rows_by_id = {}
    for vial in vials_of(session, batch):
        for e in cold_chain.excursions_for_vial(session, vial):
            assert e.id is not None  # noqa: S101 - stored
            seen.setdefault(e.id, []).append(vial.serial)
            rows_by_id[e.id] = e
    for eid, e in rows_by_id.items():
        excursions.append(
            [
                str(eid),
                e.kind,
                f"{e.start_at:%Y-%m-%d %H:%M}",
                f"{e.peak_celsius} °C",
                e.limit,
                ", ".join(seen[eid]),
                "closed" if cold_chain.closure_of(session, e) else "OPEN",
            ]
        )
    story: list[object] = [
        _p(f"Inspector's report: batch {batch.lot}", STYLES["Title"]),
        _p(
            f"{product.name} ({product.code}, GTIN {product.gtin}). Donor code "
            f"{batch.donor_code}; made {batch.manufactured_on.isoformat()}, expires "
            f"{batch.expires_on.isoformat()}; state {batch.state}."
        ),
        *_verification_story(report, log_key),
        *_timeline_story(report),
        _p("Quality control", STYLES["Heading2"]),
        _table(tables.qc_rows(session, batch), (10, 32, 45, 18, 35, 40)),
        *_investigations(tables.investigation_rows(session, batch)),
        _p("Signature manifestations", STYLES["Heading2"]),
        _table(decisions, (15, 25, 105, 35)) if len(decisions) > 1 else _p("No decision yet."),
        _p("Temperature excursions", STYLES["Heading2"]),
        _table(excursions, (10, 15, 30, 20, 30, 45, 20))
        if len(excursions) > 1
        else _p("None recorded."),
    ]
    return _build(f"Inspector's report {batch.lot}", story)
