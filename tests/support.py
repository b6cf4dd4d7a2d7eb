"""Test helpers shared by the fixtures: a movable clock, database set-up, a live server."""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from traceability.domain.actor import Actor
from traceability.domain.roles import Role
from traceability.services import users as user_service
from traceability.settings import Settings
from traceability.storage import append_only, migrate
from traceability.storage.database import Database, create_db_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct-horse-battery"  # noqa: S105 - test accounts only
TEST_ACTOR = Actor(name="cli:test", user_id=None, roles=frozenset({Role.admin}))


@dataclass
class FrozenClock:
    """A clock tests move by hand; starts at a fixed, recent UTC instant."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def postgres_url() -> str:
    return os.environ.get("TRACE_TEST_POSTGRES_URL", DEFAULT_PG_URL)


_RUN_DATABASE: str | None = None
"""This test run's own PostgreSQL database, made on first use and dropped at exit."""


def require_postgres() -> str:
    """This run's own PostgreSQL database URL, or skip (fail under TRACE_REQUIRE_POSTGRES=1)
    if the server is unreachable.

    The configured database (`test`) is only connected to, to create a database for this
    run, so that two runs on one machine (a developer's and a helper's) never share tables,
    nor do two pytest-xdist workers of one run (the name holds the process id).
    """
    global _RUN_DATABASE
    if _RUN_DATABASE is not None:
        return _RUN_DATABASE
    url = postgres_url()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"trace_run_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            # A test database need not survive a power cut: its commits return without
            # waiting for the WAL to reach the disk (what other sessions see is the same).
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except OperationalError as e:
        reason = f"PostgreSQL at {url} is unreachable ({type(e.orig).__name__})"
        if os.environ.get("TRACE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and TRACE_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set TRACE_TEST_POSTGRES_URL or start the server")
    finally:
        engine.dispose()
    _RUN_DATABASE = make_url(url).set(database=name).render_as_string(hide_password=False)
    atexit.register(_drop_run_database, url, name)
    return _RUN_DATABASE


def _drop_run_database(url: str, name: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except OperationalError:
        pass  # the server went away; nothing left to clean
    finally:
        engine.dispose()


_SCRATCH: Path | None = None
"""This process's folder for SQLite test databases: in memory (/dev/shm) where there is
one, so that a commit's fsync costs nothing; removed at exit."""

_SQLITE_SCHEMA: Path | None = None
"""A SQLite file the migrations built once in this process; each test gets a copy."""


def scratch_dir() -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        shm = Path("/dev/shm")
        where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        _SCRATCH = Path(tempfile.mkdtemp(prefix="trace-tests-", dir=where))
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def _sqlite_schema() -> Path:
    """Run the migrations once (about a second) into a file tests copy (a millisecond)."""
    global _SQLITE_SCHEMA
    if _SQLITE_SCHEMA is None:
        path = scratch_dir() / "schema.db"
        database = Database(create_db_engine(f"sqlite:///{path}"))
        migrate.upgrade(database.engine)
        with database.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        database.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _SQLITE_SCHEMA = path
    return _SQLITE_SCHEMA


def fresh_database_url(engine_name: str, tmp_dir: str) -> str:
    """A migrated database with no rows: for SQLite a copy of the schema built once,
    in `tmp_dir`; for PostgreSQL this run's database, emptied."""
    if engine_name == "sqlite":
        path = Path(tmp_dir) / "trace.db"
        shutil.copy(_sqlite_schema(), path)  # with its mode (0600)
        return f"sqlite:///{path}"
    return migrated_postgres_url()


def sqlite_test_dir(name: str) -> str:
    """A new folder for one test's SQLite database, on the scratch file system, named
    after the test (its parameters may hold slashes: only letters, digits, _ and -)."""
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40]
    return tempfile.mkdtemp(prefix=f"{prefix}-", dir=scratch_dir())


_PG_MIGRATED: tuple[object, ...] | None = None
"""The fingerprint of the schema as the migrations build it, once they have run."""

_PG_EMPTY: str = ""
"""The statements that empty the migrated schema (see `migrated_postgres_url`)."""

