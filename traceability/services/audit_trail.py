"""The audit trail (21 CFR 11.10(e)): who created or corrected which record, when and why.

Rows are written in the same unit of work as the change they describe, so a change
without its audit row cannot be committed. The writing itself is
`custody_log.audit_trail.record` (the log's key registrations write it too, and the log
sits below the services); it is offered here as `record` for the services. Nothing
updates or deletes a row, and the database refuses to (see `storage.append_only`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from traceability.custody_log.audit_trail import record as record
from traceability.storage.models import AuditTrailEntry

MAX_PAGE = 500


# One row of the trail as the API and pages show it. (A comment, not a docstring: a
# docstring would become the schema's description in the OpenAPI document.)
class AuditTrailEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor_user_id: int | None
    actor: str
    action: str
    record_type: str
    record_id: str
    changes: list[dict[str, Any]]
    reason: str | None


def query(
    session: Session,
    *,
    record_type: str | None = None,
    record_id: str | None = None,
    actor_user_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    days: tuple[date | None, date | None] = (None, None),
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditTrailEntryPublic]:
    """Newest first; page backwards with `before_id` (stable while rows are appended).

    `days` is the first and last UTC day to include, either open."""
    statement = select(AuditTrailEntry)
    first, last = days
    if first is not None:
        start = datetime.combine(first, time(), tzinfo=UTC)
        statement = statement.where(col(AuditTrailEntry.at) >= start)
    if last is not None:
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
        statement = statement.where(col(AuditTrailEntry.at) < end)
    if action is not None:
        statement = statement.where(AuditTrailEntry.action == action)
    if record_type is not None:
        statement = statement.where(AuditTrailEntry.record_type == record_type)
    if record_id is not None:
        statement = statement.where(AuditTrailEntry.record_id == record_id)
    if actor_user_id is not None:
        statement = statement.where(AuditTrailEntry.actor_user_id == actor_user_id)
    if actor is not None:
        statement = statement.where(AuditTrailEntry.actor == actor)
    if before_id is not None:
        statement = statement.where(col(AuditTrailEntry.id) < before_id)
    statement = statement.order_by(col(AuditTrailEntry.id).desc()).limit(min(limit, MAX_PAGE))
    return [AuditTrailEntryPublic.model_validate(r) for r in session.exec(statement)]


def actions(session: Session) -> list[str]:
    """Every kind of change the trail holds ("create", "recall", ...), for a filter."""
    found = session.exec(select(AuditTrailEntry.action).distinct()).all()
    return sorted(found)
