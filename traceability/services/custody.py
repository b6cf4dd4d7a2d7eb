"""Custody steps on vials and shippers, each a signed request appended to the log.

Every use case: read the request from the person's signed statement, refuse a replayed
nonce, check the step against `domain.custody` (state, custodian, disposition), append
the person's entry, then write one `custody_events` row per vial that moved. A step on
a shipper also appends a service-signed entry per vial, so each vial's own chain in the
log shows every move (subject_prev links), whichever container it was in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from traceability.custody_log import signed_requests
from traceability.custody_log.appender import Appended, CustodyLog
from traceability.custody_log.evidence import LogEvidence
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.custody import (
    Condition,
    CustodyState,
    HandoffAcceptance,
    HandoffOffer,
    Location,
    Party,
    Step,
    check_disposition,
    check_first_custody,
    check_step,
    custodian_after,
    handoff_step,
    is_expired,
    read_nonce,
    read_text,
)
from traceability.domain.label_tags import TagVerdict
from traceability.domain.qc_record import BatchState
from traceability.domain.roles import Role, parse_roles
from traceability.domain.statement_kinds import STEP_TYPES
from traceability.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    UnprovenError,
)
from traceability.services import cold_chain, vial_labels
from traceability.services import sites as site_service
from traceability.services.proof.batch import check_batch
from traceability.services.stored import stored
from traceability.storage.database import connection_of
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Handoff,
    RequestNonce,
    Shipper,
    Site,
    User,
    Vial,
)
from traceability.storage.models import HandoffAcceptance as AcceptanceRow

WHAT = "statement.what"


class CustodyRefused(ConflictError):
    """A step refused because of what was scanned: the label or the custodian.

    Carries the vial and the verdict so the caller can keep the flagged scan after the
    refused request's own unit of work is rolled back.
    """

    def __init__(self, message: str, *, vial_id: int, verdict: str, tag: str | None) -> None:
        super().__init__(message)
        self.vial_id = vial_id
        self.verdict = verdict
        self.tag = tag


class NotCustodian(CustodyRefused, PermissionDeniedError):
    """The signer does not hold the vial: someone else's custody (403, flagged)."""


@dataclass(frozen=True)
class Position:
    state: CustodyState
    custodian: Party | None
    site_id: int | None = None
    unit_id: int | None = None
    rack: str | None = None
    box: str | None = None
    position: str | None = None
    shipper_id: int | None = None


COMMISSIONED = Position(CustodyState.commissioned, None)


_EVENTS = CustodyEvent.__table__  # type: ignore[attr-defined]
_POSITION = (
    _EVENTS.c.vial_id,
    _EVENTS.c.state,
    _EVENTS.c.custodian,
    _EVENTS.c.site_id,
    _EVENTS.c.unit_id,
    _EVENTS.c.rack,
    _EVENTS.c.box,
    _EVENTS.c.position,
    _EVENTS.c.shipper_id,
)
"""The columns a position is made of. Positions are read on every custody step, twice,
so they are read as plain rows (SQLAlchemy Core) rather than loaded as ORM objects,
which costs several times more per query."""


def _reads(session: Session) -> Connection:
    """The session's connection for a Core read, after flushing what the session holds:
    an ORM query flushes pending rows first (autoflush), a Core read must ask for it."""
    session.flush()
    return connection_of(session)


def _stored_party(value: str, vial_id: int) -> Party:
    try:
        return Party.parse(value, "custodian")
    except InvalidInputError:
        finding = f"custody event of vial #{vial_id}: holds custodian {value!r}, not a party"
        raise UnprovenError(
            f"{finding}: the database was changed outside the service (run reconcile)",
            findings=[finding],
        ) from None


