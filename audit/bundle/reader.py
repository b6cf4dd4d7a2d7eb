"""Reading an untrusted bundle zip into its parts, within limits on the memory it takes.

The reader holds the whole file and every member in memory, so it refuses, before it
reads a member, a file, a member or a sum of members beyond its limits; it checks that
the zip holds only a bundle's own member names, each once; and it parses the members
the verifier needs as structures (the manifest, the proofs). It decides nothing about
the evidence: that is the verifier's (``verifier``). Anything that makes the bundle
unusable raises ``BundleFormatError``.
"""

from __future__ import annotations

import binascii
import io
import json
import os
import re
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.bundle.layout import (
    CHECKPOINT,
    ENTRY_DIR,
    ENTRY_MEMBER,
    FIXED_MEMBERS,
    FORMAT,
    KEYS,
    LOG_KEY,
    MANIFEST,
    PROOFS,
    Source,
    entry_name,
)
from audit.entry import MAX_ENTRY_SIZE
from audit.errors import BundleFormatError

__all__ = ["DEFAULT_LIMITS", "MAX_BUNDLE_BYTES", "Bundle", "ReadLimits", "read_bundle"]


_MIB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """The most memory the reader spends on one bundle, whatever the bundle says.

    The reader holds the whole file and every member in memory (the verifier compares
    all of them byte for byte), so each limit bounds a part of that, and each is checked
    before the bytes it concerns are read: the file's size as it is read; the number of
    members and the size of the zip's central directory (which Python's zip reader
    parses whole, one object per record) from the zip's end record; each member's size
    and their sum from the central directory; and the bytes each member actually yields,
    counted again as they are read. The defaults take a bundle of about 100,000 entries
    (a 10,000-entry bundle is 16 MB); an auditor with a larger one raises them.
    """

    bundle_bytes: int = 256 * _MIB
    """The zip file itself."""
    members: int = 200_000
    """Members in the zip: entries and the five fixed members."""
    entry_bytes: int = MAX_ENTRY_SIZE
    """One entry member: the log holds no longer entry (``audit.entry.MAX_ENTRY_SIZE``)."""
    total_bytes: int = 256 * _MIB
    """All members together, uncompressed; also the limit on any one fixed member."""


DEFAULT_LIMITS = ReadLimits()
MAX_BUNDLE_BYTES = DEFAULT_LIMITS.bundle_bytes
"""Largest bundle the reader takes by default."""

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


_INDEX = re.compile(r"0|[1-9][0-9]{0,15}")


def _hashes(value: object) -> list[bytes] | None:
    """The hashes of a proof: a list of 64 lowercase hex digits each, else None.

    Checked as one string (each item a string of 64 characters, all of them lowercase
    hex digits) rather than item by item: a bundle holds a dozen per entry. The digits
    are checked by decoding them and writing them again: ``bytes.fromhex`` refuses
    anything but hex digits and ASCII whitespace, and ``hex`` writes exactly two
    lowercase digits per byte, so the two agree only for lowercase hex without
    whitespace (a regular expression over the digits cost as much as the rest).
    """
    if not isinstance(value, list):
        return None
    try:
        digits = "".join(value)
    except TypeError:  # an item that is not a string
        return None
    if not set(map(len, value)) <= {64}:
        return None
    try:
        joined = bytes.fromhex(digits)
    except ValueError:
        return None
    if joined.hex() != digits:
        return None
    return [joined[i : i + 32] for i in range(0, len(joined), 32)]


def _read_all(source: Source, limit: int) -> bytes:
    """The whole bundle, refused beyond ``limit`` bytes (read no further than that)."""
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as f:  # noqa: PTH123 - a path or a file object
                data = f.read(limit + 1)
        else:
            data = source.read(limit + 1)
    except OSError as e:
        raise BundleFormatError(f"cannot read the bundle: {e}") from e
    if len(data) > limit:
        raise BundleFormatError(
            f"the bundle is larger than the reader's limit of {limit} bytes (bundle_bytes)"
        )
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

_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END = b"PK\x06\x06"
_ZIP64_END_SIZE = 56
_DIRECTORY_RECORD = 46 + len(entry_name(0))
"""Bytes of a central directory record of an entry member as a bundle writes it (the
fixed 46 bytes and the name, no extra field or comment): no other member's is longer."""


def _directory_claims(raw: bytes) -> tuple[int, int] | None:
    """(members, central directory bytes) as the zip's end record gives them, or None if
    there is no end record (Python's reader then refuses the file too).

    Python's zip reader finds the end record the same way (the last 22 bytes, else the
    last signature within the longest comment's reach) and, if a zip64 locator precedes
    it, takes the zip64 end record before that; it then parses as many directory bytes
    as that record says, building an object per record whatever the count says, so both
    figures are checked.
    """
    at = len(raw) - _END_SIZE
    if at < 0 or raw[at : at + 4] != _END or raw[-2:] != b"\x00\x00":
        at = raw.rfind(_END, max(0, len(raw) - _END_SIZE - 0xFFFF))
        if at < 0 or len(raw) - at < _END_SIZE:
            return None
    count, size = struct.unpack_from("<HI", raw, at + 10)
    locator = at - _ZIP64_LOCATOR_SIZE
    if locator >= 0 and raw[locator : locator + 4] == _ZIP64_LOCATOR:
        record = locator - _ZIP64_END_SIZE
        if record >= 0 and raw[record : record + 4] == _ZIP64_END:
            count, size = struct.unpack_from("<QQ", raw, record + 32)
    return count, size


