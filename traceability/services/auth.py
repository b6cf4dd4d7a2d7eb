"""Sign-in, sessions and sign-out.

Every attempt is recorded, success or failure, in the same unit of work that decides
it, so an attacker cannot make failures go unrecorded. The caller raises after the
commit, never inside it: a failed sign-in must still be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from traceability.domain.actor import Actor
from traceability.domain.lockout import locked_until
from traceability.domain.roles import parse_roles
from traceability.errors import AuthenticationError
from traceability.security.passwords import hash_password, needs_rehash, verify_password
from traceability.security.tokens import new_token, token_digest
from traceability.services.users import UNLOCKED, find_by_username
from traceability.storage.models import AuthSession, SignInEvent, User


class SessionKind(StrEnum):
    bearer = "bearer"
    web = "web"


class SignInResult(StrEnum):
    ok = "ok"
    bad_credentials = "bad-credentials"
    unknown_user = "unknown-user"
    disabled = "disabled"
    locked = "locked"


@dataclass(frozen=True)
class LockoutPolicy:
    attempts: int
    window: timedelta


@dataclass(frozen=True)
class SignInOutcome:
    result: SignInResult
    user: User | None = None
    token: str | None = None
    expires_at: datetime | None = None
    locked_until: datetime | None = None


def lock_state(
    session: Session, username: str, now: datetime, policy: LockoutPolicy
) -> datetime | None:
    since = now - policy.window
    events = session.exec(
        select(SignInEvent)
        .where(SignInEvent.username == username)
        .where(col(SignInEvent.at) > since)
        .order_by(col(SignInEvent.at))
    ).all()
    failures = [
        e.at for e in events if not e.success and e.reason not in (SignInResult.locked, UNLOCKED)
    ]
    # A success or an administrator's unlock clears the failures before it.
    successes = [e.at for e in events if e.success or e.reason == UNLOCKED]
    return locked_until(
        failures,
        last_success=max(successes) if successes else None,
        now=now,
        attempts=policy.attempts,
        window=policy.window,
    )


def attempt_sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    kind: SessionKind,
    client: str | None,
    now: datetime,
    ttl: timedelta,
    policy: LockoutPolicy,
) -> SignInOutcome:
    """Decide one sign-in attempt and record it. Never raises for bad credentials."""
    username = username.strip().lower()[:64]
    user = find_by_username(session, username)
    # Verify before looking at the lock so that timing says nothing about either.
    password_ok = verify_password(user.password_hash if user else None, password)
    lock = lock_state(session, username, now, policy)

    if lock is not None:
        outcome = SignInOutcome(SignInResult.locked, locked_until=lock)
    elif user is None:
        outcome = SignInOutcome(SignInResult.unknown_user)
    elif not password_ok:
        outcome = SignInOutcome(SignInResult.bad_credentials)
    elif not user.is_active:
        outcome = SignInOutcome(SignInResult.disabled)
    else:
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            session.add(user)
        token = new_token()
        assert user.id is not None  # noqa: S101 - a stored user
        expires = now + ttl
        session.add(
            AuthSession(
                token_digest=token_digest(token),
                user_id=user.id,
                kind=kind.value,
                created_at=now,
                expires_at=expires,
            )
        )
        outcome = SignInOutcome(SignInResult.ok, user=user, token=token, expires_at=expires)

    session.add(
        SignInEvent(
            at=now,
            username=username,
            user_id=user.id if user else None,
            success=outcome.result is SignInResult.ok,
            channel=kind.value,
            client=(client or "")[:64] or None,
            reason=outcome.result.value,
        )
    )
    session.flush()
    return outcome


@dataclass(frozen=True)
class Authenticated:
    user: User
    auth_session: AuthSession

    @property
    def actor(self) -> Actor:
        return Actor(
            name=self.user.username, user_id=self.user.id, roles=parse_roles(self.user.roles)
        )


_SESSIONS = AuthSession.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
_SESSION_NAMES = tuple(c.name for c in _SESSIONS.c)
_USER_NAMES = tuple(c.name for c in _USERS.c)
WHO_BY_TOKEN: Select[Any] = (
    sa_select(*_SESSIONS.c, *_USERS.c)
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.token_digest == bindparam("digest"))
)
"""A token's session and its user in one plain query (SQLAlchemy Core): it runs on
every request, where loading ORM objects through a session costs several times more.
Run it with `token_query`'s parameters and check its row with `authenticated`."""


def token_query(token: str) -> dict[str, str]:
    """The parameters of `WHO_BY_TOKEN` for this token (only its digest is stored)."""
    return {"digest": token_digest(token)}


def authenticate(session: Session, token: str, *, now: datetime) -> Authenticated:
    """The user behind a token, if the token is live and the user still active."""
    found = session.connection().execute(WHO_BY_TOKEN, token_query(token)).first()
    return authenticated(None if found is None else tuple(found), now=now)


def authenticated(found: tuple[Any, ...] | None, *, now: datetime) -> Authenticated:
    """The caller, from the `WHO_BY_TOKEN` row of their token (None: no such token).

    The user and session it returns belong to no ORM session: read them; a unit of work
    that writes loads its own copy."""
    if found is None:
        raise AuthenticationError("unknown or malformed credentials")
    who = _built(found)
    row, user = who.auth_session, who.user
    if row.revoked_at is not None:
        raise AuthenticationError("this session has ended; sign in again")
    if row.expires_at <= now:
        raise AuthenticationError("this session has expired; sign in again")
    if not user.is_active:
        raise AuthenticationError("this account is disabled")
    return who


def _built(found: tuple[Any, ...]) -> Authenticated:
    """The session and user records of this row, belonging to no ORM session: every
    request reads its row again, so a sign-out, a lockout or a role change counts at
    once."""
    split = len(_SESSION_NAMES)
    return Authenticated(
        user=User(**dict(zip(_USER_NAMES, found[split:], strict=True))),
        auth_session=AuthSession(**dict(zip(_SESSION_NAMES, found[:split], strict=True))),
    )


def sign_out(session: Session, token: str, *, now: datetime) -> None:
    row = session.exec(
        select(AuthSession).where(AuthSession.token_digest == token_digest(token))
    ).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.add(row)


# One sign-in attempt as the API and pages show it. (A comment: a docstring would
# become the schema's description in the OpenAPI document.)
class SignInEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    username: str
    user_id: int | None
    success: bool
    channel: str
    client: str | None
    reason: str


def recent_sign_ins(
    session: Session, *, username: str | None = None, limit: int = 100
) -> list[SignInEventPublic]:
    """Newest first, at most 500: the pages and the API show them, never the rows."""
    statement = select(SignInEvent)
    if username:
        statement = statement.where(SignInEvent.username == username)
    rows = session.exec(statement.order_by(col(SignInEvent.id).desc()).limit(min(limit, 500)))
    return [SignInEventPublic.model_validate(r, from_attributes=True) for r in rows]
