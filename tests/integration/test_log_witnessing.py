"""The log gets its checkpoints cosigned: its own ML-DSA-44 cosignature on every
checkpoint, then its witnesses' over real HTTP, stored and published with the note
(GET /checkpoint), which `audit.cosignature` verifies with a quorum. On SQLite and
PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from audit.cosignature import CosignerKey, verify_cosigned
from audit.errors import QuorumError
from tests.log_support import ORIGIN, VIAL, LogWorld, make_log
from tests.support import Api, LiveServer, live_server
from traceability.custody_log.appender import latest_checkpoint
from traceability.custody_log.published import published_checkpoint
from traceability.custody_log.witnessing import WitnessEndpoint, Witnessing, endpoints
from traceability.storage.database import Database
from traceability.witness.app import create_witness_app
from traceability.witness.keys import create_key, load_keys
from traceability.witness.service import Witness
from traceability.witness.state import StateDirectory


@pytest.fixture(scope="module")
def witness_server() -> Iterator[LiveServer]:
    with live_server() as running:
        yield running


@pytest.fixture
def world(database: Database, tmp_path: Path) -> LogWorld:
    return LogWorld(database, make_log(database, tmp_path / "keys"), tmp_path / "keys")


def run_witness(server: LiveServer, world: LogWorld, root: Path, name: str) -> Witness:
    create_key(root / "keys", name)
    witness = Witness(
        load_keys(root / "keys"),
        [(world.log.origin, world.log.keys.log.verifier())],
        StateDirectory(root / "state"),
        clock=lambda: int(time.time()),
    )
    server.switch.target = create_witness_app(witness)
    return witness


@pytest.fixture
def witness(
    witness_server: LiveServer, world: LogWorld, tmp_path: Path
) -> Iterator[tuple[Witness, WitnessEndpoint]]:
    running = run_witness(witness_server, world, tmp_path / "w1", "witness.example/w1")
    yield running, WitnessEndpoint(witness_server.base_url, tuple(running.keys()))
    witness_server.switch.wait_idle()
    witness_server.switch.target = None


def grow(world: LogWorld, n: int) -> None:
    for i in range(n):
        world.service_event(VIAL.format(f"{i:04d}-{world.now.timestamp()}"))
    with world.db.write() as session:
        world.log.issue_checkpoint(session, now=world.tick())


def published(world: LogWorld) -> str:
    with world.db.read() as session:
        note = published_checkpoint(session)
    assert note is not None
    return note


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_every_checkpoint_carries_the_logs_ml_dsa_cosignature(world: LogWorld) -> None:
    grow(world, 3)
    note = published(world)
    own = world.log.keys.cosigner.key()
    assert own.algorithm == 0x06 and own.name == ORIGIN
    with pytest.raises(QuorumError):  # no witness yet
        verify_cosigned(note, world.log.keys.log.verifier(), [_stranger()], 1)
    result = verify_cosigned(
        note + _stranger_line(note),
        world.log.keys.log.verifier(),
        [_stranger()],
        1,
        log_cosigner=own,
    )
    assert result.log_cosignature is not None
    assert result.log_cosignature.timestamp == int(world.now.timestamp())


def test_witnesses_cosign_each_new_checkpoint(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint]
) -> None:
    server, endpoint = witness
    witnessing = Witnessing(world.db, world.log, [endpoint])
    grow(world, 5)
    assert witnessing.run(world.tick()) == 1
    log_key, own = world.log.keys.log.verifier(), world.log.keys.cosigner.key()
    first = verify_cosigned(published(world), log_key, endpoint.keys, 1, log_cosigner=own)
    assert first.witnesses == ("witness.example/w1",)

    grow(world, 7)  # the next submission carries a consistency proof from the first size
    assert witnessing.run(world.tick()) == 1
    second = verify_cosigned(published(world), log_key, endpoint.keys, 1, log_cosigner=own)
    assert second.checkpoint.size > first.checkpoint.size
    state = server.state.read(ORIGIN)
    assert state is not None and state.size == second.checkpoint.size

    assert witnessing.run(world.tick()) == 1  # nothing new: no request, no new row
    assert published(world).count("\u2014 witness.example/w1 ") == 1


def test_a_409_is_answered_from_the_witness_size(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint], witness_server: LiveServer
) -> None:
    _, endpoint = witness
    grow(world, 4)
    # The witness cosigned this checkpoint, but its answer never reached the log.
    with world.db.read() as session:
        row = latest_checkpoint(session)
        assert row is not None
        size, note = row.size, row.note
    body = f"old 0\n\n{note}".encode()
    assert httpx.post(witness_server.base_url + "/add-checkpoint", content=body).status_code == 200
    witnessing = Witnessing(world.db, world.log, [endpoint])
    assert witnessing.run(world.tick()) == 1  # 409 "size", then again from that size
    result = verify_cosigned(published(world), world.log.keys.log.verifier(), endpoint.keys, 1)
    assert result.checkpoint.size == size


def test_a_missing_witness_fails_the_quorum(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint], tmp_path: Path
) -> None:
    _, endpoint = witness
    create_key(tmp_path / "w2", "witness.example/w2")
    absent = WitnessEndpoint(closed_port_url(), tuple(c.key() for c in load_keys(tmp_path / "w2")))
    witnessing = Witnessing(world.db, world.log, [endpoint, absent], quorum=2, timeout=2)
    grow(world, 2)
    assert witnessing.run(world.tick()) == 1  # the absent one is logged, not raised
    keys = [*endpoint.keys, *absent.keys]
    note = published(world)
    assert verify_cosigned(note, world.log.keys.log.verifier(), keys, 1)
    with pytest.raises(QuorumError, match="witness.example/w2"):
        verify_cosigned(note, world.log.keys.log.verifier(), keys, 2)


def test_a_witness_with_the_wrong_key_configured_stores_nothing(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint]
) -> None:
    _, endpoint = witness
    wrong = WitnessEndpoint(endpoint.url, (_stranger(),))
    grow(world, 2)
    assert Witnessing(world.db, world.log, [wrong]).run(world.tick()) == 0
    assert "witness.example" not in published(world)


def test_cosignatures_are_append_only(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint]
) -> None:
    from sqlalchemy import text

    _, endpoint = witness
    grow(world, 2)
    Witnessing(world.db, world.log, [endpoint]).run(world.tick())
    for statement in (
        "UPDATE checkpoint_cosignatures SET line = 'x'",
        "DELETE FROM checkpoint_cosignatures",
    ):
        with pytest.raises(DBAPIError), world.db.write() as session:
            session.execute(text(statement))


def test_get_checkpoint_serves_the_cosigned_note(
    api: Api, witness_server: LiveServer, tmp_path: Path
) -> None:
    log = api.app.state.context.log
    world = LogWorld(api.db, log, api.settings.key_dir)
    runner = run_witness(witness_server, world, tmp_path / "w1", "witness.example/w1")
    try:
        grow(world, 3)
        entries = endpoints([(witness_server.base_url, key) for key in runner.keys()])
        assert Witnessing(api.db, log, entries).run(world.tick()) == 1
        served = api.client.get("/checkpoint")
        assert served.status_code == 200
        result = verify_cosigned(
            served.content,
            log.keys.log.verifier(),
            list(runner.keys()),
            1,
            log_cosigner=log.keys.cosigner.key(),
        )
        assert result.witnesses == ("witness.example/w1",)
    finally:
        witness_server.switch.wait_idle()
        witness_server.switch.target = None


_STRANGER = None


def _stranger() -> CosignerKey:
    from audit.cosignature import Cosigner

    global _STRANGER
    if _STRANGER is None:
        _STRANGER = Cosigner.generate("witness.example/stranger")
    return _STRANGER.key()


def _stranger_line(note: str) -> str:
    assert _STRANGER is not None
    text = note[: note.index("\n\n") + 1]
    return _STRANGER.signature_line(text, 1) + "\n"


def test_a_rollback_is_refused_by_the_witness_and_raises_the_self_check_alarm(
    world: LogWorld, witness: tuple[Witness, WitnessEndpoint]
) -> None:
    """The newest entries, their nodes, checkpoints and cosignatures deleted, and a new
    history written over them: the database agrees with itself, but the witness holds
    the larger tree and refuses, and the self-check raises that as an alarm."""
    from sqlalchemy import text

    from traceability.services.proof.self_check import SelfCheck
    from traceability.storage import append_only
    from traceability.storage.models import LOG_TABLES

    _, endpoint = witness
    witnessing = Witnessing(world.db, world.log, [endpoint])
    grow(world, 5)
    kept = published_size(world)
    grow(world, 6)
    assert witnessing.run(world.tick()) == 1
    lost = published_size(world)
    with world.db.write() as session:
        for table in (*LOG_TABLES, "checkpoint_cosignatures"):
            for drop in append_only.drop_statements(world.db.dialect, table):
                session.exec(text(drop))  # type: ignore[call-overload]
        for statement in (
            "DELETE FROM log_entries WHERE idx >= :k",
            "DELETE FROM log_nodes WHERE (idx + 1) * POWER(2, level) > :k",
            "DELETE FROM checkpoint_cosignatures WHERE size > :k",
            "DELETE FROM log_checkpoints WHERE size > :k",
        ):
            session.exec(text(statement), params={"k": kept})  # type: ignore[call-overload]
    world.log._frontier_cache = None  # the service restarted on the restored database
    grow(world, 3)  # another history from the kept size: smaller than the witness's
    assert published_size(world) < lost
    assert witnessing.run(world.tick()) == 0
    (alarm,) = witnessing.alarms()
    assert "witness.example/w1" in alarm and f"size {lost}" in alarm
    outcome = SelfCheck(world.db, world.log, witnessing.alarms).run(world.tick())
    assert not outcome.ok
    # (this bare log's service events have no rows of their own: reconcile names those too)
    assert [f.detail for f in outcome.findings if f.kind == "witness"] == [alarm]


def published_size(world: LogWorld) -> int:
    with world.db.read() as session:
        row = latest_checkpoint(session)
    assert row is not None
    return row.size
