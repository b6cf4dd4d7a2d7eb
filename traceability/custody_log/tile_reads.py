"""The rows behind a C2SP tlog-tile: one range query per file, exact stored bytes.

A level-L tile N holds the tree's hashes at height 8L, indices 256N to 256N + 255: leaf
hashes (`log_entries.leaf_hash`) at level 0, stored complete subtrees (`log_nodes` at
level 8L) above; an entry bundle holds the entries' exact bytes. The reads live here,
beside the tables they read, so that the tiles endpoint (`web.routes.tiles`) never
reaches into storage. A tile the published checkpoint covers must be complete: a short
read means the tables were damaged, and fails rather than serving a partial file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlmodel import Session

from audit.tiles import TILE_HEIGHT, Tile
from traceability.custody_log.tables import ENTRIES, NODES
from traceability.custody_log.tree import TreeIntegrityError
from traceability.storage.database import connection_of


def tile_hashes(session: Session, level: int, tile: Tile) -> list[bytes]:
    """The tile's hashes in one range query: leaf hashes, or stored subtrees at 8L."""
    lo, hi = tile.index << TILE_HEIGHT, (tile.index << TILE_HEIGHT) + tile.width
    if level == 0:
        query = select(ENTRIES.c.leaf_hash).where(ENTRIES.c.idx >= lo, ENTRIES.c.idx < hi)
        query = query.order_by(ENTRIES.c.idx)
    else:
        query = (
            select(NODES.c.hash)
            .where(NODES.c.level == TILE_HEIGHT * level, NODES.c.idx >= lo, NODES.c.idx < hi)
            .order_by(NODES.c.idx)
        )
    return _exactly(session, tile, query)


def bundle_entries(session: Session, tile: Tile) -> list[bytes]:
    """The exact bytes of the entries an entry bundle holds, in index order."""
    query = (
        select(ENTRIES.c.entry)
        .where(ENTRIES.c.idx >= tile.start, ENTRIES.c.idx < tile.end)
        .order_by(ENTRIES.c.idx)
    )
    return _exactly(session, tile, query)


def _exactly(session: Session, tile: Tile, query: Select[Any]) -> list[bytes]:
    rows = [bytes(value) for (value,) in connection_of(session).execute(query)]
    if len(rows) != tile.width:
        # The checkpoint covers these rows, so the tables were damaged: fail, logged.
        raise TreeIntegrityError(f"{tile.path()}: {len(rows)} of its {tile.width} rows are stored")
    return rows
