"""Statements: what an actor signs, and the entry bytes the log stores.

Plain Python, no database. The format is docs/custody-log.md: an entry is the RFC 8785
canonical JSON of the statement plus the log-assigned `index` and `prev` and the
actor's `sig`. Values are restricted (no floats) so that any verifier reproduces the
canonical bytes; this module refuses anything outside that space before signing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import rfc8785

from audit.entry import ENTRY_DOMAIN, FORMAT_VERSION, LOG_ASSIGNED, MEMBERS
from audit.tiles import MAX_ENTRY_SIZE
from traceability.clock import rfc3339
from traceability.domain.text import refused_character
from traceability.errors import InvalidInputError

MAX_INT = 2**53 - 1
MAX_SUBJECT_LENGTH = 512
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
WHEN_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")
SUBJECT_SCHEMES = ("https://", "http://", "urn:")

JsonObject = dict[str, Any]
STATEMENT_MEMBERS = frozenset(MEMBERS) - frozenset(LOG_ASSIGNED)
"""What an actor sends and signs: every entry member but the log-assigned ones."""


def check_log_value(value: object, path: str) -> None:
    """Refuse what the log's JSON may not hold (floats, huge ints, non-string keys,
    control characters in text)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        reason = refused_character(value)
        if reason is not None:
            raise InvalidInputError(f"{path}: {reason}", field=path)
        return
    if isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise InvalidInputError(
                f"{path}: integer out of the range JSON keeps exact", field=path
            )
        return
    if isinstance(value, float):
        raise InvalidInputError(
            f'{path}: decimal numbers go into the log as strings (e.g. "-151.2")', field=path
        )
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_log_value(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{path}: object keys must be strings", field=path)
            reason = refused_character(key)
            if reason is not None:
                raise InvalidInputError(f"{path}: a key's {reason}", field=path)
            check_log_value(item, f"{path}.{key}")
        return
    raise InvalidInputError(f"{path}: {type(value).__name__} cannot go into the log", field=path)


@dataclass(frozen=True)
class Statement:
    """Everything the actor signs: all of an entry but `index`, `prev` and `sig`."""

    log: str
    subject: str
    subject_seq: int
    subject_prev: bytes | None
    type: str
    when: str
    key: str
    actor: str | None
    what: JsonObject = field(default_factory=dict)
    where: JsonObject = field(default_factory=dict)
    why: JsonObject = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {
            "v": FORMAT_VERSION,
            "log": self.log,
            "subject": self.subject,
            "subject_seq": self.subject_seq,
            "subject_prev": self.subject_prev.hex() if self.subject_prev else None,
            "type": self.type,
            "when": self.when,
            "what": self.what,
            "where": self.where,
            "why": self.why,
            "key": self.key,
            "actor": self.actor,
        }

    def encoded(self) -> EncodedStatement:
        return EncodedStatement.of(self)

    def signed_message(self) -> bytes:
        return self.encoded().signed_message()


def canonical(value: Any) -> bytes:
    """The RFC 8785 form of a value the log may hold (it passed `check_log_value`, as
    every statement has, read by `statement_from_json` or built and `validate`d).

    For such values (strings, integers within 2**53, booleans, null, lists, objects
    with string keys) the standard library's sorted, compact JSON without ASCII
    escaping is RFC 8785's form, except where RFC 8785 orders keys by UTF-16 code
    units: that differs from code-point order only beyond U+D7FF. Such text, rare in a
    custody log, is left to `rfc8785` itself, as is anything the fast form refuses.
    The fast form is what every signed request's check costs, several times over."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return rfc8785.dumps(value)
    if text and max(text) >= "\ud800":
        return rfc8785.dumps(value)
    return text.encode()


@dataclass(frozen=True)
class EncodedStatement:
    """A statement's members, each already in RFC 8785 form.

    RFC 8785 writes an object as its members sorted by name, each value canonical. The
    signed message and the stored entry have the same members but three, so both are
    assembled from one encoding instead of canonicalizing the statement twice on the
    append path. Tests check the result against `rfc8785.dumps` of the whole body.
    """

    members: dict[str, bytes]

    @classmethod
    def of(cls, statement: Statement) -> EncodedStatement:
        return cls({name: canonical(value) for name, value in statement.to_json().items()})

    @staticmethod
    def _object(members: dict[str, bytes]) -> bytes:
        # Member names are fixed ASCII, so code-point order is RFC 8785's UTF-16 order.
        return (
            b"{"
            + b",".join(b'"' + name.encode() + b'":' + members[name] for name in sorted(members))
            + b"}"
        )

    def signed_message(self) -> bytes:
        return ENTRY_DOMAIN + self._object(self.members)

    def entry_bytes(self, *, index: int, prev: bytes | None, signature: bytes) -> bytes:
        members = dict(self.members)
        members["index"] = str(index).encode()
        members["prev"] = b'"' + prev.hex().encode() + b'"' if prev is not None else b"null"
        members["sig"] = b'"' + base64.b64encode(signature) + b'"'
        raw = self._object(members)
        if len(raw) > MAX_ENTRY_SIZE:
            # The log is published as tlog-tiles, whose bundles give each entry a uint16 length.
            raise InvalidInputError(
                f"the entry would be {len(raw)} bytes; the log holds entries of at most "
                f"{MAX_ENTRY_SIZE} bytes: record less in one statement"
            )
        return raw


def entry_bytes(statement: Statement, *, index: int, prev: bytes | None, signature: bytes) -> bytes:
    return statement.encoded().entry_bytes(index=index, prev=prev, signature=signature)


def when_text(moment: datetime) -> str:
    return rfc3339(moment)


def _string(data: Mapping[str, Any], name: str, prefix: str, *, max_length: int = 200) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInputError(
            f"{prefix}{name} must be a non-empty string", field=f"{prefix}{name}"
        )
    if len(value) > max_length:
        raise InvalidInputError(
            f"{prefix}{name} is longer than {max_length} characters", field=f"{prefix}{name}"
        )
    return value


def _hash_or_none(value: object, name: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str) or not HASH_PATTERN.fullmatch(value):
        raise InvalidInputError(f"{name} must be 64 lowercase hex digits or null", field=name)
    return bytes.fromhex(value)


def _object(data: Mapping[str, Any], name: str, prefix: str) -> JsonObject:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise InvalidInputError(f"{prefix}{name} must be an object", field=f"{prefix}{name}")
    check_log_value(value, f"{prefix}{name}")
    return value


SIGNED_AHEAD = timedelta(minutes=5)
SIGNED_BEHIND = timedelta(minutes=15)
"""How far a person's signed `when` may be from the server's clock when it arrives: a
device's clock may run a little fast, and a request may take a while on a courier's
network, but a GxP record must not be backdated or dated ahead (ALCOA: contemporaneous).
The log orders entries by index; `when` is what people read."""


def check_when_near(statement: Statement, now: datetime) -> None:
    """Refuse a statement signed at a time far from `now` (the server's UTC clock)."""
    when = datetime.fromisoformat(statement.when.replace("Z", "+00:00"))
    if when > now + SIGNED_AHEAD or when < now - SIGNED_BEHIND:
        raise InvalidInputError(
            f"when is {statement.when} but the server's clock says {rfc3339(now)}: "
            "set the device's clock right (UTC) and sign again",
            field="when",
        )


def validate(statement: Statement) -> Statement:
    """Check a statement against the format before anything is signed or stored."""
    if not statement.subject.startswith(SUBJECT_SCHEMES):
        raise InvalidInputError(
            "subject must be an https URI (Digital Link) or a urn", field="subject"
        )
    if len(statement.subject) > MAX_SUBJECT_LENGTH:
        raise InvalidInputError("subject is too long", field="subject")
    if not TYPE_PATTERN.fullmatch(statement.type):
        raise InvalidInputError("type must look like 'custody.handover.accepted'", field="type")
    if not WHEN_PATTERN.fullmatch(statement.when):
        raise InvalidInputError("when must be RFC 3339 UTC ending in Z", field="when")
    try:
        datetime.fromisoformat(statement.when.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError("when is not a real date and time", field="when") from None
    if not KEY_ID_PATTERN.fullmatch(statement.key):
        raise InvalidInputError("key must be a key id (32 lowercase hex digits)", field="key")
    if not 0 <= statement.subject_seq <= MAX_INT:
        raise InvalidInputError("subject_seq must be a non-negative integer", field="subject_seq")
    if (statement.subject_seq == 0) != (statement.subject_prev is None):
        raise InvalidInputError(
            "subject_prev is null exactly when subject_seq is 0", field="subject_prev"
        )
    for name in ("what", "where", "why"):
        check_log_value(getattr(statement, name), name)
    return statement


def statement_from_json(data: Mapping[str, Any]) -> Statement:
    """Read a statement sent by a client (browser or CLI); field names in errors."""
    if data.get("v", FORMAT_VERSION) != FORMAT_VERSION:
        raise InvalidInputError(f"v must be {FORMAT_VERSION}", field="v")
    unknown = set(data) - STATEMENT_MEMBERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInputError(f"{name} is not part of a statement", field=name)
    seq = data.get("subject_seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise InvalidInputError("subject_seq must be an integer", field="subject_seq")
    actor = data.get("actor")
    if actor is not None and not isinstance(actor, str):
        raise InvalidInputError("actor must be a username or null", field="actor")
    return validate(
        Statement(
            log=_string(data, "log", ""),
            subject=_string(data, "subject", "", max_length=MAX_SUBJECT_LENGTH),
            subject_seq=seq,
            subject_prev=_hash_or_none(data.get("subject_prev"), "subject_prev"),
            type=_string(data, "type", ""),
            when=_string(data, "when", ""),
            key=_string(data, "key", ""),
            actor=actor,
            what=_object(data, "what", ""),
            where=_object(data, "where", ""),
            why=_object(data, "why", ""),
        )
    )
