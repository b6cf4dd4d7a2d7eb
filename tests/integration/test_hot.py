"""`storage.hot` statements store and read exactly what SQLAlchemy stores and reads.

Each test defines a table of its own with every column type the hot statements use
(a UTC timestamp, JSON that may be None, bytes, a boolean), writes one row through
SQLAlchemy and one through a `Hot` statement, and compares what the engine holds and
what each way reads back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
    text,
)

from traceability.storage.database import Database
from traceability.storage.hot import Hot
from traceability.storage.types import UTCDateTime

metadata = MetaData()
SAMPLES = Table(
    "hot_samples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", JSON, nullable=True),
    Column("digest", LargeBinary(32), nullable=True),
    Column("flag", Boolean, nullable=False),
    Column("big", BigInteger, nullable=False),
)
WRITTEN = [c.name for c in SAMPLES.c if c.name != "id"]


@pytest.fixture
def samples(database: Database) -> Iterator[Database]:
    metadata.create_all(database.engine)
    try:
        yield database
    finally:
        metadata.drop_all(database.engine)


def values(name: str, detail: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "at": at,
        "detail": detail,
        "digest": bytes(range(32)) if detail else None,
        "flag": detail is not None,
        "big": 2**40 + 7,
    }


CASES = [
    pytest.param({"seal_intact": True, "notes": "Ünïcode ✓", "n": [1, 2]}, id="json"),
    pytest.param(None, id="none"),
]


@pytest.mark.parametrize("detail", CASES)
def test_a_hot_insert_stores_what_sqlalchemy_stores(
    samples: Database, detail: dict[str, Any] | None
) -> None:
    at = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)  # no microseconds: the format's edge
    insert = Hot.insert(SAMPLES, WRITTEN)
    with samples.write() as session:
        connection = session.connection()
        connection.execute(SAMPLES.insert(), values("core", detail, at))
        insert.run(connection, values("hot", detail, at))
    with samples.engine.connect() as connection:
        stored = connection.execute(
            text(
                "SELECT name, CAST(at AS TEXT), CAST(detail AS TEXT), digest, flag, big "
                "FROM hot_samples ORDER BY id"
            )
        ).all()
    core, hot = (tuple(row[1:]) for row in stored)
    assert [row[0] for row in stored] == ["core", "hot"]
    assert hot == core


@pytest.mark.parametrize("detail", CASES)
def test_a_hot_select_reads_what_sqlalchemy_reads(
    samples: Database, detail: dict[str, Any] | None
) -> None:
    at = datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=UTC)
    with samples.write() as session:
        session.connection().execute(SAMPLES.insert(), values("core", detail, at))
    read = Hot.select(
        list(SAMPLES.c), "FROM hot_samples WHERE name = :name", params={"name": String()}
    )
    with samples.write() as session:
        connection = session.connection()
        expected = connection.execute(select(SAMPLES).where(SAMPLES.c.name == "core")).one()
        got = read.first(connection, {"name": "core"})
        missing = read.first(connection, {"name": "nobody"})
        rows = read.all(connection, {"name": "core"})
    assert got == tuple(expected)
    assert rows == [got]
    assert missing is None
    assert got is not None
    assert got[2] == at and got[2].tzinfo is not None  # aware UTC, as the ORM gives it
    assert got[3] == detail


def test_run_many_and_returning(samples: Database) -> None:
    at = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)
    insert = Hot.insert(SAMPLES, WRITTEN)
    returning = Hot.insert(SAMPLES, WRITTEN, returning="id")
    with samples.write() as session:
        connection = session.connection()
        insert.run_many(connection, [values(f"row{n}", {"n": n}, at) for n in range(3)])
        insert.run_many(connection, [])  # nothing to do, and no error
        made = returning.first(connection, values("last", None, at))
    with samples.engine.connect() as connection:
        names = connection.execute(select(SAMPLES.c.id, SAMPLES.c.name).order_by("id")).all()
    assert [n for _, n in names] == ["row0", "row1", "row2", "last"]
    assert made == (names[-1][0],)


def test_a_hot_write_is_part_of_the_unit_of_work(samples: Database) -> None:
    """It runs on the session's own connection: a rolled-back unit keeps none of it."""
    at = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)
    insert = Hot.insert(SAMPLES, WRITTEN)
    with pytest.raises(RuntimeError), samples.write() as session:
        insert.run(session.connection(), values("lost", None, at))
        raise RuntimeError("the unit fails after the write")
    with samples.engine.connect() as connection:
        assert connection.execute(select(SAMPLES.c.name)).all() == []


def test_read_first_sees_every_commit_at_once(samples: Database) -> None:
    """`Database.read_first` reads on a connection it keeps (SQLite) or borrows: each
    call is a fresh snapshot, so a commit made after the previous call is seen."""
    at = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)
    insert = Hot.insert(SAMPLES, WRITTEN)
    read = Hot.select(
        [SAMPLES.c.name, SAMPLES.c.detail],
        "FROM hot_samples WHERE name = :name",
        params={"name": String()},
    )
    assert samples.read_first(read, {"name": "first"}) is None
    with samples.write() as session:
        insert.run(session.connection(), values("first", {"n": 1}, at))
    assert samples.read_first(read, {"name": "first"}) == ("first", {"n": 1})
    with samples.write() as session:
        insert.run(session.connection(), values("second", None, at))
    assert samples.read_first(read, {"name": "second"}) == ("second", None)


def test_read_first_keeps_one_connection_per_thread_until_disposed(tmp_path: Path) -> None:
    import threading

    from tests.support import fresh_database_url, migrated_database

    url = fresh_database_url("sqlite", str(tmp_path))
    with migrated_database(url) as database:
        metadata.create_all(database.engine)
        read = Hot("SELECT count(*) FROM hot_samples")
        assert database.read_first(read, {}) == (0,)
        assert database.read_first(read, {}) == (0,)
        other = threading.Thread(target=database.read_first, args=(read, {}))
        other.start()
        other.join()
        assert len(database._opened) == 2  # this thread's and the other's, reused
        kept = list(database._opened)
        database.dispose()
        for connection in kept:
            with pytest.raises(sqlite3.ProgrammingError):  # closed
                connection.execute("SELECT 1")
        assert database.read_first(read, {}) == (0,)  # opens again after disposal


def test_a_remembered_row_changes_when_the_stored_row_does(samples: Database) -> None:
    """`remember` keeps conversions by the raw row: a changed row is a new key."""
    at = datetime(2026, 12, 3, 7, 0, 0, tzinfo=UTC)
    read = Hot.select(
        [SAMPLES.c.name, SAMPLES.c.at, SAMPLES.c.detail],
        "FROM hot_samples WHERE name = :name",
        params={"name": String()},
        remember=2,
    )
    with samples.write() as session:
        Hot.insert(SAMPLES, WRITTEN).run(session.connection(), values("one", {"n": 1}, at))
    assert samples.read_first(read, {"name": "one"}) == ("one", at, {"n": 1})
    assert samples.read_first(read, {"name": "one"}) == ("one", at, {"n": 1})
    with samples.write() as session:
        session.connection().execute(
            SAMPLES.update().where(SAMPLES.c.name == "one").values(detail={"n": 2})
        )
    assert samples.read_first(read, {"name": "one"}) == ("one", at, {"n": 2})
