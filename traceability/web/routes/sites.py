"""Sites over HTTP: where custody can be, with their storage units and members.

Set-up records, created by an administrator and read by the staff; `services.sites`
makes and checks them, `services.site_directory` shapes the answers. Nothing here
reads a table.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from traceability.errors import InvalidInputError
from traceability.services import site_directory
from traceability.services import sites as site_service
from traceability.services.site_directory import SitePublic
from traceability.services.users import find_by_username
from traceability.web.deps import Admin, ContextDep, SessionDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.routes.custody_roles import Staff

router = APIRouter(tags=["custody"])


class SiteCreate(BaseModel):
    model_config = STRICT_BODY
    code: Text = Field(pattern=f"^{site_service.SITE_CODE.pattern}$")
    name: Text = Field(min_length=1, max_length=200)
    kind: Text = Field(pattern=f"^({'|'.join(site_service.SITE_KINDS)})$")


class UnitCreate(BaseModel):
    model_config = STRICT_BODY
    code: Text = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$")
    name: Text = Field(min_length=1, max_length=200)
    max_celsius: Text | None = Field(default=None, max_length=16)
    min_celsius: Text | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = Field(default=0, ge=0, le=10080)


class MemberAdd(BaseModel):
    model_config = STRICT_BODY
    username: Text = Field(max_length=64)


@router.get("/sites", response_model=list[SitePublic], summary="Sites with units and members")
def list_sites(auth: Staff, session: SessionDep) -> list[SitePublic]:
    return site_directory.sites_public(session)


@router.post("/sites", response_model=SitePublic, status_code=201, summary="Create a site (admin)")
def create_site(body: SiteCreate, auth: Admin, context: ContextDep) -> SitePublic:
    with context.db.write() as session:
        site = site_service.create_site(
            session,
            code=body.code,
            name=body.name,
            kind=body.kind,
            actor=auth.actor,
            now=context.clock(),
        )
        return site_directory.site_public(session, site)


@router.post(
    "/sites/{code}/members",
    response_model=SitePublic,
    status_code=201,
    summary="Let a user act for a site (admin)",
)
def add_member(code: str, body: MemberAdd, auth: Admin, context: ContextDep) -> SitePublic:
    with context.db.write() as session:
        site = site_service.get_site(session, code)
        user = find_by_username(session, body.username)
        if user is None:
            raise InvalidInputError(f"no user {body.username!r}", field="username")
        site_service.add_member(session, site, user, actor=auth.actor, now=context.clock())
        return site_directory.site_public(session, site)


@router.post(
    "/sites/{code}/units",
    response_model=SitePublic,
    status_code=201,
    summary="Add a storage unit with its temperature limits (admin)",
)
def add_unit(code: str, body: UnitCreate, auth: Admin, context: ContextDep) -> SitePublic:
    with context.db.write() as session:
        site = site_service.get_site(session, code)
        site_service.create_unit(
            session,
            site,
            code=body.code,
            name=body.name,
            max_celsius=body.max_celsius,
            min_celsius=body.min_celsius,
            allowed_excursion_minutes=body.allowed_excursion_minutes,
            actor=auth.actor,
            now=context.clock(),
        )
        return site_directory.site_public(session, site)
