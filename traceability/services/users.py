"""User accounts: creation and corrections, each with its audit-trail row.

Accounts are never deleted (their names stay on signed records); they are disabled.
Disabling a user, or resetting their password, ends every session they hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select, update

from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.roles import Role, format_roles, parse_roles
from traceability.errors import ConflictError, InvalidInputError, NotFoundError
from traceability.security.passwords import (
    check_password_policy,
    hash_password,
    verify_password,
)
from traceability.services import audit_trail
from traceability.storage.models import AuthSession, SignInEvent, User

UNLOCKED = "unlocked"
"""The sign-in record's reason for an administrator's unlock; it resets the lock-out count."""

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def checked_email(value: str | None) -> str | None:
    """An address notices can be mailed to, or None for none; InvalidInputError on `email`
    for anything that is not one address."""
    text = (value or "").strip()
    if not text:
        return None
    odd = set(text) & set(',;:<>()[]\\"')  # what mail headers read as more addresses
    if len(text) > 254 or not text.isascii() or odd or not EMAIL_PATTERN.fullmatch(text):
        raise InvalidInputError(
            "an email address is one address, like name@example.org", field="email"
        )
    return text


RECORD_TYPE = "user"


# An account as the API and pages show it: never the password hash. Defined here, not
# beside the table, because responses are built by services; a column added to the
# table reaches no one until it is added here on purpose. (A comment: a docstring would
# become the schema's description in the OpenAPI document.)
class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    roles: list[str]
    is_active: bool
    created_at: datetime
    must_change_password: bool = False
    """An administrator chose the password; the account can do nothing until its owner
    sets their own."""
    email: str | None = None


def to_public(user: User) -> UserPublic:
    assert user.id is not None  # noqa: S101 - only stored users are shown
    return UserPublic(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        roles=sorted(parse_roles(user.roles)),
        is_active=user.is_active,
        created_at=user.created_at,
        must_change_password=user.must_change_password,
        email=user.email,
    )


def _snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "roles": user.roles,
        "is_active": user.is_active,
        "password_hash": user.password_hash,
        "must_change_password": user.must_change_password,
        "email": user.email,
    }


def _require_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInputError("a correction needs a reason", field="reason")
    return text


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def current_user(session: Session, actor: Actor) -> User:
    """The signed-in caller's own account, loaded in this unit of work: the user that
    authentication read belongs to no session, and a use case that writes needs its
    own copy."""
    assert actor.user_id is not None  # noqa: S101 - a signed-in caller has an account
    return get_user(session, actor.user_id)


def find_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def get_by_username(session: Session, username: str) -> User:
    user = find_by_username(session, username)
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def list_users(session: Session) -> Sequence[User]:
    return session.exec(select(User).order_by(col(User.username))).all()


def create_user(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    username: str,
    full_name: str,
    roles: str | Sequence[str],
    password: str,
    must_change_password: bool = False,
    email: str | None = None,
) -> User:
    """A new account. `must_change_password` when someone else chose the password (an
    administrator in the pages or the API): its owner must set their own first."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInputError(
            "a username is 2-64 characters: lower-case letters, digits, '.', '_' or '-'",
            field="username",
        )
    if not full_name.strip():
        raise InvalidInputError(
            "the full name is printed on signatures; it may not be empty", field="full_name"
        )
    parsed = parse_roles(roles)
    check_password_policy(password)
    if find_by_username(session, username) is not None:
        raise ConflictError(f"a user named {username!r} already exists")
    user = User(
        username=username,
        full_name=full_name.strip(),
        roles=format_roles(parsed),
        is_active=True,
        password_hash=hash_password(password),
        created_at=now,
        password_changed_at=now,
        must_change_password=must_change_password,
        email=checked_email(email),
    )
    session.add(user)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type=RECORD_TYPE,
        record_id=user.username,
        changes=diff(None, _snapshot(user), secret={"password_hash"}),
    )
    return user


