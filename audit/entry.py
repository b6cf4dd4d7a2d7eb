"""Custody-log entries (docs/custody-log.md, version 1): parse, check, verify signatures.

An entry is the RFC 8785 canonical JSON of one object, the body. The log
stores those exact bytes and hashes them as a Merkle leaf; the actor's
Ed25519 signature covers::

    "trace-log-entry-v1\\n" || canonical JSON of the body without "index", "prev", "sig"

``parse_entry`` checks stored bytes against the contract, member by member:
canonical form, ``v`` = 1, every member of the contract's table present with
its type and no other member, hashes as 64 lowercase hex digits, ``prev``
null exactly at index 0, ``subject_prev`` null exactly at ``subject_seq`` 0,
``when`` an existing RFC 3339 UTC time ending in ``Z``, ``key`` a key id,
``sig`` the canonical base64 of 64 bytes. ``verify_signature`` then checks
the signature with a public key the caller found registered.

Key registrations and revocations are entries too (subject
``urn:trace:key:<key id>``); ``parse_key_registration`` also checks the new
key's proof of possession, which binds it to this log and this user.

What this module leaves to the caller (the log verifier): which key may sign
at which index (registration before use, no revocation before), the hash
chains (``prev``, ``subject_prev``) across entries, and Merkle inclusion.

A stored entry that breaks the contract raises ``EntryFormatError``; a
signature or proof of possession that does not verify raises
``SignatureError`` (both ``VerificationError``); caller mistakes raise
``FormatError``. This module must never re-serialize an entry to compute its
hash, never trust a member it has not checked, and never return a
``KeyRegistration`` whose proof of possession did not verify.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.canonical_json import canonicalize, parse_canonical
from audit.encoding import b64decode_strict
from audit.errors import (
    CanonicalJsonError,
    EntryFormatError,
    FormatError,
    SignatureError,
)
from audit.merkle import leaf_hash

__all__ = [
    "ENTRY_DOMAIN",
    "FORMAT_VERSION",
    "KEY_REGISTERED",
    "KEY_REVOKED",
    "KEY_SUBJECT_PREFIX",
    "LOG_ASSIGNED",
    "MAX_ENTRY_SIZE",
    "MEMBERS",
    "POP_DOMAIN",
    "Entry",
    "EntryFields",
    "KeyRegistration",
    "key_id",
    "parse_entry",
    "parse_entry_fields",
    "parse_key_registration",
    "parse_key_revocation",
    "pop_message",
    "signed_message_for",
    "verify_signature",
]

FORMAT_VERSION = 1
"""Value of the ``v`` member."""

ENTRY_DOMAIN = b"trace-log-entry-v1\n"
"""Prefix of the message an actor signs for an entry."""

POP_DOMAIN = b"trace-key-pop-v1\n"
"""Prefix of the message a new key signs to prove possession."""

MAX_ENTRY_SIZE = 0xFFFF
"""The largest entry the log holds, in bytes: a tiles entry bundle prefixes each entry
with its length as a uint16 (c2sp.org/tlog-tiles), and the writer refuses anything
longer. Readers of untrusted copies (tiles, bundles) refuse longer entries unread."""

LOG_ASSIGNED = ("index", "prev", "sig")
"""Members left out of the signed message (the log's position, and the signature itself)."""

KEY_SUBJECT_PREFIX = "urn:trace:key:"
"""Subject of a key's registration and revocation, followed by the key id."""

KEY_REGISTERED = "key.registered"
"""Entry type of a key registration."""

KEY_REVOKED = "key.revoked"
"""Entry type of a key revocation."""

MEMBERS = (
    "v",
    "log",
    "index",
    "prev",
    "subject",
    "subject_seq",
    "subject_prev",
    "type",
    "when",
    "what",
    "where",
    "why",
    "key",
    "actor",
    "sig",
)
"""Every member of an entry body: all are required, and no other is allowed."""

_MEMBER_SET = frozenset(MEMBERS)

_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_HASH_HEX = re.compile(r"[0-9a-f]{64}")
# RFC 3339 date-time in UTC with "Z"; ASCII digits only ([0-9], not \d).
_WHEN = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?Z"
)
_REGISTRATION_MEMBERS = frozenset({"algorithm", "public_key", "user", "label", "pop"})
_REVOCATION_MEMBERS = frozenset({"reason"})


# --- key ids and messages -----------------------------------------------------


def key_id(public_key: bytes) -> str:
    """Key id of a 32-byte Ed25519 public key: hex of the first 16 bytes of its SHA-256."""
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != _ED25519_KEY_SIZE:
        raise FormatError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(bytes(public_key)).digest()[:16].hex()


