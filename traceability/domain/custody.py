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
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from traceability.domain.qc_record import BatchState
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError

WHAT = "statement.what"


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

NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _nonce(what: Mapping[str, Any]) -> str:
    value = what.get("nonce")
    if not isinstance(value, str) or not NONCE.fullmatch(value):
        raise InvalidInputError(
            "nonce is 16-64 random base64url characters, new for each request",
            field=f"{WHAT}.nonce",
        )
    return value


def _text(what: Mapping[str, Any], name: str, max_length: int, *, required: bool = True) -> str:
    value = what.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise InvalidInputError(
            f"{name} is text of 1-{max_length} characters", field=f"{WHAT}.{name}"
        )
    return value.strip()


PLACE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,31}")
"""A rack, box or position as written on the tank's map: letters, digits and a few
separators, so that one place has one spelling up to letter case ("a1" is "A1")."""


def _place_code(what: Mapping[str, Any], name: str) -> str:
    value = what.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if not PLACE_CODE.fullmatch(text):
        raise InvalidInputError(
            f"{name} is 1-32 letters, digits, spaces or . _ / - (as on the storage map)",
            field=f"{WHAT}.{name}",
        )
    return text


def _tag(what: Mapping[str, Any]) -> str | None:
    value = what.get("tag")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInputError("tag is the label tag scanned (s=...)", field=f"{WHAT}.tag")
    return value


@dataclass(frozen=True)
class Location:
    site: str
    unit: str
    rack: str
    box: str
    position: str

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> Location:
        return cls(
            site=_text(what, "site", 32),
            unit=_text(what, "unit", 32),
            # A stored vial is found again by its exact place: all three are required.
            rack=_place_code(what, "rack"),
            box=_place_code(what, "box"),
            position=_place_code(what, "position"),
        )

    def describe(self) -> str:
        return (
            f"{self.site} {self.unit}, rack {self.rack}, box {self.box}, position {self.position}"
        )


@dataclass(frozen=True)
class HandoffOffer:
    to: Party
    nonce: str
    tag: str | None

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> HandoffOffer:
        return cls(Party.parse(what.get("to"), f"{WHAT}.to"), _nonce(what), _tag(what))


@dataclass(frozen=True)
class HandoffAcceptance:
    handoff: int
    nonce: str
    tag: str | None

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> HandoffAcceptance:
        value = what.get("handoff")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInputError("handoff is the open handoff's id", field=f"{WHAT}.handoff")
        return cls(value, _nonce(what), _tag(what))


@dataclass(frozen=True)
class Condition:
    """The container's condition on receipt."""

    seal_intact: bool
    damaged: bool
    logger_attached: bool
    notes: str

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> Condition:
        flags = {}
        for name in ("seal_intact", "damaged", "logger_attached"):
            value = what.get(name)
            if not isinstance(value, bool):
                raise InvalidInputError(f"{name} is true or false", field=f"{WHAT}.{name}")
            flags[name] = value
        notes = _text(what, "notes", 2000, required=False)
        if (flags["damaged"] or not flags["seal_intact"]) and not notes:
            raise InvalidInputError(
                "describe the damage or the broken seal in notes", field=f"{WHAT}.notes"
            )
        return cls(flags["seal_intact"], flags["damaged"], flags["logger_attached"], notes)


def read_nonce(what: Mapping[str, Any]) -> str:
    return _nonce(what)


def read_text(what: Mapping[str, Any], name: str, max_length: int = 2000) -> str:
    return _text(what, name, max_length)


def is_expired(expires_at: datetime, now: datetime) -> bool:
    return now >= expires_at
