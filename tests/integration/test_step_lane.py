"""The custody steps' fast lane (`web.step_lane`) answers exactly as the routes do.

Well-formed step requests are served by the lane in front of FastAPI; everything else
goes on to the documented route. Each refusal below is sent twice, once through the
running server (the lane takes it) and once to the app without the lane (the route
takes it), and the two answers must be the same.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from tests.custody_flow import STORE_AT, World, make_world, nonce
from tests.support import Api
from traceability.security.tokens import csrf_token, token_digest
from traceability.web.headers import SESSION_COOKIE
from traceability.web.routes.custody import CARRIERS, COURIERS, SITE_WORKERS, STEPS
from traceability.web.step_lane import StepLane


@pytest.fixture
def world(api: Api) -> World:
    return make_world(api)


def lane_of(api: Api) -> StepLane:
    lane = api.app.state.step_lane
    assert isinstance(lane, StepLane)
    return lane


def route_alone(api: Api, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    """The same request, answered by the app's own stack without the lane in front."""
    inner = FastAPI.build_middleware_stack(api.app)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await inner({**scope, "app": api.app}, receive, send)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, json=body, headers=headers)

    return asyncio.run(call())


def same_answer(api: Api, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    lane = lane_of(api)
    before = lane.served
    through_lane = api.client.post(path, json=body, headers=headers)
    assert lane.served == before + 1, "the lane did not take this request"
    alone = route_alone(api, path, body, headers)
    assert lane.served == before + 1
    assert (through_lane.status_code, through_lane.json()) == (alone.status_code, alone.json())
    for name in ("content-type", "www-authenticate"):
        assert through_lane.headers.get(name) == alone.headers.get(name)
    return through_lane


def test_well_formed_steps_take_the_lane_and_others_the_route(world: World) -> None:
    w, vial = world, world.vial()
    lane = lane_of(w.api)
    before = lane.served
    assert w.store(w.lena, vial).status_code == 201
    w.hand(w.lena, w.cora, vial, "user:cora")
    assert lane.served == before + 3
    held = w.state(vial)

    body = w.lena.body("custody.handover.offered", vial, {"to": "user:cody", "nonce": nonce()})
    extra = w.api.client.post(
        "/custody/handoffs", headers=w.cora.headers, json=body | {"comment": "x"}
    )
    assert extra.status_code == 422
    assert extra.json()["field"] == "comment"
    not_json = w.api.client.post(
        "/custody/handoffs",
        headers=w.cora.headers | {"content-type": "application/json"},
        content=b'{"statement": ',
    )
    assert not_json.status_code == 422
    assert not_json.json()["field"] == "body"
    bad_key = w.api.client.post(
        "/custody/handoffs", headers=w.cora.headers | {"Idempotency-Key": "short"}, json=body
    )
    assert bad_key.status_code == 422
    assert bad_key.json()["field"] == "Idempotency-Key"
    assert lane.served == before + 3  # none of those three
    assert w.state(vial) == held


def test_the_phone_page_s_cookie_and_csrf_header_take_the_lane(world: World) -> None:
    w, vial = world, world.vial()
    token = w.lena.headers["Authorization"].removeprefix("Bearer ")
    cookie = {"cookie": f"{SESSION_COOKIE}={token}"}
    csrf = {"x-csrf-token": csrf_token(w.api.settings.secret_key, token_digest(token))}
    body = w.lena.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": nonce()},
    )
    lane = lane_of(w.api)
    before = lane.served

    without = w.api.client.post("/custody/store", headers=cookie, json=body)
    assert without.status_code == 403  # no CSRF header: the route refuses it
    assert "CSRF" in without.json()["detail"]
    assert lane.served == before
    wrong = same_answer(w.api, "/custody/store", body, cookie | {"x-csrf-token": "0" * 64})
    assert wrong.status_code == 403
    stored = w.api.client.post("/custody/store", headers=cookie | csrf, json=body)
    assert stored.status_code == 201, stored.text
    assert stored.json()["state"] == "in storage"
    assert lane.served == before + 2


def test_refusals_through_the_lane_are_the_route_s(world: World) -> None:
    w, vial = world, world.vial()
    assert w.store(w.lena, vial).status_code == 201
    stored = w.state(vial)
    offer = {"to": "user:cora"}

    # A role the step does not admit.
    body = w.cora.body(
        "custody.stored",
        vial,
        STORE_AT | {"nonce": nonce()},
    )
    assert same_answer(w.api, "/custody/store", body, w.cora.headers).status_code == 403
    # No such unit.
    missing = w.vial("9999")
    body = w.lena.body("custody.handover.offered", missing, offer | {"nonce": nonce()})
    assert same_answer(w.api, "/custody/handoffs", body, w.lena.headers).status_code == 404
    # A signature that does not verify, naming the field.
    body = w.lena.body("custody.handover.offered", vial, offer | {"nonce": nonce()})
    forged = body | {"signature": base64.b64encode(bytes(64)).decode()}
    answer = same_answer(w.api, "/custody/handoffs", forged, w.lena.headers)
    assert (answer.status_code, answer.json()["field"]) == (422, "signature")
    # Unknown credentials: 401 with the challenge.
    answer = same_answer(w.api, "/custody/handoffs", body, {"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    # The step itself refused: a handoff to the party that already holds the vial.
    own = w.lena.body("custody.handover.offered", vial, {"to": "site:LAB1", "nonce": nonce()})
    assert same_answer(w.api, "/custody/handoffs", own, w.lena.headers).status_code == 409
    assert w.state(vial) == stored  # nothing of it was stored


def test_each_route_admits_the_roles_its_step_names() -> None:
    """The lane checks `STEPS[path].roles`; the route its own dependency: the same."""
    from traceability.web.app import create_app  # noqa: F401 - routes are registered
    from traceability.web.deps import RequireRoles
    from traceability.web.routes.custody import router

    declared: dict[str, frozenset[Any]] = {}
    for route in router.routes:
        path = getattr(route, "path", "")
        if path in STEPS:
            dependant = route.dependant  # type: ignore[attr-defined]
            roles = [
                d.call.roles for d in dependant.dependencies if isinstance(d.call, RequireRoles)
            ]
            declared[path] = roles[0]
    assert declared == {path: step.roles for path, step in STEPS.items()}
    assert {step.roles for step in STEPS.values()} == {SITE_WORKERS, CARRIERS, COURIERS}
