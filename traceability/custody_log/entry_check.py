"""The per-entry half of verify-log: pure, picklable, and run in worker processes.

Parses one stored row's exact bytes, checks them against the row's lookup columns, and
verifies the actor's signature with the key the log registered. Imports only `audit`
and the standard library, so that worker processes start fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.entry import KeyRing, parse_entry, parse_key_registration, parse_key_revocation
from audit.errors import AuditError, SignatureError
from audit.merkle import leaf_hash

Row = tuple[int, bytes, bytes, str, int, bytes | None, str, str]
"""(idx, entry, leaf_hash, subject, subject_seq, subject_prev, entry_type, key_id)."""


@dataclass(frozen=True)
class Checked:
    """What the sequential half needs to know about one row."""

    row_index: int
    leaf: bytes
    index: int | None
    prev: bytes | None
    key: str | None
    problems: tuple[tuple[str, str], ...]
    registers: tuple[str, bytes] | None = None
    revokes: str | None = None


def check_row(row: Row, keys: KeyRing) -> Checked:
    idx, raw, stored_leaf, subject, subject_seq, subject_prev, entry_type, key_id = row
    raw = bytes(raw)
    leaf = leaf_hash(raw)
    problems: list[tuple[str, str]] = []
    if leaf != bytes(stored_leaf):
        problems.append(("modified", "the entry's bytes do not hash to its stored leaf hash"))
    try:
        entry = parse_entry(raw)
    except AuditError as e:
        problems.append(("modified", f"the entry is not a well-formed log entry: {e}"))
        return Checked(idx, leaf, None, None, None, tuple(problems))
    columns = (entry.subject, entry.subject_seq, entry.subject_prev, entry.type, entry.key)
    stored = (
        subject,
        subject_seq,
        bytes(subject_prev) if subject_prev is not None else None,
        entry_type,
        key_id,
    )
    if columns != stored:
        problems.append(("modified", "the row's lookup columns disagree with the entry"))
    registers = None
    revokes = None
    try:
        if entry.type == "key.registered":
            registration = parse_key_registration(entry)
            registers = (registration.key, registration.public_key)
        elif entry.type == "key.revoked":
            revokes = parse_key_revocation(entry)[0]
    except AuditError as e:
        problems.append(("modified", f"malformed key entry: {e}"))
    if entry.key not in keys and registers is not None and registers[0] == entry.key:
        keys.add(registers[1])  # the genesis entry registers the key that signs it
    if entry.key not in keys:
        problems.append(("unknown-key", f"signed by key {entry.key}, never registered"))
    else:
        try:
            keys.verify(entry)
        except SignatureError as e:
            problems.append(("bad-signature", str(e)))
    return Checked(
        idx, leaf, entry.index, entry.prev, entry.key, tuple(problems), registers, revokes
    )


ROW_COLUMNS = "idx, entry, leaf_hash, subject, subject_seq, subject_prev, entry_type, key_id"

_engines: dict[str, Any] = {}


def check_range(url: str, start: int, stop: int, keys: dict[str, bytes]) -> list[Checked]:
    """Worker job: read rows start <= idx < stop itself and check them.

    Reading in the worker keeps the parent from shipping every entry's bytes between
    processes; only the small results travel back. A range read in a separate
    transaction is sound because stored entries never change under a running log
    (verify-log reports it if they did: the leaf hashes and chain stop matching).
    """
    from sqlalchemy import create_engine, text

    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = create_engine(url, hide_parameters=True)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT {ROW_COLUMNS} FROM log_entries "  # noqa: S608 - constant columns
                "WHERE idx >= :a AND idx < :b ORDER BY idx"
            ),
            {"a": start, "b": stop},
        ).all()
    ring = KeyRing(keys)
    return [check_row(tuple(row), ring) for row in rows]
