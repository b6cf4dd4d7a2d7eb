"""Checkpoint cosignatures (c2sp.org/tlog-cosignature) and the quorum a verifier requires.

A cosignature is a witness's statement that a checkpoint is consistent with every
earlier one it saw of that log. It travels as one more signature line of the
checkpoint note, so a cosigned checkpoint stays a plain signed note: Go's
``golang.org/x/mod/sumdb/note`` and ``audit.note`` still open it with the log's key
alone and ignore the lines they have no key for.

Two types, both defined by the spec:

* **Ed25519, type 0x04** (``cosignature/v1``). Signed message::

      cosignature/v1\\n
      time <timestamp, ASCII decimal>\\n
      <the checkpoint note text, every line, ending in a newline>

* **ML-DSA-44, type 0x06** (``subtree/v1``; the spec recommends it for new
  deployments, and it stays secure if Ed25519 falls to a quantum computer). Signed
  message, TLS presentation language (RFC 8446 section 3), integers big-endian::

      uint8  label[12] = "subtree/v1\\n\\0"
      opaque cosigner_name<1..255>
      uint64 timestamp
      opaque log_origin<1..255>
      uint64 start                  (0 for a checkpoint)
      uint64 end                    (the tree size for a checkpoint)
      uint8  hash[32]               (the root hash)

  signed with pure ML-DSA-44 (FIPS 204) and an empty context string, as the spec
  names no context. It commits to the first three checkpoint lines only, not to
  extension lines, and to the cosigner's name.

For both, the signature line is ``— <name> base64(key ID || timestamp || signature)``
where the timestamp is 8 bytes big-endian POSIX seconds (at most 2**63 - 1) and the
signature 64 (Ed25519) or 2420 (ML-DSA-44) bytes. Key ID =
``SHA-256(name || 0x0A || type || public key)[:4]``; verifier keys use the vkey form
``name+<8 hex key ID>+base64(type || public key)`` (32 or 1312 key bytes), private
keys ``PRIVATE+KEY+name+<8 hex key ID>+base64(type || 32-byte seed)``, the forms of
transparency-dev/formats' Go implementation.

Quorum: a witness is identified by its key name; several keys under one name (its
Ed25519 and its ML-DSA key) are one witness and count once, however many lines it
signed. A verifier states how many distinct witnesses it requires (at least one).

This module must never count a cosignature it did not verify, count one witness
twice, accept a signature by a known key that fails (the whole note is refused, as
``audit.note`` does for the log's key), or print a private key.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.encoding import b64decode_strict, b64encode
from audit.errors import (
    CheckpointError,
    CosignatureError,
    FormatError,
    QuorumError,
    SignatureError,
)
from audit.merkle import HASH_SIZE
from audit.note import Signature, Verifier, is_valid_name, parse_note

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_SUBTREE_V1",
    "MAX_TIMESTAMP",
    "CosignedCheckpoint",
    "Cosignature",
    "Cosigner",
    "CosignerKey",
    "cosignature_v1_message",
    "cosigner_key_id",
    "parse_cosigner_key",
    "parse_cosigner_private_key",
    "parse_signature_lines",
    "signature_line",
    "subtree_v1_message",
    "verify_cosignatures",
    "verify_cosigned",
]

ALG_COSIGNATURE_V1 = 0x04
"""Signature type of Ed25519 checkpoint cosignatures (``cosignature/v1``)."""

ALG_SUBTREE_V1 = 0x06
"""Signature type of ML-DSA-44 (sub)tree cosignatures (``subtree/v1``)."""

MAX_TIMESTAMP = 2**63 - 1
"""Largest timestamp a cosignature may carry (the spec's bound)."""

ALGORITHM_NAMES = {ALG_COSIGNATURE_V1: "ed25519", ALG_SUBTREE_V1: "ml-dsa-44"}

_PUBLIC_KEY_SIZE = {ALG_COSIGNATURE_V1: 32, ALG_SUBTREE_V1: 1312}
_SIGNATURE_SIZE = {ALG_COSIGNATURE_V1: 64, ALG_SUBTREE_V1: 2420}
_SEED_SIZE = 32
_TIMESTAMP_SIZE = 8
_SUBTREE_LABEL = b"subtree/v1\n\x00"
_SIG_PREFIX = "\u2014 "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def _require_algorithm(algorithm: int) -> None:
    if algorithm not in _PUBLIC_KEY_SIZE:
        raise FormatError(
            f"signature type 0x{algorithm:02x} is not a cosignature type "
            "(0x04 Ed25519 cosignature/v1, 0x06 ML-DSA-44 subtree/v1)"
        )


def _require_name(name: str) -> None:
    # The ML-DSA message length-prefixes the name in one byte; hold both types to it.
    if not is_valid_name(name) or len(name.encode("utf-8")) > 255:
        raise FormatError(f"invalid cosigner name {name!r}")


def cosigner_key_id(name: str, algorithm: int, public_key: bytes) -> int:
    """Key ID: SHA-256(name || 0x0A || type || public key)[:4], big-endian."""
    _require_name(name)
    _require_algorithm(algorithm)
    if len(public_key) != _PUBLIC_KEY_SIZE[algorithm]:
        raise FormatError(
            f"a {ALGORITHM_NAMES[algorithm]} public key is {_PUBLIC_KEY_SIZE[algorithm]} bytes"
        )
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([algorithm]) + bytes(public_key)
    ).digest()
    return int.from_bytes(digest[:4], "big")


