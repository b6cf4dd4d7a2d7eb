"""Custody over HTTP: the signed custody steps, a person's custody, and the custody
router that gathers them with the sites and shippers they move between.

Each step route names who may take it (`custody_roles`) and its documented path; the
frame it runs in is `custody_requests`, and what it does is `services.custody`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from traceability.domain.statement_kinds import (
    CUSTODY_ADMINISTERED,
    CUSTODY_DESTROYED,
    CUSTODY_DISPATCHED,
    CUSTODY_PACKED,
    CUSTODY_RECEIVED,
    CUSTODY_STORED,
    HANDOVER_ACCEPTED,
    HANDOVER_OFFERED,
)
from traceability.services.auth import Authenticated
from traceability.services.custody import handoffs, steps, views
from traceability.services.users import current_user
from traceability.web.context import ServiceContext
from traceability.web.deps import ContextDep, SessionDep
from traceability.web.routes import shippers, sites
from traceability.web.routes.batches import SignedRequest
from traceability.web.routes.custody_requests import (
    Action,
    IdempotencyKey,
    StepDone,
    offer_unit,
    on_unit,
    on_vial,
    pack_shipper,
    run_step,
)
from traceability.web.routes.custody_roles import Carrier, Courier, SiteWorker
from traceability.web.statement_docs import statement_kinds

steps_router = APIRouter(tags=["custody"])

STEP_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not yours: the unit is in another party's custody (flagged)"},
    409: {"description": "Not permitted from the unit's current state (named), or a replay"},
    422: {"description": "A bad request, naming the field"},
}


def _step_route(
    path: str, summary: str, kind: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A step's route, documenting the statement kind its body carries."""
    return steps_router.post(
        path,
        status_code=201,
        response_model=StepDone,
        summary=summary,
        responses=STEP_RESPONSES,
        openapi_extra=statement_kinds(kind),
    )


async def _from_route(
    action: Action,
    body: SignedRequest,
    auth: Authenticated,
    context: ServiceContext,
    key: str | None,
) -> JSONResponse:
    return await run_step(action, body.statement, body.signature, auth, context, key)


@_step_route(
    "/custody/store",
    "Store a vial at a site's unit, rack, box, position (signed)",
    CUSTODY_STORED,
)
async def store(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_vial(steps.store), body, auth, context, key)


@_step_route("/custody/pack", "Pack stored vials into an empty shipper (signed)", CUSTODY_PACKED)
async def pack(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(pack_shipper, body, auth, context, key)


@_step_route(
    "/custody/handoffs",
    "Offer a vial or shipper to a courier or site (signed, custodian)",
    HANDOVER_OFFERED,
)
async def offer_handoff(
    body: SignedRequest, auth: Carrier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(offer_unit, body, auth, context, key)


@_step_route(
    "/custody/handoffs/accept",
    "Accept an offered handoff (signed, the named party)",
    HANDOVER_ACCEPTED,
)
async def accept_handoff(
    body: SignedRequest, auth: Carrier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_unit(handoffs.accept_handoff), body, auth, context, key)


@_step_route(
    "/custody/dispatch", "The courier sets off: in transit (signed, courier)", CUSTODY_DISPATCHED
)
async def dispatch(
    body: SignedRequest, auth: Courier, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_unit(steps.dispatch), body, auth, context, key)


@_step_route(
    "/custody/receive",
    "Record receipt and the container's condition (signed)",
    CUSTODY_RECEIVED,
)
async def receive(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_unit(steps.receive), body, auth, context, key)


@_step_route(
    "/custody/administer",
    "The vial was administered (signed; released batches only)",
    CUSTODY_ADMINISTERED,
)
async def administer(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_vial(steps.administer), body, auth, context, key)


@_step_route(
    "/custody/destroy", "The vial was destroyed, with the reason (signed)", CUSTODY_DESTROYED
)
async def destroy(
    body: SignedRequest, auth: SiteWorker, context: ContextDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await _from_route(on_vial(steps.destroy), body, auth, context, key)


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


@steps_router.get(
    "/custody/mine",
    response_model=MyCustody,
    summary="What I (and the sites I act for) hold, and handoffs offered to us",
)
def my_custody(auth: Carrier, context: ContextDep, session: SessionDep) -> MyCustody:
    view = views.custody_of(session, current_user(session, auth.actor), context.clock())
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


router = APIRouter()
"""Sites, shippers and the custody steps, in the order they were always matched in (the
routes themselves, as the app takes them: see `create_app`)."""
for part in (sites.router, shippers.router, steps_router):
    router.routes.extend(part.routes)
