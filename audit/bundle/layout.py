"""The one layout of an audit bundle, and the writer that makes it.

Everything in a bundle beyond the entries, the checkpoint and the proofs (the manifest,
the key table, ``log.key``, the JSON layout, the zip's own headers) follows from those
and from the log key, written one way only: the verifier makes the bundle again with
``bundle_members`` and ``zip_members`` and compares it byte for byte, so a writer and a
verifier can never disagree on what a bundle should hold. docs/audit-bundle.md gives
the layout.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import struct
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from audit.checkpoint import Checkpoint
from audit.encoding import b64encode
from audit.entry import (
    KEY_REGISTERED,
    KEY_REVOKED,
    Entry,
    parse_entry,
    parse_key_registration,
    parse_key_revocation,
)
from audit.errors import AuditError, CheckpointError, FormatError

__all__ = [
    "BATCH_REGISTERED",
    "CHECKPOINT",
    "ENTRY_DIR",
    "ENTRY_MEMBER",
    "FIXED_MEMBERS",
    "FORMAT",
    "KEYS",
    "LOG_KEY",
    "MANIFEST",
    "PROOFS",
    "Consistency",
    "Source",
    "batch_registration",
    "bundle_members",
    "entry_name",
    "note_text",
    "vials_of_batch",
    "write",
    "zip_bytes",
    "zip_members",
]


FORMAT = "trace-audit-bundle-v1"
"""The ``format`` member of ``manifest.json``."""

MANIFEST = "manifest.json"
BATCH_REGISTERED = "batch.registered"
"""The entry type that registers a batch, naming its lot and its vials' serial numbers."""
CHECKPOINT = "checkpoint.txt"
LOG_KEY = "log.key"
PROOFS = "proofs.json"
KEYS = "keys.json"
ENTRY_DIR = "entries/"
FIXED_MEMBERS = (MANIFEST, CHECKPOINT, LOG_KEY, PROOFS, KEYS)
"""The members every bundle has, besides its entries, in the order they are written."""

ENTRY_MEMBER = re.compile(r"entries/([0-9]{12})\.json")
"""The name of an entry member; its group is the entry's index."""

# A fixed time stamp, system and attributes, and no compression (zlib builds differ in
# their output), keep the zip of the same evidence byte for byte the same everywhere.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_SYSTEM = 3
_ZIP_ATTRIBUTES = 0o100644 << 16

Source = str | os.PathLike[str] | IO[bytes]


def entry_name(index: int) -> str:
    """The zip member holding entry ``index``: ``entries/`` and 12 decimal digits."""
    return f"{ENTRY_DIR}{index:012d}.json"


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consistency:
    """RFC 9162 consistency proof from the tree of ``size1`` leaves (root ``root1``)."""

    size1: int
    root1: bytes
    proof: tuple[bytes, ...]


def _key_table(parsed: Sequence[Entry]) -> dict[str, dict[str, Any]]:
    """keys.json: each registered key with its registration and revocation indices."""
    keys: dict[str, dict[str, Any]] = {}
    revoked: dict[str, int] = {}
    for entry in parsed:
        try:
            if entry.type == KEY_REGISTERED:
                registration = parse_key_registration(entry)
                keys.setdefault(
                    registration.key,
                    {
                        "public_key": b64encode(registration.public_key),
                        "user": registration.user,
                        "label": registration.label,
                        "registered": registration.index,
                        "revoked": None,
                    },
                )
            elif entry.type == KEY_REVOKED:
                kid, at = parse_key_revocation(entry)
                revoked.setdefault(kid, at)
        except AuditError:
            continue  # the verifier reports it; keys.json only summarises
    for kid, at in revoked.items():
        if kid in keys:
            keys[kid]["revoked"] = at
    return keys


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _parsed(entries: Mapping[int, bytes]) -> list[Entry]:
    """The entries that parse, in index order (a damaged one is the verifier's finding)."""
    out = []
    for index in sorted(entries):
        try:
            out.append(parse_entry(entries[index]))
        except AuditError:
            continue
    return out


def batch_registration(entries: Iterable[Entry], batch: str) -> Entry | None:
    """The signed entry that registered ``batch``, if among ``entries``."""
    return next((e for e in entries if e.subject == batch and e.type == BATCH_REGISTERED), None)


