"""Statements: the assembled canonical bytes equal RFC 8785 of the whole body."""

from __future__ import annotations

import base64
import random

import pytest
import rfc8785

from audit.entry import ENTRY_DOMAIN, parse_entry, signed_message_for
from traceability.custody_log.statements import (
    Statement,
    canonical,
    entry_bytes,
    statement_from_json,
)
from traceability.errors import InvalidInputError

ALPHABET = 'aZ09 -_.:/"\\\n\t\u00e9\u2028\U0001f9ea\u00b0'


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12)))


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 6 if depth < 3 else 3)
    if kind == 0:
        return random_text(rng)
    if kind == 1:
        return rng.randint(-(2**53) + 1, 2**53 - 1)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.randint(-5, 5)
    if kind == 4:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {random_text(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def random_statement(rng: random.Random) -> Statement:
    seq = rng.randint(0, 5)
    return Statement(
        log="test.example/log",
        subject=f"https://id.example/01/09521234543213/21/{seq}",
        subject_seq=seq,
        subject_prev=rng.randbytes(32) if seq else None,
        type="custody.stored",
        when="2026-11-02T09:00:00Z",
        key="ab" * 16,
        # Actors whose names look like the members a verifier cuts out must not fool it.
        actor=rng.choice(
            [
                None,
                "lena",
                random_text(rng).replace("\n", "").replace("\t", "")
                + ',"index":1,"prev":null,"sig":"x\\"',
            ]
        ),
        what={random_text(rng): random_value(rng) for _ in range(rng.randint(0, 4))},
        where={"readPoint": random_text(rng)},
        why={},
    )


def test_assembled_entries_equal_rfc8785_of_the_whole_body() -> None:
    rng = random.Random(20261125)
    for _ in range(500):
        statement = random_statement(rng)
        index = rng.randint(0, 2**40)
        prev = rng.randbytes(32) if index else None
        signature = rng.randbytes(64)
        body = statement.to_json()
        expected_message = ENTRY_DOMAIN + rfc8785.dumps(body)
        assert statement.signed_message() == expected_message
        assert signed_message_for(body) == expected_message
        body |= {
            "index": index,
            "prev": prev.hex() if prev else None,
            "sig": base64.b64encode(signature).decode(),
        }
        raw = entry_bytes(statement, index=index, prev=prev, signature=signature)
        assert raw == rfc8785.dumps(body)
        assert parse_entry(raw).signed_message == expected_message


def test_canonical_is_rfc8785_on_its_fast_path_and_beyond_it() -> None:
    """Below U+D800 the standard library's sorted JSON is taken; beyond, rfc8785 itself."""
    rng = random.Random(20261203)
    for _ in range(2000):
        value = random_value(rng)
        assert canonical(value) == rfc8785.dumps(value)
    controls = "".join(chr(c) for c in range(0x20)) + '"\\\x7f\u2028\u00e9'
    assert canonical({"s": controls, "k\n": [True, None, -7]}) == rfc8785.dumps(
        {"s": controls, "k\n": [True, None, -7]}
    )
    # UTF-16 order puts U+1F600 (a surrogate pair, D83D DE00) before U+E000; code-point
    # order would not: such keys must take the slow path.
    astral = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonical(astral) == rfc8785.dumps(astral)
    assert canonical(astral).index("\U0001f600".encode()) < canonical(astral).index(
        "\ue000".encode()
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": "vial-7"}, "subject"),
        ({"type": "Bad Type"}, "type"),
        ({"when": "2026-11-02 09:00:00"}, "when"),
        ({"when": "2026-02-30T09:00:00Z"}, "when"),
        ({"key": "XYZ"}, "key"),
        ({"subject_seq": -1}, "subject_seq"),
        ({"subject_seq": 1}, "subject_prev"),
        ({"subject_prev": "ab"}, "subject_prev"),
        ({"what": {"t": 1.5}}, "what.t"),
        ({"what": {"n": 2**60}}, "what.n"),
        ({"what": []}, "what"),
        ({"extra": 1}, "extra"),
        ({"actor": 7}, "actor"),
    ],
)
def test_client_statements_are_checked_field_by_field(
    change: dict[str, object], field: str
) -> None:
    data: dict[str, object] = {
        "v": 1,
        "log": "test.example/log",
        "subject": "https://id.example/01/1/21/2",
        "subject_seq": 0,
        "subject_prev": None,
        "type": "custody.stored",
        "when": "2026-11-02T09:00:00Z",
        "key": "ab" * 16,
        "actor": "lena",
        "what": {},
        "where": {},
        "why": {},
    }
    data.update(change)
    with pytest.raises(InvalidInputError) as e:
        statement_from_json(data)
    assert e.value.field == field
