"""Tests of audit.cosignature: the spec's example, known answers, messages assembled
by hand from the spec, and cosigned notes tampered with in every way a verifier must
catch (wrong key, wrong time, flipped bytes, another log's cosignature, one witness
counted twice, an impossible or empty quorum)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

from audit import cosignature as cs
from audit import note
from audit.checkpoint import Checkpoint
from audit.errors import (
    CheckpointError,
    CosignatureError,
    FormatError,
    QuorumError,
    SignatureError,
    VerificationError,
)

ASSETS = Path(__file__).parent / "assets"
V: dict[str, Any] = json.loads((ASSETS / "cosignature_vectors.json").read_text("utf-8"))
DASH = "\u2014"

LOG_KEY = note.parse_verifier_key(V["log_key"])
LOG_COSIGNER = cs.parse_cosigner_key(V["log_cosigner_key"])
W1_PQ = cs.parse_cosigner_key(V["witness_keys"]["w1 ml-dsa-44"])
W1_ED = cs.parse_cosigner_key(V["witness_keys"]["w1 ed25519"])
W2_ED = cs.parse_cosigner_key(V["witness_keys"]["w2 ed25519"])
WITNESSES = [W1_PQ, W1_ED, W2_ED]
TEXT: str = V["checkpoint_text"]
NOTE: str = V["cosigned_note"]
LINES: dict[str, str] = V["lines"]


def seed(name: str) -> bytes:
    return bytes.fromhex(V["seeds"][name])


def blob(line: str) -> bytes:
    return base64.b64decode(line.split(" ")[2])


def line_of(name: str, data: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(data).decode()}"


def replace_line(cosigned: str, old: str, new: str) -> str:
    assert old + "\n" in cosigned
    return cosigned.replace(old + "\n", new + "\n")


def without(cosigned: str, line: str) -> str:
    assert line + "\n" in cosigned
    return cosigned.replace(line + "\n", "")


def hand_subtree_message(
    name: str, ts: int, origin: str, start: int, end: int, root: bytes
) -> bytes:
    """cosigned_message written out from the spec's struct, independently of the module."""
    out = b"subtree/v1\n\x00"
    out += len(name.encode()).to_bytes(1, "big") + name.encode()
    out += ts.to_bytes(8, "big")
    out += len(origin.encode()).to_bytes(1, "big") + origin.encode()
    out += start.to_bytes(8, "big") + end.to_bytes(8, "big") + root
    return out


def verify(cosigned: str | bytes, quorum: int = 2, **kw: Any) -> cs.CosignedCheckpoint:
    return cs.verify_cosigned(cosigned, LOG_KEY, WITNESSES, quorum, **kw)


# --- the spec's example and known answers ----------------------------------------------


def test_spec_example_framing_and_message() -> None:
    example = V["spec_example"]
    text, signatures = note.parse_note(example["note"])
    witness = signatures[1]
    assert witness.name == "witness.example.com/w1"
    assert f"{witness.key_id:08x}" == example["witness_key_id"]
    assert len(witness.signature) == 8 + 64
    timestamp = int.from_bytes(witness.signature[:8], "big")
    assert timestamp == example["witness_timestamp"]
    assert cs.cosignature_v1_message(timestamp, text) == example["signed_message"].encode()


def test_ed25519_cosignature_is_the_known_answer() -> None:
    cosigner = cs.Cosigner("witness.example/w2", cs.ALG_COSIGNATURE_V1, seed("w2 ed25519"))
    assert cosigner.key() == W2_ED
    assert cosigner.key().text() == V["witness_keys"]["w2 ed25519"]
    line = cosigner.signature_line(TEXT, V["timestamps"]["w2 ed25519"])
    assert line == LINES["w2 ed25519"]  # Ed25519 is deterministic: an exact answer


