"""Audit bundles: one batch's custody-log evidence in a zip, written and verified offline.

A bundle (docs/audit-bundle.md) carries the exact bytes of every log entry about a
batch, its vials and the shippers that carried them, the registration and revocation
entries of every key that signed one, an RFC 9162 inclusion proof of each entry
against one signed checkpoint, and optionally a consistency proof from a checkpoint
the auditor already holds. ``write`` makes the zip; ``verify`` checks it with nothing
but the log's verifier key, and returns a ``Report``: findings, each with a kind and
the entry index it concerns, and the readable sections (each vial's timeline, QC
results, the disposition and its signature).

What ``verify`` checks, and what it trusts:

* the checkpoint's signature with the log key the caller gives (never ``log.key``
  in the bundle, which is there for reading only);
* each entry's bytes against the format contract, its inclusion proof against that
  checkpoint, its position (the file name must be its index), and its signature by a
  key whose registration entry is in the bundle, below its index, verified itself,
  with no revocation entry below its index;
* each subject's chain: sequence numbers from 0 without a gap, each ``subject_prev``
  the leaf hash of the entry before, indices increasing; and ``prev`` between
  neighbouring indices the bundle holds;
* the consistency proof from the auditor's own checkpoint, if one is given.

``keys.json`` and ``manifest.json`` are conveniences the verifier does not trust:
keys come only from registration entries, vials only from signed
``vial.commissioned`` entries. A bundle can prove that what it holds is in the log
unchanged; it cannot prove that the log holds nothing newer about a subject than its
last entry (see docs/audit-bundle.md).

Findings are data, never exceptions: ``verify`` raises only ``BundleFormatError``
(or ``FormatError`` for a malformed key or checkpoint given by the caller) when the
input cannot be used at all. This module must never import the service.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.cosignature import CosignerKey, verify_cosignatures, verify_cosigned
from audit.encoding import b64encode
from audit.entry import (
    KEY_REGISTERED,
    KEY_REVOKED,
    Entry,
    parse_entry,
    parse_key_registration,
    parse_key_revocation,
)
from audit.errors import (
    AuditError,
    BundleFormatError,
    CheckpointError,
    FormatError,
    ProofError,
    VerificationError,
)
from audit.merkle import verify_consistency, verify_inclusion
from audit.note import Verifier, parse_note, parse_verifier_key
from audit.signers import KeyBindingError, KeyHistory, KeyRecord

__all__ = [
    "CHECKPOINT",
    "FORMAT",
    "KEYS",
    "LOG_KEY",
    "MANIFEST",
    "PROOFS",
    "Consistency",
    "DispositionLine",
    "Finding",
    "KeyLine",
    "QcLine",
    "Report",
    "TimelineEvent",
    "VialTimeline",
    "entry_name",
    "zip_members",
    "verify",
    "write",
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

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
"""Largest bundle the reader takes: it holds the whole file, and each member, in memory."""

_ENTRY_NAME = re.compile(r"entries/([0-9]{12})\.json")
_HEX_HASH = re.compile(r"[0-9a-f]{64}")
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


def _proofs_json(
    size: int | None,
    inclusion: Mapping[int, Sequence[bytes] | None],
    consistency: Consistency | None,
) -> dict[str, Any]:
    return {
        "size": size,
        "inclusion": {
            str(index): None if inclusion[index] is None else [h.hex() for h in inclusion[index]]  # type: ignore[union-attr]
            for index in sorted(inclusion)
        },
        "consistency": None
        if consistency is None
        else {
            "size1": consistency.size1,
            "root1": consistency.root1.hex(),
            "proof": [h.hex() for h in consistency.proof],
        },
    }


def zip_members(out: Source, members: Mapping[str, bytes]) -> None:
    """Write ``members`` in the one layout a bundle has, in the order given.

    ``write`` uses it, and so does ``verify`` to make a bundle again for comparison;
    a tool (or a test) that assembles a bundle by hand uses it to get the same layout.
    """
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = _ZIP_SYSTEM
            info.external_attr = _ZIP_ATTRIBUTES
            archive.writestr(info, data)


def _members(
    *,
    batch: str,
    checkpoint: bytes,
    log_key: str,
    entries: Mapping[int, bytes],
    inclusion: Mapping[int, Sequence[bytes] | None],
    consistency: Consistency | None,
) -> dict[str, bytes]:
    try:
        size: int | None = Checkpoint.parse(_note_text(checkpoint)).size
    except CheckpointError:
        size = None
    parsed = _parsed(entries)  # once, for the manifest and the key table
    members = {
        MANIFEST: _json_bytes(_manifest(batch, size, parsed, len(entries))),
        CHECKPOINT: bytes(checkpoint),
        LOG_KEY: (log_key.strip() + "\n").encode(),
        PROOFS: _json_bytes(_proofs_json(size, inclusion, consistency)),
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
        Checkpoint.parse(_note_text(checkpoint))
    except CheckpointError as e:
        raise FormatError(f"checkpoint: {e}") from e
    if set(entries) != set(inclusion):
        raise FormatError("every entry needs exactly one inclusion proof")
    zip_members(
        out,
        _members(
            batch=batch,
            checkpoint=checkpoint,
            log_key=log_key,
            entries=entries,
            inclusion=inclusion,
            consistency=consistency,
        ),
    )


def _note_text(note: bytes | str) -> str:
    """The signed text of a note (before its signatures), without checking them."""
    text = note.decode("utf-8", "replace") if isinstance(note, bytes) else note
    split = text.rfind("\n\n")
    return text[: split + 1] if split >= 0 else text


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bundle:
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


_FIXED = (MANIFEST, CHECKPOINT, LOG_KEY, PROOFS, KEYS)
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
            if name not in _FIXED and not _ENTRY_NAME.fullmatch(name):
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


def _read(source: Source) -> _Bundle:
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
        match = _ENTRY_NAME.fullmatch(name)
        if match is not None:
            entries[int(match.group(1))] = data
    return _Bundle(raw, members, manifest, checkpoint, entries, inclusion, consistency)


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


# --- the report --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something in the bundle that does not verify.

    ``kind`` is one of: malformed, reordered, inserted, missing, inclusion,
    bad-signature, unknown-key, revoked-key, key-entry, subject-chain, log-chain,
    wrong-log, checkpoint, stale-checkpoint, consistency, manifest. ``index`` is the entry it
    concerns, None for the checkpoint or the bundle as a whole.
    """

    kind: str
    index: int | None
    detail: str

    def line(self) -> str:
        where = "bundle" if self.index is None else f"index {self.index}"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class TimelineEvent:
    index: int
    when: str
    type: str
    who: str
    where: str
    temperatures: str
    verified: bool


