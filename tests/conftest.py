"""Fixtures: every integration test runs on SQLite and on PostgreSQL, from a clean schema.

The schema is migrated once per process (per pytest-xdist worker) on each engine: SQLite
tests get a copy of the migrated file, PostgreSQL tests the run's database emptied.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    Api,
    FrozenClock,
    LiveServer,
    fresh_database_url,
    live_server,
    local_client,
    migrated_database,
    migrated_postgres_url,
    sqlite_test_dir,
)
from traceability.security.passwords import configure_hashing
from traceability.settings import Settings, load_settings
from traceability.storage.database import Database
from traceability.web.app import create_app

ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# Real Argon2id, at a small cost: the suite signs in hundreds of times.
configure_hashing(time_cost=1, memory_cost=1024)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A copy of the SQLite file migrated once, in memory where /dev/shm allows."""
    folder = sqlite_test_dir(request.node.name)
    try:
        yield fresh_database_url("sqlite", folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database with no rows (PostgreSQL: built once, emptied per test)."""
    if request.param == "postgres":
        return migrated_postgres_url()
    url: str = request.getfixturevalue("sqlite_url")
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    with migrated_database(database_url, already=True) as db:
        yield db


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environment="development",
        database_url=database_url,
        key_dir=str(tmp_path / "keys"),
    )


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    with live_server() as running:
        yield running


@pytest.fixture
def api(
    server: LiveServer, database: Database, settings: Settings, clock: FrozenClock
) -> Iterator[Api]:
    app = create_app(settings, database=database, clock=clock)
    server.switch.target = app
    with local_client(server.base_url) as client:
        yield Api(client=client, app=app, db=database, clock=clock, settings=settings)
    server.switch.wait_idle()
    server.switch.target = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests (a minute each on a busy machine) first, so that under pytest-xdist
    no worker is left running one of them alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
