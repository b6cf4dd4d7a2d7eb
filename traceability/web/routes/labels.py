"""Issuing, reissuing, reconciling and printing a batch's vial labels; printing a
shipper's SSCC label.

Issuing is a signed request (docs/signed-writes.md) that appends one `label.issued`
entry per vial; printing only reads: the PDF or ZPL always shows each vial's current
label, so printing twice never issues twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel

from traceability.domain.roles import Role
from traceability.errors import PermissionDeniedError
from traceability.services import batch_records, vial_labels
from traceability.services import sites as site_service
from traceability.services.auth import Authenticated
from traceability.services.custody import positions
from traceability.services.label_printing import (
    Printed,
    PrintJob,
    print_labels,
    print_shipper_label,
)
from traceability.web.deps import ContextDep, EvidenceDep, RequireRoles, SessionDep
from traceability.web.routes.batches import RecordReader, SignedRequest, signed_call
from traceability.web.statement_docs import statement_kinds

router = APIRouter(tags=["labels"])

LabelIssuer = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
"""Issuing and printing: a printed label carries a live tag, so only lab and QA print."""
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
    session: SessionDep, lot: str, issued: list[vial_labels.IssuedNow]
) -> LabelsIssuedPublic:
    return LabelsIssuedPublic(
        labels=[
            IssuedLabelPublic(serial=i.serial, uri=i.uri, log_index=i.log_index, reissue=i.reissue)
            for i in issued
        ],
        reconciliation=_reconciliation(session, lot),
    )


@router.post(
    "/batches/{lot}/labels",
    response_model=LabelsIssuedPublic,
    status_code=201,
    summary="Issue first labels for a batch's vials, one log entry each (signed, lab or qa)",
    openapi_extra=statement_kinds("labels.issued"),
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
        issued = vial_labels.issued_now(call.session, batch, rows, resolver)
        return _issued(call.session, lot, issued)


@router.post(
    "/batches/{lot}/labels/reissue",
    response_model=LabelsIssuedPublic,
    status_code=201,
    summary="Reissue labels with a reason; the old tags become void (signed, lab or qa)",
    openapi_extra=statement_kinds("labels.reissued"),
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
        issued = vial_labels.issued_now(call.session, batch, rows, resolver)
        return _issued(call.session, lot, issued)


@router.get(
    "/batches/{lot}/labels",
    response_model=ReconciliationPublic,
    summary="Label reconciliation: issued, voided, reprinted, first scanned",
)
def label_reconciliation(lot: Lot, auth: RecordReader, session: SessionDep) -> ReconciliationPublic:
    return _reconciliation(session, lot)


def _printed(printed: Printed, disposition: str) -> Response:
    return Response(
        printed.data,
        media_type=printed.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{printed.filename}"'},
    )


Width = Annotated[float, Query(gt=10, le=200, description="Vial label width (mm)")]
Height = Annotated[float, Query(gt=5, le=200, description="Vial label height (mm)")]
PRINTER_DPI = (203, 300, 600)


def _printer_dpi(value: int) -> int:
    if value not in PRINTER_DPI:
        raise ValueError("a printer's resolution is 203, 300 or 600 dpi")
    return value


Dpi = Annotated[
    int,
    AfterValidator(_printer_dpi),
    Query(
        ge=min(PRINTER_DPI),
        le=max(PRINTER_DPI),
        description="Printer resolution in dots per inch: 203, 300 or 600",
        json_schema_extra={"enum": list(PRINTER_DPI)},
    ),
]
"""A query's text is read as an integer first: `Literal[203, 300, 600]` refused every
value a URL can carry ("600" is not 600), so only the default was ever printed."""


@router.get(
    "/batches/{lot}/labels.pdf",
    summary="Print the batch's current labels as a vector PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def labels_pdf(
    lot: Lot,
    auth: LabelIssuer,
    context: ContextDep,
    session: SessionDep,
    layout: Literal["vial", "sheet"] = "vial",
    paper: Literal["A4", "letter"] = "A4",
    width_mm: Width = 32.5,
    height_mm: Height = 12.7,
    dpi: Dpi = 300,
) -> Response:
    job = PrintJob(layout, "pdf", paper, (width_mm, height_mm), dpi)
    return _printed(_print(session, lot, job, context, auth), "inline")


@router.get(
    "/batches/{lot}/labels.zpl",
    summary="Print the batch's current labels as ZPL for Zebra printers (one ^BQ per label)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def labels_zpl(
    lot: Lot,
    auth: LabelIssuer,
    context: ContextDep,
    session: SessionDep,
    layout: Literal["vial"] = "vial",
    width_mm: Width = 32.5,
    height_mm: Height = 12.7,
    dpi: Dpi = 300,
) -> Response:
    job = PrintJob(layout, "zpl", "A4", (width_mm, height_mm), dpi)
    return _printed(_print(session, lot, job, context, auth), "attachment")


def _print(
    session: SessionDep, lot: str, job: PrintJob, context: ContextDep, auth: Authenticated
) -> Printed:
    """Printed labels carry each vial's live tag: only the making lab's staff print them,
    as only they issue them."""
    batch = batch_records.get_batch(session, lot)
    batch_records.check_keeps_record(session, batch, auth.user)
    return print_labels(session, batch, job, resolver=context.settings.resolver_base)


Sscc = Annotated[str, Path(pattern="^[0-9]{18}$", description="The shipper's SSCC")]


@router.get(
    "/shippers/{sscc}/label.pdf",
    summary="Print a packed shipper's SSCC label (100 x 150 mm) as a vector PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def shipper_label_pdf(
    sscc: Sscc,
    auth: LabelIssuer,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
    dpi: Dpi = 300,
) -> Response:
    printed = _print_shipper(session, evidence, sscc, "pdf", dpi, context, auth)
    return _printed(printed, "inline")


@router.get(
    "/shippers/{sscc}/label.zpl",
    summary="Print a packed shipper's SSCC label as ZPL at 203, 300 or 600 dpi",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def shipper_label_zpl(
    sscc: Sscc,
    auth: LabelIssuer,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
    dpi: Dpi = 300,
) -> Response:
    printed = _print_shipper(session, evidence, sscc, "zpl", dpi, context, auth)
    return _printed(printed, "attachment")


def _print_shipper(
    session: SessionDep,
    evidence: EvidenceDep,
    sscc: str,
    format: Literal["pdf", "zpl"],
    dpi: int,
    context: ContextDep,
    auth: Authenticated,
) -> Printed:
    """Only the staff of the site where the shipper is print its label: they pack it."""
    shipper = site_service.get_shipper(session, sscc)
    here = positions.shipper_site(session, shipper)
    if not site_service.is_member(session, here, auth.user):
        raise PermissionDeniedError(
            f"shipper {sscc} is at {here.code}; only its staff print its label"
        )
    return print_shipper_label(
        session,
        evidence,
        shipper,
        format=format,
        dpi=dpi,
        establishment=context.settings.establishment,
        alarms=context.alarms(),
    )