def test_key_ids_and_vkeys_follow_the_spec() -> None:
    for key in (W1_PQ, W1_ED, W2_ED, LOG_COSIGNER):
        digest = hashlib.sha256(
            key.name.encode() + b"\n" + bytes([key.algorithm]) + key.public_key
        ).digest()
        assert key.key_id == int.from_bytes(digest[:4], "big")
        name, hex_id, b64 = key.text().split("+", 2)
        assert (name, hex_id) == (key.name, f"{key.key_id:08x}")
        assert base64.b64decode(b64) == bytes([key.algorithm]) + key.public_key
    assert len(W1_PQ.public_key) == 1312 and W1_PQ.algorithm == 0x06
    assert len(W1_ED.public_key) == 32 and W1_ED.algorithm == 0x04


def test_ed25519_signed_message_checked_with_raw_crypto() -> None:
    raw = blob(LINES["w1 ed25519"])
    assert int.from_bytes(raw[:4], "big") == W1_ED.key_id
    timestamp = struct.unpack(">Q", raw[4:12])[0]
    assert timestamp == V["timestamps"]["w1 ed25519"]
    message = f"cosignature/v1\ntime {timestamp}\n".encode() + TEXT.encode()
    Ed25519PublicKey.from_public_bytes(W1_ED.public_key).verify(raw[12:], message)


def test_ml_dsa_signed_message_checked_with_raw_crypto() -> None:
    checkpoint = Checkpoint.parse(TEXT)
    for name, key in (("w1 ml-dsa-44", W1_PQ), ("log ml-dsa-44", LOG_COSIGNER)):
        raw = blob(LINES[name])
        assert len(raw) == 4 + 8 + 2420
        assert int.from_bytes(raw[:4], "big") == key.key_id
        timestamp = struct.unpack(">Q", raw[4:12])[0]
        assert timestamp == V["timestamps"][name]
        message = hand_subtree_message(
            key.name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
        )
        assert message == cs.subtree_v1_message(
            key.name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
        )
        # pure ML-DSA-44 with the empty context
        MLDSA44PublicKey.from_public_bytes(key.public_key).verify(raw[12:], message)
        MLDSA44PublicKey.from_public_bytes(key.public_key).verify(raw[12:], message, b"")


def test_the_stored_cosigned_note_verifies_with_its_quorum() -> None:
    result = verify(NOTE, 2, log_cosigner=LOG_COSIGNER)
    assert result.checkpoint == Checkpoint.parse(TEXT)
    assert result.witnesses == ("witness.example/w1", "witness.example/w2")
    assert len(result.cosignatures) == 3  # w1 signed with two keys, and counts once
    assert result.log_cosignature is not None
    assert result.log_cosignature.timestamp == V["timestamps"]["log ml-dsa-44"]
    assert {c.line for c in result.cosignatures} == {
        LINES["w1 ml-dsa-44"],
        LINES["w1 ed25519"],
        LINES["w2 ed25519"],
    }


def test_a_cosigned_note_still_opens_with_the_log_key_alone() -> None:
    """What Go's note.Open does with the log's key: unknown lines are ignored."""
    opened = note.verify_note(NOTE, [LOG_KEY])
    assert opened.text == TEXT
    assert [s.name for s in opened.signatures] == [LOG_KEY.name]
    assert len(opened.unverified) == 4


def test_signing_round_trips_for_both_types() -> None:
    for algorithm in (cs.ALG_COSIGNATURE_V1, cs.ALG_SUBTREE_V1):
        cosigner = cs.Cosigner.generate("witness.example/new", algorithm)
        again = cs.parse_cosigner_private_key(cosigner.private_key_text())
        assert again.key() == cosigner.key()
        assert cs.parse_cosigner_key(cosigner.key().text()) == cosigner.key()
        line = cosigner.signature_line(TEXT, 1_700_000_000)
        sigs = cs.parse_signature_lines(TEXT, line + "\n")
        (found,) = cs.verify_cosignatures(TEXT, sigs, [cosigner.key()])
        assert found.timestamp == 1_700_000_000 and found.line == line
        assert cosigner.private_key_text() not in repr(cosigner)


# --- quorum -------------------------------------------------------------------------------


