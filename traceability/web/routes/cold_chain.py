"""The cold chain over HTTP: logger uploads, excursions, QA's closures, and the page.

A logger's data arrives as the request body: a CSV export (`text/csv`), EPCIS 2.0
sensor data (`application/json` with a `sensorElementList`), or a page's multipart
form with a `file` field. The body is read here, capped in size, and parsed by
`domain.cold_chain` before the write transaction opens, so a large file never holds
the write lock while it is parsed and a bad one is refused (422 naming `file` and the
line, or the JSON path) with nothing stored. Closing an excursion is a signed request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from traceability.domain import cold_chain as rules
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError, PermissionDeniedError
from traceability.services import cold_chain, logger_files
from traceability.services import sites as site_service
from traceability.services import users as user_service
from traceability.services.auth import Authenticated
from traceability.web import plots
from traceability.web.deps import ContextDep, EvidenceDep, RequireRoles, SessionDep
from traceability.web.pages import render
from traceability.web.routes.batches import SignedRequest, signed_call
from traceability.web.statement_docs import statement_kinds

router = APIRouter(tags=["cold chain"])

Uploader = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
ShipperUploader = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier))]
ExcursionReader = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.auditor))]
Assessor = Annotated[Authenticated, Depends(RequireRoles(Role.qa))]

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MULTIPART_SLACK = 64 * 1024
"""Room for a multipart form's boundaries and headers around a file of the maximum size."""
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
JSON_TYPES = frozenset({"application/json", "application/ld+json"})

Code = Annotated[str, Path(min_length=1, max_length=32)]
Sscc = Annotated[str, Path(pattern=r"^[0-9]{18}$")]


# --- the uploaded file ----------------------------------------------------------------


@dataclass(frozen=True)
class LoggerFile:
    """The bytes of one upload and what they claim to be."""

    source: cold_chain.Source
    data: bytes


def _too_large() -> HTTPException:
    return HTTPException(
        status_code=413,
        detail=f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; "
        "split the logger's export by period and upload each part",
    )


