"""Group commit: units of work from many requests, run by one writer, committed together.

Writes to the custody log are serialised anyway (one writer at a time, DESIGN.md). When
every request opens its own transaction, the writers take turns: each pays for a
session, a connection, `BEGIN IMMEDIATE`, a commit with its fsync, and then waits for
the interpreter lock behind every other request thread before it can let go of the
write lock. Under load that queue, not the work, sets the pace.

Here one writer thread takes whatever units of work are waiting (up to `max_batch`),
runs each inside a SAVEPOINT of one transaction, and commits once. A unit that raises
is rolled back to its savepoint alone; the others still commit. No caller hears its
result before the commit has returned, so an acknowledged write is as durable as with a
transaction of its own. If the commit itself fails, every unit of the batch fails with
that error and nothing of it was stored.

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

    def __init__(self, db: Database, *, max_batch: int = 64, idle_seconds: float = 2.0) -> None:
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
                self._running = True
                threading.Thread(target=self._serve, name="group-commit", daemon=True).start()
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
        outcomes: list[tuple[_Unit, Any, BaseException | None]] = []
        try:
            with self._db.write() as session:
                for unit in batch:
                    if not unit.future.set_running_or_notify_cancel():
                        continue  # its caller went away before it ran
                    try:
                        with session.begin_nested():
                            result = unit.work(session)
                    except Exception as error:  # noqa: BLE001 - handed to its own caller
                        outcomes.append((unit, None, error))
                    else:
                        outcomes.append((unit, result, None))
        except Exception as error:  # the commit (or BEGIN) failed: nothing was stored
            for unit in batch:
                if unit.future.running() or unit.future.set_running_or_notify_cancel():
                    unit.future.set_exception(error)
            return
        for unit, result, failure in outcomes:
            if failure is not None:
                unit.future.set_exception(failure)
            else:
                unit.future.set_result(result)
