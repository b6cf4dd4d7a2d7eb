"""Every error the API gives is an RFC 9457 problem, mapped here and nowhere else.

Browsers (Accept: text/html) get the same status with a readable page instead; a
missing sign-in shows the sign-in form in place, so a scanned link works after signing
in. Unexpected exceptions become a 500 problem without internals, and are logged.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from traceability.errors import (
    AccountLockedError,
    AuthenticationError,
    BusyError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TraceabilityError,
    UnprovenError,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[TraceabilityError], int]] = [
    (AccountLockedError, 429),
    (RateLimitedError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (BusyError, 503),
]


def status_for(error: TraceabilityError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    code: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    if wants_html(request):
        from traceability.web.pages import error_page

        return error_page(request, status, detail, headers=headers)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if errors:
        body["errors"] = errors
        body["field"] = errors[0]["field"]
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _code(error: TraceabilityError) -> str:
    """`InvalidInputError` -> "invalid-input": a stable name clients can switch on."""
    name = type(error).__name__.removesuffix("Error") or "Traceability"
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "roles", 0) -> "roles[0]"; the location kind stays in "in".
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in {"body", "query", "path", "header", "cookie"}
        else []
    )
    if not parts:
        parts = [str(p) for p in loc]
    text = parts[0]
    for p in parts[1:]:
        text += f"[{p}]" if p.isdigit() else f".{p}"
    return text


def _validation_error(e: Any) -> dict[str, Any]:
    loc = tuple(e.get("loc", ()))
    where = str(loc[0]) if loc else "body"
    if e.get("type") == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        reason = (e.get("ctx") or {}).get("error", "malformed")
        return {
            "field": "body",
            "in": "body",
            "message": f"the body is not valid JSON ({reason} at character {position})",
        }
    return {"field": _field_name(loc), "message": e.get("msg", "invalid"), "in": where}


def install(app: FastAPI) -> None:
    @app.exception_handler(TraceabilityError)
    async def _domain(request: Request, error: TraceabilityError) -> Response:
        status = status_for(error)
        errors = None
        if isinstance(error, InvalidInputError) and error.field:
            errors = [{"field": error.field, "message": str(error)}]
        headers = None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if isinstance(error, AccountLockedError | RateLimitedError) and error.retry_after:
            headers = {"Retry-After": str(error.retry_after)}
        if isinstance(error, BusyError):
            headers = {"Retry-After": "1"}
        extra = {"findings": error.findings} if isinstance(error, UnprovenError) else None
        return problem(
            request,
            status,
            str(error),
            code=_code(error),
            errors=errors,
            headers=headers,
            extra=extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        errors = [_validation_error(e) for e in error.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(request, 422, detail, code="validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        detail = (
            error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
        )
        return problem(
            request, error.status_code, detail, code="http", headers=getattr(error, "headers", None)
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, error: DataError) -> Response:
        # A value the database cannot hold slipped past validation: still the caller's input.
        logger.warning("database refused a value on %s %s", request.method, request.url.path)
        return problem(request, 422, "a value in the request cannot be stored", code="data")

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, error: IntegrityError) -> Response:
        # Two requests raced for the same unique record; the loser changed nothing.
        return problem(
            request,
            409,
            "this conflicts with a record stored at the same moment; reload and try again",
            code="conflict",
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "The service failed; the error was logged.", code="internal")