def signed_message_for(statement: Mapping[str, object]) -> bytes:
    """The message an actor signs for ``statement`` (an entry body, with or without
    ``index``, ``prev`` and ``sig``, which are left out).

    Raises ``FormatError`` (``CanonicalJsonError``) if a value is outside the
    canonical JSON value space. It does not check the statement against the
    contract: ``parse_entry`` does that on the finished entry.
    """
    if not isinstance(statement, Mapping):
        raise FormatError("a statement is a mapping of member names to values")
    return ENTRY_DOMAIN + canonicalize(
        {k: v for k, v in statement.items() if k not in LOG_ASSIGNED}
    )


def pop_message(key: str, log: str, user: str | None) -> bytes:
    """The message a new key signs as its proof of possession.

    ``"trace-key-pop-v1\\n" || canonical JSON of {"key": key, "log": log, "user": user}``.
    """
    if not isinstance(key, str) or not _KEY_ID.fullmatch(key):
        raise FormatError("a key id is 32 lowercase hex digits")
    if not isinstance(log, str) or not log:
        raise FormatError("log must be the log's origin")
    if user is not None and (not isinstance(user, str) or not user):
        raise FormatError("user must be a username or None")
    return POP_DOMAIN + canonicalize({"key": key, "log": log, "user": user})


