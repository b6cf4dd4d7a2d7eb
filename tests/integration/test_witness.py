"""The witness (c2sp.org/tlog-witness) over real HTTP: it cosigns what extends what it
cosigned before, answers 409 with its size, refuses forks, keeps its state across a
restart, and serialises racing requests for one log."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from audit import merkle
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.cosignature import (
    ALG_COSIGNATURE_V1,
    Cosigner,
    CosignerKey,
    parse_signature_lines,
    verify_cosignatures,
    verify_cosigned,
)
from audit.errors import QuorumError
from audit.note import Signer
from tests.support import LiveServer, live_server, local_client
from traceability.witness.app import create_witness_app
from traceability.witness.keys import create_key, load_keys
from traceability.witness.service import Witness, format_request
from traceability.witness.state import StateDirectory

ORIGIN = "test.example/log"
NOW = 1_790_000_000


def leaves(n: int, tag: bytes = b"entry") -> list[bytes]:
    return [merkle.leaf_hash(tag + b" %d" % i) for i in range(n)]


@dataclass
class Log:
    signer: Signer
    hashes: list[bytes]

    def note(self, size: int) -> bytes:
        return sign_checkpoint(self.checkpoint(size), self.signer)

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(ORIGIN, size, merkle.root(self.hashes[:size]))

    def body(self, old: int, size: int) -> bytes:
        proof = merkle.consistency_proof(self.hashes[:size], old) if 0 < old < size else []
        return format_request(old, proof, self.note(size))


@dataclass
class Running:
    client: httpx.Client
    witness: Witness
    keys: list[CosignerKey]
    state: Path

    def add(self, body: bytes) -> httpx.Response:
        return self.client.post("/add-checkpoint", content=body)


@pytest.fixture(scope="module")
def witness_server() -> Iterator[LiveServer]:
    with live_server() as running:
        yield running


@pytest.fixture
def log() -> Log:
    return Log(Signer.generate(ORIGIN), leaves(40))


def start(server: LiveServer, key_dir: Path, state: Path, log: Log) -> Witness:
    witness = Witness(
        load_keys(key_dir),
        [(ORIGIN, log.signer.verifier())],
        StateDirectory(state),
        clock=lambda: NOW,
    )
    server.switch.target = create_witness_app(witness)
    return witness


@pytest.fixture
def running(witness_server: LiveServer, tmp_path: Path, log: Log) -> Iterator[Running]:
    create_key(tmp_path / "wkeys", "witness.example/w1")
    create_key(tmp_path / "wkeys", "witness.example/w1", ALG_COSIGNATURE_V1)
    witness = start(witness_server, tmp_path / "wkeys", tmp_path / "state", log)
    with local_client(witness_server.base_url) as client:
        yield Running(client, witness, witness.keys(), tmp_path / "state")
    witness_server.switch.wait_idle()
    witness_server.switch.target = None


def cosignatures_of(log: Log, size: int, answer: str, keys: list[CosignerKey]) -> int:
    text = log.checkpoint(size).format()
    return len(verify_cosignatures(text, parse_signature_lines(text, answer), keys))


def test_cosigns_a_consistent_history(running: Running, log: Log) -> None:
    first = running.add(log.body(0, 5))
    assert first.status_code == 200, first.text
    assert first.text.count("\n") == 2 and first.text.startswith("\u2014 witness.example/w1 ")
    assert cosignatures_of(log, 5, first.text, running.keys) == 2  # ML-DSA-44 and Ed25519
    for old, size in ((5, 8), (8, 8), (8, 33)):
        answer = running.add(log.body(old, size))
        assert answer.status_code == 200, answer.text
        assert cosignatures_of(log, size, answer.text, running.keys) == 2

    # The monitoring API: the latest cosigned checkpoint, which a verifier accepts.
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    latest = running.client.get(f"/{origin_hash}/checkpoint")
    assert latest.status_code == 200
    result = verify_cosigned(latest.content, log.signer.verifier(), running.keys, 1)
    assert result.checkpoint.size == 33 and result.witnesses == ("witness.example/w1",)
    assert all(c.timestamp == NOW for c in result.cosignatures)
    assert running.client.get(f"/{'0' * 64}/checkpoint").status_code == 404
    keys = running.client.get("/").text.splitlines()
    assert keys == [k.text() for k in running.keys]


def test_wrong_old_size_is_409_with_the_witness_size(running: Running, log: Log) -> None:
    assert running.add(log.body(0, 5)).status_code == 200
    for old in (0, 3, 6):
        answer = running.add(log.body(old, 9))
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "text/x.tlog.size"
        assert answer.text == "5\n"


def test_a_fork_is_refused(running: Running, log: Log) -> None:
    assert running.add(log.body(0, 8)).status_code == 200
    fork = Log(log.signer, log.hashes[:6] + leaves(30, b"fork"))
    # A larger tree that does not extend the cosigned one, with its own (valid) proof.
    answer = running.add(fork.body(8, 12))
    assert answer.status_code == 422
    # The same size with another root.
    assert running.add(fork.body(8, 8)).status_code == 422
    # The real history still goes on from 8.
    assert running.add(log.body(8, 12)).status_code == 200


def test_bad_proofs_and_roots_are_422(running: Running, log: Log) -> None:
    proof = merkle.consistency_proof(log.hashes[:9], 4)
    assert running.add(format_request(0, proof, log.note(9))).status_code == 422
    empty_with_root = Checkpoint(ORIGIN, 0, bytes(32))
    body = format_request(0, [], sign_checkpoint(empty_with_root, log.signer))
    assert running.add(body).status_code == 422
    assert running.add(log.body(0, 4)).status_code == 200
    bad = [bytes(32)] * len(merkle.consistency_proof(log.hashes[:9], 4))
    assert running.add(format_request(4, bad, log.note(9))).status_code == 422


def test_signatures_origins_and_form(running: Running, log: Log) -> None:
    stranger = Signer.generate(ORIGIN)
    unsigned_by_us = sign_checkpoint(log.checkpoint(3), stranger)
    assert running.add(format_request(0, [], unsigned_by_us)).status_code == 403
    tampered = log.note(3).replace(b"\n3\n", b"\n4\n", 1)
    assert running.add(format_request(0, [], tampered)).status_code == 403
    other = Signer.generate("other.example/log")
    foreign = sign_checkpoint(Checkpoint("other.example/log", 1, leaves(1)[0]), other)
    assert running.add(format_request(0, [], foreign)).status_code == 404
    assert running.add(format_request(4, [], log.note(3))).status_code == 400
    for body in (
        b"old 01\n\n" + log.note(3),
        b"new 0\n\n" + log.note(3),
        b"old 0\n" + log.note(3),
        b"old 0\nnot base64!\n\n" + log.note(3),
        b"old 0\n\nnot a note",
        b"old 1\n"
        + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64))
        + b"\n"
        + log.note(3),
    ):
        assert running.add(body).status_code == 400, body[:40]
    assert running.add(b"x" * (300 * 1024)).status_code == 413
    # Nothing of that was recorded.
    assert running.add(log.body(0, 3)).status_code == 200


def test_state_survives_a_restart(
    running: Running, log: Log, witness_server: LiveServer, tmp_path: Path
) -> None:
    assert running.add(log.body(0, 7)).status_code == 200
    start(witness_server, tmp_path / "wkeys", running.state, log)  # a new process, same files
    answer = running.add(log.body(0, 9))
    assert (answer.status_code, answer.text) == (409, "7\n")
    assert running.add(log.body(7, 9)).status_code == 200
    fork = Log(log.signer, leaves(40, b"fork"))
    assert running.add(fork.body(9, 10)).status_code == 422


def test_racing_submissions_for_one_log_cannot_roll_it_back(running: Running, log: Log) -> None:
    bodies = [log.body(0, size) for size in range(1, 9)]
    statuses: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def submit(body: bytes) -> None:
        barrier.wait()
        statuses.append(running.add(body).status_code)

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    held = running.add(log.body(0, 9))
    assert held.status_code == 409
    size = int(held.text)
    assert running.add(log.body(size, 20)).status_code == 200


def test_a_missing_witness_fails_the_quorum(running: Running, log: Log) -> None:
    answer = running.add(log.body(0, 5))
    note = log.note(5).decode() + answer.text
    absent = Cosigner.generate("witness.example/w2").key()
    assert verify_cosigned(note, log.signer.verifier(), [*running.keys, absent], 1)
    with pytest.raises(QuorumError, match="witness.example/w2"):
        verify_cosigned(note, log.signer.verifier(), [*running.keys, absent], 2)


def test_keygen_refuses_a_second_name_and_overwrites_nothing(tmp_path: Path) -> None:
    from traceability.errors import ConfigurationError

    create_key(tmp_path, "witness.example/a")
    with pytest.raises(ConfigurationError):
        create_key(tmp_path, "witness.example/a")  # the ML-DSA key exists
    with pytest.raises(ConfigurationError):
        create_key(tmp_path, "witness.example/b", ALG_COSIGNATURE_V1)
    assert [k.name for k in load_keys(tmp_path)] == ["witness.example/a"]
