"""Probes and the RFC 9457 problem bodies, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import APIRouter

from tests.support import PASSWORD, Api, LiveServer
from traceability.settings import Settings
from traceability.storage.database import Database, create_db_engine
from traceability.web.app import create_app


def test_healthz_and_readyz(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_readyz_refuses_while_the_schema_is_behind(
    server: LiveServer, settings: Settings, tmp_path: Path
) -> None:
    empty = Database(create_db_engine(f"sqlite:///{tmp_path}/empty.db"))
    server.switch.target = create_app(settings, database=empty)
    try:
        response = httpx.get(f"{server.base_url}/readyz")
    finally:
        server.switch.target = None
        empty.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "traceability db upgrade" in response.json()["detail"]


def test_unknown_path_is_a_404_problem(api: Api) -> None:
    response = api.client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_a_browser_gets_an_html_error_page(api: Api) -> None:
    response = api.client.get("/no/such/thing", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not Found" in response.text


def test_validation_errors_name_each_field(api: Api) -> None:
    api.add_user("admin", "admin")
    response = api.client.post(
        "/users", headers=api.headers("admin"), json={"username": "x", "roles": []}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "about:blank"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"username", "full_name", "roles", "password"}


def test_malformed_json_is_a_4xx_problem(api: Api) -> None:
    api.add_user("admin", "admin")
    headers = api.headers("admin") | {"content-type": "application/json"}
    response = api.client.post("/users", headers=headers, content=b"{not json")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_duplicate_username_is_a_409_and_stores_nothing_new(api: Api) -> None:
    api.add_user("admin", "admin")
    headers = api.headers("admin")
    body = {
        "username": "admin",
        "full_name": "Other",
        "roles": ["lab"],
        "password": "another-password",
    }
    response = api.client.post("/users", headers=headers, json=body)
    assert response.status_code == 409
    assert api.client.get("/users/admin", headers=headers).json()["full_name"] == "Admin Tester"


def test_an_unexpected_failure_is_a_500_problem_without_internals(api: Api) -> None:
    boom = APIRouter()

    @boom.get("/boom")
    def _boom() -> None:
        raise RuntimeError("secret internals")

    api.app.include_router(boom)
    response = api.client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    api.add_user("admin", "admin")
    answers = [
        api.client.get("/healthz"),
        api.client.get("/no/such/thing"),
        api.client.get("/sign-in", headers={"accept": "text/html"}),
        api.client.get("/users", headers=api.headers("admin")),
        api.client.get("/static/records.js"),
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["x-frame-options"] == "DENY", response.url
        assert response.headers["referrer-policy"] == "same-origin", response.url
        assert response.headers.get_list("x-frame-options") == ["DENY"], response.url


def test_answers_with_credentials_or_people_are_never_cached(api: Api) -> None:
    api.add_user("admin", "admin")
    token = api.client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
    users = api.client.get("/users", headers=api.headers("admin"))
    for response in (token, users):
        assert response.headers.get_list("cache-control") == ["no-store"], response.url
    assert "no-store" not in api.client.get("/healthz").headers.get("cache-control", "")


def test_a_signed_in_persons_pages_are_not_kept_for_the_back_button(api: Api) -> None:
    """After sign-out, Back must not show a staff page (donor codes, names) from cache."""
    api.add_user("aude", "auditor")
    signed_in = api.client.post(
        "/sign-in",
        data={"username": "aude", "password": PASSWORD},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert "trace_session" in signed_in.cookies
    page = api.client.get("/ui/products", headers={"accept": "text/html"})
    assert page.status_code == 200, page.text
    assert page.headers.get_list("cache-control") == ["no-store"]
    api.client.cookies.clear()
    public = api.client.get("/healthz")
    assert "no-store" not in public.headers.get("cache-control", "")
