"""Handing a vial or shipper to another party: the custodian offers, the other accepts.

Custody passes only when the named courier or site accepts, signed by a second person,
before the offer lapses; until then the unit's contents are frozen
(`frame.check_not_offered`). A unit has at most one open handoff: only its newest can
be open (`positions.open_handoff`), which keeps every step's read of it one row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.custody import (
    HandoffAcceptance,
    HandoffOffer,
    Party,
    check_step,
    custodian_after,
    handoff_step,
    is_expired,
)
from traceability.domain.roles import Role, parse_roles
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError
from traceability.services import sites as site_service
from traceability.services.custody.frame import (
    WHAT,
    Caller,
    append,
    check_not_held,
    check_tag,
    expect,
    move,
    refuse_packed_vial,
    require_custodian,
    state_of,
)
from traceability.services.custody.positions import (
    Offer,
    Unit,
    acts_for,
    offer_from_row,
    open_handoff,
    reads,
)
from traceability.storage.database import connection_of
from traceability.storage.models import Handoff, User
from traceability.storage.models import HandoffAcceptance as AcceptanceRow

_HANDOFFS = Handoff.__table__  # type: ignore[attr-defined]
_ACCEPTANCES = AcceptanceRow.__table__  # type: ignore[attr-defined]
_HANDOFF_AND_ACCEPTANCE = (
    sa_select(_HANDOFFS, _ACCEPTANCES.c.id)
    .select_from(_HANDOFFS.outerjoin(_ACCEPTANCES, _ACCEPTANCES.c.handoff_id == _HANDOFFS.c.id))
    .where(_HANDOFFS.c.id == bindparam("handoff"))
)
_INSERT_HANDOFF = _HANDOFFS.insert().returning(_HANDOFFS.c.id)
_INSERT_ACCEPTANCE = _ACCEPTANCES.insert()
_USERS = User.__table__  # type: ignore[attr-defined]
_COURIER = sa_select(_USERS.c.is_active, _USERS.c.roles).where(
    _USERS.c.username == bindparam("username")
)


def _check_party(session: Session, party: Party) -> None:
    if party.kind == "site":
        site_service.get_site(session, party.name, field=f"{WHAT}.to")
        return
    user = reads(session).execute(_COURIER, {"username": party.name}).first()
    if user is None or not user[0] or Role.courier not in parse_roles(user[1]):
        raise InvalidInputError(f"{party.name} is not an active courier", field=f"{WHAT}.to")


def offer_handoff(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    unit: Unit,
    caller: Caller,
    ttl: timedelta,
) -> Offer:
    """The custodian offers the unit to a named courier or site; it is theirs once they accept."""
    user, now = caller.user, caller.now
    offer = expect(
        signed, HandoffOffer, type="custody.handover.offered", subject=unit.uri, user=user
    )
    nonce = offer.nonce
    check_tag(session, unit, offer.tag)
    refuse_packed_vial(unit)
    check_step(handoff_step(offer.to), state_of(unit), what=unit.name)
    position = require_custodian(session, unit, user, offer.tag)
    check_not_held(session, unit, to=offer.to, holder=position.custodian)
    _check_party(session, offer.to)
    if offer.to == position.custodian:
        raise InvalidInputError("the unit is already in that party's custody", field=f"{WHAT}.to")
    if acts_for(session, user, offer.to):
        raise InvalidInputError(
            "a handoff goes to someone else: you act for that party yourself", field=f"{WHAT}.to"
        )
    pending = open_handoff(session, unit.uri, now)
    if pending is not None:
        raise ConflictError(
            f"a handoff to {pending.to_party} is open until {pending.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    appended = append(session, log, signed, nonce, caller)
    values: dict[str, Any] = {
        "unit_uri": unit.uri,
        "vial_id": unit.vial.id if unit.vial else None,
        "shipper_id": unit.shipper.id if unit.shipper else None,
        "from_party": str(position.custodian),
        "to_party": str(offer.to),
        "offered_by": user.username,
        "log_index": appended.index,
        "created_at": now,
        "expires_at": now + ttl,
    }
    stored = connection_of(session).execute(_INSERT_HANDOFF, values).first()
    assert stored is not None  # noqa: S101 - an insert returns its id
    return Offer(id=stored[0], **values)


def accept_handoff(
    session: Session, log: CustodyLog, signed: SignedStatement, *, unit: Unit, caller: Caller
) -> Offer:
    """The named party accepts: custody passes to it, for every vial of the unit."""
    user, now = caller.user, caller.now
    request = expect(
        signed, HandoffAcceptance, type="custody.handover.accepted", subject=unit.uri, user=user
    )
    nonce = request.nonce
    row = reads(session).execute(_HANDOFF_AND_ACCEPTANCE, {"handoff": request.handoff}).first()
    if row is None:
        raise InvalidInputError(
            f"no handoff {request.handoff} of this unit", field=f"{WHAT}.handoff"
        )
    *columns, acceptance = row
    handoff = offer_from_row(columns)
    if handoff.unit_uri != unit.uri:
        raise InvalidInputError(
            f"no handoff {request.handoff} of this unit", field=f"{WHAT}.handoff"
        )
    if acceptance is not None:
        raise ConflictError("this handoff was already accepted")
    if is_expired(handoff.expires_at, now):
        raise ConflictError(
            f"this handoff expired at {handoff.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one"
        )
    to = Party.parse(handoff.to_party, "to")
    if not acts_for(session, user, to):
        raise PermissionDeniedError(f"this handoff is to {to}, not to you")
    if user.username == handoff.offered_by or acts_for(
        session, user, Party.parse(handoff.from_party, "from")
    ):
        raise PermissionDeniedError("a handoff needs a second person: you are on the giving side")
    refuse_packed_vial(unit)
    check_tag(session, unit, request.tag)
    position = unit.position
    if position is None or str(position.custodian) != handoff.from_party:
        raise ConflictError("the unit changed hands since this handoff was offered")
    check_not_held(session, unit, to=to, holder=position.custodian)
    step = handoff_step(to)
    state = check_step(step, position.state, what=unit.name)
    appended = append(session, log, signed, nonce, caller)
    assert handoff.id is not None  # noqa: S101 - stored
    connection_of(session).execute(
        _INSERT_ACCEPTANCE,
        {
            "handoff_id": handoff.id,
            "accepted_by": user.username,
            "log_index": appended.index,
            "created_at": now,
        },
    )
    site = site_service.get_site(session, to.name) if to.kind == "site" else None
    move(
        session,
        log,
        unit,
        step,
        state=state,
        custodian=custodian_after(step, to=to, current=position.custodian),
        appended=appended,
        caller=caller,
        site=site,
        shipper_id=unit.shipper.id if unit.shipper else None,
        handoff=handoff,
    )
    return handoff