async def _capped_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def logger_file(request: Request) -> LoggerFile:
    """The request's logger data, at most `MAX_UPLOAD_BYTES`, by its content type."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + MULTIPART_SLACK:
        raise _too_large()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in CSV_TYPES:
        return LoggerFile("csv", await _capped_body(request))
    if media in JSON_TYPES:
        return LoggerFile("epcis", await _capped_body(request))
    if media == "multipart/form-data":
        # The context closes the form's spooled files however this ends.
        async with request.form(max_files=1, max_fields=4) as form:
            part = form.get("file")
            if not isinstance(part, UploadFile):
                raise InvalidInputError(
                    "attach the logger file as the form field 'file'", field="file"
                )
            data = await part.read(MAX_UPLOAD_BYTES + 1)
            media = (part.content_type or "").split(";", 1)[0].strip().lower()
            is_json = media in JSON_TYPES or (part.filename or "").lower().endswith(".json")
        if len(data) > MAX_UPLOAD_BYTES:
            raise _too_large()
        return LoggerFile("epcis" if is_json else "csv", data)
    raise HTTPException(
        status_code=415,
        detail="send a logger's CSV export as text/csv, EPCIS sensor data as "
        "application/json, or a form with a 'file' field",
    )


LoggerFileDep = Annotated[LoggerFile, Depends(logger_file)]


def readings_of(file: LoggerFile) -> list[rules.Reading]:
    """Parse the whole file, or refuse it whole naming where it is wrong."""
    return logger_files.parse(file.source, file.data)


# --- responses ------------------------------------------------------------------------------


class AffectedVial(BaseModel):
    uri: str
    log_index: int


class ClosurePublic(BaseModel):
    assessment: str
    closed_by: str
    log_index: int
    closed_at: datetime


class ExcursionPublic(BaseModel):
    id: int
    uri: str
    place: str
    place_uri: str
    kind: str
    start_at: datetime
    end_at: datetime | None
    peak_celsius: str
    limit: str
    upload: int
    log_index: int
    state: Literal["open", "closed"]
    vials: list[AffectedVial]
    closure: ClosurePublic | None


class UploadPublic(BaseModel):
    id: int
    place: str
    place_uri: str
    source: str
    sha256: str
    readings: int
    first_at: datetime
    last_at: datetime
    uploaded_by: str
    log_index: int
    excursions: list[ExcursionPublic] = Field(description="Excursions this file showed first")
    already_recorded: list[ExcursionPublic] = Field(
        description="Excursions an earlier file for this place recorded, seen again in this "
        "one (overlapping logger files): the same event, not a new one"
    )


def excursion_public(found: cold_chain.ExcursionView) -> ExcursionPublic:
    row, closure = found.excursion, found.closure
    assert row.id is not None  # noqa: S101 - stored
    return ExcursionPublic(
        id=row.id,
        uri=found.uri,
        place=found.place.name,
        place_uri=found.place.uri,
        kind=row.kind,
        start_at=row.start_at,
        end_at=row.end_at,
        peak_celsius=row.peak_celsius,
        limit=row.limit,
        upload=row.upload_id,
        log_index=row.log_index,
        state="open" if closure is None else "closed",
        vials=[AffectedVial(uri=vial.uri, log_index=index) for vial, index in found.vials],
        closure=ClosurePublic(
            assessment=closure.assessment,
            closed_by=closure.closed_by,
            log_index=closure.log_index,
            closed_at=closure.created_at,
        )
        if closure is not None
        else None,
    )


def _upload_public(
    session: Session, done: cold_chain.Uploaded, place: cold_chain.Place, resolver: str
) -> UploadPublic:
    row = done.upload
    assert row.id is not None  # noqa: S101 - stored
    return UploadPublic(
        id=row.id,
        place=place.name,
        place_uri=place.uri,
        source=row.source,
        sha256=row.sha256,
        readings=row.readings,
        first_at=row.first_at,
        last_at=row.last_at,
        uploaded_by=row.uploaded_by,
        log_index=row.log_index,
        excursions=[
            excursion_public(cold_chain.view(session, e, resolver)) for e in done.excursions
        ],
        already_recorded=[
            excursion_public(cold_chain.view(session, e, resolver)) for e in done.already_recorded
        ],
    )


UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a member of the unit's site"},
    404: {"description": "No such site, unit or shipper"},
    409: {"description": "This exact file was already uploaded for this place"},
    413: {"description": "The file is larger than 5 MB"},
    415: {"description": "Neither CSV, JSON nor a multipart form"},
    422: {"description": "A bad file, refused whole: `file` with `line N: ...`, or a JSON path"},
}


LOGGER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "csrf_token": {"type": "string"},
                    },
                    "additionalProperties": False,
                }
            },
        },
    }
}
"""The body `logger_file` reads, declared (it reads the request itself, so FastAPI cannot)."""


# --- uploads --------------------------------------------------------------------------------


@router.post(
    "/sites/{site}/units/{unit}/temperatures",
    response_model=UploadPublic,
    status_code=201,
    responses=UPLOAD_RESPONSES,
    openapi_extra=LOGGER_BODY,
    summary="Upload a storage unit's logger data; each excursion is logged on every vial in it",
)
def upload_unit_temperatures(
    site: Code,
    unit: Code,
    auth: Uploader,
    file: LoggerFileDep,
    context: ContextDep,
) -> UploadPublic:
    with context.db.read() as session:
        site_row, _ = cold_chain.find_unit(session, site, unit)
        if not site_service.is_member(
            session, site_row, user_service.current_user(session, auth.actor)
        ):
            raise PermissionDeniedError(f"you do not act for site {site_row.code}")
    readings = readings_of(file)
    resolver = context.settings.resolver_base
    with context.db.write() as session:
        _, unit_row = cold_chain.find_unit(session, site, unit)
        done = cold_chain.upload(
            session,
            context.log,
            unit=unit_row,
            readings=readings,
            source=file.source,
            data=file.data,
            user=user_service.current_user(session, auth.actor),
            actor=auth.actor,
            resolver=resolver,
            now=context.clock(),
        )
        place = cold_chain.unit_place(session, unit_row, resolver)
        return _upload_public(session, done, place, resolver)


@router.post(
    "/shippers/{sscc}/temperatures",
    response_model=UploadPublic,
    status_code=201,
    responses=UPLOAD_RESPONSES,
    openapi_extra=LOGGER_BODY,
    summary="Upload a shipper's logger data; each excursion is logged on every vial it carried",
)
def upload_shipper_temperatures(
    sscc: Sscc,
    auth: ShipperUploader,
    file: LoggerFileDep,
    context: ContextDep,
) -> UploadPublic:
    with context.db.read() as session:
        site_service.get_shipper(session, sscc)
    readings = readings_of(file)
    resolver = context.settings.resolver_base
    with context.db.write() as session:
        shipper = site_service.get_shipper(session, sscc)
        done = cold_chain.upload(
            session,
            context.log,
            shipper=shipper,
            readings=readings,
            source=file.source,
            data=file.data,
            user=user_service.current_user(session, auth.actor),
            actor=auth.actor,
            resolver=resolver,
            now=context.clock(),
        )
        return _upload_public(session, done, cold_chain.shipper_place(shipper), resolver)


# --- excursions -----------------------------------------------------------------------------


@router.get(
    "/excursions",
    response_model=list[ExcursionPublic],
    summary="Temperature excursions, newest first: the open ones, or all",
)
def list_excursions(
    auth: ExcursionReader,
    context: ContextDep,
    session: SessionDep,
    state: Annotated[Literal["open", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ExcursionPublic]:
    return [
        excursion_public(found)
        for found in cold_chain.list_excursions(
            session,
            open_only=state == "open",
            resolver=context.settings.resolver_base,
            limit=limit,
        )
    ]


@router.post(
    "/excursions/close",
    response_model=ExcursionPublic,
    status_code=201,
    responses={409: {"description": "Already closed"}},
    summary="Close an excursion with QA's assessment (signed, QA)",
    openapi_extra=statement_kinds("coldchain.excursion.closed"),
)
def close_excursion(body: SignedRequest, auth: Assessor, context: ContextDep) -> ExcursionPublic:
    resolver = context.settings.resolver_base
    with signed_call(body, auth, context) as call:
        closure = cold_chain.close(
            call.session,
            context.log,
            call.signed,
            user=call.context["user"],
            actor=call.context["actor"],
            resolver=resolver,
            now=call.context["now"],
        )
        call.session.flush()
        excursion = cold_chain.view(
            call.session, cold_chain.excursion_by_id(call.session, closure.excursion_id), resolver
        )
        return excursion_public(excursion)


# --- the page -------------------------------------------------------------------------------


@router.get("/ui/cold-chain", include_in_schema=False)
def cold_chain_page(
    request: Request,
    auth: ExcursionReader,
    context: ContextDep,
    session: SessionDep,
    show: Annotated[Literal["open", "all"], Query()] = "open",
) -> Response:
    resolver = context.settings.resolver_base
    user = user_service.current_user(session, auth.actor)
    member_of = {s.id for s in site_service.sites_of(session, user)}
    units = []
    for site in site_service.list_sites(session):
        for unit in site_service.units_of(session, site):
            place = cold_chain.unit_place(session, unit, resolver)
            units.append(
                {
                    "site": site,
                    "unit": unit,
                    "limits": cold_chain.limits_text(unit),
                    "uploads": cold_chain.uploads_for(session, place, limit=1),
                    "can_upload": site.id in member_of,
                }
            )
    shippers = []
    for shipper, site_code in site_service.latest_shippers(session, limit=50):
        shippers.append(
            {
                "shipper": shipper,
                "site": site_code,
                "limits": cold_chain.limits_text(shipper),
                "uploads": cold_chain.uploads_for(
                    session, cold_chain.shipper_place(shipper), limit=1
                ),
            }
        )
    excursions = cold_chain.list_excursions(session, open_only=show == "open", resolver=resolver)
    return render(
        request,
        "cold_chain.html",
        {
            "units": units,
            "shippers": shippers,
            "excursions": [excursion_public(e) for e in excursions],
            "show": show,
            "can_upload": auth.actor.has_any(Role.lab, Role.qa),
            "can_close": auth.actor.has_any(Role.qa),
            "origin": context.log.origin,
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        },
    )


@router.get("/ui/cold-chain/uploads/{upload_id}", include_in_schema=False)
def temperature_trace_page(
    request: Request,
    upload_id: Annotated[int, Path(ge=1, le=2**62)],
    auth: ExcursionReader,
    context: ContextDep,
    session: SessionDep,
    evidence: EvidenceDep,
) -> Response:
    """One logger file plotted against the limits it was judged by, excursions shaded;
    drawn from the kept file once the log proves its entry names those bytes."""
    upload = cold_chain.get_upload(session, upload_id)
    where = cold_chain.upload_place(session, upload, context.settings.resolver_base)
    trace = logger_files.trace(session, evidence, upload, place_uri=where.uri)
    place = where.name
    title = f"Temperature at {place}, upload {upload.id}"
    return render(
        request,
        "temperature_trace.html",
        {
            "upload": upload,
            "place": place,
            "trace": trace,
            "limits": cold_chain.limits_words(trace.limits),
            "svg": plots.temperature_trace(
                trace.readings, trace.limits, trace.excursions, title=title
            ),
        },
    )
