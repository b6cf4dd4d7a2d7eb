"""Tests of audit.note: known answers (including Go interop), key text parsing, and
tampered or malformed notes that must all be rejected."""

from __future__ import annotations

import base64
import hashlib
import json
import string
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import note
from audit.errors import FormatError, NoteError, SignatureError, VerificationError

ASSETS = Path(__file__).parent / "assets"
VECTORS: dict[str, Any] = json.loads((ASSETS / "note_vectors.json").read_text("utf-8"))
GO = VECTORS["go"]
DASH = "\u2014"

PETER = note.parse_verifier_key(GO["peter_verifier_key"])
ENOCH = note.parse_verifier_key(GO["enoch_verifier_key"])
GO_TEXT: str = GO["text"]
PETER_SIG: str = GO["peter_signature_line"]
ENOCH_SIG: str = GO["enoch_signature_line"]


def independent_key_id(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def signature_line(name: str, blob: bytes) -> str:
    return f"{DASH} {name} {base64.b64encode(blob).decode()}\n"


def blob_of(line: str) -> bytes:
    return base64.b64decode(line.rstrip("\n").split(" ")[2])


# --- known answers -----------------------------------------------------------------


def test_known_answer_example_com_foo() -> None:
    verifier = note.parse_verifier_key(
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    )
    text = "This is an example message.\n"
    line = (
        "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1E"
        "RYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert line == VECTORS["example"]["signature_line"]
    opened = note.verify_note((text + "\n" + line).encode(), [verifier])
    assert opened.text == text
    assert [(s.name, s.key_id) for s in opened.signatures] == [("example.com/foo", 0x530D903A)]
    assert opened.unverified == ()
    assert verifier.key_id == independent_key_id("example.com/foo", verifier.public_key)
    assert verifier.text() == VECTORS["example"]["verifier_key"]


def test_go_interop_sign_is_byte_identical() -> None:
    signer = note.parse_private_key(GO["peter_private_key"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.verifier() == PETER
    assert signer.private_key_text() == GO["peter_private_key"]
    assert note.sign(GO_TEXT, signer) == (GO_TEXT + "\n" + PETER_SIG).encode()


def test_go_interop_open() -> None:
    msg = (GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    one = note.verify_note(msg, [PETER])
    assert one.text == GO_TEXT
    assert [s.name for s in one.signatures] == ["PeterNeumann"]
    assert [(s.name, s.key_id) for s in one.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = note.verify_note(msg, [PETER, ENOCH])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    assert both.unverified == ()
    # Duplicates: the same verifier twice, the same signature twice.
    again = note.verify_note((GO_TEXT + "\n" + PETER_SIG + PETER_SIG).encode(), [PETER, PETER])
    assert len(again.signatures) == 1
    # str input works the same as bytes.
    assert note.verify_note(msg.decode(), [PETER]) == one


def test_verifier_key_text_round_trip() -> None:
    assert note.format_verifier_key(PETER.name, PETER.public_key) == GO["peter_verifier_key"]
    assert PETER.text() == GO["peter_verifier_key"]
    assert note.Verifier.from_public_key(PETER.name, PETER.public_key) == PETER


# --- key generation and text forms ---------------------------------------------------


def test_generated_key_round_trip() -> None:
    private_text, verifier_text = note.generate_key("log.example/custody")
    assert private_text.startswith("PRIVATE+KEY+log.example/custody+")
    signer = note.parse_private_key(private_text)
    verifier = note.parse_verifier_key(verifier_text)
    assert signer.verifier() == verifier
    assert signer.private_key_text() == private_text
    # The key ID is the formula of the spec, recomputed here with hashlib.
    raw = base64.b64decode(verifier_text.split("+", 2)[2])
    assert raw[0] == 0x01 and len(raw) == 33
    kid = independent_key_id("log.example/custody", raw[1:])
    assert verifier.key_id == kid == signer.key_id
    assert verifier_text.split("+")[1] == f"{kid:08x}"
    # The private key text carries the seed of the very same public key.
    seed = base64.b64decode(private_text.split("+", 4)[4])[1:]
    public = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert public == raw[1:]
    # And it signs notes that verify.
    text = "hello\n\nwith an empty line inside\n"
    opened = note.verify_note(note.sign(text, signer), [verifier])
    assert opened.text == text


def test_signer_from_text_and_generate() -> None:
    signer = note.Signer.generate("a.example")
    again = note.Signer.from_text(signer.private_key_text())
    assert again.verifier() == signer.verifier()
    assert note.format_private_key("a.example", b"\x07" * 32).startswith("PRIVATE+KEY+a.example+")


def test_signer_repr_hides_the_private_key() -> None:
    signer = note.parse_private_key(GO["peter_private_key"])
    seed_b64 = GO["peter_private_key"].split("+", 4)[4]
    for shown in (repr(signer), str(signer)):
        assert seed_b64 not in shown
        assert "c74f20a3" in shown


def manglings(key: str) -> list[str]:
    """Every proper substring, and every single-character increment (as Go's tests do)."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i, len(key) + 1)}
    out.discard(key)
    for i in range(len(key)):
        out.add(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])
    return sorted(out)


def test_mangled_verifier_keys_are_rejected() -> None:
    for bad in manglings(GO["peter_verifier_key"]):
        with pytest.raises(FormatError):
            note.parse_verifier_key(bad)


def test_mangled_private_keys_are_rejected() -> None:
    for bad in manglings(GO["peter_private_key"]):
        with pytest.raises(FormatError):
            note.parse_private_key(bad)


def test_bad_key_texts_are_rejected() -> None:
    pub = PETER.public_key
    name = "PeterNeumann"
    kid = f"{independent_key_id(name, pub):08x}"

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    good = b64(b"\x01" + pub)
    other_alg = b64(b"\x02" + pub)
    bare = b64(pub)
    long_key = b64(b"\x01" + pub + b"\x00")
    bad_keys = [
        f"{name}+{kid.upper()}+{good}",  # key IDs are lowercase hex
        f"{name}+{kid}+{other_alg}",  # not Ed25519
        f"{name}+{kid}+{bare}",  # no algorithm byte
        f"{name}+{kid}+{long_key}",  # 33-byte key
        f"{name}+{kid}+{good[:-1]}",  # truncated base64
        f"{name}+{kid}+{good}==",  # stray padding
        f"{name}+{kid}+{good}\n",  # trailing newline
        f" {name}+{kid}+{good}",
        f"{name}+0{kid}+{good}",
        f"+{kid}+{good}",
        "",
    ]
    for bad in bad_keys:
        with pytest.raises(FormatError):
            note.parse_verifier_key(bad)
    # The right key, for contrast.
    assert note.parse_verifier_key(f"{name}+{kid}+{good}") == PETER


def test_invalid_names_are_rejected() -> None:
    for name in ("", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb", "a\x01b", "\ud800"):
        assert not note.is_valid_name(name)
        with pytest.raises(FormatError):
            note.Signer(name, b"\x01" * 32)
    assert note.is_valid_name("example.com/log-1")
    assert note.is_valid_name("caf\u00e9.example")


# --- signing rules --------------------------------------------------------------------


def test_sign_rejects_bad_text_and_signers() -> None:
    signer = note.Signer.generate("s.example")
    for text in ("", "no newline", "a\r\n", "tab\there\n", "nul\x00\n", "lone \ud800\n"):
        with pytest.raises(FormatError):
            note.sign(text, signer)
    with pytest.raises(FormatError):
        note.sign("text\n")
    with pytest.raises(FormatError):
        note.sign("text\n", signer, signer)


def test_sign_with_several_signers() -> None:
    a, b = note.Signer.generate("a.example"), note.Signer.generate("b.example")
    msg = note.sign("two signers\n", a, b)
    opened = note.verify_note(msg, [b.verifier()])
    assert [s.name for s in opened.signatures] == ["b.example"]
    assert [s.name for s in opened.unverified] == ["a.example"]


# --- tampered notes ----------------------------------------------------------------


# Fixed seeds keep these tests reproducible.
SIGNER = note.Signer("log.example", hashlib.sha256(b"test log key").digest())
OTHER = note.Signer("witness.example", hashlib.sha256(b"test witness key").digest())
TEXT = "log.example\n3\nsome body\n"
GOOD = note.sign(TEXT, SIGNER).decode()
GOOD_LINE = GOOD[len(TEXT) + 1 :]


def test_flipped_signature_bits_are_rejected() -> None:
    blob = blob_of(GOOD_LINE)
    assert len(blob) == 68
    for bit in range(0, 68 * 8, 3):
        b = bytearray(blob)
        b[bit // 8] ^= 1 << (bit % 8)
        msg = TEXT + "\n" + signature_line("log.example", bytes(b))
        # A flip in the key ID makes the signature an unknown key's, so the
        # note is left with no verified signature; a flip in the signature
        # itself is a known key failing.
        expected = NoteError if bit < 32 else SignatureError
        with pytest.raises(expected):
            note.verify_note(msg.encode(), [SIGNER.verifier()])


def test_altered_text_is_rejected() -> None:
    for altered in (
        "log.example\n4\nsome body\n",
        "log.example\n3\nsome body\nextra\n",
        "log.example\n3\nsome bodY\n",
        "\nlog.example\n3\nsome body\n",
    ):
        with pytest.raises(SignatureError):
            note.verify_note((altered + "\n" + GOOD_LINE).encode(), [SIGNER.verifier()])


def test_wrong_key_name_or_id_is_an_unknown_key() -> None:
    blob = blob_of(GOOD_LINE)
    wrong_name = TEXT + "\n" + signature_line("log.example2", blob)
    wrong_id = TEXT + "\n" + signature_line("log.example", b"\x00\x00\x00\x00" + blob[4:])
    for msg in (wrong_name, wrong_id):
        with pytest.raises(NoteError):
            note.verify_note(msg.encode(), [SIGNER.verifier()])


def test_only_unknown_signatures_is_rejected() -> None:
    with pytest.raises(NoteError):
        note.verify_note(GOOD.encode(), [OTHER.verifier()])
    with pytest.raises(NoteError):
        note.verify_note(GOOD.encode(), [])
    with pytest.raises(NoteError):
        note.verify_note((GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode(), [])


def test_failing_known_key_rejects_even_with_valid_others() -> None:
    msg = note.sign(TEXT, SIGNER, OTHER).decode()
    lines = msg[len(TEXT) + 1 :].splitlines(keepends=True)
    blob = bytearray(blob_of(lines[1]))
    blob[-1] ^= 0x01
    tampered = TEXT + "\n" + lines[0] + signature_line("witness.example", bytes(blob))
    # Without the witness key the tampered line is unknown and ignored...
    note.verify_note(tampered.encode(), [SIGNER.verifier()])
    # ...with it, the whole note is rejected although the log's signature is valid.
    with pytest.raises(SignatureError):
        note.verify_note(tampered.encode(), [SIGNER.verifier(), OTHER.verifier()])
    # Same if the bad line comes first or is a duplicate of a valid key's line.
    bad_first = TEXT + "\n" + signature_line("witness.example", bytes(blob)) + lines[0]
    with pytest.raises(SignatureError):
        note.verify_note(bad_first.encode(), [SIGNER.verifier(), OTHER.verifier()])
    dup = TEXT + "\n" + lines[0] + lines[1] + signature_line("witness.example", bytes(blob))
    with pytest.raises(SignatureError):
        note.verify_note(dup.encode(), [SIGNER.verifier(), OTHER.verifier()])


def test_known_key_signature_of_wrong_length_is_rejected() -> None:
    blob = blob_of(GOOD_LINE)
    for cut in (blob[:-1], blob + b"\x00", blob[:5]):
        msg = TEXT + "\n" + signature_line("log.example", cut)
        with pytest.raises(SignatureError):
            note.verify_note(msg.encode(), [SIGNER.verifier()])


def test_malformed_notes_are_rejected() -> None:
    b64 = GOOD_LINE.rstrip("\n").split(" ")[2]
    # 68 bytes end in one '=': the last letter carries 4 data bits and 2 zero
    # bits. Setting a zero bit gives another string for the same bytes.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
    assert b64.endswith("=") and not b64.endswith("==")
    noncanonical = b64[:-2] + alphabet[alphabet.index(b64[-2]) | 1] + "="
    assert base64.b64decode(noncanonical) == base64.b64decode(b64)
    malformed: list[bytes] = [
        TEXT.encode(),  # no signatures at all
        (TEXT + "\n").encode(),  # blank line, then nothing
        (TEXT + GOOD_LINE).encode(),  # missing blank line
        (TEXT + "\n" + GOOD_LINE.rstrip("\n")).encode(),  # last line without newline
        (TEXT + "\n" + GOOD_LINE + "Unexpected line.\n").encode(),
        (TEXT + "\n" + GOOD_LINE + "\n").encode(),  # trailing blank line
        (TEXT + "\n" + GOOD_LINE.replace(DASH, "--")).encode(),  # not an em dash
        (TEXT + "\n" + GOOD_LINE.replace(DASH, "-")).encode(),
        (TEXT + "\n" + GOOD_LINE.replace(" ", "  ", 1)).encode(),  # two spaces
        (TEXT + "\n" + GOOD_LINE.replace("log.example ", "log.example\t")).encode(),
        (TEXT + "\n" + GOOD_LINE.rstrip("\n") + " \n").encode(),  # trailing space
        (TEXT + "\n" + f"{DASH} log.example {b64[:-4]}!!!!\n").encode(),  # bad base64
        (TEXT + "\n" + f"{DASH} log.example {b64.rstrip('=')}\n").encode(),  # no padding
        (TEXT + "\n" + f"{DASH} log.example {noncanonical}\n").encode(),
        (TEXT + "\n" + f"{DASH} log.example \n").encode(),  # empty signature
        (TEXT + "\n" + f"{DASH} log.example AAAAAA==\n").encode(),  # 4 bytes: key ID only
        (TEXT + "\n" + f"{DASH} log+example {b64}\n").encode(),  # bad name
        (TEXT + "\n" + f"{DASH}  {b64}\n").encode(),  # empty name
        (TEXT.replace("\n", "\r\n") + "\r\n" + GOOD_LINE.replace("\n", "\r\n")).encode(),
        b"\x01" + GOOD.encode(),  # control character
        b"\xff" + GOOD.encode(),  # invalid UTF-8
        GOOD.encode().replace(b"some", b"s\xc3\x28me"),
        b"",
    ]
    for msg in malformed:
        with pytest.raises(NoteError):
            note.verify_note(msg, [SIGNER.verifier()])


def test_url_safe_base64_signature_is_rejected() -> None:
    # Find a signature whose base64 has a '+' or '/', then use the URL-safe alphabet.
    for i in range(64):
        text = f"attempt {i}\n"
        line = note.sign(text, SIGNER).decode()[len(text) + 1 :]
        if "+" in line or "/" in line:
            bad = line.replace("+", "-").replace("/", "_")
            with pytest.raises(NoteError):
                note.verify_note((text + "\n" + bad).encode(), [SIGNER.verifier()])
            return
    pytest.fail("no signature with + or / found")


def test_signature_count_limit() -> None:
    at_limit = GO_TEXT + "\n" + PETER_SIG * note.MAX_SIGNATURES
    assert note.verify_note(at_limit.encode(), [PETER]).text == GO_TEXT
    over = GO_TEXT + "\n" + PETER_SIG * (note.MAX_SIGNATURES + 1)
    for verifiers in ([PETER], []):
        with pytest.raises(NoteError):
            note.verify_note(over.encode(), verifiers)
    assert note.MAX_SIGNATURES >= 16  # the spec's floor


def test_text_with_empty_lines_splits_at_the_last_blank_line() -> None:
    text = "first\n\n" + PETER_SIG  # text that itself looks like a signed note
    opened = note.verify_note(note.sign(text, SIGNER), [SIGNER.verifier(), PETER])
    assert opened.text == text
    assert [s.name for s in opened.signatures] == ["log.example"]


def test_all_note_failures_are_verification_errors() -> None:
    for cls in (NoteError, SignatureError):
        assert issubclass(cls, VerificationError)
    with pytest.raises(VerificationError):
        note.verify_note(b"nothing\n", [PETER])


def test_verifier_rejects_inconsistent_fields() -> None:
    with pytest.raises(FormatError):
        note.Verifier(PETER.name, PETER.key_id ^ 1, PETER.public_key)
    with pytest.raises(FormatError):
        note.Verifier(PETER.name, PETER.key_id, PETER.public_key[:31])
    with pytest.raises(SignatureError):
        PETER.verify(b"msg", bytes(64))