def _open_zip(raw: bytes, limits: ReadLimits) -> zipfile.ZipFile:
    """The zip, once its end record shows a directory within ``limits.members``."""
    claims = _directory_claims(raw)
    if claims is not None:
        count, size = claims
        if count > limits.members or size > limits.members * _DIRECTORY_RECORD:
            raise BundleFormatError(
                f"the zip's directory holds {count} members in {size} bytes, beyond the "
                f"reader's limit of {limits.members} members (members)"
            )
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except _ZIP_ERRORS as e:
        raise BundleFormatError(f"not a readable zip file: {e}") from e
    if len(archive.infolist()) > limits.members:
        archive.close()
        raise BundleFormatError(
            f"the bundle has {len(archive.infolist())} members, beyond the reader's limit "
            f"of {limits.members} (members)"
        )
    return archive


def _member_limit(name: str, limits: ReadLimits) -> tuple[int, str]:
    if name in FIXED_MEMBERS:
        return limits.total_bytes, "total_bytes"
    return limits.entry_bytes, "entry_bytes"


def _check_directory(infos: list[zipfile.ZipInfo], limits: ReadLimits) -> None:
    """Every name a bundle's own, each once, each size and their sum within ``limits``,
    all from the central directory before any member is read."""
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name not in FIXED_MEMBERS and not ENTRY_MEMBER.fullmatch(name):
            raise BundleFormatError(
                f"{name!r} is not a member of a bundle (entries are entries/<12 digits>.json)"
            )
        if name in seen:
            raise BundleFormatError(f"the bundle holds {name} twice")
        seen.add(name)
        limit, which = _member_limit(name, limits)
        if info.file_size > limit:
            raise BundleFormatError(
                f"{name} is {info.file_size} bytes, beyond the reader's limit of {limit} ({which})"
            )
        total += info.file_size
    if total > limits.total_bytes:
        raise BundleFormatError(
            f"the members take {total} bytes uncompressed, beyond the reader's limit of "
            f"{limits.total_bytes} bytes for all of them (total_bytes)"
        )


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _stored(raw: bytes, info: zipfile.ZipInfo) -> bytes | None:
    """A stored member's bytes cut from ``raw`` at its local header, checked as Python's
    zip reader checks them (signature, the same name, size, CRC-32); None for anything
    else (compressed, encrypted, a data descriptor, a header that does not match), which
    is left to that reader.

    A bundle's members are stored, so their bytes are in the file as they are: taking
    them is a slice and a checksum, where the zip reader's file object per member cost a
    tenth of a signature check. What is taken here is checked again with the rest: the
    verifier makes the zip of these members again and compares it with the file, byte for
    byte.
    """
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x9:  # encrypted, descriptor
        return None
    at = info.header_offset
    try:
        header = _LOCAL_HEADER.unpack_from(raw, at)
    except struct.error:
        return None
    name_length, extra_length = header[10], header[11]
    start = at + _LOCAL_HEADER.size + name_length + extra_length
    name = raw[at + _LOCAL_HEADER.size : at + _LOCAL_HEADER.size + name_length]
    if header[0] != b"PK\x03\x04" or name != info.orig_filename.encode("ascii", "replace"):
        return None
    data = raw[start : start + info.compress_size]
    if len(data) != info.file_size or info.compress_size != info.file_size:
        return None
    if binascii.crc32(data) != info.CRC:
        raise BundleFormatError(f"{info.filename} cannot be read: bad CRC-32")
    return data


def _unzip(raw: bytes, limits: ReadLimits) -> dict[str, bytes]:
    """Every member by name: only the bundle's own names, each once, within ``limits``.

    ``_check_directory`` has let through only fixed names and entry names."""
    members: dict[str, bytes] = {}
    with _open_zip(raw, limits) as archive:
        infos = archive.infolist()
        _check_directory(infos, limits)
        left = limits.total_bytes
        for info in infos:
            name = info.filename
            limit, which = _member_limit(name, limits)
            # Counted again as read, not taken from the directory: whatever the zip
            # reader does with a size that lies, no more than the limits is ever held.
            cap = min(limit, left)
            data = _stored(raw, info)
            if data is None:
                try:
                    with archive.open(info) as member:
                        data = member.read(cap + 1)
                except _ZIP_ERRORS as e:
                    raise BundleFormatError(f"{name} cannot be read: {e}") from e
            if len(data) > cap:
                which = which if cap == limit else "total_bytes"
                raise BundleFormatError(
                    f"{name} yields more than its directory says, beyond the reader's limit "
                    f"({which})"
                )
            left -= len(data)
            members[name] = data
    return members


def read_bundle(source: Source, limits: ReadLimits = DEFAULT_LIMITS) -> Bundle:
    """The bundle's parts, read within ``limits``; ``BundleFormatError`` if unusable."""
    raw = _read_all(source, limits.bundle_bytes)
    members = _unzip(raw, limits)
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
        if not _INDEX.fullmatch(key):
            raise BundleFormatError(f"{PROOFS}: {key!r} is not an entry index")
        inclusion[int(key)] = _hashes(value)
    consistency = _consistency(proofs.get("consistency"))
    entries: dict[int, bytes] = {}
    for name, data in members.items():
        if name not in FIXED_MEMBERS:  # an entry name (``_check_directory``)
            entries[int(name[len(ENTRY_DIR) : -len(".json")])] = data
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
