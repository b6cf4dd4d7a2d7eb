"""The fast lane of the signed custody steps, in front of the FastAPI app.

Custody steps are the busiest requests: couriers and scanner stations take them in
bursts, and issue 6 sets their pace. Through FastAPI each one pays for matching every
router, solving its dependencies and validating its body with pydantic, which together
cost more than the step's own work outside the write lock. This ASGI layer serves
exactly the well-formed step requests: a POST to a step's path (`routes.custody.STEPS`)
with a bearer token or a session cookie and its CSRF header (the phone's page),
`Content-Type: application/json`, a body that is an object of a
`statement` object and a `signature` string (at most 200 characters, no control
characters), and no Idempotency-Key or a valid one. It runs what the route runs (the
same authentication, role check and `run_step`) and answers errors with the app's own
exception handlers, so its answer is the route's answer.

Everything else goes on to the route unchanged, with the body it read handed on: a
session cookie without a CSRF header, a body that does not parse or has other members,
another content type. Every refusal of a malformed request is therefore
worded in one place, by the route.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traceability.web.context import ServiceContext
from traceability.web.deps import (
    CSRF_HEADER,
    check_csrf,
    presented_token,
    require_roles,
    token_auth,
)
from traceability.web.fields import refuse_control_characters
from traceability.web.routes.custody import STEPS, StepRoute, run_step

MAX_BODY = 1 << 20
"""Bodies above this go to the route (a packing list of 500 vials is about 60 KB)."""

_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")  # as the route's header declares


class StepLane:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner
        self.served = 0
        """Requests this lane answered itself (the rest went on to the app)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        step = STEPS.get(scope.get("path", "")) if scope["type"] == "http" else None
        if step is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        credentials, key, plain = _read_headers(scope)
        if credentials is None or not plain:
            await self.app(scope, receive, send)
            return
        body, more, disconnected = await _read_body(receive)
        if disconnected:
            return  # the client went away: nobody to answer
        parsed = None if more else _signed_body(body)
        if parsed is None:
            await self.app(scope, _handing_on(body, more, receive), send)
            return
        self.served += 1
        response = await self._answer(scope, step, credentials, key, *parsed)
        await response(scope, receive, send)

    async def _answer(
        self,
        scope: Scope,
        step: StepRoute,
        credentials: _Credentials,
        key: str | None,
        statement: dict[str, Any],
        signature: str,
    ) -> Response:
        context: ServiceContext = self.owner.state.context
        try:
            token, csrf = credentials
            auth = await token_auth(context, token)
            if csrf is not None:  # the session cookie's: as `deps.current_auth` checks it
                check_csrf(context, token, csrf)
            require_roles(auth, step.roles)
            return await run_step(step, statement, signature, auth, context, key)
        except Exception as error:  # noqa: BLE001 - answered as the app answers it
            return await self._problem(scope, error)

    async def _problem(self, scope: Scope, error: Exception) -> Response:
        """The app's own answer to this error (`web.problems`), as the route would give."""
        handlers = self.owner.exception_handlers
        handler = next(
            (handlers[cls] for cls in type(error).__mro__ if cls in handlers),
            handlers[Exception],
        )
        request = Request({**scope, "app": self.owner})
        answer = handler(request, error)
        response = await answer if inspect.isawaitable(answer) else answer
        assert isinstance(response, Response)  # noqa: S101 - what every handler returns
        return response


_Credentials = tuple[str, str | None]
"""A bearer token with None, or a session cookie's token with the CSRF header's value."""


def _read_headers(scope: Scope) -> tuple[_Credentials | None, str | None, bool]:
    """(credentials, Idempotency-Key, whether the lane can take the request at all)."""
    request = Request(scope)
    headers = request.headers
    key = headers.get("idempotency-key")
    json_body = headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
    plain = (
        json_body
        and len(headers.getlist("idempotency-key")) <= 1
        and (key is None or _IDEMPOTENCY_KEY.fullmatch(key) is not None)
    )
    found = presented_token(request)
    if found is None:
        return None, key, plain
    token, from_cookie = found
    if not from_cookie:
        return (token, None), key, plain
    csrf = headers.get(CSRF_HEADER)
    return ((token, csrf) if csrf else None), key, plain


async def _read_body(receive: Receive) -> tuple[bytes, bool, bool]:
    """(what was read, whether more is left beyond MAX_BODY, whether the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", False, True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body", False))
        if not more or size > MAX_BODY:
            return b"".join(chunks), more, False


def _signed_body(body: bytes) -> tuple[dict[str, Any], str] | None:
    """The statement and signature of a well-formed body, or None (the route decides)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.keys() != {"statement", "signature"}:
        return None
    statement, signature = parsed["statement"], parsed["signature"]
    if not isinstance(statement, dict) or not isinstance(signature, str) or len(signature) > 200:
        return None
    try:
        refuse_control_characters(signature)
    except ValueError:
        return None
    return statement, signature


def _handing_on(body: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that gives the app the body read so far, then the rest as it comes."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return again
