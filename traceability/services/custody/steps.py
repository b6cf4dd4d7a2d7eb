"""The custody steps that move vials: store, pack, dispatch, receive, administer, destroy.

Each is one use case inside the caller's unit of work: read and check the person's
signed request (`frame`), check the step against `domain.custody` and the batch's
disposition, append the entry, move the vials. Handing a unit to another party is
not here: it takes two people and two requests (`handoffs`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.evidence import LogEvidence
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.custody import (
    Administration,
    Condition,
    CustodyState,
    Destruction,
    Dispatch,
    Location,
    Packing,
    Step,
    check_disposition,
    check_step,
)
from traceability.domain.qc_record import BatchState
from traceability.errors import (
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    UnprovenError,
)
from traceability.services import cold_chain
from traceability.services import sites as site_service
from traceability.services.custody.frame import (
    WHAT,
    Caller,
    append,
    check_maker,
    check_not_offered,
    expect,
    move,
    refuse_packed_vial,
    require_custodian,
    state_of,
)
from traceability.services.custody.positions import (
    EVENTS,
    Position,
    Unit,
    acts_for,
    position_of,
    positions,
    reads,
    shipper_site,
    site_party,
    vials_in,
)
from traceability.services.proof.batch import check_batch
from traceability.services.stored import stored
from traceability.storage.models import Batch, Shipper, Site, Vial


def store(
    session: Session, log: CustodyLog, signed: SignedStatement, *, vial: Vial, caller: Caller
) -> None:
    """Put a vial in a storage unit: first storage, a move within its site, or after receipt."""
    user, now = caller.user, caller.now
    location = expect(signed, Location, type="custody.stored", subject=vial.uri, user=user)
    nonce = location.nonce
    site = site_service.get_site(session, location.site, field=f"{WHAT}.site")
    unit_row = site_service.get_unit(session, site, location.unit)
    position = position_of(session, vial)
    check_step(Step.store, position.state)
    here = site_party(site)
    if position.custodian is not None and position.custodian != here:
        raise ConflictError(
            f"the vial is in the custody of {position.custodian}; it reaches {site.code} "
            "through a handoff"
        )
    if not site_service.is_member(session, site, user):
        raise PermissionDeniedError(f"you do not act for site {site.code}")
    check_maker(session, vial, position, user)
    check_not_offered(session, vial, position, now)
    assert unit_row is not None and unit_row.id is not None  # noqa: S101 - get_unit raises
    _check_slot_free(session, vial, unit_row.id, location)
    appended = append(session, log, signed, nonce, caller)
    move(
        session,
        log,
        Unit(vial.uri, vial, None, [vial], position),
        Step.store,
        state=CustodyState.in_storage,
        custodian=here,
        appended=appended,
        caller=caller,
        site=site,
        location=(unit_row.id, location.rack, location.box, location.position),
    )


_LATER = EVENTS.alias("later")
_LATEST_OF_VIAL = (
    sa_select(func.max(_LATER.c.id)).where(_LATER.c.vial_id == EVENTS.c.vial_id).scalar_subquery()
)
_IN_SLOT = sa_select(EVENTS.c.vial_id).where(
    EVENTS.c.unit_id == bindparam("unit"),
    func.upper(EVENTS.c.position) == bindparam("position"),
    func.upper(EVENTS.c.rack) == bindparam("rack"),
    func.upper(EVENTS.c.box) == bindparam("box"),
    EVENTS.c.state == bindparam("stored"),
    EVENTS.c.vial_id != bindparam("vial"),
    EVENTS.c.id == _LATEST_OF_VIAL,
)
"""A vial stored now in a slot: one whose latest custody event left it there."""


def _check_slot_free(session: Session, vial: Vial, unit_id: int, location: Location) -> None:
    """A position holds one vial: storing a second there would make the storage map,
    and the search for a vial in the tank, wrong. "a1" and "A1" are one place."""
    row = (
        reads(session)
        .execute(
            _IN_SLOT,
            {
                "unit": unit_id,
                "position": location.position.upper(),
                "rack": location.rack.upper(),
                "box": location.box.upper(),
                "stored": CustodyState.in_storage.value,
                "vial": vial.id,
            },
        )
        .first()
    )
    if row is not None:
        there = session.get(Vial, row[0])
        raise ConflictError(
            f"{location.describe()} already holds vial {there.uri if there else row[0]}; "
            "choose a free position"
        )


def pack(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    shipper: Shipper,
    caller: Caller,
) -> None:
    """Pack stored vials of one site into an empty shipper."""
    user, now = caller.user, caller.now
    packing = expect(signed, Packing, type="custody.packed", subject=shipper.uri, user=user)
    nonce, uris = packing.nonce, packing.vials
    if vials_in(session, shipper):
        raise ConflictError(f"shipper {shipper.sscc} is not empty")
    vials = []
    for n, uri in enumerate(uris):
        vial = session.exec(select(Vial).where(Vial.uri == uri)).first()
        if vial is None:
            raise InvalidInputError(f"no vial {uri}", field=f"{WHAT}.vials[{n}]")
        vials.append(vial)
    where = positions(session, [v.id for v in vials if v.id is not None])
    custodians = {where[v.id].custodian for v in vials if v.id is not None}
    for vial in vials:
        assert vial.id is not None  # noqa: S101 - stored
        check_step(Step.pack, where[vial.id].state, what=f"vial {vial.serial}")
    if len(custodians) != 1:
        raise ConflictError("the vials are at different sites; pack each site's vials apart")
    custodian = custodians.pop()
    if not acts_for(session, user, custodian):
        raise PermissionDeniedError(f"the vials are in the custody of {custodian}, not yours")
    here = shipper_site(session, shipper)
    if custodian != site_party(here):
        raise ConflictError(f"shipper {shipper.sscc} is at {here.code}, not with the vials")
    for vial in vials:
        assert vial.id is not None  # noqa: S101 - stored
        check_not_offered(session, vial, where[vial.id], now)
    appended = append(session, log, signed, nonce, caller)
    unit = Unit(shipper.uri, None, shipper, vials, where[vials[0].id or 0])
    move(
        session,
        log,
        unit,
        Step.pack,
        state=CustodyState.packed,
        custodian=custodian,
        appended=appended,
        caller=caller,
        shipper_id=shipper.id,
    )


def dispatch(
    session: Session, log: CustodyLog, signed: SignedStatement, *, unit: Unit, caller: Caller
) -> None:
    """The courier holding the unit sets off: in transit."""
    request = expect(
        signed, Dispatch, type="custody.dispatched", subject=unit.uri, user=caller.user
    )
    _held_step(
        session, log, signed, unit=unit, caller=caller, step=Step.dispatch, nonce=request.nonce
    )


def receive(
    session: Session, log: CustodyLog, signed: SignedStatement, *, unit: Unit, caller: Caller
) -> None:
    """The receiving site records the container's condition on arrival."""
    condition = expect(
        signed, Condition, type="custody.received", subject=unit.uri, user=caller.user
    )
    _held_step(
        session,
        log,
        signed,
        unit=unit,
        caller=caller,
        step=Step.receive,
        nonce=condition.nonce,
        detail={
            "seal_intact": condition.seal_intact,
            "damaged": condition.damaged,
            "logger_attached": condition.logger_attached,
            "notes": condition.notes,
        },
    )


