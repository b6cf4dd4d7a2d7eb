"""verify-log: check a whole stored log without trusting the database or the server.

Three passes inside one read snapshot, each streaming in index or subject order so
memory does not grow with the log:

1. the key entries (few) are read to know every registered public key;
2. every entry, in index order: its bytes against its leaf hash and columns, its
   signature (in worker processes, using every core), then in order its index, its
   `prev` link, its key's validity at that index, and the Merkle root at each stored
   checkpoint, whose signature is checked with the log's verifier key. This process
   reads the rows and sends them to the workers in runs of `BATCH`; a worker checks
   everything a run shows on its own (`entry_check.check_run`), and a run that checked
   clean and continues the log seamlessly is taken whole, so that the in-order work is
   a few hashes per run rather than a few steps per entry. Any other run is taken row
   by row, which is where findings come from;
3. every subject's chain, in (subject, seq) order: gapless sequence numbers, each
   `subject_prev` equal to the previous entry's leaf hash, indices increasing. It runs
   once pass 2 has sent its last rows, while the workers finish; its findings are
   reported after pass 2's.

Findings name the first index each problem affects and a kind an auditor can act on:
modified, missing, inserted, reordered, bad-signature, unknown-key, revoked-key,
checkpoint-mismatch, subject-chain.

The rows are read through the driver's own (DB-API) connection, which the service's
`Database` lends from its pool and `dbapi.SqliteFile` opens directly: this module
imports only `audit`, the standard library and `storage.dbapi`, so that the command
line can run it without importing SQLAlchemy (see `traceability.cli.verify_log`).
"""

from __future__ import annotations

import bisect
import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from audit.checkpoint import verify_checkpoint
from audit.entry import KeyRing, parse_entry, parse_key_registration
from audit.errors import AuditError
from audit.merkle import frontier_append, frontier_join, frontier_root
from audit.note import Verifier
from audit.signers import KeyBindingError, KeyHistory, KeyRecord, check_binding
from traceability.custody_log.entry_check import (
    ROW_COLUMNS,
    Checked,
    CleanRun,
    Row,
    Signer,
    check_row,
    check_run,
)
from traceability.storage.dbapi import DbapiConnection

BATCH = 1024
"""Rows per run sent to a worker. A power of two, so that in an intact log every run is
a whole subtree of the log's tree (see `frontier_join`); small enough that the last runs
leave no core idle for long."""

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


class StoredLog(Protocol):
    """Where the log is stored: the service's `Database`, or a `dbapi.SqliteFile`."""

    @property
    def dialect(self) -> str: ...

    def dbapi_connection(self) -> AbstractContextManager[DbapiConnection]: ...


class _Snapshot:
    """One read transaction on a DB-API connection: every query sees the same log.

    A PostgreSQL transaction at REPEATABLE READ; on SQLite a deferred transaction,
    which in WAL mode reads one snapshot and never blocks the writer. Results are read
    `BATCH` rows at a time (on PostgreSQL through server-side cursors), so that memory
    does not grow with the log.
    """

    def __init__(self, connection: DbapiConnection, dialect: str) -> None:
        self.connection = connection
        self.postgresql = dialect == "postgresql"
        self._cursors = 0

    @contextmanager
    def begun(self) -> Iterator[_Snapshot]:
        self.connection.rollback()  # whatever the connection was in, start afresh
        cursor = self.connection.cursor()
        try:
            if self.postgresql:
                # The driver has begun the transaction; this must be its first statement.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            else:
                cursor.execute("BEGIN")
            yield self
        finally:
            cursor.close()
            self.connection.rollback()  # read only: nothing to keep

    def all(self, sql: str) -> list[Any]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def stream(self, sql: str, batch: int = BATCH) -> Iterator[list[Row]]:
        if self.postgresql:
            self._cursors += 1
            cursor = self.connection.cursor(name=f"verify_log_{self._cursors}")
        else:
            cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch):
                yield rows
        finally:
            cursor.close()


_ROW_SQL = f"SELECT {ROW_COLUMNS} FROM log_entries"  # noqa: S608 - constant columns


