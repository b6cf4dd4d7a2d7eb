"""The per-entry half of verify-log: pure, picklable, and run in worker processes.

A worker gets a run of stored rows, read in index order by the parent process, and
checks each one: its exact bytes against its leaf hash and lookup columns, the body
against the contract, and the actor's signature with a key the log registered. Work
that needs only the run itself is done here too, so that the parent, which must take
the runs in order, has almost nothing left to do per entry: the `prev` link between
neighbours in the run, and the Merkle frontiers of the run's leaves.

A run where every row checks clean is answered with a `CleanRun` of a few hashes;
any other run with one `Checked` per row, from which the parent reports findings.
Imports only `audit` and the standard library, so that worker processes start fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from audit.entry import (
    KEY_REGISTERED,
    KEY_REVOKED,
    EntryFields,
    KeyRegistration,
    KeyRing,
    parse_entry,
    parse_entry_fields,
    parse_key_registration,
    parse_key_revocation,
)
from audit.errors import AuditError, SignatureError
from audit.merkle import frontiers_of_prefixes, leaf_hash
from audit.signers import is_key_entry

Row = tuple[int, bytes, bytes, str, int, bytes | None, str, str]
"""(idx, entry, leaf_hash, subject, subject_seq, subject_prev, entry_type, key_id)."""

ROW_COLUMNS = "idx, entry, leaf_hash, subject, subject_seq, subject_prev, entry_type, key_id"


Signer = tuple[str, str | None, bool]
"""(key id, actor, whether the entry is a key entry): what the key rule binds."""


@dataclass(frozen=True)
class Checked:
    """What the sequential half needs to know about one row."""

    row_index: int
    leaf: bytes
    index: int | None
    prev: bytes | None
    signer: Signer | None
    problems: tuple[tuple[str, str], ...]
    registers: KeyRegistration | None = None
    revokes: str | None = None

    @property
    def key(self) -> str | None:
        return None if self.signer is None else self.signer[0]


@dataclass(frozen=True)
class CleanRun:
    """A run of rows that all checked clean, in what the sequential half needs of it.

    Clean means: indices consecutive from the first row's; each entry well formed, equal
    to its stored leaf hash and lookup columns, at the index it claims, linked by `prev`
    to the row before it in the run, and signed by a key in the ring (key entries also
    parse as key entries). What is left to check in order is the first row's `prev`,
    whether the signing keys were registered and not revoked at these positions, and the
    checkpoints; the rows with their stored leaf hashes and these fields are enough to
    rebuild every row's `Checked` when the sequential half needs them.
    """

    first_prev: bytes | None
    row_signers: tuple[Signer, ...]
    """Each row's signer, in order."""
    key_events: tuple[tuple[int, KeyRegistration | None, str | None], ...]
    """(index, registers, revokes) of each key entry in the run."""
    frontiers: dict[int, list[bytes]]
    """Frontier of the run's first n leaves taken as a tree of their own, by n: for the
    whole run and for each size asked for (those of checkpoints ending in the run)."""


def check_row(row: Row, keys: KeyRing) -> Checked:
    """Check one row on its own. ``keys`` holds the keys the log registered."""
    idx, raw, stored_leaf, subject, subject_seq, subject_prev, entry_type, key_id = row
    raw = bytes(raw)
    problems: list[tuple[str, str]] = []
    try:
        entry = parse_entry_fields(raw)
    except AuditError as e:
        leaf = leaf_hash(raw)
        if leaf != bytes(stored_leaf):
            problems.append(("modified", "the entry's bytes do not hash to its stored leaf hash"))
        problems.append(("modified", f"the entry is not a well-formed log entry: {e}"))
        return Checked(idx, leaf, None, None, None, tuple(problems))
    leaf = entry.leaf_hash
    if leaf != bytes(stored_leaf):
        problems.append(("modified", "the entry's bytes do not hash to its stored leaf hash"))
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
        if entry.type == KEY_REGISTERED:
            registers = parse_key_registration(parse_entry(raw))
        elif entry.type == KEY_REVOKED:
            revokes = parse_key_revocation(parse_entry(raw))[0]
    except AuditError as e:
        problems.append(("modified", f"malformed key entry: {e}"))
    ring = keys
    if entry.key not in keys and registers is not None and registers.key == entry.key:
        # the genesis entry is signed by the key it registers
        ring = KeyRing({entry.key: registers.public_key})
    if entry.key not in ring:
        problems.append(("unknown-key", f"signed by key {entry.key}, never registered"))
    else:
        try:
            ring.verify(entry)
        except SignatureError as e:
            problems.append(("bad-signature", str(e)))
    return Checked(
        idx, leaf, entry.index, entry.prev, signer_of(entry), tuple(problems), registers, revokes
    )


