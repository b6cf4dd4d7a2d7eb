"""Deviations: recorded against a batch, assigned, closed with a conclusion. Plain rules.

An open deviation blocks release (issue 7 reads `is_open`). Records are never edited:
an assignment or a closure is an event after the record, and the latest event says
where the deviation stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from traceability.errors import ConflictError, InvalidInputError

WHAT = "statement.what"


class Severity(StrEnum):
    minor = "minor"
    major = "major"
    critical = "critical"


class DeviationState(StrEnum):
    open = "open"
    assigned = "assigned"
    closed = "closed"


def _text(what: Mapping[str, Any], name: str, max_length: int) -> str:
    value = what.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(
            f"{name} is text of 1-{max_length} characters", field=f"{WHAT}.{name}"
        )
    return value.strip()


def _deviation_id(what: Mapping[str, Any]) -> int:
    value = what.get("deviation")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError("deviation is a deviation id", field=f"{WHAT}.deviation")
    return value


@dataclass(frozen=True)
class DeviationRecord:
    title: str
    description: str
    severity: Severity

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> DeviationRecord:
        try:
            severity = Severity(str(what.get("severity")))
        except ValueError:
            raise InvalidInputError(
                "severity is minor, major or critical", field=f"{WHAT}.severity"
            ) from None
        return cls(_text(what, "title", 200), _text(what, "description", 4000), severity)


@dataclass(frozen=True)
class Assignment:
    deviation: int
    assignee: str

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> Assignment:
        return cls(_deviation_id(what), _text(what, "assignee", 64))


@dataclass(frozen=True)
class Closure:
    deviation: int
    conclusion: str

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> Closure:
        return cls(_deviation_id(what), _text(what, "conclusion", 4000))


def state_of(event_kinds: Sequence[str]) -> DeviationState:
    """Where a deviation stands after its events, oldest first."""
    if "closed" in event_kinds:
        return DeviationState.closed
    if "assigned" in event_kinds:
        return DeviationState.assigned
    return DeviationState.open


def check_can_change(state: DeviationState) -> None:
    if state is DeviationState.closed:
        raise ConflictError("the deviation is closed")


def is_open(state: DeviationState) -> bool:
    return state is not DeviationState.closed
