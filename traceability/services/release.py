"""Release readiness, QA's e-signed disposition, and the recall a late sterility failure causes.

`readiness` gathers a batch's facts in one read and runs the release gate over them.
`decide` records QA's disposition: the gate must pass for a release (409 listing what
fails otherwise), the signer must not have entered or reviewed any of the batch's
results, and the decision is the QA user's own signed entry in the custody log, so it
cannot be separated from the record (21 CFR 11.70). The e-signature's password check
happens before, in `esignature.verify`, so a failed attempt is kept even though the
decision is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.evidence import LogEvidence
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.actor import SYSTEM, Actor
from traceability.domain.changes import diff
from traceability.domain.custody import CustodyState
from traceability.domain.deviations import is_open as deviation_is_open
from traceability.domain.disposition import (
    RELEASES,
    Decision,
    DispositionRequest,
    Manifestation,
    check_separation,
    check_transition,
)
from traceability.domain.qc_record import BatchState, OosState, record_status
from traceability.domain.release_gate import (
    RELEASE_GATE,
    BatchFacts,
    GateResult,
    unproven_result,
)
from traceability.domain.specifications import Verdict
from traceability.domain.statement_kinds import DISPOSITION_DECIDED
from traceability.errors import ConflictError
from traceability.services import (
    audit_trail,
    batch_records,
    cold_chain,
    notices,
    qc_results,
    vial_labels,
)
from traceability.services import deviations as deviation_service
from traceability.services.batch_records import specification_of, vials_of
from traceability.services.custody.positions import positions
from traceability.services.proof.batch import BatchProof, check_batch
from traceability.services.stored import stored
from traceability.storage.models import (
    Batch,
    Disposition,
    ESignature,
    QcResult,
    QcReview,
    Recall,
    Site,
    User,
)

STERILITY = "sterility"


def facts(
    session: Session,
    batch: Batch,
    *,
    today: date,
    conditional: bool,
    proof: BatchProof,
    alarms: Sequence[str] = (),
) -> BatchFacts:
    """The gate's facts from the batch's rows, with what `proof` found the log does not
    prove of them: any such finding fails the gate, whatever the rows say."""
    specification = specification_of(session, batch)
    views = qc_results.views(session, batch)
    vials = vials_of(session, batch)
    where = positions(session, [v.id for v in vials if v.id is not None])
    chain = [f.line() for f in proof.findings if f.kind == "subject-chain"]
    unproven = [f.line() for f in proof.findings if f.kind != "subject-chain"]
    reconciliation = vial_labels.reconciliation(session, batch)
    labels = [f"vial {serial}: no label issued" for serial in reconciliation.unlabelled]
    if reconciliation.unexplained_voids:
        labels.append(f"{reconciliation.unexplained_voids} voided labels without a reason")
    return BatchFacts(
        lot=batch.lot,
        expires_on=batch.expires_on,
        today=today,
        qc=record_status(specification, views),
        test_names={t.code: t.name for t in specification.tests},
        pending_allowed=frozenset({STERILITY}) if conditional else frozenset(),
        open_oos=[
            f"result #{v.id} ({v.test}) is out of specification, under investigation"
            for v in views
            if v.oos is OosState.open
        ],
        open_deviations=[
            f"deviation #{d.id}: {d.title}"
            for d in deviation_service.deviations_of(session, batch)
            if deviation_is_open(deviation_service.state(session, d))
        ],
        open_excursions=[
            f"excursion #{e.id}: {e.kind} the limit from {e.start_at:%Y-%m-%d %H:%M} UTC"
            for e in cold_chain.open_excursions_for_batch(session, batch)
        ],
        chain_problems=chain,
        unaccounted_vials=[
            f"vial {v.serial}: never put into storage"
            for v in vials
            if v.id is not None and where[v.id].state is CustodyState.commissioned
        ],
        label_problems=labels,
        unproven=unproven,
        log_alarms=list(alarms),
    )


def readiness(
    session: Session,
    batch: Batch,
    *,
    today: date,
    evidence: LogEvidence,
    conditional: bool = False,
    alarms: Sequence[str] = (),
) -> GateResult:
    """The release gate over the batch's facts, each proven against the log; `alarms`
    are the last self-check's findings (`proof.self_check`)."""
    proof = check_batch(session, evidence, batch)
    return gate(session, batch, today=today, proof=proof, conditional=conditional, alarms=alarms)


def gate(
    session: Session,
    batch: Batch,
    *,
    today: date,
    proof: BatchProof,
    conditional: bool = False,
    alarms: Sequence[str] = (),
) -> GateResult:
    """The release gate, for a caller that already proved the batch (`check_batch`)."""
    if not proof.ok:
        unproven = [f.line() for f in proof.findings]
        return unproven_result(unproven, alarms)
    return RELEASE_GATE.evaluate(
        facts(session, batch, today=today, conditional=conditional, proof=proof, alarms=alarms)
    )


