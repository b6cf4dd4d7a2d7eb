"""Writing the audit trail (21 CFR 11.10(e)): who created or corrected which record.

It sits at the log's level, below the services, because the log's own use cases
(registering and revoking a signing key, `custody_log.keys`) write their trail row in
the same unit of work as their entry, and the log may not reach up into the services.
The services write through the same function (`services.audit_trail.record`). Nothing
here updates or deletes a row, and the database refuses to (see `storage.append_only`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from traceability.domain.actor import Actor
from traceability.storage.models import AuditTrailEntry


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
    """Add the row to the caller's unit of work (flushed, so a bad value fails here)."""
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
