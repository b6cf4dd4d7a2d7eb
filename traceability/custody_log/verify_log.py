"""verify-log: check a whole stored log without trusting the database or the server.

Three passes inside one read snapshot, each streaming in index or subject order so
memory does not grow with the log:

1. the key entries (few) are read to know every registered public key;
2. every entry, in index order: its bytes against its leaf hash and columns, its
   signature (in worker processes, using every core), then in order its index, its
   `prev` link, its key's validity at that index, and the Merkle root at each stored
   checkpoint, whose signature is checked with the log's verifier key;
3. every subject's chain, in (subject, seq) order: gapless sequence numbers, each
   `subject_prev` equal to the previous entry's leaf hash, indices increasing.

Findings name the first index each problem affects and a kind an auditor can act on:
modified, missing, inserted, reordered, bad-signature, unknown-key, revoked-key,
checkpoint-mismatch, subject-chain.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from audit.checkpoint import verify_checkpoint
from audit.entry import KeyRing, parse_entry, parse_key_registration
from audit.errors import AuditError
from audit.merkle import frontier_root
from audit.note import Verifier
from traceability.custody_log.entry_check import Checked, Row, check_range, check_row
from traceability.custody_log.tree import extend
from traceability.storage.database import Database

BATCH = 2_000
PARALLEL_THRESHOLD = 20_000


@dataclass(frozen=True)
class Finding:
    index: int
    kind: str
    detail: str

    def line(self) -> str:
        return f"index {self.index}: {self.kind}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _stream(connection: Connection, sql: str, batch: int = BATCH) -> Iterator[list[Row]]:
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(text(sql))
    for part in result.partitions(batch):
        yield [tuple(r) for r in part]


_ROW_SQL = (
    "SELECT idx, entry, leaf_hash, subject, subject_seq, subject_prev, entry_type, key_id "
    "FROM log_entries"
)


def _registered_keys(connection: Connection) -> dict[str, bytes]:
    """Pass 1: public keys by id, as the key entries say (pass 2 re-checks those entries)."""
    keys: dict[str, bytes] = {}
    rows = connection.execute(
        text("SELECT entry FROM log_entries WHERE entry_type = 'key.registered' ORDER BY idx")
    )
    for (raw,) in rows:
        try:
            registration = parse_key_registration(parse_entry(bytes(raw)))
        except AuditError:
            continue
        keys.setdefault(registration.key, registration.public_key)
    return keys


class _Sequence:
    """Pass 2's in-order state: the expected index, the previous leaf, keys, the tree."""

    def __init__(
        self, report: Report, checkpoints: Iterator[tuple[int, bytes, str]], log_key: Verifier
    ) -> None:
        self.report = report
        self.expected = 0
        self.previous_leaf: bytes | None = None
        self.previous_index: int | None = None
        self.previous_clean = True
        self.frontier: list[bytes] = []
        self.size = 0
        self.registered: dict[str, int] = {}
        self.revoked: dict[str, int] = {}
        self.checkpoints = checkpoints
        self.log_key = log_key
        self.next_checkpoint = next(self.checkpoints, None)

    def find(self, index: int, kind: str, detail: str) -> None:
        self.report.findings.append(Finding(index, kind, detail))

    def take(self, checked: Checked) -> None:
        before = len(self.report.findings)
        position = checked.row_index
        if position != self.expected:
            self.find(
                self.expected,
                "missing",
                f"entries {self.expected} to {position - 1} are not in the log",
            )
        for kind, detail in checked.problems:
            self.find(position, kind, detail)
        if checked.index is not None and checked.index != position:
            if checked.index == self.previous_index:
                self.find(
                    checked.index,
                    "inserted",
                    f"two entries claim index {checked.index}; the one stored there was inserted",
                )
            else:
                self.find(
                    position,
                    "reordered",
                    f"the entry stored at {position} says it is entry {checked.index}",
                )
        elif (
            checked.index is not None and checked.prev != self.previous_leaf and self.previous_clean
        ):
            self.find(
                position, "modified", "prev does not match the leaf hash of the entry before it"
            )
        self._check_key(position, checked)
        self.frontier = extend(self.size, checked.leaf, self.frontier)[0]
        self.size += 1
        self.expected = position + 1
        self.previous_leaf = checked.leaf
        self.previous_index = checked.index
        self.previous_clean = len(self.report.findings) == before
        self.report.entries += 1
        self._check_checkpoints()

    def _check_key(self, position: int, checked: Checked) -> None:
        key = checked.key
        if key is not None and not any(k == "unknown-key" for k, _ in checked.problems):
            registered = self.registered.get(key)
            self_registration = checked.registers is not None and checked.registers[0] == key
            if registered is None and not (self_registration and position == 0):
                self.find(position, "unknown-key", f"key {key} is not registered before this entry")
            elif key in self.revoked and self.revoked[key] < position:
                self.find(
                    position, "revoked-key", f"key {key} was revoked at index {self.revoked[key]}"
                )
        if checked.registers is not None:
            self.registered.setdefault(checked.registers[0], position)
        if checked.revokes is not None:
            self.revoked.setdefault(checked.revokes, position)

    def _check_checkpoints(self) -> None:
        while self.next_checkpoint is not None and self.next_checkpoint[0] <= self.size:
            size, stored_root, note = self.next_checkpoint
            if size == self.size:
                self._check_checkpoint(size, stored_root, note)
            self.next_checkpoint = next(self.checkpoints, None)

    def _check_checkpoint(self, size: int, stored_root: bytes, note: str) -> None:
        self.report.checkpoints += 1
        index = size - 1
        try:
            checkpoint = verify_checkpoint(note.encode("utf-8"), self.log_key)
        except AuditError as e:
            self.find(index, "checkpoint-mismatch", f"checkpoint of size {size}: {e}")
            return
        root = frontier_root(self.frontier, self.size)
        if checkpoint.size != size or checkpoint.root_hash != root or stored_root != root:
            self.find(
                index,
                "checkpoint-mismatch",
                f"the signed checkpoint of size {size} does not match the entries",
            )

    def finish(self) -> None:
        if self.next_checkpoint is not None:
            size = self.next_checkpoint[0]
            self.find(
                self.size,
                "missing",
                f"a signed checkpoint covers {size} entries but the log ends at "
                f"{self.size}: entries {self.size} to {size - 1} are gone",
            )
            for size, _root, _note in [self.next_checkpoint, *self.checkpoints]:
                if size > self.size:
                    self.report.checkpoints += 1