def _require_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise FormatError("a cosignature timestamp is an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise FormatError("a cosignature timestamp is in [0, 2**63 - 1]")


# --- signed messages ------------------------------------------------------------


def cosignature_v1_message(timestamp: int, checkpoint_text: str) -> bytes:
    """The message an Ed25519 (type 0x04) cosignature signs."""
    _require_timestamp(timestamp)
    if not checkpoint_text.endswith("\n") or checkpoint_text.count("\n") < 3:
        raise FormatError("checkpoint text must have at least three lines, each ending in \\n")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint_text.encode("utf-8")


def subtree_v1_message(
    cosigner_name: str, timestamp: int, origin: str, start: int, end: int, root_hash: bytes
) -> bytes:
    """The ``cosigned_message`` an ML-DSA-44 (type 0x06) cosignature signs."""
    _require_timestamp(timestamp)
    name = cosigner_name.encode("utf-8")
    log = origin.encode("utf-8")
    if not 1 <= len(name) <= 255 or not 1 <= len(log) <= 255:
        raise FormatError("cosigner name and log origin must be 1 to 255 bytes")
    if not 0 <= start <= end < 2**64:
        raise FormatError("a subtree is [start, end) with 0 <= start <= end < 2**64")
    if start and timestamp:
        raise FormatError("a subtree cosignature with start > 0 has timestamp 0")
    if len(root_hash) != HASH_SIZE:
        raise FormatError(f"root hash must be {HASH_SIZE} bytes")
    return (
        _SUBTREE_LABEL
        + bytes([len(name)])
        + name
        + struct.pack(">Q", timestamp)
        + bytes([len(log)])
        + log
        + struct.pack(">QQ", start, end)
        + bytes(root_hash)
    )


def _message(algorithm: int, name: str, timestamp: int, checkpoint_text: str) -> bytes:
    if algorithm == ALG_COSIGNATURE_V1:
        return cosignature_v1_message(timestamp, checkpoint_text)
    checkpoint = Checkpoint.parse(checkpoint_text)
    return subtree_v1_message(
        name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
    )


# --- verifier keys ----------------------------------------------------------------


@dataclass(frozen=True)
class CosignerKey:
    """A cosigner's (witness's) public key: name, signature type, raw key bytes.

    Build it with ``parse_cosigner_key`` or ``CosignerKey.from_public_key``; the key
    ID is always recomputed, never trusted from input.
    """

    name: str
    algorithm: int
    public_key: bytes
    key_id: int

    def __post_init__(self) -> None:
        if cosigner_key_id(self.name, self.algorithm, self.public_key) != self.key_id:
            raise FormatError(f"key ID does not match the key of {self.name!r}")
        try:
            if self.algorithm == ALG_COSIGNATURE_V1:
                Ed25519PublicKey.from_public_bytes(self.public_key)
            else:
                MLDSA44PublicKey.from_public_bytes(self.public_key)
        except ValueError as e:
            raise FormatError(f"not a usable {self.algorithm_name} public key") from e

    @classmethod
    def from_public_key(cls, name: str, algorithm: int, public_key: bytes) -> CosignerKey:
        return cls(name, algorithm, bytes(public_key), cosigner_key_id(name, algorithm, public_key))

    @property
    def algorithm_name(self) -> str:
        return ALGORITHM_NAMES[self.algorithm]

    def text(self) -> str:
        """The vkey ``name+hexid+base64(type || public key)``."""
        blob = b64encode(bytes([self.algorithm]) + self.public_key)
        return f"{self.name}+{self.key_id:08x}+{blob}"

    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x} ({self.algorithm_name})"

    def verify(self, checkpoint_text: str, signature: bytes) -> int:
        """Check this key's cosignature (timestamp || signature) of a checkpoint text.

        Returns the timestamp. Raises CosignatureError for a signature of the wrong
        length or a timestamp beyond 2**63 - 1, CheckpointError if an ML-DSA
        cosignature is given a text that is not a checkpoint, and SignatureError if
        the signature does not verify.
        """
        size = _TIMESTAMP_SIZE + _SIGNATURE_SIZE[self.algorithm]
        if len(signature) != size:
            raise CosignatureError(f"cosignature by {self.label()} is not {size} bytes")
        timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            raise CosignatureError(f"cosignature by {self.label()} has a timestamp above 2**63-1")
        try:
            message = _message(self.algorithm, self.name, timestamp, checkpoint_text)
        except FormatError as e:
            raise CheckpointError(f"cannot cosign this text: {e}") from e
        raw = signature[_TIMESTAMP_SIZE:]
        try:
            if self.algorithm == ALG_COSIGNATURE_V1:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(raw, message)
            else:
                MLDSA44PublicKey.from_public_bytes(self.public_key).verify(raw, message)
        except InvalidSignature as e:
            raise SignatureError(f"invalid cosignature by {self.label()}") from e
        return timestamp


