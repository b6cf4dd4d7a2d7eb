"""Tests of audit.bundle on bundles built here from scratch, with the audit package alone.

A small log is written in memory (keys, signed entries, a Merkle tree, signed
checkpoints), a bundle is written from it, and then each kind of tampering is applied
to the zip one at a time: each must be caught with its own finding at the right index.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import bundle
from audit.canonical_json import canonicalize
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.cosignature import Cosigner
from audit.entry import key_id, pop_message, signed_message_for
from audit.errors import BundleFormatError, FormatError
from audit.merkle import consistency_proof, inclusion_proof, leaf_hash, root
from audit.note import Signer

ORIGIN = "bundle.example/log"
BATCH = "https://id.example/01/09521234543213/10/LOT1"
VIAL = BATCH + "/21/{}"
OTHER = "https://id.example/01/09521234543213/10/LOT2/21/0001"


def public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass
class Log:
    """A custody log written by the rules of docs/custody-log.md, in memory."""

    log_key: Signer = field(default_factory=lambda: Signer.generate(ORIGIN))
    service: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    entries: list[bytes] = field(default_factory=list)
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    people: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._register(self.service, None, "service key")

    def append(
        self,
        signer: Ed25519PrivateKey,
        subject: str,
        type: str,  # noqa: A002
        actor: str | None,
        what: dict[str, Any] | None = None,
        where: dict[str, Any] | None = None,
    ) -> int:
        index = len(self.entries)
        seq, prev = self.heads.get(subject, (-1, None))
        body: dict[str, Any] = {
            "v": 1,
            "log": ORIGIN,
            "index": index,
            "prev": leaf_hash(self.entries[-1]).hex() if self.entries else None,
            "subject": subject,
            "subject_seq": seq + 1,
            "subject_prev": prev.hex() if prev else None,
            "type": type,
            "when": f"2026-11-02T09:{index // 60:02d}:{index % 60:02d}Z",
            "what": what or {},
            "where": where or {},
            "why": {},
            "key": key_id(public(signer)),
            "actor": actor,
        }
        body["sig"] = base64.b64encode(signer.sign(signed_message_for(body))).decode()
        raw = canonicalize(body)
        self.entries.append(raw)
        self.heads[subject] = (seq + 1, leaf_hash(raw))
        return index

    def _register(self, key: Ed25519PrivateKey, user: str | None, label: str) -> int:
        kid = key_id(public(key))
        what = {
            "algorithm": "ed25519",
            "public_key": base64.b64encode(public(key)).decode(),
            "user": user,
            "label": label,
            "pop": base64.b64encode(key.sign(pop_message(kid, ORIGIN, user))).decode(),
        }
        return self.append(self.service, f"urn:trace:key:{kid}", "key.registered", None, what)

    def person(self, username: str) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        self._register(key, username, "test key")
        self.people[username] = key
        return key

    def revoke(self, username: str) -> int:
        kid = key_id(public(self.people[username]))
        return self.append(
            self.service, f"urn:trace:key:{kid}", "key.revoked", None, {"reason": "lost"}
        )

    def checkpoint(self, size: int | None = None, signer: Signer | None = None) -> bytes:
        size = len(self.entries) if size is None else size
        leaves = [leaf_hash(e) for e in self.entries[:size]]
        return sign_checkpoint(Checkpoint(ORIGIN, size, root(leaves)), signer or self.log_key)

    def write(
        self,
        path: Path,
        indices: list[int],
        *,
        size: int | None = None,
        since: int | None = None,
        checkpoint: bytes | None = None,
        vials: tuple[str, ...] = (VIAL.format("0001"), VIAL.format("0002")),
    ) -> Path:
        size = len(self.entries) if size is None else size
        leaves = [leaf_hash(e) for e in self.entries[:size]]
        consistency = None
        if since is not None:
            consistency = bundle.Consistency(
                since, root(leaves[:since]), tuple(consistency_proof(leaves, since))
            )
        bundle.write(
            path,
            batch=BATCH,
            checkpoint=checkpoint or self.checkpoint(size),
            log_key=self.log_key.verifier().text(),
            entries={i: self.entries[i] for i in indices},
            inclusion={i: inclusion_proof(leaves, i) for i in indices if i < size},
            consistency=consistency,
        )
        return path


@dataclass
class World:
    log: Log
    path: Path
    indices: list[int]
    stored: int  # vial 0001 stored by lena
    qc: int
    decision: int

    @property
    def key(self) -> str:
        return self.log.log_key.verifier().text()


def make_world(tmp_path: Path) -> World:
    log = Log()
    lena = log.person("lena")
    quinn = log.person("quinn")
    log.append(lena, BATCH, "batch.registered", "lena", {"lot": "LOT1"})
    for serial in ("0001", "0002"):
        log.append(
            log.service,
            VIAL.format(serial),
            "vial.commissioned",
            None,
            {"batch": BATCH, "serial": serial},
        )
    log.append(log.service, OTHER, "vial.commissioned", None, {"batch": "elsewhere"})
    stored = log.append(
        lena,
        VIAL.format("0001"),
        "custody.stored",
        "lena",
        {"site": "LAB1", "unit": "LN2-A", "rack": "R1", "box": "7", "position": "A1"},
    )
    log.append(
        log.service,
        VIAL.format("0001"),
        "coldchain.excursion",
        None,
        {"peak_celsius": "-120.5", "limit": "<= -150 °C"},
        {"bizLocation": "https://id.example/unit/LAB1/LN2-A"},
    )
    log.append(lena, VIAL.format("0002"), "custody.stored", "lena", {"site": "LAB1"})
    qc = log.append(
        lena,
        BATCH,
        "qc.result.entered",
        "lena",
        {"test": "viability", "values": {"percent": "91.5"}, "unit": "%"},
    )
    decision = log.append(
        quinn, BATCH, "batch.disposition", "quinn", {"decision": "released", "meaning": "OK"}
    )
    log.append(log.service, OTHER, "custody.stored", None, {})
    indices = [i for i, raw in enumerate(log.entries) if OTHER.encode() not in raw]
    path = log.write(tmp_path / "bundle.zip", indices)
    return World(log, path, indices, stored, qc, decision)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def rewrite(path: Path, changes: dict[str, bytes | None], out: Path | None = None) -> Path:
    """A copy of the bundle with members replaced, added, or (None) removed."""
    out = out or path.with_name("tampered.zip")
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info) for info in source.infolist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    bundle.zip_members(out, members)
    return out


def laid_out(value: object) -> bytes:
    """JSON in the layout a bundle writes it: a changed value, not a changed layout."""
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(name)


def proofs(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(member(path, bundle.PROOFS))
    return value


def kinds(report: bundle.Report) -> set[tuple[str, int | None]]:
    return report.kinds()


# --- a clean bundle -----------------------------------------------------------------------


def test_a_clean_bundle_verifies_and_reads_as_a_report(world: World) -> None:
    report = bundle.verify(world.path, log_key=world.key)
    assert report.ok, [f.line() for f in report.findings]
    assert report.checkpoint_verified
    assert report.checkpoint_size == len(world.log.entries)
    assert report.entries == len(world.indices)
    assert [v.serial for v in report.vials] == ["0001", "0002"]
    stored = next(e for e in report.vials[0].events if e.index == world.stored)
    assert (stored.who, stored.where) == ("lena", "LAB1, LN2-A, rack R1, box 7, A1")
    excursion = report.vials[0].events[-1]
    assert "peak_celsius -120.5" in excursion.temperatures
    assert [q.summary for q in report.qc] == ["viability: percent 91.5 %"]
    (decision,) = report.dispositions
    assert (decision.decision, decision.signer, decision.verified) == ("released", "quinn", True)
    assert {k.user for k in report.keys} == {None, "lena", "quinn"}
    text = report.text()
    assert "signature verified" in text and "none: everything verifies" in text


def test_the_layout_is_the_documented_one(world: World) -> None:
    with zipfile.ZipFile(world.path) as z:
        names = set(z.namelist())
    assert {"manifest.json", "checkpoint.txt", "log.key", "proofs.json", "keys.json"} <= names
    assert bundle.entry_name(world.stored) in names
    assert member(world.path, bundle.entry_name(world.stored)) == world.log.entries[world.stored]
    keys = json.loads(member(world.path, bundle.KEYS))
    assert sorted(k["user"] or "" for k in keys.values()) == ["", "lena", "quinn"]


def test_writing_the_same_evidence_twice_gives_the_same_bytes(world: World, tmp_path: Path) -> None:
    again = world.log.write(tmp_path / "again.zip", world.indices)
    assert again.read_bytes() == world.path.read_bytes()


def test_it_reads_from_a_file_object_too(world: World) -> None:
    assert bundle.verify(io.BytesIO(world.path.read_bytes()), log_key=world.key).ok


# --- tampering, one kind at a time ---------------------------------------------------------


def test_a_modified_entry_fails_its_signature_and_its_proof(world: World) -> None:
    name = bundle.entry_name(world.stored)
    body = json.loads(member(world.path, name))
    body["what"]["box"] = "8"
    report = bundle.verify(rewrite(world.path, {name: canonicalize(body)}), log_key=world.key)
    assert ("bad-signature", world.stored) in kinds(report)
    assert ("inclusion", world.stored) in kinds(report)
    # The next entry about the vial no longer follows it.
    assert ("subject-chain", world.stored + 1) in kinds(report)
    assert not next(e for e in report.vials[0].events if e.index == world.stored).verified


def test_a_removed_entry_leaves_a_gap(world: World) -> None:
    name = bundle.entry_name(world.stored)
    report = bundle.verify(rewrite(world.path, {name: None}), log_key=world.key)
    assert ("missing", world.stored) in kinds(report)  # its proof is still there
    assert ("missing", world.stored + 1) in kinds(report)  # the vial's chain has a gap


def test_a_removed_entry_and_its_proof_still_leave_a_gap_in_the_chain(world: World) -> None:
    name = bundle.entry_name(world.stored)
    data = proofs(world.path)
    del data["inclusion"][str(world.stored)]
    report = bundle.verify(
        rewrite(world.path, {name: None, bundle.PROOFS: laid_out(data)}),
        log_key=world.key,
    )
    # the manifest still counts the entry that was taken out
    assert kinds(report) == {("missing", world.stored + 1), ("manifest", None)}


def test_reordered_entries_are_caught_by_their_own_index(world: World) -> None:
    a, b = world.qc, world.decision
    report = bundle.verify(
        rewrite(
            world.path,
            {
                bundle.entry_name(a): world.log.entries[b],
                bundle.entry_name(b): world.log.entries[a],
            },
        ),
        log_key=world.key,
    )
    assert {("reordered", a), ("reordered", b)} <= kinds(report)


def test_an_inserted_entry_has_no_proof_and_no_registered_key(world: World) -> None:
    mallory = Ed25519PrivateKey.generate()
    index = world.log.append(
        mallory, VIAL.format("0002"), "custody.administered", "mallory", {"patient": "P1"}
    )
    report = bundle.verify(
        rewrite(world.path, {bundle.entry_name(index): world.log.entries[index]}),
        log_key=world.key,
    )
    assert ("inserted", index) in kinds(report)
    assert ("unknown-key", index) in kinds(report)


def test_an_entry_inserted_into_a_chain_with_a_taken_number_is_caught(world: World) -> None:
    name = bundle.entry_name(world.stored)
    body = json.loads(member(world.path, name))
    body["index"] = len(world.log.entries) + 5
    body["what"]["box"] = "9"
    fake = canonicalize(body)
    report = bundle.verify(
        rewrite(world.path, {bundle.entry_name(body["index"]): fake}), log_key=world.key
    )
    assert ("inserted", body["index"]) in kinds(report)


def test_swapped_proofs_fail_both_entries(world: World) -> None:
    data = proofs(world.path)
    inclusion = data["inclusion"]
    a, b = str(world.qc), str(world.stored)
    inclusion[a], inclusion[b] = inclusion[b], inclusion[a]
    report = bundle.verify(rewrite(world.path, {bundle.PROOFS: laid_out(data)}), log_key=world.key)
    assert kinds(report) == {("inclusion", world.qc), ("inclusion", world.stored)}


def test_a_checkpoint_forged_with_another_key_of_the_same_name(world: World) -> None:
    forged = world.log.checkpoint(signer=Signer.generate(ORIGIN))
    report = bundle.verify(rewrite(world.path, {bundle.CHECKPOINT: forged}), log_key=world.key)
    assert ("checkpoint", None) in kinds(report)
    assert not report.checkpoint_verified


def test_a_checkpoint_whose_root_was_changed(world: World) -> None:
    note = member(world.path, bundle.CHECKPOINT).decode()
    lines = note.split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    report = bundle.verify(
        rewrite(world.path, {bundle.CHECKPOINT: "\n".join(lines).encode()}), log_key=world.key
    )
    assert ("checkpoint", None) in kinds(report)
    assert ("inclusion", world.stored) in kinds(report)


def test_a_stale_checkpoint_does_not_cover_the_newest_entries(world: World, tmp_path: Path) -> None:
    size = world.decision  # the decision is not in a tree of this size
    stale = world.log.write(
        tmp_path / "stale.zip",
        world.indices,
        checkpoint=world.log.checkpoint(size),
        size=len(world.log.entries),
    )
    report = bundle.verify(stale, log_key=world.key)
    assert ("stale-checkpoint", world.decision) in kinds(report)


def test_a_bundle_older_than_the_auditors_checkpoint_is_stale(world: World) -> None:
    world.log.append(world.log.service, OTHER, "custody.destroyed", None, {})
    newer = world.log.checkpoint()
    report = bundle.verify(world.path, log_key=world.key, since_checkpoint=newer)
    assert ("stale-checkpoint", None) in kinds(report)


def test_the_wrong_log_key_verifies_no_checkpoint(world: World) -> None:
    other = Signer.generate("someone.else/log").verifier().text()
    report = bundle.verify(world.path, log_key=other)
    # and the bundle's log.key is not the key the auditor gave
    assert kinds(report) == {("checkpoint", None), ("log-key", None)}


def test_a_truncated_entry_file_is_malformed(world: World) -> None:
    name = bundle.entry_name(world.qc)
    raw = world.log.entries[world.qc]
    report = bundle.verify(rewrite(world.path, {name: raw[: len(raw) // 2]}), log_key=world.key)
    assert ("malformed", world.qc) in kinds(report)
    assert ("missing", world.decision) in kinds(report)  # the batch's chain lost a link


def test_a_key_revoked_before_the_entry_it_signed(tmp_path: Path) -> None:
    log = Log()
    lena = log.person("lena")
    log.append(lena, BATCH, "batch.registered", "lena", {"lot": "LOT1"})
    revoked = log.revoke("lena")
    late = log.append(lena, BATCH, "qc.result.entered", "lena", {"test": "sterility"})
    path = log.write(tmp_path / "b.zip", list(range(len(log.entries))), vials=())
    report = bundle.verify(path, log_key=log.log_key.verifier().text())
    assert kinds(report) == {("revoked-key", late)}
    assert next(k for k in report.keys if k.user == "lena").revoked == revoked


def test_a_signer_whose_registration_is_left_out_is_unknown(world: World) -> None:
    lena_registration = 1
    name = bundle.entry_name(lena_registration)
    data = proofs(world.path)
    del data["inclusion"][str(lena_registration)]
    report = bundle.verify(
        rewrite(world.path, {name: None, bundle.PROOFS: laid_out(data)}),
        log_key=world.key,
    )
    assert ("unknown-key", world.stored) in kinds(report)
    assert ("unknown-key", world.qc) in kinds(report)


# --- consistency with a checkpoint the auditor holds ----------------------------------------


def test_consistency_from_the_auditors_checkpoint(world: World, tmp_path: Path) -> None:
    held = world.log.checkpoint(5)
    path = world.log.write(tmp_path / "since.zip", world.indices, since=5)
    report = bundle.verify(path, log_key=world.key, since_checkpoint=held)
    assert report.ok and report.consistency_from == 5
    assert "Consistent with your checkpoint of size 5" in report.text()


def test_a_bundle_without_the_consistency_proof_asked_for(world: World) -> None:
    report = bundle.verify(world.path, log_key=world.key, since_checkpoint=world.log.checkpoint(5))
    assert kinds(report) == {("consistency", None)}


def test_a_consistency_proof_that_does_not_lead_to_the_checkpoint(
    world: World, tmp_path: Path
) -> None:
    path = world.log.write(tmp_path / "since.zip", world.indices, since=5)
    data = proofs(path)
    data["consistency"]["proof"][0] = "00" * 32
    report = bundle.verify(
        rewrite(path, {bundle.PROOFS: laid_out(data)}),
        log_key=world.key,
        since_checkpoint=world.log.checkpoint(5),
    )
    assert kinds(report) == {("consistency", None)}


# --- unusable input ---------------------------------------------------------------------------


def test_a_truncated_zip_is_unusable(world: World, tmp_path: Path) -> None:
    data = world.path.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleFormatError):
        bundle.verify(cut, log_key=world.key)


def test_not_a_zip_is_unusable(tmp_path: Path, world: World) -> None:
    path = tmp_path / "x.zip"
    path.write_text("hello")
    with pytest.raises(BundleFormatError, match="zip"):
        bundle.verify(path, log_key=world.key)


@pytest.mark.parametrize("name", ["manifest.json", "checkpoint.txt", "proofs.json", "keys.json"])
def test_a_missing_file_is_unusable(world: World, name: str) -> None:
    with pytest.raises(BundleFormatError, match=name):
        bundle.verify(rewrite(world.path, {name: None}), log_key=world.key)


def test_malformed_proofs_json_is_unusable(world: World) -> None:
    with pytest.raises(BundleFormatError):
        bundle.verify(rewrite(world.path, {bundle.PROOFS: b"{"}), log_key=world.key)


def test_a_malformed_log_key_is_a_format_error(world: World) -> None:
    with pytest.raises(FormatError):
        bundle.verify(world.path, log_key="not a key")


def test_an_auditors_checkpoint_not_signed_by_the_log_key_is_a_format_error(
    world: World,
) -> None:
    forged = world.log.checkpoint(5, signer=Signer.generate(ORIGIN))
    with pytest.raises(FormatError, match="your checkpoint"):
        bundle.verify(world.path, log_key=world.key, since_checkpoint=forged)


def test_a_writer_refuses_an_entry_without_a_proof(world: World, tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        bundle.write(
            tmp_path / "w.zip",
            batch=BATCH,
            checkpoint=world.log.checkpoint(),
            log_key=world.key,
            entries={0: world.log.entries[0]},
            inclusion={},
        )


def test_your_own_checkpoint_of_the_same_tree_needs_no_proof(world: World) -> None:
    same = world.log.checkpoint()  # the bundle's own tree: same size, same root
    report = bundle.verify(world.path, log_key=world.key, since_checkpoint=same)
    assert report.ok, [f.line() for f in report.findings]
    # The report says what no bundle can rule out on its own: newer entries.
    assert "cannot show" in report.text()


def test_a_checkpoint_that_does_not_verify_puts_a_warning_first(world: World) -> None:
    other = Signer.generate(ORIGIN)  # a key of the same name that did not sign
    report = bundle.verify(world.path, log_key=other.verifier().text())
    assert report.text().splitlines()[1].startswith("WARNING: the checkpoint does not verify")


# --- the one key rule, and every byte checked ---------------------------------------------------


def test_an_entry_claiming_one_person_but_signed_with_anothers_key(tmp_path: Path) -> None:
    log = Log()
    lena = log.person("lena")
    log.person("quinn")
    log.append(lena, BATCH, "batch.registered", "lena", {"lot": "LOT1"})
    forged = log.append(
        lena, BATCH, "batch.disposition", "quinn", {"decision": "released", "meaning": "OK"}
    )
    path = log.write(tmp_path / "b.zip", list(range(len(log.entries))), vials=())
    report = bundle.verify(path, log_key=log.log_key.verifier().text())
    assert kinds(report) == {("wrong-actor", forged)}
    text = report.text()
    assert "signed by quinn" not in text
    assert "NOT proven signed" in text


def test_a_key_entry_not_signed_by_the_service_key(tmp_path: Path) -> None:
    log = Log()
    lena = log.person("lena")
    mallory = Ed25519PrivateKey.generate()
    kid = key_id(public(mallory))
    what = {
        "algorithm": "ed25519",
        "public_key": base64.b64encode(public(mallory)).decode(),
        "user": "quinn",
        "label": "self-made",
        "pop": base64.b64encode(mallory.sign(pop_message(kid, ORIGIN, "quinn"))).decode(),
    }
    # lena's own key registers a key for quinn: only the service may register keys
    made = log.append(lena, f"urn:trace:key:{kid}", "key.registered", None, what)
    log.append(lena, BATCH, "batch.registered", "lena", {"lot": "LOT1"})
    used = log.append(
        mallory, BATCH, "batch.disposition", "quinn", {"decision": "released", "meaning": "OK"}
    )
    path = log.write(tmp_path / "b.zip", list(range(len(log.entries))), vials=())
    report = bundle.verify(path, log_key=log.log_key.verifier().text())
    assert ("key-entry", made) in kinds(report)
    assert ("unknown-key", used) in kinds(report)
    assert "signed by quinn" not in report.text()


def test_a_clean_report_names_the_signer_and_key_it_proved(world: World) -> None:
    report = bundle.verify(world.path, log_key=world.key)
    (decision,) = report.dispositions
    assert decision.bound
    assert f"signed by quinn with key {decision.key}" in report.text()


@pytest.mark.parametrize("member_name", [bundle.LOG_KEY, bundle.KEYS, bundle.MANIFEST])
def test_a_flipped_byte_in_a_member_nothing_else_checks_is_found(
    world: World, member_name: str
) -> None:
    data = bytearray(member(world.path, member_name))
    for position in (0, len(data) // 2, len(data) - 2):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        out = world.path.with_name(f"flip-{position}.zip")
        try:
            report = bundle.verify(
                rewrite(world.path, {member_name: bytes(flipped)}, out), log_key=world.key
            )
        except BundleFormatError:
            continue  # refused outright: also a failure
        assert not report.ok, f"{member_name} byte {position} flipped went unnoticed"


def test_a_flip_anywhere_in_the_bundle_fails(world: World) -> None:
    data = world.path.read_bytes()
    step = max(1, len(data) // 300)
    unnoticed = []
    for position in range(0, len(data), step):
        flipped = bytearray(data)
        flipped[position] ^= 0x20
        try:
            report = bundle.verify(io.BytesIO(bytes(flipped)), log_key=world.key)
        except BundleFormatError:
            continue
        if report.ok:
            unnoticed.append(position)
    assert unnoticed == []


# --- cosigned checkpoints: witnesses and the log's own ML-DSA-44 cosigner --------------------


def cosigned(world: World, *cosigners: Cosigner) -> bytes:
    """The world's checkpoint with a cosignature line by each cosigner appended."""
    note = world.log.checkpoint().decode()
    text = note[: note.rfind("\n\n") + 1]
    lines = "".join(c.signature_line(text, 1_800_000_000) + "\n" for c in cosigners)
    return (note + lines).encode()