def _registered_keys(snapshot: _Snapshot) -> dict[str, bytes]:
    """Pass 1: public keys by id, as the key entries say (pass 2 re-checks those entries)."""
    keys: dict[str, bytes] = {}
    rows = snapshot.all(
        "SELECT entry FROM log_entries WHERE entry_type = 'key.registered' ORDER BY idx"
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
        self,
        report: Report,
        checkpoints: Iterator[tuple[int, bytes, str]],
        log_key: Verifier,
        keys: dict[str, bytes],
    ) -> None:
        self.report = report
        self.expected = 0
        self.previous_leaf: bytes | None = None
        self.previous_index: int | None = None
        self.previous_clean = True
        self.frontier: list[bytes] = []
        self.size = 0
        self.history = KeyHistory()
        """The keys met so far in index order: the one key rule (`audit.signers`) binds
        each entry's key to its actor with it."""
        self.checkpoints = checkpoints
        self.log_key = log_key
        self.next_checkpoint = next(self.checkpoints, None)
        self.keys = keys
        self.own_keys: dict[str, bytes] = {}
        """Keys pass 1 did not find that signed their own registration, in index order."""

    def find(self, index: int, kind: str, detail: str) -> None:
        self.report.findings.append(Finding(index, kind, detail))

    def take_run(self, rows: Sequence[Row], result: CleanRun | list[Checked]) -> None:
        """Take a worker's answer for `rows`: a whole clean run at once if it continues
        the log seamlessly, otherwise row by row."""
        if isinstance(result, CleanRun):
            if self._continues(rows, result):
                self._take_clean(rows, result)
                return
            checked = _rebuild(rows, result)
        else:
            checked = result
        for row, one in zip(rows, checked, strict=True):
            self.take(self._with_own_keys(row, one))

    def _continues(self, rows: Sequence[Row], run: CleanRun) -> bool:
        """Whether taking the run row by row would find nothing and change the tree only
        by appending the run's subtrees: then `_take_clean` gives the same state."""
        start, count = rows[0][0], len(rows)
        return (
            start == self.expected == self.size
            and start % (1 << (count.bit_length() - 1)) == 0
            and run.first_prev == self.previous_leaf
            and not run.key_events
            and all(self._bound(signer, start) for signer in set(run.row_signers))
        )

    def _bound(self, signer: Signer, index: int) -> bool:
        """Whether the signer may sign at `index`; a run without key entries binds at every
        index as at its first (a revocation inside it would be a key entry)."""
        key, actor, key_entry = signer
        try:
            check_binding(
                self.history.record(key),
                key=key,
                index=index,
                actor=actor,
                key_entry=key_entry,
                service_key=self.history.service_key,
            )
        except KeyBindingError:
            return False
        record = self.history.record(key)
        return record is not None and record.revoked is None

    def _take_clean(self, rows: Sequence[Row], run: CleanRun) -> None:
        start, count = self.size, len(rows)
        while self.next_checkpoint is not None and self.next_checkpoint[0] <= start + count:
            size, stored_root, note = self.next_checkpoint
            if size > start:
                part = size - start
                frontier = frontier_join(self.frontier, start, run.frontiers[part], part)
                self._check_checkpoint(size, stored_root, note, frontier_root(frontier, size))
            self.next_checkpoint = next(self.checkpoints, None)
        self.frontier = frontier_join(self.frontier, start, run.frontiers[count], count)
        self.size += count
        self.expected = start + count
        self.previous_leaf = bytes(rows[-1][2])
        self.previous_index = start + count - 1
        self.previous_clean = True
        self.report.entries += count

    def _with_own_keys(self, row: Row, checked: Checked) -> Checked:
        """Check again, in order, a row signed by a key that registered itself earlier.

        A worker knows only the keys pass 1 found. An entry that registers the key that
        signs it (the genesis entry) is checked with that key; if pass 1 missed the
        registration (its lookup column was changed), later entries signed by that key
        come back as unknown-key, and only here, in index order, is it known that the
        key was registered before them.
        """
        key = checked.key
        if key is not None and key in self.own_keys:
            if any(kind == "unknown-key" for kind, _ in checked.problems):
                checked = check_row(row, KeyRing({**self.keys, **self.own_keys}))
        registers = checked.registers
        if registers is not None and registers.key == key and key not in self.keys:
            self.own_keys.setdefault(key, registers.public_key)
        return checked

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
        self.frontier = frontier_append(self.frontier, self.size, checked.leaf)
        self.size += 1
        self.expected = position + 1
        self.previous_leaf = checked.leaf
        self.previous_index = checked.index
        self.previous_clean = len(self.report.findings) == before
        self.report.entries += 1
        self._check_checkpoints()

    def _check_key(self, position: int, checked: Checked) -> None:
        """The one key rule (`audit.signers.check_binding`) for the entry at `position`,
        then what a key entry there registers or revokes."""
        signer = checked.signer
        registers = checked.registers
        if signer is not None and not any(k == "unknown-key" for k, _ in checked.problems):
            key, actor, key_entry = signer
            genesis = position == 0 and registers is not None and registers.key == key
            record = (
                KeyRecord.of(registers)
                if genesis and registers is not None
                else self.history.record(key)
            )
            try:
                check_binding(
                    record,
                    key=key,
                    index=position,
                    actor=actor,
                    key_entry=key_entry,
                    service_key=key if genesis else self.history.service_key,
                )
            except KeyBindingError as e:
                self.find(position, e.kind, str(e))
        if registers is not None:
            self.history.register(registers)
        if checked.revokes is not None:
            self.history.revoke(checked.revokes, position)

    def _check_checkpoints(self) -> None:
        while self.next_checkpoint is not None and self.next_checkpoint[0] <= self.size:
            size, stored_root, note = self.next_checkpoint
            if size == self.size:
                root = frontier_root(self.frontier, self.size)
                self._check_checkpoint(size, stored_root, note, root)
            self.next_checkpoint = next(self.checkpoints, None)

    def _check_checkpoint(self, size: int, stored_root: bytes, note: str, root: bytes) -> None:
        """Check the stored checkpoint of `size` entries against `root`, the entries' root."""
        self.report.checkpoints += 1
        index = size - 1
        try:
            checkpoint = verify_checkpoint(note.encode("utf-8"), self.log_key)
        except AuditError as e:
            self.find(index, "checkpoint-mismatch", f"checkpoint of size {size}: {e}")
            return
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


