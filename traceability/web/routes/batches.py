"""Products, specification versions and batches over HTTP.

Writes are signed requests (docs/signed-writes.md): the body is the statement the
person's device signed and its signature; the service checks the domain request inside
it, appends it to the custody log and stores the records, in one unit of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlmodel import Session

from traceability.custody_log.signed_requests import SignedStatement, read_signed
from traceability.domain.roles import BATCH_WRITERS, SPECIFICATION_WRITERS, Role
from traceability.services import batch_records, qc_results, release
from traceability.services import deviations as deviation_service
from traceability.services import users as user_service
from traceability.services.auth import Authenticated
from traceability.services.batch_record_view import (
    BatchPublic,
    ProductPublic,
    ResultPublic,
    SpecificationVersionPublic,
    batch_public,
    product_public,
    version_public,
)
from traceability.services.deviations import DeviationPublic, deviation_public
from traceability.web.context import ServiceContext
from traceability.web.deps import ContextDep, RequireRoles, SessionDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.statement_docs import statement_kinds

router = APIRouter(tags=["batch records"])

RecordReader = Annotated[
    Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.auditor, Role.admin))
]
SpecificationWriter = Annotated[Authenticated, Depends(RequireRoles(*SPECIFICATION_WRITERS))]
BatchWriter = Annotated[Authenticated, Depends(RequireRoles(*BATCH_WRITERS))]


class SignedRequest(BaseModel):
    model_config = STRICT_BODY

    statement: dict[str, Any] = Field(
        description="The statement the person's device signed (docs/custody-log.md), "
        "without index, prev and sig; its `what` is the request."
    )
    signature: Text = Field(max_length=200, description="base64 Ed25519 signature")


class ReviewPublic(BaseModel):
    result: int
    decision: str
    comment: str | None
    reviewer: str
    log_index: int


class OosPublic(BaseModel):
    result: int
    conclusion: str
    reason: str
    decided_by: str
    log_index: int


@dataclass(frozen=True)
class SignedCall:
    """What every signed use case takes besides its own record, built in one place."""

    session: Session
    signed: SignedStatement
    context: dict[str, Any]


@contextmanager
def signed_call(
    body: SignedRequest, auth: Authenticated, context: ServiceContext
) -> Iterator[SignedCall]:
    """Read the signed request, then open the unit of work the use case runs in."""
    signed = read_signed(body.statement, body.signature)
    with context.db.write() as session:
        # Every signed use case checks state, then appends: serialise it as a whole.
        context.log.lock(session)
        yield SignedCall(
            session,
            signed,
            {
                "user": user_service.current_user(session, auth.actor),
                "actor": auth.actor,
                "resolver": context.settings.resolver_base,
                "now": context.clock(),
            },
        )


@router.post(
    "/products",
    response_model=ProductPublic,
    status_code=201,
    summary="Register a product with specification version 1 (signed)",
    openapi_extra=statement_kinds("product.registered"),
)
def register_product(
    body: SignedRequest, auth: SpecificationWriter, context: ContextDep
) -> ProductPublic:
    resolver = context.settings.resolver_base
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        product = batch_records.register_product(
            session,
            context.log,
            signed,
            **call.context,
        )
        session.flush()
        return product_public(session, product, resolver)


@router.get("/products", response_model=list[ProductPublic], summary="Every product")
def list_products(
    auth: RecordReader, context: ContextDep, session: SessionDep
) -> list[ProductPublic]:
    return [
        product_public(session, p, context.settings.resolver_base)
        for p in batch_records.list_products(session)
    ]


@router.get(
    "/products/{code}",
    response_model=ProductPublic,
    summary="A product and every version of its specification",
)
def get_product(
    code: str, auth: RecordReader, context: ContextDep, session: SessionDep
) -> ProductPublic:
    return product_public(
        session, batch_records.get_product(session, code), context.settings.resolver_base
    )


@router.post(
    "/products/{code}/specifications",
    response_model=SpecificationVersionPublic,
    status_code=201,
    summary="Add the next specification version (signed)",
    openapi_extra=statement_kinds("spec.version.created"),
)
def add_specification(
    code: str, body: SignedRequest, auth: SpecificationWriter, context: ContextDep
) -> SpecificationVersionPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        product = batch_records.get_product(session, code)
        row = batch_records.add_specification_version(
            session,
            context.log,
            signed,
            product=product,
            **call.context,
        )
        session.flush()
        return version_public(row)


@router.post(
    "/batches",
    response_model=BatchPublic,
    status_code=201,
    summary="Register a batch and commission its vials (signed)",
    openapi_extra=statement_kinds("batch.registered"),
)
def register_batch(body: SignedRequest, auth: BatchWriter, context: ContextDep) -> BatchPublic:
    resolver = context.settings.resolver_base
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.register_batch(
            session,
            context.log,
            signed,
            **call.context,
        )
        session.flush()
        return batch_public(session, batch, resolver)


@router.get("/batches", response_model=list[BatchPublic], summary="Every batch, newest first")
def list_batches(auth: RecordReader, context: ContextDep, session: SessionDep) -> list[BatchPublic]:
    return [
        batch_public(session, b, context.settings.resolver_base)
        for b in batch_records.list_batches(session)
    ]


@router.get(
    "/batches/{lot}",
    response_model=BatchPublic,
    summary="A batch record: vials and the status of every required test",
)
def get_batch(
    lot: Annotated[str, Path(max_length=20)],
    auth: RecordReader,
    context: ContextDep,
    session: SessionDep,
) -> BatchPublic:
    return batch_public(
        session, batch_records.get_batch(session, lot), context.settings.resolver_base
    )


ResultWriter = Annotated[Authenticated, Depends(RequireRoles(Role.lab))]
Reviewer = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
OosDecider = Annotated[Authenticated, Depends(RequireRoles(Role.qa))]


@router.post(
    "/batches/{lot}/results",
    response_model=ResultPublic,
    status_code=201,
    summary="Enter a QC result (signed); evaluated at once against the specification",
    openapi_extra=statement_kinds("qc.result.entered"),
)
def enter_result(
    lot: Annotated[str, Path(max_length=20)],
    body: SignedRequest,
    auth: ResultWriter,
    context: ContextDep,
) -> ResultPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.get_batch(session, lot)
        row = qc_results.enter_result(
            session,
            context.log,
            signed,
            batch=batch,
            **call.context,
        )
        # A failed sterility result after a conditional release recalls the batch at once,
        # in the same unit of work as the result itself.
        release.recall_if_needed(
            session,
            context.log,
            batch,
            row,
            resolver=context.settings.resolver_base,
            actor=auth.actor,
            now=call.context["now"],
        )
        return next(
            r
            for r in batch_public(session, batch, context.settings.resolver_base).results
            if r.id == row.id
        )


@router.post(
    "/batches/{lot}/reviews",
    response_model=ReviewPublic,
    status_code=201,
    summary="Approve or send back a colleague's result (signed)",
    openapi_extra=statement_kinds("qc.result.reviewed"),
)
def review_result(
    lot: Annotated[str, Path(max_length=20)],
    body: SignedRequest,
    auth: Reviewer,
    context: ContextDep,
) -> ReviewPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.get_batch(session, lot)
        review = qc_results.review_result(
            session,
            context.log,
            signed,
            batch=batch,
            **call.context,
        )
        return ReviewPublic(
            result=review.result_id,
            decision=review.decision,
            comment=review.comment,
            reviewer=review.reviewer,
            log_index=review.log_index,
        )


@router.post(
    "/batches/{lot}/oos",
    response_model=OosPublic,
    status_code=201,
    summary="Conclude an OOS investigation: confirmed or invalidated (signed, QA)",
    openapi_extra=statement_kinds("oos.concluded"),
)
def conclude_oos(
    lot: Annotated[str, Path(max_length=20)],
    body: SignedRequest,
    auth: OosDecider,
    context: ContextDep,
) -> OosPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.get_batch(session, lot)
        decision = qc_results.conclude_oos(
            session,
            context.log,
            signed,
            batch=batch,
            **call.context,
        )
        return OosPublic(
            result=decision.result_id,
            conclusion=decision.conclusion,
            reason=decision.reason,
            decided_by=decision.decided_by,
            log_index=decision.log_index,
        )


DeviationWriter = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
DeviationManager = Annotated[Authenticated, Depends(RequireRoles(Role.qa))]


@router.get(
    "/batches/{lot}/deviations",
    response_model=list[DeviationPublic],
    summary="A batch's deviations with where each stands",
)
def list_deviations(
    lot: Annotated[str, Path(max_length=20)], auth: RecordReader, session: SessionDep
) -> list[DeviationPublic]:
    batch = batch_records.get_batch(session, lot)
    return [deviation_public(session, d) for d in deviation_service.deviations_of(session, batch)]


@router.post(
    "/batches/{lot}/deviations",
    response_model=DeviationPublic,
    status_code=201,
    summary="Record a deviation against a batch (signed, lab or qa)",
    openapi_extra=statement_kinds("deviation.recorded"),
)
def record_deviation(
    lot: Annotated[str, Path(max_length=20)],
    body: SignedRequest,
    auth: DeviationWriter,
    context: ContextDep,
) -> DeviationPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.get_batch(session, lot)
        row = deviation_service.record(
            session,
            context.log,
            signed,
            batch=batch,
            **call.context,
        )
        return deviation_public(session, row)


@router.post(
    "/batches/{lot}/deviations/events",
    response_model=DeviationPublic,
    status_code=201,
    summary="Assign (deviation.assigned) or close (deviation.closed) one (signed, qa)",
    openapi_extra=statement_kinds("deviation.assigned", "deviation.closed"),
)
def change_deviation(
    lot: Annotated[str, Path(max_length=20)],
    body: SignedRequest,
    auth: DeviationManager,
    context: ContextDep,
) -> DeviationPublic:
    with signed_call(body, auth, context) as call:
        session, signed = call.session, call.signed
        batch = batch_records.get_batch(session, lot)
        event = deviation_service.change(
            session,
            context.log,
            signed,
            batch=batch,
            **call.context,
        )
        return deviation_public(
            session, deviation_service.get_deviation(session, event.deviation_id)
        )
