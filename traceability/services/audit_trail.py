"""The audit trail (21 CFR 11.10(e)): who created or corrected which record, when and why.

Rows are written in the same unit of work as the change they describe, so a change
without its audit row cannot be committed. Nothing here updates or deletes a row, and
the database refuses to (see `storage.append_only`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from traceability.domain.actor import Actor
from traceability.storage.models import AuditTrailEntry

MAX_PAGE = 500


def record(
    session: Session,
    *,
    actor: Actor,
    at: datetime,
    action: str,
    record_type: str,
    record_id: str,
    changes: list[dict[str, Any]],
    reason: str | None = None,
) -> AuditTrailEntry:
    entry = AuditTrailEntry(
        at=at,
        actor_user_id=actor.user_id,
        actor=actor.name,
        action=action,
        record_type=record_type,
        record_id=record_id,
        changes=changes,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def query(
    session: Session,
    *,
    record_type: str | None = None,
    record_id: str | None = None,
    actor_user_id: int | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AuditTrailEntry]:
    """Newest first; page backwards with `before_id` (stable while rows are appended)."""
    statement = select(AuditTrailEntry)
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
    return session.exec(statement).all()
