"""User administration API (admin only) and the sign-in record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from traceability.errors import ConflictError
from traceability.services import auth as auth_service
from traceability.services import users as user_service
from traceability.services.auth import Authenticated, SignInEventPublic
from traceability.services.users import UserPublic
from traceability.web.context import ServiceContext
from traceability.web.deps import Admin, ContextDep, SessionDep
from traceability.web.fields import STRICT_BODY, Text

router = APIRouter(tags=["users"])


class UserCreate(BaseModel):
    model_config = STRICT_BODY

    username: Text = Field(min_length=2, max_length=64)
    full_name: Text = Field(min_length=1, max_length=200)
    roles: list[Text] = Field(min_length=1)
    password: Text = Field(min_length=1, max_length=1000)
    email: Text | None = Field(default=None, max_length=254, description="Where notices are mailed")


class Reason(BaseModel):
    model_config = STRICT_BODY

    reason: Text = Field(min_length=1, max_length=2000)


class RolesChange(Reason):
    roles: list[Text] = Field(min_length=1)


class PasswordReset(Reason):
    password: Text = Field(min_length=1, max_length=1000)


@router.get("/users", response_model=list[UserPublic], summary="All accounts")
def list_users(auth: Admin, session: SessionDep) -> list[UserPublic]:
    return [user_service.to_public(u) for u in user_service.list_users(session)]


@router.post("/users", response_model=UserPublic, status_code=201, summary="Create an account")
def create_user(body: UserCreate, auth: Admin, context: ContextDep) -> UserPublic:
    with context.db.write() as session:
        user = user_service.create_user(
            session,
            actor=auth.actor,
            now=context.clock(),
            username=body.username,
            full_name=body.full_name,
            roles=body.roles,
            password=body.password,
            must_change_password=True,
            email=body.email,
        )
        return user_service.to_public(user)


@router.get("/users/{username}", response_model=UserPublic, summary="One account")
def get_user(username: str, auth: Admin, session: SessionDep) -> UserPublic:
    return user_service.to_public(user_service.get_by_username(session, username))


@router.post(
    "/users/{username}/disable",
    response_model=UserPublic,
    summary="Disable an account and end its sessions",
)
def disable_user(username: str, body: Reason, auth: Admin, context: ContextDep) -> UserPublic:
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_active(
            session, user, active=False, actor=auth.actor, now=context.clock(), reason=body.reason
        )
        return user_service.to_public(user)


@router.post("/users/{username}/enable", response_model=UserPublic, summary="Enable an account")
def enable_user(username: str, body: Reason, auth: Admin, context: ContextDep) -> UserPublic:
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_active(
            session, user, active=True, actor=auth.actor, now=context.clock(), reason=body.reason
        )
        return user_service.to_public(user)


def unlock(context: ServiceContext, auth: Authenticated, username: str, reason: str) -> UserPublic:
    """Lift a lock-out now (the API and the users page). An account that is not locked
    is refused, so the record holds no unlock that changed nothing."""
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        now = context.clock()
        if auth_service.lock_state(session, user.username, now, context.lockout) is None:
            raise ConflictError(f"{user.username} is not locked out")
        user_service.unlock(session, user, actor=auth.actor, now=now, reason=reason)
        return user_service.to_public(user)


@router.post(
    "/users/{username}/unlock",
    response_model=UserPublic,
    summary="Lift a lock-out after failed sign-ins, with a reason",
)
def unlock_user(username: str, body: Reason, auth: Admin, context: ContextDep) -> UserPublic:
    return unlock(context, auth, username, body.reason)


class EmailChange(BaseModel):
    model_config = STRICT_BODY
    email: Text | None = Field(max_length=254, description="null: mail nothing")


@router.put(
    "/users/{username}/email", response_model=UserPublic, summary="Set where notices are mailed"
)
def set_email(username: str, body: EmailChange, auth: Admin, context: ContextDep) -> UserPublic:
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_email(
            session, user, email=body.email, actor=auth.actor, now=context.clock()
        )
        return user_service.to_public(user)


@router.put("/users/{username}/roles", response_model=UserPublic, summary="Change roles")
def set_roles(username: str, body: RolesChange, auth: Admin, context: ContextDep) -> UserPublic:
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_roles(
            session,
            user,
            roles=body.roles,
            actor=auth.actor,
            now=context.clock(),
            reason=body.reason,
        )
        return user_service.to_public(user)


@router.post(
    "/users/{username}/password",
    response_model=UserPublic,
    summary="Reset a password (ends the user's sessions)",
)
def reset_password(
    username: str, body: PasswordReset, auth: Admin, context: ContextDep
) -> UserPublic:
    with context.db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_password(
            session,
            user,
            password=body.password,
            actor=auth.actor,
            now=context.clock(),
            reason=body.reason,
        )
        return user_service.to_public(user)


@router.get(
    "/sign-ins", response_model=list[SignInEventPublic], summary="Sign-in attempts, newest first"
)
def sign_ins(
    auth: Admin,
    session: SessionDep,
    username: Annotated[Text | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SignInEventPublic]:
    return auth_service.recent_sign_ins(session, username=username, limit=limit)
