"""Sites as the API lists them: code, kind, storage units with their limits, members.

Reads only; `sites` creates and changes them. The members are usernames, never more
of a person's account.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session, select

from traceability.services import sites as site_service
from traceability.storage.models import Site, SiteMember, User


class UnitPublic(BaseModel):
    code: str
    name: str
    max_celsius: str | None
    min_celsius: str | None
    allowed_excursion_minutes: int


class SitePublic(BaseModel):
    code: str
    name: str
    kind: str
    units: list[UnitPublic]
    members: list[str]


def site_public(session: Session, site: Site) -> SitePublic:
    members = session.exec(
        select(User.username)
        .join(SiteMember, SiteMember.user_id == User.id)  # type: ignore[arg-type]
        .where(SiteMember.site_id == site.id)
        .order_by(User.username)
    ).all()
    return SitePublic(
        code=site.code,
        name=site.name,
        kind=site.kind,
        units=[
            UnitPublic(
                code=u.code,
                name=u.name,
                max_celsius=u.max_celsius,
                min_celsius=u.min_celsius,
                allowed_excursion_minutes=u.allowed_excursion_minutes,
            )
            for u in site_service.units_of(session, site)
        ],
        members=list(members),
    )


def sites_public(session: Session) -> list[SitePublic]:
    return [site_public(session, s) for s in site_service.list_sites(session)]
