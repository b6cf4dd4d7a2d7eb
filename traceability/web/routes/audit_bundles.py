"""Audit bundles and the inspector's report over HTTP (auditors and QA).

`GET /audit/bundles?lot=LOT` returns the batch's bundle (docs/audit-bundle.md); the
checkpoint an auditor already holds comes as the `since` query parameter, or as the
body of `POST /audit/bundles?lot=LOT` (the note file, uploaded as it is), and the
bundle then carries a consistency proof from it. The inspector's report PDF verifies
a bundle built in memory with the `audit` package and prints what it found.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from audit import bundle
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError
from traceability.services import audit_bundle, batch_records, documents
from traceability.services.auth import Authenticated
from traceability.services.proof.batch import require_proven
from traceability.web.context import ServiceContext
from traceability.web.deps import ContextDep, RequireRoles, covered_evidence

router = APIRouter(tags=["audit"])

Inspector = Annotated[Authenticated, Depends(RequireRoles(Role.auditor, Role.qa))]
Lot = Annotated[str, Query(min_length=1, max_length=20, description="The batch's lot")]
BatchLot = Annotated[str, Path(max_length=20)]
MAX_NOTE_BYTES = 16 * 1024
MAX_QUERY_NOTE = 4096
"""In a query string a note's characters are percent-encoded, up to 12 bytes each: the
HTTP server refuses request lines past 64 KB before any route sees them."""
ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/zip": {}}}}


async def uploaded_note(request: Request) -> bytes:
    """The request body: an older checkpoint note, as the file holds it."""
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_NOTE_BYTES:
            raise InvalidInputError(
                f"a checkpoint note is at most {MAX_NOTE_BYTES} bytes", field="body"
            )
    if not data:
        raise InvalidInputError("send the checkpoint note you hold as the body", field="body")
    return data


def _bundle(context: ServiceContext, lot: str, since: bytes | None) -> Response:
    data = audit_bundle.export(context.db, context.log, lot, now=context.clock(), since=since)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{lot}-audit-bundle.zip"'},
    )


@router.get(
    "/audit/bundles",
    summary="The batch's audit bundle (zip): entries, proofs, keys, a signed checkpoint",
    response_class=Response,
    responses=ZIP_RESPONSE,
)
def get_bundle(
    auth: Inspector,
    context: ContextDep,
    lot: Lot,
    since: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_NOTE,
            description="A signed checkpoint note you hold: adds a consistency proof from it "
            "(a longer one goes in the body of POST /audit/bundles)",
        ),
    ] = None,
) -> Response:
    return _bundle(context, lot, None if since is None else since.encode("utf-8"))


@router.post(
    "/audit/bundles",
    summary="The batch's audit bundle, proven consistent with the checkpoint note sent as body",
    response_class=Response,
    responses=ZIP_RESPONSE,
)
def post_bundle(
    auth: Inspector,
    context: ContextDep,
    lot: Lot,
    note: Annotated[bytes, Depends(uploaded_note)],
) -> Response:
    return _bundle(context, lot, note)


@router.get(
    "/batches/{lot}/inspection-report.pdf",
    summary="The inspector's report: timeline, QC, signatures, excursions, verification",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def inspection_report(lot: BatchLot, auth: Inspector, context: ContextDep) -> Response:
    with context.db.read() as session:
        batch_records.get_batch(session, lot)  # 404 before any checkpoint is signed
    data = audit_bundle.export(context.db, context.log, lot, now=context.clock())
    verifier = context.log.keys.log.verifier()
    report = bundle.verify(
        io.BytesIO(data),
        log_key=verifier,
        witnesses=[key for _, key in context.settings.witness_entries],
        log_cosigner=context.log.keys.cosigner.key(),
    )
    with context.db.read() as session:
        batch = batch_records.get_batch(session, lot)
        require_proven(
            session,
            covered_evidence(context, session),
            batch,
            what="inspector's report",
            alarms=context.alarms(),
        )
        pdf = documents.inspection_report(session, batch, report, log_key=verifier.text())
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{lot}-inspection-report.pdf"'},
    )
