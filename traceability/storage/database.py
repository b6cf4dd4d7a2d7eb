"""Engines and units of work.

SQLite is the embedded default: WAL (readers never block the writer), `synchronous=FULL`
(an acknowledged commit survives power loss), a busy timeout, and every write
transaction starts with `BEGIN IMMEDIATE` so that two writers queue for the lock at the
start instead of one failing with "database is locked" halfway through. Read
transactions stay `BEGIN DEFERRED` so they never take the write lock.

PostgreSQL needs none of that; its writers serialise where it matters with row or
advisory locks taken by the use case itself.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session

from traceability.bench_switches import off
from traceability.errors import BusyError
from traceability.storage.dbapi import (
    SQLITE_BUSY_TIMEOUT_MS,
    DbapiConnection,
    configure_sqlite,
    require_sqlite_file,
)
from traceability.storage.hot import Hot

_WRITE_OPTION = "trace_write"
_CONNECTION = "trace_connection"


def connection_of(session: Session) -> Connection:
    """The connection of a session's transaction; of a unit of work, without a lookup.

    A unit of work keeps one connection from BEGIN IMMEDIATE to COMMIT (savepoints
    included), and a custody step asks for it a dozen times, where each
    `Session.connection()` walks the session's transaction state."""
    connection = session.info.get(_CONNECTION)
    return connection if isinstance(connection, Connection) else session.connection()


def create_db_engine(url: str, *, echo: bool = False, create: bool = True) -> Engine:
    """An engine for `url`, with the SQLite settings above installed on every connection.

    With `create=False` a SQLite file that does not exist is an error instead of being
    made (with its folders) on first use: a mistyped path must not look like an empty
    site. Parameters are kept out of error messages and logs (they may hold hashes).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"{parsed.get_backend_name()} is not supported (SQLite or PostgreSQL)")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)

    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if create:
            # A new database holds password hashes and personal data: only its owner
            # may read it, whatever the umask (SQLite gives its -wal and -shm files the
            # database file's mode).
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        else:
            require_sqlite_file(path)
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        # A SQLite connection is a local file handle: nobody ever waits for one. (The
        # event loop itself reads who is calling, and must not block on a busy pool.)
        pool_size=16,
        max_overflow=-1,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class WriterLock:
    """The writers' queue of one SQLite file, across threads and processes.

    A thread lock orders this process's writers; an exclusive `flock` on a file beside
    the database orders the processes (several server workers, the CLI). The kernel
    wakes the next writer as soon as the lock is free, where SQLite's own busy handler
    sleeps up to 100 ms between tries (polling the file lock instead was measured: it
    lets the writer that just let go take it again, and the other process starves).
    Within a process the wait ends with `BusyError` after `timeout` seconds, like
    SQLite's busy timeout; across processes it lasts as long as the other writer's unit
    of work. A unit of work opened inside another on the same thread would wait for
    itself: that is refused at once.
    """

    def __init__(self, path: Path, *, timeout: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
        self._path = path
        self._timeout = timeout
        self._threads = threading.Lock()
        self._holder = threading.local()
        self._fd = -1

    def __enter__(self) -> None:
        if getattr(self._holder, "holds", False):
            raise RuntimeError("a write unit of work was opened inside another one")
        self.acquire()
        self._holder.holds = True

    def __exit__(self, *_exc: object) -> None:
        self._holder.holds = False
        self.release()

    def acquire(self) -> None:
        """Take the lock for a unit of work that another thread will run
        (`Database.write(held=True)`); `release` lets go, from any thread."""
        if not self._threads.acquire(timeout=self._timeout):
            raise BusyError("the database is busy with other writers; try again")
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._threads.release()
            raise
        self._fd = fd

    @contextmanager
    def held_here(self) -> Iterator[None]:
        """Mark this thread as inside a unit of work under the lock taken by `acquire`
        (in another thread): a write opened inside it is refused, not waited for."""
        if getattr(self._holder, "holds", False):
            raise RuntimeError("a write unit of work was opened inside another one")
        self._holder.holds = True
        try:
            yield
        finally:
            self._holder.holds = False

    def release(self) -> None:
        try:
            os.close(self._fd)  # closing the file lets go of the flock
        finally:
            self._threads.release()


class Database:
    """Hands out sessions: `read()` for queries, `write()` for one unit of work.

    On SQLite the writers also queue on a lock of their own before `BEGIN IMMEDIATE`
    (`WriterLock`: threads and processes, such as server workers and the CLI): SQLite's
    busy handler polls with sleeps of up to 100 ms, so under load a writer could sleep
    long after the lock was freed; these locks hand it over at once. A program that
    writes to the file without them still queues on SQLite's lock (busy timeout).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer: AbstractContextManager[Any] | None = None
        self._sqlite_file: str | None = None
        self._readers = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            if path and path != ":memory:":
                self._sqlite_file = path
                self._writer = WriterLock(Path(f"{path}-writer.lock"))
            else:
                self._writer = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def read_first(self, statement: Hot, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """One row of a `storage.hot` query, read on its own (a snapshot of its own).

        For what every request reads first, who is calling: on a SQLite file it runs on
        a connection this thread opened once and keeps, in autocommit, so a single
        SELECT is its own read transaction and costs no pool, BEGIN or ROLLBACK. (The
        event loop calls this between requests; a connection per thread keeps threads
        off each other's cursors.) Elsewhere it borrows a connection from the pool.
        """
        if self._sqlite_file is None or off("hot"):
            with self.engine.connect() as connection:
                return statement.first(connection, values)
        driver: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if driver is None:
            driver = sqlite3.connect(
                self._sqlite_file, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
            configure_sqlite(driver)
            self._readers.connection = driver
            with self._opened_lock:
                self._opened.append(driver)
        return statement.first_on_sqlite(driver, self.engine.dialect, values)

    @property
    def writer_lock(self) -> WriterLock | None:
        """The lock of a SQLite file's writers, for `write(held=True)`; else None."""
        return self._writer if isinstance(self._writer, WriterLock) else None

    @contextmanager
    def write(self, *, held: bool = False) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back if it raises.

        The commit has returned before the caller acknowledges anything, so an
        acknowledged write is durable (given `synchronous=FULL` on SQLite). `held`:
        the caller already holds `writer_lock` (taken in another thread).
        """
        lock: AbstractContextManager[Any] = self._writer or nullcontext()
        if held:
            lock = lock.held_here() if isinstance(lock, WriterLock) else nullcontext()
        with lock, Session(self.engine, expire_on_commit=False) as session:
            session.info[_CONNECTION] = session.connection(execution_options={_WRITE_OPTION: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def dbapi_connection(self) -> Iterator[DbapiConnection]:
        """The driver's own connection, from the pool, for a reader that does without
        SQLAlchemy (verify-log); it goes back to the pool when the block ends."""
        proxied = self.engine.raw_connection()
        try:
            yield proxied.driver_connection
        finally:
            proxied.close()

    def dispose(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for driver in opened:
            driver.close()
        self._readers = threading.local()
        self.engine.dispose()