def vials_of_batch(entries: Iterable[Entry], batch: str) -> list[str]:
    """The vials that signed ``vial.commissioned`` entries put in ``batch``, in index order."""
    seen: dict[str, None] = {}
    for entry in sorted(entries, key=lambda e: e.index):
        if entry.type == "vial.commissioned" and entry.what.get("batch") == batch:
            seen.setdefault(entry.subject)
    return list(seen)


def _manifest(batch: str, size: int | None, parsed: Sequence[Entry], count: int) -> dict[str, Any]:
    """manifest.json: everything in it follows from the batch's subject and the evidence."""
    registered = batch_registration(parsed, batch)
    return {
        "format": FORMAT,
        "lot": None if registered is None else registered.what.get("lot"),
        "batch": batch,
        "vials": vials_of_batch(parsed, batch),
        "checkpoint_size": size,
        "entries": count,
    }


def _proof_text(proof: Sequence[bytes] | None) -> str:
    if proof is None:
        return "null"
    if not proof:
        return "[]"
    return '[\n   "' + '",\n   "'.join([h.hex() for h in proof]) + '"\n  ]'


def _proofs_bytes(
    size: int | None,
    inclusion: Mapping[int, Sequence[bytes] | None],
    consistency: Consistency | None,
) -> bytes:
    """proofs.json: the JSON of ``{"consistency", "inclusion", "size"}`` as ``_json_bytes``
    writes it, written directly.

    The inclusion proofs are most of a bundle's JSON (a dozen hashes per entry), and the
    standard library writes indented JSON in pure Python, which cost a verifier more per
    entry than its signature check. Hashes are hex, so no string needs escaping; members
    are in the order ``sort_keys`` gives (the index as text: "10" before "9"). The tests
    hold it to the ``json.dumps`` form for every shape of input.
    """
    items = sorted((str(index), proof) for index, proof in inclusion.items())
    proofs = ",\n".join([f'  "{key}": {_proof_text(proof)}' for key, proof in items])
    rest = _json_bytes({"consistency": _consistency_json(consistency), "size": size}).decode()
    # rest is '{\n "consistency": ...,\n "size": ...\n}\n': put "inclusion" between.
    cut = rest.index(',\n "size": ')
    inclusion_text = "{\n" + proofs + "\n }" if items else "{}"
    return (rest[:cut] + ',\n "inclusion": ' + inclusion_text + rest[cut:]).encode()


def _consistency_json(consistency: Consistency | None) -> dict[str, Any] | None:
    if consistency is None:
        return None
    return {
        "size1": consistency.size1,
        "root1": consistency.root1.hex(),
        "proof": [h.hex() for h in consistency.proof],
    }


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_END_RECORD = struct.Struct("<4s4H2LH")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP_VERSION = 20
_ZIP64_VERSION = 45
_DOS_DATE = (_ZIP_TIME[0] - 1980) << 9 | _ZIP_TIME[1] << 5 | _ZIP_TIME[2]
_DOS_TIME = _ZIP_TIME[3] << 11 | _ZIP_TIME[4] << 5 | _ZIP_TIME[5] // 2
_ZIP32_LIMIT = (1 << 31) - 1
_COUNT_LIMIT = 0xFFFF


