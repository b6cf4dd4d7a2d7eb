"""Transparency-log checkpoints (c2sp.org/tlog-checkpoint): the signed tree head.

A checkpoint is the note text::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    [<extension line>\\n ...]

signed as a note (see ``audit.note``) by the log's key. It is what an auditor
pins: the log commits, under its signature, to the root of the tree at a size,
and proofs from ``audit.merkle`` are checked against it.

Parsing is strict, so that one checkpoint has exactly one text and a forged
variant cannot slip past a byte-for-byte comparison: the size is ASCII
decimal without leading zeros (except ``0``) and below 2**64, the root is the
canonical base64 of exactly 32 bytes, the origin is non-empty, and extension
lines are non-empty. The origin must match the log's key name unless the
caller says what origin to expect (the spec says the key name SHOULD match the
origin; we hold our own log to it).

This module must never return a checkpoint whose signature was not verified
from ``verify_checkpoint``; ``Checkpoint.parse`` only parses, and its result
must not be trusted on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audit.encoding import b64decode_strict, b64encode
from audit.errors import CheckpointError, FormatError
from audit.merkle import HASH_SIZE
from audit.note import Signer, Verifier, sign, verify_note

__all__ = ["MAX_TREE_SIZE", "Checkpoint", "sign_checkpoint", "verify_checkpoint"]

MAX_TREE_SIZE = 2**64 - 1
"""Largest tree size a checkpoint may state (an unsigned 64-bit integer, as in Go)."""

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _line_problem(line: object, what: str) -> str | None:
    if not isinstance(line, str):
        return f"{what} is not text"
    if not line:
        return f"{what} is empty"
    if "\n" in line or any(ord(c) < 0x20 for c in line):
        return f"{what} contains a newline or control character"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """The body of a checkpoint: which log, how many leaves, what root, extensions."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _line_problem(self.origin, "origin")
        if problem:
            raise FormatError(f"bad checkpoint: {problem}")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise FormatError("bad checkpoint: size must be an integer in [0, 2**64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise FormatError(f"bad checkpoint: root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise FormatError("bad checkpoint: extensions must be a tuple of lines")
        for i, ext in enumerate(self.extensions):
            problem = _line_problem(ext, f"extension line {i}")
            if problem:
                raise FormatError(f"bad checkpoint: {problem}")

    def format(self) -> str:
        """The note text of this checkpoint, every line ending in a newline."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text strictly; raises CheckpointError if malformed.

        This does not check any signature: use ``verify_checkpoint`` for that.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.fullmatch(size_text):
            raise CheckpointError("tree size must be decimal without leading zeros")
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise CheckpointError("tree size does not fit in 64 bits")
        try:
            root_hash = b64decode_strict(root_text)
        except FormatError as e:
            raise CheckpointError("root hash is not canonical base64") from e
        if len(root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")
        try:
            return cls(origin, size, root_hash, tuple(extensions))
        except FormatError as e:
            raise CheckpointError(str(e)) from e


def verify_checkpoint(
    note: bytes | str, verifier: Verifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and return its parsed body.

    The note must carry a valid signature by ``verifier`` (other signatures,
    e.g. witness cosignatures, are ignored unless they are by that same key
    and fail). The checkpoint's origin must equal ``origin`` if given, else
    the key's name. Raises NoteError or SignatureError for the signature,
    CheckpointError for the body.
    """
    verified = verify_note(note, [verifier])
    checkpoint = Checkpoint.parse(verified.text)
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {expected!r}"
        )
    return checkpoint


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """Sign a checkpoint as a note with the log's key; returns the note bytes.

    The signer's name must equal the origin, so that ``verify_checkpoint``
    accepts the result with no extra argument.
    """
    if signer.name != checkpoint.origin:
        raise FormatError(
            f"signer name {signer.name!r} differs from checkpoint origin {checkpoint.origin!r}"
        )
    return sign(checkpoint.format(), signer)
