"""Liveness and readiness probes, public by design (they reveal nothing).

Readiness is `services.readiness`: reachable, schema current, room to write; PostgreSQL's
"full" comes from the writes this process saw fail (`problems.Outages`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from traceability.services import readiness
from traceability.web.deps import ContextDep
from traceability.web.problems import Outages

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """`async` because it does no I/O: FastAPI then runs it, and serialises its answer,
    on the event loop instead of hopping to a worker thread and back for each."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable, its schema current, and it has room to write",
    responses={503: {"description": "Not ready: the database is unreachable, full or behind"}},
)
def readyz(request: Request, context: ContextDep) -> JSONResponse:
    outages = getattr(request.app.state, "outages", None)
    ready = readiness.check(
        context.db,
        min_free_disk_mb=context.settings.min_free_disk_mb,
        recently_full=isinstance(outages, Outages) and outages.recently_full(),
    )
    if ready.problem is not None:
        return _not_ready(ready.problem)
    return JSONResponse({"status": "ready", "database": ready.database, "schema": ready.schema})


def _not_ready(detail: str) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": "not-ready",
    }
    return JSONResponse(
        body, status_code=503, media_type="application/problem+json", headers={"Retry-After": "5"}
    )
