"""GS1 EPCIS 2.0 export over HTTP: a batch's history as one JSON-LD EPCISDocument.

Reads only. The document names staff by their custody parties and carries the record's
log entry URLs, so it is for QA and auditors, like the log itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from traceability.domain.roles import Role
from traceability.services import batch_records, epcis
from traceability.services.auth import Authenticated
from traceability.web.deps import ContextDep, RequireRoles, SessionDep

router = APIRouter(tags=["interchange"])

EpcisReader = Annotated[Authenticated, Depends(RequireRoles(Role.auditor, Role.qa))]
Lot = Annotated[str, Query(min_length=1, max_length=20, description="The batch's lot.")]


@router.get(
    "/epcis/events",
    response_class=JSONResponse,
    responses={
        200: {"content": {epcis.MEDIA_TYPE: {}}, "description": "An EPCIS 2.0 EPCISDocument"},
        404: {"description": "No batch with that lot"},
    },
    summary="A batch's custody, labels and excursions as a GS1 EPCIS 2.0 document (qa, auditor)",
)
def epcis_events(
    lot: Lot, auth: EpcisReader, context: ContextDep, session: SessionDep
) -> JSONResponse:
    batch = batch_records.get_batch(session, lot)
    document = epcis.epcis_document(
        session, batch, resolver=context.settings.resolver_base, now=context.clock()
    )
    return JSONResponse(document, media_type=epcis.MEDIA_TYPE)
