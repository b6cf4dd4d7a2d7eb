"""Scan many: one photo of a shipper box in, every vial in it out, with its state.

For phones whose browser has no barcode API: the page posts a camera frame or a photo
(`POST /scan`, the image as the body) and the server decodes every QR in it.
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from labels.digital_link import parse_vial_path
from labels.errors import IdentifierError
from traceability.domain.label_tags import FLAGGED
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError, NotFoundError, TooLargeError
from traceability.services import batch_records, sites, vial_labels, vial_record
from traceability.services.auth import Authenticated
from traceability.services.custody import positions
from traceability.services.image_scan import MAX_BYTES, decode_qr_codes
from traceability.web.deps import ContextDep, RequireRoles
from traceability.web.pages import render

router = APIRouter(tags=["custody"])

Scanner = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier))]
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")


class ScannedCode(BaseModel):
    text: str
    kind: str
    """vial, shipper, or unknown (a code that names nothing here)."""
    lot: str | None = None
    serial: str | None = None
    state: str | None = None
    custodian: str | None = None
    tag: str | None = None
    flagged: bool = False
    page: str | None = None


class ShipperContents(BaseModel):
    """A shipper whose label is in the photo, against the vials packed in it: a photo
    can miss a label (blur, glare, a curved vial), and the person must be told."""

    sscc: str
    packed: int
    seen: int
    not_seen: list[str]
    """'LOT / vial SERIAL' of each packed vial whose label was not read."""


class ScanResult(BaseModel):
    codes: list[ScannedCode]
    shippers: list[ShipperContents] = []


def _identity(text: str) -> str:
    parts = urlsplit(text)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _describe(session: Session, text: str, context: ContextDep, by: str) -> ScannedCode:
    try:
        parts = urlsplit(text)
        _identity(text)
    except ValueError:  # a QR that is not a well-formed URL names nothing here
        return ScannedCode(text=text, kind="unknown")
    if parts.scheme not in ("http", "https"):
        return ScannedCode(text=text, kind="unknown")
    # Found by path, then held to the exact identity stored: a label made for another
    # resolver host names nothing here.
    if parts.path.startswith("/00/"):
        shipper = sites.find_shipper(session, parts.path[4:])
        if shipper is None or shipper.uri != _identity(text):
            return ScannedCode(text=text, kind="unknown")
        unit = positions.unit_for(session, shipper.uri)
        position = unit.position
        return ScannedCode(
            text=text,
            kind="shipper",
            serial=shipper.sscc,
            state=position.state.value if position else "empty",
            custodian=str(position.custodian) if position and position.custodian else None,
            page=parts.path,
        )
    try:
        _, batch, vial = vial_record.find_vial(session, parse_vial_path(parts.path))
    except (IdentifierError, NotFoundError):
        return ScannedCode(text=text, kind="unknown")
    if vial.uri != _identity(text):
        return ScannedCode(text=text, kind="unknown")
    tags = parse_qs(parts.query).get("s")
    tag = tags[0] if tags else None
    judgement = vial_labels.judge_scan(session, vial, tag)
    if judgement.keep:
        vial_labels.keep_scan(session, vial, tag, judgement, by=by, now=context.clock())
    position = positions.position_of(session, vial)
    return ScannedCode(
        text=text,
        kind="vial",
        lot=batch.lot,
        serial=vial.serial,
        state=vial_record.vial_status(batch, position.state),
        custodian=str(position.custodian) if position.custodian else None,
        tag=judgement.verdict.value,
        flagged=judgement.verdict in FLAGGED,
        page=parts.path + (f"?{parts.query}" if parts.query else ""),
    )


@router.post(
    "/scan",
    response_model=ScanResult,
    summary="Decode every QR code in a photo (JPEG, PNG or WebP body) and describe each",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES},
        }
    },
)
async def scan_image(request: Request, auth: Scanner, context: ContextDep) -> ScanResult:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES:
        raise InvalidInputError(
            "send the photo as image/jpeg, image/png or image/webp", field="image"
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise TooLargeError(
            "the image is too large; send a smaller photo", field="image", limit=MAX_BYTES
        )
    context.scan_limiter.check(
        request.client.host if request.client else "unknown", time.monotonic()
    )
    data = await request.body()
    return await run_in_threadpool(_scan, data, context, auth.user.username)


def _scan(data: bytes, context: ContextDep, username: str) -> ScanResult:
    """Decoding and the database are blocking work: off the event loop."""
    texts = decode_qr_codes(data, max_pixels=context.settings.max_image_pixels)
    with context.db.write() as session:
        codes = [_describe(session, text, context, username) for text in texts]
        shippers = [
            _contents(session, code.serial, codes)
            for code in codes
            if code.kind == "shipper" and code.serial
        ]
    return ScanResult(codes=codes, shippers=shippers)


def _contents(session: Session, sscc: str, codes: list[ScannedCode]) -> ShipperContents:
    shipper = sites.get_shipper(session, sscc)
    seen = {(c.lot, c.serial) for c in codes if c.kind == "vial"}
    packed = [
        (lot, vial.serial)
        for vial in positions.vials_in(session, shipper)
        if (lot := batch_records.lot_of(session, vial)) is not None
    ]
    missing = [f"{lot} / vial {serial}" for lot, serial in packed if (lot, serial) not in seen]
    return ShipperContents(
        sscc=sscc, packed=len(packed), seen=len(packed) - len(missing), not_seen=missing
    )


@router.get("/ui/scan", include_in_schema=False)
def scan_page(request: Request, auth: Scanner) -> Response:
    return render(request, "scan.html")
