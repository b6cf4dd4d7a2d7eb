"""Shippers over HTTP: commissioning one at a site, and reading what is packed in it.

A shipper moves through the custody steps like a vial (`routes.custody`); here it is
only made and shown. The services check that the caller acts for the site and shape
the answer; nothing here reads a table.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from traceability.errors import InvalidInputError
from traceability.services import sites as site_service
from traceability.services import users as user_service
from traceability.services.custody.shippers import ShipperPublic, shipper_public
from traceability.web.deps import ContextDep, SessionDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.routes.custody_roles import SiteWorker, Staff

router = APIRouter(tags=["custody"])


class ShipperCreate(BaseModel):
    model_config = STRICT_BODY
    site: Text = Field(max_length=32)
    consignee: Text = Field(max_length=32, description="The site code it is sent to")
    max_celsius: Text | None = Field(default="-150", max_length=16)
    min_celsius: Text | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = Field(default=0, ge=0, le=10080)


@router.post(
    "/shippers",
    response_model=ShipperPublic,
    status_code=201,
    summary="Commission a shipper: an SSCC and a log entry (lab or qa of the site)",
)
def create_shipper(body: ShipperCreate, auth: SiteWorker, context: ContextDep) -> ShipperPublic:
    with context.db.write() as session:
        site = site_service.get_site(session, body.site)
        user = user_service.current_user(session, auth.actor)
        if not site_service.is_member(session, site, user):
            raise InvalidInputError(f"you do not act for site {site.code}", field="site")
        shipper = site_service.create_shipper(
            session,
            context.log,
            site,
            consignee=site_service.get_site(session, body.consignee, field="consignee"),
            max_celsius=body.max_celsius,
            min_celsius=body.min_celsius,
            allowed_excursion_minutes=body.allowed_excursion_minutes,
            user=user,
            actor=auth.actor,
            company_prefix=context.settings.gs1_company_prefix,
            resolver=context.settings.resolver_base,
            now=context.clock(),
        )
        return shipper_public(session, shipper)


@router.get("/shippers/{sscc}", response_model=ShipperPublic, summary="A shipper and its vials")
def get_shipper(sscc: str, auth: Staff, session: SessionDep) -> ShipperPublic:
    return shipper_public(session, site_service.get_shipper(session, sscc))
