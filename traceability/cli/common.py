"""What every command shares: settings, the database, the CLI actor, error handling."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from traceability.domain.actor import Actor
from traceability.domain.roles import Role
from traceability.errors import TraceabilityError
from traceability.settings import Settings, load_settings
from traceability.storage.database import Database, create_db_engine


def settings_from(database_url: str | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    return load_settings(**overrides)


@contextmanager
def open_database(database_url: str | None = None) -> Iterator[Database]:
    settings = settings_from(database_url)
    db = Database(create_db_engine(settings.database_url))
    try:
        yield db
    finally:
        db.dispose()


def cli_actor() -> Actor:
    """Whoever runs the CLI on the server acts as an administrator of that server."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}", user_id=None, roles=frozenset({Role.admin}))


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Turn the service's own errors into one line and exit code 2."""
    try:
        yield
    except TraceabilityError as e:
        field = getattr(e, "field", None)
        raise fail(f"{field}: {e}" if field else str(e)) from None