def _position(row: Row[*tuple[Any, ...]] | tuple[Any, ...] | None) -> Position:
    """A position from a row of the `_POSITION` columns, in that order."""
    if row is None:
        return COMMISSIONED
    _vial, state, custodian, site_id, unit_id, rack, box, position, shipper_id = row
    return Position(
        state=stored(CustodyState, state, f"custody event of vial #{_vial}"),
        custodian=_stored_party(custodian, _vial) if custodian else None,
        site_id=site_id,
        unit_id=unit_id,
        rack=rack,
        box=box,
        position=position,
        shipper_id=shipper_id,
    )


def positions(session: Session, vial_ids: Sequence[int]) -> dict[int, Position]:
    """Where each vial stands: its latest custody event (commissioned if none)."""
    if not vial_ids:
        return {}
    connection = _reads(session)
    latest = (
        sa_select(func.max(_EVENTS.c.id))
        .where(_EVENTS.c.vial_id.in_(vial_ids))
        .group_by(_EVENTS.c.vial_id)
        .scalar_subquery()
    )
    rows = connection.execute(sa_select(*_POSITION).where(_EVENTS.c.id.in_(latest))).all()
    found = {r[0]: _position(r) for r in rows}
    return {v: found.get(v, COMMISSIONED) for v in vial_ids}


_POSITION_OF = (
    sa_select(*_POSITION)
    .where(_EVENTS.c.vial_id == bindparam("vial"))
    .order_by(_EVENTS.c.id.desc())
    .limit(1)
)
"""The statements of every custody step are module constants, compiled once (cached)."""


def position_of(session: Session, vial: Vial) -> Position:
    assert vial.id is not None  # noqa: S101 - stored
    return _position(_reads(session).execute(_POSITION_OF, {"vial": vial.id}).first())


@dataclass(frozen=True, slots=True)
class Offer:
    """A handoff as the steps read it: its row, as a plain record.

    Handoffs are append-only, and every custody step reads or writes one inside the
    write lock, where building an ORM object costs more than the query."""

    id: int
    unit_uri: str
    vial_id: int | None
    shipper_id: int | None
    from_party: str
    to_party: str
    offered_by: str
    log_index: int
    created_at: datetime
    expires_at: datetime


def _offer(row: Sequence[Any]) -> Offer:
    return Offer(**dict(zip(_HANDOFF_NAMES, row, strict=True)))


@dataclass
class Unit:
    """What a custody step acts on: a lone vial, or a shipper and the vials in it."""

    uri: str
    vial: Vial | None
    shipper: Shipper | None
    vials: list[Vial] = field(default_factory=list)
    position: Position | None = None
    """None for an empty shipper."""

    @property
    def name(self) -> str:
        return f"shipper {self.shipper.sscc}" if self.shipper else "the vial"


def vials_in(session: Session, shipper: Shipper) -> list[Vial]:
    """The vials whose latest custody event has them in this shipper."""
    candidates = session.exec(
        select(Vial)
        .join(CustodyEvent, col(CustodyEvent.vial_id) == col(Vial.id))
        .where(CustodyEvent.shipper_id == shipper.id)
        .distinct()
    ).all()
    where = positions(session, [v.id for v in candidates if v.id is not None])
    return [v for v in candidates if v.id is not None and where[v.id].shipper_id == shipper.id]


