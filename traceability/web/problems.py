"""Every error the API gives is an RFC 9457 problem, mapped here and nowhere else.

Browsers (Accept: text/html) get the same status with a readable page instead; a
missing sign-in shows the sign-in form in place, so a scanned link works after signing
in. A database that is down, cut off or full is a 503 with Retry-After that says so
(`services.outages`): the request was fine and will succeed later. Anything else
unexpected becomes a 500 problem without internals, and is logged. Settings that do not
work (`ConfigurationError`) are the server's fault: a 503, its text only in the log.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from traceability.errors import (
    AccountLockedError,
    AuthenticationError,
    BusyError,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PasswordChangeRequired,
    PermissionDeniedError,
    RateLimitedError,
    TooLargeError,
    TraceabilityError,
    UnprovenError,
)
from traceability.services.outages import DETAIL, RETRY_AFTER, Outage, outage_of
from traceability.web.password_paths import PASSWORD_PAGE

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[TraceabilityError], int]] = [
    (AccountLockedError, 429),
    (RateLimitedError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (TooLargeError, 413),
    (InvalidInputError, 422),
    (BusyError, 503),
    (ConfigurationError, 503),
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
    return problem_json(
        status,
        detail,
        code=code,
        instance=request.url.path,
        errors=errors,
        headers=headers,
        extra=extra,
    )


def problem_json(
    status: int,
    detail: str,
    *,
    code: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The problem document itself: also for the ASGI layers outside FastAPI (request
    limits, the last-resort guard), which have no `Request` and answer every client so."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if errors:
        body["errors"] = errors
        body["field"] = errors[0]["field"]
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class Outages:
    """When the database was last seen full, for the readiness probe: PostgreSQL answers
    `SELECT 1` on a full disk, so only a failed write tells."""

    def __init__(self) -> None:
        self.full_at: float | None = None

    def saw(self, outage: Outage) -> None:
        if outage is Outage.full:
            self.full_at = time.monotonic()

    def recently_full(self, within: float = RETRY_AFTER[Outage.full]) -> bool:
        return self.full_at is not None and time.monotonic() - self.full_at < within


def outage_problem(request: Request, outage: Outage) -> Response:
    """503 for a database that is unavailable, naming how, with when to try again."""
    outages = getattr(request.app.state, "outages", None)
    if isinstance(outages, Outages):
        outages.saw(outage)
    logger.warning("database %s on %s %s", outage.value, request.method, request.url.path)
    return problem(
        request,
        503,
        DETAIL[outage],
        code=f"database-{outage.value}",
        headers={"Retry-After": str(RETRY_AFTER[outage])},
    )


def routes_of(routes: list[Any]) -> Iterator[Route]:
    """Every route, through the routers included (FastAPI keeps them nested; ours have no
    prefix, so each route's path is its path)."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from routes_of(inner.routes)


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in routes_of(request.app.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE and route.methods:
            methods |= route.methods
    return sorted(methods)


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
        if isinstance(error, PasswordChangeRequired) and wants_html(request):
            return RedirectResponse(PASSWORD_PAGE, status_code=303)
        status = status_for(error)
        errors = None
        if isinstance(error, InvalidInputError) and error.field:
            errors = [{"field": error.field, "message": str(error)}]
        detail = str(error)
        if isinstance(error, ConfigurationError):
            logger.error("the service's settings are unusable: %s", error)
            detail = "the service is not configured correctly; the error was logged"
        headers = None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        if isinstance(error, AccountLockedError | RateLimitedError) and error.retry_after:
            headers = {"Retry-After": str(error.retry_after)}
        if isinstance(error, BusyError):
            headers = {"Retry-After": "1"}
        if isinstance(error, ConfigurationError):
            headers = {"Retry-After": str(RETRY_AFTER[Outage.unreachable])}
        extra: dict[str, Any] | None = None
        if isinstance(error, UnprovenError):
            extra = {"findings": error.findings}
        elif isinstance(error, TooLargeError):
            extra = {"limit": error.limit}
        return problem(
            request,
            status,
            detail,
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
        headers = getattr(error, "headers", None)
        if error.status_code == 405:
            # Starlette names the methods of the first route on the path only; a path
            # with a GET route and a POST route then allowed one of them.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(request, error.status_code, detail, code="http", headers=headers)

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

    app.state.outages = Outages()

    async def _database(request: Request, error: Exception) -> Response:
        # Handled here rather than by the catch-all below: Starlette re-raises what
        # reaches that one after answering, and the server then drops the connection.
        return _unexpected_or_outage(request, error)

    for database_error in (SQLAlchemyError, sqlite3.Error, *_driver_errors()):
        app.add_exception_handler(database_error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        return _unexpected_or_outage(request, error)


def _unexpected_or_outage(request: Request, error: BaseException) -> Response:
    outage = outage_of(error)
    if outage is not None:
        return outage_problem(request, outage)
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, 500, "The service failed; the error was logged.", code="internal")


def _driver_errors() -> tuple[type[Exception], ...]:
    """psycopg's base error, when PostgreSQL's driver is installed (it is optional to
    the code, if not to the package): its errors can surface unwrapped."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - installed with the package
        return ()
    return (psycopg.Error,)
