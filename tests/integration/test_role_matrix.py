"""Every endpoint declares its roles: no credentials 401, a wrong role 403, a right one passes.

The route list is read from the application itself, so an endpoint added without a
role declaration fails `test_every_route_is_public_by_name_or_declares_roles`, and one
with roles is exercised by the matrix without editing this file.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from tests.support import Api
from traceability.domain.roles import Role
from traceability.web.app import ROUTERS
from traceability.web.deps import RequireRoles

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/auth/token"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    # The Digital Link resolver: anyone holding a vial may scan its label.
    ("GET", "/01/{gtin}/10/{lot}/21/{serial}"),
    ("GET", "/01/{gtin}/10/{lot}"),
    ("GET", "/00/{sscc}"),
    # The log's checkpoint, key and proofs are public on purpose: hashes and signatures
    # only, so that anyone holding a vial can check its record.
    ("GET", "/log/checkpoint"),
    ("GET", "/log/key"),
    ("GET", "/log/cosigner-key"),
    ("GET", "/log/witnesses"),
    ("GET", "/log/proof/inclusion"),
    ("GET", "/log/proof/consistency"),
    # The log as C2SP tlog-tiles, for any mirror, witness or monitor.
    ("GET", "/checkpoint"),
    ("GET", "/tile/entries/{index:path}"),
    ("GET", "/tile/{level}/{index:path}"),
}
PATH_VALUES = {
    "username": "target",
    "index": "0",
    "key_id": "0" * 32,
    "code": "NOPE",
    "lot": "NOPE",
    "gtin": "09521234543213",
    "serial": "0001",
    "sscc": "009521230000000017",
    "site": "NOPE",
    "unit": "NOPE",
    "upload_id": "1",
}


def declared_roles(route: Route) -> frozenset[Role] | None:
    if not isinstance(route, APIRoute):
        return None
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, RequireRoles):
            return dep.call.roles
        stack.extend(dep.dependencies)
    return None


def endpoints(app: FastAPI) -> list[tuple[str, str, Route]]:
    """(method, path, route) for every endpoint: FastAPI's own docs, then our routers."""
    rows = [
        (method, route.path, route)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    ]
    for route in (r for router in ROUTERS for r in router.routes):
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                rows.append((method, route.path, route))
    return rows


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def test_every_route_is_public_by_name_or_declares_roles(api: Api) -> None:
    undeclared = [
        (method, path)
        for method, path, route in endpoints(api.app)
        if (method, path) not in PUBLIC and declared_roles(route) is None
    ]
    assert undeclared == []
    assert len(endpoints(api.app)) > len(PUBLIC)


@pytest.fixture
def users_by_role(api: Api) -> dict[Role, dict[str, str]]:
    api.add_user("target", "lab")
    headers = {}
    for role in Role:
        api.add_user(f"only-{role.value}", role.value)
        headers[role] = api.headers(f"only-{role.value}")
    return headers


def test_role_matrix(api: Api, users_by_role: dict[Role, dict[str, str]]) -> None:
    checked = 0
    for method, path, route in endpoints(api.app):
        roles = declared_roles(route)
        if roles is None:
            continue
        url = concrete(path)
        anonymous = api.client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        for role, headers in list(users_by_role.items()):
            response = api.client.request(method, url, json={}, headers=headers)
            if role in roles:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                if api.client.get("/auth/me", headers=headers).status_code == 401:
                    # That endpoint ended the session (sign-out): sign in again.
                    users_by_role[role] = api.headers(f"only-{role.value}")
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.headers["content-type"] == "application/problem+json"
        checked += 1
    assert checked >= 10
