"""Which custody actions the vial page offers a signed-in user, and about what.

The page only offers; every action is a signed request checked again by the steps
(`custody.steps`, `custody.handoffs`). The unit is the vial, or the shipper it is
packed in, since a packed vial moves only with its shipper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from traceability.domain.custody import ALLOWED, CustodyState, Party, Step
from traceability.domain.qc_record import BatchState
from traceability.domain.roles import Role, parse_roles
from traceability.services import sites as site_service
from traceability.services.custody import positions
from traceability.services.stored import stored
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Shipper,
    Site,
    StorageUnit,
    User,
    Vial,
)


@dataclass
class CustodyActions:
    unit_uri: str
    unit_name: str
    state: str
    custodian: str | None
    mine: bool
    """The user acts for the custodian."""
    offered_to_me: positions.Offer | None = None
    open_handoff: positions.Offer | None = None
    can_offer: bool = False
    can_dispatch: bool = False
    can_receive: bool = False
    can_store: bool = False
    can_administer: bool = False
    can_destroy: bool = False
    recipients: list[tuple[str, str]] = field(default_factory=list)
    """Whom the unit may be offered to, as (party, what people call it), the likeliest
    first: from a site, a courier; from a courier, a site."""
    units: list[StorageUnit] = field(default_factory=list)
    store_site: str | None = None
    ended: str | None = None
    """For a vial administered or destroyed: where, when and by whom, in words."""

    @property
    def anything(self) -> bool:
        return bool(
            self.offered_to_me
            or self.can_offer
            or self.can_dispatch
            or self.can_receive
            or self.can_store
            or self.can_administer
            or self.can_destroy
        )


def _couriers(session: Session, not_me: str) -> list[tuple[str, str]]:
    users = session.exec(select(User).where(User.is_active == True)).all()  # noqa: E712
    return sorted(
        (f"user:{u.username}", f"{u.full_name} (courier, {u.username})")
        for u in users
        if Role.courier in parse_roles(u.roles) and u.username != not_me
    )


def actions_for(
    session: Session, user: User, vial: Vial, now: datetime, *, prefer: str | None = None
) -> CustodyActions:
    """What the page offers; `prefer` is a party to list first among the recipients (a
    shipper's consignee, as its proven commissioning names it)."""
    position = positions.position_of(session, vial)
    unit_uri, unit_name = vial.uri, "this vial"
    if position.shipper_id is not None:
        shipper = session.get(Shipper, position.shipper_id)
        assert shipper is not None  # noqa: S101 - a foreign key
        unit_uri, unit_name = shipper.uri, f"shipper {shipper.sscc}"
    mine = positions.acts_for(session, user, position.custodian)
    parties = {f"user:{user.username}"} | {
        f"site:{s.code}" for s in site_service.sites_of(session, user)
    }
    pending = positions.open_handoff(session, unit_uri, now)
    actions = CustodyActions(
        unit_uri=unit_uri,
        unit_name=unit_name,
        state=position.state.value,
        custodian=str(position.custodian) if position.custodian else None,
        mine=mine,
        open_handoff=pending,
        offered_to_me=pending if pending and pending.to_party in parties else None,
    )
    state = position.state
    if state in (CustodyState.administered, CustodyState.destroyed):
        actions.ended = _ended(session, vial, state)
    batch = session.get(Batch, vial.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    member_sites = site_service.sites_of(session, user)
    if state is CustodyState.commissioned:
        # Nobody holds it yet: its making lab stores it first or destroys it, as
        # the steps allow (`domain.custody.check_first_custody`); a batch made
        # without a site leaves it to the members of any site.
        maker = positions.making_lab(session, vial)
        first = [s for s in member_sites if maker is None or s.id == maker.id]
        if first:
            actions.can_store = actions.can_destroy = True
            actions.store_site = first[0].code
            actions.units = list(site_service.units_of(session, first[0]))
        return actions
    if not mine:
        return actions
    actions.can_offer = pending is None and (
        state in ALLOWED[Step.hand_to_courier] or state in ALLOWED[Step.hand_to_site]
    )
    actions.can_dispatch = state in ALLOWED[Step.dispatch]
    actions.can_receive = state in ALLOWED[Step.receive]
    if position.custodian is not None and position.custodian.kind == "site":
        site = site_service.get_site(session, position.custodian.name)
        actions.store_site = site.code
        actions.units = list(site_service.units_of(session, site))
        actions.can_store = state in ALLOWED[Step.store]
        actions.can_administer = state in ALLOWED[Step.administer] and stored(
            BatchState, batch.state, f"batch {batch.lot}"
        ) in (
            BatchState.released,
            BatchState.conditionally_released,
        )
        actions.can_destroy = state in ALLOWED[Step.destroy]
    if actions.can_offer:
        couriers = _couriers(session, user.username)
        sites = []
        if state in ALLOWED[Step.hand_to_site]:
            sites = [
                (f"site:{s.code}", f"{s.name} ({s.code})") for s in site_service.list_sites(session)
            ]
        # A courier carrying it brings it to a site; a site gives it to a courier.
        carrying = position.custodian is not None and position.custodian.kind == "user"
        actions.recipients = sites + couriers if carrying else couriers + sites
        if carrying and prefer is not None:
            actions.recipients.sort(key=lambda recipient: recipient[0] != prefer)
    return actions


def _ended(session: Session, vial: Vial, state: CustodyState) -> str:
    """ "administered at CLINIC1 (Clinic One), 2026-11-02 10:00 UTC, by Nina Clinician"."""
    event = session.exec(
        select(CustodyEvent)
        .where(CustodyEvent.vial_id == vial.id)
        .order_by(col(CustodyEvent.id).desc())
        .limit(1)
    ).one()
    site = session.get(Site, event.site_id) if event.site_id is not None else None
    person = session.exec(select(User).where(User.username == event.by)).first()
    where = f" at {site.code} ({site.name})" if site else ""
    who = person.full_name if person else event.by
    return f"{state.value}{where}, {event.created_at:%Y-%m-%d %H:%M} UTC, by {who}"


def party_label(party: str | None) -> str:
    if party is None:
        return "nobody yet"
    parsed = Party.parse(party, "party")
    return f"site {parsed.name}" if parsed.kind == "site" else parsed.name