def _split_key_text(text: str, what: str) -> tuple[str, int, int, bytes]:
    if not isinstance(text, str):
        raise FormatError(f"{what} must be text")
    parts = text.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise FormatError(f"{what} must have the form name+keyid+base64key")
    name, hex_id, b64 = parts
    _require_name(name)
    if not _HEX_KEY_ID.fullmatch(hex_id):
        raise FormatError(f"{what} key ID must be 8 lowercase hex digits")
    raw = b64decode_strict(b64)
    if not raw:
        raise FormatError(f"{what} holds no key")
    algorithm = raw[0]
    if algorithm == 0x01:
        raise FormatError(
            f"{what} is an Ed25519 note key (type 0x01), not a cosigner key: a witness's "
            "Ed25519 key has type 0x04"
        )
    _require_algorithm(algorithm)
    return name, int(hex_id, 16), algorithm, raw[1:]


def parse_cosigner_key(text: str) -> CosignerKey:
    """Parse a witness's (cosigner's) vkey, type 0x04 or 0x06; strict and self-consistent.

    Raises FormatError for anything else, including a key ID that does not match.
    The text must not carry surrounding whitespace.
    """
    name, kid, algorithm, public_key = _split_key_text(text, "cosigner key")
    if len(public_key) != _PUBLIC_KEY_SIZE[algorithm]:
        raise FormatError(
            f"a {ALGORITHM_NAMES[algorithm]} cosigner key is {_PUBLIC_KEY_SIZE[algorithm]} bytes"
        )
    if cosigner_key_id(name, algorithm, public_key) != kid:
        raise FormatError("cosigner key ID does not match its name and key")
    return CosignerKey(name, algorithm, public_key, kid)


# --- signing ----------------------------------------------------------------------


