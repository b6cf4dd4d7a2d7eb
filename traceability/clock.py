"""The service's one source of the current time: always timezone-aware UTC.

Services take a `Clock` so that tests can move time (token expiry, lock-out windows)
without sleeping and without patching the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime to aware UTC; naive values are taken to be UTC already.

    SQLite hands back naive datetimes, so every value read from storage passes here.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """The form used inside signed bodies: UTC with a `Z`, microseconds only if present."""
    text = as_utc(value).isoformat()
    return text.replace("+00:00", "Z")
