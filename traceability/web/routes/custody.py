"""Custody over HTTP: sites and shippers, and the signed custody steps.

Each step is a signed request (docs/signed-writes.md) whose statement's subject is the
unit it acts on: a vial's or a shipper's Digital Link URI. Requests may carry an
`Idempotency-Key` header: a retry with the same key and body gets the first answer
again instead of a second step; the same key with another body is refused. A replayed
signed request (its nonce seen before) is refused whatever the header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from traceability.custody_log.signed_requests import (
    SignedStatement,
    read_signed,
    verify_early,
)
from traceability.domain.roles import Role
from traceability.errors import InvalidInputError
from traceability.services import custody
from traceability.services import sites as site_service
from traceability.services.auth import Authenticated
from traceability.storage.models import (
    IdempotentResponse,
    LabelIssue,
    LabelScan,
    Shipper,
    Site,
    Vial,
)
from traceability.web.context import ServiceContext
from traceability.web.deps import Admin, ContextDep, RequireRoles, SessionDep
from traceability.web.fields import STRICT_BODY, Text
from traceability.web.routes.batches import SignedRequest

router = APIRouter(tags=["custody"])

Staff = Annotated[
    Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier, Role.auditor, Role.admin))
]
SiteWorker = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa))]
Carrier = Annotated[Authenticated, Depends(RequireRoles(Role.lab, Role.qa, Role.courier))]
Courier = Annotated[Authenticated, Depends(RequireRoles(Role.courier))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]{8,128}$",
        description="Makes a retry safe: the same key and body get the first answer again.",
    ),
]


# --- sites, units, shippers -------------------------------------------------------------


class SiteCreate(BaseModel):
    model_config = STRICT_BODY
    code: Text = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$")
    name: Text = Field(min_length=1, max_length=200)
    kind: Text = Field(pattern="^(lab|clinic|depot)$")


class UnitCreate(BaseModel):
    model_config = STRICT_BODY
    code: Text = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{0,31}$")
    name: Text = Field(min_length=1, max_length=200)
    max_celsius: Text | None = Field(default=None, max_length=16)
    min_celsius: Text | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = Field(default=0, ge=0, le=10080)


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


class MemberAdd(BaseModel):
    model_config = STRICT_BODY
    username: Text = Field(max_length=64)


def _site_public(session: Session, site: Site) -> SitePublic:
    from traceability.storage.models import SiteMember, User

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


@router.get("/sites", response_model=list[SitePublic], summary="Sites with units and members")
def list_sites(auth: Staff, session: SessionDep) -> list[SitePublic]:
    return [_site_public(session, s) for s in site_service.list_sites(session)]


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
        return _site_public(session, site)


@router.post(
    "/sites/{code}/members",
    response_model=SitePublic,
    status_code=201,
    summary="Let a user act for a site (admin)",
)
def add_member(code: str, body: MemberAdd, auth: Admin, context: ContextDep) -> SitePublic:
    from traceability.services.users import find_by_username

    with context.db.write() as session:
        site = site_service.get_site(session, code)
        user = find_by_username(session, body.username)
        if user is None:
            raise InvalidInputError(f"no user {body.username!r}", field="username")
        site_service.add_member(session, site, user, actor=auth.actor, now=context.clock())
        return _site_public(session, site)


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
        return _site_public(session, site)


class ShipperCreate(BaseModel):
    model_config = STRICT_BODY
    site: Text = Field(max_length=32)
    max_celsius: Text | None = Field(default="-150", max_length=16)
    min_celsius: Text | None = Field(default=None, max_length=16)
    allowed_excursion_minutes: int = Field(default=0, ge=0, le=10080)


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
    unit = custody.unit_for(session, shipper.uri)
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


@router.post(
    "/shippers",
    response_model=ShipperPublic,
    status_code=201,
    summary="Commission a shipper: an SSCC and a log entry (lab or qa of the site)",
)
def create_shipper(body: ShipperCreate, auth: SiteWorker, context: ContextDep) -> ShipperPublic:
    from traceability.storage.models import User

    with context.db.write() as session:
        site = site_service.get_site(session, body.site)
        user = session.get(User, auth.user.id)
        assert user is not None  # noqa: S101 - authenticated
        if not site_service.is_member(session, site, user):
            raise InvalidInputError(f"you do not act for site {site.code}", field="site")
        shipper = site_service.create_shipper(
            session,
            context.log,
            site,
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


# --- the signed steps ---------------------------------------------------------------------


class StepDone(BaseModel):
    subject: str
    state: str | None
    custodian: str | None
    vials: int
    handoff: int | None = None
    expires_at: str | None = None
    log_index: int
    next_seq: int = Field(description="The subject's next statement goes here (sign against it)")
    prev: str | None = Field(description="Leaf hash (hex) the subject's next statement follows")


def _request_sha256(statement: dict[str, Any], signature: str) -> str:
    raw = json.dumps(
        {"statement": statement, "signature": signature}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(raw.encode()).hexdigest()


Action = Callable[
    [Session, custody.Unit, custody.Caller, SignedStatement, ServiceContext],
    custody.Offer | None,
]
"""One custody step; a handoff step returns its handoff, for the answer to name it."""


async def run_step(
    action: Action,
    statement: dict[str, Any],
    signature: str,
    auth: Authenticated,
    context: ServiceContext,
    key: str | None,
) -> JSONResponse:
    """The frame of every step: idempotency, the unit named by the subject, flagged scans.

    The step runs as one unit of the group commit (`storage.group_commit`): custody steps
    are the busiest writes, taken by couriers in bursts. An earlier answer to the same
    Idempotency-Key is looked up inside the unit, after the log's lock: a retry sent
    while the first attempt is still running waits for it and then gets its answer,
    instead of being refused as a replay of its nonce.
    """
    username = auth.user.username
    digest = _request_sha256(statement, signature) if key is not None else ""
    subject = statement.get("subject")
    if not isinstance(subject, str):
        raise InvalidInputError("subject is the unit's URI", field="statement.subject")
    signed = verify_early(context.log, read_signed(statement, signature))

    def unit_of_work(session: Session) -> tuple[int, dict[str, Any]]:
        context.log.lock(session)  # the step checks state, then appends: all of it serialised
        earlier = _earlier_answer(session, username, key, digest)
        if earlier is not None:
            return earlier
        # The user read by authentication just now, detached: steps only read it.
        caller = custody.Caller(auth.user, context.clock(), alarms=tuple(context.alarms()))
        unit = custody.unit_for(session, subject)
        handoff = action(session, unit, caller, signed, context)
        payload = _done(session, unit, caller, handoff, signed).model_dump()
        if key is not None:
            session.add(
                IdempotentResponse(
                    username=username,
                    key=key,
                    request_sha256=digest,
                    status=201,
                    body=payload,
                    created_at=caller.now,
                )
            )
        return 201, payload

    try:
        status, payload = await context.writer.run(unit_of_work)
    except custody.CustodyRefused as refused:
        await context.writer.run(partial(_keep_flag, context=context, refused=refused, by=username))
        raise
    return JSONResponse(payload, status_code=status)


def _earlier_answer(
    session: Session, username: str, key: str | None, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The stored answer to this person's request with this Idempotency-Key, if any."""
    if key is None:
        return None
    earlier = session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.username == username, IdempotentResponse.key == key
        )
    ).first()
    if earlier is None:
        return None
    if earlier.request_sha256 != digest:
        raise InvalidInputError(
            "this Idempotency-Key was used for a different request", field="Idempotency-Key"
        )
    return earlier.status, earlier.body


