"""Everything one batch's decisions and pages rest on, checked against the log.

`check_batch` proves every entry about the batch and its vials (signature bound to its
actor, included under the latest signed checkpoint, each subject's chain unbroken) and
compares every row the release gate, the certificate and the batch and vial pages read
with the entry that made it. It returns findings; an empty list is the only pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from audit.checkpoint import Checkpoint
from traceability.custody_log.evidence import LogEvidence, Proven, Unproven
from traceability.domain.qc_record import BatchState
from traceability.errors import UnprovenError
from traceability.services.proof.custody import (
    Names,
    check_closures,
    check_vial_custody,
    check_vial_excursions,
    check_vial_labels,
    excursions_of,
)
from traceability.services.proof.findings import ProofFinding, unproven
from traceability.services.proof.record import (
    BatchEntries,
    check_batch_row,
    check_deviations,
    check_dispositions,
    check_oos,
    check_product,
    check_results,
    check_reviews,
    check_specification,
    check_vials,
    signed_decisions,
    signed_state,
)
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Deviation,
    DeviationEvent,
    Disposition,
    ExcursionVial,
    LabelIssue,
    LogEntryRow,
    OosDecision,
    QcResult,
    QcReview,
    Recall,
    Vial,
)


@dataclass(frozen=True)
class BatchProof:
    """The outcome of `check_batch`: the batch's facts are proven iff no findings."""

    lot: str
    checkpoint: Checkpoint | None
    """The signed tree head everything was proven under."""
    entries: int
    """How many entries about the batch and its vials were proven."""
    findings: list[ProofFinding] = field(default_factory=list)
    state: BatchState = BatchState.quarantine
    """The batch's state as its proven dispositions and recall leave it."""
    decisions: tuple[str, ...] = ()
    """Its proven dispositions' decisions, in order."""

    @property
    def ok(self) -> bool:
        return not self.findings

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


def _chain_findings(subject: str, chain: Sequence[Proven]) -> list[ProofFinding]:
    """The subject's entries, as stored, number 0, 1, 2... each linked to the one before."""
    findings: list[ProofFinding] = []
    previous: Proven | None = None
    for expected, proven in enumerate(chain):
        entry = proven.entry
        if entry.subject_seq != expected:
            findings.append(
                ProofFinding(
                    "subject-chain",
                    subject.rsplit("/", 1)[-1],
                    entry.index,
                    f"entry number {entry.subject_seq} where number {expected} belongs: "
                    "entries of this subject are missing",
                )
            )
            break
        if previous is not None and entry.subject_prev != previous.entry.leaf_hash:
            findings.append(
                ProofFinding(
                    "subject-chain",
                    subject.rsplit("/", 1)[-1],
                    entry.index,
                    f"does not follow entry {previous.index}",
                )
            )
        previous = proven
    return findings


def _subject_entries(
    session: Session, evidence: LogEvidence, subjects: Sequence[str]
) -> tuple[dict[str, list[Proven]], list[ProofFinding]]:
    """Every stored entry about `subjects`, proven, as each subject's chain."""
    rows = session.exec(
        select(LogEntryRow.idx, LogEntryRow.subject).where(col(LogEntryRow.subject).in_(subjects))
    ).all()
    proven = evidence.prove_many(int(idx) for idx, _ in rows)
    chains: dict[str, list[Proven]] = defaultdict(list)
    findings: list[ProofFinding] = []
    for idx, subject in rows:
        found = proven[int(idx)]
        if isinstance(found, Unproven):
            findings.append(unproven(f"entry about {subject.rsplit('/', 1)[-1]}", found))
        elif found.entry.subject != subject:
            findings.append(
                ProofFinding(
                    "changed",
                    f"entry about {subject.rsplit('/', 1)[-1]}",
                    found.index,
                    f"the stored subject column says {subject}, the entry {found.entry.subject}",
                )
            )
        else:
            chains[subject].append(found)
    for subject, chain in chains.items():
        chain.sort(key=lambda p: p.entry.subject_seq)
        findings += _chain_findings(subject, chain)
    return chains, findings


def _by_vial(rows: Sequence[CustodyEvent | LabelIssue | ExcursionVial]) -> dict[int, list]:  # type: ignore[type-arg]
    grouped: dict[int, list] = defaultdict(list)  # type: ignore[type-arg]
    for row in rows:
        grouped[row.vial_id].append(row)
    return grouped


