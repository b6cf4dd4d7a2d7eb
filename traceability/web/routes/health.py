"""Liveness and readiness probes, public by design (they reveal nothing).

Readiness asks the database the questions a write would: can it be reached (a query on
a fresh connection), is its schema current, and is there room to write. SQLite's room
is the free space on the database file's disk and the file's own page limit; for
PostgreSQL, which answers queries on a full disk, a write that failed as full in the
last minute (`problems.Outages`) says so. A load balancer then stops sending writes to
a service that could not store them, and starts again by itself once they would work.
"""

from __future__ import annotations

import os
import shutil

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from traceability.storage import migrate
from traceability.storage.outage import Outage, outage_of
from traceability.web.deps import ContextDep
from traceability.web.problems import Outages

router = APIRouter(tags=["health"])

PAGE_MARGIN = 64
"""SQLite pages a write may need (a custody step's entry, indexes, the tree's nodes):
with fewer left under the page limit, the database is as good as full."""


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable, its schema current, and it has room to write",
    responses={503: {"description": "Not ready: the database is unreachable, full or behind"}},
)
def readyz(request: Request, context: ContextDep) -> JSONResponse:
    engine = context.db.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            full = _sqlite_full(connection, context.settings.min_free_disk_mb)
        current = migrate.current_revision(engine)
    except SQLAlchemyError as error:
        outage = outage_of(error)
        if outage is Outage.full:
            return _not_ready("the database is full: no space left to write")
        return _not_ready("the database is unreachable")
    if full:
        return _not_ready(f"the database is full: {full}")
    outages = getattr(request.app.state, "outages", None)
    recent = isinstance(outages, Outages) and outages.recently_full()
    if recent and engine.dialect.name != "sqlite":  # SQLite's own probe above is exact
        return _not_ready("the database is full: a write failed for want of space just now")
    head = migrate.head_revision()
    if current != head:
        return _not_ready(
            f"the database schema is at {current}, the code needs {head}; "
            "run `traceability db upgrade`"
        )
    return JSONResponse({"status": "ready", "database": engine.dialect.name, "schema": current})


def _sqlite_full(connection: Connection, min_free_mb: int) -> str | None:
    """Why a SQLite database has no room to write, or None (always None elsewhere)."""
    if connection.dialect.name != "sqlite":
        return None
    path = connection.engine.url.database
    if path and path != ":memory:":
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        if free < min_free_mb * 2**20:
            return f"{free // 2**20} MB free on its disk (TRACE_MIN_FREE_DISK_MB: {min_free_mb})"
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
    limit = connection.exec_driver_sql("PRAGMA max_page_count").scalar_one()
    unused = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
    if limit - pages + unused < PAGE_MARGIN:
        return f"{pages} of at most {limit} pages used"
    return None


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