# --- entries ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored entry whose bytes passed ``parse_entry``.

    Its signature is not verified: call ``verify_signature`` with the public
    key registered under ``key`` before trusting anything it says.
    """

    raw: bytes = field(repr=False)
    """The exact stored bytes (canonical JSON)."""
    leaf_hash: bytes
    """SHA-256(0x00 || raw): the entry's Merkle leaf and the next entry's ``prev``."""
    index: int
    prev: bytes | None
    subject: str
    subject_seq: int
    subject_prev: bytes | None
    type: str
    when: str
    key: str
    actor: str | None
    signature: bytes
    log: str
    body: dict[str, object] = field(repr=False, hash=False)
    """The parsed body. Do not modify it."""
    signed_message: bytes = field(repr=False)
    """ENTRY_DOMAIN || canonical JSON of the body without index, prev and sig."""

    @property
    def what(self) -> dict[str, object]:
        return _object_member(self.body, "what")

    @property
    def where(self) -> dict[str, object]:
        return _object_member(self.body, "where")

    @property
    def why(self) -> dict[str, object]:
        return _object_member(self.body, "why")


def _object_member(body: dict[str, object], name: str) -> dict[str, object]:
    value = body[name]
    if not isinstance(value, dict):  # parse_entry guarantees it; this is for mypy
        raise EntryFormatError(f"entry member {name!r} must be an object")
    return value


def _fail(name: str, problem: str) -> EntryFormatError:
    return EntryFormatError(f"entry member {name!r} {problem}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_CONTROL = re.compile("[\x00-\x1f]")


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _text(body: dict[str, object], name: str, *, escape_free: bool = False) -> str:
    """``body[name]`` as non-empty text without control characters.

    ``escape_free``: the canonical bytes the body came from hold no backslash, so no
    string in it holds a control character (canonical JSON escapes every one) and the
    search for one can be skipped.
    """
    value = body[name]
    if not isinstance(value, str):
        raise _fail(name, "must be a string")
    if not value:
        raise _fail(name, "must not be empty")
    if not escape_free and _has_control(value):
        raise _fail(name, "must not contain control characters")
    return value


def _count(body: dict[str, object], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, "must be an integer")
    if value < 0:
        raise _fail(name, "must not be negative")
    return value


def _hash_or_null(body: dict[str, object], name: str) -> bytes | None:
    value = body[name]
    if value is None:
        return None
    if not isinstance(value, str) or not _HASH_HEX.fullmatch(value):
        raise _fail(name, "must be null or 64 lowercase hex digits")
    return bytes.fromhex(value)


def _check_when(value: str) -> None:
    match = _WHEN.fullmatch(value)
    if match is None:
        raise _fail("when", "must be an RFC 3339 UTC time ending in Z, like 2026-11-25T12:00:00Z")
    # Verifiers check this once per entry: the C ISO parser checks the same date and time
    # ranges as datetime() at a third of the cost of six int() calls. Hour, minute and
    # second are held below 24 and 60 here, whatever a Python version's parser would make
    # of "24:00:00" or a leap second; anything it refuses goes on to datetime() for the
    # message.
    if value[11:13] < "24" and value[14:16] < "60" and value[17:19] < "60":
        try:
            datetime.fromisoformat(value[:19])
        except ValueError:
            pass
        else:
            return
    year, month, day, hour, minute, second = map(int, match.groups())
    try:
        datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as e:
        raise _fail("when", f"is not an existing date and time: {e}") from e


def _key_subject_id(subject: str) -> str | None:
    """The key id of a ``urn:trace:key:<key id>`` subject, None for other subjects."""
    if not subject.startswith(KEY_SUBJECT_PREFIX):
        return None
    kid = subject[len(KEY_SUBJECT_PREFIX) :]
    if not _KEY_ID.fullmatch(kid):
        raise _fail("subject", f"must be {KEY_SUBJECT_PREFIX} and 32 lowercase hex digits")
    return kid


def _without_log_assigned(raw: bytes) -> bytes:
    """The canonical bytes of the body without ``index``, ``prev`` and ``sig``, cut from ``raw``.

    Only for bytes ``parse_canonical`` accepted with exactly ``MEMBERS``: canonical
    JSON writes members sorted (actor, index, key, log, prev, sig, subject, ...), each
    value canonical, so dropping three members is dropping their bytes. The members
    before them hold only strings, integers and null, and an unescaped quote cannot
    occur inside a string, so the first ``,"index":`` and ``,"prev":`` are the top-level
    members. This equals ``canonicalize`` of the smaller object (the tests check it)
    and saves a second encoding per entry in verifiers.
    """
    start = raw.index(b',"index":')
    end = raw.index(b",", start + 9)
    cut = raw[:start] + raw[end:]
    start = cut.index(b',"prev":')
    sig = cut.index(b',"sig":"', start)
    end = cut.index(b'"', sig + 8) + 1
    return cut[:start] + cut[end:]


_Members = tuple[
    dict[str, object],  # body
    str,  # log
    int,  # index
    bytes | None,  # prev
    str,  # subject
    int,  # subject_seq
    bytes | None,  # subject_prev
    str,  # type
    str,  # when
    str,  # key
    str | None,  # actor
    bytes,  # signature
]
"""Every member of a body that passed ``_check_entry``, converted, in this order."""


def _check_entry(raw: bytes) -> _Members:
    """The checks of ``parse_entry``, shared with ``parse_entry_fields`` so they never differ."""
    try:
        body = parse_canonical(raw)
    except CanonicalJsonError as e:
        raise EntryFormatError(f"entry is not canonical JSON: {e}") from e
    if not isinstance(body, dict):
        raise EntryFormatError("entry is not a JSON object")
    if body.keys() != _MEMBER_SET:
        unknown = sorted(set(body) - _MEMBER_SET)
        if unknown:
            raise EntryFormatError(f"entry has unknown members: {', '.join(map(repr, unknown))}")
        missing = [name for name in MEMBERS if name not in body]
        raise EntryFormatError(f"entry lacks members: {', '.join(map(repr, missing))}")
    escape_free = b"\\" not in raw

    version = body["v"]
    if not _is_int(version) or version != FORMAT_VERSION:
        raise _fail("v", f"must be {FORMAT_VERSION}")
    log = _text(body, "log", escape_free=escape_free)
    index = _count(body, "index")
    prev = _hash_or_null(body, "prev")
    if (prev is None) != (index == 0):
        raise _fail("prev", "must be null at index 0 and a hash everywhere else")
    subject = _text(body, "subject", escape_free=escape_free)
    _key_subject_id(subject)
    subject_seq = _count(body, "subject_seq")
    subject_prev = _hash_or_null(body, "subject_prev")
    if (subject_prev is None) != (subject_seq == 0):
        raise _fail("subject_prev", "must be null when subject_seq is 0 and a hash otherwise")
    entry_type = _text(body, "type", escape_free=escape_free)
    when = body["when"]
    if not isinstance(when, str):
        raise _fail("when", "must be a string")
    _check_when(when)
    for name in ("what", "where", "why"):
        if not isinstance(body[name], dict):
            raise _fail(name, "must be an object")
    key = body["key"]
    if not isinstance(key, str) or not _KEY_ID.fullmatch(key):
        raise _fail("key", "must be 32 lowercase hex digits")
    actor = None if body["actor"] is None else _text(body, "actor", escape_free=escape_free)
    sig = body["sig"]
    if not isinstance(sig, str):
        raise _fail("sig", "must be a string")
    try:
        signature = b64decode_strict(sig)
    except FormatError as e:
        raise _fail("sig", f"is not canonical standard base64: {e}") from e
    if len(signature) != _ED25519_SIG_SIZE:
        raise _fail("sig", "must encode exactly 64 bytes")
    return (
        body,
        log,
        index,
        prev,
        subject,
        subject_seq,
        subject_prev,
        entry_type,
        when,
        key,
        actor,
        signature,
    )


def _entry_bytes(raw: object) -> bytes:
    if not isinstance(raw, bytes | bytearray):
        raise FormatError(f"an entry is bytes, not {type(raw).__name__}")
    return bytes(raw)


def parse_entry(raw: bytes) -> Entry:
    """Parse and check stored entry bytes against the custody-log contract.

    Raises ``EntryFormatError`` naming the member at fault. The signature is
    not verified here (see ``verify_signature``).
    """
    raw = _entry_bytes(raw)
    body, log, index, prev, subject, subject_seq, subject_prev, type_, when, key, actor, sig = (
        _check_entry(raw)
    )
    return Entry(
        raw=raw,
        leaf_hash=leaf_hash(raw),
        index=index,
        prev=prev,
        subject=subject,
        subject_seq=subject_seq,
        subject_prev=subject_prev,
        type=type_,
        when=when,
        key=key,
        actor=actor,
        signature=sig,
        log=log,
        body=body,
        signed_message=ENTRY_DOMAIN + _without_log_assigned(raw),
    )


@dataclass(frozen=True, slots=True)
class EntryFields:
    """The members of a stored entry that a log verifier compares, from ``parse_entry_fields``.

    Its signature is not verified: ``KeyRing.verify`` does that.
    """

    leaf_hash: bytes
    """SHA-256(0x00 || raw)."""
    index: int
    prev: bytes | None
    subject: str
    subject_seq: int
    subject_prev: bytes | None
    type: str
    key: str
    signature: bytes
    signed_message: bytes
    """ENTRY_DOMAIN || canonical JSON of the body without index, prev and sig."""
    actor: str | None
    """Who the entry says signed it: bound to ``key`` only by ``audit.signers``."""


def parse_entry_fields(raw: bytes) -> EntryFields:
    """``parse_entry`` with every one of its checks, returning only what a log verifier compares.

    A verifier of a whole log calls this once per entry: an ``EntryFields`` tuple costs
    a fraction of an ``Entry``, which matters beside a signature check. Raises as
    ``parse_entry`` does. Use ``parse_entry`` for anything that reads ``what``,
    ``where``, ``why``, ``when``, ``actor`` or ``log`` (key entries, for one).
    """
    raw = _entry_bytes(raw)
    _, _, index, prev, subject, subject_seq, subject_prev, type_, _, key, actor, sig = _check_entry(
        raw
    )
    return EntryFields(
        leaf_hash(raw),
        index,
        prev,
        subject,
        subject_seq,
        subject_prev,
        type_,
        key,
        sig,
        ENTRY_DOMAIN + _without_log_assigned(raw),
        actor,
    )


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature as e:
        raise SignatureError(f"{what} does not verify") from e
    except ValueError as e:
        raise SignatureError(f"{what}: not a usable Ed25519 public key") from e


def verify_signature(entry: Entry, public_key: bytes) -> None:
    """Return None if ``entry`` carries a valid signature by ``public_key``.

    Raises ``SignatureError`` if ``public_key`` is not the key the entry
    names (``key_id(public_key) != entry.key``) or the signature does not
    verify, and ``FormatError`` if ``public_key`` is not 32 bytes.
    """
    if not isinstance(entry, Entry):
        raise FormatError("verify_signature needs an Entry from parse_entry")
    kid = key_id(public_key)
    if kid != entry.key:
        raise SignatureError(f"entry {entry.index} names key {entry.key}, not the given key {kid}")
    _ed25519_verify(
        bytes(public_key),
        entry.signature,
        entry.signed_message,
        f"signature of entry {entry.index} by key {kid}",
    )


class KeyRing:
    """Public keys by key id, parsed once: for verifiers that check many entries.

    ``verify_signature`` re-derives the key id and the key object on every call; a
    verifier checking a whole log holds a ring instead and calls ``verify``.
    """

    def __init__(self, public_keys: Mapping[str, bytes]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, public in public_keys.items():
            if key_id(public) != kid:
                raise FormatError(f"key {kid} is not the id of the public key given for it")
            self._keys[kid] = Ed25519PublicKey.from_public_bytes(bytes(public))

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def add(self, public_key: bytes) -> str:
        kid = key_id(public_key)
        self._keys.setdefault(kid, Ed25519PublicKey.from_public_bytes(bytes(public_key)))
        return kid

    def verify(self, entry: Entry | EntryFields) -> None:
        """Raise ``SignatureError`` unless the entry's named key signed it (KeyError if unknown)."""
        try:
            self._keys[entry.key].verify(entry.signature, entry.signed_message)
        except InvalidSignature as e:
            raise SignatureError(
                f"signature of entry {entry.index} by key {entry.key} does not verify"
            ) from e


