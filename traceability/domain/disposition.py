"""Batch disposition: the decisions QA can sign, their meanings, and the allowed order.

Plain rules. A decision is an electronic signature (21 CFR Part 11): the signer picks
the meaning (11.50(a)(3)), and the signature's manifestation (printed name, UTC date
and time, meaning) goes wherever the decision is shown or printed. Releasing needs the
gate to pass; rejecting or holding never does (stopping a batch must always be
possible). Whoever entered or reviewed any result of the batch cannot release it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from traceability.domain.qc_record import BatchState
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError

WHAT = "statement.what"


class Decision(StrEnum):
    released = "released"
    conditionally_released = "conditionally released"
    on_hold = "on hold"
    rejected = "rejected"


MEANINGS: dict[Decision, tuple[str, ...]] = {
    Decision.released: ("Approved for release",),
    Decision.conditionally_released: ("Approved for conditional release, sterility pending",),
    Decision.on_hold: ("Placed on hold pending investigation",),
    Decision.rejected: ("Rejected",),
}
"""What a signature of each decision may mean; the signer picks one."""

RELEASES = frozenset({Decision.released, Decision.conditionally_released})

FROM: dict[Decision, frozenset[BatchState]] = {
    Decision.released: frozenset(
        {BatchState.quarantine, BatchState.on_hold, BatchState.conditionally_released}
    ),
    Decision.conditionally_released: frozenset({BatchState.quarantine, BatchState.on_hold}),
    Decision.on_hold: frozenset({BatchState.quarantine, BatchState.conditionally_released}),
    Decision.rejected: frozenset(
        {
            BatchState.quarantine,
            BatchState.on_hold,
            BatchState.conditionally_released,
            BatchState.recalled,
        }
    ),
}
"""From which batch states each decision may be taken."""


@dataclass(frozen=True)
class DispositionRequest:
    decision: Decision
    meaning: str
    justification: str | None

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> DispositionRequest:
        try:
            decision = Decision(str(what.get("decision")))
        except ValueError:
            allowed = ", ".join(d.value for d in Decision)
            raise InvalidInputError(
                f"decision is one of: {allowed}", field=f"{WHAT}.decision"
            ) from None
        meaning = what.get("meaning")
        if meaning not in MEANINGS[decision]:
            raise InvalidInputError(
                f"the meaning of a signature for '{decision}' is one of: "
                + "; ".join(MEANINGS[decision]),
                field=f"{WHAT}.meaning",
            )
        justification = what.get("justification")
        if justification is not None and (
            not isinstance(justification, str) or len(justification) > 4000
        ):
            raise InvalidInputError(
                "justification is text of at most 4000 characters",
                field=f"{WHAT}.justification",
            )
        text = justification.strip() if isinstance(justification, str) else ""
        if decision is not Decision.released and not text:
            raise InvalidInputError(
                f"a decision of {decision} needs its justification",
                field=f"{WHAT}.justification",
            )
        return cls(decision, str(meaning), text or None)


def check_transition(decision: Decision, state: BatchState) -> BatchState:
    if state not in FROM[decision]:
        raise ConflictError(f"the batch is {state}; it cannot be {decision} from there")
    return BatchState(decision.value)


def check_separation(decision: Decision, signer: str, involved: set[str]) -> None:
    """Whoever entered or reviewed any result of the batch cannot release it."""
    if decision in RELEASES and signer in involved:
        raise PermissionDeniedError(
            "you entered or reviewed results of this batch; another QA person must release it"
        )


@dataclass(frozen=True)
class Manifestation:
    """How a signature shows wherever the decision is shown or printed (11.50)."""

    printed_name: str
    signed_at: datetime
    meaning: str

    def line(self) -> str:
        return (
            f"Signed by {self.printed_name} on {self.signed_at:%Y-%m-%d at %H:%M:%S} UTC: "
            f"{self.meaning}"
        )
