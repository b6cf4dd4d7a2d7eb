"""Verifying a bundle: every check, each failure a finding (docs/audit-bundle.md).

``verify`` reads the bundle (``reader``), then checks, trusting only the keys the caller
gives: the checkpoint's signature and cosignatures; each entry's form, inclusion,
position, log, and signature by a key bound to its actor at its index; each subject's
chain and the log chain; consistency with the auditor's own checkpoint; the batch's
vials against its signed registration; and every other byte against the bundle made
again from the evidence (``layout``). Then it builds the report (``report_sections``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from audit.bundle.layout import (
    BATCH_REGISTERED,
    CHECKPOINT,
    KEYS,
    LOG_KEY,
    MANIFEST,
    PROOFS,
    Consistency,
    Source,
    batch_registration,
    bundle_members,
    note_text,
    zip_bytes,
)
from audit.bundle.reader import DEFAULT_LIMITS, Bundle, ReadLimits, read_bundle
from audit.bundle.report import Finding, Report
from audit.bundle.report_sections import build_report, text_of
from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.cosignature import CosignerKey, verify_cosignatures, verify_cosigned
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
    CheckpointError,
    FormatError,
    ProofError,
    VerificationError,
)
from audit.merkle import InclusionVerifier, verify_consistency
from audit.note import Verifier, parse_note, parse_verifier_key
from audit.signers import KeyBindingError, KeyHistory, KeyRecord

__all__ = ["Check", "verify"]


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


Progress = Callable[[int, int], None]
PROGRESS_EVERY = 2_000
"""How many signatures between two progress reports."""


class Check:
    """One verification: the bundle, the findings so far, and what the entries showed."""

    def __init__(
        self,
        bundle: Bundle,
        verifier: Verifier,
        witnesses: Sequence[CosignerKey] = (),
        quorum: int = 0,
        log_cosigner: CosignerKey | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.bundle = bundle
        self.progress = progress
        self.verifier = verifier
        self.witnesses = tuple(witnesses)
        self.quorum = quorum
        self.log_cosigner = log_cosigner
        self.cosigners: list[str] = []
        self.findings: list[Finding] = []
        self.entries: dict[int, Entry] = {}
        self.parsed: dict[int, Entry] = {}
        """Every entry that parsed, by the index in its file name (reordered ones too)."""
        self.keys = KeyHistory()
        self.signers: dict[int, KeyRecord] = {}
        """The key record behind each entry whose signature and binding verified."""
        self.checkpoint: Checkpoint | None = None
        self.inclusion: InclusionVerifier | None = None
        """Proves entries in the checkpoint's tree (made at the first proof)."""
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
            self.checkpoint = Checkpoint.parse(note_text(note))
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
        """Every entry, in index order, in two passes: its form, place and inclusion, then
        its signature and key entries.

        The passes give the findings one pass per entry gave (the second reads only what
        the first found of the same entry), and run faster: Python's work on thousands of
        entries in a row, then the signature checks in a row, keep each in the processor's
        caches, where alternating them per entry cost a quarter more than the two apart.
        """
        inclusion = self.bundle.inclusion
        for index in sorted(set(inclusion) - set(self.bundle.entries)):
            self.find("missing", index, "the bundle proves this entry but does not hold it")
        for index in sorted(self.bundle.entries):
            self.check_entry_form(index, self.bundle.entries[index])
        total = len(self.parsed)
        for done, (index, entry) in enumerate(sorted(self.parsed.items()), start=1):
            self.check_entry_signature(index, entry)
            if self.progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
                self.progress(done, total)

    def check_entry_form(self, index: int, raw: bytes) -> None:
        """The entry's bytes, its place and its inclusion proof."""
        try:
            entry = parse_entry(raw)
        except AuditError as e:
            self.find("malformed", index, f"not a well-formed log entry: {e}")
            return
        self.parsed[index] = entry
        if entry.index != index:
            self.find("reordered", index, f"the entry stored as {index} says it is {entry.index}")
        else:
            self.entries[index] = entry
        self.check_inclusion(index, entry)
        if self.checkpoint is not None and entry.log != self.checkpoint.origin:
            self.find("wrong-log", index, f"entry of log {entry.log!r}")

    def check_entry_signature(self, index: int, entry: Entry) -> None:
        """The entry's signature by a key bound to it, then what a key entry does to keys.

        Called in index order, after ``check_entry_form`` of the same entry."""
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
            if self.inclusion is None:
                # One tree for every entry: nodes proven once are not hashed again.
                self.inclusion = InclusionVerifier(checkpoint.size, checkpoint.root_hash)
            self.inclusion.verify(entry.leaf_hash, entry.index, proof)
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


