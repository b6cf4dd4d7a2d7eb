"""The witness over HTTP (c2sp.org/tlog-witness): a Starlette app of its own.

* ``POST /add-checkpoint``: the cosignature lines (200), or the spec's refusal status
  with one line of text; 409 answers our size as ``text/x.tlog.size``.
* ``GET /<sha256 of origin, hex>/checkpoint``: the latest checkpoint we cosigned for a
  log, with the log's signature and our cosignatures (the spec's monitoring API).
* ``GET /``: the witness's name and verifier keys, one per line.

Handlers are plain functions, run in Starlette's thread pool: the work is a file
write and a signature, and the per-log lock serialises requests for one log.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from traceability.witness.service import MAX_BODY, Refusal, Witness

logger = logging.getLogger(__name__)

SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"


def create_witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("request body too large\n", status_code=413)
        return await run_in_threadpool(_add, bytes(body))

    def _add(body: bytes) -> Response:
        try:
            lines = witness.add_checkpoint(body)
        except Refusal as refusal:
            if refusal.status == 409:
                # Exactly this type, without Starlette's "; charset" suffix for text/*.
                return Response(
                    f"{refusal.size}\n", status_code=409, headers={"content-type": SIZE_TYPE}
                )
            logger.info("add-checkpoint refused (%d): %s", refusal.status, refusal)
            return PlainTextResponse(f"{refusal}\n", status_code=refusal.status)
        return Response(lines, media_type=TEXT_TYPE)

    def checkpoint(request: Request) -> Response:
        state = witness.state.read_by_hash(str(request.path_params["origin_hash"]))
        if state is None or state.origin not in witness.logs:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", 404)
        return Response(state.checkpoint, media_type=TEXT_TYPE)

    def keys(_request: Request) -> Response:
        text = "".join(key.text() + "\n" for key in witness.keys())
        return Response(text, media_type=TEXT_TYPE)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
            Route("/", keys, methods=["GET"]),
        ]
    )
