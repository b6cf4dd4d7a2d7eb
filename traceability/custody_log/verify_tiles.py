"""verify-log on a C2SP tlog-tiles copy of the log (a mirror's URL or directory).

`audit.tiles` reads the copy and checks its tree: the checkpoint's signature first, then
every entry bundle and level tile against the entries. Each entry it yields becomes a
row shaped like the log's own, its lookup columns (subject, sequence, previous hash,
type, key) taken from its bytes, in a temporary SQLite file holding `log_entries` and
`log_checkpoints` (the copy's one checkpoint), and `verify_log` runs on that file as it
runs on the service's database. So a copy gets every check the stored log gets, by the
same code: entry format, signatures and the key rule, the `prev` chain, the subject
chains (pass 3's SQL, on the file), the checkpoint's root. The tiles' own findings
(`unavailable`, `tile-mismatch`) are added to the report.

The file is written to the system's temporary directory (TMPDIR) and removed at the
end; it takes about as much room as the entries, and memory stays flat. This module
imports only `audit`, the standard library and `storage.dbapi`, so that the command line
runs it without SQLAlchemy.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from audit.entry import parse_entry_fields
from audit.errors import AuditError, VerificationError
from audit.merkle import leaf_hash
from audit.note import Verifier
from audit.tiles import TiledLog, TileSource
from traceability.custody_log.entry_check import Row
from traceability.custody_log.verify_log import BATCH, Finding, Report, verify_log
from traceability.storage.dbapi import SqliteFile

_SCHEMA = (
    "CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, "
    "leaf_hash BLOB NOT NULL, subject TEXT NOT NULL, subject_seq INTEGER NOT NULL, "
    "subject_prev BLOB, entry_type TEXT NOT NULL, key_id TEXT NOT NULL)",
    "CREATE TABLE log_checkpoints (size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, "
    "note TEXT NOT NULL)",
)
_SUBJECT_ORDER = "CREATE INDEX log_entries_subject ON log_entries (subject, subject_seq)"
"""Pass 3 reads in this order. Built after loading, which is faster than keeping it up;
not UNIQUE as in the service's schema: a copy may hold a fork, which pass 3 reports."""


def _row(index: int, raw: bytes) -> Row:
    """A `log_entries` row for the entry at `index`, its columns read from its bytes.

    An entry that does not parse gets columns of its own (a chain of one, no key):
    `verify_log` reports it as malformed, and the subject it should have continued
    shows the gap."""
    try:
        entry = parse_entry_fields(raw)
    except AuditError:
        return (index, raw, leaf_hash(raw), f"(unreadable entry {index})", 0, None, "", "")
    return (
        index,
        raw,
        entry.leaf_hash,
        entry.subject,
        entry.subject_seq,
        entry.subject_prev,
        entry.type,
        entry.key,
    )


def _batches(log: TiledLog) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for index, raw in log.entries():
        batch.append(_row(index, raw))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _store(log: TiledLog, path: Path) -> None:
    """Write the copy's entries and checkpoint into a new SQLite file at `path`."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=OFF")  # a scratch file: no crash to survive
        connection.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            connection.execute(statement)
        for batch in _batches(log):
            connection.executemany("INSERT INTO log_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
        connection.execute(_SUBJECT_ORDER)
        connection.execute(
            "INSERT INTO log_checkpoints VALUES (?, ?, ?)",
            (log.size, log.checkpoint.root_hash, log.note),
        )
        connection.commit()
    finally:
        connection.close()


def _unverified_size(note: bytes | None) -> int | None:
    """The size a checkpoint that did not verify claims (its second line), to name the
    index it affects; None if it claims none."""
    lines = (note or b"").split(b"\n", 2)
    if len(lines) < 3 or not re.fullmatch(rb"0|[1-9][0-9]{0,19}", lines[1]):
        return None
    return int(lines[1])


def verify_tiled_copy(
    source: TileSource, log_key: Verifier, *, workers: int | None = None
) -> Report:
    """Check a tiled copy as verify-log checks the stored log.

    Raises `audit.tiles.SourceError` if the copy cannot be read at all (no checkpoint,
    no answer); a checkpoint that does not verify is a finding, and nothing else is read.
    """
    try:
        log = TiledLog.open(source, log_key)
    except VerificationError as e:
        size = _unverified_size(source.fetch("checkpoint"))
        index = size - 1 if size else 0
        detail = f"the copy's checkpoint does not verify with the log's key: {e}"
        return Report(checkpoints=1, findings=[Finding(index, "checkpoint-mismatch", detail)])
    with tempfile.TemporaryDirectory(prefix="trace-verify-tiles-") as scratch:
        path = Path(scratch) / "log.db"
        _store(log, path)
        report = verify_log(SqliteFile(str(path)), log_key, workers=workers)
    report.findings.extend(Finding(f.index, f.kind, f.detail) for f in log.findings)
    report.findings.sort(key=lambda f: f.index)
    return report
