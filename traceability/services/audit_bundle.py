"""Export a batch's audit bundle: its log entries with proofs, keys and a signed checkpoint.

The bundle holds every entry about the batch, its vials and the shippers that carried
them (each subject's whole chain up to the checkpoint), and the registration and
revocation entries of every key that signed one of those, each with an RFC 9162
inclusion proof against one signed checkpoint; the format is `audit.bundle`'s
(docs/audit-bundle.md), and this module only gathers the evidence from storage.

A checkpoint that covers the batch's newest entry is used if one exists; otherwise one
is signed (a short write). Everything else is read in one read snapshot, bounded by
that checkpoint's size, so appends running meanwhile change nothing in the bundle.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from audit import bundle
from audit.checkpoint import verify_checkpoint
from audit.entry import KEY_SUBJECT_PREFIX, parse_entry
from audit.errors import AuditError
from audit.merkle import node_hash
from traceability.custody_log.appender import CustodyLog, latest_checkpoint
from traceability.custody_log.tree import StoredTree
from traceability.custody_log.witnessing import cosigned_note
from traceability.errors import InvalidInputError
from traceability.services.batch_records import get_batch, vials_of
from traceability.storage.database import Database
from traceability.storage.models import Batch, CheckpointRow, LogEntryRow

IN_CHUNK = 500
"""Subjects per `IN (...)` query: well under every engine's parameter limit."""


@dataclass(frozen=True)
class Subjects:
    lot: str
    batch: str
    vials: tuple[str, ...]


def subjects_of(session: Session, batch: Batch) -> Subjects:
    """The batch's subject as its own registration entry names it, and its vials'."""
    registration = session.get(LogEntryRow, batch.log_index)
    assert registration is not None  # noqa: S101 - the batch's own entry
    return Subjects(batch.lot, registration.subject, tuple(v.uri for v in vials_of(session, batch)))


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


def _rows(session: Session, subjects: Iterable[str], size: int) -> list[LogEntryRow]:
    wanted = sorted(set(subjects))
    rows: list[LogEntryRow] = []
    for part in _chunks(wanted):
        rows += session.exec(
            select(LogEntryRow).where(col(LogEntryRow.subject).in_(part), LogEntryRow.idx < size)
        ).all()
    return rows


def _newest_index(session: Session, subjects: Subjects) -> int:
    newest = -1
    for part in _chunks([subjects.batch, *subjects.vials]):
        value = session.exec(
            select(func.max(LogEntryRow.idx)).where(col(LogEntryRow.subject).in_(part))
        ).one()
        newest = max(newest, -1 if value is None else int(value))
    return newest


def covering_checkpoint(db: Database, log: CustodyLog, lot: str, now: datetime) -> CheckpointRow:
    """The latest checkpoint if it covers the batch's newest entry; else a new one."""
    with db.read() as session:
        batch = get_batch(session, lot)
        newest = _newest_index(session, subjects_of(session, batch))
        latest = latest_checkpoint(session)
        if latest is not None and latest.size > newest:
            session.expunge(latest)
            return latest
    with db.write() as session:
        row = log.issue_checkpoint(session, now=now)
        session.expunge(row)
        return row


def _shippers(rows: Iterable[LogEntryRow]) -> set[str]:
    """Shippers named by the vials' entries (packing, handover, dispatch, receipt)."""
    found: set[str] = set()
    for row in rows:
        if b'"shipper":' not in row.entry:
            continue
        shipper = parse_entry(bytes(row.entry)).what.get("shipper")
        if isinstance(shipper, str):
            found.add(shipper)
    return found


def _with_keys(session: Session, rows: list[LogEntryRow], size: int) -> list[LogEntryRow]:
    """Add the key entries of every signer, and of every signer of those, until closed."""
    have = {row.subject for row in rows}
    while True:
        subjects = {KEY_SUBJECT_PREFIX + row.key_id for row in rows} - have
        if not subjects:
            return rows
        have |= subjects
        rows = rows + _rows(session, subjects, size)


