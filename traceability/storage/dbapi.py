"""Plain DB-API connections, for a reader that must start fast (verify-log).

SQLAlchemy and SQLModel take longer to import than verify-log takes to check thousands
of entries, and a reader of one snapshot needs nothing of theirs. This module opens a
SQLite file with the standard library's `sqlite3` alone, set up exactly as the
service's engine sets up its connections (it owns that set-up: `database.py` installs
the same function). Every other URL (PostgreSQL, an in-memory or `file:` URI SQLite
database, a URL with options, anything unparseable) is left to the service's engine,
so that it is read, and refused, exactly as everywhere else. Imports only the standard
library; it must never import SQLAlchemy.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SQLITE_BUSY_TIMEOUT_MS = 30_000

DbapiConnection = Any
"""A PEP 249 connection (`sqlite3` or `psycopg`): the drivers share no static type."""

# A URL that SQLAlchemy reads as nothing but a file path: no host, no options, no
# percent-escapes (which SQLAlchemy would decode), not the in-memory database.
_SQLITE_FILE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///([^?%]+)")


def configure_sqlite(dbapi_connection: sqlite3.Connection) -> None:
    """The settings of every SQLite connection the service opens (see `database.py`)."""
    # Take transaction control away from the sqlite3 module so we can say BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def require_sqlite_file(path: Path) -> None:
    """Refuse a SQLite file that does not exist, rather than create an empty one."""
    if not path.exists():
        raise ValueError(f"{path} does not exist; run `traceability db upgrade` first")


def sqlite_file_path(url: str) -> str | None:
    """The file of a plain `sqlite:///<path>` URL, as SQLAlchemy would read it; else None."""
    match = _SQLITE_FILE_URL.fullmatch(url)
    if match is None or match.group(1) == ":memory:":
        return None
    return match.group(1)


class SqliteFile:
    """An existing SQLite file, opened with `sqlite3` for each reader."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        require_sqlite_file(Path(path))
        self.path = os.path.abspath(path)  # as SQLAlchemy's pysqlite dialect opens it

    @contextmanager
    def dbapi_connection(self) -> Iterator[DbapiConnection]:
        connection = sqlite3.connect(
            self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            configure_sqlite(connection)
            yield connection
        finally:
            connection.close()

    def dispose(self) -> None:
        """Nothing to release: each reader's connection is closed when it ends."""
