"""Group commit: units of work queued together commit together, each in its own savepoint,
and nobody hears back before the commit."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from traceability.storage.database import Database
from traceability.storage.group_commit import GroupCommit
from traceability.storage.models import Site

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _add_site(code: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.add(Site(code=code, name=code, kind="lab", created_at=NOW))
        session.flush()
        return code

    return work


def _codes(database: Database) -> list[str]:
    with database.read() as session:
        return sorted(s.code for s in session.exec(select(Site)).all())


def test_units_queued_together_commit_in_one_batch_and_a_failing_one_alone_rolls_back(
    database: Database,
) -> None:
    writer = GroupCommit(database)
    started, release = threading.Event(), threading.Event()

    def blocker(session: Session) -> str:
        started.set()
        release.wait(timeout=10)
        session.add(Site(code="FIRST", name="first", kind="lab", created_at=NOW))
        return "first"

    first = writer.submit(blocker)
    assert started.wait(timeout=10)
    # While the writer is busy, these queue up and become the next batch.
    ok_a = writer.submit(_add_site("A"))
    duplicate = writer.submit(_add_site("A"))
    ok_b = writer.submit(_add_site("B"))

    def note_transaction(session: Session) -> int:
        noted: list[int] = session.info.setdefault("noted", [])
        noted.append(1)
        return len(noted)

    same_a = writer.submit(note_transaction)
    same_b = writer.submit(note_transaction)
    release.set()

    assert first.result(timeout=10) == "first"
    assert ok_a.result(timeout=10) == "A"
    assert ok_b.result(timeout=10) == "B"
    with pytest.raises(IntegrityError):
        duplicate.result(timeout=10)
    # Both ran in the one batch's session (and transaction): the second saw the first.
    assert (same_a.result(timeout=10), same_b.result(timeout=10)) == (1, 2)
    assert _codes(database) == ["A", "B", "FIRST"]


def test_a_result_is_handed_back_only_once_committed(database: Database) -> None:
    writer = GroupCommit(database)
    done = writer.submit(_add_site("DURABLE"))
    assert done.result(timeout=10) == "DURABLE"
    # Another connection sees it at once: the answer came after the commit.
    assert _codes(database) == ["DURABLE"]


def test_the_writer_thread_ends_when_idle_and_a_new_one_starts_on_demand(
    database: Database,
) -> None:
    writer = GroupCommit(database, idle_seconds=0.05)
    writer.submit(_add_site("ONE")).result(timeout=10)
    for _ in range(200):
        if not writer.running:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the idle writer thread did not end")
    writer.submit(_add_site("TWO")).result(timeout=10)
    assert _codes(database) == ["ONE", "TWO"]


def test_two_failing_units_of_one_batch_each_get_their_own_error(database: Database) -> None:
    writer = GroupCommit(database)
    started, release = threading.Event(), threading.Event()

    def blocker(session: Session) -> None:
        started.set()
        release.wait(timeout=10)

    def refuse(message: str) -> Callable[[Session], None]:
        def work(session: Session) -> None:
            session.add(Site(code=message, name=message, kind="lab", created_at=NOW))
            session.flush()
            raise LookupError(message)

        return work

    first = writer.submit(blocker)
    assert started.wait(timeout=10)
    kept_a = writer.submit(_add_site("KEPT-A"))
    one = writer.submit(refuse("ONE"))
    kept_b = writer.submit(_add_site("KEPT-B"))
    two = writer.submit(refuse("TWO"))
    release.set()
    first.result(timeout=10)
    with pytest.raises(LookupError, match="ONE"):
        one.result(timeout=10)
    with pytest.raises(LookupError, match="TWO"):
        two.result(timeout=10)
    assert (kept_a.result(timeout=10), kept_b.result(timeout=10)) == ("KEPT-A", "KEPT-B")
    assert _codes(database) == ["KEPT-A", "KEPT-B"]  # nothing of the failed units


def test_a_unit_whose_rows_fail_to_store_is_the_one_refused(database: Database) -> None:
    """Rows a unit only added (not yet flushed) are stored before the next unit runs,
    so a failure is blamed on the unit that caused it, not on whichever ran next."""
    writer = GroupCommit(database)
    writer.submit(_add_site("DUP")).result(timeout=10)
    started, release = threading.Event(), threading.Event()

    def blocker(session: Session) -> None:
        started.set()
        release.wait(timeout=10)

    def add_without_flush(session: Session) -> None:
        session.add(Site(code="DUP", name="again", kind="lab", created_at=NOW))

    def count_sites(session: Session) -> int:
        return len(session.exec(select(Site)).all())

    first = writer.submit(blocker)
    assert started.wait(timeout=10)
    duplicate = writer.submit(add_without_flush)
    counted = writer.submit(count_sites)
    release.set()
    first.result(timeout=10)
    with pytest.raises(IntegrityError):
        duplicate.result(timeout=10)
    assert counted.result(timeout=10) == 1


def test_run_awaits_the_writer_thread_s_commit(database: Database) -> None:
    """`run` hands the unit to the writer thread: the event loop only waits for it."""
    writer = GroupCommit(database)
    loop_thread = threading.get_ident()
    ran_on: list[int] = []

    def where(session: Session) -> str:
        ran_on.append(threading.get_ident())
        return _add_site("LOOPED")(session)

    assert asyncio.run(writer.run(where)) == "LOOPED"
    assert ran_on and ran_on[0] != loop_thread
    assert "LOOPED" in _codes(database)
