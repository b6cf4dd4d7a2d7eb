"""Electronic signatures under 21 CFR Part 11 (11.100, 11.200, 11.300).

11.200(a)(1): the first signing in a period of controlled system access (here: one
sign-in session) needs every component, user id and password; later signings in the
same session need at least the password. The password is checked again at each
signing; a wrong one counts toward the account's lock-out like a failed sign-in
(11.300(d): attempts at unauthorised use are detected and recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from traceability.errors import AccountLockedError, InvalidInputError, PermissionDeniedError
from traceability.security.passwords import verify_password
from traceability.services.auth import Authenticated, LockoutPolicy, SignInResult, lock_state
from traceability.storage.database import Database
from traceability.storage.models import ESignature, SignInEvent, User

CHANNEL = "e-signature"


@dataclass(frozen=True)
class Components:
    username: str | None
    password: str


def first_in_session(session: Session, auth: Authenticated) -> bool:
    return (
        session.exec(
            select(ESignature.id).where(ESignature.auth_session_id == auth.auth_session.id)
        ).first()
        is None
    )


def verify(
    db: Database,
    auth: Authenticated,
    components: Components,
    *,
    now: datetime,
    policy: LockoutPolicy,
) -> None:
    """Check the signer's components; a failure is recorded (and committed) before it raises."""
    failure: Exception | None = None
    with db.write() as session:
        user = session.get(User, auth.user.id)
        assert user is not None  # noqa: S101 - authenticated
        if first_in_session(session, auth) and not components.username:
            # A form left incomplete, not an attempt at someone's signature: not counted.
            raise InvalidInputError(
                "the first e-signature of a session needs your user id as well as your password",
                field="esignature.username",
            )
        password_ok = verify_password(user.password_hash, components.password)
        locked = lock_state(session, user.username, now, policy)
        if components.username and components.username.strip().lower() != user.username:
            # Someone else's user id in this session: an attempt worth recording (11.300(d)).
            failure = PermissionDeniedError("an e-signature is made only by the signed-in user")
        elif locked is not None:
            failure = AccountLockedError(
                "too many failed attempts; the account is locked",
                retry_after=int((locked - now).total_seconds()) + 1,
            )
        elif not password_ok:
            failure = PermissionDeniedError(
                "the e-signature's password is wrong; nothing was signed"
            )
        session.add(
            SignInEvent(
                at=now,
                username=user.username,
                user_id=user.id,
                success=failure is None,
                channel=CHANNEL,
                client=None,
                reason=(SignInResult.ok if failure is None else SignInResult.bad_credentials).value,
            )
        )
    if failure is not None:
        raise failure


def new_signature(auth: Authenticated, now: datetime) -> ESignature:
    """The signature row the decision fills in (meaning, record, log index) and stores."""
    assert auth.user.id is not None and auth.auth_session.id is not None  # noqa: S101 - stored
    return ESignature(
        user_id=auth.user.id,
        auth_session_id=auth.auth_session.id,
        printed_name=auth.user.full_name,
        meaning="",
        record="",
        signed_at=now,
        log_index=-1,
    )