def zip_bytes(members: Mapping[str, bytes]) -> bytes:
    """The zip of ``members`` in the one layout a bundle has, in the order given.

    The layout is what Python's ``zipfile`` writes for stored members with a fixed time
    stamp, system and attributes to a seekable file (the tests hold the two to the same
    bytes, zip64 end records included), written here directly: a verifier makes the
    whole bundle again for comparison, and building it through ``zipfile`` cost a
    quarter of a signature check per entry. The time stamp, system and attributes are
    fixed and nothing is compressed (zlib builds differ in their output), so the same
    evidence is the same bytes everywhere. Raises ``FormatError`` for a name that is not
    ASCII or a zip larger than 2 GiB, which no bundle needs.
    """
    out: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    for name, data in members.items():
        if not name.isascii():
            raise FormatError(f"{name!r}: a bundle's member names are ASCII")
        encoded = name.encode("ascii")
        crc = binascii.crc32(data)
        size = len(data)
        out.append(
            _LOCAL_HEADER.pack(
                b"PK\x03\x04",
                _ZIP_VERSION,
                0,
                0,
                zipfile.ZIP_STORED,
                _DOS_TIME,
                _DOS_DATE,
                crc,
                size,
                size,
                len(encoded),
                0,
            )  # fmt: skip
        )
        out.append(encoded)
        out.append(data)
        directory.append(
            _CENTRAL_RECORD.pack(
                b"PK\x01\x02",
                _ZIP_VERSION,
                _ZIP_SYSTEM,
                _ZIP_VERSION,
                0,
                0,
                zipfile.ZIP_STORED,
                _DOS_TIME,
                _DOS_DATE,
                crc,
                size,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                _ZIP_ATTRIBUTES,
                offset,
            )  # fmt: skip
        )
        directory.append(encoded)
        offset += _LOCAL_HEADER.size + len(encoded) + size
        if offset > _ZIP32_LIMIT:
            raise FormatError("a bundle is smaller than 2 GiB")
    start = offset
    size = sum(map(len, directory))
    count = len(members)
    end: list[bytes] = []
    if count > _COUNT_LIMIT:
        end.append(
            _ZIP64_END_RECORD.pack(
                b"PK\x06\x06",
                44,
                _ZIP64_VERSION,
                _ZIP64_VERSION,
                0,
                0,
                count,
                count,
                size,
                start,
            )  # fmt: skip
        )
        end.append(_ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, start + size, 1))
        count = _COUNT_LIMIT
    end.append(_END_RECORD.pack(b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    return b"".join(out + directory + end)


def zip_members(out: Source, members: Mapping[str, bytes]) -> None:
    """Write ``members`` in the one layout a bundle has (``zip_bytes``), in the order given.

    ``write`` uses it; a tool (or a test) that assembles a bundle by hand uses it to get
    the same layout.
    """
    data = zip_bytes(members)
    if isinstance(out, str | os.PathLike):
        with open(out, "wb") as f:  # noqa: PTH123 - a path or a file object
            f.write(data)
    else:
        out.write(data)


def bundle_members(
    *,
    batch: str,
    checkpoint: bytes,
    log_key: str,
    entries: Mapping[int, bytes],
    inclusion: Mapping[int, Sequence[bytes] | None],
    consistency: Consistency | None,
    parsed: Sequence[Entry] | None = None,
) -> dict[str, bytes]:
    """Every member of the bundle of this evidence, in the order a bundle holds them.

    ``parsed`` is the entries that parse, in index order, if the caller has them (a
    verifier does): otherwise they are parsed here.
    """
    try:
        size: int | None = Checkpoint.parse(note_text(checkpoint)).size
    except CheckpointError:
        size = None
    if parsed is None:
        parsed = _parsed(entries)  # once, for the manifest and the key table
    members = {
        MANIFEST: _json_bytes(_manifest(batch, size, parsed, len(entries))),
        CHECKPOINT: bytes(checkpoint),
        LOG_KEY: (log_key.strip() + "\n").encode(),
        PROOFS: _proofs_bytes(size, inclusion, consistency),
        KEYS: _json_bytes(_key_table(parsed)),
    }
    for index in sorted(entries):
        members[entry_name(index)] = bytes(entries[index])
    return members


def write(
    out: Source,
    *,
    batch: str,
    checkpoint: bytes,
    log_key: str,
    entries: Mapping[int, bytes],
    inclusion: Mapping[int, Sequence[bytes]],
    consistency: Consistency | None = None,
) -> None:
    """Write a bundle zip to ``out`` (a path or a binary file).

    ``checkpoint`` is the signed note the ``inclusion`` proofs lead to; ``entries``
    the exact stored bytes by index. Everything else in the bundle (the manifest's lot
    and vials, the key table) follows from these, so that a verifier can make the same
    bytes again and refuse any other. Raises ``FormatError`` if the checkpoint text
    does not parse or an entry has no proof (a writer's mistake).
    """
    try:
        Checkpoint.parse(note_text(checkpoint))
    except CheckpointError as e:
        raise FormatError(f"checkpoint: {e}") from e
    if set(entries) != set(inclusion):
        raise FormatError("every entry needs exactly one inclusion proof")
    zip_members(
        out,
        bundle_members(
            batch=batch,
            checkpoint=checkpoint,
            log_key=log_key,
            entries=entries,
            inclusion=inclusion,
            consistency=consistency,
        ),
    )


def note_text(note: bytes | str) -> str:
    """The signed text of a note (before its signatures), without checking them."""
    text = note.decode("utf-8", "replace") if isinstance(note, bytes) else note
    split = text.rfind("\n\n")
    return text[: split + 1] if split >= 0 else text
