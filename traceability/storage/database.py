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
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlmodel import Session

from traceability.errors import BusyError
from traceability.storage.dbapi import (
    SQLITE_BUSY_TIMEOUT_MS,
    DbapiConnection,
    configure_sqlite,
    require_sqlite_file,
)

_WRITE_OPTION = "trace_write"
_ONE_STATEMENT = "trace_one_statement"
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
        """SQLAlchemy's transaction starts SQLite's (the driver's own is switched off by
        `configure_sqlite`): BEGIN IMMEDIATE for a unit of work, so that it holds the
        write lock from its first read; BEGIN for a read of several statements, so that
        they see one snapshot. A read of one statement needs none: SQLite runs each
        statement in a transaction of its own (`read_first`, on every request)."""
        options = conn.get_execution_options()
        if options.get(_ONE_STATEMENT, False):
            return
        sql = "BEGIN IMMEDIATE" if options.get(_WRITE_OPTION, False) else "BEGIN"
        conn.exec_driver_sql(sql)

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
        if engine.dialect.name == "sqlite":
            path = engine.url.database
            if path and path != ":memory:":
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

    def read_first(
        self, statement: Executable, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """One row of a Core query, read on a connection of its own (a snapshot of its
        own): for what every request reads first, who is calling, so that a write later
        in the request never waits behind, or upgrades, that read."""
        with self.engine.connect() as connection:
            connection.execution_options(**{_ONE_STATEMENT: True})
            found = connection.execute(statement, values).first()
        return None if found is None else tuple(found)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back if it raises.

        The commit has returned before the caller acknowledges anything, so an
        acknowledged write is durable (given `synchronous=FULL` on SQLite).
        """
        lock: AbstractContextManager[Any] = self._writer or nullcontext()
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

    @contextmanager
    def only_one(self, name: str) -> Iterator[bool]:
        """Whether this process may do the job `name` now that no other process (a server
        worker, the CLI) is doing: yields False at once if another holds it. A
        PostgreSQL session advisory lock, or an exclusive `flock` on a file beside the
        SQLite database; either ends when the holder does, crash included."""
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:7], "big")
            with self.engine.connect() as connection:
                got = bool(
                    connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
                )
                try:
                    yield got
                finally:
                    if got:
                        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                    connection.rollback()
            return
        path = self.engine.url.database
        if not path or path == ":memory:":
            yield True
            return
        fd = os.open(f"{path}-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing the file lets go of the flock

    def dispose(self) -> None:
        self.engine.dispose()
