"""Reconcile: every table that projects the log, compared with the whole log.

Three passes, each a finding list an auditor or QA can act on:

1. `verify-log` over the whole stored log (entries, signatures and the key rule,
   chains, checkpoint roots): the rest trusts the entries only once this is clean;
2. table by table, every entry of the types that make a row has its row and every row
   is bound to an entry of those types (`missing-row`, `extra-row`, `missing-entry`),
   and each key row holds the public key and user its registration entry says;
3. every batch checked as its release would be (`proof.batch.check_batch`): each row
   compared with the row its entry makes (`changed`).

It runs from `traceability audit reconcile`, the QA page and the scheduled self-check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlmodel import Session, col, select

from audit.entry import KEY_REGISTERED, parse_entry, parse_key_registration
from audit.errors import AuditError
from audit.note import Verifier
from traceability.custody_log.evidence import LogEvidence, Unproven
from traceability.custody_log.verify_log import verify_log
from traceability.domain.statement_kinds import (
    DISPOSITION_DECIDED,
    EXCURSION_DETECTED,
    spellings,
)
from traceability.services.proof.batch import check_batch
from traceability.services.proof.custody import ACCEPTED, STEP_OF_TYPE
from traceability.services.proof.findings import ProofFinding
from traceability.storage.database import Database
from traceability.storage.models import ActorKey, Batch, LogEntryRow, User


@dataclass(frozen=True)
class Projection:
    """A table whose rows the log's entries of `types` make, one row per entry."""

    table: str
    column: str
    types: tuple[str, ...]
    """Every spelling found in logs (`statement_kinds.spellings`): old names make rows too."""
    vials_only: bool = False
    """Only entries about a vial make a row (a shipper's step puts one on each vial)."""


PROJECTIONS: tuple[Projection, ...] = (
    Projection("batches", "log_index", ("batch.registered",)),
    Projection("vials", "log_index", ("vial.commissioned",)),
    Projection(
        "specification_versions", "log_index", ("product.registered", "spec.version.created")
    ),
    Projection("qc_results", "log_index", ("qc.result.entered",)),
    Projection("qc_reviews", "log_index", ("qc.result.reviewed",)),
    Projection("oos_decisions", "log_index", ("oos.concluded",)),
    Projection("deviations", "log_index", ("deviation.recorded",)),
    Projection("deviation_events", "log_index", ("deviation.assigned", "deviation.closed")),
    Projection("dispositions", "log_index", spellings(DISPOSITION_DECIDED)),
    Projection("recalls", "log_index", ("batch.recalled",)),
    Projection("label_issues", "log_index", ("label.issued",)),
    Projection("shippers", "log_index", ("shipper.commissioned",)),
    Projection("handoffs", "log_index", ("custody.handover.offered",)),
    Projection("handoff_acceptances", "log_index", (ACCEPTED,)),
    Projection("custody_events", "log_index", (*STEP_OF_TYPE, ACCEPTED), vials_only=True),
    Projection("temperature_uploads", "log_index", ("coldchain.readings.uploaded",)),
    Projection("excursion_vials", "log_index", spellings(EXCURSION_DETECTED)),
    Projection("excursion_closures", "log_index", ("coldchain.excursion.closed",)),
    Projection("actor_keys", "registered_index", ("key.registered",)),
    Projection("key_revocations", "revoked_index", ("key.revoked",)),
)
"""Every table bound to the log entry by entry. (`excursions` share their upload's entry,
and are checked through the vials they name; `request_nonces` and `esignatures` record
how a request was made, not what it says.)"""

VIAL_SUBJECT = "%/21/%"
"""A vial's Digital Link URI has a serial (AI 21); a shipper's has an SSCC (AI 00)."""


