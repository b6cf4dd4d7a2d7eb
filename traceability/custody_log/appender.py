"""Appending to the custody log: one writer at a time, checked, durable once committed.

Every append runs inside the caller's unit of work (`Database.write()`), so the entry
and the record it is about commit together or not at all. The log lock is a PostgreSQL
transaction-level advisory lock, or SQLite's own write lock (BEGIN IMMEDIATE); the
UNIQUE constraints on the index and on (subject, subject_seq) stop a fork even if a
lock were bypassed. Signature checks happen before the lock is taken so that the lock
is held only for the few lookups and inserts.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, text
from sqlmodel import Session, col, select

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.entry import (
    KEY_SUBJECT_PREFIX,
    KeyRing,
    parse_entry,
    parse_key_registration,
    pop_message,
)
from audit.errors import AuditError, ProofError
from audit.merkle import leaf_hash, verify_consistency
from audit.signers import KeyBindingError, KeyRecord, check_binding, is_key_entry
from traceability.custody_log import statements, tables
from traceability.custody_log.statements import EncodedStatement, Statement
from traceability.custody_log.tree import StoredTree, TreeIntegrityError, extend, frontier_root
from traceability.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
)
from traceability.keys import ServiceKeys, load_service_keys
from traceability.settings import Settings
from traceability.storage.database import connection_of
from traceability.storage.models import (
    CheckpointCosignatureRow,
    CheckpointRow,
    LogEntryRow,
    User,
)

PG_LOG_LOCK = 0x7472616365  # "trace": the advisory lock id of the log
CATCH_UP = 512
"""At most this many entries written elsewhere are caught up from their leaves."""


@dataclass(frozen=True)
class Head:
    size: int
    last_leaf: bytes | None


@dataclass(frozen=True)
class SubjectHead:
    """Where the next statement about a subject goes: its seq and the hash it follows."""

    next_seq: int
    prev: bytes | None


@dataclass(frozen=True)
class Appended:
    index: int
    leaf_hash: bytes
    entry: bytes


def key_subject(key_id: str) -> str:
    return KEY_SUBJECT_PREFIX + key_id


def _head(connection: Connection) -> Head:
    row = connection.execute(tables.HEAD).first()
    if row is None:
        return Head(0, None)
    return Head(int(row[0]) + 1, bytes(row[1]))


def _subject_head(connection: Connection, subject: str) -> SubjectHead:
    row = connection.execute(tables.SUBJECT_HEAD, {"subject": subject}).first()
    if row is None:
        return SubjectHead(0, None)
    return SubjectHead(int(row[0]) + 1, bytes(row[1]))


def read_head(session: Session) -> Head:
    return _head(session.connection())


def read_subject_head(session: Session, subject: str) -> SubjectHead:
    return _subject_head(session.connection(), subject)


@dataclass(frozen=True)
class KnownKey:
    """A key as the log registered it: read from its service-signed registration entry,
    never from the `actor_keys` table, which a database administrator could change."""

    public_key: Ed25519PublicKey
    username: str | None
    record: KeyRecord
    """What the key rule needs: the key's user and registration (its revocation is read
    under the lock, at each append)."""


def subject_entries(session: Session, subject: str) -> Sequence[LogEntryRow]:
    return session.exec(
        select(LogEntryRow)
        .where(LogEntryRow.subject == subject)
        .order_by(col(LogEntryRow.subject_seq))
    ).all()


def recent_entries(session: Session, *, before: int, limit: int) -> Sequence[LogEntryRow]:
    """Entries with index below `before`, newest first."""
    return session.exec(
        select(LogEntryRow)
        .where(col(LogEntryRow.idx) < before)
        .order_by(col(LogEntryRow.idx).desc())
        .limit(limit)
    ).all()


def _verified(key: KnownKey, statement: Statement, signature: bytes) -> EncodedStatement:
    encoded = statement.encoded()
    try:
        key.public_key.verify(signature, encoded.signed_message())
    except InvalidSignature:
        raise InvalidInputError(
            "the signature does not verify for this statement and key", field="signature"
        ) from None
    return encoded


class CustodyLog:
    """The site's one log. Thread-safe; one instance per process and database."""

    def __init__(self, keys: ServiceKeys, *, origin: str, checkpoint_every: int) -> None:
        if keys.log.name != origin:
            raise ConfigurationError("the log key's name must be the log's origin")
        self.keys = keys
        self.origin = origin
        self.checkpoint_every = checkpoint_every
        self._cache_lock = threading.Lock()
        self._frontier_cache: tuple[int, bytes, list[bytes]] | None = None
        # A registered key never changes (revocation is checked separately, under the lock).
        self._known_keys: dict[str, KnownKey] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> CustodyLog:
        """The site's log as the settings configure it (its keys from the key directory)."""
        return cls(
            load_service_keys(settings.key_dir, settings.origin),
            origin=settings.origin,
            checkpoint_every=settings.checkpoint_every,
        )

    def _key(self, session: Session, key_id: str) -> KnownKey | None:
        """The key `key_id` as its registration entry says, if the service key signed that
        entry (or it is the genesis entry registering the service key itself)."""
        known = self._known_keys.get(key_id)
        if known is None:
            row = (
                session.connection()
                .execute(tables.KEY_REGISTRATION, {"subject": key_subject(key_id)})
                .first()
            )
            if row is None:
                return None
            try:
                entry = parse_entry(bytes(row[0]))
                registration = parse_key_registration(entry)
                service = self.keys.service
                if registration.key != key_id or (
                    entry.index == 0 and registration.key != service.key_id
                ):
                    return None
                KeyRing({service.key_id: service.public_key}).verify(entry)
            except AuditError:
                return None
            known = KnownKey(
                Ed25519PublicKey.from_public_bytes(registration.public_key),
                registration.user,
                KeyRecord.of(registration),
            )
            self._known_keys[key_id] = known
        return known

    def verify_known(self, statement: Statement, signature: bytes) -> EncodedStatement | None:
        """The statement's encoding if its key is already known here and the signature
        verifies; None if the key is not known yet (the append looks it up)."""
        key = self._known_keys.get(statement.key)
        return None if key is None else _verified(key, statement, signature)

    # --- the lock and the tree state -------------------------------------------------

    def lock(self, session: Session) -> None:
        """Hold the log's write lock for the rest of this unit of work.

        A use case that reads state, checks a rule against it and then appends must take
        the lock before it reads: otherwise, on PostgreSQL, two writers about different
        subjects (a recall and an administration, two packings of one vial) could both
        pass their checks. SQLite's BEGIN IMMEDIATE already serialises whole units of
        work; on PostgreSQL the advisory lock is re-entrant within the transaction.
        """
        self._lock(session)

    def _lock(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOG_LOCK})
        # SQLite: the unit of work already began with BEGIN IMMEDIATE (the write lock).

    def _frontier(self, tree: StoredTree, head: Head) -> list[bytes]:
        """The frontier at `head`: the cached one when it describes exactly this head,
        else the cached one brought up to it, else read from the stored nodes.

        Another process writing to the same log (a second server worker, the CLI)
        moves the head past this process's cache, typically by a batch of entries.
        Extending the cache by their leaves, read in one statement, costs less than
        the O(log n) node reads of a rebuild; the leaf the cache ended on must still
        be stored where it was, and the last one read must be the head's."""
        with self._cache_lock:
            cached = self._frontier_cache
        if cached is not None and cached[0] == head.size and cached[1] == head.last_leaf:
            return list(cached[2])
        if cached is not None and 0 < cached[0] < head.size <= cached[0] + CATCH_UP:
            size, last, frontier = cached[0], cached[1], list(cached[2])
            rows = [
                (int(index), bytes(leaf))
                for index, leaf in connection_of(tree.session).execute(
                    tables.LEAVES_FROM, {"lo": size - 1}
                )
            ]
            if rows and rows[0] == (size - 1, last) and rows[-1] == (head.size - 1, head.last_leaf):
                for index, leaf in rows[1:]:
                    if index != size:
                        break
                    frontier, _ = extend(size, leaf, frontier)
                    size += 1
                else:
                    return frontier
        return tree.frontier(head.size)

    def _remember(self, size: int, last_leaf: bytes, frontier: list[bytes]) -> None:
        # Keyed by (size, last leaf): a cache left by a rolled-back append never matches
        # the stored head, so it is rebuilt rather than trusted.
        with self._cache_lock:
            self._frontier_cache = (size, last_leaf, list(frontier))

    # --- appending -----------------------------------------------------------------

    def append_signed(
        self,
        session: Session,
        statement: Statement,
        signature: bytes,
        *,
        now: datetime,
        signed_in_user: User | None = None,
        verified: EncodedStatement | None = None,
    ) -> Appended:
        """Append a statement signed by a registered key; the caller's user must own it.

        `verified` is the statement's encoding from `verify_known`, whose signature
        check it then skips; every other check runs here."""
        statements.validate(statement)
        statements.check_when_near(statement, now)
        if statement.log != self.origin:
            raise InvalidInputError(f"this log's origin is {self.origin!r}", field="log")
        key = self._key(session, statement.key)
        if key is None:
            raise PermissionDeniedError(f"key {statement.key} is not registered in this log")
        if signed_in_user is not None and key.username != signed_in_user.username:
            raise PermissionDeniedError("you may only append statements signed by your own key")
        encoded = verified or _verified(key, statement, signature)
        connection = connection_of(session)
        params = {"key": statement.key, "subject": statement.subject}
        query = (
            tables.PG_LOCK_AND_POSITIONS  # lock and read in one round trip
            if connection.dialect.name == "postgresql"
            else tables.POSITIONS  # SQLite: this unit of work holds the write lock
        )
        found = connection.execute(query, params).first()
        assert found is not None  # noqa: S101 - a SELECT of scalar subqueries has one row
        revoked, last, last_leaf, seq, seq_leaf = found
        if last is None:
            head = self._ensure_genesis(session, now)
            subject = _subject_head(connection, statement.subject)
        else:
            head = Head(int(last) + 1, bytes(last_leaf))
            subject = (
                SubjectHead(0, None) if seq is None else SubjectHead(int(seq) + 1, bytes(seq_leaf))
            )
        try:  # the one key rule, as every verifier applies it to the stored entry
            check_binding(
                replace(key.record, revoked=None if revoked is None else int(revoked)),
                key=statement.key,
                index=head.size,
                actor=statement.actor,
                key_entry=is_key_entry(statement.type, statement.subject),
                service_key=self.keys.service.key_id,
            )
        except KeyBindingError as e:
            raise PermissionDeniedError(str(e)) from None
        if (statement.subject_seq, statement.subject_prev) != (subject.next_seq, subject.prev):
            raise ConflictError(
                f"{statement.subject} has moved on: the next entry is number "
                f"{subject.next_seq} after {subject.prev.hex() if subject.prev else 'none'}; "
                "reload and sign again"
            )
        return self._write(session, statement, encoded, signature, head, now)

    def append_as_service(
        self,
        session: Session,
        *,
        subject: str,
        type: str,  # noqa: A002 - the format's own name
        now: datetime,
        what: dict[str, Any] | None = None,
        where: dict[str, Any] | None = None,
        why: dict[str, Any] | None = None,
    ) -> Appended:
        """Append an automatic event, signed with the service's key."""
        self._lock(session)
        head = self._ensure_genesis(session, now)
        service = self.keys.service
        if self._key(session, service.key_id) is None:
            raise ConfigurationError(
                "the service key in TRACE_KEY_DIR is not the one registered in this log"
            )
        return self._append_service_statement(
            session,
            head,
            now=now,
            subject=subject,
            type=type,
            what=what or {},
            where=where or {},
            why=why or {},
        )

    def _append_service_statement(
        self,
        session: Session,
        head: Head,
        *,
        now: datetime,
        subject: str,
        type: str,  # noqa: A002
        what: dict[str, Any],
        where: dict[str, Any],
        why: dict[str, Any],
    ) -> Appended:
        subject_head = read_subject_head(session, subject)
        statement = statements.validate(
            Statement(
                log=self.origin,
                subject=subject,
                subject_seq=subject_head.next_seq,
                subject_prev=subject_head.prev,
                type=type,
                when=statements.when_text(now),
                key=self.keys.service.key_id,
                actor=None,
                what=what,
                where=where,
                why=why,
            )
        )
        encoded = statement.encoded()
        signature = self.keys.service.sign(encoded.signed_message())
        return self._write(session, statement, encoded, signature, head, now)

    def _ensure_genesis(self, session: Session, now: datetime) -> Head:
        """The head, after writing entry 0 (the service key's registration) if the log is empty."""
        head = read_head(session)
        if head.size:
            return head
        service = self.keys.service
        what = {
            "algorithm": "ed25519",
            "public_key": base64.b64encode(service.public_key).decode("ascii"),
            "user": None,
            "label": "service key",
            "pop": base64.b64encode(
                service.sign(pop_message(service.key_id, self.origin, None))
            ).decode("ascii"),
        }
        appended = self._append_service_statement(
            session,
            head,
            now=now,
            subject=key_subject(service.key_id),
            type="key.registered",
            what=what,
            where={},
            why={},
        )
        session.connection().execute(
            tables.INSERT_KEY,
            {
                "key_id": service.key_id,
                "public_key": service.public_key,
                "user_id": None,
                "label": "service key",
                "registered_index": appended.index,
                "registered_at": now,
            },
        )
        return Head(appended.index + 1, appended.leaf_hash)

    def _write(
        self,
        session: Session,
        statement: Statement,
        encoded: EncodedStatement,
        signature: bytes,
        head: Head,
        now: datetime,
    ) -> Appended:
        raw = encoded.entry_bytes(index=head.size, prev=head.last_leaf, signature=signature)
        leaf = leaf_hash(raw)
        connection = connection_of(session)
        tree = StoredTree(session)
        frontier, nodes = extend(head.size, leaf, self._frontier(tree, head))
        tables.store_entry(
            connection,
            {
                "idx": head.size,
                "leaf_hash": leaf,
                "entry": raw,
                "subject": statement.subject,
                "subject_seq": statement.subject_seq,
                "subject_prev": statement.subject_prev,
                "entry_type": statement.type,
                "key_id": statement.key,
                "appended_at": now,
            },
            nodes,
        )
        size = head.size + 1
        self._remember(size, leaf, frontier)
        if size % self.checkpoint_every == 0:
            self._checkpoint(session, tree, Head(size, leaf), frontier, now)
        return Appended(index=head.size, leaf_hash=leaf, entry=raw)

    # --- checkpoints ---------------------------------------------------------------

    def issue_checkpoint(self, session: Session, *, now: datetime) -> CheckpointRow:
        """Sign the current tree head, unless the latest checkpoint already covers it."""
        self._lock(session)
        head = self._ensure_genesis(session, now)
        tree = StoredTree(session)
        return self._checkpoint(session, tree, head, self._frontier(tree, head), now)

    def _checkpoint(
        self,
        session: Session,
        tree: StoredTree,
        head: Head,
        frontier: list[bytes],
        now: datetime,
    ) -> CheckpointRow:
        latest = latest_checkpoint(session)
        if latest is not None and latest.size == head.size:
            return latest
        root = frontier_root(frontier)
        if latest is not None:
            # Never sign a head that does not extend what we signed before.
            try:
                proof = tree.consistency_proof(latest.size, head.size)
                verify_consistency(latest.size, head.size, proof, bytes(latest.root_hash), root)
            except (ProofError, TreeIntegrityError, ValueError) as e:
                raise TreeIntegrityError(
                    f"refusing to sign size {head.size}: not consistent with the checkpoint "
                    f"of size {latest.size} ({e})"
                ) from e
        checkpoint = Checkpoint(self.origin, head.size, root)
        note = sign_checkpoint(checkpoint, self.keys.log)
        row = CheckpointRow(
            size=head.size, root_hash=root, note=note.decode("utf-8"), issued_at=now
        )
        session.add(row)
        session.flush()
        self.add_own_cosignature(session, row, now=now)
        return row

    def add_own_cosignature(self, session: Session, row: CheckpointRow, *, now: datetime) -> None:
        """Cosign a checkpoint with the log's ML-DSA-44 key (c2sp.org/tlog-cosignature,
        type 0x06), beside its Ed25519 signature: the tree head stays provable if Ed25519
        falls. It states that this is the largest tree the log has signed, as of `now`."""
        cosigner = self.keys.cosigner
        timestamp = int(now.timestamp())
        line = cosigner.signature_line(
            Checkpoint(self.origin, row.size, row.root_hash).format(), timestamp
        )
        session.add(
            CheckpointCosignatureRow(
                size=row.size,
                cosigner=cosigner.name,
                key_id=f"{cosigner.key().key_id:08x}",
                algorithm=cosigner.algorithm,
                cosigned_at=timestamp,
                line=line,
                received_at=now,
            )
        )
        session.flush()


def latest_checkpoint(session: Session) -> CheckpointRow | None:
    return session.exec(
        select(CheckpointRow).order_by(col(CheckpointRow.size).desc()).limit(1)
    ).first()
