"""Registering and revoking the keys that sign log statements.

A person registers a public key (from a browser's WebCrypto or a CLI key file) with a
proof of possession: the key's signature over its own id, the log's origin and the
user's name. The registration and any revocation are log entries signed by the
service key, so an auditor sees from the log alone which key was valid at which index.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from audit.entry import key_id as compute_key_id
from audit.entry import pop_message
from traceability.custody_log import audit_trail
from traceability.custody_log.appender import CustodyLog, key_subject
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.errors import ConflictError, InvalidInputError, NotFoundError
from traceability.storage.models import ActorKey, KeyRevocation, User

MAX_LABEL = 200


def decode_base64(value: str, *, field: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"{field} is not valid base64", field=field) from None
    if len(raw) != length:
        raise InvalidInputError(f"{field} must be {length} bytes", field=field)
    return raw


def register_key(
    session: Session,
    log: CustodyLog,
    *,
    user: User,
    actor: Actor,
    public_key: bytes,
    label: str,
    pop: bytes,
    now: datetime,
) -> ActorKey:
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise InvalidInputError(f"label must be 1-{MAX_LABEL} characters", field="label")
    key_id = compute_key_id(public_key)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            pop, pop_message(key_id, log.origin, user.username)
        )
    except InvalidSignature:
        raise InvalidInputError(
            "the proof of possession does not verify: sign "
            "'trace-key-pop-v1\\n' + canonical JSON of {key, log, user} with the new key",
            field="pop",
        ) from None
    if session.get(ActorKey, key_id) is not None:
        raise ConflictError(f"key {key_id} is already registered")
    appended = log.append_as_service(
        session,
        subject=key_subject(key_id),
        type="key.registered",
        now=now,
        what={
            "algorithm": "ed25519",
            "public_key": base64.b64encode(public_key).decode("ascii"),
            "user": user.username,
            "label": label,
            "pop": base64.b64encode(pop).decode("ascii"),
        },
    )
    key = ActorKey(
        key_id=key_id,
        public_key=public_key,
        user_id=user.id,
        label=label,
        registered_index=appended.index,
        registered_at=now,
    )
    session.add(key)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="register",
        record_type="key",
        record_id=key_id,
        changes=diff(None, {"user": user.username, "label": label, "log_index": appended.index}),
    )
    return key


def revoke_key(
    session: Session,
    log: CustodyLog,
    *,
    key_id: str,
    actor: Actor,
    reason: str,
    now: datetime,
) -> KeyRevocation:
    why = reason.strip()
    if not why:
        raise InvalidInputError("a revocation needs a reason", field="reason")
    key = session.get(ActorKey, key_id)
    if key is None:
        raise NotFoundError(f"no key {key_id}")
    if key.user_id is None:
        raise ConflictError("the service key cannot be revoked here; rotate it with a new log")
    if session.get(KeyRevocation, key_id) is not None:
        raise ConflictError(f"key {key_id} is already revoked")
    appended = log.append_as_service(
        session,
        subject=key_subject(key_id),
        type="key.revoked",
        now=now,
        what={"reason": why},
    )
    revocation = KeyRevocation(
        key_id=key_id, revoked_index=appended.index, revoked_at=now, reason=why
    )
    session.add(revocation)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="revoke",
        record_type="key",
        record_id=key_id,
        changes=diff({"revoked": False}, {"revoked": True, "log_index": appended.index}),
        reason=why,
    )
    return revocation


def keys_of(session: Session, user_id: int | None) -> Sequence[ActorKey]:
    statement = select(ActorKey).order_by(col(ActorKey.registered_index))
    if user_id is not None:
        statement = statement.where(ActorKey.user_id == user_id)
    return session.exec(statement).all()


def revocation_of(session: Session, key_id: str) -> KeyRevocation | None:
    return session.get(KeyRevocation, key_id)
