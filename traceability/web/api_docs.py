"""The interactive API reference (/docs), served with no request leaving the site.

FastAPI's own page loads Swagger UI from a CDN, so on a clinic's network without the
internet it is blank. The same files come with the `fastapi-offline` package; we serve
them under /static/api-docs and build the page with FastAPI's own helper, which is all
we use of that package. ReDoc is not offered: its bundle still fetches an image from
its maker's CDN.

The schema declares, for every operation, the problem responses (RFC 9457) it can give:
from what the route takes (a body, parameters, a signed-in caller) and what every route
meets (a database that is down). A client, or a fuzzer, then finds no undocumented
status; declared here once rather than on each of ninety routes.

The page FastAPI builds starts Swagger UI with one inline script. The site's policy
(`web.headers`) forbids inline script; this page alone allows that script by its hash,
so nothing else inline could run on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from traceability.web.headers import CONTENT_SECURITY_POLICY
from traceability.web.problems import routes_of

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

ASSETS = "/static/api-docs"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: what went wrong, and the field or limit it concerns.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "description": "A stable name clients can switch on"},
        "field": {"type": "string", "description": "The first input refused"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "in": {"type": "string"},
                },
            },
        },
        "limit": {"type": "integer", "description": "The limit that was exceeded"},
        "findings": {"type": "array", "items": {"type": "string"}},
    },
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEMS: dict[int, str] = {
    400: "Malformed: a body or request line that does not parse, or JSON nested too deep",
    401: "Not signed in, or the credentials are no longer valid",
    403: "Signed in, but not allowed (roles, custody, CSRF token)",
    404: "No such record",
    409: "The record's state forbids it, or the log does not prove it",
    413: "The body (or an image's pixels) is past a limit, which the problem names",
    415: "A body of a type this route does not take",
    422: "A value is refused; the problem names the field",
    429: "Too many attempts; Retry-After says when to try again",
    503: "The database is unreachable, full or busy; Retry-After says when to try again",
}
_LIMITED = ("/auth/token", "/scan")


def problem_statuses(route: APIRoute, method: str) -> set[int]:
    """The problems an operation can answer, from what it takes and who may call it."""
    statuses = {503} if route.path != "/healthz" else set()
    params = get_flat_params(route.dependant)
    body = (
        route.body_field is not None
        or "requestBody" in (route.openapi_extra or {})
        or method in ("POST", "PUT", "PATCH")
    )
    if _signed_in(route.dependant) or route.path == "/auth/token":
        statuses |= {401, 403, 409}
    if body:
        statuses |= {404, 409, 413, 422}
    if params:
        statuses |= {404, 422}
    if body or params:
        # A body that does not parse, or JSON too deep; or a request line the HTTP
        # server itself cannot read (the characters a generator puts in a query).
        statuses.add(400)
    if "requestBody" in (route.openapi_extra or {}) or route.path.endswith("/temperatures"):
        statuses.add(415)
    if route.path in _LIMITED or route.path.startswith("/01/"):
        statuses.add(429)
    return statuses


def _signed_in(dependant: Dependant) -> bool:
    from traceability.web.deps import RequireRoles, current_auth

    return any(
        dep.call is current_auth or isinstance(dep.call, RequireRoles) or _signed_in(dep)
        for dep in dependant.dependencies
    )


def document_problems(app: FastAPI) -> None:
    """Have the app's OpenAPI schema declare each operation's problem responses."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_SCHEMA
            )
            for route in routes_of(app.routes):
                if not isinstance(route, APIRoute) or not route.include_in_schema:
                    continue
                for method in route.methods or ():
                    operation = schema["paths"][route.path_format].get(method.lower())
                    if operation is not None:
                        _declare(operation, problem_statuses(route, method))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _declare(operation: dict[str, Any], statuses: set[int]) -> None:
    responses = operation.setdefault("responses", {})
    for code in list(responses):
        if code[0] in "45":
            statuses.add(int(code))
    for status in sorted(statuses):
        response = responses.setdefault(str(status), {})
        response.setdefault("description", PROBLEMS.get(status, "A problem"))
        # Every error is a problem document, whatever a route's declaration implied
        # (FastAPI declares its own 422 body as application/json).
        response["content"] = {"application/problem+json": {"schema": PROBLEM_REF}}


def install(app: FastAPI) -> None:
    """Add /docs to an app made with docs_url=None and redoc_url=None, and the problem
    responses to its schema."""
    document_problems(app)
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")))
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return _with_own_policy(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{title} · API",
                swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS}/favicon.png",
                oauth2_redirect_url=OAUTH2_REDIRECT,
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return _with_own_policy(get_swagger_ui_oauth2_redirect_html())


def inline_script_policy(html: str) -> str:
    """The site's policy, with each inline script of `html` allowed by its SHA-256, and
    inline styles (Swagger UI sets them as it draws)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(html)
    )
    return CONTENT_SECURITY_POLICY.replace(
        "script-src 'self';", f"script-src 'self' {hashes};"
    ).replace("style-src 'self';", "style-src 'self' 'unsafe-inline';")


def _with_own_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = inline_script_policy(bytes(page.body).decode())
    return page
