"""Whether the service could store a write now: the readiness probe's questions.

Asked of the database as a write would ask them: can it be reached (a query on a fresh
connection), is its schema current, and is there room to write. SQLite's room is the
free space on the database file's disk and the file's own page limit; PostgreSQL, which
answers queries on a full disk, is judged full when a write failed as full in the last
minute (the caller says so). A load balancer then stops sending writes to a service
that could not store them, and starts again by itself once they would work.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from traceability.services.outages import Outage, outage_of
from traceability.storage import migrate
from traceability.storage.database import Database

PAGE_MARGIN = 64
"""SQLite pages a write may need (a custody step's entry, indexes, the tree's nodes):
with fewer left under the page limit, the database is as good as full."""


@dataclass(frozen=True)
class Readiness:
    problem: str | None
    """Why the service is not ready, or None when it is."""
    database: str
    schema: str | None


def check(db: Database, *, min_free_disk_mb: int, recently_full: bool) -> Readiness:
    engine = db.engine
    dialect = engine.dialect.name
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            full = _sqlite_full(connection, min_free_disk_mb)
        current = migrate.current_revision(engine)
    except SQLAlchemyError as error:
        if outage_of(error) is Outage.full:
            return Readiness("the database is full: no space left to write", dialect, None)
        return Readiness("the database is unreachable", dialect, None)
    if full:
        return Readiness(f"the database is full: {full}", dialect, current)
    if recently_full and dialect != "sqlite":  # SQLite's own probe above is exact
        return Readiness(
            "the database is full: a write failed for want of space just now", dialect, current
        )
    head = migrate.head_revision()
    if current != head:
        return Readiness(
            f"the database schema is at {current}, the code needs {head}; "
            "run `traceability db upgrade`",
            dialect,
            current,
        )
    return Readiness(None, dialect, current)


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