_VIALS = Vial.__table__  # type: ignore[attr-defined]
_HANDOFFS = Handoff.__table__  # type: ignore[attr-defined]
_ACCEPTANCES = AcceptanceRow.__table__  # type: ignore[attr-defined]
_VIAL_NAMES = tuple(c.name for c in _VIALS.c)
_VIAL_BY_URI = sa_select(_VIALS).where(_VIALS.c.uri == bindparam("uri"))
_HANDOFF_NAMES = tuple(c.name for c in _HANDOFFS.c)
_NEWEST_HANDOFF = (
    sa_select(_HANDOFFS.c.id)
    .where(_HANDOFFS.c.unit_uri == bindparam("unit"))
    .order_by(_HANDOFFS.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_OPEN_HANDOFF = sa_select(_HANDOFFS).where(
    _HANDOFFS.c.id == _NEWEST_HANDOFF,
    _HANDOFFS.c.expires_at > bindparam("now"),
    ~sa_select(_ACCEPTANCES.c.id).where(_ACCEPTANCES.c.handoff_id == _HANDOFFS.c.id).exists(),
)
"""Only a unit's newest handoff can be open: a new one is offered only while none is
(`offer_handoff`, under the log lock), and an accepted or lapsed one stays so. Reading
just that one keeps the query's cost flat however long the unit's history; asking for
the newest open one among all of them walked every earlier, accepted handoff."""
_HANDOFF_AND_ACCEPTANCE = (
    sa_select(_HANDOFFS, _ACCEPTANCES.c.id)
    .select_from(_HANDOFFS.outerjoin(_ACCEPTANCES, _ACCEPTANCES.c.handoff_id == _HANDOFFS.c.id))
    .where(_HANDOFFS.c.id == bindparam("handoff"))
)
_INSERT_HANDOFF = _HANDOFFS.insert().returning(_HANDOFFS.c.id)
_INSERT_ACCEPTANCE = _ACCEPTANCES.insert()


def unit_for(session: Session, uri: str) -> Unit:
    """The vial or shipper a URI names. The vial comes from a plain (Core) read, as a
    detached record: every custody step starts here, and vials are never changed."""
    row = _reads(session).execute(_VIAL_BY_URI, {"uri": uri}).first()
    if row is not None:
        vial = Vial(**dict(zip(_VIAL_NAMES, row, strict=True)))
        return Unit(uri, vial, None, [vial], position_of(session, vial))
    shipper = session.exec(select(Shipper).where(Shipper.uri == uri)).first()
    if shipper is None:
        raise NotFoundError(f"no vial or shipper {uri}")
    inside = vials_in(session, shipper)
    return Unit(uri, None, shipper, inside, position_of(session, inside[0]) if inside else None)


def acts_for(session: Session, user: User, party: Party | None) -> bool:
    if party is None:
        return False
    if party.kind == "user":
        return party.name == user.username
    site = session.exec(select(Site).where(Site.code == party.name)).first()
    return site is not None and site_service.is_member(session, site, user)


def _site_party(site: Site) -> Party:
    return Party("site", site.code)


# --- the shared frame of every signed custody request ---------------------------------


def _expect(signed: SignedStatement, *, type: str, subject: str, user: User) -> str:  # noqa: A002
    signed_requests.expect(signed, type=type, subject=subject, user=user)
    nonce = read_nonce(signed.statement.what)
    return nonce


_NONCES = RequestNonce.__table__  # type: ignore[attr-defined]
_INSERT_NONCE = _NONCES.insert()
_NONCE_USED = sa_select(_NONCES.c.id).where(_NONCES.c.nonce == bindparam("nonce"))


def _check_fresh(session: Session, nonce: str) -> None:
    used = _reads(session).execute(_NONCE_USED, {"nonce": nonce}).first()
    if used is not None:
        raise ConflictError("this signed request was already used (a replay); sign a new one")


def _append(
    session: Session, log: CustodyLog, signed: SignedStatement, nonce: str, caller: Caller
) -> Appended:
    _check_fresh(session, nonce)
    user, now = caller.user, caller.now
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    connection_of(session).execute(
        _INSERT_NONCE,
        {"nonce": nonce, "username": user.username, "log_index": appended.index, "created_at": now},
    )
    caller.signed_entries.append(appended)
    return appended


def _check_tag(session: Session, unit: Unit, tag: str | None) -> None:
    """A scanned label must be the vial's current one; anything else is refused, flagged."""
    if tag is None or unit.vial is None:
        return
    judgement = vial_labels.judge_scan(session, unit.vial, tag)
    if judgement.verdict is not TagVerdict.valid:
        assert unit.vial.id is not None  # noqa: S101 - stored
        raise CustodyRefused(
            f"the scanned label is {judgement.verdict}: check the vial before taking it",
            vial_id=unit.vial.id,
            verdict=judgement.verdict.value,
            tag=tag,
        )


def _state(unit: Unit) -> CustodyState:
    if unit.position is None:
        raise ConflictError(f"{unit.name} is empty")
    return unit.position.state


def _require_custodian(session: Session, unit: Unit, user: User, tag: str | None) -> Position:
    position = unit.position
    if position is None:
        raise ConflictError(f"{unit.name} is empty")
    if not acts_for(session, user, position.custodian):
        holder = str(position.custodian) if position.custodian else "nobody yet"
        vial_id = unit.vial.id if unit.vial and unit.vial.id else (unit.vials[0].id or 0)
        raise NotCustodian(
            f"{unit.name} is in the custody of {holder}, not yours",
            vial_id=vial_id,
            verdict="in other custody",
            tag=tag,
        )
    return position


def _move(
    session: Session,
    log: CustodyLog,
    unit: Unit,
    step: Step,
    *,
    state: CustodyState,
    custodian: Party | None,
    appended: Appended,
    user: User,
    now: datetime,
    site: Site | None = None,
    shipper_id: int | None = None,
    handoff: Offer | None = None,
    detail: dict[str, Any] | None = None,
    location: tuple[int | None, str | None, str | None, str | None] = (None, None, None, None),
) -> None:
    """One custody event per vial; on a shipper, one service entry per vial as well.

    The events are written as plain rows in one statement (SQLAlchemy Core): a shipper
    may hold hundreds of vials, and every custody step writes them."""
    if unit.shipper is None and unit.vial is not None and unit.position is not None:
        before = {unit.vial.id or 0: unit.position}  # a lone vial: already read
    else:
        before = positions(session, [v.id for v in unit.vials if v.id is not None])
    unit_id, rack, box, position = location
    events: list[dict[str, Any]] = []
    for vial in unit.vials:
        assert vial.id is not None  # noqa: S101 - stored
        index = appended.index
        if unit.shipper is not None:
            what: dict[str, Any] = {"shipper": unit.shipper.uri, "request_entry": appended.index}
            if custodian is not None:
                what["custodian"] = str(custodian)
            index = log.append_as_service(
                session,
                subject=vial.uri,
                type=STEP_TYPES[step],
                now=now,
                what=what,
                why={"bizStep": BIZ_STEP[step]},
            ).index
        events.append(
            {
                "vial_id": vial.id,
                "step": step.value,
                "state": state.value,
                "custodian": str(custodian) if custodian else None,
                "site_id": site.id
                if site
                else (None if custodian and custodian.kind == "user" else before[vial.id].site_id),
                "unit_id": unit_id,
                "rack": rack,
                "box": box,
                "position": position,
                "shipper_id": shipper_id,
                "handoff_id": handoff.id if handoff else None,
                "detail": detail,
                "by": user.username,
                "log_index": index,
                "created_at": now,
            }
        )
    connection_of(session).execute(_EVENTS.insert(), events)


BIZ_STEP = {
    Step.store: "storing",
    Step.pack: "packing",
    Step.hand_to_courier: "departing",
    Step.dispatch: "shipping",
    Step.hand_to_site: "arriving",
    Step.receive: "receiving",
    Step.administer: "dispensing",
    Step.destroy: "destroying",
}
"""The GS1 CBV business step each custody step corresponds to (for EPCIS export)."""


# --- the steps --------------------------------------------------------------------------


@dataclass
class Caller:
    """Who takes a step and when; the step notes the log index of the caller's entry."""

    user: User
    now: datetime
    signed_entries: list[Appended] = field(default_factory=list)
    alarms: tuple[str, ...] = ()
    """What the last self-check found: no vial is administered meanwhile."""
    """The caller's own signed entries this request appended (one per step; the
    per-vial service entries of a shipper step are not among them)."""


def store(
    session: Session, log: CustodyLog, signed: SignedStatement, *, vial: Vial, caller: Caller
) -> None:
    """Put a vial in a storage unit: first storage, a move within its site, or after receipt."""
    user, now = caller.user, caller.now
    nonce = _expect(signed, type="custody.stored", subject=vial.uri, user=user)
    location = Location.from_what(signed.statement.what)
    site = site_service.get_site(session, location.site, field=f"{WHAT}.site")
    unit_row = site_service.get_unit(session, site, location.unit)
    position = position_of(session, vial)
    check_step(Step.store, position.state)
    here = _site_party(site)
    if position.custodian is not None and position.custodian != here:
        raise ConflictError(
            f"the vial is in the custody of {position.custodian}; it reaches {site.code} "
            "through a handoff"
        )
    if not site_service.is_member(session, site, user):
        raise PermissionDeniedError(f"you do not act for site {site.code}")
    _check_maker(session, vial, position, user)
    _check_not_offered(session, vial, position, now)
    assert unit_row is not None and unit_row.id is not None  # noqa: S101 - get_unit raises
    _check_slot_free(session, vial, unit_row.id, location)
    appended = _append(session, log, signed, nonce, caller)
    _move(
        session,
        log,
        Unit(vial.uri, vial, None, [vial], position),
        Step.store,
        state=CustodyState.in_storage,
        custodian=here,
        appended=appended,
        user=user,
        now=now,
        site=site,
        location=(unit_row.id, location.rack, location.box, location.position),
    )


_LATER = _EVENTS.alias("later")
_LATEST_OF_VIAL = (
    sa_select(func.max(_LATER.c.id)).where(_LATER.c.vial_id == _EVENTS.c.vial_id).scalar_subquery()
)
_IN_SLOT = sa_select(_EVENTS.c.vial_id).where(
    _EVENTS.c.unit_id == bindparam("unit"),
    func.upper(_EVENTS.c.position) == bindparam("position"),
    func.upper(_EVENTS.c.rack) == bindparam("rack"),
    func.upper(_EVENTS.c.box) == bindparam("box"),
    _EVENTS.c.state == bindparam("stored"),
    _EVENTS.c.vial_id != bindparam("vial"),
    _EVENTS.c.id == _LATEST_OF_VIAL,
)
"""A vial stored now in a slot: one whose latest custody event left it there."""


def _check_maker(session: Session, vial: Vial, position: Position, user: User) -> None:
    """A commissioned vial is acted on only by its making lab (`check_first_custody`).
    A batch registered without a site (a one-site install) leaves it to the route's
    roles and, for storage, to the site it is stored at."""
    if position.state is not CustodyState.commissioned:
        return
    maker = making_lab(session, vial)
    if maker is not None:
        check_first_custody(
            position.state,
            maker=maker.code,
            acts_for_maker=site_service.is_member(session, maker, user),
        )


def making_lab(session: Session, vial: Vial) -> Site | None:
    """The site the vial's batch was made at (None for a batch registered without one)."""
    batch = session.get(Batch, vial.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    return session.get(Site, batch.site_id) if batch.site_id is not None else None


def _check_slot_free(session: Session, vial: Vial, unit_id: int, location: Location) -> None:
    """A position holds one vial: storing a second there would make the storage map,
    and the search for a vial in the tank, wrong. "a1" and "A1" are one place."""
    row = (
        _reads(session)
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
    nonce = _expect(signed, type="custody.packed", subject=shipper.uri, user=user)
    uris = signed.statement.what.get("vials")
    if (
        not isinstance(uris, list)
        or not uris
        or not all(isinstance(u, str) for u in uris)
        or len(set(uris)) != len(uris)
        or len(uris) > 500
    ):
        raise InvalidInputError(
            "vials is a list of 1-500 distinct vial URIs", field=f"{WHAT}.vials"
        )
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
    if custodian != _site_party(here):
        raise ConflictError(f"shipper {shipper.sscc} is at {here.code}, not with the vials")
    for vial in vials:
        assert vial.id is not None  # noqa: S101 - stored
        _check_not_offered(session, vial, where[vial.id], now)
    appended = _append(session, log, signed, nonce, caller)
    unit = Unit(shipper.uri, None, shipper, vials, where[vials[0].id or 0])
    _move(
        session,
        log,
        unit,
        Step.pack,
        state=CustodyState.packed,
        custodian=custodian,
        appended=appended,
        user=user,
        now=now,
        shipper_id=shipper.id,
    )


def shipper_site(session: Session, shipper: Shipper) -> Site:
    """Where an empty shipper is: the site that last held it, else where it was made."""
    last = session.exec(
        select(CustodyEvent.site_id)
        .where(CustodyEvent.shipper_id == shipper.id, col(CustodyEvent.site_id).is_not(None))
        .order_by(col(CustodyEvent.id).desc())
        .limit(1)
    ).first()
    site = session.get(Site, last if last is not None else shipper.site_id)
    assert site is not None  # noqa: S101 - a foreign key
    return site


def _check_not_offered(session: Session, vial: Vial, position: Position, now: datetime) -> None:
    """While a handoff of the vial (or of its shipper) is open, its contents are frozen:
    what the receiver accepts must be exactly what was offered."""
    units = [vial.uri]
    if position.shipper_id is not None:
        shipper = session.get(Shipper, position.shipper_id)
        if shipper is not None:
            units.append(shipper.uri)
    for uri in units:
        pending = open_handoff(session, uri, now)
        if pending is not None:
            raise ConflictError(
                f"a handoff to {pending.to_party} is open until "
                f"{pending.expires_at:%Y-%m-%d %H:%M} UTC; it completes or lapses first"
            )


def open_handoff(session: Session, unit_uri: str, now: datetime) -> Offer | None:
    """The unit's handoff still waiting for acceptance, if any (one query, any history)."""
    row = _reads(session).execute(_OPEN_HANDOFF, {"unit": unit_uri, "now": now}).first()
    return None if row is None else _offer(row)


_USERS = User.__table__  # type: ignore[attr-defined]
_COURIER = sa_select(_USERS.c.is_active, _USERS.c.roles).where(
    _USERS.c.username == bindparam("username")
)


def _check_party(session: Session, party: Party) -> None:
    if party.kind == "site":
        site_service.get_site(session, party.name, field=f"{WHAT}.to")
        return
    user = _reads(session).execute(_COURIER, {"username": party.name}).first()
    if user is None or not user[0] or Role.courier not in parse_roles(user[1]):
        raise InvalidInputError(f"{party.name} is not an active courier", field=f"{WHAT}.to")


def _unit_of_vial_request(unit: Unit) -> None:
    if unit.vial is not None and unit.position and unit.position.shipper_id is not None:
        raise ConflictError("the vial is packed in a shipper: hand over the shipper")


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
    nonce = _expect(signed, type="custody.handover.offered", subject=unit.uri, user=user)
    offer = HandoffOffer.from_what(signed.statement.what)
    _check_tag(session, unit, offer.tag)
    _unit_of_vial_request(unit)
    check_step(handoff_step(offer.to), _state(unit), what=unit.name)
    position = _require_custodian(session, unit, user, offer.tag)
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
    appended = _append(session, log, signed, nonce, caller)
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
    nonce = _expect(signed, type="custody.handover.accepted", subject=unit.uri, user=user)
    request = HandoffAcceptance.from_what(signed.statement.what)
    row = _reads(session).execute(_HANDOFF_AND_ACCEPTANCE, {"handoff": request.handoff}).first()
    if row is None:
        raise InvalidInputError(
            f"no handoff {request.handoff} of this unit", field=f"{WHAT}.handoff"
        )
    *columns, acceptance = row
    handoff = _offer(columns)
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
    _unit_of_vial_request(unit)
    _check_tag(session, unit, request.tag)
    position = unit.position
    if position is None or str(position.custodian) != handoff.from_party:
        raise ConflictError("the unit changed hands since this handoff was offered")
    step = handoff_step(to)
    state = check_step(step, position.state, what=unit.name)
    appended = _append(session, log, signed, nonce, caller)
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
    _move(
        session,
        log,
        unit,
        step,
        state=state,
        custodian=custodian_after(step, to=to, current=position.custodian),
        appended=appended,
        user=user,
        now=now,
        site=site,
        shipper_id=unit.shipper.id if unit.shipper else None,
        handoff=handoff,
    )
    return handoff


def dispatch(
    session: Session, log: CustodyLog, signed: SignedStatement, *, unit: Unit, caller: Caller
) -> None:
    """The courier holding the unit sets off: in transit."""
    user, now = caller.user, caller.now
    nonce = _expect(signed, type="custody.dispatched", subject=unit.uri, user=user)
    _unit_of_vial_request(unit)
    state = check_step(Step.dispatch, _state(unit), what=unit.name)
    position = _require_custodian(session, unit, user, None)
    appended = _append(session, log, signed, nonce, caller)
    _move(
        session,
        log,
        unit,
        Step.dispatch,
        state=state,
        custodian=position.custodian,
        appended=appended,
        user=user,
        now=now,
        shipper_id=unit.shipper.id if unit.shipper else None,
    )


def receive(
    session: Session, log: CustodyLog, signed: SignedStatement, *, unit: Unit, caller: Caller
) -> None:
    """The receiving site records the container's condition on arrival."""
    user, now = caller.user, caller.now
    nonce = _expect(signed, type="custody.received", subject=unit.uri, user=user)
    condition = Condition.from_what(signed.statement.what)
    _unit_of_vial_request(unit)
    state = check_step(Step.receive, _state(unit), what=unit.name)
    position = _require_custodian(session, unit, user, None)
    appended = _append(session, log, signed, nonce, caller)
    _move(
        session,
        log,
        unit,
        Step.receive,
        state=state,
        custodian=position.custodian,
        appended=appended,
        user=user,
        now=now,
        shipper_id=unit.shipper.id if unit.shipper else None,
        detail={
            "seal_intact": condition.seal_intact,
            "damaged": condition.damaged,
            "logger_attached": condition.logger_attached,
            "notes": condition.notes,
        },
    )


def _final_step(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    vial: Vial,
    caller: Caller,
    step: Step,
    type: str,
    detail: dict[str, Any],  # noqa: A002
) -> None:
    user, now = caller.user, caller.now
    nonce = _expect(signed, type=type, subject=vial.uri, user=user)
    unit = Unit(vial.uri, vial, None, [vial], position_of(session, vial))
    state = check_step(step, _state(unit))
    if unit.position is not None and unit.position.state is CustodyState.commissioned:
        _check_maker(session, vial, unit.position, user)  # nobody holds it yet
        position = unit.position
    else:
        position = _require_custodian(session, unit, user, None)
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
    appended = _append(session, log, signed, nonce, caller)
    _move(
        session,
        log,
        unit,
        step,
        state=state,
        custodian=None,
        appended=appended,
        user=user,
        now=now,
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
    _final_step(
        session,
        log,
        signed,
        vial=vial,
        caller=caller,
        step=Step.administer,
        type="custody.administered",
        detail={},
    )


def destroy(
    session: Session, log: CustodyLog, signed: SignedStatement, *, vial: Vial, caller: Caller
) -> None:
    reason = read_text(signed.statement.what, "reason")
    _final_step(
        session,
        log,
        signed,
        vial=vial,
        caller=caller,
        step=Step.destroy,
        type="custody.destroyed",
        detail={"reason": reason},
    )


def timeline(session: Session, vial: Vial) -> Sequence[CustodyEvent]:
    return session.exec(
        select(CustodyEvent).where(CustodyEvent.vial_id == vial.id).order_by(col(CustodyEvent.id))
    ).all()


def units_held_by(session: Session, party: Party) -> list[tuple[Vial, Position]]:
    """Every vial a party holds now (for "in my custody" and incoming lists)."""
    held = select(CustodyEvent.vial_id).where(CustodyEvent.custodian == str(party)).distinct()
    ids = list(session.exec(held).all())
    where = positions(session, ids)
    vials = session.exec(select(Vial).where(col(Vial.id).in_(ids)).order_by(col(Vial.id))).all()
    return [(v, where[v.id]) for v in vials if v.id is not None and where[v.id].custodian == party]


class Held(NamedTuple):
    """A vial held by one of a person's parties."""

    vial: Vial
    lot: str
    disposition: str
    """Its batch's state: a courier or clinic must see that a vial is not released."""
    position: Position
    sscc: str | None
    """The shipper it is packed in, if any."""


@dataclass(frozen=True)
class CustodyView:
    parties: list[Party]
    holding: list[Held]
    offered: list[Handoff]


def custody_of(session: Session, user: User, now: datetime) -> CustodyView:
    """A user's custody: as themselves and for each site they act for."""
    parties = [Party("user", user.username)] + [
        _site_party(s) for s in site_service.sites_of(session, user)
    ]
    holding = []
    for party in parties:
        for vial, position in units_held_by(session, party):
            batch = session.get(Batch, vial.batch_id)
            shipper = session.get(Shipper, position.shipper_id) if position.shipper_id else None
            assert batch is not None  # noqa: S101 - foreign key
            holding.append(
                Held(vial, batch.lot, batch.state, position, shipper.sscc if shipper else None)
            )
    names = [str(p) for p in parties]
    return CustodyView(parties, holding, list(open_handoffs_to(session, names, now)))


def open_handoffs_to(session: Session, parties: Sequence[str], now: datetime) -> Sequence[Handoff]:
    accepted = select(AcceptanceRow.handoff_id).where(AcceptanceRow.handoff_id == Handoff.id)
    return session.exec(
        select(Handoff)
        .where(col(Handoff.to_party).in_(parties), col(Handoff.expires_at) > now)
        .where(~accepted.exists())
        .order_by(col(Handoff.id))
    ).all()


@dataclass(frozen=True)
class StoredVial:
    vial: Vial
    lot: str
    batch_state: str
    position: Position


@dataclass(frozen=True)
class SiteView:
    """A site's storage map (by unit) and what is arriving or waiting for receipt."""

    site: Site
    units: list[tuple[Any, list[StoredVial]]]
    awaiting_receipt: list[StoredVial]
    incoming: list[Handoff]


def site_view(session: Session, site: Site, now: datetime) -> SiteView:
    party = _site_party(site)
    held = units_held_by(session, party)
    stored: dict[int, list[StoredVial]] = {}
    waiting = []
    for vial, position in held:
        batch = session.get(Batch, vial.batch_id)
        item = StoredVial(vial, batch.lot if batch else "", batch.state if batch else "", position)
        if position.state is CustodyState.in_storage and position.unit_id is not None:
            stored.setdefault(position.unit_id, []).append(item)
        elif position.state is CustodyState.delivered:
            waiting.append(item)

    def place(item: StoredVial) -> tuple[str, str, str, str]:
        p = item.position
        return (p.rack or "", p.box or "", p.position or "", item.vial.uri)

    units = [
        (unit, sorted(stored.get(unit.id or 0, []), key=place))
        for unit in site_service.units_of(session, site)
    ]
    return SiteView(site, units, waiting, list(open_handoffs_to(session, [str(party)], now)))
