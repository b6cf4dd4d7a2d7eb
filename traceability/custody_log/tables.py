"""SQL for the append path: prepared once, run on the session's connection.

The ORM's unit of work costs about a millisecond per append in Python; the append path
is the log's hot loop, so it uses these SQLAlchemy Core statements directly (built
once, so their compiled form is cached). Everything else may use the ORM models in
`traceability.storage.models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Executable,
    Integer,
    LargeBinary,
    Table,
    bindparam,
    column,
    select,
    text,
)

from traceability.storage.models import ActorKey, KeyRevocation, LogEntryRow, LogNode, User

ENTRIES = cast(Table, LogEntryRow.__table__)  # type: ignore[attr-defined]
NODES = cast(Table, LogNode.__table__)  # type: ignore[attr-defined]
KEYS = cast(Table, ActorKey.__table__)  # type: ignore[attr-defined]
REVOCATIONS = cast(Table, KeyRevocation.__table__)  # type: ignore[attr-defined]
USERS = cast(Table, User.__table__)  # type: ignore[attr-defined]

HEAD = select(ENTRIES.c.idx, ENTRIES.c.leaf_hash).order_by(ENTRIES.c.idx.desc()).limit(1)

SUBJECT_HEAD = (
    select(ENTRIES.c.subject_seq, ENTRIES.c.leaf_hash)
    .where(ENTRIES.c.subject == bindparam("subject"))
    .order_by(ENTRIES.c.subject_seq.desc())
    .limit(1)
)

KEY_REGISTRATION = select(ENTRIES.c.entry).where(
    ENTRIES.c.subject == bindparam("subject"), ENTRIES.c.subject_seq == 0
)
"""A key's registration entry: the writer reads keys from the log, not from `actor_keys`."""


def _newest(*columns: Any, subject: bool = False) -> Any:
    """The first column of the log's newest entry (of the subject's, with `subject`)."""
    query = select(*columns)
    if subject:
        query = query.where(ENTRIES.c.subject == bindparam("subject"))
        return query.order_by(ENTRIES.c.subject_seq.desc()).limit(1).scalar_subquery()
    return query.order_by(ENTRIES.c.idx.desc()).limit(1).scalar_subquery()


POSITIONS = select(
    select(REVOCATIONS.c.revoked_index)
    .where(REVOCATIONS.c.key_id == bindparam("key"))
    .scalar_subquery(),
    _newest(ENTRIES.c.idx),
    _newest(ENTRIES.c.leaf_hash),
    _newest(ENTRIES.c.subject_seq, subject=True),
    _newest(ENTRIES.c.leaf_hash, subject=True),
)
"""In one statement, under the log lock: the key's revocation, the log's head, and the
subject's head: (revoked index, last index, last leaf, subject's last seq, its leaf)."""

LEAVES_FROM = (
    select(ENTRIES.c.idx, ENTRIES.c.leaf_hash)
    .where(ENTRIES.c.idx >= bindparam("lo"))
    .order_by(ENTRIES.c.idx)
)
"""(index, leaf hash) of every entry from `lo` on, in order."""

PG_LOCK_AND_POSITIONS = text(
    "SELECT revoked, last_idx, last_leaf, last_seq, seq_leaf "
    "FROM trace_log_positions(:key, :subject)"
).columns(
    column("revoked", Integer),
    column("last_idx", Integer),
    column("last_leaf", LargeBinary),
    column("last_seq", Integer),
    column("seq_leaf", LargeBinary),
)
"""The same on PostgreSQL, after taking the log's advisory lock, in one round trip
(migration 0003); three statements would cost two more network round trips."""

INSERT_ENTRY = ENTRIES.insert()
INSERT_NODE = NODES.insert()
INSERT_KEY = KEYS.insert()


_PG_ENTRY_WITH_NODES: dict[int, Executable] = {}


def _pg_entry_with_nodes(count: int) -> Executable:
    """INSERT entry + `count` nodes as one statement, built once per count (<= 64)."""
    statement = _PG_ENTRY_WITH_NODES.get(count)
    if statement is None:
        rows: list[dict[str, Any]] = [
            {
                "level": bindparam(f"level{n}"),
                "idx": bindparam(f"idx{n}"),
                "hash": bindparam(f"hash{n}"),
            }
            for n in range(count)
        ]
        nodes = NODES.insert().values(rows).cte(f"completed_nodes_{count}")
        values = {c.name: bindparam(c.name, type_=c.type) for c in ENTRIES.columns}
        statement = ENTRIES.insert().values(values).add_cte(nodes)
        _PG_ENTRY_WITH_NODES[count] = statement
    return statement


def store_entry(
    connection: Connection, entry: dict[str, Any], nodes: Sequence[tuple[int, int, bytes]]
) -> None:
    """Store an entry and the tree nodes it completes.

    On PostgreSQL the nodes ride along as a data-modifying CTE of the entry's INSERT,
    saving a network round trip per append; SQLite has no round trip to save (nor the
    syntax), so it runs two statements.
    """
    if connection.dialect.name == "postgresql":
        if not nodes:
            connection.execute(INSERT_ENTRY, entry)
            return
        params = dict(entry)
        for n, (level, index, digest) in enumerate(nodes):
            params |= {f"level{n}": level, f"idx{n}": index, f"hash{n}": digest}
        connection.execute(_pg_entry_with_nodes(len(nodes)), params)
        return
    connection.execute(INSERT_ENTRY, entry)
    if nodes:
        connection.execute(INSERT_NODE, [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])
