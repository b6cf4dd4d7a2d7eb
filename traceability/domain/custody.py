"""Custody of vials and shippers: the states, the permitted steps, and who may take them.

Plain rules (21 CFR 11.10(f): only permitted sequences). A unit of custody is a lone
vial or a shipper with the vials packed in it; the vials of a shipper move with it.

    commissioned -> in storage (site, unit, rack, box, position)
    in storage -> packed into a shipper (at the same site)
    in storage (a lone vial) | packed -> handed to a courier        (two-party handoff)
    with courier -> in transit                                       (the courier sets off)
    with courier | in transit -> handed to a courier (relay) or to the receiving site
    delivered -> received (the container's condition recorded)
    received | in storage -> stored again, administered, or destroyed

A vial has exactly one custodian at a time: the site that holds it, or the courier.
Parties are written "site:CODE" or "user:NAME". Every refusal names the current state.
A commissioned vial has no custodian yet: it stands at the lab that made it (its
batch's site), whose people alone take it into custody or destroy it
(`check_first_custody`).

What a person signs for each step is read by the step's model (`Location` for
`custody.stored`, `HandoffOffer`, `Condition`, ...: `domain.what`), the same one the
service reads the request with, the proof re-reads the entry with and the API documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    model_validator,
)

from traceability.domain.qc_record import BatchState
from traceability.domain.what import Refusal, Text32, Text2000, What, refused
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError


class CustodyState(StrEnum):
    commissioned = "commissioned"
    in_storage = "in storage"
    packed = "packed"
    with_courier = "with courier"
    in_transit = "in transit"
    delivered = "delivered"
    received = "received"
    administered = "administered"
    destroyed = "destroyed"


class Step(StrEnum):
    store = "store"
    pack = "pack"
    hand_to_courier = "hand to courier"
    dispatch = "dispatch"
    hand_to_site = "hand to site"
    receive = "receive"
    administer = "administer"
    destroy = "destroy"


S = CustodyState
ALLOWED: dict[Step, frozenset[CustodyState]] = {
    Step.store: frozenset({S.commissioned, S.in_storage, S.packed, S.received}),
    Step.pack: frozenset({S.in_storage}),
    Step.hand_to_courier: frozenset({S.in_storage, S.packed, S.with_courier, S.in_transit}),
    Step.dispatch: frozenset({S.with_courier}),
    Step.hand_to_site: frozenset({S.with_courier, S.in_transit}),
    Step.receive: frozenset({S.delivered}),
    Step.administer: frozenset({S.in_storage, S.received}),
    Step.destroy: frozenset({S.commissioned, S.in_storage, S.received}),
}
"""From which states each step may be taken; anything else is refused (409)."""

AFTER: dict[Step, CustodyState] = {
    Step.store: S.in_storage,
    Step.pack: S.packed,
    Step.hand_to_courier: S.with_courier,
    Step.dispatch: S.in_transit,
    Step.hand_to_site: S.delivered,
    Step.receive: S.received,
    Step.administer: S.administered,
    Step.destroy: S.destroyed,
}

TERMINAL = frozenset({S.administered, S.destroyed})
ADMINISTRABLE = frozenset({BatchState.released, BatchState.conditionally_released})


def check_step(step: Step, state: CustodyState, *, what: str = "the vial") -> CustodyState:
    """The state after `step`, or ConflictError naming the current state."""
    if state not in ALLOWED[step]:
        raise ConflictError(f"{what} is {state}; it cannot be {_past(step)} from there")
    return AFTER[step]


def _past(step: Step) -> str:
    return {
        Step.store: "stored",
        Step.pack: "packed",
        Step.hand_to_courier: "handed to a courier",
        Step.dispatch: "dispatched",
        Step.hand_to_site: "handed to a site",
        Step.receive: "received",
        Step.administer: "administered",
        Step.destroy: "destroyed",
    }[step]


def check_disposition(step: Step, batch_state: BatchState) -> None:
    """Quarantined vials may ship (21 CFR 1271.265(b)), but only a released vial is given
    to a patient; a rejected or recalled batch's vials can only go to destruction."""
    if step is not Step.administer or batch_state in ADMINISTRABLE:
        return
    if batch_state in (BatchState.rejected, BatchState.recalled):
        raise ConflictError(f"the batch is {batch_state}; its vials can only go to destruction")
    raise ConflictError(f"the batch is {batch_state}; only a released vial is administered")


