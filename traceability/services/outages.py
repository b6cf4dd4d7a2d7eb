"""Whether a database error means the database itself is unavailable.

The services' word for it, which every caller (the API, the pages, the readiness probe)
answers the same way.

A write that fails because PostgreSQL is down, a connection was cut, or the disk under
SQLite is full says nothing about the request: the same request will succeed once the
database is back. The web layer answers those with 503 and Retry-After (not a generic
500), the readiness probe reports them, and everything else stays a bug or a refusal.
This module only reads the error: the drivers' own codes (SQLite's extended result
code, PostgreSQL's SQLSTATE) through SQLAlchemy's wrapper and the exception chain. It
imports neither driver, so it costs nothing where one is not installed.
"""

from __future__ import annotations

from enum import StrEnum


class Outage(StrEnum):
    unreachable = "unreachable"
    """The server cannot be reached, or it dropped the connection (shut down, restarted)."""
    full = "full"
    """The disk (or a configured size limit) leaves no room to write."""
    busy = "busy"
    """No connection or lock could be had in time: too much load."""


DETAIL = {
    Outage.unreachable: "the database is unreachable; try again shortly",
    Outage.full: "the database is full (no space left to write); nothing was stored",
    Outage.busy: "the database is busy; try again shortly",
}
RETRY_AFTER = {Outage.unreachable: 5, Outage.full: 60, Outage.busy: 2}
"""Seconds a client should wait: a full disk needs someone to act, a restart does not."""

# SQLite primary result codes (sqlite3.h).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_IOERR = 10
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
# PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient resources,
# 57P0x the server shutting down or not yet accepting connections.
_PG_DISK_FULL = "53100"
_PG_SHUTDOWN = ("57P01", "57P02", "57P03")


def outage_of(error: BaseException) -> Outage | None:
    """The outage an error reports, or None when it is about the request or the code."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _own_outage(current)
        if found is not None:
            return found
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def _own_outage(error: BaseException) -> Outage | None:
    if getattr(error, "connection_invalidated", False) is True:
        return Outage.unreachable  # SQLAlchemy saw the connection die under it
    module = type(error).__module__
    name = type(error).__name__
    if module == "sqlalchemy.exc" and name == "TimeoutError":
        return Outage.busy  # the pool had no connection to give in time
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary == _SQLITE_FULL:
            return Outage.full
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return Outage.busy
        if primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
            return Outage.unreachable
        return None
    if module.startswith("psycopg"):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str):
            if state == _PG_DISK_FULL:
                return Outage.full
            if state.startswith("53"):
                return Outage.busy  # out of memory, too many connections
            if state.startswith("08") or state in _PG_SHUTDOWN:
                return Outage.unreachable
            return None
        # No SQLSTATE: the client library's own failure (refused, closed, lost).
        if name in ("OperationalError", "InterfaceError"):
            return Outage.unreachable
    return None