def test_quorum_of_one_and_two_met() -> None:
    assert verify(NOTE, 1).witnesses == ("witness.example/w1", "witness.example/w2")
    assert len(verify(NOTE, 2).witnesses) == 2


@pytest.mark.parametrize("quorum", [0, -1, 3])
def test_impossible_or_empty_quorum_is_refused(quorum: int) -> None:
    with pytest.raises(FormatError):
        verify(NOTE, quorum)


def test_quorum_must_be_an_integer() -> None:
    with pytest.raises(FormatError):
        verify(NOTE, True)  # type: ignore[arg-type]


def test_missing_witness_fails_the_quorum() -> None:
    note_without_w2 = without(NOTE, LINES["w2 ed25519"])
    assert verify(note_without_w2, 1).witnesses == ("witness.example/w1",)
    with pytest.raises(QuorumError, match="witness.example/w2"):
        verify(note_without_w2, 2)


def test_one_witness_signing_twice_counts_once() -> None:
    # w2's line twice, w1 absent: still one witness.
    only_w2 = without(without(NOTE, LINES["w1 ml-dsa-44"]), LINES["w1 ed25519"])
    doubled = only_w2 + LINES["w2 ed25519"] + "\n"
    with pytest.raises(QuorumError):
        verify(doubled, 2)
    # ...and two different valid cosignatures from one key (another time) count once.
    w2 = cs.Cosigner("witness.example/w2", cs.ALG_COSIGNATURE_V1, seed("w2 ed25519"))
    again = only_w2 + w2.signature_line(TEXT, 1_800_000_000) + "\n"
    result = cs.verify_cosigned(again, LOG_KEY, [W2_ED, W1_PQ], 1)
    assert result.witnesses == ("witness.example/w2",)
    assert len(result.cosignatures) == 2
    with pytest.raises(QuorumError):
        cs.verify_cosigned(again, LOG_KEY, [W2_ED, W1_PQ], 2)


def test_unknown_witness_keys_do_not_count() -> None:
    stranger = cs.Cosigner.generate("witness.example/w2", cs.ALG_COSIGNATURE_V1)
    # Same name as w2, another key: its lines are unknown to this verifier...
    with pytest.raises(QuorumError):
        cs.verify_cosigned(NOTE, LOG_KEY, [stranger.key(), W1_PQ], 2)
    # ...and a line by the stranger does not count for w2.
    forged = without(NOTE, LINES["w2 ed25519"]) + stranger.signature_line(TEXT, 5) + "\n"
    with pytest.raises(QuorumError):
        verify(forged, 2)


def test_missing_log_cosignature_fails_when_its_key_is_given() -> None:
    with pytest.raises(QuorumError, match="own cosignature"):
        verify(without(NOTE, LINES["log ml-dsa-44"]), 2, log_cosigner=LOG_COSIGNER)
    assert verify(without(NOTE, LINES["log ml-dsa-44"]), 2).log_cosignature is None


def test_witness_named_like_the_log_is_refused() -> None:
    impostor = cs.Cosigner.generate(LOG_KEY.name).key()
    with pytest.raises(FormatError):
        cs.verify_cosigned(NOTE, LOG_KEY, [impostor], 1)


def test_two_different_keys_with_one_identity_are_refused() -> None:
    twin = cs.CosignerKey.__new__(cs.CosignerKey)
    object.__setattr__(twin, "name", W2_ED.name)
    object.__setattr__(twin, "algorithm", W2_ED.algorithm)
    object.__setattr__(twin, "public_key", bytes(32))
    object.__setattr__(twin, "key_id", W2_ED.key_id)
    with pytest.raises(FormatError):
        cs.verify_cosigned(NOTE, LOG_KEY, [W2_ED, twin], 1)


# --- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["w1 ml-dsa-44", "w1 ed25519", "w2 ed25519"])
def test_changed_timestamp_fails(which: str) -> None:
    raw = bytearray(blob(LINES[which]))
    raw[11] ^= 0x01  # the last byte of the timestamp
    name = LINES[which].split(" ")[1]
    with pytest.raises(SignatureError):
        verify(replace_line(NOTE, LINES[which], line_of(name, bytes(raw))), 1)


