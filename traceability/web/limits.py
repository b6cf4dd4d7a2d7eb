"""Caps on every request body, enforced as the bytes arrive and before anything parses them.

A chunked request has no Content-Length, and one that has it may lie; a route that reads
`await request.body()` would hold whatever comes. So this ASGI layer, outside every
route, reads the body itself, counting: past the cap it answers 413 at once and closes
the connection (the rest is never read). Upload routes (a photo to scan, a temperature
logger's file) get `max_upload_bytes`; everything else, JSON and forms, `max_body_bytes`.

A JSON body is also refused (400) when it nests deeper than `max_json_depth`, checked
on the raw bytes before any parser runs: Python's JSON parser, pydantic and canonical
JSON (RFC 8785) all recurse, and ten thousand `[` made every signed custody step a 500
(RecursionError). The scan skips the insides of strings, so brackets in text never
count.

Only a body that passes is handed on, whole, to the app.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traceability.settings import Settings
from traceability.web.problems import problem_json

UPLOAD_PATHS = re.compile(
    r"/scan|/sites/[^/]+/units/[^/]+/temperatures|/shippers/[^/]+/temperatures"
)
"""The routes that take files (`routes.scan`, `routes.cold_chain`), and only they get the
larger cap; a test holds this list to the routes whose bodies are not JSON or forms."""

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


class RequestLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body = settings.max_body_bytes
        self.max_upload = settings.max_upload_bytes
        self.max_depth = settings.max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = UPLOAD_PATHS.fullmatch(str(scope.get("path", ""))) is not None
        cap, setting = (
            (self.max_upload, "TRACE_MAX_UPLOAD_BYTES")
            if upload
            else (self.max_body, "TRACE_MAX_BODY_BYTES")
        )
        declared, content_type, chunked = _headers(scope)
        if declared is not None and declared > cap:
            await _too_large(scope, receive, send, cap, setting)
            return
        if not chunked and not declared:
            # No body (HTTP/1.1: neither Content-Length nor Transfer-Encoding, or a
            # length of 0): nothing to count or scan, so the app reads from the server.
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await _too_large(scope, receive, send, cap, setting)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(content_type) and json_too_deep(body, self.max_depth):
            await _problem(
                scope,
                receive,
                send,
                400,
                f"the JSON body nests arrays and objects deeper than the limit of "
                f"{self.max_depth} levels (TRACE_MAX_JSON_DEPTH)",
                code="json-too-deep",
                limit=self.max_depth,
            )
            return
        await self.app(scope, _replay(body, receive), send)


def json_too_deep(data: bytes, limit: int) -> bool:
    """Whether JSON text nests deeper than `limit`, read without parsing it.

    Strings are cut out first (so a `[` in a name is text), then only brackets are left
    to count. Malformed text is judged by its brackets too; the parser refuses it after.
    """
    encoding = json.detect_encoding(data)
    if encoding not in ("utf-8", "utf-8-sig"):
        # As the parser would read it: UTF-16 or -32 hides brackets among zero bytes.
        data = data.decode(encoding, errors="replace").encode()
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if brackets.count(b"[") + brackets.count(b"{") <= limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _headers(scope: Scope) -> tuple[int | None, str | None, bool]:
    """The declared length, the content type, and whether the body may come without a
    length (Transfer-Encoding, or a Content-Length that is not a number: read as sent)."""
    declared: int | None = None
    content_type: str | None = None
    unsized = False
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            if value.isdigit():
                declared = int(value)
            else:
                unsized = True
        elif name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"transfer-encoding":
            unsized = True
    return declared, content_type, unsized


def _is_json(content_type: str | None) -> bool:
    """Bodies FastAPI would parse as JSON: no content type, or application/json or
    application/*+json; the cold chain's own uploads are application/(ld+)json too."""
    if not content_type:
        return True
    # As email.message.Message.get_content_type reads it (a malformed type is text/plain).
    full = content_type.split(";", 1)[0].strip().lower()
    if full.count("/") != 1:
        return False
    maintype, subtype = full.split("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the whole body at once, then waits as the server's."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def _too_large(scope: Scope, receive: Receive, send: Send, cap: int, setting: str) -> None:
    await _problem(
        scope,
        receive,
        send,
        413,
        f"the request body is larger than the limit of {cap} bytes ({setting})",
        code="too-large",
        limit=cap,
        close=True,
    )


async def _problem(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    *,
    code: str,
    limit: int,
    close: bool = False,
) -> None:
    """The refusal, naming the body and the limit; `close` ends the connection, so that
    the server stops reading a body nobody will use."""
    response = problem_json(
        status,
        detail,
        code=code,
        instance=str(scope.get("path", "")),
        errors=[{"field": "body", "in": "body", "message": detail}],
        headers={"Connection": "close"} if close else None,
        extra={"limit": limit},
    )
    await response(scope, receive, send)
