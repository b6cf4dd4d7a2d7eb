"""The log published as C2SP tlog-tiles: `/checkpoint`, `/tile/<L>/<N>`, `/tile/entries/<N>`.

Any mirror, witness or monitor reads the whole log through these static-looking files
without the product's own API (c2sp.org/tlog-tiles; names and encodings in
`audit.tiles`). A level-L tile N holds the tree's hashes at height 8L, indices 256N to
256N + 255; an entry bundle holds the entries' exact bytes. Each file is one range
query (`custody_log.tile_reads`).

Only what the published checkpoint covers is served, so a file never changes once
served: full tiles are cached for a year as immutable, partial ones briefly (a client
asks for the full tile once it exists). The files are hashes and entries, public like
`/log/checkpoint` and the proofs: an entry names staff, but the tiles exist for anyone
to check the log, and what the log holds is designed for that (DESIGN.md, personal
data). The files are served as stored; the reader checks them (`audit.tiles`).
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from fastapi.responses import PlainTextResponse, Response

from audit.checkpoint import Checkpoint
from audit.errors import CheckpointError, NoteError, TilePathError
from audit.note import parse_note
from audit.tiles import Tile, encode_bundle, parse_level, parse_tile_index
from traceability.custody_log.published import published_checkpoint
from traceability.custody_log.tile_reads import bundle_entries, tile_hashes
from traceability.custody_log.tree import TreeIntegrityError
from traceability.errors import InvalidInputError, NotFoundError
from traceability.web.deps import SessionDep

router = APIRouter(tags=["custody log (tlog-tiles)"])

NOTE_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
CHECKPOINT_CACHE = "no-cache"
"""The checkpoint changes: the spec asks that it not be cached beyond a few seconds."""
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "public, max-age=60"
_OCTETS: dict[int | str, dict[str, Any]] = {
    200: {"content": {TILE_TYPE: {}}, "description": "The file's bytes"}
}


def _published(session: SessionDep) -> tuple[str, int]:
    """The published checkpoint note and its size; 404 while the log has none."""
    note = published_checkpoint(session)
    if note is None:
        raise NotFoundError("no checkpoint has been signed yet")
    try:
        text, _ = parse_note(note)
        return note, Checkpoint.parse(text).size
    except (CheckpointError, NoteError) as e:
        raise TreeIntegrityError(f"the published checkpoint does not parse: {e}") from e


def _tile(level: int | None, path: str, session: SessionDep) -> Tile:
    """The tile a path names, if the published checkpoint covers all of it."""
    try:
        index, width = parse_tile_index(path)
    except TilePathError as e:
        raise InvalidInputError(str(e), field=e.field) from None
    tile = Tile(level, index, width)
    _, size = _published(session)
    if tile.end > size:
        raise NotFoundError(f"{tile.path()} is beyond the published checkpoint (of {size} entries)")
    return tile


def _file(tile: Tile, body: bytes, headers: dict[str, str] | None = None) -> Response:
    cache = FULL_TILE_CACHE if tile.full else PARTIAL_TILE_CACHE
    return Response(body, media_type=TILE_TYPE, headers={"Cache-Control": cache, **(headers or {})})


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding names gzip with a quality above 0."""
    for item in (accept_encoding or "").split(","):
        name, *params = item.split(";")
        if name.strip().lower() != "gzip":
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The log's signed checkpoint (C2SP tlog-tiles), for mirrors, witnesses and monitors",
)
def get_checkpoint(session: SessionDep) -> PlainTextResponse:
    note, _ = _published(session)
    return PlainTextResponse(
        note, media_type=NOTE_TYPE, headers={"Cache-Control": CHECKPOINT_CACHE}
    )


TileIndex = Annotated[
    str,
    Path(
        description="N[.p/W]: three-digit groups, all but the last starting with x",
        # In the schema only: the route's own parser refuses the rest naming N or W.
        json_schema_extra={
            "pattern": r"^(x(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})/(x[0-9]{3}/)*)?[0-9]{3}"
            r"(\.p/([1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"
        },
    ),
]
TileLevel = Annotated[
    str,
    Path(
        description="L: the level, 0 to 63",
        json_schema_extra={"pattern": "^([0-9]|[1-5][0-9]|6[0-3])$"},
    ),
]


@router.get(
    "/tile/entries/{index:path}",
    response_class=Response,
    responses=_OCTETS,
    summary="Entry bundle N[.p/W]: entries 256N.. as uint16 length + exact bytes (C2SP tlog-tiles)",
)
def get_entry_bundle(
    index: TileIndex,
    session: SessionDep,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    tile = _tile(None, index, session)
    body = encode_bundle(bundle_entries(session, tile))
    if not _accepts_gzip(accept_encoding):
        return _file(tile, body, {"Vary": "Accept-Encoding"})
    return _file(
        tile,
        gzip.compress(body, compresslevel=6, mtime=0),
        {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
    )


@router.get(
    "/tile/{level}/{index:path}",
    response_class=Response,
    responses=_OCTETS,
    summary="Level-L tile N[.p/W]: the tree's hashes at height 8L, 256N.. (C2SP tlog-tiles)",
)
def get_tile(level: TileLevel, index: TileIndex, session: SessionDep) -> Response:
    try:
        number = parse_level(level)
    except TilePathError as e:
        raise InvalidInputError(str(e), field=e.field) from None
    tile = _tile(number, index, session)
    return _file(tile, b"".join(tile_hashes(session, number, tile)))
