import pytest

from traceability.errors import InvalidInputError
from traceability.security.passwords import check_password_policy, hash_password, verify_password
from traceability.security.tokens import csrf_matches, csrf_token, token_digest


def test_argon2_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("a-long-password")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "a-long-password")
    assert not verify_password(stored, "a-long-passwore")


def test_no_hash_never_verifies() -> None:
    assert not verify_password(None, "not-a-real-password-only-for-timing")


@pytest.mark.parametrize("bad", ["short", " leading-space-pw", "trailing-space-pw "])
def test_password_policy(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        check_password_policy(bad)


def test_csrf_token_is_bound_to_the_session_and_the_secret() -> None:
    digest = token_digest("session-a")
    token = csrf_token("secret-1" * 4, digest)
    assert csrf_matches("secret-1" * 4, digest, token)
    assert not csrf_matches("secret-1" * 4, token_digest("session-b"), token)
    assert not csrf_matches("secret-2" * 4, digest, token)
    assert not csrf_matches("secret-1" * 4, digest, None)