class _LeafTree:
    """Proofs for many leaves at once from all leaf hashes in memory (RFC 9162 2.1.3.1).

    Complete aligned subtrees are kept level by level, so each proof costs O(log n)
    lookups; the few right-edge subtrees are memoised.
    """

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )
        self._memo: dict[tuple[int, int], bytes] = {}

    def subtree(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            return self.levels[level][lo >> level]
        key = (lo, hi)
        if key not in self._memo:
            k = 1 << ((n - 1).bit_length() - 1)
            self._memo[key] = node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))
        return self._memo[key]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        out: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = 1 << ((hi - lo - 1).bit_length() - 1)
            if index < lo + k:
                out.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                out.append(self.subtree(lo, lo + k))
                lo = lo + k
        out.reverse()
        return out


def _proofs(session: Session, indices: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """Inclusion proofs in the tree of `size`: from the stored nodes for a few entries,
    from all leaf hashes at once when the bundle holds a good part of the log."""
    if len(indices) * 64 < size:
        tree = StoredTree(session)
        return {i: tree.inclusion_proof(i, size) for i in indices}
    leaves = [
        bytes(h)
        for h in session.exec(
            select(LogEntryRow.leaf_hash)
            .where(LogEntryRow.idx < size)
            .order_by(col(LogEntryRow.idx))
        ).all()
    ]
    memory = _LeafTree(leaves)
    return {i: memory.inclusion_proof(i, size) for i in indices}


def _consistency(
    session: Session, log: CustodyLog, since: bytes, checkpoint: CheckpointRow
) -> bundle.Consistency:
    try:
        held = verify_checkpoint(since, log.keys.log.verifier())
    except AuditError as e:
        raise InvalidInputError(
            f"not a checkpoint of this log: {e}", field="since_checkpoint"
        ) from None
    if held.size > checkpoint.size:
        raise InvalidInputError(
            f"your checkpoint has {held.size} entries, more than this log's latest "
            f"checkpoint ({checkpoint.size})",
            field="since_checkpoint",
        )
    tree = StoredTree(session)
    if held.size == 0 or tree.root(held.size) != held.root_hash:
        raise InvalidInputError(
            "your checkpoint does not match this log's tree at its size",
            field="since_checkpoint",
        )
    return bundle.Consistency(
        held.size, held.root_hash, tuple(tree.consistency_proof(held.size, checkpoint.size))
    )


def export(
    db: Database,
    log: CustodyLog,
    lot: str,
    *,
    now: datetime,
    since: bytes | None = None,
    progress: Callable[[str], None] | None = None,
) -> bytes:
    """The batch's audit bundle as zip bytes; `progress`, if given, is told each step."""
    say = progress or (lambda _step: None)
    checkpoint = covering_checkpoint(db, log, lot, now)
    size = checkpoint.size
    say(f"checkpoint of {size:,} entries")
    with db.read() as session:
        subjects = subjects_of(session, get_batch(session, lot))
        rows = _rows(session, [subjects.batch, *subjects.vials], size)
        rows += _rows(session, _shippers(rows), size)
        rows = _with_keys(session, rows, size)
        entries = {row.idx: bytes(row.entry) for row in rows}
        say(f"{len(entries):,} entries about {lot} and its vials, shippers and keys")
        consistency = None if since is None else _consistency(session, log, since, checkpoint)
        inclusion = _proofs(session, sorted(entries), size)
        say(f"{len(inclusion):,} inclusion proofs")
        # The note with every cosignature it has so far: the log's own ML-DSA-44 one and
        # the witnesses' (a verifier may then ask for a quorum).
        note = cosigned_note(session, checkpoint)
    say("writing the bundle")
    out = io.BytesIO()
    bundle.write(
        out,
        batch=subjects.batch,
        checkpoint=note.encode("utf-8"),
        log_key=log.keys.log.verifier().text(),
        entries=entries,
        inclusion=inclusion,
        consistency=consistency,
    )
    return out.getvalue()
