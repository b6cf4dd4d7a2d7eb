"""The one key rule (audit.signers), branch by branch: what every verifier and the writer
decide with."""

from __future__ import annotations

import pytest

from audit.signers import (
    ActorMismatchError,
    KeyRecord,
    RevokedKeyError,
    ServiceKeyError,
    UnknownKeyError,
    check_binding,
    is_key_entry,
)

SERVICE = KeyRecord(key="a" * 32, public_key=b"s" * 32, user=None, registered=0)
LENA = KeyRecord(key="b" * 32, public_key=b"l" * 32, user="lena", registered=3)


def bind(record: KeyRecord | None, *, index: int, actor: str | None, key_entry: bool = False):  # type: ignore[no-untyped-def]
    key = record.key if record else "c" * 32
    return check_binding(
        record, key=key, index=index, actor=actor, key_entry=key_entry, service_key=SERVICE.key
    )


def test_a_key_signs_for_its_own_user_after_its_registration() -> None:
    assert bind(LENA, index=4, actor="lena") == LENA
    assert bind(SERVICE, index=9, actor=None) == SERVICE
    assert bind(SERVICE, index=0, actor=None, key_entry=True) == SERVICE  # the genesis entry


def test_an_unknown_key_or_one_registered_later_is_refused() -> None:
    with pytest.raises(UnknownKeyError):
        bind(None, index=4, actor="lena")
    with pytest.raises(UnknownKeyError):
        bind(LENA, index=3, actor="lena")  # its own registration's index
    with pytest.raises(UnknownKeyError):
        bind(LENA, index=2, actor="lena")


def test_a_key_is_refused_after_its_revocation_only() -> None:
    revoked = KeyRecord(LENA.key, LENA.public_key, "lena", 3, revoked=7)
    assert bind(revoked, index=7, actor="lena") == revoked  # the revocation's own index
    with pytest.raises(RevokedKeyError):
        bind(revoked, index=8, actor="lena")


def test_a_key_cannot_sign_for_another_person_or_for_the_service() -> None:
    with pytest.raises(ActorMismatchError, match="belongs to lena"):
        bind(LENA, index=4, actor="quinn")
    with pytest.raises(ActorMismatchError):
        bind(LENA, index=4, actor=None)
    with pytest.raises(ActorMismatchError):
        bind(SERVICE, index=4, actor="lena")


def test_key_entries_are_the_service_keys_and_carry_no_actor() -> None:
    with pytest.raises(ServiceKeyError):
        bind(LENA, index=4, actor="lena", key_entry=True)
    with pytest.raises(ServiceKeyError):
        bind(SERVICE, index=4, actor="lena", key_entry=True)
    assert bind(SERVICE, index=4, actor=None, key_entry=True) == SERVICE


def test_only_the_genesis_entry_registers_a_key_with_no_user() -> None:
    second = KeyRecord(key="d" * 32, public_key=b"x" * 32, user=None, registered=5)
    with pytest.raises(ServiceKeyError):
        check_binding(
            second,
            key=second.key,
            index=9,
            actor=None,
            key_entry=False,
            service_key=SERVICE.key,
        )


def test_what_counts_as_a_key_entry() -> None:
    assert is_key_entry("key.registered", "urn:trace:key:" + "a" * 32)
    assert is_key_entry("qc.result.entered", "urn:trace:key:" + "a" * 32)
    assert is_key_entry("key.anything", "https://id.example/01/1/10/L")
    assert not is_key_entry("custody.stored", "https://id.example/01/1/10/L/21/1")
