"""The custody log's writing side on both engines: entries, keys, tree, checkpoints."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from audit import merkle
from audit.checkpoint import verify_checkpoint
from audit.entry import parse_entry, parse_key_registration, verify_signature
from tests.log_support import ORIGIN, VIAL, LogWorld, make_log
from tests.support import TEST_ACTOR
from traceability.custody_log import keys as key_service
from traceability.custody_log.appender import latest_checkpoint
from traceability.custody_log.tree import StoredTree
from traceability.custody_log.verify_log import verify_log
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError
from traceability.storage.database import Database
from traceability.storage.models import LOG_TABLES, CheckpointRow, LogEntryRow


@pytest.fixture
def world(database: Database, tmp_path: Path) -> LogWorld:
    return LogWorld(
        db=database, log=make_log(database, tmp_path / "keys"), key_dir=tmp_path / "keys"
    )


def rows(db: Database) -> list[LogEntryRow]:
    with db.read() as session:
        return list(session.exec(select(LogEntryRow).order_by(LogEntryRow.idx)).all())


def test_the_first_entry_registers_the_service_key_signed_by_itself(world: LogWorld) -> None:
    world.service_event(VIAL.format(1))
    first = parse_entry(bytes(rows(world.db)[0].entry))
    assert first.index == 0 and first.prev is None
    registration = parse_key_registration(first)
    assert registration.key == world.log.keys.service.key_id == first.key
    verify_signature(first, registration.public_key)


def test_a_signed_statement_is_stored_as_exact_canonical_bytes_linked_both_ways(
    world: LogWorld,
) -> None:
    lena = world.person("lena")
    first = world.append("lena", VIAL.format(1), what={"temperature": "-151.2"})
    second = world.append("lena", VIAL.format(1))
    stored = {r.idx: r for r in rows(world.db)}
    assert bytes(stored[first.index].entry) == first.entry
    entry = parse_entry(first.entry)
    assert entry.leaf_hash == first.leaf_hash == merkle.leaf_hash(first.entry)
    assert entry.actor == "lena" and entry.key == lena.key_id
    assert entry.body["what"] == {"temperature": "-151.2"}
    verify_signature(entry, lena.public_key)
    nxt = parse_entry(second.entry)
    assert nxt.prev == first.leaf_hash and nxt.index == first.index + 1
    assert nxt.subject_seq == 1 and nxt.subject_prev == first.leaf_hash
    assert entry.subject_seq == 0 and entry.subject_prev is None


def test_a_wrong_signature_is_refused_and_nothing_is_stored(world: LogWorld) -> None:
    world.person("lena")
    world.person("leo")
    before = len(rows(world.db))
    statement = world.statement("lena", VIAL.format(1))
    forged = world.people["leo"].sign(statement.signed_message())
    with pytest.raises(InvalidInputError) as e, world.db.write() as session:
        world.log.append_signed(session, statement, forged, now=world.now)
    assert e.value.field == "signature"
    assert len(rows(world.db)) == before


def test_an_unregistered_key_is_refused(world: LogWorld) -> None:
    from traceability.keys import ActorKeyPair

    world.person("lena")
    stranger = ActorKeyPair.generate("stranger")
    world.people["lena"] = stranger  # sign as lena with a key the log does not know
    statement = world.statement("lena", VIAL.format(1))
    with pytest.raises(PermissionDeniedError, match="not registered"), world.db.write() as session:
        world.log.append_signed(
            session, statement, stranger.sign(statement.signed_message()), now=world.now
        )


def test_the_writer_refuses_what_the_key_rule_refuses(world: LogWorld) -> None:
    """The writer applies audit.signers' rule: a key signs only for its own user, and a
    person's key never writes key entries (the service key does)."""
    from dataclasses import replace

    world.person("lena")
    world.person("leo")
    lena = world.people["lena"]
    before = len(rows(world.db))
    as_leo = replace(world.statement("lena", VIAL.format(1)), actor="leo")
    with pytest.raises(PermissionDeniedError, match="belongs to lena"), world.db.write() as s:
        world.log.append_signed(s, as_leo, lena.sign(as_leo.signed_message()), now=world.now)
    key_entry = world.statement("lena", f"urn:trace:key:{lena.key_id}", type="key.revoked")
    with pytest.raises(PermissionDeniedError, match="service key"), world.db.write() as s:
        world.log.append_signed(s, key_entry, lena.sign(key_entry.signed_message()), now=world.now)
    assert len(rows(world.db)) == before


