"""Who may sign which entry: the one key rule of the custody log (docs/custody-log.md, Keys).

An entry's signature counts only if the key that made it was, at the entry's index,
bound to the entry's actor by the log itself:

* the key's registration entry is in the log below the entry's index (the log's first
  entry, index 0, registers the service key and is signed by that key itself);
* the registration names the entry's ``actor`` as the key's user (``null`` for the
  service key), so an entry cannot claim one person and carry another's key;
* no revocation of the key lies below the entry's index;
* key entries (registrations and revocations, subject ``urn:trace:key:...``) are
  signed by the service key, the one registered at index 0, and carry no actor; only
  index 0 registers a key with no user;
* the proof of possession in the registration verified (``audit.entry``
  ``parse_key_registration`` refuses to return a registration whose proof fails).

The writer (before it appends), ``verify-log``, the batch checks of the service and
the bundle verifier all decide with ``check_binding``; ``KeyHistory`` keeps the keys
a verifier has seen in index order and applies it. This module decides bindings only:
the Ed25519 check of the signature itself is ``audit.entry.KeyRing.verify`` (or
``KeyHistory.verify``, which does both), so that a verifier may run the signature
checks on many cores and the bindings in order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from audit.entry import (
    KEY_REGISTERED,
    KEY_SUBJECT_PREFIX,
    Entry,
    KeyRegistration,
    KeyRing,
    parse_key_registration,
)
from audit.errors import VerificationError

__all__ = [
    "ActorMismatchError",
    "KeyBindingError",
    "KeyHistory",
    "KeyRecord",
    "RevokedKeyError",
    "ServiceKeyError",
    "UnknownKeyError",
    "check_binding",
    "is_key_entry",
]


class KeyBindingError(VerificationError):
    """The key that signed an entry was not bound to its actor at its index.

    ``kind`` is the finding a verifier reports: unknown-key, revoked-key, wrong-actor or
    key-entry.
    """

    kind = "key-binding"


class UnknownKeyError(KeyBindingError):
    kind = "unknown-key"


class RevokedKeyError(KeyBindingError):
    kind = "revoked-key"


class ActorMismatchError(KeyBindingError):
    kind = "wrong-actor"


class ServiceKeyError(KeyBindingError):
    """A key entry not signed by the service key, or a second key with no user."""

    kind = "key-entry"


@dataclass(frozen=True)
class KeyRecord:
    """What the log says of one key: whose it is, and where it was registered and revoked."""

    key: str
    public_key: bytes
    user: str | None
    """The key's user; None for the service key."""
    registered: int
    """Index of the registering entry."""
    revoked: int | None = None
    """Index of the first revoking entry, if any."""

    @classmethod
    def of(cls, registration: KeyRegistration, revoked: int | None = None) -> KeyRecord:
        return cls(
            key=registration.key,
            public_key=registration.public_key,
            user=registration.user,
            registered=registration.index,
            revoked=revoked,
        )


def is_key_entry(entry_type: str, subject: str) -> bool:
    """Whether an entry is about a key (registration, revocation): the service signs those."""
    return subject.startswith(KEY_SUBJECT_PREFIX) or entry_type.startswith("key.")


def check_binding(
    record: KeyRecord | None,
    *,
    key: str,
    index: int,
    actor: str | None,
    key_entry: bool,
    service_key: str | None,
) -> KeyRecord:
    """The record of ``key`` if it may sign an entry at ``index`` claiming ``actor``.

    ``record`` is what the log says of ``key`` (None if it never registered it);
    ``service_key`` the id of the key registered at index 0 (None while unknown, which
    only the genesis entry may be signed under). Raises a ``KeyBindingError`` naming
    what is wrong.
    """
    if record is None or record.key != key:
        raise UnknownKeyError(f"key {key} is not registered in this log")
    if record.registered > index or (record.registered == index and index != 0):
        raise UnknownKeyError(f"key {key} is registered at index {record.registered}, after this")
    if record.revoked is not None and record.revoked < index:
        raise RevokedKeyError(f"key {key} was revoked at index {record.revoked}")
    if record.user is None and record.registered != 0:
        raise ServiceKeyError(
            f"key {key} was registered at index {record.registered} with no user: only the "
            "log's first entry registers the service key"
        )
    if key_entry and (key != service_key or actor is not None):
        raise ServiceKeyError(f"a key entry must be signed by the service key, not by {key}")
    if actor != record.user:
        owner = "the service" if record.user is None else record.user
        claimed = "the service" if actor is None else actor
        raise ActorMismatchError(f"the entry claims {claimed} but key {key} belongs to {owner}")
    return record


class KeyHistory:
    """The keys a verifier has met, in index order, and the rule applied to them.

    Feed it each key entry (``register``, ``revoke``) as the verifier reaches its index,
    after the entry itself has been checked; then ``binding`` or ``verify`` answers for
    any later entry. A key registered twice keeps its first registration, and a key
    revoked twice its first revocation: a later entry cannot widen what an earlier
    one allowed.
    """

    def __init__(self) -> None:
        self._records: dict[str, KeyRecord] = {}
        self._ring = KeyRing({})
        self.service_key: str | None = None
        """The key registered at index 0, once met."""

    def record(self, key: str) -> KeyRecord | None:
        return self._records.get(key)

    def records(self) -> list[KeyRecord]:
        return sorted(self._records.values(), key=lambda r: r.registered)

    def register(self, registration: KeyRegistration) -> None:
        if registration.key in self._records:
            return
        self._records[registration.key] = KeyRecord.of(registration)
        self._ring.add(registration.public_key)
        if registration.index == 0 and registration.user is None:
            self.service_key = registration.key

    def revoke(self, key: str, index: int) -> None:
        record = self._records.get(key)
        if record is not None and record.revoked is None:
            self._records[key] = replace(record, revoked=index)

    def binding(
        self, *, key: str, index: int, actor: str | None, entry_type: str, subject: str
    ) -> KeyRecord:
        """``check_binding`` for an entry, with what this history knows of its key."""
        return check_binding(
            self._records.get(key),
            key=key,
            index=index,
            actor=actor,
            key_entry=is_key_entry(entry_type, subject),
            service_key=self.service_key,
        )

    def verify(self, entry: Entry) -> KeyRecord:
        """The record of the key that validly signed ``entry``: its binding, then its
        signature. Raises ``KeyBindingError`` or ``SignatureError``.

        The genesis entry (index 0, registering the key that signs it) is checked with
        the key it registers; the caller registers it afterwards.
        """
        record = self._records.get(entry.key)
        if record is None and entry.index == 0:
            return self._genesis(entry)
        record = self.binding(
            key=entry.key,
            index=entry.index,
            actor=entry.actor,
            entry_type=entry.type,
            subject=entry.subject,
        )
        self._ring.verify(entry)
        return record

    def _genesis(self, entry: Entry) -> KeyRecord:
        if entry.type != KEY_REGISTERED:
            raise UnknownKeyError(f"entry 0 must register the service key, not be {entry.type}")
        registration = parse_key_registration(entry)
        record = KeyRecord.of(registration)
        check_binding(
            record,
            key=entry.key,
            index=0,
            actor=entry.actor,
            key_entry=True,
            service_key=registration.key,
        )
        KeyRing({registration.key: registration.public_key}).verify(entry)
        return record
