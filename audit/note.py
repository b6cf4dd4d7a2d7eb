"""Signed notes (c2sp.org/signed-note) with Ed25519 keys, signature type 0x01.

A signed note is how the log publishes a checkpoint an auditor can trust: a
text ending in a newline, a blank line, then one line per signature::

    <text>\\n
    \\n
    — <key name> base64(key ID (4 bytes, big-endian) || Ed25519 signature)\\n

Keys use the text forms of Go's golang.org/x/mod/sumdb/note, so that keys and
notes interoperate with the Go tooling:

* verifier key: ``name+<8 lowercase hex key ID>+base64(0x01 || 32-byte public key)``
* signer key: ``PRIVATE+KEY+name+<8 lowercase hex key ID>+base64(0x01 || 32-byte seed)``

where key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4].

Verification rules (the spec's, applied strictly):

* signatures by keys we were not given (name and key ID not both matching)
  are ignored, but reported back as unverified;
* every signature by a known key is verified, and if any one fails the whole
  note is rejected (the spec says SHOULD; we do);
* a note without at least one verified known signature is rejected;
* malformed notes are rejected: invalid UTF-8, control characters other than
  newline, no blank line before the signatures, a signature line not of the
  exact form, non-canonical base64, a signature shorter than 5 bytes, or more
  than ``MAX_SIGNATURES`` signature lines.

This module must never return note text that has not been verified, never
treat an unknown key's signature as a verification, and never print or
``repr`` a private key.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.encoding import b64decode_strict, b64encode
from audit.errors import FormatError, NoteError, SignatureError

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Note",
    "Signature",
    "Signer",
    "Verifier",
    "format_private_key",
    "format_verifier_key",
    "generate_key",
    "is_valid_name",
    "key_id",
    "parse_note",
    "parse_private_key",
    "parse_verifier_key",
    "sign",
    "verify_note",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in c2sp.org/signed-note."""

MAX_SIGNATURES = 100
"""Most signature lines a note may carry (Go's limit; the spec requires at least 16)."""

_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_SIG_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


# --- names and key IDs ----------------------------------------------------


def is_valid_name(name: str) -> bool:
    """A key name is non-empty, with no Unicode space, no '+', no control character.

    The spec forbids spaces and '+' because both are separators in the key
    and signature-line formats; control characters are forbidden anywhere in
    a note. The name must also be encodable as UTF-8.
    """
    if not isinstance(name, str) or not name:
        return False
    if any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require_name(name: str) -> None:
    if not is_valid_name(name):
        raise FormatError(f"invalid key name {name!r}")


