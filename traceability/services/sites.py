"""Sites, their members and storage units, and shippers: where custody can be.

Set-up records (not GxP events): created by an administrator, each in the audit
trail. A shipper is commissioned into the custody log, since vials travel in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, func, select

from labels.digital_link import sscc_uri
from labels.gs1 import check_digit
from traceability.custody_log.appender import CustodyLog
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.errors import ConflictError, InvalidInputError, NotFoundError
from traceability.services import audit_trail
from traceability.storage.models import Shipper, Site, SiteMember, StorageUnit, User

SITE_KINDS = ("lab", "clinic", "depot")
SITE_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}")
"""A site's code: it names the site as a custodian ("site:LAB1") and on every page."""


def _range(high: str | None, low: str | None) -> None:
    """A minimum at or above the maximum would make every reading an excursion."""
    if high is not None and low is not None and Decimal(low) >= Decimal(high):
        raise InvalidInputError(
            f"the minimum ({low} °C) must be below the maximum ({high} °C)", field="min_celsius"
        )


def _celsius(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidInputError(f"{field} is a temperature in °C", field=field) from None
    if not number.is_finite() or not Decimal("-273.15") < number < Decimal("200"):
        raise InvalidInputError(f"{field} is a temperature in °C", field=field)
    return str(number)


def create_site(
    session: Session, *, code: str, name: str, kind: str, actor: Actor, now: datetime
) -> Site:
    if not SITE_CODE.fullmatch(code):
        raise InvalidInputError("code is 2-32 upper-case letters, digits or '-'", field="code")
    if not name.strip():
        raise InvalidInputError("name is needed", field="name")
    if kind not in SITE_KINDS:
        raise InvalidInputError(f"kind is one of {', '.join(SITE_KINDS)}", field="kind")
    if session.exec(select(Site).where(Site.code == code)).first():
        raise ConflictError(f"site {code} exists")
    site = Site(code=code, name=name, kind=kind, created_at=now)
    session.add(site)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="site",
        record_id=code,
        changes=diff(None, {"name": name, "kind": kind}),
    )
    return site


def get_site(session: Session, code: str, *, field: str = "site") -> Site:
    site = session.exec(select(Site).where(Site.code == code)).first()
    if site is None:
        raise InvalidInputError(f"no site {code!r}", field=field)
    return site


def find_site(session: Session, code: str) -> Site:
    """The site a page or path names; NotFoundError (404), unlike a field in a request."""
    site = session.exec(select(Site).where(Site.code == code)).first()
    if site is None:
        raise NotFoundError(f"no site {code!r}")
    return site


def list_sites(session: Session) -> Sequence[Site]:
    return session.exec(select(Site).order_by(col(Site.code))).all()


def add_member(session: Session, site: Site, user: User, *, actor: Actor, now: datetime) -> None:
    assert site.id is not None and user.id is not None  # noqa: S101 - stored
    if is_member(session, site, user):
        raise ConflictError(f"{user.username} already acts for {site.code}")
    session.add(SiteMember(site_id=site.id, user_id=user.id, created_at=now))
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="add member",
        record_type="site",
        record_id=site.code,
        changes=diff(None, {"member": user.username}),
    )


def has_labs(session: Session) -> bool:
    """Whether any lab site is set up (then every batch names the lab that makes it)."""
    return session.exec(select(Site.id).where(Site.kind == "lab").limit(1)).first() is not None


def is_member(session: Session, site: Site, user: User) -> bool:
    return (
        session.exec(
            select(SiteMember.id).where(
                SiteMember.site_id == site.id, SiteMember.user_id == user.id
            )
        ).first()
        is not None
    )


def sites_of(session: Session, user: User) -> Sequence[Site]:
    return session.exec(
        select(Site)
        .join(SiteMember, col(SiteMember.site_id) == col(Site.id))
        .where(SiteMember.user_id == user.id)
        .order_by(col(Site.code))
    ).all()


def create_unit(
    session: Session,
    site: Site,
    *,
    code: str,
    name: str,
    max_celsius: str | None,
    min_celsius: str | None,
    allowed_excursion_minutes: int,
    actor: Actor,
    now: datetime,
) -> StorageUnit:
    assert site.id is not None  # noqa: S101 - stored
    unit = StorageUnit(
        site_id=site.id,
        code=code,
        name=name,
        max_celsius=_celsius(max_celsius, "max_celsius"),
        min_celsius=_celsius(min_celsius, "min_celsius"),
        allowed_excursion_minutes=allowed_excursion_minutes,
        created_at=now,
    )
    if unit.max_celsius is None and unit.min_celsius is None:
        raise InvalidInputError("a storage unit needs a temperature limit", field="max_celsius")
    if get_unit(session, site, code, missing_ok=True) is not None:
        raise ConflictError(f"{site.code} already has a unit {code}")
    session.add(unit)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="storage unit",
        record_id=f"{site.code}/{code}",
        changes=diff(None, {"name": name, "max_celsius": unit.max_celsius}),
    )
    return unit


