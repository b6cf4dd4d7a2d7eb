"""Custody as people look at it: what a person holds, a site's storage map, a history.

Reads only, for the pages and the API; the steps never use these. Where a vial stands
comes from `positions`, so the pages show exactly what the steps check against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from traceability.custody_log.evidence import LogEvidence, Unproven
from traceability.domain.custody import CustodyState, Party
from traceability.errors import UnprovenError
from traceability.services import sites as site_service
from traceability.services.custody.positions import Position, positions, site_party
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
        site_party(s) for s in site_service.sites_of(session, user)
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
    party = site_party(site)
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


@dataclass(frozen=True)
class Holding:
    """One stretch of a vial's custody: who held it, in what state, where, from when to
    when (None: still so). Who, state and place come from its custody events, which a
    page draws only once the batch's proof (`proof.batch.check_batch`) found them to
    match the log; the times from the signed entries themselves, which that proof does
    not compare with the rows."""

    custodian: str | None
    state: str
    where: str | None
    start: datetime
    end: datetime | None


def holdings(
    session: Session, evidence: LogEvidence, vials: Sequence[Vial]
) -> dict[int, list[Holding]]:
    """Each vial's custody as consecutive stretches, in order; UnprovenError if an entry
    behind a step is not proven."""
    ids = [v.id for v in vials if v.id is not None]
    events = session.exec(
        select(CustodyEvent)
        .where(col(CustodyEvent.vial_id).in_(ids))
        .order_by(col(CustodyEvent.id))
    ).all()
    signed_at: dict[int, datetime] = {}
    for index, proven in evidence.prove_many({e.log_index for e in events}).items():
        if isinstance(proven, Unproven):
            finding = f"custody entry {index} {proven.kind}: {proven.detail}"
            raise UnprovenError(f"{finding} (run reconcile)", findings=[finding])
        signed_at[index] = datetime.fromisoformat(proven.entry.when.replace("Z", "+00:00"))
    sites = {s.id: s.code for s in site_service.list_sites(session)}
    units = {
        u.id: u.code
        for site in site_service.list_sites(session)
        for u in site_service.units_of(session, site)
    }
    by_vial: dict[int, list[CustodyEvent]] = {i: [] for i in ids}
    for event in events:
        by_vial[event.vial_id].append(event)
    result: dict[int, list[Holding]] = {}
    for vial_id, steps in by_vial.items():
        stretches = []
        for n, event in enumerate(steps):
            place = sites.get(event.site_id) if event.site_id is not None else None
            if place and event.unit_id is not None:
                place = f"{place}/{units.get(event.unit_id, '?')}"
            ended = event.state in (CustodyState.administered.value, CustodyState.destroyed.value)
            start = signed_at[event.log_index]
            following = signed_at[steps[n + 1].log_index] if n + 1 < len(steps) else None
            stretches.append(
                Holding(event.custodian, event.state, place, start, start if ended else following)
            )
        result[vial_id] = stretches
    return result
