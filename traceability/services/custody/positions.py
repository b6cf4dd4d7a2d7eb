"""Where a vial or a shipper stands: its latest custody event, and the open handoff.

Every custody step starts here (the unit a URI names, its position, who acts for its
custodian), and so do the pages that show custody. This module only reads: the events
it reads are written by `frame.move`, the handoffs by `handoffs`. Positions are read
inside the log's write lock on every step, so the hot reads are plain rows (SQLAlchemy
Core) rather than ORM objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from traceability.domain.custody import CustodyState, Party
from traceability.errors import InvalidInputError, NotFoundError, UnprovenError
from traceability.services import sites as site_service
from traceability.services.stored import stored
from traceability.storage.database import connection_of
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Handoff,
    Shipper,
    Site,
    User,
    Vial,
)
from traceability.storage.models import HandoffAcceptance as AcceptanceRow


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


EVENTS = CustodyEvent.__table__  # type: ignore[attr-defined]
"""The custody events, one per vial moved: written by `frame.move` alone."""
_POSITION = (
    EVENTS.c.vial_id,
    EVENTS.c.state,
    EVENTS.c.custodian,
    EVENTS.c.site_id,
    EVENTS.c.unit_id,
    EVENTS.c.rack,
    EVENTS.c.box,
    EVENTS.c.position,
    EVENTS.c.shipper_id,
)
"""The columns a position is made of. Positions are read on every custody step, twice,
so they are read as plain rows (SQLAlchemy Core) rather than loaded as ORM objects,
which costs several times more per query."""


def reads(session: Session) -> Connection:
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
    connection = reads(session)
    latest = (
        sa_select(func.max(EVENTS.c.id))
        .where(EVENTS.c.vial_id.in_(vial_ids))
        .group_by(EVENTS.c.vial_id)
        .scalar_subquery()
    )
    rows = connection.execute(sa_select(*_POSITION).where(EVENTS.c.id.in_(latest))).all()
    found = {r[0]: _position(r) for r in rows}
    return {v: found.get(v, COMMISSIONED) for v in vial_ids}


_POSITION_OF = (
    sa_select(*_POSITION)
    .where(EVENTS.c.vial_id == bindparam("vial"))
    .order_by(EVENTS.c.id.desc())
    .limit(1)
)
"""The statements of every custody step are module constants, compiled once (cached)."""


def position_of(session: Session, vial: Vial) -> Position:
    assert vial.id is not None  # noqa: S101 - stored
    return _position(reads(session).execute(_POSITION_OF, {"vial": vial.id}).first())


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


def offer_from_row(row: Sequence[Any]) -> Offer:
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
_NEWER = EVENTS.alias("newer")
_LATEST_EVENT = (
    sa_select(_NEWER.c.id)
    .where(_NEWER.c.vial_id == _VIALS.c.id)
    .order_by(_NEWER.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_VIAL_AND_POSITION = (
    sa_select(_VIALS, *_POSITION)
    .select_from(_VIALS.outerjoin(EVENTS, EVENTS.c.id == _LATEST_EVENT))
    .where(_VIALS.c.uri == bindparam("uri"))
)
"""A vial and where it stands, in one statement (every custody step starts with it)."""
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


def unit_for(session: Session, uri: str) -> Unit:
    """The vial or shipper a URI names. The vial comes from a plain (Core) read, as a
    detached record: every custody step starts here, and vials are never changed."""
    row = reads(session).execute(_VIAL_AND_POSITION, {"uri": uri}).first()
    if row is not None:
        split = len(_VIAL_NAMES)
        vial = Vial(**dict(zip(_VIAL_NAMES, row[:split], strict=True)))
        event = row[split:]
        return Unit(uri, vial, None, [vial], _position(event if event[0] is not None else None))
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


def site_party(site: Site) -> Party:
    """The party a site is as a custodian."""
    return Party("site", site.code)


def making_lab(session: Session, vial: Vial) -> Site | None:
    """The site the vial's batch was made at (None for a batch registered without one)."""
    batch = session.get(Batch, vial.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    return session.get(Site, batch.site_id) if batch.site_id is not None else None


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


def open_handoff(session: Session, unit_uri: str, now: datetime) -> Offer | None:
    """The unit's handoff still waiting for acceptance, if any (one query, any history)."""
    row = reads(session).execute(_OPEN_HANDOFF, {"unit": unit_uri, "now": now}).first()
    return None if row is None else offer_from_row(row)