def _check_batch(check: Check) -> None:
    """Every vial of the batch is in the bundle, as the batch's signed registration says.

    The batch's registration entry names every vial's serial number; each vial must be
    in the bundle (its commissioning entry at least). The manifest's own lot and vials
    are checked with the rest of its bytes (``_check_bytes``).
    """
    batch = text_of(check.bundle.manifest.get("batch", ""))
    registered = batch_registration(check.entries.values(), batch)
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
        vial = f"{batch}/21/{text_of(serial)}"
        if vial not in seen:
            check.find(
                "missing",
                registered.index,
                f"the signed batch entry lists vial {text_of(serial)} but the bundle has no "
                "entry about it",
            )


_MEMBER_KINDS = {MANIFEST: "manifest", LOG_KEY: "log-key", KEYS: "keys", PROOFS: "proofs"}


def _check_bytes(check: Check, log_key: str) -> None:
    """Every byte of the bundle is the one its evidence and the auditor's key make.

    The entries, the checkpoint and the proofs are checked on their own; everything
    else in a bundle (the manifest, the key table, ``log.key``, the JSON layout, the zip's
    own headers) follows from them and from the log key the auditor gave, so the bundle
    is made again from those and compared byte for byte. A member that differs is a
    finding naming it: nothing in a bundle is read without being checked.
    """
    bundle = check.bundle
    batch = bundle.manifest.get("batch")
    expected = bundle_members(
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
        parsed=[check.parsed[index] for index in sorted(check.parsed)],
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
    if not differ and zip_bytes(expected) != bundle.raw:
        check.find("layout", None, "the zip's own bytes are not the layout a bundle has")


def verify(
    path: Source,
    *,
    log_key: Verifier | str,
    since_checkpoint: bytes | str | None = None,
    witnesses: Sequence[CosignerKey] = (),
    quorum: int = 0,
    log_cosigner: CosignerKey | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> Report:
    """Verify the bundle at ``path`` (a path or a binary file) with the log's key.

    ``since_checkpoint`` is a signed checkpoint note the auditor already holds: the
    bundle must then prove its checkpoint consistent with it. ``witnesses`` are the
    witness keys the auditor trusts and ``quorum`` how many distinct witnesses must have
    cosigned the checkpoint (a rollback or a split view then needs their collusion);
    ``log_cosigner`` the log's own ML-DSA-44 cosigner key, whose cosignature keeps the
    tree head provable if Ed25519 falls. Every signature line must be by one of the keys
    given. ``limits`` bounds the memory the reader spends on the bundle (``ReadLimits``).
    ``progress``, if given, is told (entries checked, entries) as the signatures are
    checked, the longest part: a terminal shows how far it got.
    Returns a ``Report``; raises ``BundleFormatError`` for a bundle that cannot be used
    at all (one beyond ``limits`` included, naming the limit) and ``FormatError`` for a
    malformed ``log_key``, a ``since_checkpoint`` that does not verify with it, or a
    quorum the witnesses given cannot meet.
    """
    verifier = _verifier(log_key)
    if quorum < 0 or quorum > len({k.name for k in witnesses}):
        raise FormatError(
            f"a quorum of {quorum} cannot be met by {len({k.name for k in witnesses})} "
            "distinct witnesses"
        )
    since = _since(since_checkpoint, verifier)
    bundle = read_bundle(path, limits)
    check = Check(bundle, verifier, witnesses, quorum, log_cosigner, progress)
    check.check_checkpoint()
    check.check_entries()
    check.check_chains()
    if since is not None:
        check.check_consistency(since)
    _check_batch(check)
    _check_bytes(check, verifier.text())
    check.findings.sort(key=lambda f: (-1 if f.index is None else f.index, f.kind))
    return build_report(check, since)