_PG_TRIGGERS: str = ""
"""The statements that put back every trigger as the migrations made it (see
`migrated_postgres_url`)."""

_FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT 'table ' || tablename::text AS item FROM pg_tables WHERE schemaname = 'public'
    UNION ALL
    SELECT 'column ' || table_name::text || '.' || column_name::text || ' ' || data_type::text
        || ' ' || is_nullable::text || ' ' || coalesce(column_default, '')
    FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'constraint ' || c.conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT 'trigger ' || c.relname::text || '.' || t.tgname::text || '.' || t.tgenabled::text
        || ' ' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND NOT t.tgisinternal
    UNION ALL
    SELECT 'function ' || p.proname || md5(p.prosrc) FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
) AS schema
"""
"""One digest of the public schema: tables, columns, indexes, constraints, triggers (and
whether each is enabled) and functions."""


def _pg_fingerprint(conn: Any) -> tuple[object, ...]:
    digest = conn.execute(text(_FINGERPRINT)).scalar()
    has_version = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
    version = (
        conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if has_version is not None
        else None
    )
    return (digest, version)


def _pg_empty_statements(conn: Any) -> str:
    """DELETE from every table, sequences back to their start: what TRUNCATE ... RESTART
    IDENTITY does, but TRUNCATE gives each of the ~40 tables new files (about a second
    per test on a busy machine), and DELETE of a test's few rows takes milliseconds."""
    tables = conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version' ORDER BY 1"
        )
    ).scalars()
    sequences = conn.execute(
        text("SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = 'public'")
    ).all()
    deletes = [f'DELETE FROM "{table}"' for table in tables]
    restarts = [f"SELECT setval('\"{name}\"', {start}, false)" for name, start in sequences]
    return "; ".join(deletes + restarts)


def _pg_trigger_statements(conn: Any) -> str:
    """Drop (if there) and create again each trigger of the migrated schema: what a
    tamper test undoes is its triggers, and this puts them back in milliseconds where
    migrating again takes a second or more."""
    rows = conn.execute(
        text(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), t.tgenabled "
            "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2"
        )
    ).all()
    statements = []
    for name, table, definition, enabled in rows:
        statements += [f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"', definition]
        if enabled == "D":
            statements.append(f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"')
    return "; ".join(statements)


_PG_ENGINE: Any = None
"""This process's AUTOCOMMIT engine for emptying the run's database."""


def migrated_postgres_url() -> str:
    """PostgreSQL with the migrated schema and no rows.

    Migrating takes seconds; emptying the tables a few milliseconds. So the schema is
    built once and then emptied (with triggers off for this session only, since the
    append-only tables refuse DELETE). If the last test changed it (a tamper test drops
    triggers), its triggers are put back; if it still differs from what the migrations
    built, it is dropped and migrated again.
    """
    global _PG_MIGRATED, _PG_EMPTY, _PG_TRIGGERS, _PG_ENGINE
    url = require_postgres()
    if _PG_ENGINE is None:
        _PG_ENGINE = create_engine(url, isolation_level="AUTOCOMMIT")
    with _PG_ENGINE.connect() as conn:
        if _PG_MIGRATED is not None and _pg_fingerprint(conn) != _PG_MIGRATED:
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.exec_driver_sql(_PG_TRIGGERS)  # what tamper tests change
        if _PG_MIGRATED is not None and _pg_fingerprint(conn) == _PG_MIGRATED:
            conn.execute(text("SET session_replication_role = replica"))
            conn.execute(text("SET lock_timeout = '20s'"))
            conn.exec_driver_sql(_PG_EMPTY)
            return url
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    database = Database(create_db_engine(url))
    migrate.upgrade(database.engine)
    database.dispose()
    with _PG_ENGINE.connect() as conn:
        _PG_MIGRATED = _pg_fingerprint(conn)
        _PG_EMPTY = _pg_empty_statements(conn)
        _PG_TRIGGERS = _pg_trigger_statements(conn)
    return url


_PG_TEST_ENGINE: Any = None
"""The engine of this run's PostgreSQL database, for every test of this process."""


def _engine_for(url: str) -> Any:
    """A new engine, except for this run's PostgreSQL database: one engine serves all of
    this process's tests there, each test emptying the tables and disposing of the pool
    at its end. SQLAlchemy caches each compiled statement per engine, so a new engine per
    test compiled every query of every test again (a tenth of the suite's time)."""
    global _PG_TEST_ENGINE
    if url != _RUN_DATABASE:
        return create_db_engine(url)
    if _PG_TEST_ENGINE is None:
        _PG_TEST_ENGINE = create_db_engine(url)
    return _PG_TEST_ENGINE


@contextmanager
def migrated_database(url: str, *, already: bool = False) -> Iterator[Database]:
    db = Database(_engine_for(url))
    if not already:
        migrate.upgrade(db.engine)
    try:
        yield db
    finally:
        db.dispose()


def add_user(
    db: Database, username: str, *roles: str, password: str = PASSWORD, now: datetime | None = None
) -> None:
    with db.write() as session:
        user_service.create_user(
            session,
            actor=TEST_ACTOR,
            now=now or datetime.now(UTC),
            username=username,
            full_name=username.title() + " Tester",
            roles=list(roles),
            password=password,
        )


class SwitchableApp:
    """An ASGI app that forwards to whichever app the current test installed.

    One real uvicorn server serves the whole session; each test installs its own app
    (with its own fresh database) so tests still start clean.
    """

    def __init__(self) -> None:
        self.target: Any = None
        self._busy = 0
        self._idle = threading.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "no app installed for this test"
        with self._idle:
            self._busy += 1
        try:
            await self.target(scope, receive, send)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10) -> None:
        """Block until no request is in flight: a client has its response before the
        server has closed the request's database session, and the test's database
        must not be disposed under it."""
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)