class Cosigner:
    """A cosigner's private key (a witness's, or the log's own ML-DSA cosigner).

    The key is never shown by ``repr``; its text comes only from
    ``private_key_text()``, to be stored somewhere safe.
    """

    __slots__ = ("_algorithm", "_key", "_name", "_public", "_seed")

    def __init__(self, name: str, algorithm: int, seed: bytes) -> None:
        _require_name(name)
        _require_algorithm(algorithm)
        if len(seed) != _SEED_SIZE:
            raise FormatError("a cosigner seed is 32 bytes")
        self._name = name
        self._algorithm = algorithm
        self._seed = bytes(seed)
        self._key: Ed25519PrivateKey | MLDSA44PrivateKey
        if algorithm == ALG_COSIGNATURE_V1:
            self._key = Ed25519PrivateKey.from_private_bytes(self._seed)
        else:
            self._key = MLDSA44PrivateKey.from_seed_bytes(self._seed)
        self._public = CosignerKey.from_public_key(
            name, algorithm, self._key.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls, name: str, algorithm: int = ALG_SUBTREE_V1) -> Cosigner:
        """A new random key; ML-DSA-44 unless told otherwise."""
        _require_algorithm(algorithm)
        if algorithm == ALG_COSIGNATURE_V1:
            seed = Ed25519PrivateKey.generate().private_bytes_raw()
        else:
            seed = MLDSA44PrivateKey.generate().private_bytes_raw()
        return cls(name, algorithm, seed)

    @property
    def name(self) -> str:
        return self._name

    @property
    def algorithm(self) -> int:
        return self._algorithm

    def key(self) -> CosignerKey:
        """The matching public (verifier) key."""
        return self._public

    def cosign(self, checkpoint_text: str, timestamp: int) -> bytes:
        """The signature blob timestamp || signature over a checkpoint's note text."""
        message = _message(self._algorithm, self._name, timestamp, checkpoint_text)
        return struct.pack(">Q", timestamp) + self._key.sign(message)

    def signature_line(self, checkpoint_text: str, timestamp: int) -> str:
        """The note signature line (no trailing newline) cosigning the checkpoint."""
        signature = Signature(
            self._name, self._public.key_id, self.cosign(checkpoint_text, timestamp)
        )
        return signature_line(signature)

    def private_key_text(self) -> str:
        """``PRIVATE+KEY+name+hexid+base64(type || seed)``. Keep it secret."""
        blob = b64encode(bytes([self._algorithm]) + self._seed)
        return f"{_PRIVATE_PREFIX}{self._name}+{self._public.key_id:08x}+{blob}"

    def __repr__(self) -> str:
        return f"Cosigner({self._public.label()})"


def parse_cosigner_private_key(text: str) -> Cosigner:
    """Parse a cosigner private key text; the key ID must match the derived public key."""
    if not isinstance(text, str) or not text.startswith(_PRIVATE_PREFIX):
        raise FormatError("private key text must start with PRIVATE+KEY+")
    name, kid, algorithm, seed = _split_key_text(text[len(_PRIVATE_PREFIX) :], "private key")
    cosigner = Cosigner(name, algorithm, seed)
    if cosigner.key().key_id != kid:
        raise FormatError("private key ID does not match its name and key")
    return cosigner


def signature_line(signature: Signature) -> str:
    """A note signature line, without its newline: ``— name base64(key ID || signature)``."""
    blob = signature.key_id.to_bytes(4, "big") + signature.signature
    return f"{_SIG_PREFIX}{signature.name} {b64encode(blob)}"


# --- verifying ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: whose key, when (POSIX seconds), and its exact line."""

    key: CosignerKey
    timestamp: int
    line: str


def _key_table(keys: Iterable[CosignerKey]) -> dict[tuple[str, int], CosignerKey]:
    table: dict[tuple[str, int], CosignerKey] = {}
    for key in keys:
        if not isinstance(key, CosignerKey):
            raise FormatError("cosigner keys must be CosignerKey objects")
        ident = (key.name, key.key_id)
        if ident in table and table[ident] != key:
            raise FormatError(f"two different cosigner keys share {key.name}+{key.key_id:08x}")
        table[ident] = key
    return table


