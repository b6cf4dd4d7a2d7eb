"""Strict standard base64 (RFC 4648 section 4), shared by notes and checkpoints.

Why strict: the signed-note and checkpoint formats put base64 into text that
is compared and signed byte for byte. Python's decoder on its own tolerates
input that is not the canonical encoding of its bytes (non-zero padding bits),
so two different strings could stand for the same key, signature or root.
This module accepts exactly the string ``base64.b64encode`` would produce.

It must never accept the URL-safe alphabet, whitespace, missing padding or
non-canonical trailing bits, and must never raise anything but ``FormatError``.
"""

from __future__ import annotations

import base64
import binascii

from audit.errors import FormatError

__all__ = ["b64decode_strict", "b64encode"]


def b64encode(data: bytes) -> str:
    """Encode ``data`` as standard, padded base64 text."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str) -> bytes:
    """Decode ``text`` only if it is the canonical standard base64 of some bytes.

    Raises ``FormatError`` for anything else, including non-ASCII input.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise FormatError("not valid standard base64") from e
    if b64encode(raw) != text:
        raise FormatError("not the canonical base64 encoding of its bytes")
    return raw
