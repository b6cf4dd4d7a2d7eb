"""No forks under concurrency: 16 writers appending 100 entries each at once, as threads
and as processes (which race across the advisory or file lock).

Afterwards the indices are gapless, every acknowledged append is stored with the leaf
hash its writer was told, and verify-log finds nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlmodel import select

from tests.log_support import VIAL, LogWorld, make_log
from tests.log_writer import acks_of, start_writer
from traceability.custody_log.verify_log import verify_log
from traceability.keys import write_private_file
from traceability.storage.database import Database
from traceability.storage.models import LogEntryRow

WRITERS = 16
APPENDS = 100


@pytest.fixture
def world(database: Database, tmp_path: Path) -> LogWorld:
    world = LogWorld(
        db=database,
        log=make_log(database, tmp_path / "keys", checkpoint_every=64),
        key_dir=tmp_path / "keys",
    )
    for w in range(WRITERS):
        world.person(f"writer{w}")
    return world


def stored(db: Database) -> dict[int, bytes]:
    with db.read() as session:
        rows = session.exec(select(LogEntryRow.idx, LogEntryRow.leaf_hash)).all()
    return {int(i): bytes(h) for i, h in rows}


def check(world: LogWorld, acknowledged: dict[int, bytes], before: int) -> None:
    rows = stored(world.db)
    assert sorted(rows) == list(range(len(rows))), "indices have a gap"
    assert len(rows) == before + WRITERS * APPENDS
    assert len(acknowledged) == WRITERS * APPENDS
    for index, leaf in acknowledged.items():
        assert rows[index] == leaf
    report = verify_log(world.db, world.log.keys.log.verifier())
    assert report.ok, report.findings[:5]


@pytest.mark.slow
def test_sixteen_threads_append_without_a_fork(world: LogWorld) -> None:
    before = len(stored(world.db))
    acknowledged: dict[int, bytes] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        try:
            for _ in range(APPENDS):
                appended = world.append(f"writer{w}", VIAL.format(f"W{w}"))
                with lock:
                    acknowledged[appended.index] = appended.leaf_hash
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check(world, acknowledged, before)


@pytest.mark.slow
def test_sixteen_processes_append_without_a_fork(world: LogWorld, tmp_path: Path) -> None:
    before = len(stored(world.db))
    url = world.db.engine.url.render_as_string(hide_password=False)
    writers = []
    for w in range(WRITERS):
        key_file = tmp_path / f"writer{w}.key"
        write_private_file(key_file, world.people[f"writer{w}"].signer.private_key_text())
        args = (url, str(world.key_dir), str(key_file), f"writer{w}", VIAL.format(f"P{w}"))
        writers.append(start_writer(*args, str(APPENDS)))
    acknowledged: dict[int, bytes] = {}
    for process, acks in writers:
        lines = acks_of(acks)
        process.join(timeout=300)
        assert process.exitcode == 0, f"writer ended with {process.exitcode}"
        for line in lines:
            _, index, leaf = line.split()
            assert int(index) not in acknowledged, "two writers were told the same index"
            acknowledged[int(index)] = bytes.fromhex(leaf)
    check(world, acknowledged, before)