def test_a_revoked_key_is_refused_from_its_revocation_on(world: LogWorld) -> None:
    lena = world.person("lena")
    world.append("lena", VIAL.format(1))
    with world.db.write() as session:
        revocation = key_service.revoke_key(
            session,
            world.log,
            key_id=lena.key_id,
            actor=TEST_ACTOR,
            reason="tablet lost",
            now=world.tick(),
        )
    with pytest.raises(PermissionDeniedError, match="revoked"):
        world.append("lena", VIAL.format(1))
    assert revocation.revoked_index == len(rows(world.db)) - 1
    report = verify_log(world.db, world.log.keys.log.verifier())
    assert report.ok, report.findings


def test_a_statement_against_a_stale_subject_head_conflicts(world: LogWorld) -> None:
    world.person("lena")
    stale = world.statement("lena", VIAL.format(1))
    world.append("lena", VIAL.format(1))
    with pytest.raises(ConflictError, match="moved on"), world.db.write() as session:
        world.log.append_signed(
            session, stale, world.people["lena"].sign(stale.signed_message()), now=world.now
        )


def test_replaying_a_signed_statement_is_refused(world: LogWorld) -> None:
    world.person("lena")
    statement = world.statement("lena", VIAL.format(1))
    signature = world.people["lena"].sign(statement.signed_message())
    with world.db.write() as session:
        world.log.append_signed(session, statement, signature, now=world.now)
    with pytest.raises(ConflictError), world.db.write() as session:
        world.log.append_signed(session, statement, signature, now=world.now)


def test_a_statement_for_another_log_or_with_floats_is_refused(world: LogWorld) -> None:
    from dataclasses import replace

    world.person("lena")
    statement = replace(world.statement("lena", VIAL.format(1)), log="other.example/log")
    with pytest.raises(InvalidInputError) as e, world.db.write() as session:
        world.log.append_signed(session, statement, b"\0" * 64, now=world.now)
    assert e.value.field == "log"
    floaty = replace(world.statement("lena", VIAL.format(1)), what={"t": -151.2})
    with pytest.raises(InvalidInputError) as e, world.db.write() as session:
        world.log.append_signed(session, floaty, b"\0" * 64, now=world.now)
    assert e.value.field == "what.t"


def test_stored_tree_matches_rfc_9162_for_every_size(world: LogWorld) -> None:
    for n in range(40):
        world.service_event(VIAL.format(n % 7))
    leaves = [bytes(r.leaf_hash) for r in rows(world.db)]
    with world.db.read() as session:
        tree = StoredTree(session)
        for size in range(1, len(leaves) + 1):
            assert tree.root(size) == merkle.root(leaves[:size])
        size = len(leaves)
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert proof == merkle.inclusion_proof(leaves, index)
            merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves))
        for size1 in range(1, size + 1):
            proof = tree.consistency_proof(size1, size)
            assert proof == merkle.consistency_proof(leaves, size1)


def test_checkpoints_every_n_entries_are_signed_and_consistent(world: LogWorld) -> None:
    for n in range(25):
        world.service_event(VIAL.format(n))  # + the genesis entry: 26 in all
    with world.db.read() as session:
        checkpoints = session.exec(select(CheckpointRow).order_by(CheckpointRow.size)).all()
    assert [c.size for c in checkpoints] == [10, 20]
    leaves = [bytes(r.leaf_hash) for r in rows(world.db)]
    verifier = world.log.keys.log.verifier()
    for row in checkpoints:
        checkpoint = verify_checkpoint(row.note.encode(), verifier)
        assert checkpoint.origin == ORIGIN
        assert checkpoint.root_hash == merkle.root(leaves[: row.size])
    with world.db.write() as session:
        on_demand = world.log.issue_checkpoint(session, now=world.tick())
    assert on_demand.size == 26
    with world.db.write() as session:
        again = world.log.issue_checkpoint(session, now=world.tick())
    assert again.size == 26
    with world.db.read() as session:
        assert latest_checkpoint(session) is not None
        count = len(session.exec(select(CheckpointRow)).all())
    assert count == 3