@dataclass
class ReconcileReport:
    """What reconcile found; `ok` iff nothing."""

    entries: int = 0
    checkpoints: int = 0
    batches: int = 0
    findings: list[ProofFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


def _entries_of(session: Session, projection: Projection, size: int) -> set[int]:
    statement = select(LogEntryRow.idx).where(
        col(LogEntryRow.entry_type).in_(projection.types), col(LogEntryRow.idx) < size
    )
    if projection.vials_only:
        statement = statement.where(col(LogEntryRow.subject).like(VIAL_SUBJECT))
    return {int(i) for i in session.exec(statement).all()}


def _rows_of(session: Session, projection: Projection, size: int) -> list[tuple[str, int]]:
    key = "key_id" if projection.table in ("actor_keys", "key_revocations") else "id"
    rows = session.exec(  # type: ignore[call-overload]
        text(
            f"SELECT {key}, {projection.column} FROM {projection.table} "  # noqa: S608 - names from PROJECTIONS
            f"WHERE {projection.column} < :size"
        ),
        params={"size": size},
    ).all()
    return [(str(row[0]), int(row[1])) for row in rows]


def check_tables(session: Session, size: int) -> list[ProofFinding]:
    """Pass 2: each projection's rows against its entries, one to one, below `size` (the
    checkpoint's): a row and its entry commit together, so what lies below was written
    before the checkpoint and reads the same in every statement, whatever commits
    meanwhile."""
    findings: list[ProofFinding] = []
    stored = {
        int(i) for i in session.exec(select(LogEntryRow.idx).where(LogEntryRow.idx < size)).all()
    }
    for projection in PROJECTIONS:
        entries = _entries_of(session, projection, size)
        seen: dict[int, str] = {}
        for row_id, index in _rows_of(session, projection, size):
            record = f"{projection.table} #{row_id}"
            if index in seen:
                findings.append(
                    ProofFinding(
                        "extra-row", record, index, f"a second row for one entry (#{seen[index]})"
                    )
                )
            elif index not in stored:
                findings.append(
                    ProofFinding("missing-entry", record, index, "no entry is stored at this index")
                )
            elif index not in entries:
                findings.append(
                    ProofFinding(
                        "extra-row",
                        record,
                        index,
                        f"the entry at this index is not a {' or '.join(projection.types[:3])}",
                    )
                )
            seen.setdefault(index, row_id)
        for index in sorted(entries - set(seen)):
            findings.append(
                ProofFinding(
                    "missing-row",
                    projection.table,
                    index,
                    "the signed entry has no row in this table",
                )
            )
    return findings + _check_keys(session)


def _check_keys(session: Session) -> list[ProofFinding]:
    """Each key row holds the public key, user and index of its registration entry."""
    findings: list[ProofFinding] = []
    users = {u.id: u.username for u in session.exec(select(User)).all()}
    entries = {
        row.subject: row
        for row in session.exec(
            select(LogEntryRow).where(LogEntryRow.entry_type == KEY_REGISTERED)
        ).all()
    }
    for key in session.exec(select(ActorKey)).all():
        record = f"actor_keys {key.key_id}"
        row = entries.get(f"urn:trace:key:{key.key_id}")
        if row is None:
            continue  # pass 2 names it
        try:
            registration = parse_key_registration(parse_entry(bytes(row.entry)))
        except AuditError as e:
            findings.append(ProofFinding("changed", record, row.idx, f"the entry: {e}"))
            continue
        stored = (bytes(key.public_key), users.get(key.user_id), key.registered_index)
        signed = (registration.public_key, registration.user, registration.index)
        if stored != signed:
            findings.append(
                ProofFinding(
                    "changed",
                    record,
                    row.idx,
                    "the key row's public key, user or index is not its registration's",
                )
            )
    return findings


def reconcile(
    db: Database,
    log_key: Verifier,
    *,
    note: str | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReconcileReport:
    """Every table against the whole log, the batches proven against `note` (the latest
    checkpoint, from `evidence.ensure_covering`; else the latest stored). An entry the
    checkpoint does not cover yet (appended while this runs) is left for the next run:
    pass 1 has checked its signature and chain already."""
    say = progress or (lambda _: None)
    report = ReconcileReport()
    say("verifying the log")
    verified = verify_log(db, log_key, workers=workers)
    report.entries, report.checkpoints = verified.entries, verified.checkpoints
    report.findings += [ProofFinding(f.kind, "log", f.index, f.detail) for f in verified.findings]
    with db.read() as session:
        evidence = LogEvidence(session, log_key, note=note)
        checkpoint = evidence.checkpoint
        if isinstance(checkpoint, Unproven):
            report.findings.append(ProofFinding(checkpoint.kind, "log", None, checkpoint.detail))
            return report
        size = checkpoint.size
        say("comparing tables with entries")
        report.findings += check_tables(session, size)
        batches = session.exec(select(Batch).order_by(col(Batch.id))).all()
        for n, batch in enumerate(batches, 1):
            say(f"batch {batch.lot} ({n} of {len(batches)})")
            # Whatever was appended after the checkpoint is for the next run.
            report.findings += [
                f
                for f in check_batch(session, evidence, batch).findings
                if f.kind != "uncovered" and (f.index is None or f.index < size)
            ]
        report.batches = len(batches)
    return report
