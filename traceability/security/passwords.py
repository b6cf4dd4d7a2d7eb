"""Password hashing with Argon2id.

Unknown users are checked against a dummy hash so that the time a sign-in takes does
not reveal whether the user exists. Hashes are upgraded on sign-in when the parameters
change (`needs_rehash`).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from traceability.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
_DUMMY_HASH: str | None = None
"""Made on first use, not at import: every CLI command imports this module, and an
Argon2id hash costs about 0.1 s."""


def configure_hashing(*, time_cost: int, memory_cost: int) -> None:
    """Change the Argon2id cost (tests use a small one: hundreds of sign-ins per run).

    Hashes made with other parameters still verify, and `needs_rehash` upgrades them.
    """
    global _hasher, _DUMMY_HASH  # noqa: PLW0603 - one process-wide hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
    _DUMMY_HASH = None


def _dummy_hash() -> str:
    global _DUMMY_HASH  # noqa: PLW0603 - computed once per hasher
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")
    return _DUMMY_HASH


def check_password_policy(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field=field
        )
    if password.strip() != password:
        raise InvalidInputError("a password may not start or end with spaces", field=field)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; with no hash, burn the same time and say no."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
