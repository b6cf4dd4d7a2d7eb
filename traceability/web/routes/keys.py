"""Registering and revoking the keys that sign log statements.

Anyone signed in registers their own device or CLI key; only its owner or an admin
revokes it. The private key never comes here: only the public key and a proof that
the caller holds the private one.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from traceability.custody_log import keys as key_service
from traceability.domain.roles import Role
from traceability.errors import NotFoundError, PermissionDeniedError
from traceability.services.users import get_by_username
from traceability.storage.models import ActorKey, User
from traceability.web.deps import AnyUser, ContextDep, SessionDep
from traceability.web.fields import STRICT_BODY, Text

router = APIRouter(tags=["keys"])


class KeyRegistration(BaseModel):
    model_config = STRICT_BODY

    public_key: Text = Field(
        description="base64 of the 32-byte Ed25519 public key", min_length=1, max_length=100
    )
    label: Text = Field(min_length=1, max_length=200, examples=["lab tablet 2"])
    pop: Text = Field(
        description="base64 signature by the new key over "
        "'trace-key-pop-v1\\n' + canonical JSON of {key, log, user}",
        min_length=1,
        max_length=200,
    )


class Revocation(BaseModel):
    model_config = STRICT_BODY

    reason: Text = Field(min_length=1, max_length=2000)


class KeyPublic(BaseModel):
    key_id: str
    public_key: str
    user: str | None
    label: str
    registered_index: int
    registered_at: datetime
    revoked_index: int | None
    revocation_reason: str | None


def _public(session: Session, key: ActorKey) -> KeyPublic:
    owner = session.get(User, key.user_id) if key.user_id is not None else None
    revocation = key_service.revocation_of(session, key.key_id)
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


@router.post(
    "/keys",
    response_model=KeyPublic,
    status_code=201,
    summary="Register your own signing key (a log entry)",
)
def register(body: KeyRegistration, auth: AnyUser, context: ContextDep) -> KeyPublic:
    public_key = key_service.decode_base64(body.public_key, field="public_key", length=32)
    pop = key_service.decode_base64(body.pop, field="pop", length=64)
    with context.db.write() as session:
        user = session.get(User, auth.user.id)
        assert user is not None  # noqa: S101 - authenticated just now
        key = key_service.register_key(
            session,
            context.log,
            user=user,
            actor=auth.actor,
            public_key=public_key,
            label=body.label,
            pop=pop,
            now=context.clock(),
        )
        return _public(session, key)


@router.get(
    "/keys",
    response_model=list[KeyPublic],
    summary="Your keys; admins and auditors may ask for anyone's",
)
def list_keys(
    auth: AnyUser, session: SessionDep, user: Annotated[Text | None, Query(max_length=64)] = None
) -> list[KeyPublic]:
    if user is None or user == auth.user.username:
        user_id = auth.user.id
    elif auth.actor.has_any(Role.admin, Role.auditor):
        user_id = get_by_username(session, user).id
    else:
        raise PermissionDeniedError("you may list only your own keys")
    return [_public(session, k) for k in key_service.keys_of(session, user_id)]


@router.post(
    "/keys/{key_id}/revoke",
    response_model=KeyPublic,
    summary="Revoke a key: entries it signs from now on are refused",
)
def revoke(key_id: str, body: Revocation, auth: AnyUser, context: ContextDep) -> KeyPublic:
    with context.db.write() as session:
        key = session.get(ActorKey, key_id)
        if key is None:
            raise NotFoundError(f"no key {key_id}")
        if key.user_id != auth.user.id and not auth.actor.has_any(Role.admin):
            raise PermissionDeniedError("only the key's owner or an admin may revoke it")
        key_service.revoke_key(
            session,
            context.log,
            key_id=key_id,
            actor=auth.actor,
            reason=body.reason,
            now=context.clock(),
        )
        return _public(session, key)