def _correct(
    session: Session,
    user: User,
    *,
    actor: Actor,
    now: datetime,
    action: str,
    reason: str,
    before: dict[str, Any],
) -> User:
    session.add(user)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action=action,
        record_type=RECORD_TYPE,
        record_id=user.username,
        changes=diff(before, _snapshot(user), secret={"password_hash"}),
        reason=reason,
    )
    return user


def _end_sessions(session: Session, user: User, now: datetime) -> None:
    session.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user.id)
        .where(col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


def set_active(
    session: Session, user: User, *, active: bool, actor: Actor, now: datetime, reason: str | None
) -> User:
    why = _require_reason(reason)
    if not active and actor.user_id is not None and actor.user_id == user.id:
        raise ConflictError("you cannot disable your own account")
    if user.is_active == active:
        state = "active" if active else "disabled"
        raise ConflictError(f"user {user.username!r} is already {state}")
    before = _snapshot(user)
    user.is_active = active
    if not active:
        _end_sessions(session, user, now)
    return _correct(
        session,
        user,
        actor=actor,
        now=now,
        reason=why,
        before=before,
        action="enable" if active else "disable",
    )


def set_roles(
    session: Session,
    user: User,
    *,
    roles: str | Sequence[str],
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> User:
    why = _require_reason(reason)
    parsed = parse_roles(roles)
    if actor.user_id == user.id and Role.admin not in parsed:
        raise ConflictError("you cannot remove your own admin role")
    before = _snapshot(user)
    user.roles = format_roles(parsed)
    return _correct(
        session, user, actor=actor, now=now, reason=why, before=before, action="set-roles"
    )


def set_email(
    session: Session, user: User, *, email: str | None, actor: Actor, now: datetime
) -> User:
    """Where the user's notices are mailed (None: nowhere), recorded in the audit trail."""
    before = _snapshot(user)
    user.email = checked_email(email)
    return _correct(
        session,
        user,
        actor=actor,
        now=now,
        reason="email address",
        before=before,
        action="set-email",
    )


def set_password(
    session: Session,
    user: User,
    *,
    password: str,
    actor: Actor,
    now: datetime,
    reason: str | None,
) -> User:
    why = _require_reason(reason)
    check_password_policy(password)
    before = _snapshot(user)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = True  # chosen by an administrator: its owner sets their own
    _end_sessions(session, user, now)
    _record_unlock(session, user, now)
    return _correct(
        session, user, actor=actor, now=now, reason=why, before=before, action="set-password"
    )


def change_own_password(
    session: Session, user: User, *, current: str, new: str, now: datetime
) -> User:
    """The account holder sets their own password, proving the one they have; this ends
    an administrator's "must change"."""
    if not verify_password(user.password_hash, current):
        raise InvalidInputError("the current password is wrong", field="current_password")
    check_password_policy(new, field="new_password")
    if verify_password(user.password_hash, new):
        raise InvalidInputError(
            "the new password must differ from the current one", field="new_password"
        )
    before = _snapshot(user)
    user.password_hash = hash_password(new)
    user.password_changed_at = now
    user.must_change_password = False
    actor = Actor(name=user.username, user_id=user.id, roles=parse_roles(user.roles))
    return _correct(
        session,
        user,
        actor=actor,
        now=now,
        reason="set by the account holder",
        before=before,
        action="change-password",
    )


def _record_unlock(session: Session, user: User, now: datetime) -> None:
    session.add(
        SignInEvent(
            at=now,
            username=user.username,
            user_id=user.id,
            success=False,
            channel="admin",
            reason=UNLOCKED,
        )
    )


def unlock(
    session: Session, user: User, *, actor: Actor, now: datetime, reason: str | None
) -> User:
    """Lift a lock-out now: failed sign-ins before this moment stop counting."""
    why = _require_reason(reason)
    _record_unlock(session, user, now)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="unlock",
        record_type=RECORD_TYPE,
        record_id=user.username,
        changes=[],
        reason=why,
    )
    return user