def _keep_flag(
    session: Session, *, context: ServiceContext, refused: custody.CustodyRefused, by: str
) -> None:
    """Keep the flagged scan after the refused step rolled back: never silently accepted."""
    label = (
        session.exec(select(LabelIssue).where(LabelIssue.tag == refused.tag)).first()
        if refused.tag and len(refused.tag) <= 32
        else None
    )
    session.add(
        LabelScan(
            vial_id=refused.vial_id,
            label_id=label.id if label else None,
            tag=refused.tag,
            verdict=refused.verdict,
            by=by,
            created_at=context.clock(),
        )
    )


def _done(
    session: Session,
    unit: custody.Unit,
    caller: custody.Caller,
    handoff: custody.Offer | None,
    signed: SignedStatement,
) -> StepDone:
    """The unit after the step, and where its next signed statement goes: a client that
    keeps going (a courier's phone, a scanner station) needs no extra round trip.

    The step's own entry is the unit's newest (the request's subject is the unit), so
    the next statement follows it."""
    entry = caller.signed_entries[-1]
    index = entry.index
    if unit.vial is not None:  # position_of and unit_for see the step's rows (they flush)
        position: custody.Position | None = custody.position_of(session, unit.vial)
        vials = 1
    else:
        fresh = custody.unit_for(session, unit.uri)
        position, vials = fresh.position, len(fresh.vials)
    offered = handoff is not None and handoff.log_index == index  # this request offered it
    return StepDone(
        next_seq=signed.statement.subject_seq + 1,
        prev=entry.leaf_hash.hex(),
        subject=unit.uri,
        state=position.state.value if position else None,
        custodian=str(position.custodian) if position and position.custodian else None,
        vials=vials,
        log_index=index,
        handoff=handoff.id if handoff else None,
        expires_at=handoff.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if handoff and offered
        else None,
    )


def _vial(unit: custody.Unit) -> Vial:
    if unit.vial is None:
        raise InvalidInputError("this step is taken on a vial", field="statement.subject")
    return unit.vial


def _shipper(unit: custody.Unit) -> Shipper:
    if unit.shipper is None:
        raise InvalidInputError("this step is taken on a shipper", field="statement.subject")
    return unit.shipper


# --- each step: what it does, who may take it, and its documented route -----------------