@pytest.mark.parametrize("which", ["w1 ml-dsa-44", "w2 ed25519", "log ml-dsa-44"])
@pytest.mark.parametrize("offset", [12, 40, -1])
def test_flipped_signature_byte_fails(which: str, offset: int) -> None:
    raw = bytearray(blob(LINES[which]))
    raw[offset] ^= 0x80
    name = LINES[which].split(" ")[1]
    with pytest.raises(SignatureError):
        verify(
            replace_line(NOTE, LINES[which], line_of(name, bytes(raw))),
            1,
            log_cosigner=LOG_COSIGNER,
        )


def test_truncated_or_padded_cosignature_is_malformed() -> None:
    raw = blob(LINES["w2 ed25519"])
    for bad in (raw[:-1], raw + b"\x00"):
        with pytest.raises(CosignatureError):
            verify(replace_line(NOTE, LINES["w2 ed25519"], line_of("witness.example/w2", bad)), 1)


def test_timestamp_beyond_the_spec_bound_is_refused() -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed("w2 ed25519"))
    ts = 2**63
    message = f"cosignature/v1\ntime {ts}\n".encode() + TEXT.encode()
    raw = W2_ED.key_id.to_bytes(4, "big") + ts.to_bytes(8, "big") + key.sign(message)
    bad = replace_line(NOTE, LINES["w2 ed25519"], line_of("witness.example/w2", raw))
    with pytest.raises(CosignatureError):
        verify(bad, 1)
    with pytest.raises(FormatError):
        cs.cosignature_v1_message(ts, TEXT)


def test_flipped_checkpoint_byte_fails() -> None:
    tampered = NOTE.replace("20852163", "20852164", 1)
    with pytest.raises(SignatureError):
        verify(tampered, 1)


def test_cosignature_of_another_log_does_not_transfer() -> None:
    """A witness's cosignature of another origin's checkpoint, with the same size and root,
    pasted under this log's checkpoint."""
    other = Checkpoint("other.example/log", 20852163, Checkpoint.parse(TEXT).root_hash)
    for which, algorithm in (("w1 ml-dsa-44", 0x06), ("w2 ed25519", 0x04)):
        label = which.split(" ", 1)
        name = f"witness.example/{label[0]}"
        cosigner = cs.Cosigner(name, algorithm, seed(which))
        foreign = cosigner.signature_line(other.format(), V["timestamps"][which])
        with pytest.raises(SignatureError):
            verify(replace_line(NOTE, LINES[which], foreign), 1)


def test_cosignature_of_another_size_does_not_transfer() -> None:
    checkpoint = Checkpoint.parse(TEXT)
    bigger = Checkpoint(checkpoint.origin, checkpoint.size + 1, checkpoint.root_hash)
    cosigner = cs.Cosigner("witness.example/w1", 0x06, seed("w1 ml-dsa-44"))
    stale = cosigner.signature_line(bigger.format(), 7)
    with pytest.raises(SignatureError):
        verify(replace_line(NOTE, LINES["w1 ml-dsa-44"], stale), 1)


def test_expected_origin_is_enforced() -> None:
    with pytest.raises(CheckpointError):
        verify(NOTE, 1, origin="other.example/log")


def test_log_signature_missing_fails_even_with_all_witnesses() -> None:
    text, sigs = note.parse_note(NOTE)
    log_line = cs.signature_line(sigs[0])
    with pytest.raises(VerificationError):
        verify(without(NOTE, log_line), 1)


