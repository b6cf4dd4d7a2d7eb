"""Shippers as the API shows them: the SSCC, its temperature limits, where it is, and
the vials packed in it now.

Reads only, beside `sites.create_shipper` (which commissions one into the log); what
is inside and who holds it come from `positions`, as the steps see them.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session

from traceability.services.custody.positions import unit_for
from traceability.storage.models import Shipper, Site


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