def key_id(name: str, public_key: bytes) -> int:
    """Key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    _require_name(name)
    if len(public_key) != _ED25519_KEY_SIZE:
        raise FormatError("an Ed25519 public key is 32 bytes")
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + bytes(public_key)
    ).digest()
    return int.from_bytes(digest[:4], "big")


def _split_key_text(text: str, what: str) -> tuple[str, int, bytes]:
    """Split ``name+hexid+base64`` and check the algorithm byte; return name, id, key bytes."""
    if not isinstance(text, str):
        raise FormatError(f"{what} must be text")
    # Split at the first two '+' only: the base64 key may itself contain '+'.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise FormatError(f"{what} must have the form name+keyid+base64key")
    name, hex_id, b64 = parts
    _require_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise FormatError(f"{what} key ID must be 8 lowercase hex digits")
    raw = b64decode_strict(b64)
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] != ALG_ED25519:
        raise FormatError(f"{what} is not an Ed25519 key (0x01 followed by 32 bytes)")
    return name, int(hex_id, 16), raw[1:]


# --- verifier ---------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 public key with its name: checks signatures of one known key.

    Construct with ``parse_verifier_key`` (or ``Verifier.from_public_key``);
    the key ID is always recomputed, never trusted from input.
    """

    name: str
    key_id: int
    public_key: bytes

    def __post_init__(self) -> None:
        if key_id(self.name, self.public_key) != self.key_id:
            raise FormatError(f"key ID does not match the key of {self.name!r}")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as e:
            raise FormatError("not a usable Ed25519 public key") from e

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Verifier:
        """Build a verifier from a name and a raw 32-byte Ed25519 public key."""
        return cls(name, key_id(name, public_key), bytes(public_key))

    def text(self) -> str:
        """The verifier key text ``name+hexid+base64(0x01 || key)``."""
        return format_verifier_key(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Return None if ``signature`` is this key's Ed25519 signature of ``message``.

        Raises SignatureError otherwise (including a signature of the wrong length).
        """
        if len(signature) != _ED25519_SIG_SIZE:
            raise SignatureError(f"signature for {self._label()} is not 64 bytes")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature as e:
            raise SignatureError(f"invalid signature for key {self._label()}") from e

    def _label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


def format_verifier_key(name: str, public_key: bytes) -> str:
    """Verifier key text for an Ed25519 public key."""
    kid = key_id(name, public_key)
    return f"{name}+{kid:08x}+{b64encode(bytes([ALG_ED25519]) + bytes(public_key))}"


def parse_verifier_key(text: str) -> Verifier:
    """Parse verifier key text; raises FormatError unless it is exact and self-consistent.

    The text must not carry surrounding whitespace: strip it when reading a file.
    """
    name, kid, public_key = _split_key_text(text, "verifier key")
    if key_id(name, public_key) != kid:
        raise FormatError("verifier key ID does not match its name and key")
    return Verifier(name, kid, public_key)


# --- signer -----------------------------------------------------------------


class Signer:
    """An Ed25519 private key with its name: signs notes as that key.

    The private key is never shown by ``repr`` or ``str``; get its text only
    through ``private_key_text()``, to store it somewhere safe.
    """

    __slots__ = ("_key", "_name", "_verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        _require_name(name)
        if len(seed) != _ED25519_KEY_SIZE:
            raise FormatError("an Ed25519 seed is 32 bytes")
        self._name = name
        self._key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self._verifier = Verifier.from_public_key(name, public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random key named ``name``."""
        seed = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(name, seed)

    @classmethod
    def from_text(cls, text: str) -> Signer:
        """Same as ``parse_private_key``."""
        return parse_private_key(text)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._verifier.key_id

    def verifier(self) -> Verifier:
        """The matching verifier (public key)."""
        return self._verifier

    def sign(self, message: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(bytes(message))

    def private_key_text(self) -> str:
        """The private key text ``PRIVATE+KEY+name+hexid+base64(0x01 || seed)``. Keep it secret."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return format_private_key(self._name, seed)

    def __repr__(self) -> str:
        return f"Signer(name={self._name!r}, key_id={self.key_id:08x})"


def format_private_key(name: str, seed: bytes) -> str:
    """Private key text for an Ed25519 seed (the key ID is that of the derived public key)."""
    if len(seed) != _ED25519_KEY_SIZE:
        raise FormatError("an Ed25519 seed is 32 bytes")
    kid = Signer(name, seed).key_id
    return f"{_PRIVATE_PREFIX}{name}+{kid:08x}+{b64encode(bytes([ALG_ED25519]) + bytes(seed))}"


def parse_private_key(text: str) -> Signer:
    """Parse private key text; raises FormatError unless it is exact and self-consistent.

    The key ID in the text must match the public key derived from the seed,
    which catches a truncated or mistyped key before it signs anything.
    """
    if not isinstance(text, str) or not text.startswith(_PRIVATE_PREFIX):
        raise FormatError("private key text must start with PRIVATE+KEY+")
    name, kid, seed = _split_key_text(text[len(_PRIVATE_PREFIX) :], "private key")
    signer = Signer(name, seed)
    if signer.key_id != kid:
        raise FormatError("private key ID does not match its name and key")
    return signer


def generate_key(name: str) -> tuple[str, str]:
    """A new key pair as text: (private key text, verifier key text)."""
    signer = Signer.generate(name)
    return signer.private_key_text(), signer.verifier().text()


# --- notes ------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key name, key ID, and the raw signature bytes."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A verified note.

    ``text`` is the signed text (ending in a newline); ``signatures`` are the
    known keys' signatures that verified, one per key; ``unverified`` are the
    signatures of keys that were not given (ignored, listed for information).
    """

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...] = ()


def _has_control_chars(text: str) -> bool:
    return any(ord(c) < 0x20 and c != "\n" for c in text)


def sign(text: str, *signers: Signer) -> bytes:
    """Sign ``text`` with each signer in turn and return the note as UTF-8 bytes.

    ``text`` must be non-empty, end with a newline, be encodable as UTF-8 and
    contain no control character other than newline. It may contain empty
    lines: readers split at the last blank line, which is the one we add.
    """
    if not signers:
        raise FormatError("sign needs at least one signer")
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    if _has_control_chars(text):
        raise FormatError("note text must not contain control characters other than newline")
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FormatError("note text must be encodable as UTF-8") from e
    seen: set[tuple[str, int]] = set()
    lines: list[str] = []
    for signer in signers:
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise FormatError(f"two signers share the name and key ID {signer!r}")
        seen.add(ident)
        blob = signer.key_id.to_bytes(4, "big") + signer.sign(body)
        lines.append(f"{_SIG_PREFIX}{signer.name} {b64encode(blob)}\n")
    return (text + "\n" + "".join(lines)).encode("utf-8")


def _known_keys(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if not isinstance(v, Verifier):
            raise FormatError("verifiers must be Verifier objects")
        ident = (v.name, v.key_id)
        if ident in known and known[ident] != v:
            raise FormatError(f"two different verifier keys share {v.name}+{v.key_id:08x}")
        known[ident] = v
    return known


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("malformed note: signature line does not start with an em dash")
    name, space, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not space or not is_valid_name(name):
        raise NoteError("malformed note: bad key name in signature line")
    try:
        blob = b64decode_strict(b64)
    except FormatError as e:
        raise NoteError("malformed note: signature is not canonical base64") from e
    if len(blob) < 5:
        raise NoteError("malformed note: signature too short")
    return Signature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def parse_note(note: bytes | str) -> tuple[str, tuple[Signature, ...]]:
    """Split a signed note into its text and its signature lines, checking only the form.

    Nothing is verified: use ``verify_note`` for that. Raises ``NoteError`` for a
    malformed note (the rules in the module docstring). Other signature types
    (cosignatures, ``audit.cosignature``) read their lines from here.
    """
    if isinstance(note, str):
        msg = note
        try:
            note.encode("utf-8")
        except UnicodeEncodeError as e:
            raise NoteError("malformed note: not valid UTF-8") from e
    else:
        try:
            msg = bytes(note).decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError("malformed note: not valid UTF-8") from e
    if _has_control_chars(msg):
        raise NoteError("malformed note: control characters other than newline")

    split = msg.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise NoteError("malformed note: signature block missing or not ending in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text, tuple(_parse_signature_line(line) for line in lines)


def verify_note(note: bytes | str, verifiers: Iterable[Verifier]) -> Note:
    """Open a signed note, checking it against the known ``verifiers``.

    Returns the verified ``Note``. Raises ``NoteError`` if the note is
    malformed or has no verified signature by a known key, and
    ``SignatureError`` if any signature by a known key fails (both are
    ``VerificationError``). Raises ``FormatError`` if two different
    verifiers share a name and key ID.
    """
    known = _known_keys(verifiers)
    text, parsed = parse_note(note)

    body = text.encode("utf-8")
    verified: dict[tuple[str, int], Signature] = {}
    unverified: list[Signature] = []
    for sig in parsed:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        verifier.verify(body, sig.signature)
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        raise NoteError("note has no verified signature by a known key")
    return Note(text, tuple(verified.values()), tuple(unverified))