def verify_cosignatures(
    checkpoint_text: str, signatures: Iterable[Signature], keys: Iterable[CosignerKey]
) -> tuple[Cosignature, ...]:
    """Verify the signatures made by known cosigner ``keys`` over a checkpoint text.

    Signatures by other keys are ignored. Every signature by a known key must verify,
    or this raises (SignatureError, CosignatureError, CheckpointError): a known key's
    bad line is a malformed note, per c2sp.org/signed-note. Returns the verified
    ones, without repeats of the same line.
    """
    table = _key_table(keys)
    verified: list[Cosignature] = []
    for signature in signatures:
        key = table.get((signature.name, signature.key_id))
        if key is None:
            continue
        timestamp = key.verify(checkpoint_text, signature.signature)
        found = Cosignature(key, timestamp, signature_line(signature))
        if found not in verified:
            verified.append(found)
    return tuple(verified)


def parse_signature_lines(checkpoint_text: str, lines: str) -> tuple[Signature, ...]:
    """Signature lines (each ending in a newline), e.g. a witness's answer, parsed.

    Raises NoteError if they are not well-formed note signature lines.
    """
    _, signatures = parse_note(checkpoint_text + "\n" + lines)
    return signatures


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint whose log signature verified and whose witness quorum was met.

    ``witnesses`` are the names of the distinct witnesses that counted;
    ``cosignatures`` every verified witness cosignature (a witness may have several);
    ``log_cosignature`` the log's own (ML-DSA) cosignature, if its key was given.
    """

    checkpoint: Checkpoint
    text: str
    witnesses: tuple[str, ...]
    cosignatures: tuple[Cosignature, ...]
    log_cosignature: Cosignature | None = None


def verify_cosigned(
    note: bytes | str,
    log_key: Verifier,
    witnesses: Sequence[CosignerKey],
    quorum: int,
    *,
    origin: str | None = None,
    log_cosigner: CosignerKey | None = None,
) -> CosignedCheckpoint:
    """Verify a cosigned checkpoint: the log's signature, then a quorum of witnesses.

    ``witnesses`` are the trusted witness keys; keys sharing a name are one witness.
    ``quorum`` is how many distinct witnesses must have cosigned: at least 1 and at
    most the number of distinct witnesses (else FormatError: use
    ``audit.checkpoint.verify_checkpoint`` when no witness is required).
    ``log_cosigner``, if given, is the log's own cosigner key (ML-DSA-44): its
    cosignature must then be present and verify; it never counts toward the quorum.

    Raises NoteError/SignatureError/CheckpointError as ``verify_checkpoint`` does,
    SignatureError or CosignatureError if any line by a known witness or by the log's
    cosigner fails, and QuorumError if fewer than ``quorum`` witnesses cosigned. All
    are ``VerificationError``.
    """
    if isinstance(quorum, bool) or not isinstance(quorum, int):
        raise FormatError("quorum must be an integer")
    table = _key_table(witnesses)
    names = {key.name for key in table.values()}
    if quorum < 1:
        raise FormatError("a quorum is at least 1 witness; without witnesses use verify_checkpoint")
    if quorum > len(names):
        raise FormatError(f"a quorum of {quorum} cannot be met by {len(names)} distinct witnesses")
    if log_key.name in names or (log_cosigner is not None and log_cosigner.name in names):
        raise FormatError("a witness may not share its name with the log")

    checkpoint = verify_checkpoint(note, log_key, origin)
    text, signatures = parse_note(note)

    own: Cosignature | None = None
    if log_cosigner is not None:
        mine = verify_cosignatures(text, signatures, [log_cosigner])
        if not mine:
            raise QuorumError(f"the log's own cosignature by {log_cosigner.label()} is missing")
        own = mine[0]

    cosignatures = verify_cosignatures(text, signatures, table.values())
    counted = tuple(sorted({c.key.name for c in cosignatures}))
    if len(counted) < quorum:
        missing = sorted(names - set(counted))
        raise QuorumError(
            f"{len(counted)} of the required {quorum} witnesses cosigned checkpoint "
            f"{checkpoint.origin} size {checkpoint.size}; no cosignature from: "
            + ", ".join(missing)
        )
    return CosignedCheckpoint(checkpoint, text, counted, cosignatures, own)