def involved(session: Session, batch: Batch) -> set[str]:
    """Everyone who entered or reviewed a result of the batch."""
    entered = session.exec(select(QcResult.entered_by).where(QcResult.batch_id == batch.id)).all()
    reviewed = session.exec(
        select(QcReview.reviewer)
        .join(QcResult, col(QcResult.id) == col(QcReview.result_id))
        .where(QcResult.batch_id == batch.id)
    ).all()
    return set(entered) | set(reviewed)


def gate_refusal(result: GateResult) -> ConflictError:
    """The refusal names each failing check with its reasons; checks not evaluated (the
    record is not proven) are counted, not listed."""
    parts = [f"{c.title}: {'; '.join(c.reasons)}" for c in result.failing if c.evaluated]
    skipped = len(result.not_evaluated)
    if skipped:
        parts.append(f"{skipped} other checks not evaluated until the record is proven")
    return ConflictError("the release gate fails: " + " | ".join(parts))


def decide(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    esignature: ESignature,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
    alarms: Sequence[str] = (),
) -> Disposition:
    signed_requests.expect(
        signed,
        type=DISPOSITION_DECIDED,
        subject=qc_results.subject_of(session, batch, resolver),
        user=user,
    )
    batch_records.check_keeps_record(session, batch, user)
    request = DispositionRequest.from_what(signed.statement.what)
    before = stored(BatchState, batch.state, f"batch {batch.lot}")
    after = check_transition(request.decision, before)
    check_separation(request.decision, user.username, involved(session, batch))
    gate = None
    if request.decision in RELEASES:
        note = log.issue_checkpoint(session, now=now).note  # every entry so far provable
        gate = readiness(
            session,
            batch,
            today=now.date(),
            evidence=LogEvidence(session, log.keys.log.verifier(), note=note),
            conditional=request.decision is Decision.conditionally_released,
            alarms=alarms,
        )
        if not gate.passed:
            raise gate_refusal(gate)
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    esignature.meaning = request.meaning
    esignature.record = f"batch {batch.lot}: {request.decision}"
    esignature.log_index = appended.index
    session.add(esignature)
    session.flush()
    assert batch.id is not None and esignature.id is not None  # noqa: S101 - stored
    row = Disposition(
        batch_id=batch.id,
        decision=request.decision.value,
        meaning=request.meaning,
        justification=request.justification,
        signer=user.username,
        printed_name=user.full_name,
        signed_at=now,
        esignature_id=esignature.id,
        gate=[
            {"name": c.name, "passed": c.passed, "reasons": list(c.reasons)}
            for c in (gate.checks if gate else ())
        ],
        log_index=appended.index,
    )
    session.add(row)
    batch.state = after.value
    session.add(batch)
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="disposition",
        record_type="batch",
        record_id=batch.lot,
        changes=diff({"state": before.value}, {"state": after.value, "log_index": appended.index}),
        reason=request.justification or request.meaning,
    )
    session.flush()
    return row


def manifestation(row: Disposition) -> Manifestation:
    return Manifestation(row.printed_name, row.signed_at, row.meaning)


def dispositions_of(session: Session, batch: Batch) -> list[Disposition]:
    return list(
        session.exec(
            select(Disposition)
            .where(Disposition.batch_id == batch.id)
            .order_by(col(Disposition.id))
        ).all()
    )


class DispositionPublic(BaseModel):
    lot: str
    decision: str
    meaning: str
    justification: str | None
    signer: str
    printed_name: str
    signed_at: str
    manifestation: str
    log_index: int
    state: str


def disposition_public(lot: str, state: str, row: Disposition) -> DispositionPublic:
    """A disposition as the API shows it: with its signature manifestation (11.50) and
    the batch's state now, which a later decision may have changed."""
    return DispositionPublic(
        lot=lot,
        decision=row.decision,
        meaning=row.meaning,
        justification=row.justification,
        signer=row.signer,
        printed_name=row.printed_name,
        signed_at=row.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        manifestation=manifestation(row).line(),
        log_index=row.log_index,
        state=state,
    )


# --- a positive sterility result after a conditional release ----------------------------


@dataclass(frozen=True)
class RecallLine:
    serial: str
    uri: str
    state: str
    custodian: str | None
    site: str | None
    administered: bool