def _rebuild(rows: Sequence[Row], run: CleanRun) -> list[Checked]:
    """Each row's `Checked`, as `check_row` would give it, from a clean run's summary.

    In a clean run each stored leaf hash and key column equals the entry's, each entry's
    index is its row's and each `prev` the leaf hash of the row before.
    """
    events = {index: (registers, revokes) for index, registers, revokes in run.key_events}
    out: list[Checked] = []
    prev = run.first_prev
    for row, signer in zip(rows, run.row_signers, strict=True):
        idx, leaf = row[0], bytes(row[2])
        registers, revokes = events.get(idx, (None, None))
        out.append(Checked(idx, leaf, idx, prev, signer, (), registers, revokes))
        prev = leaf
    return out


def _subject_chains(snapshot: _Snapshot) -> list[Finding]:
    """Pass 3: every subject's chain links up, in constant memory (but for findings)."""
    sql = (
        "SELECT idx, subject, subject_seq, subject_prev, leaf_hash FROM log_entries "
        "ORDER BY subject, subject_seq"
    )
    current: str | None = None
    expected_seq = 0
    last_leaf: bytes | None = None
    last_idx = -1
    findings: list[Finding] = []
    for batch in snapshot.stream(sql):
        for idx, subject, seq, subject_prev, leaf in batch:  # type: ignore[misc]
            if subject != current:
                current, expected_seq, last_leaf, last_idx = subject, 0, None, -1
            prev = bytes(subject_prev) if subject_prev is not None else None
            if seq != expected_seq:
                findings.append(
                    Finding(
                        idx,
                        "subject-chain",
                        f"{subject}: entry number {seq} follows number {expected_seq - 1}",
                    )
                )
            elif prev != last_leaf or idx <= last_idx:
                findings.append(
                    Finding(
                        idx,
                        "subject-chain",
                        f"{subject}: entry number {seq} does not follow the one before it",
                    )
                )
            expected_seq, last_leaf, last_idx = seq + 1, bytes(leaf), idx
    return findings


def _prefixes(rows: Sequence[Row], checkpoint_sizes: Sequence[int]) -> tuple[int, ...]:
    """Lengths of the run's leading parts at whose end a checkpoint ends, if the run
    continues the log seamlessly (otherwise the frontiers are not used)."""
    start = rows[0][0]
    lo = bisect.bisect_right(checkpoint_sizes, start)
    hi = bisect.bisect_right(checkpoint_sizes, start + len(rows))
    return tuple(size - start for size in checkpoint_sizes[lo:hi])


