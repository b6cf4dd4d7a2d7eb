"""Tamper evidence: edit the database behind the service's back and verify-log names it.

Each test builds the same small log (people, service events, checkpoints), drops the
append-only triggers as an attacker with database access would, changes something,
and expects verify-log to report the first affected index with the right kind.

Every test runs in each of verify-log's ways of working, which must report exactly the
same: the whole log as one run checked in this process; runs of 4 rows, so that clean
runs are taken whole, checkpoints end inside runs and tampering sits at and across run
boundaries; and those runs checked by two worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.merkle import leaf_hash
from audit.note import Signer
from tests.log_support import ORIGIN, VIAL, LogWorld, make_log
from traceability.custody_log import verify_log as verify_log_module
from traceability.custody_log.statements import entry_bytes
from traceability.custody_log.verify_log import Report, verify_log
from traceability.keys import ActorKeyPair
from traceability.storage import append_only
from traceability.storage.database import Database
from traceability.storage.models import LOG_TABLES


@dataclass
class TamperWorld(LogWorld):
    workers: int = 1


@pytest.fixture(params=["one run", "runs of 4", "runs of 4 in 2 workers"])
def workers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    if request.param != "one run":
        monkeypatch.setattr(verify_log_module, "BATCH", 4)
    return 2 if request.param.endswith("workers") else 1


@pytest.fixture
def world(database: Database, tmp_path: Path, workers: int) -> TamperWorld:
    world = TamperWorld(
        db=database,
        log=make_log(database, tmp_path / "keys", checkpoint_every=8),
        key_dir=tmp_path / "keys",
        workers=workers,
    )
    world.person("lena")
    world.person("cora", "courier")
    for n in range(6):
        world.service_event(VIAL.format(n))
        world.append("lena", VIAL.format(n), type="qc.result.entered")
        world.append("cora", VIAL.format(n), type="custody.accepted")
    with world.db.write() as session:
        world.log.issue_checkpoint(session, now=world.tick())
    return world  # 3 + 18 = 21 entries, checkpoints at 8, 16 and 21


def verify(world: TamperWorld) -> Report:
    return verify_log(world.db, world.log.keys.log.verifier(), workers=world.workers)


def tamper(world: TamperWorld, *statements: str, **params: object) -> None:
    with world.db.write() as session:
        for table in LOG_TABLES:
            for drop in append_only.drop_statements(world.db.dialect, table):
                session.exec(text(drop))
        for statement in statements:
            session.exec(text(statement), params=params)


def entry_at(world: TamperWorld, index: int) -> bytes:
    with world.db.read() as session:
        row = session.exec(
            text("SELECT entry FROM log_entries WHERE idx = :i"), params={"i": index}
        ).one()
    return bytes(row[0])


def first(report: Report) -> tuple[int, str]:
    assert not report.ok, "verify-log found nothing"
    return report.findings[0].index, report.findings[0].kind


def test_an_untouched_log_verifies_clean(world: TamperWorld) -> None:
    report = verify(world)
    assert report.ok, report.findings
    assert report.entries == 21
    assert report.checkpoints == 3


def test_one_changed_byte_is_found_at_its_index(world: TamperWorld) -> None:
    raw = bytearray(entry_at(world, 9))
    at = raw.index(b"LOT1") + 3
    raw[at] = ord("7")
    tamper(world, "UPDATE log_entries SET entry = :e WHERE idx = 9", e=bytes(raw))
    assert first(verify(world)) == (9, "modified")


def test_a_changed_byte_with_its_leaf_hash_recomputed_is_still_found(world: TamperWorld) -> None:
    raw = entry_at(world, 11).replace(b'"custody.accepted"', b'"custody.returned"')
    assert raw != entry_at(world, 11)
    tamper(
        world,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h WHERE idx = 11",
        e=raw,
        h=leaf_hash(raw),
    )
    index, kind = first(verify(world))
    assert index == 11
    assert kind in {"modified", "bad-signature"}


def test_a_deleted_entry_is_found_missing(world: TamperWorld) -> None:
    tamper(world, "DELETE FROM log_entries WHERE idx = 12")
    assert first(verify(world)) == (12, "missing")


def test_two_swapped_entries_are_found_reordered(world: TamperWorld) -> None:
    a, b = entry_at(world, 5), entry_at(world, 14)
    tamper(world, "DELETE FROM log_entries WHERE idx IN (5, 14)")
    from audit.entry import parse_entry
    from traceability.storage.models import LogEntryRow

    with world.db.write() as session:
        for index, raw in ((5, b), (14, a)):
            entry = parse_entry(raw)
            session.add(
                LogEntryRow(
                    idx=index,
                    leaf_hash=leaf_hash(raw),
                    entry=raw,
                    subject=entry.subject,
                    subject_seq=entry.subject_seq,
                    subject_prev=entry.subject_prev,
                    entry_type=entry.type,
                    key_id=entry.key,
                    appended_at=world.now,
                )
            )
    assert first(verify(world)) == (5, "reordered")


def test_a_truncated_tail_below_the_last_checkpoint_is_found(world: TamperWorld) -> None:
    tamper(world, "DELETE FROM log_entries WHERE idx >= 18")
    report = verify(world)
    assert first(report) == (18, "missing")
    assert "checkpoint" in report.findings[0].detail


def test_an_entry_re_signed_by_an_unregistered_key_is_found(world: TamperWorld) -> None:
    from dataclasses import replace

    from audit.entry import parse_entry
    from traceability.custody_log.statements import Statement

    original = parse_entry(entry_at(world, 10))
    body = original.body
    intruder = ActorKeyPair.generate("intruder")
    statement = Statement(
        log=ORIGIN,
        subject=original.subject,
        subject_seq=original.subject_seq,
        subject_prev=original.subject_prev,
        type=original.type,
        when=original.when,
        key=intruder.key_id,
        actor=original.actor,
        what=dict(body["what"]),  # type: ignore[arg-type]
        where=dict(body["where"]),
        why=dict(body["why"]),  # type: ignore[arg-type]
    )
    statement = replace(statement, what={"forged": "yes"})
    raw = entry_bytes(
        statement, index=10, prev=original.prev, signature=intruder.sign(statement.signed_message())
    )
    tamper(
        world,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h, key_id = :k WHERE idx = 10",
        e=raw,
        h=leaf_hash(raw),
        k=intruder.key_id,
    )
    assert first(verify(world)) == (10, "unknown-key")


def test_a_replaced_checkpoint_is_found(world: TamperWorld) -> None:
    forger = Signer.generate(ORIGIN)  # same name, different key
    with world.db.read() as session:
        root = bytes(
            session.exec(text("SELECT root_hash FROM log_checkpoints WHERE size = 16")).one()[0]
        )
    forged = sign_checkpoint(Checkpoint(ORIGIN, 16, root), forger).decode()
    tamper(world, "UPDATE log_checkpoints SET note = :n WHERE size = 16", n=forged)
    assert first(verify(world)) == (15, "checkpoint-mismatch")


def test_a_checkpoint_with_another_root_is_found_even_if_signed_by_the_log_key(
    world: TamperWorld,
) -> None:
    wrong = sign_checkpoint(Checkpoint(ORIGIN, 8, b"\x07" * 32), world.log.keys.log).decode()
    tamper(
        world,
        "UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = 8",
        n=wrong,
        r=b"\x07" * 32,
    )
    assert first(verify(world)) == (7, "checkpoint-mismatch")


def test_an_inserted_entry_is_found(world: TamperWorld) -> None:
    """Shift entries 11.. up by one and put a validly signed entry at 11."""
    from audit.entry import parse_entry
    from traceability.custody_log.statements import Statement, when_text

    prev = parse_entry(entry_at(world, 10)).leaf_hash
    lena = world.people["lena"]
    statement = Statement(
        log=ORIGIN,
        subject=VIAL.format(99),
        subject_seq=0,
        subject_prev=None,
        type="custody.stored",
        when=when_text(world.now),
        key=lena.key_id,
        actor="lena",
    )
    raw = entry_bytes(
        statement, index=11, prev=prev, signature=lena.sign(statement.signed_message())
    )
    dialect = world.db.dialect
    shift = (
        "UPDATE log_entries SET idx = idx + 1000 WHERE idx >= 11",
        "UPDATE log_entries SET idx = idx - 999 WHERE idx >= 1000",
    )
    tamper(world, *shift)
    with world.db.write() as session:
        session.exec(
            text(
                "INSERT INTO log_entries (idx, leaf_hash, entry, subject, subject_seq, "
                "subject_prev, entry_type, key_id, appended_at) VALUES (11, :h, :e, :s, 0, NULL, "
                "'custody.stored', :k, :t)"
            ),
            params={
                "h": leaf_hash(raw),
                "e": raw,
                "s": VIAL.format(99),
                "k": lena.key_id,
                "t": world.now.replace(tzinfo=None) if dialect == "sqlite" else world.now,
            },
        )
    index, kind = first(verify(world))
    assert index == 11
    assert kind == "inserted"


def test_a_changed_subject_link_column_is_found(world: TamperWorld) -> None:
    tamper(world, "UPDATE log_entries SET subject_seq = subject_seq + 5 WHERE idx = 13")
    assert first(verify(world)) == (13, "modified")


def test_an_entry_signed_by_a_key_after_its_revocation_is_found(world: TamperWorld) -> None:
    """The service refuses this; only a database edit can store it, and verify-log sees it."""
    from tests.support import TEST_ACTOR
    from traceability.custody_log import keys as key_service
    from traceability.custody_log.statements import Statement, when_text

    lena = world.people["lena"]
    with world.db.write() as session:
        revocation = key_service.revoke_key(
            session,
            world.log,
            key_id=lena.key_id,
            actor=TEST_ACTOR,
            reason="lost",
            now=world.tick(),
        )
    tail = revocation.revoked_index
    prev = leaf_hash(entry_at(world, tail))
    statement = Statement(
        log=ORIGIN,
        subject=VIAL.format(77),
        subject_seq=0,
        subject_prev=None,
        type="custody.stored",
        when=when_text(world.tick()),
        key=lena.key_id,
        actor="lena",
    )
    raw = entry_bytes(
        statement, index=tail + 1, prev=prev, signature=lena.sign(statement.signed_message())
    )
    from audit.entry import parse_entry
    from traceability.storage.models import LogEntryRow

    entry = parse_entry(raw)
    with world.db.write() as session:
        session.add(
            LogEntryRow(
                idx=tail + 1,
                leaf_hash=entry.leaf_hash,
                entry=raw,
                subject=entry.subject,
                subject_seq=0,
                subject_prev=None,
                entry_type=entry.type,
                key_id=entry.key,
                appended_at=world.now,
            )
        )
    assert first(verify(world)) == (tail + 1, "revoked-key")


def test_a_changed_type_column_of_the_genesis_entry_is_found_and_nothing_else(
    world: TamperWorld,
) -> None:
    """Key lookups then miss the service key's registration, but the genesis entry's own
    bytes still register it before everything it signs: only the column is wrong."""
    tamper(world, "UPDATE log_entries SET entry_type = 'custody.stored' WHERE idx = 0")
    report = verify(world)
    assert [(f.index, f.kind) for f in report.findings] == [(0, "modified")]
    assert "lookup columns" in report.findings[0].detail


def test_an_entry_replaced_by_one_its_signer_signed_is_found_at_the_next(
    world: TamperWorld,
) -> None:
    """Entry 11 (cora's) replaced by another that cora signed, same index and prev: it is
    well formed and validly signed, but entry 12's prev no longer matches. With runs of 4,
    11 ends a run and 12 starts the next, each clean on its own."""
    from audit.entry import parse_entry
    from traceability.custody_log.statements import Statement

    original = parse_entry(entry_at(world, 11))
    assert original.actor == "cora"
    statement = Statement(
        log=ORIGIN,
        subject=original.subject,
        subject_seq=original.subject_seq,
        subject_prev=original.subject_prev,
        type=original.type,
        when=original.when,
        key=original.key,
        actor="cora",
        what={"altered": "yes"},
    )
    cora = world.people["cora"]
    raw = entry_bytes(
        statement, index=11, prev=original.prev, signature=cora.sign(statement.signed_message())
    )
    tamper(
        world,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h WHERE idx = 11",
        e=raw,
        h=leaf_hash(raw),
    )
    report = verify(world)
    assert first(report) == (12, "modified")
    assert "prev" in report.findings[0].detail


def test_an_entry_claiming_one_person_signed_with_anothers_key_is_found(
    world: TamperWorld,
) -> None:
    """Entry 11 (cora's) re-signed by lena's registered key, still claiming cora: the
    signature verifies with a key the log registered, but not to the actor it names
    (the one key rule, audit.signers)."""
    from audit.entry import parse_entry
    from traceability.custody_log.statements import Statement

    original = parse_entry(entry_at(world, 11))
    lena = world.people["lena"]
    statement = Statement(
        log=ORIGIN,
        subject=original.subject,
        subject_seq=original.subject_seq,
        subject_prev=original.subject_prev,
        type=original.type,
        when=original.when,
        key=lena.key_id,
        actor="cora",
    )
    raw = entry_bytes(
        statement, index=11, prev=original.prev, signature=lena.sign(statement.signed_message())
    )
    tamper(
        world,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h, key_id = :k WHERE idx = 11",
        e=raw,
        h=leaf_hash(raw),
        k=lena.key_id,
    )
    report = verify(world)
    assert first(report) == (11, "wrong-actor")
    assert "belongs to lena" in report.findings[0].detail


def test_an_entry_signed_by_a_key_registered_only_later_is_found(world: TamperWorld) -> None:
    """Entry 15 re-signed, in place, by a key registered at 21. With runs of 4 the run
    12 to 15 checks clean on its own (15 is its last row): only the order shows it."""
    from audit.entry import parse_entry
    from traceability.custody_log.statements import Statement

    dora = world.person("dora")  # registered at index 21
    original = parse_entry(entry_at(world, 15))
    statement = Statement(
        log=ORIGIN,
        subject=original.subject,
        subject_seq=original.subject_seq,
        subject_prev=original.subject_prev,
        type=original.type,
        when=original.when,
        key=dora.key_id,
        actor="dora",
    )
    raw = entry_bytes(
        statement, index=15, prev=original.prev, signature=dora.sign(statement.signed_message())
    )
    tamper(
        world,
        "UPDATE log_entries SET entry = :e, leaf_hash = :h, key_id = :k WHERE idx = 15",
        e=raw,
        h=leaf_hash(raw),
        k=dora.key_id,
    )
    assert first(verify(world)) == (15, "unknown-key")


def test_an_entry_signed_by_a_key_revoked_in_an_earlier_run_is_found(world: TamperWorld) -> None:
    """Like the test above it, with the entry at 24: with runs of 4 the run 24 to 27 is
    clean on its own, and the revocation (21) lies in an earlier run."""
    from tests.support import TEST_ACTOR
    from traceability.custody_log import keys as key_service
    from traceability.custody_log.statements import Statement, when_text
    from traceability.storage.models import LogEntryRow

    lena = world.people["lena"]
    with world.db.write() as session:
        key_service.revoke_key(
            session,
            world.log,
            key_id=lena.key_id,
            actor=TEST_ACTOR,
            reason="lost",
            now=world.tick(),
        )
    world.service_event(VIAL.format(20))
    tail = world.service_event(VIAL.format(21)).index
    assert tail == 23
    statement = Statement(
        log=ORIGIN,
        subject=VIAL.format(77),
        subject_seq=0,
        subject_prev=None,
        type="custody.stored",
        when=when_text(world.tick()),
        key=lena.key_id,
        actor="lena",
    )
    raw = entry_bytes(
        statement,
        index=24,
        prev=leaf_hash(entry_at(world, 23)),
        signature=lena.sign(statement.signed_message()),
    )
    with world.db.write() as session:
        session.add(
            LogEntryRow(
                idx=24,
                leaf_hash=leaf_hash(raw),
                entry=raw,
                subject=statement.subject,
                subject_seq=0,
                subject_prev=None,
                entry_type=statement.type,
                key_id=lena.key_id,
                appended_at=world.now,
            )
        )
    report = verify(world)
    assert first(report) == (24, "revoked-key")
    assert report.entries == 25


def test_spawned_workers_report_what_forked_ones_do(
    world: TamperWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers are spawned where forking is not safe; they must find the same."""
    tamper(world, "DELETE FROM log_entries WHERE idx = 12")
    expected = [(f.index, f.kind, f.detail) for f in verify(world).findings]
    monkeypatch.setattr(verify_log_module, "BATCH", 4)
    monkeypatch.setattr(verify_log_module, "_can_fork", lambda: False)
    report = verify_log(world.db, world.log.keys.log.verifier(), workers=2)
    assert [(f.index, f.kind, f.detail) for f in report.findings] == expected
    assert expected[0][:2] == (12, "missing")


def test_workers_are_not_forked_while_another_thread_runs() -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not verify_log_module._can_fork()
    finally:
        stop.set()
        thread.join()
