"""Tests of audit.checkpoint: strict parsing, formatting, and signed checkpoints."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from audit import merkle, note
from audit.checkpoint import MAX_TREE_SIZE, Checkpoint, sign_checkpoint, verify_checkpoint
from audit.errors import CheckpointError, FormatError, NoteError, SignatureError

ASSETS = Path(__file__).parent / "assets"
EXAMPLE: dict[str, Any] = json.loads((ASSETS / "note_vectors.json").read_text("utf-8"))[
    "checkpoint_example"
]

ORIGIN = "custody.example/log"
LOG = note.Signer(ORIGIN, hashlib.sha256(b"checkpoint test log key").digest())
WITNESS = note.Signer("witness.example", hashlib.sha256(b"checkpoint test witness").digest())
ROOT = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b"), merkle.leaf_hash(b"c")])
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_parse_the_spec_example() -> None:
    cp = Checkpoint.parse(EXAMPLE["text"])
    assert cp.origin == EXAMPLE["origin"]
    assert cp.size == EXAMPLE["size"]
    assert cp.root_hash == base64.b64decode(EXAMPLE["root_hash_b64"])
    assert cp.extensions == ()
    assert cp.format() == EXAMPLE["text"]


def test_format_and_parse_round_trip() -> None:
    for cp in (
        Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT),
        Checkpoint(ORIGIN, 3, ROOT),
        Checkpoint(ORIGIN, MAX_TREE_SIZE, ROOT, ("ext one", "ext two")),
        Checkpoint("origin with spaces+plus", 1, ROOT),  # allowed: a SHOULD, not a MUST
    ):
        text = cp.format()
        assert text.endswith("\n")
        assert Checkpoint.parse(text) == cp
    assert Checkpoint(ORIGIN, 3, ROOT, ("x",)).format() == f"{ORIGIN}\n3\n{ROOT_B64}\nx\n"


def test_malformed_checkpoints_are_rejected() -> None:
    b64_31 = base64.b64encode(ROOT[:31]).decode()
    b64_33 = base64.b64encode(ROOT + b"\x00").decode()
    bad_texts = [
        "",
        "\n",
        f"{ORIGIN}\n3\n{ROOT_B64}",  # no final newline
        f"{ORIGIN}\n3\n",  # no root line
        f"{ORIGIN}\n{ROOT_B64}\n",
        f"\n3\n{ROOT_B64}\n",  # empty origin
        f"{ORIGIN}\n\n{ROOT_B64}\n",  # empty size
        f"{ORIGIN}\n3\n\n",  # empty root
        f"{ORIGIN}\n03\n{ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n00\n{ROOT_B64}\n",
        f"{ORIGIN}\n+3\n{ROOT_B64}\n",
        f"{ORIGIN}\n-3\n{ROOT_B64}\n",
        f"{ORIGIN}\n 3\n{ROOT_B64}\n",
        f"{ORIGIN}\n3 \n{ROOT_B64}\n",
        f"{ORIGIN}\n1_000\n{ROOT_B64}\n",
        f"{ORIGIN}\n0x10\n{ROOT_B64}\n",
        f"{ORIGIN}\n\u0663\n{ROOT_B64}\n",  # a non-ASCII digit
        f"{ORIGIN}\n{2**64}\n{ROOT_B64}\n",  # does not fit in 64 bits
        f"{ORIGIN}\n3\n{b64_31}\n",  # 31-byte root
        f"{ORIGIN}\n3\n{b64_33}\n",  # 33-byte root
        f"{ORIGIN}\n3\n{ROOT.hex()}\n",  # hex, not base64
        f"{ORIGIN}\n3\n{ROOT_B64.rstrip('=')}\n",  # unpadded
        f"{ORIGIN}\n3\n{ROOT_B64} \n",
        f"{ORIGIN}\n3\n{ROOT_B64}\n\n",  # empty extension line
        f"{ORIGIN}\n3\n{ROOT_B64}\next\n\n",
        f"{ORIGIN}\n3\n{ROOT_B64}\n\next\n",
        f"{ORIGIN}\r\n3\n{ROOT_B64}\n",  # control character
        f"{ORIGIN}\n3\n{ROOT_B64}\nbad\tline\n",
    ]
    for text in bad_texts:
        with pytest.raises(CheckpointError):
            Checkpoint.parse(text)


def test_non_canonical_root_base64_is_rejected() -> None:
    # 32 bytes end in one '=': the last letter carries 2 zero bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(ROOT_B64[-2])
    assert last % 4 == 0
    odd = ROOT_B64[:-2] + alphabet[last | 1] + "="
    assert base64.b64decode(odd) == ROOT
    with pytest.raises(CheckpointError):
        Checkpoint.parse(f"{ORIGIN}\n3\n{odd}\n")


def test_constructor_rejects_bad_fields() -> None:
    bad: list[tuple[Any, Any, Any, Any]] = [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, 2**64, ROOT, ()),
        (ORIGIN, True, ROOT, ()),
        (ORIGIN, "1", ROOT, ()),
        (ORIGIN, 1, ROOT[:31], ()),
        (ORIGIN, 1, ROOT.hex(), ()),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("a\nb",)),
        (ORIGIN, 1, ROOT, ["list"]),
    ]
    for origin, size, root, ext in bad:
        with pytest.raises(FormatError):
            Checkpoint(origin, size, root, ext)


def test_signed_checkpoint_verifies() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    signed = sign_checkpoint(cp, LOG)
    assert signed.startswith(cp.format().encode() + b"\n\xe2\x80\x94 " + ORIGIN.encode() + b" ")
    assert verify_checkpoint(signed, LOG.verifier()) == cp
    assert verify_checkpoint(signed.decode(), LOG.verifier(), origin=ORIGIN) == cp


def test_witness_cosignatures_are_ignored_unless_known() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    signed = note.sign(cp.format(), LOG, WITNESS)
    assert verify_checkpoint(signed, LOG.verifier()) == cp


def test_checkpoint_signed_by_another_key_is_rejected() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    impostor = note.Signer(ORIGIN, hashlib.sha256(b"impostor").digest())
    with pytest.raises(NoteError):
        verify_checkpoint(note.sign(cp.format(), impostor), LOG.verifier())
    with pytest.raises(NoteError):
        verify_checkpoint(note.sign(cp.format(), WITNESS), LOG.verifier())


def test_tampered_checkpoint_is_rejected() -> None:
    cp = Checkpoint(ORIGIN, 3, ROOT)
    signed = sign_checkpoint(cp, LOG).decode()
    for old, new in (("\n3\n", "\n4\n"), (ROOT_B64, base64.b64encode(ROOT[::-1]).decode())):
        with pytest.raises(SignatureError):
            verify_checkpoint(signed.replace(old, new, 1), LOG.verifier())


def test_origin_must_match() -> None:
    cp = Checkpoint("other.example/log", 3, ROOT)
    signed = note.sign(cp.format(), LOG)  # signed by our key, but for another origin
    with pytest.raises(CheckpointError):
        verify_checkpoint(signed, LOG.verifier())
    assert verify_checkpoint(signed, LOG.verifier(), origin="other.example/log") == cp
    ours = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), LOG)
    with pytest.raises(CheckpointError):
        verify_checkpoint(ours, LOG.verifier(), origin="other.example/log")


def test_signed_but_malformed_body_is_rejected() -> None:
    signed = note.sign(f"{ORIGIN}\n03\n{ROOT_B64}\n", LOG)
    with pytest.raises(CheckpointError):
        verify_checkpoint(signed, LOG.verifier())


def test_sign_checkpoint_requires_the_origin_as_key_name() -> None:
    with pytest.raises(FormatError):
        sign_checkpoint(Checkpoint("other.example/log", 3, ROOT), LOG)