def test_extension_lines_are_in_the_ed25519_message_only() -> None:
    """The spec: ML-DSA-44 cosignatures commit to origin, size and root, not extensions."""
    extended = TEXT + "extension line\n"
    ed = cs.Cosigner("witness.example/w2", 0x04, seed("w2 ed25519"))
    pq = cs.Cosigner("witness.example/w1", 0x06, seed("w1 ml-dsa-44"))
    ed_sig = ed.cosign(extended, 9)
    pq_sig = pq.cosign(extended, 9)
    assert W1_PQ.verify(TEXT, pq_sig) == 9
    with pytest.raises(SignatureError):
        W2_ED.verify(TEXT, ed_sig)


# --- messages and keys --------------------------------------------------------------------


def test_subtree_message_rules() -> None:
    root = bytes(32)
    assert cs.subtree_v1_message("w", 0, "o", 3, 9, root) == hand_subtree_message(
        "w", 0, "o", 3, 9, root
    )
    assert cs.subtree_v1_message("w", 5, "o", 0, 0, root)[-48:-32] == bytes(16)
    with pytest.raises(FormatError):
        cs.subtree_v1_message("w", 1, "o", 3, 9, root)  # start > 0 needs timestamp 0
    with pytest.raises(FormatError):
        cs.subtree_v1_message("w" * 256, 0, "o", 0, 1, root)
    with pytest.raises(FormatError):
        cs.subtree_v1_message("w", 0, "", 0, 1, root)
    with pytest.raises(FormatError):
        cs.subtree_v1_message("w", 0, "o", 2, 1, root)
    with pytest.raises(FormatError):
        cs.subtree_v1_message("w", 0, "o", 0, 1, bytes(31))


def test_ml_dsa_cosignature_needs_a_checkpoint_text() -> None:
    with pytest.raises(CheckpointError):
        W1_PQ.verify("not\na\ncheckpoint\n", blob(LINES["w1 ml-dsa-44"])[4:])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("+", "+0", 1),  # key id of 9 digits
        lambda t: t.split("+", 1)[0] + "+" + t.split("+")[1].upper() + "+" + t.split("+", 2)[2],
        lambda t: t[:-1],  # truncated base64
        lambda t: t + "=",
        lambda t: " " + t,
        lambda t: "bad name+" + t.split("+", 1)[1],
    ],
)
def test_malformed_cosigner_keys_are_refused(mutate: Any) -> None:
    for key in (W1_PQ, W2_ED):
        text = key.text()
        bad = mutate(text)
        if bad == text:
            continue
        with pytest.raises(FormatError):
            cs.parse_cosigner_key(bad)


def test_note_keys_and_unknown_types_are_not_cosigner_keys() -> None:
    with pytest.raises(FormatError, match="0x04"):
        cs.parse_cosigner_key(LOG_KEY.text())  # type 0x01
    raw = base64.b64decode(W2_ED.text().split("+", 2)[2])
    for algorithm in (0x02, 0x05, 0xFF):
        forged = bytes([algorithm]) + raw[1:]
        with pytest.raises(FormatError):
            cs.parse_cosigner_key(
                f"{W2_ED.name}+{W2_ED.key_id:08x}+" + base64.b64encode(forged).decode()
            )


def test_key_id_must_match() -> None:
    name, _, b64 = W2_ED.text().split("+", 2)
    with pytest.raises(FormatError):
        cs.parse_cosigner_key(f"{name}+{(W2_ED.key_id ^ 1):08x}+{b64}")
    with pytest.raises(FormatError):
        cs.parse_cosigner_key(f"witness.example/w3+{W2_ED.key_id:08x}+{b64}")


def test_private_key_text_is_checked() -> None:
    cosigner = cs.Cosigner("witness.example/x", 0x06, seed("w1 ml-dsa-44"))
    text = cosigner.private_key_text()
    assert text.startswith("PRIVATE+KEY+witness.example/x+")
    with pytest.raises(FormatError):
        cs.parse_cosigner_private_key(text.replace("PRIVATE+KEY+", ""))
    name_id, b64 = text.rsplit("+", 1)
    other = base64.b64encode(bytes([0x06]) + seed("w2 ed25519")).decode()
    with pytest.raises(FormatError):
        cs.parse_cosigner_private_key(f"{name_id}+{other}")