def check_batch(session: Session, evidence: LogEvidence, batch: Batch) -> BatchProof:
    """Prove every fact about `batch` that a decision or a page reads."""
    checkpoint = evidence.checkpoint
    head = None if isinstance(checkpoint, Unproven) else checkpoint
    registration = evidence.prove(batch.log_index)
    subject = (
        registration.entry.subject
        if isinstance(registration, Proven)
        else session.exec(
            select(LogEntryRow.subject).where(LogEntryRow.idx == batch.log_index)
        ).first()
        or ""
    )
    vials = list(
        session.exec(select(Vial).where(Vial.batch_id == batch.id).order_by(col(Vial.id))).all()
    )
    chains, findings = _subject_entries(session, evidence, [subject, *(v.uri for v in vials)])
    by_type: dict[str, list[Proven]] = defaultdict(list)
    for proven in chains.get(subject, []):
        by_type[proven.entry.type].append(proven)
    entries = BatchEntries(subject, by_type)
    findings += check_batch_row(session, batch, registration, entries)
    specification, problems = check_specification(session, evidence, batch)
    findings += problems
    findings += check_product(session, evidence, batch)
    findings += check_vials(evidence, batch, vials, entries)

    results = session.exec(
        select(QcResult).where(QcResult.batch_id == batch.id).order_by(col(QcResult.id))
    ).all()
    result_ids = [r.id for r in results]
    reviews = session.exec(select(QcReview).where(col(QcReview.result_id).in_(result_ids))).all()
    decisions = session.exec(
        select(OosDecision).where(col(OosDecision.result_id).in_(result_ids))
    ).all()
    findings += check_results(evidence, results, entries, specification)
    findings += check_reviews(evidence, reviews, {r.id: r for r in results if r.id}, entries)
    by_id = {r.id: r for r in results if r.id is not None}
    findings += check_oos(evidence, decisions, by_id, entries)
    deviations = session.exec(select(Deviation).where(Deviation.batch_id == batch.id)).all()
    events = session.exec(
        select(DeviationEvent).where(
            col(DeviationEvent.deviation_id).in_([d.id for d in deviations])
        )
    ).all()
    findings += check_deviations(evidence, deviations, events, entries)
    dispositions = session.exec(select(Disposition).where(Disposition.batch_id == batch.id)).all()
    recall = session.exec(select(Recall).where(Recall.batch_id == batch.id)).first()
    findings += check_dispositions(evidence, dispositions, recall, by_id, entries)

    vial_ids = [v.id for v in vials]
    custody = session.exec(
        select(CustodyEvent).where(col(CustodyEvent.vial_id).in_(vial_ids))
    ).all()
    labels = session.exec(select(LabelIssue).where(col(LabelIssue.vial_id).in_(vial_ids))).all()
    marks = session.exec(
        select(ExcursionVial).where(col(ExcursionVial.vial_id).in_(vial_ids))
    ).all()
    names = Names.read(session, custody)
    excursions = excursions_of(session, marks)
    custody_of, labels_of, marks_of = _by_vial(custody), _by_vial(labels), _by_vial(marks)
    for vial in vials:
        chain = chains.get(vial.uri, [])
        assert vial.id is not None  # noqa: S101 - stored
        findings += check_vial_custody(
            session, evidence, vial, chain, custody_of.get(vial.id, []), names
        )
        findings += check_vial_labels(vial, chain, labels_of.get(vial.id, []), evidence)
        findings += check_vial_excursions(vial, chain, marks_of.get(vial.id, []), excursions)
    findings += check_closures(session, evidence, {m.excursion_id for m in marks})
    return BatchProof(
        lot=batch.lot,
        checkpoint=head,
        entries=sum(len(c) for c in chains.values()),
        findings=findings,
        state=signed_state(entries),
        decisions=signed_decisions(entries),
    )


def require_proven(
    session: Session,
    evidence: LogEvidence,
    batch: Batch,
    *,
    what: str,
    alarms: Sequence[str] = (),
) -> BatchProof:
    """UnprovenError (409, listing every finding) unless the log proves the batch's record
    and the last self-check found nothing (`alarms`): for what people rely on outside
    the service (a certificate, a notice, a report). Returns the proof (its state, say)."""
    if alarms:
        raise UnprovenError(
            f"the last self-check found the database disagreeing with the signed log, so no "
            f"{what} is issued until QA has found the cause",
            findings=list(alarms),
        )
    proof = check_batch(session, evidence, batch)
    if not proof.ok:
        raise UnprovenError(
            f"the record of batch {batch.lot} is not proven by the signed log "
            f"({len(proof.findings)} findings), so no {what} is issued: reconcile, and "
            "find the cause",
            findings=proof.lines(),
        )
    return proof
