"""No bad input reaches a 500 (issue 18): body caps, JSON depth, image size, bounded
integers, security headers. Over real HTTP; the engine does not matter, so SQLite only.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import APIRouter
from fastapi.routing import APIRoute
from PIL import Image

from tests.support import PASSWORD, Api, add_user, fresh_database_url
from traceability.errors import ConfigurationError
from traceability.settings import Settings, load_settings
from traceability.storage.database import Database
from traceability.web.app import ROUTERS, create_app
from traceability.web.context import STATIC_DIR, TEMPLATES_DIR
from traceability.web.limits import UPLOAD_PATHS, json_too_deep

BODY_CAP = 64 * 1024
UPLOAD_CAP = 256 * 1024
STEP_PATHS = [
    "/custody/store",
    "/custody/pack",
    "/custody/handoffs",
    "/custody/handoffs/accept",
    "/custody/dispatch",
    "/custody/receive",
    "/custody/administer",
    "/custody/destroy",
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: nothing here depends on the engine."""
    return fresh_database_url("sqlite", str(tmp_path))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Small caps, so that going past them costs the test little."""
    return load_settings(
        environment="development",
        database_url=database_url,
        key_dir=str(tmp_path / "keys"),
        max_body_bytes=BODY_CAP,
        max_upload_bytes=UPLOAD_CAP,
        max_image_pixels=4_000_000,
    )


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["detail"]
    if field is not None:
        assert body["field"] == field, body
    return body


# --- 1. JSON depth ------------------------------------------------------------------


def deep(levels: int) -> bytes:
    return b'{"statement":' + b"[" * levels + b"]" * levels + b',"signature":"x"}'


@pytest.mark.parametrize("token", ["valid", "invalid", None])
def test_a_deeply_nested_body_is_a_400_on_every_custody_step(api: Api, token: str | None) -> None:
    api.add_user("lena", "lab")
    headers = {"content-type": "application/json"}
    if token == "valid":
        headers |= api.headers("lena")
    elif token == "invalid":
        headers["authorization"] = "Bearer not-a-token"
    for path in STEP_PATHS:
        response = api.client.post(path, content=deep(10_000), headers=headers)
        body = assert_problem(response, 400, "body")
        assert body["code"] == "json-too-deep" and body["limit"] == 32, path
        assert "32" in body["detail"]


def test_depth_is_checked_on_every_route_and_without_a_content_type(api: Api) -> None:
    nested = b"[" * 5000 + b"]" * 5000
    for path in ("/users", "/auth/token", "/no/such/route", "/batches"):
        assert_problem(api.client.post(path, content=nested), 400, "body")
    # UTF-16 JSON, which the parser would read as well, is counted the same.
    text = ("[" * 5000 + "]" * 5000).encode("utf-16-le")
    response = api.client.post("/users", content=text, headers={"content-type": "application/json"})
    assert_problem(response, 400, "body")


def test_brackets_inside_strings_do_not_count_and_the_limit_itself_passes() -> None:
    assert not json_too_deep(b'{"a": "' + b"[" * 1000 + b'"}', 32)
    assert not json_too_deep(b'{"a": "\\"' + b"[{" * 100 + b'"}', 32)
    assert not json_too_deep(b"[" * 32 + b"]" * 32, 32)
    assert json_too_deep(b"[" * 33 + b"]" * 33, 32)
    assert json_too_deep(b'[{"a": [{"b": ' * 9 + b"1" + b"}]}]" * 9, 32)


def test_a_body_at_the_depth_limit_reaches_the_route(api: Api) -> None:
    api.add_user("admin", "admin")
    within = b'{"username": ' + b"[" * 30 + b"]" * 30 + b"}"
    response = api.client.post(
        "/users",
        content=within,
        headers=api.headers("admin") | {"content-type": "application/json"},
    )
    assert_problem(response, 422)  # the route's own refusal: not a list, fields missing


# --- 2. body size, as it arrives ------------------------------------------------------


def raw_exchange(api: Api, head: bytes, chunks: list[bytes]) -> tuple[int, bytes, bytes]:
    """Send a request by hand (so no client adds or checks Content-Length), stopping at
    the first error: the server may answer and close before the body is all sent."""
    parts = urlsplit(str(api.client.base_url))
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # closed on us: the answer below says why
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        header_text, _, body = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", header_text).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            data = sock.recv(65536)
            if not data:
                break
            body += data
    status = int(header_text.split(b" ", 2)[1])
    return status, header_text, body


def chunked(total: int, size: int = 16 * 1024) -> list[bytes]:
    block = b"x" * size
    out = [b"%x\r\n%s\r\n" % (size, block) for _ in range(total // size)]
    return [*out, b"0\r\n\r\n"]


@pytest.mark.parametrize("path", ["/users", "/auth/token", "/custody/store"])
def test_a_chunked_body_past_the_cap_is_a_413_before_it_is_all_read(api: Api, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    # 8 MB announced in chunks; the answer comes after the first 64 KB.
    status, headers, body = raw_exchange(api, head, chunked(8 * 2**20))
    assert status == 413
    assert b"connection: close" in headers.lower()
    assert b'"limit":65536' in body and b"TRACE_MAX_BODY_BYTES" in body


def test_a_declared_length_past_the_cap_is_refused_at_once(api: Api) -> None:
    response = api.client.post(
        "/users",
        content=b"{" + b" " * BODY_CAP + b"}",
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 413, "body")
    assert body["limit"] == BODY_CAP


def test_uploads_have_their_own_larger_cap(api: Api) -> None:
    api.add_user("lena", "lab")
    token = api.token("lena")
    head = (
        "POST /scan HTTP/1.1\r\nHost: test\r\nContent-Type: image/png\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    status, _, body = raw_exchange(api, head, chunked(4 * 2**20))
    assert status == 413 and b"TRACE_MAX_UPLOAD_BYTES" in body
    # Between the two caps: not refused for its size (the image is unreadable instead).
    between = api.client.post(
        "/scan",
        content=b"x" * (BODY_CAP * 2),
        headers={"authorization": f"Bearer {token}", "content-type": "image/png"},
    )
    assert_problem(between, 422, "image")


def test_the_upload_paths_are_the_routes_that_take_files() -> None:
    """Only routes whose bodies are files (not JSON, not a form) get the larger cap."""
    takes_files = set()
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            extra = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
            if any(not t.startswith("application/json") for t in extra):
                takes_files.add(route.path)
    examples = {re.sub(r"\{[^}]+\}", "X" * 18 if "sscc" in p else "X", p) for p in takes_files}
    assert examples and all(UPLOAD_PATHS.fullmatch(p) for p in examples), examples
    assert not UPLOAD_PATHS.fullmatch("/users") and not UPLOAD_PATHS.fullmatch("/scan/x")


# --- 3. image pixels ------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_photo_with_too_many_pixels_is_refused_before_decoding(api: Api) -> None:
    api.add_user("lena", "lab")
    big = png(2100, 2100)  # 4.41 million pixels, past this test's cap of 4 million
    assert len(big) < 64 * 1024  # small on the wire: only the header tells
    response = api.client.post(
        "/scan", content=big, headers=api.headers("lena") | {"content-type": "image/png"}
    )
    body = assert_problem(response, 413, "image")
    assert body["limit"] == 4_000_000 and "2100 x 2100" in body["detail"]
    fits = api.client.post(
        "/scan",
        content=png(1900, 1900),
        headers=api.headers("lena") | {"content-type": "image/png"},
    )
    assert fits.status_code == 200 and fits.json()["codes"] == []


def test_the_default_pixel_cap_refuses_a_6300_square() -> None:
    assert 6300 * 6300 > Settings(environment="development").max_image_pixels


# --- 4. integers in paths and queries ----------------------------------------------------


def test_an_id_past_64_bits_is_a_422_naming_it(api: Api) -> None:
    api.add_user("qa", "qa")
    for path, name in [
        ("/audit-trail?before_id=9223372036854775808", "before_id"),
        ("/audit-trail?before_id=-1", "before_id"),
    ]:
        response = api.client.get(path, headers=api.headers("qa"))
        assert_problem(response, 422, name)
    assert api.client.get("/audit-trail?before_id=9223372036854775807", headers=api.headers("qa"))
    page = api.client.get(
        "/ui/audit-trail?before_id=9223372036854775808",
        headers=api.headers("qa") | {"accept": "text/html"},
    )
    assert page.status_code == 422


def _bounded(metadata: list[Any]) -> tuple[bool, bool]:
    low = any(hasattr(m, "ge") or hasattr(m, "gt") for m in metadata)
    high = any(hasattr(m, "le") or hasattr(m, "lt") for m in metadata)
    return low, high


def test_every_integer_parameter_of_every_route_is_bounded() -> None:
    """Walks all routes, pages included (they are not in the OpenAPI schema)."""
    from fastapi.dependencies.utils import get_flat_params

    unbounded = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            for param in get_flat_params(route.dependant):
                annotation = param.field_info.annotation
                if annotation not in (int, int | None):
                    continue
                if _bounded(param.field_info.metadata) != (True, True):
                    unbounded.append(f"{route.path} {param.name}")
    assert not unbounded


# --- 5. security headers --------------------------------------------------------------------


def test_every_answer_has_a_strict_content_security_policy(api: Api) -> None:
    answers = [
        api.client.get("/healthz"),
        api.client.get("/sign-in", headers={"accept": "text/html"}),
        api.client.get("/static/records.js"),
        api.client.post("/users", content=deep(100)),
        api.client.post("/users", content=b"x" * (BODY_CAP + 1)),
    ]
    for response in answers:
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, response.url
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain HTTP


def test_the_api_reference_allows_only_its_own_inline_script() -> None:
    import base64
    import hashlib

    from traceability.web.api_docs import inline_script_policy

    html = "<html><script src='/a.js'></script><script>\nrun();\n</script></html>"
    digest = base64.b64encode(hashlib.sha256(b"\nrun();\n").digest()).decode()
    policy = inline_script_policy(html)
    assert f"'sha256-{digest}'" in policy and "frame-ancestors 'none'" in policy


def test_no_template_has_inline_script_or_event_handlers() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    handler = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
    found = []
    for template in sorted(TEMPLATES_DIR.rglob("*.html")):
        text = template.read_text()
        if inline.search(text) or handler.search(text) or "javascript:" in text:
            found.append(template.name)
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', text):
            assert src.startswith("/static/"), (template.name, src)
            assert (STATIC_DIR / src.removeprefix("/static/")).is_file(), src
    assert not found


@contextmanager
def served_as_in_production(app: Any) -> Iterator[str]:
    """The app under uvicorn as `traceability serve` runs it: proxy headers off (the
    shared test server lets 127.0.0.1 set the scheme with X-Forwarded-Proto)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.mark.parametrize("trusted", [False, True])