def get_unit(
    session: Session, site: Site, code: str, *, missing_ok: bool = False
) -> StorageUnit | None:
    unit = session.exec(
        select(StorageUnit).where(StorageUnit.site_id == site.id, StorageUnit.code == code)
    ).first()
    if unit is None and not missing_ok:
        raise InvalidInputError(f"{site.code} has no storage unit {code!r}", field="unit")
    return unit


def units_of(session: Session, site: Site) -> Sequence[StorageUnit]:
    return session.exec(
        select(StorageUnit).where(StorageUnit.site_id == site.id).order_by(col(StorageUnit.code))
    ).all()


def sscc(company_prefix: str, serial_reference: int) -> str:
    """An SSCC (GS1 AI 00): extension digit 0, company prefix, serial reference, check digit."""
    width = 16 - len(company_prefix)
    if serial_reference >= 10**width:
        raise ConflictError("the SSCC serial references of this company prefix are used up")
    body = f"0{company_prefix}{serial_reference:0{width}d}"
    return body + str(check_digit(body))


def create_shipper(
    session: Session,
    log: CustodyLog,
    site: Site,
    *,
    consignee: Site,
    max_celsius: str | None,
    min_celsius: str | None,
    allowed_excursion_minutes: int,
    user: User,
    actor: Actor,
    company_prefix: str,
    resolver: str,
    now: datetime,
) -> Shipper:
    """Commission a shipper: a new SSCC, its URI, and a `shipper.commissioned` log entry
    naming the consignee, the site it is to be delivered to (its label says so)."""
    if consignee.code == site.code:
        raise InvalidInputError(
            f"a shipper goes from {site.code} to another site", field="consignee"
        )
    limits = {
        "max_celsius": _celsius(max_celsius, "max_celsius"),
        "min_celsius": _celsius(min_celsius, "min_celsius"),
    }
    if limits["max_celsius"] is None and limits["min_celsius"] is None:
        raise InvalidInputError("a shipper needs a temperature limit", field="max_celsius")
    _range(limits["max_celsius"], limits["min_celsius"])
    if allowed_excursion_minutes < 0:
        raise InvalidInputError(
            "allowed_excursion_minutes is >= 0", field="allowed_excursion_minutes"
        )
    last = session.exec(select(func.max(Shipper.id))).one() or 0
    code = sscc(company_prefix, last + 1)
    uri = sscc_uri(resolver, code)
    entry = log.append_as_service(
        session,
        subject=uri,
        type="shipper.commissioned",
        now=now,
        what={
            "site": site.code,
            "consignee": consignee.code,
            "requested_by": user.username,
            **limits,
            "allowed_excursion_minutes": allowed_excursion_minutes,
        },
        why={"bizStep": "commissioning", "disposition": "active"},
    )
    assert site.id is not None  # noqa: S101 - stored
    shipper = Shipper(
        sscc=code,
        uri=uri,
        site_id=site.id,
        max_celsius=limits["max_celsius"],
        min_celsius=limits["min_celsius"],
        allowed_excursion_minutes=allowed_excursion_minutes,
        created_by=user.username,
        log_index=entry.index,
        created_at=now,
    )
    session.add(shipper)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="shipper",
        record_id=code,
        changes=diff(None, {"site": site.code, "log_index": entry.index}),
    )
    return shipper


def latest_shippers(session: Session, *, limit: int = 50) -> list[tuple[Shipper, str]]:
    """The newest shippers first, each with its site's code ("" if the row is missing)."""
    rows = session.exec(select(Shipper).order_by(col(Shipper.id).desc()).limit(limit)).all()
    out = []
    for shipper in rows:
        site = session.get(Site, shipper.site_id)
        out.append((shipper, site.code if site else ""))
    return out


def find_shipper(session: Session, code: str) -> Shipper | None:
    """The shipper with this SSCC, or None (a scanned code that names nothing here)."""
    return session.exec(select(Shipper).where(Shipper.sscc == code)).first()


def get_shipper(session: Session, code: str) -> Shipper:
    shipper = find_shipper(session, code)
    if shipper is None:
        raise NotFoundError(f"no shipper {code!r}")
    return shipper