def _on_vial(step: Callable[..., None]) -> Action:
    """A step taken on a lone vial: `step(session, log, signed, vial=, caller=)`."""

    def action(
        session: Session,
        unit: custody.Unit,
        caller: custody.Caller,
        signed: SignedStatement,
        context: ServiceContext,
    ) -> None:
        step(session, context.log, signed, vial=_vial(unit), caller=caller)

    return action


def _on_unit(step: Callable[..., custody.Offer | None]) -> Action:
    """A step taken on a vial or a shipper: `step(session, log, signed, unit=, caller=)`."""

    def action(
        session: Session,
        unit: custody.Unit,
        caller: custody.Caller,
        signed: SignedStatement,
        context: ServiceContext,
    ) -> custody.Offer | None:
        return step(session, context.log, signed, unit=unit, caller=caller)

    return action


def _pack(
    session: Session,
    unit: custody.Unit,
    caller: custody.Caller,
    signed: SignedStatement,
    context: ServiceContext,
) -> None:
    custody.pack(session, context.log, signed, shipper=_shipper(unit), caller=caller)


def _offer(
    session: Session,
    unit: custody.Unit,
    caller: custody.Caller,
    signed: SignedStatement,
    context: ServiceContext,
) -> custody.Offer:
    ttl = timedelta(minutes=context.settings.handoff_minutes)
    return custody.offer_handoff(session, context.log, signed, unit=unit, caller=caller, ttl=ttl)


STEP_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not yours: the unit is in another party's custody (flagged)"},
    409: {"description": "Not permitted from the unit's current state (named), or a replay"},
    422: {"description": "A bad request, naming the field"},
}


def _step_route(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.post(
        path, status_code=201, response_model=StepDone, summary=summary, responses=STEP_RESPONSES
    )


async def _from_route(
    action: Action,
    body: SignedRequest,
    auth: Authenticated,
    context: ServiceContext,
    key: str | None,
) -> JSONResponse:
    return await run_step(action, body.statement, body.signature, auth, context, key)


@_step_route("/custody/store", "Store a vial at a site's unit, rack, box, position (signed)")
async def store(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_vial(custody.store), body, auth, context, key)


@_step_route("/custody/pack", "Pack stored vials into an empty shipper (signed)")
async def pack(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_pack, body, auth, context, key)


@_step_route(
    "/custody/handoffs", "Offer a vial or shipper to a courier or site (signed, custodian)"
)
async def offer_handoff(
    body: SignedRequest, auth: Carrier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_offer, body, auth, context, key)


@_step_route("/custody/handoffs/accept", "Accept an offered handoff (signed, the named party)")
async def accept_handoff(
    body: SignedRequest, auth: Carrier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_unit(custody.accept_handoff), body, auth, context, key)


@_step_route("/custody/dispatch", "The courier sets off: in transit (signed, courier)")
async def dispatch(
    body: SignedRequest, auth: Courier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_unit(custody.dispatch), body, auth, context, key)


@_step_route("/custody/receive", "Record receipt and the container's condition (signed)")
async def receive(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_unit(custody.receive), body, auth, context, key)


@_step_route("/custody/administer", "The vial was administered (signed; released batches only)")
async def administer(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_vial(custody.administer), body, auth, context, key)


@_step_route("/custody/destroy", "The vial was destroyed, with the reason (signed)")
async def destroy(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(_on_vial(custody.destroy), body, auth, context, key)


class HeldVial(BaseModel):
    uri: str
    lot: str
    serial: str
    state: str
    disposition: str
    """The batch's state (quarantine, released, ...): only a released vial is given."""
    shipper: str | None


class OpenHandoff(BaseModel):
    id: int
    unit: str
    from_party: str
    to_party: str
    offered_by: str
    expires_at: str


class MyCustody(BaseModel):
    parties: list[str]
    holding: list[HeldVial]
    offered_to_me: list[OpenHandoff]


@router.get(
    "/custody/mine",
    response_model=MyCustody,
    summary="What I (and the sites I act for) hold, and handoffs offered to us",
)
def my_custody(auth: Carrier, context: ContextDep, session: SessionDep) -> MyCustody:
    from traceability.storage.models import User

    user = session.get(User, auth.user.id)
    assert user is not None  # noqa: S101 - authenticated
    view = custody.custody_of(session, user, context.clock())
    return MyCustody(
        parties=[str(p) for p in view.parties],
        holding=[
            HeldVial(
                uri=held.vial.uri,
                lot=held.lot,
                serial=held.vial.serial,
                state=held.position.state.value,
                disposition=held.disposition,
                shipper=held.sscc,
            )
            for held in view.holding
        ],
        offered_to_me=[
            OpenHandoff(
                id=h.id or 0,
                unit=h.unit_uri,
                from_party=h.from_party,
                to_party=h.to_party,
                offered_by=h.offered_by,
                expires_at=h.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            for h in view.offered
        ],
    )
