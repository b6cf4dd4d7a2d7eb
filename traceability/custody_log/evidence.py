"""What the log proves: stored entries checked as an outside verifier checks them.

The tables are projections of the log, and the database may have been changed behind
the service's back (DESIGN.md, Trust model). Before a decision or a page rests on an
entry, `LogEvidence.prove` checks it from scratch, trusting none of the columns beside
the bytes:

* the latest stored checkpoint's signature, with the log's own verifier key;
* the entry's bytes against the custody-log contract, and their leaf hash included
  under that checkpoint's root (RFC 9162 inclusion proof from the stored nodes: a
  changed node or leaf fails the proof, it cannot make a false one pass);
* the signature, by a key that `audit.signers` binds to the entry's actor at its index,
  where the key's own registration and revocations are proven the same way.

An entry appended after the latest checkpoint is not proven until a checkpoint covers
it: callers that decide sign one first (`ensure_covering`). Anything that fails gives
an `Unproven` naming the index and the reason; nothing here raises for bad evidence.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.entry import (
    KEY_REGISTERED,
    KEY_REVOKED,
    KEY_SUBJECT_PREFIX,
    Entry,
    KeyRing,
    parse_entry,
    parse_key_registration,
    parse_key_revocation,
)
from audit.errors import AuditError
from audit.merkle import verify_inclusion
from audit.note import Verifier
from audit.signers import KeyBindingError, KeyHistory, KeyRecord
from traceability.custody_log.appender import CustodyLog, latest_checkpoint, read_head
from traceability.custody_log.tree import StoredTree, TreeIntegrityError
from traceability.storage.database import Database
from traceability.storage.models import LogEntryRow


class _Facts:
    """Cryptographic facts this process has checked: "these exact bytes (their leaf hash)
    carry a valid signature by this public key", "this leaf is at this index under this
    root". They depend on nothing stored, so they are remembered (bounded, oldest
    dropped first); a changed entry has another leaf hash and is checked afresh.
    `scripts/bench readiness` shows what this saves."""

    def __init__(self, limit: int = 200_000) -> None:
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __contains__(self, fact: tuple[object, ...]) -> bool:
        with self._lock:
            return fact in self._seen

    def add(self, fact: tuple[object, ...]) -> None:
        with self._lock:
            self._seen[fact] = None
            if len(self._seen) > self._limit:
                self._seen.popitem(last=False)


_FACTS = _Facts()


def _check_signature(entry: Entry, public_key: bytes) -> None:
    """The entry's signature by `public_key` (SignatureError), checked once per process."""
    fact = ("signed", entry.leaf_hash, public_key)
    if fact in _FACTS:
        return
    KeyRing({entry.key: public_key}).verify(entry)
    _FACTS.add(fact)


@dataclass(frozen=True)
class Proven:
    """An entry the log proves, with the key record that binds its signer."""

    entry: Entry
    signer: KeyRecord

    @property
    def index(self) -> int:
        return self.entry.index

    @property
    def who(self) -> str | None:
        """The user whose key signed it; None for the service."""
        return self.signer.user


@dataclass(frozen=True)
class Unproven:
    """Why the entry at `index` is not proven (missing, changed, unsigned, uncovered)."""

    index: int
    kind: str
    detail: str


