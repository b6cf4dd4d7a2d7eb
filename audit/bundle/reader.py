"""Reading an untrusted bundle zip into its parts, within limits on the memory it takes.

The reader holds the whole file and every member in memory, so it refuses, before it
reads a member, a file, a member or a sum of members beyond its limits; it checks that
the zip holds only a bundle's own member names, each once; and it parses the members
the verifier needs as structures (the manifest, the proofs). It decides nothing about
the evidence: that is the verifier's (``verifier``). Anything that makes the bundle
unusable raises ``BundleFormatError``.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.bundle.layout import (
    CHECKPOINT,
    ENTRY_MEMBER,
    FIXED_MEMBERS,
    FORMAT,
    KEYS,
    LOG_KEY,
    MANIFEST,
    PROOFS,
    Source,
)
from audit.errors import BundleFormatError

__all__ = ["MAX_BUNDLE_BYTES", "Bundle", "read_bundle"]


MAX_BUNDLE_BYTES = 256 * 1024 * 1024
"""Largest bundle the reader takes: it holds the whole file, and each member, in memory."""

_HEX_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Bundle:
    raw: bytes
    """The whole zip, as given."""
    members: dict[str, bytes]
    """Every member's bytes by name."""
    manifest: dict[str, Any]
    checkpoint: bytes
    entries: dict[int, bytes]
    """Exact bytes by the index in the file name."""
    inclusion: dict[int, list[bytes] | None]
    """Proof hashes by index; None if the proof is not a list of 32-byte hex hashes."""
    consistency: tuple[int, bytes, list[bytes]] | None


def _member(members: Mapping[str, bytes], name: str) -> bytes:
    try:
        return members[name]
    except KeyError:
        raise BundleFormatError(f"the bundle has no {name}") from None


def _json_member(members: Mapping[str, bytes], name: str) -> dict[str, Any]:
    try:
        value = json.loads(_member(members, name))
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleFormatError(f"{name} is not JSON: {e}") from e
    if not isinstance(value, dict):
        raise BundleFormatError(f"{name} is not a JSON object")
    return value


def _hashes(value: object) -> list[bytes] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, str) or not _HEX_HASH.fullmatch(item):
            return None
        out.append(bytes.fromhex(item))
    return out


def _read_all(source: Source) -> bytes:
    """The whole bundle, refused beyond ``MAX_BUNDLE_BYTES``."""
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as f:  # noqa: PTH123 - a path or a file object
                data = f.read(MAX_BUNDLE_BYTES + 1)
        else:
            data = source.read(MAX_BUNDLE_BYTES + 1)
    except OSError as e:
        raise BundleFormatError(f"cannot read the bundle: {e}") from e
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleFormatError(f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    return bytes(data)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,  # includes a name that is not UTF-8 or CP437 text
    NotImplementedError,  # a compression method the reader lacks (a flipped header byte)
    RuntimeError,  # an encrypted member, or a compression module Python was built without
)
"""What Python's zip reader raises for damaged input: each means the bundle is unusable."""


def _unzip(raw: bytes) -> dict[str, bytes]:
    """Every member by name: only the bundle's own names, each once, within the size cap."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except _ZIP_ERRORS as e:
        raise BundleFormatError(f"not a readable zip file: {e}") from e
    members: dict[str, bytes] = {}
    total = 0
    with archive:
        for info in archive.infolist():
            name = info.filename
            if name not in FIXED_MEMBERS and not ENTRY_MEMBER.fullmatch(name):
                raise BundleFormatError(
                    f"{name!r} is not a member of a bundle (entries are entries/<12 digits>.json)"
                )
            if name in members:
                raise BundleFormatError(f"the bundle holds {name} twice")
            total += info.file_size
            if total > MAX_BUNDLE_BYTES:
                raise BundleFormatError(f"the members inflate beyond {MAX_BUNDLE_BYTES} bytes")
            try:
                members[name] = archive.read(info)
            except _ZIP_ERRORS as e:
                raise BundleFormatError(f"{name} cannot be read: {e}") from e
    return members


def read_bundle(source: Source) -> Bundle:
    raw = _read_all(source)
    members = _unzip(raw)
    manifest = _json_member(members, MANIFEST)
    if manifest.get("format") != FORMAT:
        raise BundleFormatError(f"{MANIFEST} does not say format {FORMAT!r}")
    checkpoint = _member(members, CHECKPOINT)
    proofs = _json_member(members, PROOFS)
    _member(members, KEYS)
    _member(members, LOG_KEY)
    inclusion_json = proofs.get("inclusion")
    if not isinstance(inclusion_json, dict):
        raise BundleFormatError(f"{PROOFS} has no inclusion object")
    inclusion: dict[int, list[bytes] | None] = {}
    for key, value in inclusion_json.items():
        if not re.fullmatch(r"0|[1-9][0-9]{0,15}", key):
            raise BundleFormatError(f"{PROOFS}: {key!r} is not an entry index")
        inclusion[int(key)] = _hashes(value)
    consistency = _consistency(proofs.get("consistency"))
    entries: dict[int, bytes] = {}
    for name, data in members.items():
        match = ENTRY_MEMBER.fullmatch(name)
        if match is not None:
            entries[int(match.group(1))] = data
    return Bundle(raw, members, manifest, checkpoint, entries, inclusion, consistency)


def _consistency(value: object) -> tuple[int, bytes, list[bytes]] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BundleFormatError(f"{PROOFS}: consistency must be an object or null")
    size1, root1, proof = value.get("size1"), value.get("root1"), _hashes(value.get("proof"))
    if (
        not isinstance(size1, int)
        or isinstance(size1, bool)
        or not isinstance(root1, str)
        or not _HEX_HASH.fullmatch(root1)
        or proof is None
    ):
        raise BundleFormatError(f"{PROOFS}: consistency needs size1, root1 and proof hashes")
    return size1, bytes.fromhex(root1), proof