def test_the_log_refuses_to_sign_a_head_inconsistent_with_its_last_checkpoint(
    world: LogWorld,
) -> None:
    from traceability.custody_log.tree import TreeIntegrityError
    from traceability.storage import append_only

    for n in range(10):
        world.service_event(VIAL.format(n))
    world.service_event(VIAL.format(99))
    dialect = world.db.dialect
    with world.db.write() as session:
        for statement in append_only.drop_statements(dialect, "log_nodes"):
            session.exec(text(statement))
        session.exec(
            text("UPDATE log_nodes SET hash = :h WHERE level = 3"), params={"h": b"\x01" * 32}
        )
    fresh = make_log(world.db, world.key_dir)
    with pytest.raises(TreeIntegrityError, match="refusing to sign"), world.db.write() as session:
        fresh.issue_checkpoint(session, now=world.tick())


@pytest.mark.parametrize("table", LOG_TABLES)
def test_the_database_refuses_update_and_delete_on_log_tables(world: LogWorld, table: str) -> None:
    lena = world.person("lena")
    world.append("lena", VIAL.format(1))
    with world.db.write() as session:
        key_service.revoke_key(
            session,
            world.log,
            key_id=lena.key_id,
            actor=TEST_ACTOR,
            reason="test",
            now=world.tick(),
        )
        world.log.issue_checkpoint(session, now=world.tick())
    for statement in (
        f"UPDATE {table} SET {'size' if table == 'log_checkpoints' else 'key_id' if table in ('actor_keys', 'key_revocations') else 'idx'} = {'size' if table == 'log_checkpoints' else 'key_id' if table in ('actor_keys', 'key_revocations') else 'idx'}",  # noqa: E501
        f"DELETE FROM {table}",
    ):
        with pytest.raises(DBAPIError, match="append-only"), world.db.write() as session:
            session.exec(text(statement))


def test_key_registration_needs_a_proof_of_possession(world: LogWorld) -> None:
    from tests.support import add_user
    from traceability.keys import ActorKeyPair
    from traceability.services.users import get_by_username

    add_user(world.db, "leo", "lab")
    pair = ActorKeyPair.generate("leo")
    with pytest.raises(InvalidInputError) as e, world.db.write() as session:
        key_service.register_key(
            session,
            world.log,
            user=get_by_username(session, "leo"),
            actor=TEST_ACTOR,
            public_key=pair.public_key,
            label="x",
            pop=pair.sign(b"something else"),
            now=world.tick(),
        )
    assert e.value.field == "pop"
    assert base64.b64encode(pair.public_key)  # the key was never stored:
    with world.db.read() as session:
        assert key_service.keys_of(session, None) == []


def test_the_timer_signs_a_checkpoint_while_entries_wait(
    database: Database, tmp_path: Path
) -> None:
    import threading
    import time

    from traceability.settings import load_settings
    from traceability.web.app import _checkpoint_timer, create_app

    settings = load_settings(
        environment="development",
        database_url="sqlite://",
        key_dir=str(tmp_path / "keys"),
        origin=ORIGIN,
        checkpoint_interval_seconds=1,
        checkpoint_every=1000,
    )
    app = create_app(settings, database=database)
    context = app.state.context
    with database.write() as session:
        context.log.append_as_service(
            session, subject=VIAL.format(1), type="vial.commissioned", now=context.clock()
        )
    stop = threading.Event()
    timer = threading.Thread(target=_checkpoint_timer, args=(context, stop))
    timer.start()
    try:
        deadline = time.monotonic() + 10
        row = None
        while row is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with database.read() as session:
                row = latest_checkpoint(session)
    finally:
        stop.set()
        timer.join()
    assert row is not None and row.size == 2  # genesis + the event, signed by the timer


def test_two_writers_of_one_log_catch_up_with_each_other_s_entries(
    world: LogWorld, tmp_path: Path
) -> None:
    """Two processes appending in turn (two server workers): each finds the head moved
    past its cached frontier and brings it up from the other's leaves. Every root it
    then signs must be the root of the stored tree, and the log must verify."""
    other = LogWorld(db=world.db, log=make_log(world.db, world.key_dir), key_dir=world.key_dir)
    turns = [world, other, other, world, world, world, other] * 6
    for n, writer in enumerate(turns):
        writer.service_event(VIAL.format(n % 5))
    # `world` last wrote before the final turn: its checkpoint starts from a cache one
    # entry behind. (Every tenth append also signed a checkpoint, each checked to be
    # consistent with the one before.)
    with world.db.write() as session:
        mine = world.log.issue_checkpoint(session, now=world.tick())
        assert mine.size == len(turns) + 1  # and the genesis entry
        assert bytes(mine.root_hash) == StoredTree(session).root(mine.size)
    report = verify_log(world.db, world.log.keys.log.verifier())
    assert report.ok, report.findings