def test_hsts_and_secure_cookies_only_over_https_said_by_a_trusted_proxy(
    settings: Settings, database: Database, trusted: bool
) -> None:
    add_user(database, "lena", "lab")
    app = create_app(
        settings.model_copy(update={"trust_proxy_headers": trusted}), database=database
    )
    with served_as_in_production(app) as base_url, httpx.Client(base_url=base_url) as client:
        signed_in = client.post(
            "/sign-in",
            data={"username": "lena", "password": PASSWORD},
            headers={"x-forwarded-proto": "https", "accept": "text/html"},
        )
        plain = client.get("/healthz", headers={"x-forwarded-proto": "http"})
    assert signed_in.status_code == 303
    assert "strict-transport-security" not in plain.headers
    cookie = signed_in.headers["set-cookie"].lower()
    if trusted:
        assert signed_in.headers["strict-transport-security"].startswith("max-age=")
        assert "; secure" in cookie
    else:
        assert "strict-transport-security" not in signed_in.headers
        assert "secure" not in cookie


# --- 7. configuration errors over HTTP -------------------------------------------------------


def test_a_configuration_error_is_the_servers_503(api: Api) -> None:
    broken = APIRouter()

    @broken.get("/broken")
    def _broken() -> None:
        raise ConfigurationError("TRACE_SECRET_KEY: the secret is unusable")

    api.app.include_router(broken)
    response = api.client.get("/broken")
    body = assert_problem(response, 503)
    assert body["code"] == "configuration" and "TRACE_SECRET_KEY" not in response.text
    assert response.headers["retry-after"]


# --- 8. problems in the OpenAPI schema ----------------------------------------------------


def test_every_operation_declares_its_problem_responses(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    assert "Problem" in schema["components"]["schemas"]
    missing = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {code for code in responses if code[0] in "45"}
            for code in errors:
                content = responses[code].get("content", {})
                if list(content) != ["application/problem+json"]:
                    missing.append(f"{method} {path} {code}: {list(content)}")
            if path != "/healthz" and "503" not in errors:
                missing.append(f"{method} {path}: no 503")
            if operation.get("security") and not {"401", "403"} <= errors:
                missing.append(f"{method} {path}: no 401/403")
            if "requestBody" in operation and not {"400", "413", "422"} <= errors:
                missing.append(f"{method} {path}: no 400/413/422")
            if operation.get("parameters") and "422" not in errors:
                missing.append(f"{method} {path}: no 422")
    assert not missing, missing


def test_a_wrong_method_is_a_405_naming_every_method_of_the_path(api: Api) -> None:
    response = api.client.delete("/users")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
