"""Issuing, reissuing, reconciling and printing a batch's vial labels.

Issuing is a signed request (docs/signed-writes.md) that appends one `label.issued`
entry per vial; printing only reads: the PDF or ZPL always shows each vial's current
label, so printing twice never issues twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from labels.errors import LabelError
from labels.pdf import shipper_label_pdf, vial_labels_pdf
from labels.zpl import shipper_label_zpl, vial_labels_zpl
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError
from traceability.services import batch_records, vial_labels
from traceability.services.auth import Authenticated
from traceability.storage.models import LabelIssue
from traceability.web.deps import ContextDep, RequireRoles, SessionDep
from traceability.web.routes.batches import RecordReader, SignedRequest, signed_call

router = APIRouter(tags=["labels"])

LabelIssuer = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
Lot = Annotated[str, Path(max_length=20)]


class IssuedLabelPublic(BaseModel):
    serial: str
    uri: str
    log_index: int
    reissue: bool


class ReconciliationPublic(BaseModel):
    vials: int
    issued: int
    voided: int
    reprinted: int
    unlabelled: list[str]
    first_scanned: int
    unexplained_voids: int
    reconciled: bool


class LabelsIssuedPublic(BaseModel):
    labels: list[IssuedLabelPublic]
    reconciliation: ReconciliationPublic


def _reconciliation(session: SessionDep, lot: str) -> ReconciliationPublic:
    batch = batch_records.get_batch(session, lot)
    r = vial_labels.reconciliation(session, batch)
    return ReconciliationPublic(
        vials=r.vials,
        issued=r.issued,
        voided=r.voided,
        reprinted=r.reprinted,
        unlabelled=list(r.unlabelled),
        first_scanned=r.first_scanned,
        unexplained_voids=r.unexplained_voids,
        reconciled=r.reconciled,
    )


def _issued(
    session: SessionDep, lot: str, rows: list[LabelIssue], resolver: str
) -> LabelsIssuedPublic:
    session.flush()
    printed = {
        p.label.id: p
        for p in vial_labels.printable(session, batch_records.get_batch(session, lot), resolver)
    }
    return LabelsIssuedPublic(
        labels=[
            IssuedLabelPublic(
                serial=printed[r.id].vial.serial,
                uri=printed[r.id].uri,
                log_index=r.log_index,
                reissue=r.replaces_id is not None,
            )
            for r in rows
        ],
        reconciliation=_reconciliation(session, lot),
    )


@router.post(
    "/batches/{lot}/labels",
    response_model=LabelsIssuedPublic,
    status_code=201,
    summary="Issue first labels for a batch's vials, one log entry each (signed, lab or qa)",
)
def issue_labels(
    lot: Lot, body: SignedRequest, auth: LabelIssuer, context: ContextDep
) -> LabelsIssuedPublic:
    resolver = context.settings.resolver_base
    with signed_call(body, auth, context) as call:
        batch = batch_records.get_batch(call.session, lot)
        rows = vial_labels.issue(
            call.session, context.log, call.signed, batch=batch, **call.context
        )
        return _issued(call.session, lot, rows, resolver)


@router.post(
    "/batches/{lot}/labels/reissue",
    response_model=LabelsIssuedPublic,
    status_code=201,
    summary="Reissue labels with a reason; the old tags become void (signed, lab or qa)",
)
def reissue_labels(
    lot: Lot, body: SignedRequest, auth: LabelIssuer, context: ContextDep
) -> LabelsIssuedPublic:
    resolver = context.settings.resolver_base
    with signed_call(body, auth, context) as call:
        batch = batch_records.get_batch(call.session, lot)
        rows = vial_labels.reissue(
            call.session, context.log, call.signed, batch=batch, **call.context
        )
        return _issued(call.session, lot, rows, resolver)


@router.get(
    "/batches/{lot}/labels",
    response_model=ReconciliationPublic,
    summary="Label reconciliation: issued, voided, reprinted, first scanned",
)
def label_reconciliation(lot: Lot, auth: RecordReader, session: SessionDep) -> ReconciliationPublic:
    return _reconciliation(session, lot)


def _label_error(error: LabelError) -> InvalidInputError:
    return InvalidInputError(str(error), field=getattr(error, "field", None))


@router.get(
    "/batches/{lot}/labels.pdf",
    summary="Print the batch's current labels as a vector PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def labels_pdf(
    lot: Lot,
    auth: RecordReader,
    context: ContextDep,
    session: SessionDep,
    layout: Literal["vial", "sheet", "shipper"] = "vial",
    paper: Literal["A4", "letter"] = "A4",
    width_mm: Annotated[float, Query(gt=10, le=200)] = 32.5,
    height_mm: Annotated[float, Query(gt=5, le=200)] = 12.7,
) -> Response:
    batch = batch_records.get_batch(session, lot)
    resolver = context.settings.resolver_base
    try:
        if layout == "shipper":
            content = vial_labels.shipper_label_content(
                session, batch, resolver, context.settings.establishment
            )
            data = shipper_label_pdf([content])
        else:
            labels = vial_labels.vial_label_contents(session, batch, resolver)
            data = vial_labels_pdf(labels, layout, size_mm=(width_mm, height_mm), paper=paper)
    except LabelError as e:
        raise _label_error(e) from None
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{lot}-{layout}-labels.pdf"'},
    )


@router.get(
    "/batches/{lot}/labels.zpl",
    summary="Print the batch's current labels as ZPL for Zebra printers (one ^BQ per label)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def labels_zpl(
    lot: Lot,
    auth: RecordReader,
    context: ContextDep,
    session: SessionDep,
    layout: Literal["vial", "shipper"] = "vial",
    width_mm: Annotated[float, Query(gt=10, le=200)] = 32.5,
    height_mm: Annotated[float, Query(gt=5, le=200)] = 12.7,
    dpi: Literal[203, 300, 600] = 300,
) -> Response:
    batch = batch_records.get_batch(session, lot)
    resolver = context.settings.resolver_base
    try:
        if layout == "shipper":
            content = vial_labels.shipper_label_content(
                session, batch, resolver, context.settings.establishment
            )
            text = shipper_label_zpl([content], dpi=dpi)
        else:
            labels = vial_labels.vial_label_contents(session, batch, resolver)
            text = vial_labels_zpl(labels, size_mm=(width_mm, height_mm), dpi=dpi)
    except LabelError as e:
        raise _label_error(e) from None
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{lot}-{layout}-labels.zpl"'},
    )
