"""Reading a stored code (a state, a verdict) back into its enum, failing closed.

A row's code is one of a few values the service wrote; a database changed behind the
service's back may hold anything. Such a value is a finding about the record (409 with
the finding, the same as any row the log does not prove), never a 500.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from traceability.errors import UnprovenError

E = TypeVar("E", bound=Enum)


def stored(kind: type[E], value: object, record: str) -> E:
    """`kind(value)`, or UnprovenError naming the record and the value it holds."""
    try:
        return kind(value)
    except ValueError:
        finding = f"{record}: holds {value!r}, which is not a {kind.__name__}"
        raise UnprovenError(
            f"{finding}: the database was changed outside the service (run reconcile)",
            findings=[finding],
        ) from None
