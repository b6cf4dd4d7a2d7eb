"""Verify one subject's chain in the custody log: what the release gate asks of a vial.

Every entry about the subject is re-checked from its stored bytes with the `audit`
package (leaf hash, body, signature by a registered key not revoked before it), and
the chain itself: sequence numbers gapless from 0, each `subject_prev` the leaf hash
of the entry before. The whole-log verifier (verify-log) checks the rest.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session, select

from audit.entry import KeyRing
from traceability.custody_log.entry_check import ROW_COLUMNS, Row, check_row
from traceability.storage.models import ActorKey, KeyRevocation


def chain_problems(session: Session, subject: str) -> list[str]:
    """What is wrong with the subject's chain; an empty list when it verifies."""
    rows: list[Row] = [
        tuple(r)
        for r in session.connection().execute(
            text(f"SELECT {ROW_COLUMNS} FROM log_entries WHERE subject = :s ORDER BY subject_seq"),  # noqa: S608 - fixed column list
            {"s": subject},
        )
    ]
    key_ids = {row[7] for row in rows}
    keys = session.exec(select(ActorKey).where(ActorKey.key_id.in_(key_ids))).all()  # type: ignore[attr-defined]
    ring = KeyRing({k.key_id: bytes(k.public_key) for k in keys})
    revoked = {
        r.key_id: r.revoked_index
        for r in session.exec(
            select(KeyRevocation).where(KeyRevocation.key_id.in_(key_ids))  # type: ignore[attr-defined]
        ).all()
    }
    problems: list[str] = []
    previous: bytes | None = None
    for seq, row in enumerate(rows):
        checked = check_row(row, ring)
        problems += [f"entry {row[0]}: {kind}: {detail}" for kind, detail in checked.problems]
        if row[4] != seq:
            problems.append(f"entry {row[0]}: sequence number {row[4]} where {seq} belongs")
        stored_prev = bytes(row[5]) if row[5] is not None else None
        if stored_prev != previous:
            problems.append(f"entry {row[0]}: does not follow the entry before it")
        key = row[7]
        if key in revoked and row[0] > revoked[key]:
            problems.append(f"entry {row[0]}: signed by key {key} after its revocation")
        previous = checked.leaf
    return problems
