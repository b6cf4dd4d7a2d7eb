"""Tests of audit.entry: known-answer entries made independently (rfc8785 library), then
every rule of docs/custody-log.md broken one at a time, tampered bytes, wrong keys, and
key registrations whose proof of possession is missing, misbound or forged."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import entry as entry_module
from audit.canonical_json import canonicalize
from audit.entry import (
    ENTRY_DOMAIN,
    FORMAT_VERSION,
    KEY_SUBJECT_PREFIX,
    LOG_ASSIGNED,
    MEMBERS,
    POP_DOMAIN,
    Entry,
    EntryFields,
    KeyRegistration,
    KeyRing,
    key_id,
    parse_entry,
    parse_entry_fields,
    parse_key_registration,
    parse_key_revocation,
    pop_message,
    signed_message_for,
    verify_signature,
)
from audit.errors import (
    CanonicalJsonError,
    EntryFormatError,
    FormatError,
    SignatureError,
    VerificationError,
)
from audit.merkle import leaf_hash

ASSETS = Path(__file__).parent / "assets"
VECTORS: dict[str, Any] = json.loads((ASSETS / "entry_vectors.json").read_text("utf-8"))
LOG: str = VECTORS["log"]


@dataclass(frozen=True)
class Key:
    private: Ed25519PrivateKey
    public: bytes
    kid: str

    @classmethod
    def from_label(cls, label: str) -> Key:
        private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(private, public, hashlib.sha256(public).digest()[:16].hex())

    def sign(self, message: bytes) -> str:
        return b64(self.private.sign(message))


def rfc_dumps(value: object) -> bytes:
    """The independent RFC 8785 implementation (typed for its own narrower value type)."""
    return rfc8785.dumps(cast(Any, value))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


SERVICE = Key.from_label("test service")
ALICE = Key.from_label("test alice")
BOB = Key.from_label("test bob")
H1 = hashlib.sha256(b"one").hexdigest()
H2 = hashlib.sha256(b"two").hexdigest()
VIAL = "https://id.example.org/01/09506000134352/10/LOT1/21/V001"
DROP = object()


def body_for(signer: Key = ALICE, /, **changes: object) -> dict[str, object]:
    """A valid entry body signed by ``signer``, with ``changes`` applied before signing.

    A change to DROP removes the member. The signature always covers the changed body,
    so a test isolates exactly one rule of the contract.
    """
    body: dict[str, object] = {
        "v": 1,
        "log": LOG,
        "index": 5,
        "prev": H1,
        "subject": VIAL,
        "subject_seq": 2,
        "subject_prev": H2,
        "type": "custody.accepted",
        "when": "2026-11-25T12:00:00Z",
        "what": {"bizStep": "accepting", "temperature": "-151.2"},
        "where": {"bizLocation": "urn:epc:id:sgln:9506000.13435.0"},
        "why": {"disposition": "in_progress"},
        "key": signer.kid,
        "actor": "alice",
    }
    for name, value in changes.items():
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    if "sig" not in changes:
        body["sig"] = signer.sign(signed_message_for(body))
    elif changes["sig"] is DROP:
        body.pop("sig", None)
    return body


def raw_for(signer: Key = ALICE, /, **changes: object) -> bytes:
    return canonicalize(body_for(signer, **changes))


def registration_body(
    new: Key,
    *,
    user: object = "alice",
    pop_key: Key | None = None,
    pop_log: str = LOG,
    pop_user: object = DROP,
    signer: Key = SERVICE,
    **what_changes: object,
) -> dict[str, object]:
    """A key registration of ``new``, signed by ``signer``, with a valid proof of possession
    unless ``pop_key``, ``pop_log`` or ``pop_user`` say otherwise.

    Keyword arguments starting with ``body_`` change members of the body; the others
    change (or DROP) members of ``what``.
    """
    if pop_user is not DROP:
        pop_for_user = pop_user
    else:
        pop_for_user = None if user is DROP else user
    pop_msg = POP_DOMAIN + rfc_dumps({"key": new.kid, "log": pop_log, "user": pop_for_user})
    what: dict[str, object] = {
        "algorithm": "ed25519",
        "public_key": b64(new.public),
        "user": user,
        "label": "laptop",
        "pop": (pop_key or new).sign(pop_msg),
    }
    if user is DROP:
        del what["user"]
    changes: dict[str, object] = {
        "type": "key.registered",
        "subject": KEY_SUBJECT_PREFIX + new.kid,
        "subject_seq": 0,
        "subject_prev": None,
        "where": {},
        "why": {},
        "actor": None,
    }
    for name, value in what_changes.items():
        if name.startswith("body_"):
            changes[name[5:]] = value
        elif value is DROP:
            what.pop(name, None)
        else:
            what[name] = value
    return body_for(signer, what=what, **changes)


def registration_entry(new: Key, **kwargs: Any) -> Entry:
    return parse_entry(canonicalize(registration_body(new, **kwargs)))


# --- known answers ------------------------------------------------------------------


def test_constants() -> None:
    assert FORMAT_VERSION == 1
    assert ENTRY_DOMAIN == b"trace-log-entry-v1\n"
    assert POP_DOMAIN == b"trace-key-pop-v1\n"
    assert LOG_ASSIGNED == ("index", "prev", "sig")
    assert KEY_SUBJECT_PREFIX == "urn:trace:key:"
    assert set(MEMBERS) == {
        "v",
        "log",
        "index",
        "prev",
        "subject",
        "subject_seq",
        "subject_prev",
        "type",
        "when",
        "what",
        "where",
        "why",
        "key",
        "actor",
        "sig",
    }
    assert len(MEMBERS) == 15


def test_key_id_known_answers() -> None:
    for key in VECTORS["keys"].values():
        assert key_id(bytes.fromhex(key["public_key_hex"])) == key["key_id"]
    assert key_id(bytes(32)) == hashlib.sha256(bytes(32)).hexdigest()[:32]
    assert key_id(bytearray(32)) == key_id(bytes(32))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), bytes(64), "0" * 32, None])
def test_key_id_needs_32_bytes(bad: object) -> None:
    with pytest.raises(FormatError):
        key_id(bad)  # type: ignore[arg-type]


def vector_entries() -> list[tuple[Entry, dict[str, Any]]]:
    return [(parse_entry(v["raw"].encode()), v) for v in VECTORS["entries"]]


def test_vectors_parse_and_verify() -> None:
    keys = {name: bytes.fromhex(k["public_key_hex"]) for name, k in VECTORS["keys"].items()}
    previous: Entry | None = None
    for number, (e, vector) in enumerate(vector_entries()):
        raw = vector["raw"].encode()
        assert e.raw == raw
        assert e.leaf_hash.hex() == vector["leaf_hash"]
        assert e.leaf_hash == leaf_hash(raw)
        assert e.signed_message == vector["signed_message"].encode()
        assert e.index == number
        assert e.prev == (None if previous is None else previous.leaf_hash)
        assert e.log == LOG
        assert e.body == json.loads(raw)
        verify_signature(e, keys[vector["signer"]])
        other = keys["alice" if vector["signer"] == "service" else "service"]
        with pytest.raises(SignatureError):
            verify_signature(e, other)
        previous = e


def test_vector_fields() -> None:
    (reg0, _), (reg1, _), (qc, _), (rev, _) = vector_entries()
    service = VECTORS["keys"]["service"]
    alice = VECTORS["keys"]["alice"]
    assert reg0.key == service["key_id"] and reg0.actor is None
    assert reg0.subject == KEY_SUBJECT_PREFIX + service["key_id"]
    assert (reg0.subject_seq, reg0.subject_prev) == (0, None)
    assert qc.type == "qc.result.entered"
    assert qc.when == "2026-11-25T12:02:03.123456Z"
    assert qc.key == alice["key_id"] and qc.actor == "alice"
    assert qc.subject.startswith("https://id.example.org/01/")
    assert qc.what["count"] == 2**53 - 1
    assert qc.why["\U0001f600"] == "non-BMP key"
    assert qc.where == {"readPoint": "urn:epc:id:sgln:9506000.13435.QC1"}
    assert (rev.subject_seq, rev.subject_prev) == (1, reg1.leaf_hash)
    assert len(qc.signature) == 64


def test_vector_signed_messages_are_independent_of_this_package() -> None:
    for e, _ in vector_entries():
        stripped = {k: v for k, v in json.loads(e.raw).items() if k not in LOG_ASSIGNED}
        assert e.signed_message == ENTRY_DOMAIN + rfc_dumps(stripped)
        assert signed_message_for(e.body) == e.signed_message


def test_vector_key_registrations_and_revocation() -> None:
    (reg0, _), (reg1, _), (qc, _), (rev, _) = vector_entries()
    service = VECTORS["keys"]["service"]
    alice = VECTORS["keys"]["alice"]
    first = parse_key_registration(reg0)
    assert first == KeyRegistration(
        key=service["key_id"],
        public_key=bytes.fromhex(service["public_key_hex"]),
        user=None,
        label="service key",
        index=0,
    )
    # Index 0 is self-signed: the registered key verifies its own registration.
    verify_signature(reg0, first.public_key)
    second = parse_key_registration(reg1)
    assert second.key == alice["key_id"]
    assert second.user == "alice"
    assert second.label == "Alice's laptop \u2014 QC lab"
    assert second.index == 1
    assert parse_key_revocation(rev) == (alice["key_id"], 3)
    with pytest.raises(EntryFormatError):
        parse_key_registration(qc)
    with pytest.raises(EntryFormatError):
        parse_key_revocation(reg1)


# --- round trip with entries built here ------------------------------------------------


def test_built_entry_parses_and_verifies() -> None:
    body = body_for()
    raw = canonicalize(body)
    assert raw == rfc_dumps(body)
    e = parse_entry(raw)
    verify_signature(e, ALICE.public)
    assert e.index == 5
    assert e.prev == bytes.fromhex(H1)
    assert e.subject_prev == bytes.fromhex(H2)
    assert e.subject == VIAL and e.subject_seq == 2
    assert e.type == "custody.accepted"
    assert e.key == ALICE.kid and e.actor == "alice"
    assert e.what == {"bizStep": "accepting", "temperature": "-151.2"}
    assert e.signed_message.startswith(ENTRY_DOMAIN)
    assert b'"index"' not in e.signed_message and b'"sig"' not in e.signed_message
    assert b'"prev"' not in e.signed_message
    assert parse_entry(bytearray(raw)) == e  # type: ignore[arg-type]
    assert hash(e) == hash(parse_entry(raw))


def test_signed_message_leaves_out_only_index_prev_and_sig() -> None:
    body = body_for()
    without = {k: v for k, v in body.items() if k not in ("index", "prev", "sig")}
    assert signed_message_for(body) == signed_message_for(without)
    assert signed_message_for(body) == ENTRY_DOMAIN + rfc_dumps(without)
    for name in MEMBERS:
        if name in LOG_ASSIGNED:
            continue
        changed = dict(body, **{name: "changed"})
        assert signed_message_for(changed) != signed_message_for(body), name


def test_signed_message_for_refuses_bad_statements() -> None:
    with pytest.raises(FormatError):
        signed_message_for([("v", 1)])  # type: ignore[arg-type]
    with pytest.raises(CanonicalJsonError, match=r"^what\.temperature: floating-point"):
        signed_message_for({"what": {"temperature": -151.2}})
    with pytest.raises(CanonicalJsonError, match="not a string"):
        signed_message_for({1: "x"})  # type: ignore[dict-item]


def test_pop_message() -> None:
    assert pop_message(ALICE.kid, LOG, "alice") == POP_DOMAIN + rfc_dumps(
        {"key": ALICE.kid, "log": LOG, "user": "alice"}
    )
    assert pop_message(SERVICE.kid, LOG, None) == (
        POP_DOMAIN + f'{{"key":"{SERVICE.kid}","log":"{LOG}","user":null}}'.encode()
    )
    for bad_key in ("", ALICE.kid.upper(), ALICE.kid[:-1], ALICE.kid + "0"):
        with pytest.raises(FormatError):
            pop_message(bad_key, LOG, "alice")
    with pytest.raises(FormatError):
        pop_message(ALICE.kid, "", "alice")
    with pytest.raises(FormatError):
        pop_message(ALICE.kid, LOG, "")


def test_error_classes() -> None:
    assert issubclass(EntryFormatError, VerificationError)
    assert not issubclass(EntryFormatError, FormatError)
    assert issubclass(SignatureError, VerificationError)


# --- every rule of the contract, broken one at a time --------------------------------


def assert_refused(raw: bytes, member: str) -> None:
    with pytest.raises(EntryFormatError) as info:
        parse_entry(raw)
    assert repr(member) in str(info.value), str(info.value)
    with pytest.raises(EntryFormatError) as fields_info:
        parse_entry_fields(raw)
    assert str(fields_info.value) == str(info.value)


@pytest.mark.parametrize("member", MEMBERS)
def test_missing_member(member: str) -> None:
    assert_refused(raw_for(**{member: DROP}), member)


@pytest.mark.parametrize("member", ["extra", "Sig", "signature", "", "V", "what "])
def test_unknown_member(member: str) -> None:
    body = body_for()
    body[member] = 1
    assert_refused(canonicalize(body), member)


BAD_VALUES: list[tuple[str, object]] = [
    ("v", 2),
    ("v", 0),
    ("v", True),
    ("v", "1"),
    ("v", None),
    ("log", ""),
    ("log", 1),
    ("log", None),
    ("log", "trace.example.org\nx"),
    ("log", ["x"]),
    ("index", -1),
    ("index", "5"),
    ("index", True),
    ("index", None),
    ("prev", H1.upper()),
    ("prev", H1[:-1]),
    ("prev", H1 + "0"),
    ("prev", "g" * 64),
    ("prev", " " + H1[1:]),
    ("prev", 1),
    ("prev", b64(bytes.fromhex(H1))),
    ("subject", ""),
    ("subject", None),
    ("subject", 5),
    ("subject", {"uri": VIAL}),
    ("subject", VIAL + "\n"),
    ("subject", "urn:trace:key:XYZ"),
    ("subject", KEY_SUBJECT_PREFIX + ALICE.kid.upper()),
    ("subject", KEY_SUBJECT_PREFIX + ALICE.kid[:-1]),
    ("subject", KEY_SUBJECT_PREFIX),
    ("subject_seq", -1),
    ("subject_seq", True),
    ("subject_seq", "2"),
    ("subject_seq", None),
    ("subject_prev", H2.upper()),
    ("subject_prev", H2[:62]),
    ("subject_prev", 0),
    ("type", ""),
    ("type", None),
    ("type", 7),
    ("type", "custody\taccepted"),
    ("when", None),
    ("when", 1764072000),
    ("what", []),
    ("what", "x"),
    ("what", None),
    ("where", []),
    ("where", 0),
    ("why", "because"),
    ("why", None),
    ("key", ALICE.kid.upper()),
    ("key", ALICE.kid[:-1]),
    ("key", ALICE.kid + "0"),
    ("key", None),
    ("key", 1),
    ("key", b64(ALICE.public)),
    ("actor", ""),
    ("actor", 5),
    ("actor", "ali\x00ce"),
    ("actor", ["alice"]),
    ("actor", False),
]


@pytest.mark.parametrize(("member", "value"), BAD_VALUES)
def test_member_out_of_contract(member: str, value: object) -> None:
    assert_refused(raw_for(**{member: value}), member)


def valid_sig_text() -> str:
    return str(body_for()["sig"])


@pytest.mark.parametrize(
    "sig",
    [
        None,
        1,
        "",
        "not base64!",
        b64(bytes(63)),
        b64(bytes(65)),
        b64(bytes(32)),
        valid_sig_text().rstrip("="),  # missing padding
        valid_sig_text()[:-3] + "B==",  # non-zero padding bits: non-canonical
        base64.urlsafe_b64encode(bytes([0xFB, 0xFF] * 32)).decode(),  # URL-safe alphabet
        " " + valid_sig_text(),
        valid_sig_text() + "\n",
    ],
)
def test_sig_out_of_contract(sig: object) -> None:
    assert_refused(raw_for(sig=sig), "sig")


def test_prev_null_only_at_index_zero() -> None:
    assert parse_entry(raw_for(index=0, prev=None)).prev is None
    assert_refused(raw_for(index=0, prev=H1), "prev")
    assert_refused(raw_for(index=1, prev=None), "prev")


def test_subject_prev_null_iff_subject_seq_zero() -> None:
    assert parse_entry(raw_for(subject_seq=0, subject_prev=None)).subject_prev is None
    assert_refused(raw_for(subject_seq=0, subject_prev=H2), "subject_prev")
    assert_refused(raw_for(subject_seq=1, subject_prev=None), "subject_prev")


def test_actor_may_be_null_and_integers_reach_the_limit() -> None:
    e = parse_entry(raw_for(actor=None, index=2**53 - 1, subject_seq=2**53 - 1))
    assert e.actor is None
    assert e.index == e.subject_seq == 2**53 - 1
    with pytest.raises(EntryFormatError, match="canonical JSON"):
        parse_entry(raw_for().replace(b'"index":5', b'"index":9007199254740992'))


@pytest.mark.parametrize(
    "when",
    [
        "2026-11-25T12:00:00Z",
        "2026-11-25T12:00:00.1Z",
        "2026-11-25T12:00:00.123456Z",
        "2026-11-25T12:00:00.123456789Z",
        "2024-02-29T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_when_accepted(when: str) -> None:
    assert parse_entry(raw_for(when=when)).when == when


@pytest.mark.parametrize(
    "when",
    [
        "",
        "2026-11-25",
        "2026-11-25 12:00:00Z",
        "2026-11-25T12:00:00",
        "2026-11-25T12:00:00+00:00",
        "2026-11-25T13:00:00+01:00",
        "2026-11-25T12:00:00z",
        "2026-11-25t12:00:00Z",
        "2026-11-25T12:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-25T24:00:00Z",
        "2026-11-25T12:60:00Z",
        "2026-11-25T12:00:60Z",
        "2026-11-25T12:00:00.Z",
        "2026-11-25T12:00:00.1234567890Z",
        "2026-11-25T12:00:00,5Z",
        "0000-01-01T00:00:00Z",
        "26-11-25T12:00:00Z",
        "+2026-11-25T12:00:00Z",
        "12026-11-25T12:00:00Z",
        "2026-11-25T12:00:00Z\n",
        " 2026-11-25T12:00:00Z",
        "\u0662\u0660\u0662\u0666-11-25T12:00:00Z",  # Arabic-Indic digits
        "2026-11-25T12:00:00\uff3a",  # fullwidth Z
    ],
)
def test_when_refused(when: str) -> None:
    assert_refused(raw_for(when=when), "when")


def test_not_an_object_or_not_canonical() -> None:
    body = body_for()
    with pytest.raises(EntryFormatError, match="not a JSON object"):
        parse_entry(canonicalize([body]))
    with pytest.raises(EntryFormatError, match="not a JSON object"):
        parse_entry(b"null")
    for raw in (
        json.dumps(body, sort_keys=True).encode(),
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n",
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        b"\xef\xbb\xbf" + canonicalize(body),
        canonicalize(body).replace(b'"v":1', b'"v":1.0'),
        canonicalize(body).replace(b'"v":1', b'"v":1,"v":1'),
        canonicalize(body)[:-1],
        b"",
        b"\xff",
    ):
        with pytest.raises(EntryFormatError, match="canonical JSON") as info:
            parse_entry(raw)
        assert isinstance(info.value.__cause__, CanonicalJsonError)


def test_parse_entry_needs_bytes() -> None:
    with pytest.raises(FormatError):
        parse_entry(raw_for().decode())  # type: ignore[arg-type]
    with pytest.raises(FormatError):
        parse_entry_fields(raw_for().decode())  # type: ignore[arg-type]


def fields_of(entry: Entry) -> EntryFields:
    return EntryFields(
        entry.leaf_hash,
        entry.index,
        entry.prev,
        entry.subject,
        entry.subject_seq,
        entry.subject_prev,
        entry.type,
        entry.key,
        entry.signature,
        entry.signed_message,
        entry.actor,
    )


@pytest.mark.parametrize(
    "raw",
    [
        raw_for(),
        raw_for(index=0, prev=None, subject_seq=0, subject_prev=None, actor=None),
        raw_for(what={"note": "line one\nline two", "label": "caf\u00e9 \u2028"}),
        raw_for(log="trace.example.org/\u00e9", actor="\u00e5sa"),
        canonicalize(registration_body(BOB)),
    ],
)
def test_parse_entry_fields_are_those_of_parse_entry(raw: bytes) -> None:
    assert parse_entry_fields(raw) == fields_of(parse_entry(raw))


def test_parse_entry_fields_of_the_vectors() -> None:
    for vector in VECTORS["entries"]:
        raw = vector["raw"].encode()
        assert parse_entry_fields(raw) == fields_of(parse_entry(raw))


def test_key_ring_verifies_entry_fields() -> None:
    ring = KeyRing({ALICE.kid: ALICE.public})
    ring.verify(parse_entry_fields(raw_for()))
    forged = body_for(what={"forged": "yes"})
    forged["sig"] = body_for()["sig"]
    with pytest.raises(SignatureError):
        ring.verify(parse_entry_fields(canonicalize(forged)))


# --- signatures ----------------------------------------------------------------------


def test_signature_by_another_key_is_refused() -> None:
    # Bob signs, but the entry names Alice's key: verifying with Alice's key fails.
    body = body_for(ALICE)
    body["sig"] = BOB.sign(signed_message_for(body))
    e = parse_entry(canonicalize(body))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(e, ALICE.public)
    # And Bob's key is not the key the entry names.
    with pytest.raises(SignatureError, match="names key"):
        verify_signature(e, BOB.public)


def test_key_id_must_match_the_public_key() -> None:
    e = parse_entry(raw_for(ALICE))
    with pytest.raises(SignatureError, match="names key"):
        verify_signature(e, BOB.public)
    with pytest.raises(FormatError):
        verify_signature(e, ALICE.public[:31])


def test_entry_claiming_another_key_id_is_refused() -> None:
    # Signed correctly by Alice, but naming Bob's key id.
    e = parse_entry(raw_for(ALICE, key=BOB.kid))
    with pytest.raises(SignatureError):
        verify_signature(e, BOB.public)
    with pytest.raises(SignatureError):
        verify_signature(e, ALICE.public)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("what", {"bizStep": "accepting", "temperature": "-151.3"}),
        ("subject_seq", 3),
        ("subject_prev", H1),
        ("subject", VIAL + "2"),
        ("when", "2026-11-25T12:00:01Z"),
        ("actor", "bob"),
        ("actor", None),
        ("log", "another.example.org/log"),
        ("type", "custody.released"),
        ("where", {}),
        ("why", {}),
    ],
)
def test_changing_a_signed_member_breaks_the_signature(member: str, value: object) -> None:
    body = body_for()
    body[member] = value
    e = parse_entry(canonicalize(body))
    with pytest.raises(SignatureError):
        verify_signature(e, ALICE.public)


def test_log_assigned_members_are_not_signed() -> None:
    # By design (docs/custody-log.md): the log assigns index and prev after signing.
    # They are bound by the hash chain and the Merkle tree, so the leaf hash changes.
    original = parse_entry(raw_for())
    moved = parse_entry(raw_for(index=9, prev=H2, sig=original.body["sig"]))
    verify_signature(moved, ALICE.public)
    assert moved.signed_message == original.signed_message
    assert moved.leaf_hash != original.leaf_hash


def test_signature_needs_the_domain_prefix() -> None:
    body = body_for()
    stripped = {k: v for k, v in body.items() if k not in LOG_ASSIGNED}
    for message in (
        rfc_dumps(stripped),
        POP_DOMAIN + rfc_dumps(stripped),
        b"trace-log-entry-v2\n" + rfc_dumps(stripped),
    ):
        body["sig"] = ALICE.sign(message)
        e = parse_entry(canonicalize(body))
        with pytest.raises(SignatureError):
            verify_signature(e, ALICE.public)


def test_signature_error_wraps_invalid_signature() -> None:
    body = body_for(sig=b64(bytes(64)))
    with pytest.raises(SignatureError) as info:
        verify_signature(parse_entry(canonicalize(body)), ALICE.public)
    assert info.value.__cause__ is not None


def test_verify_signature_needs_an_entry() -> None:
    with pytest.raises(FormatError):
        verify_signature(raw_for(), ALICE.public)  # type: ignore[arg-type]


def test_flipped_bits_never_pass() -> None:
    raw = VECTORS["entries"][2]["raw"].encode()
    public = bytes.fromhex(VECTORS["keys"]["alice"]["public_key_hex"])
    original = parse_entry(raw)
    verify_signature(original, public)
    passed_position_changes = 0
    for position in range(len(raw)):
        for bit in (position % 8, (position + 3) % 8):
            tampered = bytearray(raw)
            tampered[position] ^= 1 << bit
            try:
                e = parse_entry(bytes(tampered))
                verify_signature(e, public)
            except (EntryFormatError, SignatureError):
                continue
            # Only the unsigned, log-assigned position can change and still verify;
            # the leaf hash then differs, so the Merkle tree and the next prev catch it.
            assert e.signed_message == original.signed_message
            assert (e.index, e.prev) != (original.index, original.prev)
            assert e.leaf_hash != original.leaf_hash
            passed_position_changes += 1
    assert passed_position_changes > 0  # e.g. a hex digit of prev flipped to another


# --- key registrations ----------------------------------------------------------------


def test_registration_built_here() -> None:
    e = registration_entry(ALICE)
    verify_signature(e, SERVICE.public)
    reg = parse_key_registration(e)
    assert reg == KeyRegistration(
        key=ALICE.kid, public_key=ALICE.public, user="alice", label="laptop", index=5
    )


def test_registration_of_the_service_key_with_null_user() -> None:
    e = registration_entry(SERVICE, user=None, body_index=0, body_prev=None)
    reg = parse_key_registration(e)
    assert reg.user is None and reg.index == 0 and reg.key == SERVICE.kid
    verify_signature(e, reg.public_key)


def test_registration_bad_pop_signature() -> None:
    with pytest.raises(SignatureError, match="proof of possession"):
        parse_key_registration(registration_entry(ALICE, pop_key=BOB))
    with pytest.raises(SignatureError, match="proof of possession"):
        parse_key_registration(registration_entry(ALICE, pop_key=SERVICE))
    with pytest.raises(SignatureError):
        parse_key_registration(registration_entry(ALICE, pop=b64(bytes(64))))


def test_registration_pop_for_another_log() -> None:
    with pytest.raises(SignatureError):
        parse_key_registration(registration_entry(ALICE, pop_log="other.example.org/log"))


def test_registration_pop_for_another_user() -> None:
    with pytest.raises(SignatureError):
        parse_key_registration(registration_entry(ALICE, pop_user="bob"))
    with pytest.raises(SignatureError):
        parse_key_registration(registration_entry(ALICE, pop_user=None))
    with pytest.raises(SignatureError):
        parse_key_registration(registration_entry(ALICE, user=None, pop_user="alice"))


def test_registration_pop_is_not_the_entry_signature() -> None:
    # A pop without its domain prefix, or the entry-domain prefix, does not verify.
    bare = rfc_dumps({"key": ALICE.kid, "log": LOG, "user": "alice"})
    for message in (bare, ENTRY_DOMAIN + bare):
        with pytest.raises(SignatureError):
            parse_key_registration(registration_entry(ALICE, pop=ALICE.sign(message)))


def test_registration_public_key_must_match_subject() -> None:
    with pytest.raises(EntryFormatError, match="what.public_key"):
        parse_key_registration(registration_entry(ALICE, public_key=b64(BOB.public)))
    with pytest.raises(EntryFormatError, match="what.public_key"):
        parse_key_registration(registration_entry(ALICE, body_subject=KEY_SUBJECT_PREFIX + BOB.kid))


def test_registration_wrong_subject() -> None:
    with pytest.raises(EntryFormatError, match="subject"):
        parse_key_registration(registration_entry(ALICE, body_subject=VIAL))
    with pytest.raises(EntryFormatError, match="subject"):
        parse_key_registration(
            registration_entry(ALICE, body_subject="urn:trace:keys:" + ALICE.kid)
        )


def test_registration_wrong_subject_seq() -> None:
    e = registration_entry(ALICE, body_subject_seq=1, body_subject_prev=H2)
    with pytest.raises(EntryFormatError, match="subject_seq"):
        parse_key_registration(e)


def test_registration_actor_must_be_null() -> None:
    # Registrations are signed by the service key, whose entries carry no actor.
    with pytest.raises(EntryFormatError, match="'actor'"):
        parse_key_registration(registration_entry(ALICE, body_actor="alice"))


def test_registration_wrong_type() -> None:
    with pytest.raises(EntryFormatError, match="type"):
        parse_key_registration(registration_entry(ALICE, body_type="key.revoked"))
    with pytest.raises(EntryFormatError, match="type"):
        parse_key_registration(parse_entry(raw_for()))


@pytest.mark.parametrize(
    ("member", "value", "problem"),
    [
        ("algorithm", "ed448", "what.algorithm"),
        ("algorithm", "Ed25519", "what.algorithm"),
        ("algorithm", None, "what.algorithm"),
        ("algorithm", DROP, "exactly the members"),
        ("public_key", DROP, "exactly the members"),
        ("user", DROP, "exactly the members"),
        ("label", DROP, "exactly the members"),
        ("pop", DROP, "exactly the members"),
        ("extra", "x", "exactly the members"),
        ("public_key", b64(ALICE.public[:31]), "what.public_key"),
        ("public_key", b64(ALICE.public + b"\x00"), "what.public_key"),
        ("public_key", b64(ALICE.public).rstrip("="), "what.public_key"),
        ("public_key", ALICE.public.hex(), "what.public_key"),
        ("public_key", None, "what.public_key"),
        ("user", "", "what.user"),
        ("user", 5, "what.user"),
        ("user", ["alice"], "what.user"),
        ("label", None, "what.label"),
        ("label", 5, "what.label"),
        ("pop", b64(bytes(63)), "what.pop"),
        ("pop", "", "what.pop"),
        ("pop", None, "what.pop"),
    ],
)
def test_registration_what_out_of_contract(member: str, value: object, problem: str) -> None:
    e = registration_entry(ALICE, **{member: value})
    with pytest.raises(EntryFormatError, match=problem):
        parse_key_registration(e)


def test_registration_needs_an_entry() -> None:
    with pytest.raises(FormatError):
        parse_key_registration(registration_body(ALICE))  # type: ignore[arg-type]


# --- key revocations -------------------------------------------------------------------


def revocation_raw(**changes: object) -> bytes:
    base: dict[str, object] = {
        "type": "key.revoked",
        "subject": KEY_SUBJECT_PREFIX + ALICE.kid,
        "subject_seq": 1,
        "subject_prev": H2,
        "what": {"reason": "laptop lost"},
        "where": {},
        "why": {},
        "actor": None,
    }
    base.update(changes)
    return raw_for(SERVICE, **base)


def test_revocation() -> None:
    e = parse_entry(revocation_raw())
    verify_signature(e, SERVICE.public)
    assert parse_key_revocation(e) == (ALICE.kid, 5)
    assert parse_key_revocation(parse_entry(revocation_raw(what={"reason": ""}))) == (
        ALICE.kid,
        5,
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"type": "key.registered"}, "type"),
        ({"type": "key.revoke"}, "type"),
        ({"subject": VIAL}, "subject"),
        ({"subject_seq": 0, "subject_prev": None}, "subject_seq"),
        ({"actor": "admin"}, "'actor'"),
        ({"what": {}}, "exactly the members"),
        ({"what": {"reason": "x", "by": "admin"}}, "exactly the members"),
        ({"what": {"why": "x"}}, "exactly the members"),
        ({"what": {"reason": None}}, "what.reason"),
        ({"what": {"reason": 1}}, "what.reason"),
    ],
)
def test_revocation_out_of_contract(changes: dict[str, object], problem: str) -> None:
    e = parse_entry(revocation_raw(**changes))
    with pytest.raises(EntryFormatError, match=problem):
        parse_key_revocation(e)


def test_module_exports() -> None:
    for name in entry_module.__all__:
        assert hasattr(entry_module, name), name