def check_first_custody(state: CustodyState, *, maker: str, acts_for_maker: bool) -> None:
    """A commissioned vial is in nobody's custody, so nobody's custody decides who may
    act on it; the lab that made it (`maker`, its batch's site) answers for it until its
    first storage. Acting for the site it would be stored at is not enough: a clinic's
    people would otherwise take a lab's vial into their custody without any handoff."""
    if state is CustodyState.commissioned and not acts_for_maker:
        raise PermissionDeniedError(
            f"the vial was made at {maker} and is in nobody's custody yet: only someone "
            f"who acts for {maker} stores it first or destroys it"
        )


HELD = frozenset({BatchState.recalled, BatchState.on_hold, BatchState.rejected})
"""A batch in these states holds its vials: they go nowhere but back to their lab."""


def check_handover_while_held(
    state: BatchState,
    *,
    lot: str,
    unit: str,
    to: Party,
    holder: Party | None,
    home: Party | None,
) -> None:
    """A vial of a recalled, held or rejected batch is handed over only on its way back
    to the lab that made it (`home`): to that lab, or to a courier collecting it from
    another site (who in turn may hand it only to the lab). Anything else is refused
    with the reason; a batch made without a site holds its vials until QA decides."""
    if state not in HELD:
        return
    collecting = to.kind == "user" and holder is not None and holder.kind == "site"
    if home is not None and (to == home or (collecting and holder != home)):
        return
    back = f"only back to {home.name}" if home is not None else "nowhere until QA decides"
    raise ConflictError(f"batch {lot} is {state.value}: {unit} goes {back}")


# --- parties --------------------------------------------------------------------------

_PARTY = re.compile(r"^(site|user):([A-Za-z0-9][A-Za-z0-9._-]{0,63})$")


@dataclass(frozen=True)
class Party:
    kind: str  # "site" or "user"
    name: str

    @classmethod
    def parse(cls, value: object, field: str) -> Party:
        match = _PARTY.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidInputError('a party is "site:CODE" or "user:NAME"', field=field)
        return cls(match[1], match[2])

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def custodian_after(step: Step, *, to: Party | None, current: Party | None) -> Party | None:
    """Who holds the unit after the step: the receiver of a handoff, else unchanged."""
    if step in (Step.hand_to_courier, Step.hand_to_site):
        return to
    if step in (Step.administer, Step.destroy):
        return None
    return current


def handoff_step(to: Party) -> Step:
    return Step.hand_to_site if to.kind == "site" else Step.hand_to_courier


# --- requests read from signed statements ---------------------------------------------
#
# One model per statement kind a person signs (`domain.what`, `domain.statement_kinds`):
# the service reads a request with it once, the proof re-reads a stored entry with it,
# and the API documents it. Every custody request carries a nonce, first, so that a
# request missing both its nonce and another member is refused for the nonce.

NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

Nonce = Annotated[
    StrictStr,
    Field(pattern=NONCE.pattern, description="random, new for each request"),
    Refusal("{name} is 16-64 random base64url characters, new for each request"),
]
"""Random per request: the service refuses a nonce it has seen (a replayed request)."""

PLACE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,31}")
"""A rack, box or position as written on the tank's map: letters, digits and a few
separators, so that one place has one spelling up to letter case ("a1" is "A1")."""


def _place_code(value: str) -> str:
    text = value.strip()
    if not PLACE_CODE.fullmatch(text):
        raise ValueError("not a place code")
    return text


PlaceCode = Annotated[
    StrictStr,
    AfterValidator(_place_code),
    Refusal("{name} is 1-32 letters, digits, spaces or . _ / - (as on the storage map)"),
    WithJsonSchema({"type": "string", "pattern": f"^{PLACE_CODE.pattern}$"}),
]
"""Stripped; its length is that of the code, spaces around it aside."""