def _checked_runs(
    snapshot: _Snapshot,
    keys: dict[str, bytes],
    checkpoint_sizes: Sequence[int],
    pool: ProcessPoolExecutor | None,
    workers: int,
    when_sent: Callable[[], None],
) -> Iterator[tuple[list[Row], CleanRun | list[Checked]]]:
    """Pass 2's per-entry half, run by run in index order: here, or in the pool.

    This process reads the rows and sends them, so workers never touch the database;
    a bounded number of runs is in flight, so memory stays flat. `when_sent` is called
    once every row has been read, before the last runs come back: work for this process
    while the workers finish, instead of after, when they would sit idle.
    """
    runs = snapshot.stream(_ROW_SQL + " ORDER BY idx", BATCH)
    if pool is None:
        for rows in runs:
            yield rows, check_run(rows, keys, _prefixes(rows, checkpoint_sizes))
        when_sent()
        return
    pending: deque[tuple[list[Row], Future[CleanRun | list[Checked]]]] = deque()
    for rows in runs:
        prefixes = _prefixes(rows, checkpoint_sizes)
        pending.append((rows, pool.submit(check_run, rows, keys, prefixes)))
        if len(pending) > 2 * workers:
            done, future = pending.popleft()
            yield done, future.result()
    when_sent()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def _can_fork() -> bool:
    """Whether forking workers is safe here: on Linux, with one thread in this process.

    A forked child gets a copy of every lock; with another thread running, one may be
    held mid-update and never released in the child. The count is the kernel's, so it
    includes threads that no Python code started.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


@contextmanager
def _worker_pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for pass 2, or None to check in this process.

    Forked when `_can_fork`, because a forked worker starts at once with everything
    imported, while a spawned one imports the whole command line again, which costs as
    much as checking thousands of entries. A worker never uses a database connection
    (this process reads the rows), the pool starts before verify-log opens its own, and
    the objects a worker inherits are frozen out of its garbage collection, so that it
    never finalizes (closes) a connection this process dropped but had not collected.
    """
    if workers <= 1:
        yield None
        return
    fork = _can_fork()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        if fork:
            gc.freeze()
        try:
            pool.submit(int)  # starts the workers now (a fork pool starts all of them)
        finally:
            if fork:
                gc.unfreeze()
        yield pool


def _count(db: StoredLog) -> int:
    with db.dbapi_connection() as connection:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT count(*) FROM log_entries")
            (count,) = cursor.fetchone()
        finally:
            cursor.close()
            connection.rollback()
    return int(count)


Progress = Callable[[int, int], None]
"""Told (entries checked so far, entries in all) after each run of entries."""


def verify_log(
    db: StoredLog,
    log_key: Verifier,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Report:
    count = _count(db) if workers is None or progress is not None else 0
    if workers is None:
        workers = (os.cpu_count() or 1) if count >= PARALLEL_THRESHOLD else 1
    report = Report()
    with _worker_pool(workers) as pool, db.dbapi_connection() as connection:
        with _Snapshot(connection, db.dialect).begun() as snapshot:
            keys = _registered_keys(snapshot)
            # One checkpoint per N entries: read them up front (a few hundred bytes each).
            checkpoints = [
                (int(s), bytes(r), str(n))
                for s, r, n in snapshot.all(
                    "SELECT size, root_hash, note FROM log_checkpoints ORDER BY size"
                )
            ]
            state = _Sequence(report, iter(checkpoints), log_key, keys)
            sizes = [size for size, _, _ in checkpoints]
            chains: list[Finding] = []

            def check_chains() -> None:
                chains.extend(_subject_chains(snapshot))

            done = 0
            for rows, result in _checked_runs(
                snapshot, keys, sizes, pool, workers, when_sent=check_chains
            ):
                state.take_run(rows, result)
                if progress is not None:
                    done += len(rows)
                    progress(done, count)
            state.finish()
            report.findings.extend(chains)  # after pass 2's, as if pass 3 had run after it
    report.findings.sort(key=lambda f: f.index)
    return report
