"""The GS1 Digital Link resolver: what a phone opens when it scans a vial's label.

`GET /01/{gtin}/10/{lot}/21/{serial}[?17=YYMMDD&s=TAG]`. A browser gets the vial page;
a client asking for `application/json` gets the same record as JSON. Anyone may scan:
without sign-in only what a patient may see is shown. Unknown or malformed identifiers
are a 404, and scans are limited per client (429 with Retry-After).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from labels.digital_link import VialId, batch_uri
from labels.errors import IdentifierError
from traceability.domain.label_tags import TagVerdict
from traceability.domain.roles import Role
from traceability.errors import NotFoundError, UnprovenError
from traceability.services import (
    batch_records,
    sites,
    vial_labels,
    vial_record,
)
from traceability.services import users as user_service
from traceability.services.custody import actions as custody_actions
from traceability.services.custody import positions
from traceability.services.custody import shippers as shipper_service
from traceability.services.custody import views as custody_views
from traceability.services.proof.batch import check_batch
from traceability.web import custody_pictures
from traceability.web.deps import ContextDep, MaybeUser, SessionDep, covered_evidence
from traceability.web.pages import render
from traceability.web.problems import wants_html

PAGE_OR_RECORD: dict[str, Any] = {
    "description": "The page for a browser (text/html), the record as JSON for a client "
    "that asks for application/json",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
"""A scanned label's URI is the record's one address: what comes back depends on Accept."""

router = APIRouter(tags=["resolver"])

STAFF = (Role.lab, Role.qa, Role.auditor, Role.admin, Role.courier)
RECORD_READERS = (Role.lab, Role.qa, Role.auditor, Role.admin)
"""Who sees the batch record behind a vial (donor code, record link); couriers do not."""


def _limit(request: Request, context: ContextDep) -> None:
    client = request.client.host if request.client else "unknown"
    context.scan_limiter.check(client, time.monotonic())


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and not wants_html(request)


@router.get(
    "/01/{gtin}/10/{lot}/21/{serial}",
    summary="Resolve a vial's GS1 Digital Link URI (public; JSON with Accept: application/json)",
    responses={
        200: PAGE_OR_RECORD,
        404: {"description": "No such vial"},
        429: {"description": "Too many scans"},
    },
)
def resolve_vial(
    request: Request,
    gtin: str,
    lot: str,
    serial: str,
    context: ContextDep,
    session: SessionDep,
    auth: MaybeUser,
) -> Response:
    _limit(request, context)
    try:
        identity = VialId(gtin, lot, serial)
    except IdentifierError:
        raise NotFoundError("this is not the identifier of a vial registered here") from None
    product, batch, vial = vial_record.find_vial(session, identity)
    tag = request.query_params.get("s")
    judgement = vial_labels.judge_scan(session, vial, tag)
    session.commit()
    if judgement.keep:
        with context.db.write() as write:
            vial_labels.keep_scan(
                write,
                vial,
                tag,
                judgement,
                by=auth.user.username if auth else None,
                now=context.clock(),
            )
    staff = auth is not None and auth.actor.has_any(*STAFF)
    record_reader = auth is not None and auth.actor.has_any(*RECORD_READERS)
    evidence = covered_evidence(context, session)
    proof = check_batch(session, evidence, batch)
    alarms = context.alarms()
    record = vial_record.vial_record(
        session,
        product,
        batch,
        vial,
        verdict=judgement.verdict,
        label_expiry=request.query_params.get("17"),
        staff=staff,
        proof=proof,
        alarms=alarms,
        record_reader=record_reader,
    )
    if _wants_json(request):
        return JSONResponse(record.to_json(), headers={"Vary": "Accept, Cookie"})
    actions = None
    if auth is not None and auth.actor.has_any(Role.lab, Role.qa, Role.courier):
        user = user_service.current_user(session, auth.actor)
        actions = custody_actions.actions_for(session, user, vial, context.clock())
        if _someone_elses(actions) and auth.actor.has_any(Role.courier):
            # A courier holding a vial that is not theirs and not offered to them: flagged.
            with context.db.write() as write:
                vial_labels.keep_scan(
                    write,
                    vial,
                    tag,
                    vial_labels.ScanJudgement(TagVerdict.other_custody, judgement.label_id, True),
                    by=user.username,
                    now=context.clock(),
                )
    flagged = vial_labels.flagged_scans(session, vial) if staff else []
    picture = (
        custody_pictures.drawn(
            lambda: custody_pictures.vial_timeline(
                custody_views.holdings(session, evidence, [vial]).get(vial.id or 0, []),
                until=context.clock(),
                serial=vial.serial,
            )
        )
        if staff and proof.ok
        else None
    )
    return render(
        request,
        "vial.html",
        {
            "record": record,
            "custody_picture": picture,
            "flagged_scans": flagged,
            "staff": staff,
            "actions": actions,
            "tag": tag if judgement.verdict is TagVerdict.valid else "",
            "origin": context.log.origin,
            "party_label": custody_actions.party_label,
        },
        headers={"Vary": "Accept, Cookie"},
    )


def _someone_elses(actions: custody_actions.CustodyActions) -> bool:
    return (
        actions.custodian is not None
        and not actions.mine
        and actions.offered_to_me is None
        and actions.state not in ("administered", "destroyed")
    )


@router.get(
    "/01/{gtin}/10/{lot}",
    summary="Resolve a batch's GS1 Digital Link URI, as on a shipper label (public)",
    responses={
        200: PAGE_OR_RECORD,
        404: {"description": "No such batch"},
        429: {"description": "Too many scans"},
    },
)
def resolve_batch(
    request: Request,
    gtin: str,
    lot: str,
    context: ContextDep,
    session: SessionDep,
    auth: MaybeUser,
) -> Response:
    _limit(request, context)
    try:
        uri = batch_uri(context.settings.resolver_base, gtin, lot)
    except IdentifierError:
        raise NotFoundError("this is not the identifier of a batch registered here") from None
    product, batch = vial_record.find_batch(session, gtin, lot)
    summary = vial_record.batch_summary(session, product, batch, uri)
    if _wants_json(request):
        return JSONResponse(summary.to_json(), headers={"Vary": "Accept"})
    return render(request, "batch_public.html", {"summary": summary}, headers={"Vary": "Accept"})


@router.get(
    "/00/{sscc}",
    summary="Resolve a shipper's SSCC Digital Link URI, as on its label (public)",
    responses={
        200: PAGE_OR_RECORD,
        404: {"description": "No such shipper"},
        429: {"description": "Too many scans"},
    },
)
def resolve_shipper(
    request: Request, sscc: str, context: ContextDep, session: SessionDep, auth: MaybeUser
) -> Response:
    _limit(request, context)
    shipper = sites.find_shipper(session, sscc)
    if shipper is None:
        raise NotFoundError("no shipper with this SSCC is registered here")
    unit = positions.unit_for(session, shipper.uri)
    state = unit.position.state.value if unit.position else "empty"
    staff = auth is not None and auth.actor.has_any(*STAFF)
    vials = []
    for vial in unit.vials:
        vials.append((vial, batch_records.lot_of(session, vial) or ""))
    if _wants_json(request):
        body = {"sscc": shipper.sscc, "uri": shipper.uri, "state": state, "vials": len(vials)}
        if staff:
            body["contents"] = [vial.uri for vial, _ in vials]
        return JSONResponse(body, headers={"Vary": "Accept, Cookie"})
    route, unproven = None, None
    if staff:  # where a consignment goes is for staff, not for whoever finds the box
        try:
            route = shipper_service.commissioning(covered_evidence(context, session), shipper)
        except UnprovenError as e:
            unproven = e.findings
    actions = None
    if unit.vials and auth is not None and auth.actor.has_any(Role.lab, Role.qa, Role.courier):
        user = user_service.current_user(session, auth.actor)
        consignee = f"site:{route.consignee}" if route and route.consignee else None
        actions = custody_actions.actions_for(
            session, user, unit.vials[0], context.clock(), prefer=consignee
        )
    packing = None
    if staff and auth is not None:
        packing = shipper_service.packing_for(
            session, shipper, user_service.current_user(session, auth.actor), context.clock()
        )
    return render(
        request,
        "shipper.html",
        {
            "shipper": shipper,
            "route": route,
            "unproven": unproven,
            "limits": shipper_service.limits_text(route) if route else None,
            "site_name": shipper_service.site_name(session, route.site) if route else "",
            "consignee_name": shipper_service.site_name(session, route.consignee)
            if route and route.consignee
            else None,
            "packing": packing,
            "state": state,
            "vials": vials if staff else [],
            "count": len(vials),
            "staff": staff,
            "actions": actions,
            "tag": "",
            "origin": context.log.origin,
            "party_label": custody_actions.party_label,
        },
        headers={"Vary": "Accept, Cookie"},
    )
