"""Deviations: recorded against a batch, assigned, closed with a conclusion. Plain rules.

An open deviation blocks release (issue 7 reads `is_open`). Records are never edited:
an assignment or a closure is an event after the record, and the latest event says
where the deviation stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from traceability.domain.what import Refusal, Text64, Text200, Text4000, What
from traceability.errors import ConflictError


class Severity(StrEnum):
    minor = "minor"
    major = "major"
    critical = "critical"


class DeviationState(StrEnum):
    open = "open"
    assigned = "assigned"
    closed = "closed"


DeviationId = Annotated[StrictInt, Field(ge=1), Refusal("{name} is a deviation id")]


class DeviationRecord(What):
    """`deviation.recorded`: a deviation against the batch."""

    title: Text200
    description: Text4000
    severity: Annotated[Severity, Refusal("{name} is minor, major or critical")]


class Assignment(What):
    """`deviation.assigned`: who investigates it."""

    deviation: DeviationId
    assignee: Text64 = Field(description="the username of whoever investigates")


class Closure(What):
    """`deviation.closed`: the investigation's conclusion."""

    deviation: DeviationId
    conclusion: Text4000


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
