"""Registering and revoking the keys that sign log statements.

Anyone signed in registers their own device or CLI key; only its owner or an admin
revokes it. The private key never comes here: only the public key and a proof that
the caller holds the private one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from traceability.custody_log import keys as key_log
from traceability.domain.roles import Role
from traceability.errors import PermissionDeniedError
from traceability.services import signing_keys
from traceability.services.signing_keys import KeyPublic
from traceability.services.users import get_by_username
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


@router.post(
    "/keys",
    response_model=KeyPublic,
    status_code=201,
    summary="Register your own signing key (a log entry)",
)
def register(body: KeyRegistration, auth: AnyUser, context: ContextDep) -> KeyPublic:
    public_key = key_log.decode_base64(body.public_key, field="public_key", length=32)
    pop = key_log.decode_base64(body.pop, field="pop", length=64)
    with context.db.write() as session:
        return signing_keys.register_own_key(
            session,
            context.log,
            actor=auth.actor,
            public_key=public_key,
            label=body.label,
            pop=pop,
            now=context.clock(),
        )


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
    return signing_keys.keys_of(session, user_id)


@router.post(
    "/keys/{key_id}/revoke",
    response_model=KeyPublic,
    summary="Revoke a key: entries it signs from now on are refused",
)
def revoke(key_id: str, body: Revocation, auth: AnyUser, context: ContextDep) -> KeyPublic:
    with context.db.write() as session:
        # Only the key's owner or an admin: checked in `signing_keys.revoke`.
        return signing_keys.revoke(
            session,
            context.log,
            key_id=key_id,
            actor=auth.actor,
            reason=body.reason,
            now=context.clock(),
        )