class LogEvidence:
    """Proves entries against the latest signed checkpoint, within one session.

    Keep one per unit of work (a request): it remembers what it proved, and reads the
    checkpoint once, so everything a page or a decision shows rests on one tree head.
    """

    def __init__(
        self,
        session: Session,
        log_key: Verifier,
        *,
        note: str | None = None,
        refresh: Callable[[], str | None] | None = None,
    ) -> None:
        """`note` is the checkpoint to prove against (from `ensure_covering`); without
        one, the latest the session sees. `refresh` gets a newer one, once, when an entry
        this session reads was appended after `note` was signed (a page read while
        others write): that entry is then proven rather than reported as uncovered."""
        self.session = session
        self.log_key = log_key
        self._note = note
        self._refresh = refresh
        self._tree = StoredTree(session)
        self._checkpoint: Checkpoint | None | Unproven = None
        self._entries: dict[int, Entry | Unproven] = {}
        self._proven: dict[int, Proven | Unproven] = {}
        self._keys = KeyHistory()
        self._keys_read: set[str] = set()
        self._key_problems: dict[str, Unproven] = {}

    # --- the tree head ------------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint | Unproven:
        """The latest stored checkpoint, its signature verified; or why there is none."""
        if self._checkpoint is None:
            note = self._note
            if note is None:
                row = latest_checkpoint(self.session)
                note = None if row is None else row.note
            if note is None:
                self._checkpoint = Unproven(0, "checkpoint", "the log has no signed checkpoint")
            else:
                try:
                    self._checkpoint = verify_checkpoint(note.encode("utf-8"), self.log_key)
                except AuditError as e:
                    self._checkpoint = Unproven(
                        0,
                        "checkpoint",
                        f"the latest checkpoint does not verify with the log's key: {e}",
                    )
        return self._checkpoint

    # --- entries ------------------------------------------------------------------------

    def _load(self, indices: Iterable[int]) -> None:
        wanted = sorted(set(indices) - set(self._entries))
        if not wanted:
            return
        self._cover(wanted[-1])
        rows = {
            int(idx): bytes(raw)
            for idx, raw in self.session.exec(
                select(LogEntryRow.idx, LogEntryRow.entry).where(col(LogEntryRow.idx).in_(wanted))
            ).all()
        }
        for index in wanted:
            raw = rows.get(index)
            self._entries[index] = (
                Unproven(index, "missing-entry", "no entry is stored at this index")
                if raw is None
                else self._included(index, raw)
            )

    def _cover(self, index: int) -> None:
        """Take a newer checkpoint (once) if `index` lies beyond the current one, or the
        log has none yet."""
        checkpoint = self.checkpoint
        if self._refresh is None or (
            not isinstance(checkpoint, Unproven) and index < checkpoint.size
        ):
            return
        refresh, self._refresh = self._refresh, None
        note = refresh()
        if note is not None and note != self._note:
            self._note, self._checkpoint = note, None
            self._entries = {i: e for i, e in self._entries.items() if isinstance(e, Entry)}
            self._proven = {i: p for i, p in self._proven.items() if isinstance(p, Proven)}

    def _included(self, index: int, raw: bytes) -> Entry | Unproven:
        checkpoint = self.checkpoint
        if isinstance(checkpoint, Unproven):
            return Unproven(index, checkpoint.kind, checkpoint.detail)
        try:
            entry = parse_entry(raw)
        except AuditError as e:
            return Unproven(index, "changed", f"the stored entry is not a well-formed entry: {e}")
        if entry.index != index:
            return Unproven(index, "changed", f"the entry stored at {index} says {entry.index}")
        if entry.log != checkpoint.origin:
            return Unproven(index, "changed", f"the entry names log {entry.log!r}")
        if index >= checkpoint.size:
            return Unproven(
                index,
                "uncovered",
                f"no signed checkpoint covers entry {index} yet (the latest has "
                f"{checkpoint.size} entries)",
            )
        fact = ("included", index, entry.leaf_hash, checkpoint.size, checkpoint.root_hash)
        if fact in _FACTS:
            return entry
        try:
            proof = self._tree.inclusion_proof(index, checkpoint.size)
            verify_inclusion(entry.leaf_hash, index, checkpoint.size, proof, checkpoint.root_hash)
            _FACTS.add(fact)
        except (AuditError, TreeIntegrityError, ValueError) as e:
            return Unproven(
                index,
                "changed",
                f"entry {index} is not the one the signed checkpoint of size "
                f"{checkpoint.size} holds: {e}",
            )
        return entry

    # --- signatures -----------------------------------------------------------------------

    def prove(self, index: int) -> Proven | Unproven:
        """The entry at `index` with its signer, if the log proves both."""
        return self.prove_many([index])[index]

    def prove_many(self, indices: Iterable[int]) -> dict[int, Proven | Unproven]:
        """Each entry proven once per instance: a shipper's request entry stands behind
        every vial's step, and is checked once."""
        wanted = list(dict.fromkeys(indices))
        new = [i for i in wanted if i not in self._proven]
        self._load(new)
        entries = {i: self._entries[i] for i in new}
        self._learn_keys({e.key for e in entries.values() if isinstance(e, Entry)})
        for index, entry in entries.items():
            if isinstance(entry, Unproven):
                self._proven[index] = entry
            elif entry.key in self._key_problems:
                problem = self._key_problems[entry.key]
                self._proven[index] = Unproven(
                    index,
                    "unproven-key",
                    f"the key {entry.key} that signed it is not proven: entry "
                    f"{problem.index}: {problem.detail}",
                )
            else:
                self._proven[index] = self._signed(entry)
        return {i: self._proven[i] for i in wanted}

    def _signed(self, entry: Entry) -> Proven | Unproven:
        try:
            record = self._bound(self._keys, entry)
        except KeyBindingError as e:
            return Unproven(entry.index, e.kind, str(e))
        except AuditError as e:
            return Unproven(entry.index, "bad-signature", str(e))
        return Proven(entry, record)

    def _learn_keys(self, keys: set[str]) -> None:
        """Prove the key entries of `keys` (and the genesis entry, which registers the
        service key that signs them), in index order, into the key history."""
        new = keys - self._keys_read
        if not new:
            return
        first_time = not self._keys_read
        self._keys_read |= new
        subjects = [KEY_SUBJECT_PREFIX + k for k in sorted(new)]
        indices = set(
            self.session.exec(
                select(LogEntryRow.idx).where(col(LogEntryRow.subject).in_(subjects))
            ).all()
        )
        if first_time:
            indices.add(0)
        self._load(indices)
        # A history is built in index order; keys learnt later are replayed with the rest.
        known = {
            i: e
            for i, e in self._entries.items()
            if isinstance(e, Entry) and e.subject.startswith(KEY_SUBJECT_PREFIX)
        }
        history = KeyHistory()
        problems: dict[str, Unproven] = {}
        for index in sorted(known):
            entry = known[index]
            try:
                if entry.type == KEY_REGISTERED:
                    registration = parse_key_registration(entry)
                    self._bound(history, entry)
                    history.register(registration)
                elif entry.type == KEY_REVOKED:
                    self._bound(history, entry)
                    kid, at = parse_key_revocation(entry)
                    history.revoke(kid, at)
            except AuditError as e:
                problems.setdefault(entry.subject.removeprefix(KEY_SUBJECT_PREFIX), _at(entry, e))
        for index in indices:
            loaded = self._entries[index]
            if isinstance(loaded, Unproven):
                row_subject = self._subject_of(index)
                if row_subject is not None:
                    problems.setdefault(row_subject.removeprefix(KEY_SUBJECT_PREFIX), loaded)
        self._keys = history
        self._key_problems = problems

    @staticmethod
    def _bound(history: KeyHistory, entry: Entry) -> KeyRecord:
        """`KeyHistory.verify` (the key rule, then the signature), with the signature
        check remembered: the binding is decided afresh every time."""
        if entry.index == 0:
            return KeyHistory().verify(entry)  # the genesis entry: once per request
        record = history.binding(
            key=entry.key,
            index=entry.index,
            actor=entry.actor,
            entry_type=entry.type,
            subject=entry.subject,
        )
        _check_signature(entry, record.public_key)
        return record

    def _subject_of(self, index: int) -> str | None:
        return self.session.exec(
            select(LogEntryRow.subject).where(LogEntryRow.idx == index)
        ).first()


def _at(entry: Entry, error: AuditError) -> Unproven:
    kind = error.kind if isinstance(error, KeyBindingError) else "key-entry"
    return Unproven(entry.index, kind, str(error))


def ensure_covering(db: Database, log: CustodyLog, *, now: datetime) -> str | None:
    """The latest checkpoint note, after signing one if entries wait for it, so that what
    a decision or page reads next is provable (None for an empty log). A short write,
    and only when the log grew since the last checkpoint."""
    with db.read() as session:
        head = read_head(session).size
        latest = latest_checkpoint(session)
        if head == 0:
            return None
        if latest is not None and latest.size >= head:
            return latest.note
    with db.write() as session:
        return log.issue_checkpoint(session, now=now).note