PARTY_SCHEMA = {"type": "string", "pattern": _PARTY.pattern, "examples": ["site:CLINIC1"]}


def _party(value: object) -> Party:
    try:
        return Party.parse(value, "to")
    except InvalidInputError as e:
        raise refused(str(e)) from None


PartyName = Annotated[
    Party,
    PlainValidator(_party),
    Refusal('a party is "site:CODE" or "user:NAME"'),
    WithJsonSchema(PARTY_SCHEMA),
]
"""A party as a request names it, "site:CODE" or "user:NAME", read as a `Party`."""

Tag = Annotated[
    StrictStr,
    Field(max_length=64, description="the tag of the label scanned (its s=...)"),
    Refusal("{name} is the label tag scanned (s=...)"),
]
"""Optional: a scanned label must be the vial's current one."""


def _empty_if_null(value: object) -> object:
    return "" if value is None else value


class CustodyRequest(What):
    """What every signed custody request holds, first: its nonce."""

    nonce: Nonce


class Dispatch(CustodyRequest):
    """`custody.dispatched`: the courier holding the unit (the subject) sets off."""


class Administration(CustodyRequest):
    """`custody.administered`: the vial was given to a patient (whose data stays in the
    clinic's record)."""


class Location(CustodyRequest):
    """`custody.stored`: where a vial is put, as on the site's storage map."""

    site: Text32 = Field(description="the site's code")
    unit: Text32 = Field(description="the storage unit's code at that site")
    # A stored vial is found again by its exact place: all three are required.
    rack: PlaceCode
    box: PlaceCode
    position: PlaceCode

    def describe(self) -> str:
        return (
            f"{self.site} {self.unit}, rack {self.rack}, box {self.box}, position {self.position}"
        )


MAX_PACKED = 500


def _vial_uris(value: object) -> object:
    """The whole list is refused at once, naming `vials`, as the reader always did."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(uri, str) for uri in value)
        or len(set(value)) != len(value)
        or len(value) > MAX_PACKED
    ):
        raise refused(f"vials is a list of 1-{MAX_PACKED} distinct vial URIs")
    return value


class Packing(CustodyRequest):
    """`custody.packed`: the stored vials put into an empty shipper (the subject)."""

    vials: Annotated[
        tuple[StrictStr, ...],
        BeforeValidator(_vial_uris),
        Field(
            min_length=1,
            max_length=MAX_PACKED,
            description="distinct vial URIs",
            json_schema_extra={"uniqueItems": True},
        ),
        Refusal(f"{{name}} is a list of 1-{MAX_PACKED} distinct vial URIs"),
    ]


class HandoffOffer(CustodyRequest):
    """`custody.handover.offered`: the custodian offers the unit to a courier or site."""

    to: PartyName
    tag: Tag | None = None


class HandoffAcceptance(CustodyRequest):
    """`custody.handover.accepted`: the named party takes an open handoff."""

    handoff: Annotated[StrictInt, Field(ge=1), Refusal("{name} is the open handoff's id")]
    tag: Tag | None = None


class Condition(CustodyRequest):
    """`custody.received`: the container's condition on receipt. A broken seal or
    damage is described in `notes`."""

    seal_intact: Annotated[StrictBool, Refusal("{name} is true or false")]
    damaged: Annotated[StrictBool, Refusal("{name} is true or false")]
    logger_attached: Annotated[StrictBool, Refusal("{name} is true or false")]
    notes: Annotated[
        StrictStr,
        BeforeValidator(_empty_if_null),
        Field(max_length=2000),
        AfterValidator(str.strip),
        Refusal("{name} is text of 1-2000 characters"),
    ] = ""

    @model_validator(mode="after")
    def _explained(self) -> Condition:
        if (self.damaged or not self.seal_intact) and not self.notes:
            raise refused("describe the damage or the broken seal in notes", field="notes")
        return self


class Destruction(CustodyRequest):
    """`custody.destroyed`: the vial was destroyed, and why."""

    reason: Text2000


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at