def _subject_chains(connection: Connection, report: Report) -> None:
    """Pass 3: every subject's chain links up, in constant memory."""
    sql = (
        "SELECT idx, subject, subject_seq, subject_prev, leaf_hash FROM log_entries "
        "ORDER BY subject, subject_seq"
    )
    current: str | None = None
    expected_seq = 0
    last_leaf: bytes | None = None
    last_idx = -1
    for batch in _stream(connection, sql):
        for idx, subject, seq, subject_prev, leaf in batch:  # type: ignore[misc]
            if subject != current:
                current, expected_seq, last_leaf, last_idx = subject, 0, None, -1
            prev = bytes(subject_prev) if subject_prev is not None else None
            if seq != expected_seq:
                report.findings.append(
                    Finding(
                        idx,
                        "subject-chain",
                        f"{subject}: entry number {seq} follows number {expected_seq - 1}",
                    )
                )
            elif prev != last_leaf or idx <= last_idx:
                report.findings.append(
                    Finding(
                        idx,
                        "subject-chain",
                        f"{subject}: entry number {seq} does not follow the one before it",
                    )
                )
            expected_seq, last_leaf, last_idx = seq + 1, bytes(leaf), idx


def _checked_batches(
    connection: Connection, url: str, size: int, keys: dict[str, bytes], workers: int
) -> Iterator[list[Checked]]:
    """Pass 2's per-entry half, in index order: here, or in `workers` processes."""
    if workers <= 1:
        ring = KeyRing(keys)
        for batch in _stream(connection, _ROW_SQL + " ORDER BY idx"):
            yield [check_row(row, ring) for row in batch]
        return
    # The highest stored index bounds the ranges (a gap or a missing tail shows up as
    # rows that never arrive, which pass 2 reports).
    top = connection.execute(text("SELECT max(idx) FROM log_entries")).scalar_one()
    stop = int(top) + 1 if top is not None else 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: list[Future[list[Checked]]] = []
        for start in range(0, stop, BATCH):
            pending.append(pool.submit(check_range, url, start, min(start + BATCH, stop), keys))
            if len(pending) >= 2 * workers:  # bounded: memory stays flat
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def verify_log(db: Database, log_key: Verifier, *, workers: int | None = None) -> Report:
    report = Report()
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            size = connection.execute(text("SELECT count(*) FROM log_entries")).scalar_one()
            if workers is None:
                workers = (os.cpu_count() or 1) if size >= PARALLEL_THRESHOLD else 1
            keys = _registered_keys(connection)
            # One checkpoint per N entries: read them up front (a few hundred bytes each).
            checkpoints = [
                (int(s), bytes(r), str(n))
                for s, r, n in connection.execute(
                    text("SELECT size, root_hash, note FROM log_checkpoints ORDER BY size")
                )
            ]
            state = _Sequence(report, iter(checkpoints), log_key)
            url = db.engine.url.render_as_string(hide_password=False)
            for batch in _checked_batches(connection, url, size, keys, workers):
                for checked in batch:
                    state.take(checked)
            state.finish()
            _subject_chains(connection, report)
    report.findings.sort(key=lambda f: f.index)
    return report