def recall_if_needed(
    session: Session,
    log: CustodyLog,
    batch: Batch,
    result: QcResult,
    *,
    resolver: str,
    actor: Actor,
    now: datetime,
) -> Recall | None:
    """A sterility failure on a conditionally released batch recalls it at once.

    Also when QA put it on hold after the conditional release: its vials may already
    have reached patients. Whether it was so released is read from the batch's proven
    decisions, not from its rows: a deleted disposition row must not spare a recall.
    """
    if (
        result.test != STERILITY
        or stored(Verdict, result.verdict, f"qc_results #{result.id}") is not Verdict.failed
    ):
        return None
    note = log.issue_checkpoint(session, now=now).note
    proof = check_batch(session, LogEvidence(session, log.keys.log.verifier(), note=note), batch)
    if proof.state not in (BatchState.conditionally_released, BatchState.on_hold) or (
        Decision.conditionally_released.value not in proof.decisions
    ):
        return None
    vials = vials_of(session, batch)
    where = positions(session, [v.id for v in vials if v.id is not None])
    lines = []
    for vial in vials:
        assert vial.id is not None  # noqa: S101 - stored
        position = where[vial.id]
        site = session.get(Site, position.site_id) if position.site_id else None
        lines.append(
            RecallLine(
                serial=vial.serial,
                uri=vial.uri,
                state=position.state.value,
                custodian=str(position.custodian) if position.custodian else None,
                site=site.code if site else None,
                administered=position.state is CustodyState.administered,
            )
        )
    notice: list[dict[str, Any]] = [line.__dict__ for line in lines]
    entry_subject = qc_results.subject_of(session, batch, resolver)
    entry = log.append_as_service(
        session,
        subject=entry_subject,
        type="batch.recalled",
        now=now,
        what={
            "cause": {"result": result.id, "test": result.test, "log_index": result.log_index},
            "vials": notice,
        },
        why={"bizStep": "holding", "disposition": "recalled"},
    )
    assert batch.id is not None and result.id is not None  # noqa: S101 - stored
    recall = Recall(
        batch_id=batch.id,
        cause_result_id=result.id,
        reason=f"sterility result #{result.id} failed after conditional release "
        f"(entered by {actor.name}); recalled automatically",
        notice=notice,
        log_index=entry.index,
        created_at=now,
    )
    session.add(recall)
    maker = session.get(Site, batch.site_id) if batch.site_id is not None else None
    back = f"back to {maker.code}" if maker is not None else "until QA decides"
    holders = [line.custodian for line in lines if line.custodian and not line.administered]
    given = [line.serial for line in lines if line.administered]
    notices.notify(
        session,
        [
            *holders,
            *(f"site:{line.site}" for line in lines if line.site),
            *([f"site:{maker.code}"] if maker is not None else []),
        ],
        kind=notices.RECALL,
        subject=entry_subject,
        text=f"Batch {batch.lot} is recalled: {recall.reason}. Hold every vial of it and "
        f"hand it only {back}."
        + (f" Given to patients: vial {', '.join(given)}." if given else ""),
        log_index=entry.index,
        now=now,
    )
    before = batch.state
    batch.state = BatchState.recalled.value
    session.add(batch)
    audit_trail.record(
        session,
        actor=SYSTEM,
        at=now,
        action="recall",
        record_type="batch",
        record_id=batch.lot,
        changes=diff({"state": before}, {"state": batch.state, "log_index": entry.index}),
        reason=recall.reason,
    )
    return recall


def recall_of(session: Session, batch: Batch) -> Recall | None:
    return session.exec(select(Recall).where(Recall.batch_id == batch.id)).first()


@dataclass(frozen=True)
class SignedDisposition:
    """One disposition as a page lists it: the decision and its signature manifestation."""

    decision: str
    manifestation: str
    justification: str | None
    log_index: int


@dataclass(frozen=True)
class ReleaseRecord:
    """Where a batch stands on release, read once for the batch page: the gate now (and
    whether a conditional release would pass where a full one fails), the state the
    decisions start from, every signed disposition, whether one released it (so a
    certificate exists), and its recall if any."""

    readiness: GateResult
    conditional_ready: bool
    state: BatchState
    dispositions: list[SignedDisposition]
    certificate: bool
    recall: Recall | None


def release_record(
    session: Session,
    batch: Batch,
    *,
    today: date,
    proof: BatchProof,
    alarms: Sequence[str] = (),
) -> ReleaseRecord:
    """The batch's release record, for a caller that already proved it (`check_batch`)."""
    readiness = gate(session, batch, today=today, proof=proof, alarms=alarms)
    conditional = (
        not readiness.passed
        and gate(session, batch, today=today, proof=proof, conditional=True, alarms=alarms).passed
    )
    state = stored(BatchState, batch.state, f"batch {batch.lot}")
    rows = dispositions_of(session, batch)
    return ReleaseRecord(
        readiness=readiness,
        conditional_ready=conditional,
        state=state,
        dispositions=[
            SignedDisposition(
                decision=r.decision,
                manifestation=manifestation(r).line(),
                justification=r.justification,
                log_index=r.log_index,
            )
            for r in rows
        ],
        certificate=any(r.decision in RELEASES for r in rows),
        recall=recall_of(session, batch),
    )
