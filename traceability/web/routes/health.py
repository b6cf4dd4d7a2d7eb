"""Liveness and readiness probes, public by design (they reveal nothing)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from traceability.storage import migrate
from traceability.web.deps import ContextDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and its schema is current")
def readyz(context: ContextDep) -> JSONResponse:
    engine = context.db.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
    except SQLAlchemyError:
        return _not_ready("the database is unreachable")
    head = migrate.head_revision()
    if current != head:
        return _not_ready(
            f"the database schema is at {current}, the code needs {head}; "
            "run `traceability db upgrade`"
        )
    return JSONResponse({"status": "ready", "database": engine.dialect.name, "schema": current})


def _not_ready(detail: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": "not-ready",
    }
    return JSONResponse(body, status_code=503, media_type="application/problem+json")