@dataclass(frozen=True)
class VialTimeline:
    subject: str
    serial: str
    events: tuple[TimelineEvent, ...]


@dataclass(frozen=True)
class QcLine:
    index: int
    when: str
    type: str
    who: str
    summary: str
    verified: bool


@dataclass(frozen=True)
class DispositionLine:
    index: int
    when: str
    decision: str
    meaning: str
    justification: str | None
    signer: str
    key: str
    verified: bool
    bound: bool = False
    """Whether ``key`` was, at the entry's index, registered to ``signer`` (``audit.signers``)."""


@dataclass(frozen=True)
class KeyLine:
    key: str
    user: str | None
    label: str
    registered: int
    revoked: int | None


@dataclass
class Report:
    """The outcome of ``verify``: ``ok`` iff there are no findings."""

    lot: str
    batch: str
    origin: str | None
    checkpoint_size: int | None
    root_hash: str | None
    checkpoint_verified: bool
    consistency_from: int | None
    entries: int
    findings: list[Finding] = field(default_factory=list)
    cosigners: list[str] = field(default_factory=list)
    """Who cosigned the checkpoint, each with a key the auditor gave: the log's own
    ML-DSA-44 cosigner, then the witnesses."""
    quorum: int = 0
    vials: list[VialTimeline] = field(default_factory=list)
    qc: list[QcLine] = field(default_factory=list)
    dispositions: list[DispositionLine] = field(default_factory=list)
    keys: list[KeyLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[tuple[str, int | None]]:
        """(kind, index) of every finding: what tests and tools usually compare."""
        return {(f.kind, f.index) for f in self.findings}

    def text(self) -> str:
        """The readable report, one section after the other."""
        return "\n".join(_report_lines(self)) + "\n"


def _mark(verified: bool) -> str:
    return " " if verified else "!"


def _report_lines(report: Report) -> list[str]:
    lines = [f"Audit bundle of lot {report.lot} ({report.batch})"]
    if report.checkpoint_size is not None:
        state = "verified" if report.checkpoint_verified else "NOT VERIFIED"
        lines.append(
            f"Checkpoint of {report.origin}: size {report.checkpoint_size}, "
            f"root {report.root_hash}, signature {state}"
        )
    if report.cosigners:
        met = f" (quorum of {report.quorum} witnesses met)" if report.quorum else ""
        lines.append(f"Cosigned by: {', '.join(report.cosigners)}{met}")
    if report.consistency_from is not None:
        lines.append(f"Consistent with your checkpoint of size {report.consistency_from}: checked")
    lines.append(f"{report.entries} entries; lines marked ! have findings.")
    for vial in report.vials:
        lines += ["", f"Vial {vial.serial} ({vial.subject})"]
        for e in vial.events:
            place = f": {e.where}" if e.where else ""
            temps = f" [{e.temperatures}]" if e.temperatures else ""
            lines.append(
                f"{_mark(e.verified)} #{e.index} {e.when} {e.type} by {e.who}{place}{temps}"
            )
    lines += ["", "QC results"]
    lines += [
        f"{_mark(q.verified)} #{q.index} {q.when} {q.type} by {q.who}: {q.summary}"
        for q in report.qc
    ] or ["  none"]
    lines += ["", "Disposition"]
    for d in report.dispositions:
        state = "verified" if d.verified else "DOES NOT VERIFY"
        why = f" ({d.justification})" if d.justification else ""
        signed = (
            f"signed by {d.signer} with key {d.key}"
            if d.bound
            else f"NOT proven signed: {d.signer}"
        )
        lines.append(
            f"{_mark(d.verified)} #{d.index} {d.when} {d.decision}: {d.meaning!r}{why}, "
            f"{signed}: signature {state}"
        )
    if not report.dispositions:
        lines.append("  none")
    lines += ["", "Signing keys"]
    for k in report.keys:
        revoked = f", revoked at #{k.revoked}" if k.revoked is not None else ""
        lines.append(
            f"  {k.key} {k.user or 'service'} ({k.label}): registered at #{k.registered}{revoked}"
        )
    lines += ["", "Findings"]
    lines += [f"  {f.line()}" for f in report.findings] or ["  none: everything verifies"]
    lines += [
        "",
        "What this bundle cannot show: entries about the batch that the log holds after",
        "the newest one here. To rule them out, verify a later bundle of this lot against",
        "this bundle's checkpoint (--since-checkpoint), or run verify-log on the log itself.",
    ]
    if report.checkpoint_verified is False:
        lines.insert(
            1,
            "WARNING: the checkpoint does not verify with the log key given, so nothing below "
            "is proven to be in the log.",
        )
    return lines


# --- verifying -------------------------------------------------------------------------------


def _verifier(log_key: Verifier | str) -> Verifier:
    if isinstance(log_key, Verifier):
        return log_key
    return parse_verifier_key(log_key.strip())


def _since(since_checkpoint: bytes | str | None, verifier: Verifier) -> Checkpoint | None:
    if since_checkpoint is None:
        return None
    note = since_checkpoint.encode() if isinstance(since_checkpoint, str) else since_checkpoint
    try:
        return verify_checkpoint(note, verifier)
    except VerificationError as e:
        raise FormatError(f"your checkpoint does not verify with the log key: {e}") from e


class _Check:
    """One verification: the bundle, the findings so far, and what the entries showed."""

    def __init__(
        self,
        bundle: _Bundle,
        verifier: Verifier,
        witnesses: Sequence[CosignerKey] = (),
        quorum: int = 0,
        log_cosigner: CosignerKey | None = None,
    ) -> None:
        self.bundle = bundle
        self.verifier = verifier
        self.witnesses = tuple(witnesses)
        self.quorum = quorum
        self.log_cosigner = log_cosigner
        self.cosigners: list[str] = []
        self.findings: list[Finding] = []
        self.entries: dict[int, Entry] = {}
        self.keys = KeyHistory()
        self.signers: dict[int, KeyRecord] = {}
        """The key record behind each entry whose signature and binding verified."""
        self.checkpoint: Checkpoint | None = None
        self.checkpoint_verified = False

    def find(self, kind: str, index: int | None, detail: str) -> None:
        self.findings.append(Finding(kind, index, detail))

    def flagged(self) -> set[int]:
        return {f.index for f in self.findings if f.index is not None}

    # the checkpoint

    def check_checkpoint(self) -> None:
        note = self.bundle.checkpoint
        try:
            self.checkpoint = verify_checkpoint(note, self.verifier)
            self.checkpoint_verified = True
            self.check_cosignatures(note)
            return
        except VerificationError as e:
            self.find("checkpoint", None, f"{CHECKPOINT} does not verify with the log key: {e}")
        try:  # go on with its claims, to report what else is wrong; nothing here is trusted
            self.checkpoint = Checkpoint.parse(_note_text(note))
        except CheckpointError:
            self.checkpoint = None

    def check_cosignatures(self, note: bytes) -> None:
        """Every signature line is by a key the auditor gave, and verifies; the quorum.

        A line by a key nobody gave cannot be checked, so it is a finding: give every
        cosigner's key, or take the bundle as not fully checked."""
        text, signatures = parse_note(note)
        keys = [*self.witnesses, *([self.log_cosigner] if self.log_cosigner else [])]
        known = {(self.verifier.name, self.verifier.key_id)} | {(k.name, k.key_id) for k in keys}
        for signature in signatures:
            if (signature.name, signature.key_id) not in known:
                self.find(
                    "unknown-cosigner",
                    None,
                    f"{CHECKPOINT} has a signature by {signature.name}+{signature.key_id:08x}, "
                    "a key you did not give (--witness or --log-cosigner): it is not checked",
                )
        try:
            if self.quorum > 0:
                cosigned = verify_cosigned(
                    note,
                    self.verifier,
                    self.witnesses,
                    self.quorum,
                    log_cosigner=self.log_cosigner,
                )
                found = [*cosigned.cosignatures]
                if cosigned.log_cosignature is not None:
                    found.insert(0, cosigned.log_cosignature)
            else:
                found = list(verify_cosignatures(text, signatures, keys))
                if self.log_cosigner is not None and not any(
                    c.key == self.log_cosigner for c in found
                ):
                    self.find("cosignature", None, "the log's own cosignature is missing")
        except VerificationError as e:
            self.find("quorum" if self.quorum else "cosignature", None, str(e))
            return
        self.cosigners = list(dict.fromkeys(c.key.label() for c in found))

    # entries, in index order

    def check_entries(self) -> None:
        inclusion = self.bundle.inclusion
        for index in sorted(set(inclusion) - set(self.bundle.entries)):
            self.find("missing", index, "the bundle proves this entry but does not hold it")
        for index in sorted(self.bundle.entries):
            self.check_entry(index, self.bundle.entries[index])

    def check_entry(self, index: int, raw: bytes) -> None:
        try:
            entry = parse_entry(raw)
        except AuditError as e:
            self.find("malformed", index, f"not a well-formed log entry: {e}")
            return
        if entry.index != index:
            self.find("reordered", index, f"the entry stored as {index} says it is {entry.index}")
        else:
            self.entries[index] = entry
        self.check_inclusion(index, entry)
        if self.checkpoint is not None and entry.log != self.checkpoint.origin:
            self.find("wrong-log", index, f"entry of log {entry.log!r}")
        clean = self.check_signature(index, entry)
        if entry.type == KEY_REVOKED:
            try:
                kid, at = parse_key_revocation(entry)
                # Counted even if its evidence fails: a doubtful revocation must not help.
                self.keys.revoke(kid, at)
            except AuditError as e:
                self.find("key-entry", index, str(e))

        if entry.type == KEY_REGISTERED and clean and index not in self.flagged():
            try:
                registration = parse_key_registration(entry)
            except AuditError as e:
                self.find("key-entry", index, str(e))
            else:
                self.keys.register(registration)

    def check_inclusion(self, index: int, entry: Entry) -> None:
        if index not in self.bundle.inclusion:
            self.find("inserted", index, "no inclusion proof: the log never proved this entry")
            return
        proof = self.bundle.inclusion[index]
        checkpoint = self.checkpoint
        if checkpoint is None:
            return  # reported once, as a checkpoint finding
        if entry.index >= checkpoint.size:
            self.find(
                "stale-checkpoint",
                index,
                f"the checkpoint covers {checkpoint.size} entries, not entry {entry.index}",
            )
            return
        if proof is None:
            self.find("inclusion", index, f"the proof in {PROOFS} is not a list of hashes")
            return
        try:
            verify_inclusion(
                entry.leaf_hash, entry.index, checkpoint.size, proof, checkpoint.root_hash
            )
        except ProofError as e:
            self.find("inclusion", index, f"not in the checkpoint's tree: {e}")

    def check_signature(self, index: int, entry: Entry) -> bool:
        """Whether the entry's key was bound to its actor at its index (``audit.signers``)
        and its signature verifies."""
        try:
            self.signers[index] = self.keys.verify(entry)
        except KeyBindingError as e:
            self.find(e.kind, index, str(e))
            return False
        except VerificationError as e:
            self.find("bad-signature", index, str(e))
            return False
        return True

    # chains

    def check_chains(self) -> None:
        by_subject: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries.values():
            by_subject[entry.subject].append(entry)
        for subject, chain in by_subject.items():
            chain.sort(key=lambda e: (e.subject_seq, e.index))
            previous: Entry | None = None
            for entry in chain:
                expected = 0 if previous is None else previous.subject_seq + 1
                if previous is not None and entry.subject_seq == previous.subject_seq:
                    self.find(
                        "inserted",
                        entry.index,
                        f"{subject}: a second entry number {entry.subject_seq} "
                        f"(the other is {previous.index})",
                    )
                    continue
                if entry.subject_seq != expected:
                    self.find(
                        "missing",
                        entry.index,
                        f"{subject}: entry number {entry.subject_seq} follows number "
                        f"{expected - 1}: the entries between are not in the bundle",
                    )
                elif previous is not None and (
                    entry.subject_prev != previous.leaf_hash or entry.index <= previous.index
                ):
                    self.find(
                        "subject-chain",
                        entry.index,
                        f"{subject}: entry number {entry.subject_seq} does not follow "
                        f"entry {previous.index}",
                    )
                previous = entry
        for index, entry in self.entries.items():
            before = self.entries.get(index - 1)
            if before is not None and entry.prev != before.leaf_hash:
                self.find("log-chain", index, "prev is not the leaf hash of the entry before it")

    # consistency with the auditor's checkpoint

    def check_consistency(self, since: Checkpoint) -> None:
        checkpoint = self.checkpoint
        if checkpoint is None:
            return
        if since.size > checkpoint.size:
            self.find(
                "stale-checkpoint",
                None,
                f"the bundle's checkpoint ({checkpoint.size} entries) is older than yours "
                f"({since.size})",
            )
            return
        if since.size == checkpoint.size:
            # The same tree: nothing to prove, the roots must simply be equal.
            if since.root_hash != checkpoint.root_hash:
                self.find("consistency", None, "your checkpoint has the same size but another root")
            return
        held = self.bundle.consistency
        if held is None or held[0] != since.size:
            self.find(
                "consistency", None, f"no consistency proof from your size {since.size} in {PROOFS}"
            )
            return
        try:
            verify_consistency(
                since.size, checkpoint.size, held[2], since.root_hash, checkpoint.root_hash
            )
        except ProofError as e:
            self.find("consistency", None, f"from your checkpoint of size {since.size}: {e}")


def _batch_entry(check: _Check, batch: str) -> Entry | None:
    """The signed entry that registered the batch the manifest names, if the bundle has it."""
    return batch_registration(check.entries.values(), batch)


def _check_batch(check: _Check) -> None:
    """Every vial of the batch is in the bundle, as the batch's signed registration says.

    The batch's registration entry names every vial's serial number; each vial must be
    in the bundle (its commissioning entry at least). The manifest's own lot and vials
    are checked with the rest of its bytes (``_check_bytes``).
    """
    batch = _text(check.bundle.manifest.get("batch", ""))
    registered = _batch_entry(check, batch)
    if registered is None:
        check.find(
            "missing",
            None,
            f"no signed {BATCH_REGISTERED} entry for {batch or 'the manifest batch'}: "
            "the bundle does not show which batch it is",
        )
        return
    serials = registered.what.get("vials")
    seen = {e.subject for e in check.entries.values()}
    for serial in serials if isinstance(serials, list) else []:
        vial = f"{batch}/21/{_text(serial)}"
        if vial not in seen:
            check.find(
                "missing",
                registered.index,
                f"the signed batch entry lists vial {_text(serial)} but the bundle has no "
                "entry about it",
            )


_MEMBER_KINDS = {MANIFEST: "manifest", LOG_KEY: "log-key", KEYS: "keys", PROOFS: "proofs"}


def _check_bytes(check: _Check, log_key: str) -> None:
    """Every byte of the bundle is the one its evidence and the auditor's key make.

    The entries, the checkpoint and the proofs are checked on their own; everything
    else in a bundle (the manifest, the key table, ``log.key``, the JSON layout, the zip's
    own headers) follows from them and from the log key the auditor gave, so the bundle
    is made again from those and compared byte for byte. A member that differs is a
    finding naming it: nothing in a bundle is read without being checked.
    """
    bundle = check.bundle
    batch = bundle.manifest.get("batch")
    expected = _members(
        batch=batch if isinstance(batch, str) else "",
        checkpoint=bundle.checkpoint,
        log_key=log_key,
        entries=bundle.entries,
        inclusion=bundle.inclusion,
        consistency=None
        if bundle.consistency is None
        else Consistency(
            bundle.consistency[0], bundle.consistency[1], tuple(bundle.consistency[2])
        ),
    )
    differ = False
    for name, data in expected.items():
        if bundle.members.get(name) != data:
            differ = True
            kind = _MEMBER_KINDS.get(name, "layout")
            detail = (
                "is not the log key you gave"
                if name == LOG_KEY
                else "is not what the signed evidence makes (changed, or written differently)"
            )
            check.find(kind, None, f"{name} {detail}")
    if not differ:
        out = io.BytesIO()
        zip_members(out, expected)
        if out.getvalue() != bundle.raw:
            check.find("layout", None, "the zip's own bytes are not the layout a bundle has")


def verify(
    path: Source,
    *,
    log_key: Verifier | str,
    since_checkpoint: bytes | str | None = None,
    witnesses: Sequence[CosignerKey] = (),
    quorum: int = 0,
    log_cosigner: CosignerKey | None = None,
) -> Report:
    """Verify the bundle at ``path`` (a path or a binary file) with the log's key.

    ``since_checkpoint`` is a signed checkpoint note the auditor already holds: the
    bundle must then prove its checkpoint consistent with it. ``witnesses`` are the
    witness keys the auditor trusts and ``quorum`` how many distinct witnesses must have
    cosigned the checkpoint (a rollback or a split view then needs their collusion);
    ``log_cosigner`` the log's own ML-DSA-44 cosigner key, whose cosignature keeps the
    tree head provable if Ed25519 falls. Every signature line must be by one of the keys
    given. Returns a ``Report``; raises ``BundleFormatError`` for a bundle that cannot be
    used at all and ``FormatError`` for a malformed ``log_key``, a ``since_checkpoint``
    that does not verify with it, or a quorum the witnesses given cannot meet.
    """
    verifier = _verifier(log_key)
    if quorum < 0 or quorum > len({k.name for k in witnesses}):
        raise FormatError(
            f"a quorum of {quorum} cannot be met by {len({k.name for k in witnesses})} "
            "distinct witnesses"
        )
    since = _since(since_checkpoint, verifier)
    bundle = _read(path)
    check = _Check(bundle, verifier, witnesses, quorum, log_cosigner)
    check.check_checkpoint()
    check.check_entries()
    check.check_chains()
    if since is not None:
        check.check_consistency(since)
    _check_batch(check)
    _check_bytes(check, verifier.text())
    check.findings.sort(key=lambda f: (-1 if f.index is None else f.index, f.kind))
    return _report(check, since)


# --- the readable sections ---------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _signer(check: _Check, entry: Entry) -> str:
    """Who signed ``entry``, as its verified key binding says; a claim otherwise."""
    record = check.signers.get(entry.index)
    if record is None:
        claimed = entry.actor or "the service"
        return f"{claimed} (claimed; key {entry.key} NOT VERIFIED)"
    return record.user or "the service"


def _who(check: _Check, entry: Entry) -> str:
    signer = _signer(check, entry)
    if entry.index not in check.signers or entry.actor is not None:
        return signer
    request = entry.what.get("request_entry")
    if isinstance(request, int) and request in check.entries and request in check.signers:
        asked = check.signers[request].user
        if asked is not None:
            return f"{asked} (#{request}, recorded by the service)"
    return signer


EVENT_NAMES: dict[str, str] = {
    "vial.commissioned": "Commissioned",
    "label.issued": "Label issued",
    "custody.stored": "Stored",
    "custody.store": "Stored",
    "custody.packed": "Packed",
    "custody.pack": "Packed",
    "custody.handover.offered": "Handover offered",
    "custody.handover.accepted": "Handover accepted",
    "custody.hand_to_courier": "Handed to courier",
    "custody.hand_to_site": "Handed to site",
    "custody.dispatched": "Dispatched",
    "custody.dispatch": "Dispatched",
    "custody.received": "Received",
    "custody.receive": "Received",
    "custody.administered": "Administered",
    "custody.administer": "Administered",
    "custody.destroyed": "Destroyed",
    "custody.destroy": "Destroyed",
    "coldchain.excursion": "Temperature excursion",
    "coldchain.excursion.closed": "Excursion closed",
    "batch.recalled": "Batch recalled",
}
"""Words for the entry types a vial's timeline shows, for people reading a report. The
type itself stays in ``TimelineEvent.type``; a type not listed here reads as itself."""


def event_name(entry_type: str) -> str:
    return EVENT_NAMES.get(entry_type, entry_type)


def _party(value: str) -> str:
    """``user:cora`` reads as ``cora``, ``site:LAB1`` as ``site LAB1``."""
    kind, _, name = value.partition(":")
    if kind == "user" and name:
        return name
    if kind == "site" and name:
        return f"site {name}"
    return value


def _shipper(value: str) -> str:
    """A shipper's Digital Link URI (``.../00/<SSCC>``) reads as its SSCC."""
    _, found, sscc = value.rpartition("/00/")
    return f"SSCC {sscc}" if found and sscc.isdigit() else value


def _where(entry: Entry) -> str:
    what, parts = entry.what, []
    site = what.get("site")
    if isinstance(site, str):
        parts.append(site)
    for name, label in (("unit", ""), ("rack", "rack "), ("box", "box "), ("position", "")):
        value = what.get(name)
        if isinstance(value, str) and value:
            parts.append(label + value)
    shipper = what.get("shipper")
    if isinstance(shipper, str) and shipper:
        parts.append("in shipper " + _shipper(shipper))
    for name, label in (("to", "to "), ("custodian", "held by ")):
        value = what.get(name)
        if isinstance(value, str) and value:
            parts.append(label + _party(value))
    location = entry.where.get("bizLocation") or entry.where.get("readPoint")
    if isinstance(location, str):
        parts.append(location)
    return ", ".join(parts)


_TEMPERATURE_KEYS = ("peak_celsius", "limit", "max_celsius", "min_celsius", "celsius")


def _temperatures(entry: Entry) -> str:
    what = entry.what
    parts = [
        f"{name} {_text(what[name])}"
        for name in _TEMPERATURE_KEYS
        if name in what and what[name] is not None
    ]
    for name in ("start", "end", "seal_intact", "damaged", "logger_attached"):
        if name in what and what[name] is not None:
            parts.append(f"{name} {_text(what[name])}")
    return "; ".join(parts)


def _qc_summary(entry: Entry) -> str:
    what = entry.what
    if entry.type == "qc.result.entered":
        values = what.get("values")
        shown = (
            ", ".join(f"{k} {_text(v)}" for k, v in values.items())
            if isinstance(values, dict)
            else _text(values)
        )
        unit = what.get("unit")
        return f"{_text(what.get('test'))}: {shown}{' ' + _text(unit) if unit else ''}"
    return ", ".join(
        f"{k} {_text(v)}" for k, v in sorted(what.items()) if k != "nonce" and v is not None
    )


def _report(check: _Check, since: Checkpoint | None) -> Report:
    manifest = check.bundle.manifest
    checkpoint = check.checkpoint
    flagged = check.flagged()
    entries = check.entries
    batch = _text(manifest.get("batch", ""))
    registered = _batch_entry(check, batch)
    lot = registered.what.get("lot") if registered is not None else manifest.get("lot", "")
    report = Report(
        lot=_text(lot),
        batch=batch,
        origin=checkpoint.origin if checkpoint else None,
        checkpoint_size=checkpoint.size if checkpoint else None,
        root_hash=checkpoint.root_hash.hex() if checkpoint else None,
        checkpoint_verified=check.checkpoint_verified,
        consistency_from=since.size
        if since is not None
        and not any(
            f.index is None and f.kind in ("consistency", "stale-checkpoint")
            for f in check.findings
        )
        else None,
        entries=len(check.bundle.entries),
        findings=check.findings,
        cosigners=check.cosigners,
        quorum=check.quorum,
    )
    # Vials are what signed vial.commissioned entries say belongs to the batch.
    vials: dict[str, str] = {}
    for entry in sorted(entries.values(), key=lambda e: e.index):
        if entry.type == "vial.commissioned" and entry.what.get("batch") == batch:
            vials.setdefault(entry.subject, _text(entry.what.get("serial", "")))
    by_subject: dict[str, list[Entry]] = defaultdict(list)
    for entry in sorted(entries.values(), key=lambda e: e.index):
        by_subject[entry.subject].append(entry)
    for subject, serial in vials.items():
        events = tuple(
            TimelineEvent(
                index=e.index,
                when=e.when,
                type=e.type,
                who=_who(check, e),
                where=_where(e),
                temperatures=_temperatures(e),
                verified=e.index not in flagged,
            )
            for e in by_subject[subject]
        )
        report.vials.append(VialTimeline(subject, serial, events))
    for e in by_subject.get(batch, []):
        if e.type.startswith(("qc.", "oos.")):
            report.qc.append(
                QcLine(
                    e.index,
                    e.when,
                    e.type,
                    _who(check, e),
                    _qc_summary(e),
                    e.index not in flagged,
                )
            )
        elif e.type == "batch.disposition":
            justification = e.what.get("justification")
            report.dispositions.append(
                DispositionLine(
                    index=e.index,
                    when=e.when,
                    decision=_text(e.what.get("decision", "")),
                    meaning=_text(e.what.get("meaning", "")),
                    justification=justification if isinstance(justification, str) else None,
                    signer=_signer(check, e),
                    key=e.key,
                    verified=e.index not in flagged,
                    bound=e.index in check.signers,
                )
            )
    for record in check.keys.records():
        registration = entries.get(record.registered)
        label = registration.what.get("label") if registration is not None else None
        report.keys.append(
            KeyLine(
                key=record.key,
                user=record.user,
                label=_text(label or ""),
                registered=record.registered,
                revoked=record.revoked,
            )
        )
    return report
