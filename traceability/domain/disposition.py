"""Batch disposition: the decisions QA can sign, their meanings, and the allowed order.

Plain rules. A decision is an electronic signature (21 CFR Part 11): the signer picks
the meaning (11.50(a)(3)), and the signature's manifestation (printed name, UTC date
and time, meaning) goes wherever the decision is shown or printed. Releasing needs the
gate to pass; rejecting or holding never does (stopping a batch must always be
possible). Whoever entered or reviewed any result of the batch cannot release it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StrictStr, model_validator

from traceability.domain.qc_record import BatchState
from traceability.domain.what import Refusal, What, refused
from traceability.errors import ConflictError, PermissionDeniedError


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

_DECISIONS = ", ".join(d.value for d in Decision)

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


def _trimmed(value: str | None) -> str | None:
    """Blank is no justification at all (a release needs none)."""
    text = value.strip() if value is not None else ""
    return text or None


class DispositionRequest(What):
    """`batch.disposition`: QA's decision and the meaning of the signature."""

    decision: Annotated[Decision, Refusal(f"{{name}} is one of: {_DECISIONS}")]
    meaning: Annotated[
        StrictStr, Refusal("meaning is what the signature means, one of the decision's")
    ] = Field(description="one of the meanings its decision allows (MEANINGS)")
    justification: Annotated[
        StrictStr | None,
        Field(max_length=4000),
        AfterValidator(_trimmed),
        Refusal("{name} is text of at most 4000 characters"),
    ] = Field(default=None, description="needed for any decision but released")

    @model_validator(mode="after")
    def _signed_for(self) -> DispositionRequest:
        if self.meaning not in MEANINGS[self.decision]:
            raise refused(
                f"the meaning of a signature for '{self.decision}' is one of: "
                + "; ".join(MEANINGS[self.decision]),
                field="meaning",
            )
        if self.decision is not Decision.released and self.justification is None:
            raise refused(
                f"a decision of {self.decision} needs its justification", field="justification"
            )
        return self


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