def _held_step(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    unit: Unit,
    caller: Caller,
    step: Step,
    nonce: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """A step only the unit's custodian takes, on a unit as a whole (dispatch, receive)."""
    refuse_packed_vial(unit)
    state = check_step(step, state_of(unit), what=unit.name)
    position = require_custodian(session, unit, caller.user, None)
    appended = append(session, log, signed, nonce, caller)
    move(
        session,
        log,
        unit,
        step,
        state=state,
        custodian=position.custodian,
        appended=appended,
        caller=caller,
        shipper_id=unit.shipper.id if unit.shipper else None,
        detail=detail,
    )


def _final_step(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    vial: Vial,
    caller: Caller,
    step: Step,
    nonce: str,
    detail: dict[str, Any],
) -> None:
    user, now = caller.user, caller.now
    unit = Unit(vial.uri, vial, None, [vial], position_of(session, vial))
    state = check_step(step, state_of(unit))
    if unit.position is not None and unit.position.state is CustodyState.commissioned:
        check_maker(session, vial, unit.position, user)  # nobody holds it yet
        position = unit.position
    else:
        position = require_custodian(session, unit, user, None)
    batch = session.get(Batch, vial.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    if step is Step.administer and caller.alarms:
        raise UnprovenError(
            "the last self-check found the database disagreeing with the signed log: no "
            "vial is administered until QA has found the cause",
            findings=list(caller.alarms),
        )
    if step is Step.administer:
        # Whether the vial may reach a patient rests on the batch's proven record, not on
        # its row (docs/trust.md): sign a checkpoint so that every entry is covered, then
        # prove the batch and take its state from the signed decisions.
        proof = check_batch(
            session,
            LogEvidence(
                session, log.keys.log.verifier(), note=log.issue_checkpoint(session, now=now).note
            ),
            batch,
        )
        if not proof.ok:
            raise UnprovenError(
                f"batch {batch.lot}'s record is not proven by the signed log: the vial is "
                "not administered until QA has found the cause",
                findings=proof.lines(),
            )
        check_disposition(step, proof.state)
    else:
        check_disposition(step, stored(BatchState, batch.state, f"batch {batch.lot}"))
    if step is Step.administer:
        _check_administrable_here(session, vial, position)
    appended = append(session, log, signed, nonce, caller)
    move(
        session,
        log,
        unit,
        step,
        state=state,
        custodian=None,
        appended=appended,
        caller=caller,
        detail=detail,
    )


def _check_administrable_here(session: Session, vial: Vial, position: Position) -> None:
    """Only at a clinic, and never while a temperature excursion on the vial is open."""
    site = session.get(Site, position.site_id) if position.site_id else None
    if site is None or site.kind != "clinic":
        raise ConflictError("a vial is administered at a clinic; hand it over to one first")
    open_ones = [
        e
        for e in cold_chain.excursions_for_vial(session, vial)
        if not cold_chain.closure_of(session, e)
    ]
    if open_ones:
        raise ConflictError(
            f"temperature excursion #{open_ones[0].id} on this vial is open; QA must assess "
            "and close it before the vial is administered"
        )


def administer(
    session: Session, log: CustodyLog, signed: SignedStatement, *, vial: Vial, caller: Caller
) -> None:
    """The vial was given to a patient (no patient data here: the clinic's record holds it)."""
    request = expect(
        signed, Administration, type="custody.administered", subject=vial.uri, user=caller.user
    )
    _final_step(
        session,
        log,
        signed,
        vial=vial,
        caller=caller,
        step=Step.administer,
        nonce=request.nonce,
        detail={},
    )


def destroy(
    session: Session, log: CustodyLog, signed: SignedStatement, *, vial: Vial, caller: Caller
) -> None:
    request = expect(
        signed, Destruction, type="custody.destroyed", subject=vial.uri, user=caller.user
    )
    _final_step(
        session,
        log,
        signed,
        vial=vial,
        caller=caller,
        step=Step.destroy,
        nonce=request.nonce,
        detail={"reason": request.reason},
    )