# --- keys -----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRegistration:
    """A key registration whose proof of possession verified.

    The registering entry's own signature (by the service key, or by this key
    at index 0) is the caller's to verify with ``verify_signature``.
    """

    key: str
    """The registered key's id."""
    public_key: bytes
    user: str | None
    """The user the key belongs to; None for the service key."""
    label: str
    index: int
    """Index of the registering entry."""


def _what_exactly(entry: Entry, members: frozenset[str]) -> dict[str, object]:
    what = entry.what
    if set(what) != members:
        raise _fail(
            "what",
            f"of a {entry.type} entry must have exactly the members {', '.join(sorted(members))}",
        )
    return what


def _key_entry_id(entry: Entry, entry_type: str) -> str:
    if not isinstance(entry, Entry):
        raise FormatError("needs an Entry from parse_entry")
    if entry.type != entry_type:
        raise _fail("type", f"must be {entry_type}, not {entry.type!r}")
    kid = _key_subject_id(entry.subject)
    if kid is None:
        raise _fail("subject", f"of a {entry_type} entry must be {KEY_SUBJECT_PREFIX}<key id>")
    # The service key signs registrations and revocations, and its entries carry no actor.
    if entry.actor is not None:
        raise _fail("actor", f"of a {entry_type} entry must be null (the service key signs it)")
    return kid


