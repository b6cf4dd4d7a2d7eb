"""The demo site's custody: two sites, their storage, a shipment on its way.

After `./scripts/serve`: the lab (LAB1) holds most vials in its LN2 tanks; two vials
of UC26-101 travel in a dry shipper that Cora carried and offered to the clinic
(CLINIC1), waiting for Nina to accept it; one vial of UC26-104 is offered to Rami.
The open offers last 30 days so the demo stays usable.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from labels.digital_link import VialId
from traceability.custody_log.appender import CustodyLog
from traceability.demo.records import GTIN, DemoSigner
from traceability.domain.actor import Actor
from traceability.services import sites as site_service
from traceability.services.custody import frame, handoffs, positions, steps
from traceability.services.users import get_by_username
from traceability.storage.models import Shipper, Vial

SITES = (
    ("LAB1", "Cell Processing Laboratory", "lab", ("lena", "leo", "quinn")),
    ("CLINIC1", "City Hospital Cell Therapy Unit", "clinic", ("nina",)),
)
UNITS = (
    ("LAB1", "LN2-A", "LN2 vapour-phase tank A"),
    ("LAB1", "LN2-B", "LN2 vapour-phase tank B"),
    ("CLINIC1", "LN2-C", "Clinic LN2 dewar"),
)
DEMO_OFFER = timedelta(days=30)


def load_sites(session: Session, *, actor: Actor, now: datetime) -> None:
    """The lab, the clinic, their members and storage units; before the batches, which
    are made at LAB1."""
    for code, name, kind, members in SITES:
        site = site_service.create_site(
            session, code=code, name=name, kind=kind, actor=actor, now=now
        )
        for username in members:
            site_service.add_member(
                session, site, get_by_username(session, username), actor=actor, now=now
            )
    for site_code, unit, name in UNITS:
        site_service.create_unit(
            session,
            site_service.get_site(session, site_code),
            code=unit,
            name=name,
            max_celsius="-150",
            min_celsius=None,
            allowed_excursion_minutes=10,
            actor=actor,
            now=now,
        )


def load_custody(
    session: Session,
    log: CustodyLog,
    *,
    resolver: str,
    company_prefix: str,
    now: datetime,
) -> None:
    people = {n: DemoSigner(session, log, n, now) for n in ("lena", "cora", "nina")}
    lena, cora = people["lena"], people["cora"]

    def vial(lot: str, serial: str) -> Vial:
        uri = VialId(GTIN, lot, serial).uri(resolver)
        found = session.exec(select(Vial).where(Vial.uri == uri)).one()
        return found

    def step(who: DemoSigner, kind: str, subject: str, what: dict[str, Any]) -> Any:
        return who.sign(
            session, log, kind, subject, {**what, "nonce": secrets.token_urlsafe(16)}, now
        )

    def caller(who: DemoSigner) -> frame.Caller:
        return frame.Caller(who.user, now)

    for lot, unit, serials in (
        ("UC26-101", "LN2-A", ("0001", "0002", "0003", "0004", "0005")),
        ("UC26-102", "LN2-B", ("0001", "0002", "0003", "0004", "0005")),
        ("UC26-104", "LN2-A", ("0001", "0002", "0003", "0004", "0005")),
    ):
        for n, serial in enumerate(serials, start=1):
            v = vial(lot, serial)
            where = {
                "site": "LAB1",
                "unit": unit,
                "rack": "R1",
                "box": lot[-3:],
                "position": f"A{n}",
            }
            steps.store(
                session,
                log,
                step(lena, "custody.stored", v.uri, where),
                vial=v,
                caller=caller(lena),
            )

    # A dry shipper with two vials of UC26-101, carried by Cora, offered to the clinic.
    shipper = site_service.create_shipper(
        session,
        log,
        site_service.get_site(session, "LAB1"),
        consignee=site_service.get_site(session, "CLINIC1"),
        max_celsius="-150",
        min_celsius=None,
        allowed_excursion_minutes=10,
        user=lena.user,
        actor=lena.actor,
        company_prefix=company_prefix,
        resolver=resolver,
        now=now,
    )
    packed = [vial("UC26-101", "0003").uri, vial("UC26-101", "0004").uri]
    steps.pack(
        session,
        log,
        step(lena, "custody.packed", shipper.uri, {"vials": packed}),
        shipper=shipper,
        caller=caller(lena),
    )
    _hand(session, log, shipper, lena, cora, "user:cora", step, caller)
    steps.dispatch(
        session,
        log,
        step(cora, "custody.dispatched", shipper.uri, {}),
        unit=positions.unit_for(session, shipper.uri),
        caller=caller(cora),
    )
    handoffs.offer_handoff(
        session,
        log,
        step(cora, "custody.handover.offered", shipper.uri, {"to": "site:CLINIC1"}),
        unit=positions.unit_for(session, shipper.uri),
        caller=caller(cora),
        ttl=DEMO_OFFER,
    )
    # One vial of UC26-104 offered to Rami: sign in as rami and open it to accept.
    lone = vial("UC26-104", "0002")
    handoffs.offer_handoff(
        session,
        log,
        step(lena, "custody.handover.offered", lone.uri, {"to": "user:rami"}),
        unit=positions.unit_for(session, lone.uri),
        caller=caller(lena),
        ttl=DEMO_OFFER,
    )


def _hand(
    session: Session,
    log: CustodyLog,
    shipper: Shipper,
    giver: DemoSigner,
    taker: DemoSigner,
    to: str,
    step: Any,
    caller: Any,
) -> None:
    handoff = handoffs.offer_handoff(
        session,
        log,
        step(giver, "custody.handover.offered", shipper.uri, {"to": to}),
        unit=positions.unit_for(session, shipper.uri),
        caller=caller(giver),
        ttl=DEMO_OFFER,
    )
    handoffs.accept_handoff(
        session,
        log,
        step(taker, "custody.handover.accepted", shipper.uri, {"handoff": handoff.id}),
        unit=positions.unit_for(session, shipper.uri),
        caller=caller(taker),
    )
