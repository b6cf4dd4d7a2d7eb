"""Group commit: units of work from many requests, run by one writer, committed together.

Writes to the custody log are serialised anyway (one writer at a time, DESIGN.md). When
every request opens its own transaction, the writers take turns: each pays for a
session, a connection, `BEGIN IMMEDIATE`, a commit with its fsync, and then waits for
the interpreter lock behind every other request thread before it can let go of the
write lock. Under load that queue, not the work, sets the pace.

Here one writer thread takes whatever units of work are waiting (up to `max_batch`),
runs them one after another in one transaction, and commits once. If a unit raises,
the batch is rolled back and every unit runs again in a new transaction, each in a
SAVEPOINT of its own, so a unit that fails again is rolled back alone and its caller
gets the error of that pass. Savepoints are not used on the first pass because they
cost more than the rare rerun. A unit must therefore be safe to run twice: it reads
what it needs from the database inside the unit and keeps no state outside it. No
caller hears its result before the commit has returned, so an acknowledged write is as
durable as with a transaction of its own. If the commit itself fails, every unit of
the batch fails with that error and nothing of it was stored.

The thread starts on the first submission and ends after `idle_seconds` without work,
so an app that is never shut down cleanly (a test) leaves no thread behind for long.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel import Session

from traceability.storage.database import Database

T = TypeVar("T")


@dataclass
class _Unit:
    work: Callable[[Session], Any]
    future: Future[Any]


class GroupCommit:
    """Hands units of work to one writer thread; see the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 64,
        idle_seconds: float = 2.0,
    ) -> None:
        self._db = db
        self._max_batch = max_batch
        self._idle_seconds = idle_seconds
        self._waiting: deque[_Unit] = deque()
        self._lock = threading.Lock()
        self._work_arrived = threading.Condition(self._lock)
        self._running = False

    @property
    def running(self) -> bool:
        """Whether a writer thread is alive (it ends after `idle_seconds` without work)."""
        with self._lock:
            return self._running

    def submit(self, work: Callable[[Session], T]) -> Future[T]:
        """Queue `work(session)`; the future holds its result once the batch committed."""
        future: Future[T] = Future()
        with self._lock:
            self._waiting.append(_Unit(work, future))
            if self._running:
                self._work_arrived.notify()
            else:
                threading.Thread(target=self._serve, name="group-commit", daemon=True).start()
                self._running = True  # only once a thread really started
        return future

    async def run(self, work: Callable[[Session], T]) -> T:
        """`submit`, awaited from the event loop without holding a thread of the pool."""
        return await asyncio.wrap_future(self.submit(work))

    def _serve(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._waiting:
                        self._work_arrived.wait(timeout=self._idle_seconds)
                        if not self._waiting:
                            self._running = False
                            return
                    count = min(len(self._waiting), self._max_batch)
                    batch = [self._waiting.popleft() for _ in range(count)]
                self._commit(batch)
        except BaseException:
            with self._lock:  # the next submission starts a new writer
                self._running = False
            raise

    def _commit(self, batch: list[_Unit]) -> None:
        units = [u for u in batch if u.future.set_running_or_notify_cancel()]
        if not units:
            return  # their callers went away before they ran
        try:
            if not self._try_together(units):
                # Nothing of the batch was kept. Every unit runs again, the one that
                # failed too, each in a savepoint: one pass is then enough however many
                # fail, and each hears the outcome of that pass.
                self._run_apart(units)
        except BaseException as error:  # BEGIN or COMMIT failed: nothing was stored
            for unit in units:
                if not unit.future.done():
                    unit.future.set_exception(error)
            if not isinstance(error, Exception):
                raise

    def _try_together(self, units: list[_Unit]) -> bool:
        """Run every unit in one transaction, without savepoints (the common case: none
        fails). On the first failure, roll back the whole batch and say so."""
        results: list[Any] = []
        try:
            with self._db.write() as session:
                for unit in units:
                    try:
                        results.append(unit.work(session))
                        session.flush()  # its own rows fail here, not in the next unit
                    except Exception as error:
                        raise _Failed from error
        except _Failed:
            return False
        for unit, result in zip(units, results, strict=True):
            unit.future.set_result(result)
        return True

    def _run_apart(self, units: list[_Unit]) -> None:
        outcomes: list[tuple[_Unit, Any, Exception | None]] = []
        with self._db.write() as session:
            for unit in units:
                try:
                    with session.begin_nested():  # stores the unit's rows as it ends
                        result = unit.work(session)
                except Exception as error:  # noqa: BLE001 - handed to its own caller
                    outcomes.append((unit, None, error))
                else:
                    outcomes.append((unit, result, None))
        for unit, result, failure in outcomes:
            if failure is not None:
                unit.future.set_exception(failure)
            else:
                unit.future.set_result(result)


class _Failed(Exception):
    """A unit of a batch raised: the batch is rolled back and run again unit by unit."""
