"""The last resort: no exception ever leaves the application.

FastAPI's handlers (`web.problems`) answer every error a route raises. But Starlette
re-raises what its catch-all handler answered, and code outside the routes (other ASGI
layers, a response that fails while streaming) can raise past them. Whatever escapes
reaches the server, which logs "Exception in ASGI application" and closes the
connection: a keep-alive client loses the connection, and one whose answer had not
started gets no problem document. This layer sits outside all of them. An error before
the answer started becomes a problem: 503 with Retry-After when the database is
unavailable (`services.outages`), 500 otherwise. An error after the answer was complete
(the handler answered, then Starlette re-raised) is dropped, already logged. An error
in the middle of an answer cannot be mended: it is logged and the connection closed.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from traceability.services.outages import DETAIL, RETRY_AFTER, outage_of
from traceability.settings import Settings
from traceability.web.headers import SecurityHeaders
from traceability.web.limits import RequestLimits
from traceability.web.problems import Outages, problem_json

logger = logging.getLogger(__name__)


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = complete = False

        async def watched(message: Message) -> None:
            nonlocal started, complete
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:  # noqa: BLE001 - this layer exists to catch everything
            if complete:
                return  # answered by the app's own handler, which logged the error
            where = f"{scope.get('method')} {scope.get('path')}"
            if started:
                # Returning without finishing the answer makes the server close the
                # connection: the client sees a broken answer, never a wrong one.
                logger.error("failed while answering %s", where, exc_info=error)
                return
            await self._answer(scope, send, error, where)

    async def _answer(self, scope: Scope, send: Send, error: Exception, where: str) -> None:
        outage = outage_of(error)
        if outage is None:
            logger.error("unhandled error on %s", where, exc_info=error)
            response = problem_json(
                500,
                "The service failed; the error was logged.",
                code="internal",
                instance=str(scope.get("path", "")),
            )
        else:
            outages = getattr(getattr(scope.get("app"), "state", None), "outages", None)
            if isinstance(outages, Outages):
                outages.saw(outage)
            logger.warning("database %s on %s", outage.value, where)
            response = problem_json(
                503,
                DETAIL[outage],
                code=f"database-{outage.value}",
                instance=str(scope.get("path", "")),
                headers={"Retry-After": str(RETRY_AFTER[outage])},
            )

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        try:
            await response(scope, nothing, send)
        except Exception:  # noqa: BLE001 - the client is gone; nothing more to do
            logger.debug("could not answer %s: the client went away", where)


def install(app: FastAPI, settings: Settings) -> None:
    """Put the request limits and this guard around everything the app builds (its own
    outermost layers included, whatever they are), with the security headers outside
    both so that their answers carry them too. Starlette builds the stack on the first
    request; this wraps whatever it builds."""
    build = app.build_middleware_stack

    def hardened() -> ASGIApp:
        inner = RequestLimits(build(), settings)
        return SecurityHeaders(LastResort(inner), trust_proxy=settings.trust_proxy_headers)

    app.build_middleware_stack = hardened  # type: ignore[method-assign]
