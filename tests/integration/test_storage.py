"""Storage behaviour: migrations build the models on both engines; SQLite's durability
settings; writers on SQLite queue instead of failing; times come back as UTC."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlmodel import SQLModel, select

from tests.support import TEST_ACTOR
from traceability.errors import BusyError
from traceability.services import audit_trail
from traceability.services.custody import positions
from traceability.storage import migrate
from traceability.storage.database import Database, WriterLock, create_db_engine
from traceability.storage.models import AuditTrailEntry


def test_migrations_build_exactly_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    assert migrate.is_current(database.engine)


@pytest.mark.parametrize(
    ("statement", "values", "index"),
    [
        ("_POSITION_OF", {"vial": 1}, "ix_custody_events_vial_id_id"),
        (
            "_OPEN_HANDOFF",
            {"unit": "https://id.example/01/1/21/1", "now": datetime.now(UTC)},
            "ix_handoffs_unit_uri_id",
        ),
    ],
)
def test_a_custody_step_finds_the_newest_row_by_index_without_sorting(
    database: Database, statement: str, values: dict[str, object], index: str
) -> None:
    """Every custody step reads a vial's newest custody event and a unit's newest
    handoff; sorting all of that vial's rows for it would make each step slower the
    longer the vial's history."""
    with database.engine.connect() as connection:
        # `:name` parameters, as text() takes them, and no driver casts (psycopg's).
        named = (
            PGDialect(paramstyle="named")
            if connection.dialect.name == "postgresql"
            else type(connection.dialect)(paramstyle="named")
        )
        compiled = getattr(positions, statement).compile(dialect=named)
        sql, values = str(compiled), {**compiled.params, **values}  # the LIMIT's own too
        if connection.dialect.name == "sqlite":
            plan = " | ".join(
                str(row[-1])
                for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql), values)
            )
            assert "TEMP B-TREE" not in plan, plan
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            bound = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}
            plan = " | ".join(
                str(row[0]) for row in connection.execute(text("EXPLAIN " + sql), bound)
            )
            assert "Sort" not in plan, plan
        assert index in plan, plan


def test_times_are_stored_and_read_back_as_utc(database: Database) -> None:
    eastern = timezone(timedelta(hours=-5))
    with database.write() as session:
        audit_trail.record(
            session,
            actor=TEST_ACTOR,
            at=datetime(2026, 3, 1, 7, 0, tzinfo=eastern),
            action="create",
            record_type="t",
            record_id="1",
            changes=[],
        )
    with database.read() as session:
        row = session.exec(select(AuditTrailEntry)).one()
    assert row.at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert row.at.tzinfo is not None


def test_naive_times_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), database.write() as session:
        audit_trail.record(
            session,
            actor=TEST_ACTOR,
            at=datetime(2026, 3, 1, 7, 0),  # noqa: DTZ001
            action="create",
            record_type="t",
            record_id="1",
            changes=[],
        )


def sqlite_db(tmp_path: Path) -> Database:
    db = Database(create_db_engine(f"sqlite:///{tmp_path}/s.db"))
    migrate.upgrade(db.engine)
    return db


def test_sqlite_runs_wal_with_full_sync_and_a_busy_timeout(tmp_path: Path) -> None:
    db = sqlite_db(tmp_path)
    with db.read() as session:
        assert session.exec(text("PRAGMA journal_mode")).one()[0] == "wal"
        assert session.exec(text("PRAGMA synchronous")).one()[0] == 2  # FULL
        assert session.exec(text("PRAGMA busy_timeout")).one()[0] >= 5000
    db.dispose()


def test_sqlite_write_transactions_begin_immediate_and_reads_deferred(tmp_path: Path) -> None:
    db = sqlite_db(tmp_path)
    seen: list[str] = []
    event.listen(
        db.engine, "before_cursor_execute", lambda conn, cur, statement, *a: seen.append(statement)
    )
    with db.write() as session:
        session.exec(text("SELECT 1"))
    with db.read() as session:
        session.exec(text("SELECT 2"))
    assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 2"]
    db.dispose()


def test_concurrent_read_then_write_units_of_work_never_fail_on_sqlite(tmp_path: Path) -> None:
    """Read-modify-write from many threads: with BEGIN DEFERRED some would fail at once
    with "database is locked" when upgrading to a write; BEGIN IMMEDIATE makes them queue."""
    db = sqlite_db(tmp_path)
    errors: list[BaseException] = []
    per_thread = 25

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                with db.write() as session:
                    count = len(session.exec(select(AuditTrailEntry.id)).all())
                    audit_trail.record(
                        session,
                        actor=TEST_ACTOR,
                        at=datetime.now(UTC),
                        action="create",
                        record_type="t",
                        record_id=f"{n}-{i}-{count}",
                        changes=[],
                    )
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        assert len(session.exec(select(AuditTrailEntry.id)).all()) == 8 * per_thread
    db.dispose()


_WRITE_FROM_ANOTHER_PROCESS = """
import sys
from datetime import UTC, datetime
from tests.support import TEST_ACTOR
from traceability.services import audit_trail, custody
from traceability.storage.database import Database, WriterLock, create_db_engine
db = Database(create_db_engine(sys.argv[1]))
print("waiting", flush=True)
with db.write() as session:
    audit_trail.record(session, actor=TEST_ACTOR, at=datetime.now(UTC), action="create",
                       record_type="t", record_id="other process", changes=[])
print("written", flush=True)
"""


def test_a_writer_in_another_process_waits_for_the_writer_lock(tmp_path: Path) -> None:
    """Server workers and the CLI are separate processes: they queue on one file lock
    beside the database (woken at once), not on SQLite's polling busy handler."""
    db = sqlite_db(tmp_path)
    path = db.engine.url.database
    lock = WriterLock(Path(f"{path}-writer.lock"))
    with lock:  # only the lock: SQLite itself is free
        other = subprocess.Popen(
            [sys.executable, "-c", _WRITE_FROM_ANOTHER_PROCESS, f"sqlite:///{path}"],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        assert other.poll() is None  # still waiting for the lock
    out, _ = other.communicate(timeout=30)
    assert other.returncode == 0 and out.strip() == "written"
    with db.read() as session:
        ids = [e.record_id for e in session.exec(select(AuditTrailEntry)).all()]
    assert ids == ["other process"]
    assert oct(Path(f"{path}-writer.lock").stat().st_mode & 0o777) == "0o600"
    db.dispose()


def test_a_writer_kept_waiting_too_long_is_told_the_database_is_busy(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "s.db-writer.lock", timeout=0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(timeout=10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(timeout=10)
    with pytest.raises(BusyError, match="busy"), lock:
        pytest.fail("two writers held the lock at once")
    release.set()
    holder.join()
    with lock:  # free again once the first one let go
        pass


def test_a_write_inside_another_on_the_same_thread_is_refused_not_a_deadlock(
    tmp_path: Path,
) -> None:
    db = sqlite_db(tmp_path)
    with db.write(), pytest.raises(RuntimeError, match="inside another"):
        with db.write():
            pass
    with db.write():  # the lock was let go
        pass
    db.dispose()
