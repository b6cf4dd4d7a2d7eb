"""The release gate and QA's e-signed disposition over HTTP.

`GET /batches/{lot}/release-readiness` shows every check; `POST .../disposition` takes
the decision as the QA user's signed statement together with the e-signature's
components (user id and password the first time in a session, the password later).
No endpoint sets a batch's or a vial's status directly: status follows disposition.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field

from traceability.domain.roles import Role
from traceability.errors import NotFoundError
from traceability.services import batch_records, documents, esignature, release
from traceability.services.auth import Authenticated
from traceability.services.proof.batch import require_proven
from traceability.services.release import DispositionPublic, disposition_public
from traceability.web.deps import ContextDep, EvidenceDep, RequireRoles, SessionDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.routes.batches import RecordReader, SignedRequest, signed_call
from traceability.web.statement_docs import statement_kinds

router = APIRouter(tags=["release"])
logger = logging.getLogger(__name__)

QualityAssurance = Annotated[Authenticated, Depends(RequireRoles(Role.qa))]
Lot = Annotated[str, Path(max_length=20)]


class CheckPublic(BaseModel):
    name: str
    title: str
    passed: bool
    reasons: list[str]
    evaluated: bool
    """False when the check did not run because the record it reads is not proven."""


class ReadinessPublic(BaseModel):
    lot: str
    state: str
    conditional: bool
    passed: bool
    checks: list[CheckPublic]


@router.get(
    "/batches/{lot}/release-readiness",
    response_model=ReadinessPublic,
    summary="Every release check with its reasons (conditional=true: sterility may pend)",
)
def readiness(
    lot: Lot,
    auth: RecordReader,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
    conditional: bool = False,
) -> ReadinessPublic:
    batch = batch_records.get_batch(session, lot)
    result = release.readiness(
        session,
        batch,
        today=context.clock().date(),
        evidence=evidence,
        conditional=conditional,
        alarms=context.alarms(),
    )
    return ReadinessPublic(
        lot=batch.lot,
        state=batch.state,
        conditional=conditional,
        passed=result.passed,
        checks=[
            CheckPublic(
                name=c.name,
                title=c.title,
                passed=c.passed,
                reasons=list(c.reasons),
                evaluated=c.evaluated,
            )
            for c in result.checks
        ],
    )


class ESignatureFields(BaseModel):
    model_config = STRICT_BODY
    username: Text | None = Field(
        default=None,
        max_length=64,
        description="Your user id: required for the first signing in a session (11.200)",
    )
    password: Text = Field(min_length=1, max_length=1000, description="Your password")


class DispositionBody(SignedRequest):
    esignature: ESignatureFields


@router.post(
    "/batches/{lot}/disposition",
    response_model=DispositionPublic,
    status_code=201,
    summary="Decide the batch's disposition, e-signed (QA; release only through the gate)",
    openapi_extra=statement_kinds("batch.disposition.decided"),
    responses={
        403: {"description": "Not QA, wrong password, or you entered or reviewed its results"},
        409: {"description": "The gate fails (every failing check listed) or not from this state"},
    },
)
def decide(
    lot: Lot, body: DispositionBody, auth: QualityAssurance, context: ContextDep
) -> DispositionPublic:
    now = context.clock()
    esignature.verify(
        context.db,
        auth,
        esignature.Components(body.esignature.username, body.esignature.password),
        now=now,
        policy=context.lockout,
    )
    with signed_call(body, auth, context) as call:
        batch = batch_records.get_batch(call.session, lot)
        row = release.decide(
            call.session,
            context.log,
            call.signed,
            batch=batch,
            esignature=esignature.new_signature(auth, now),
            alarms=context.alarms(),
            **call.context,
        )
        public = disposition_public(batch.lot, batch.state, row)
    # Sign a checkpoint at once, so the decision can be proven (certificate) right away.
    # The decision is stored whatever happens here; the timer signs one later if not now.
    # Then have it cosigned by the witnesses, so the certificate carries their signatures.
    try:
        with context.db.write() as session:
            context.log.issue_checkpoint(session, now=context.clock())
        context.witnessing.run(context.clock())
    except Exception:  # noqa: BLE001 - never report a stored decision as failed
        logger.exception("could not sign or cosign a checkpoint after a disposition")
    return public


@router.get(
    "/batches/{lot}/dispositions",
    response_model=list[DispositionPublic],
    summary="Every disposition of the batch with its signature manifestation",
)
def dispositions(lot: Lot, auth: RecordReader, session: SessionDep) -> list[DispositionPublic]:
    batch = batch_records.get_batch(session, lot)
    return [
        disposition_public(batch.lot, batch.state, row)
        for row in release.dispositions_of(session, batch)
    ]


class RecallPublic(BaseModel):
    lot: str
    reason: str
    log_index: int
    created_at: str
    vials: list[dict[str, object]]


@router.get(
    "/batches/{lot}/recall",
    response_model=RecallPublic,
    summary="The recall notice: every vial with its custodian or site, administered or not",
)
def recall_notice(
    lot: Lot, auth: RecordReader, context: ContextDep, session: SessionDep, evidence: EvidenceDep
) -> RecallPublic:
    batch = batch_records.get_batch(session, lot)
    require_proven(session, evidence, batch, what="recall notice", alarms=context.alarms())
    recall = release.recall_of(session, batch)
    if recall is None:
        raise NotFoundError(f"batch {lot} was not recalled")
    return RecallPublic(
        lot=batch.lot,
        reason=recall.reason,
        log_index=recall.log_index,
        created_at=recall.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        vials=recall.notice,
    )


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/batches/{lot}/release-certificate.pdf",
    summary="The release certificate, with the proof that verifies the decision",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def release_certificate(lot: Lot, auth: RecordReader, context: ContextDep) -> Response:
    with context.db.write() as session:  # may sign a checkpoint covering the decision
        batch = batch_records.get_batch(session, lot)
        data = documents.release_certificate(
            session,
            context.log,
            batch,
            log_key=context.log.keys.log.verifier().text(),
            now=context.clock(),
            alarms=context.alarms(),
        )
    return _pdf(data, f"{lot}-release-certificate.pdf")


@router.get(
    "/batches/{lot}/recall.pdf",
    summary="The recall notice as a PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def recall_pdf(
    lot: Lot, auth: RecordReader, context: ContextDep, session: SessionDep, evidence: EvidenceDep
) -> Response:
    batch = batch_records.get_batch(session, lot)
    require_proven(session, evidence, batch, what="recall notice", alarms=context.alarms())
    return _pdf(documents.recall_notice(session, batch), f"{lot}-recall-notice.pdf")