def parse_key_registration(entry: Entry) -> KeyRegistration:
    """The key a ``key.registered`` entry registers, after checking its proof of possession.

    Raises ``EntryFormatError`` if the entry is not a well-formed registration
    (wrong type or subject, ``actor`` not null, ``subject_seq`` not 0, ``what`` not exactly
    algorithm/public_key/user/label/pop, a public key that does not match the
    subject's key id) and ``SignatureError`` if the proof of possession does
    not verify for this key, this log and this user.
    """
    kid = _key_entry_id(entry, KEY_REGISTERED)
    if entry.subject_seq != 0:
        raise _fail("subject_seq", "of a key registration must be 0")
    what = _what_exactly(entry, _REGISTRATION_MEMBERS)
    if what["algorithm"] != "ed25519":
        raise _fail("what.algorithm", 'must be "ed25519"')
    public_key = _b64_member(what, "public_key", _ED25519_KEY_SIZE)
    if key_id(public_key) != kid:
        raise _fail("what.public_key", f"does not have the key id {kid} of the subject")
    user = what["user"]
    if user is not None and (not isinstance(user, str) or not user or _has_control(user)):
        raise _fail("what.user", "must be null or a username")
    label = what["label"]
    if not isinstance(label, str):
        raise _fail("what.label", "must be a string")
    pop = _b64_member(what, "pop", _ED25519_SIG_SIZE)
    _ed25519_verify(
        public_key,
        pop,
        pop_message(kid, entry.log, user),
        f"proof of possession of key {kid} in entry {entry.index}",
    )
    return KeyRegistration(
        key=kid, public_key=public_key, user=user, label=label, index=entry.index
    )


def _b64_member(what: dict[str, object], name: str, size: int) -> bytes:
    value = what[name]
    if not isinstance(value, str):
        raise _fail(f"what.{name}", "must be a base64 string")
    try:
        raw = b64decode_strict(value)
    except FormatError as e:
        raise _fail(f"what.{name}", f"is not canonical standard base64: {e}") from e
    if len(raw) != size:
        raise _fail(f"what.{name}", f"must encode exactly {size} bytes")
    return raw


def parse_key_revocation(entry: Entry) -> tuple[str, int]:
    """The revoked key id and the revoking entry's index, from a ``key.revoked`` entry.

    Raises ``EntryFormatError`` unless the type is ``key.revoked``, the
    subject is the key's, ``actor`` is null, ``subject_seq`` is at least 1 (0 is the
    registration) and ``what`` is exactly ``{"reason": <string>}``.
    """
    kid = _key_entry_id(entry, KEY_REVOKED)
    if entry.subject_seq < 1:
        raise _fail("subject_seq", "of a key revocation must follow the registration (>= 1)")
    what = _what_exactly(entry, _REVOCATION_MEMBERS)
    if not isinstance(what["reason"], str):
        raise _fail("what.reason", "must be a string")
    return kid, entry.index
