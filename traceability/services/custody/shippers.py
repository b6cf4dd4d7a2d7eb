"""Shippers as the API and pages show them: the SSCC, where it goes, its temperature
limits, where it is, and the vials packed in it now.

Reads only, beside `sites.create_shipper` (which commissions one into the log); what
is inside and who holds it come from `positions`, as the steps see them. Where it goes
and the limits it must keep are read from its commissioning entry once the log proves
it (`commissioning`), never from the row alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, select

from traceability.custody_log.evidence import LogEvidence, Unproven
from traceability.domain.roles import Role, parse_roles
from traceability.errors import UnprovenError
from traceability.services import sites as site_service
from traceability.services.custody.positions import shipper_site, site_party, unit_for, vials_in
from traceability.services.custody.views import site_view
from traceability.storage.models import Shipper, Site, User, Vial

COMMISSIONED = "shipper.commissioned"


@dataclass(frozen=True)
class Commissioning:
    """What a shipper's commissioning entry says, as the log proves it."""

    site: str
    consignee: str | None
    """The site it is sent to; None for a shipper commissioned before consignees were
    named (its label cannot be printed)."""
    max_celsius: str | None
    min_celsius: str | None
    allowed_excursion_minutes: int


def commissioning(evidence: LogEvidence, shipper: Shipper) -> Commissioning:
    """The shipper's commissioning, from its entry once proven; UnprovenError (409) if the
    entry is not proven or is not this shipper's commissioning."""
    record = f"shipper {shipper.sscc}"
    proven = evidence.prove(shipper.log_index)
    if isinstance(proven, Unproven):
        finding = f"{record}: entry {proven.index} {proven.kind}: {proven.detail}"
        raise UnprovenError(f"{finding} (run reconcile)", findings=[finding])
    entry = proven.entry
    if entry.subject != shipper.uri or entry.type != COMMISSIONED:
        finding = f"{record}: entry {entry.index} is not its commissioning ({entry.type})"
        raise UnprovenError(f"{finding} (run reconcile)", findings=[finding])
    what = entry.what

    def text(name: str) -> str | None:
        value = what.get(name)
        return value if isinstance(value, str) else None

    minutes = what.get("allowed_excursion_minutes")
    return Commissioning(
        site=text("site") or "",
        consignee=text("consignee"),
        max_celsius=text("max_celsius"),
        min_celsius=text("min_celsius"),
        allowed_excursion_minutes=minutes if isinstance(minutes, int) else 0,
    )


def limits_text(commissioned: Commissioning) -> str:
    """The temperature range it keeps, in words, as the label and page print it."""
    high, low = commissioned.max_celsius, commissioned.min_celsius
    if high is not None and low is not None:
        return f"Keep between {low} °C and {high} °C"
    if high is not None:
        return f"Keep at or below {high} °C"
    return f"Keep at or above {low} °C"


class ShipperPublic(BaseModel):
    sscc: str
    uri: str
    site: str
    max_celsius: str | None
    min_celsius: str | None
    allowed_excursion_minutes: int
    log_index: int
    vials: list[str]
    state: str | None
    custodian: str | None


def shipper_public(session: Session, shipper: Shipper) -> ShipperPublic:
    site = session.get(Site, shipper.site_id)
    unit = unit_for(session, shipper.uri)
    return ShipperPublic(
        sscc=shipper.sscc,
        uri=shipper.uri,
        site=site.code if site else "",
        max_celsius=shipper.max_celsius,
        min_celsius=shipper.min_celsius,
        allowed_excursion_minutes=shipper.allowed_excursion_minutes,
        log_index=shipper.log_index,
        vials=[v.uri for v in unit.vials],
        state=unit.position.state.value if unit.position else None,
        custodian=str(unit.position.custodian)
        if unit.position and unit.position.custodian
        else None,
    )


def site_name(session: Session, code: str) -> str:
    """A site as a person reads it: its name, then its code."""
    site = session.exec(select(Site).where(Site.code == code)).first()
    if site is None or site.name == code:
        return code
    return f"{site.name} ({code})"


@dataclass(frozen=True)
class Packing:
    """What the shipper page offers the staff of the site where the shipper is."""

    site: Site
    prints: bool
    """The user may print its label (lab or QA of that site)."""
    packable: list[tuple[Vial, str, str]]
    """Vials stored at that site, as (vial, lot, storage place), when the shipper is
    empty: pack signs them into it (the step checks everything again)."""


def packing_for(session: Session, shipper: Shipper, user: User, now: datetime) -> Packing | None:
    """None unless the user acts for the site where the shipper is."""
    here = shipper_site(session, shipper)
    if not site_service.is_member(session, here, user):
        return None
    roles = parse_roles(user.roles)
    packable: list[tuple[Vial, str, str]] = []
    if not vials_in(session, shipper) and (Role.lab in roles or Role.qa in roles):
        view = site_view(session, here, now)
        for unit, items in view.units:
            for item in items:
                place = "/".join(
                    p for p in (item.position.rack, item.position.box, item.position.position) if p
                )
                packable.append((item.vial, item.lot, f"{unit.code} {place}".strip()))
    return Packing(here, Role.lab in roles or Role.qa in roles, packable)


@dataclass(frozen=True)
class Addressed:
    """A shipper commissioned for a site and not yet in that site's hands."""

    shipper: Shipper
    origin: str
    vials: int
    state: str | None
    custodian: str | None


def addressed_to(
    session: Session, evidence: LogEvidence, site: Site, *, limit: int = 50
) -> list[Addressed]:
    """Of the newest `limit` shippers, those whose proven commissioning names `site` as
    consignee, packed, and not held by the site yet: what it should expect. A shipper
    whose commissioning is not proven is left out (its page says why)."""
    mine = str(site_party(site))
    found = []
    for shipper, _ in site_service.latest_shippers(session, limit=limit):
        try:
            made = commissioning(evidence, shipper)
        except UnprovenError:
            continue
        if made.consignee != site.code:
            continue
        unit = unit_for(session, shipper.uri)
        held_by = (
            str(unit.position.custodian) if unit.position and unit.position.custodian else None
        )
        if not unit.vials or held_by == mine:
            continue
        state = unit.position.state.value if unit.position else None
        found.append(Addressed(shipper, made.site, len(unit.vials), state, held_by))
    return found
