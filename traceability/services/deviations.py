"""Deviations on a batch record, each step a signed statement about the batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.deviations import (
    Assignment,
    Closure,
    DeviationRecord,
    DeviationState,
    check_can_change,
    state_of,
)
from traceability.errors import InvalidInputError, NotFoundError
from traceability.services import audit_trail, batch_records
from traceability.services.qc_results import expect_about_open_batch
from traceability.services.users import find_by_username
from traceability.storage.models import Batch, Deviation, DeviationEvent, User


def deviations_of(session: Session, batch: Batch) -> Sequence[Deviation]:
    return session.exec(
        select(Deviation).where(Deviation.batch_id == batch.id).order_by(col(Deviation.id))
    ).all()


def all_deviations(session: Session) -> Sequence[tuple[Deviation, str]]:
    """Every deviation with its batch's lot, newest first."""
    rows = session.exec(
        select(Deviation, Batch.lot)
        .join(Batch, col(Batch.id) == col(Deviation.batch_id))
        .order_by(col(Deviation.id).desc())
    ).all()
    return [(deviation, lot) for deviation, lot in rows]


def events_of(session: Session, deviation: Deviation) -> Sequence[DeviationEvent]:
    return session.exec(
        select(DeviationEvent)
        .where(DeviationEvent.deviation_id == deviation.id)
        .order_by(col(DeviationEvent.id))
    ).all()


def state(session: Session, deviation: Deviation) -> DeviationState:
    return state_of([e.kind for e in events_of(session, deviation)])


def get_deviation(session: Session, deviation_id: int) -> Deviation:
    """A deviation by id, for a caller that holds one of its events' foreign key."""
    row = session.get(Deviation, deviation_id)
    if row is None:
        raise NotFoundError(f"no deviation {deviation_id}")
    return row


class DeviationPublic(BaseModel):
    id: int
    title: str
    description: str
    severity: str
    recorded_by: str
    log_index: int
    state: str
    assignee: str | None
    conclusion: str | None


def deviation_public(session: Session, row: Deviation) -> DeviationPublic:
    """A deviation with where it stands: its state, latest assignee and conclusion, all
    read from its events (the deviation row itself never changes)."""
    events = events_of(session, row)
    assert row.id is not None  # noqa: S101 - stored
    return DeviationPublic(
        id=row.id,
        title=row.title,
        description=row.description,
        severity=row.severity,
        recorded_by=row.recorded_by,
        log_index=row.log_index,
        state=state(session, row).value,
        assignee=next((e.assignee for e in reversed(events) if e.assignee), None),
        conclusion=next((e.conclusion for e in events if e.conclusion), None),
    )


def record(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> Deviation:
    expect_about_open_batch(
        session, signed, batch=batch, type="deviation.recorded", user=user, resolver=resolver
    )
    request = DeviationRecord.from_what(signed.statement.what)
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    assert batch.id is not None  # noqa: S101 - stored
    row = Deviation(
        batch_id=batch.id,
        title=request.title,
        description=request.description,
        severity=request.severity.value,
        recorded_by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="deviation",
        record_id=f"{batch.lot}/{row.id}",
        changes=diff(
            None, {"title": row.title, "severity": row.severity, "log_index": row.log_index}
        ),
    )
    return row


def _deviation(session: Session, batch: Batch, deviation_id: int) -> Deviation:
    row = session.get(Deviation, deviation_id)
    if row is None or row.batch_id != batch.id:
        raise InvalidInputError(
            f"batch {batch.lot} has no deviation {deviation_id}", field="statement.what.deviation"
        )
    return row


def change(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    batch: Batch,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> DeviationEvent:
    """Assign (`deviation.assigned`) or close (`deviation.closed`) a deviation."""
    kind = signed.statement.type.removeprefix("deviation.")
    if kind not in ("assigned", "closed"):
        raise InvalidInputError(
            "this request takes deviation.assigned or deviation.closed", field="statement.type"
        )
    expect_about_open_batch(
        session, signed, batch=batch, type=signed.statement.type, user=user, resolver=resolver
    )
    what = signed.statement.what
    assignee = conclusion = None
    if kind == "assigned":
        assignment = Assignment.from_what(what)
        deviation = _deviation(session, batch, assignment.deviation)
        holder = find_by_username(session, assignment.assignee)
        if holder is None:
            raise InvalidInputError(
                f"no user {assignment.assignee!r}", field="statement.what.assignee"
            )
        if not holder.is_active:
            raise InvalidInputError(
                f"{holder.username}'s account is disabled", field="statement.what.assignee"
            )
        if not batch_records.keeps_record(session, batch, holder):
            raise InvalidInputError(
                f"{holder.username} does not act for the lab that makes batch {batch.lot}",
                field="statement.what.assignee",
            )
        assignee = assignment.assignee
    else:
        closure = Closure.from_what(what)
        deviation = _deviation(session, batch, closure.deviation)
        conclusion = closure.conclusion
    before = state(session, deviation)
    check_can_change(before)
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    assert deviation.id is not None  # noqa: S101 - stored
    event = DeviationEvent(
        deviation_id=deviation.id,
        kind=kind,
        assignee=assignee,
        conclusion=conclusion,
        by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(event)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action=kind,
        record_type="deviation",
        record_id=f"{batch.lot}/{deviation.id}",
        changes=diff(
            {"state": before.value},
            {"state": state(session, deviation).value, "log_index": appended.index},
        ),
        reason=conclusion,
    )
    return event
