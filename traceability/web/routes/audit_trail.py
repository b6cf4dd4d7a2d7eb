"""The audit trail, read-only: there is no route that writes, edits or deletes it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from traceability.services import audit_trail
from traceability.services.audit_trail import AuditTrailEntryPublic
from traceability.web.deps import SessionDep, TrailReader
from traceability.web.fields import RowCursor, Text

router = APIRouter(tags=["audit trail"])


@router.get(
    "/audit-trail",
    response_model=list[AuditTrailEntryPublic],
    summary="Creations and corrections of records, newest first",
)
def list_audit_trail(
    auth: TrailReader,
    session: SessionDep,
    record_type: Annotated[Text | None, Query(max_length=64)] = None,
    record_id: Annotated[Text | None, Query(max_length=256)] = None,
    user: Annotated[Text | None, Query(max_length=128, description="actor's username")] = None,
    action: Annotated[Text | None, Query(max_length=64, description="create, recall, ...")] = None,
    from_day: Annotated[date | None, Query(description="first UTC day (YYYY-MM-DD)")] = None,
    to_day: Annotated[date | None, Query(description="last UTC day (YYYY-MM-DD)")] = None,
    before_id: RowCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditTrailEntryPublic]:
    return audit_trail.query(
        session,
        record_type=record_type,
        record_id=record_id,
        actor=user,
        action=action,
        days=(from_day, to_day),
        before_id=before_id,
        limit=limit,
    )