def test_a_witness_quorum_is_checked(world: World) -> None:
    witness = Cosigner.generate("witness.example/w1")
    other = Cosigner.generate("witness.example/w2")
    path = rewrite(world.path, {bundle.CHECKPOINT: cosigned(world, witness)})
    met = bundle.verify(path, log_key=world.key, witnesses=[witness.key()], quorum=1)
    assert met.ok, met.findings
    assert met.cosigners == [witness.key().label()] and "quorum of 1" in met.text()
    # the quorum asks for a witness that did not cosign
    missed = bundle.verify(
        path, log_key=world.key, witnesses=[witness.key(), other.key()], quorum=2
    )
    assert ("quorum", None) in kinds(missed)
    # a witness line whose key was not given cannot be checked
    unchecked = bundle.verify(path, log_key=world.key)
    assert kinds(unchecked) == {("unknown-cosigner", None)}
    with pytest.raises(FormatError):
        bundle.verify(path, log_key=world.key, witnesses=[witness.key()], quorum=2)


def test_a_flipped_cosignature_byte_fails(world: World) -> None:
    witness = Cosigner.generate("witness.example/w1")
    note = bytearray(cosigned(world, witness))
    note[-10] ^= 0x01  # inside the witness's base64 signature
    path = rewrite(world.path, {bundle.CHECKPOINT: bytes(note)})
    try:
        report = bundle.verify(path, log_key=world.key, witnesses=[witness.key()], quorum=1)
    except BundleFormatError:
        return
    assert not report.ok


def test_the_logs_own_ml_dsa_cosignature_is_required_when_its_key_is_given(world: World) -> None:
    own = Cosigner.generate(ORIGIN)  # ML-DSA-44 by default
    path = rewrite(world.path, {bundle.CHECKPOINT: cosigned(world, own)})
    assert bundle.verify(path, log_key=world.key, log_cosigner=own.key()).ok
    bare = bundle.verify(world.path, log_key=world.key, log_cosigner=own.key())
    assert ("cosignature", None) in kinds(bare)
