"""People's signing keys as the API shows them, and the use cases that change them.

Registering and revoking are log entries (`custody_log.keys`); this module adds what the
API needs around them: the caller's own account row for the registration, the rule that
only a key's owner or an admin revokes it, and the public view of a key (owner's name,
revocation), so that the routes never read the key or user tables themselves.
"""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from traceability.custody_log import keys as key_log
from traceability.custody_log.appender import CustodyLog
from traceability.domain.actor import Actor
from traceability.domain.roles import Role
from traceability.errors import NotFoundError, PermissionDeniedError
from traceability.services.users import current_user
from traceability.storage.models import ActorKey, User


class KeyPublic(BaseModel):
    key_id: str
    public_key: str
    user: str | None
    label: str
    registered_index: int
    registered_at: datetime
    revoked_index: int | None
    revocation_reason: str | None


def key_public(session: Session, key: ActorKey) -> KeyPublic:
    owner = session.get(User, key.user_id) if key.user_id is not None else None
    revocation = key_log.revocation_of(session, key.key_id)
    return KeyPublic(
        key_id=key.key_id,
        public_key=base64.b64encode(bytes(key.public_key)).decode("ascii"),
        user=owner.username if owner else None,
        label=key.label,
        registered_index=key.registered_index,
        registered_at=key.registered_at,
        revoked_index=revocation.revoked_index if revocation else None,
        revocation_reason=revocation.reason if revocation else None,
    )


def register_own_key(
    session: Session,
    log: CustodyLog,
    *,
    actor: Actor,
    public_key: bytes,
    label: str,
    pop: bytes,
    now: datetime,
) -> KeyPublic:
    """Register a key for the signed-in caller; the proof of possession names them, so
    their account is read in this unit of work (the caller's own, never another's)."""
    user = current_user(session, actor)
    key = key_log.register_key(
        session, log, user=user, actor=actor, public_key=public_key, label=label, pop=pop, now=now
    )
    return key_public(session, key)


def keys_of(session: Session, user_id: int | None) -> list[KeyPublic]:
    """A user's keys in registration order (every key when `user_id` is None)."""
    return [key_public(session, k) for k in key_log.keys_of(session, user_id)]


def revoke(
    session: Session, log: CustodyLog, *, key_id: str, actor: Actor, reason: str, now: datetime
) -> KeyPublic:
    """Revoke a key: only its owner or an admin may."""
    key = session.get(ActorKey, key_id)
    if key is None:
        raise NotFoundError(f"no key {key_id}")
    if key.user_id != actor.user_id and not actor.has_any(Role.admin):
        raise PermissionDeniedError("only the key's owner or an admin may revoke it")
    key_log.revoke_key(session, log, key_id=key_id, actor=actor, reason=reason, now=now)
    return key_public(session, key)