@dataclass
class LiveServer:
    base_url: str
    switch: SwitchableApp


@contextmanager
def live_server() -> Iterator[LiveServer]:
    switch = SwitchableApp()
    # proto=IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # sockets that say they are TCP, and without it every response waits ~40 ms for the
    # client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(switch, lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", switch=switch)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def edit_behind_the_service(
    db: Database, tables: tuple[str, ...], *statements: str, **params: object
) -> None:
    """Change rows as an administrator with database access would: drop the append-only
    triggers of `tables` (a visible, deliberate act), then run `statements`."""
    with db.write() as session:
        for table in tables:
            for drop in append_only.drop_statements(db.dialect, table):
                session.exec(text(drop))  # type: ignore[call-overload]
        for statement in statements:
            session.exec(text(statement), params=params)  # type: ignore[call-overload]


_TLS = ssl.create_default_context()
"""One TLS context for every test client. The tests speak plain HTTP to servers on this
machine, but httpx builds a context for each new client, loading the CA bundle: 30 ms a
client, which a thousand tests paid once each."""


def local_client(base_url: str, *, timeout: float = 30) -> httpx.Client:
    """An HTTP client of a test server."""
    return httpx.Client(base_url=base_url, timeout=timeout, verify=_TLS)


@dataclass
class Api:
    """A fresh service on a fresh database, reached over real HTTP."""

    client: httpx.Client
    app: FastAPI
    db: Database
    clock: FrozenClock
    settings: Settings

    def add_user(self, username: str, *roles: str, password: str = PASSWORD) -> None:
        add_user(self.db, username, *roles, password=password, now=self.clock())

    def token(self, username: str, password: str = PASSWORD) -> str:
        response = self.client.post(
            "/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username, password)}"}


def assert_reconciled(api: Api) -> None:
    """Every table agrees with the signed log (`audit reconcile`): no false alarm after a
    flow that wrote through the service."""
    from traceability.custody_log.evidence import ensure_covering
    from traceability.services.proof.reconcile import reconcile

    log = api.app.state.context.log
    note = ensure_covering(api.db, log, now=api.clock())
    report = reconcile(api.db, log.keys.log.verifier(), note=note, workers=1)
    assert report.ok, report.lines()