def signer_of(entry: EntryFields) -> Signer:
    return (entry.key, entry.actor, is_key_entry(entry.type, entry.subject))


_ring: tuple[dict[str, bytes], KeyRing] | None = None


def _ring_for(keys: Mapping[str, bytes]) -> KeyRing:
    """The ring for ``keys``, built once per worker process rather than once per run."""
    global _ring
    if _ring is None or _ring[0] != keys:
        _ring = (dict(keys), KeyRing(keys))
    return _ring[1]


def check_run(
    rows: Sequence[Row], keys: Mapping[str, bytes], prefixes: Sequence[int] = ()
) -> CleanRun | list[Checked]:
    """Worker job: check a run of rows, in index order, as one.

    ``prefixes`` are the lengths of leading parts of the run whose frontiers the caller
    wants (where a checkpoint ends inside the run). The loop is the clean case, kept
    lean because it runs once per entry of the log; at the first thing it does not
    expect, the whole run is checked again row by row, so that every finding comes from
    ``check_row`` alone.
    """
    ring = _ring_for(keys)
    leaves: list[bytes] = []
    signers: list[Signer] = []
    key_events: list[tuple[int, KeyRegistration | None, str | None]] = []
    to_verify: list[EntryFields] = []
    first_prev: bytes | None = None
    prev: bytes | None = None
    for offset, row in enumerate(rows):
        idx, raw, stored_leaf, subject, subject_seq, subject_prev, entry_type, key_id = row
        try:
            entry = parse_entry_fields(raw)
        except AuditError:
            return [check_row(row, ring) for row in rows]
        if offset == 0:
            first_prev = prev = entry.prev
        leaf = entry.leaf_hash
        if (
            entry.index != idx
            or idx != rows[0][0] + offset
            or entry.prev != prev
            or leaf != stored_leaf
            or entry.subject != subject
            or entry.subject_seq != subject_seq
            or entry.subject_prev != subject_prev
            or entry.type != entry_type
            or entry.key != key_id
        ):
            return [check_row(row, ring) for row in rows]
        if entry.type == KEY_REGISTERED or entry.type == KEY_REVOKED:
            checked = check_row(row, ring)  # parses the entry again: key entries are few
            if checked.problems:
                return [check_row(row, ring) for row in rows]
            key_events.append((idx, checked.registers, checked.revokes))
        elif entry.key not in ring:
            return [check_row(row, ring) for row in rows]
        else:
            to_verify.append(entry)
        leaves.append(leaf)
        signers.append(signer_of(entry))
        prev = leaf
    # The signatures after the rest, in a row: Python's per-entry work and the signature
    # checks each keep the processor's caches to themselves, where alternating them per
    # entry cost more (see audit.bundle.verifier's check_entries).
    for entry in to_verify:
        try:
            ring.verify(entry)
        except SignatureError:
            return [check_row(row, ring) for row in rows]
    return CleanRun(
        first_prev=first_prev,
        row_signers=tuple(signers),
        key_events=tuple(key_events),
        frontiers=frontiers_of_prefixes(leaves, {len(leaves), *prefixes}),
    )
