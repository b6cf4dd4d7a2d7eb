"""What every command shares: settings, the database, the CLI actor, error handling.

Every failure a user can cause ends the same way: one line on stderr starting with
"error:" and exit code 2. That holds for usage mistakes (click), the service's own
errors, and an unusable database URL or an unmigrated database.

This module imports neither SQLAlchemy nor the services (`open_database` imports them
when called), so that a command that needs neither, verify-log, starts fast.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from traceability.domain.actor import Actor
from traceability.domain.roles import Role
from traceability.errors import TraceabilityError
from traceability.settings import Settings, load_settings
from traceability.storage.dbapi import SqliteFile, sqlite_file_path

if TYPE_CHECKING:
    from traceability.storage.database import Database


class OneLineErrors(TyperGroup):
    """The command group: usage errors, aborted prompts and the service's own errors that
    a command let through (unusable settings above all, which any command may meet when
    it first reads them) as one line, exit code 2: never a traceback."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Typer carries its own copy of click; its public names are these two.
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            typer.echo("error: aborted: a value was needed and none was given", err=True)
            sys.exit(2)
        except TraceabilityError as e:
            field = getattr(e, "field", None)
            typer.echo(f"error: {field}: {e}" if field else f"error: {e}", err=True)
            sys.exit(2)
        except typer.TyperException as e:
            ctx = getattr(e, "ctx", None)
            hint = f" (try: {ctx.command_path} --help)" if ctx is not None else ""
            message = e.format_message() if hasattr(e, "format_message") else str(e)
            typer.echo(f"error: {message}{hint}", err=True)
            sys.exit(2)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False
    )


def settings_from(database_url: str | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    return load_settings(**overrides)


@contextmanager
def open_database(database_url: str | None = None, *, create: bool = False) -> Iterator[Database]:
    """The configured database; only `create=True` (db upgrade) makes a new SQLite file."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from traceability.storage.database import Database, create_db_engine

    settings = settings_from(database_url)
    try:
        db = Database(create_db_engine(settings.database_url, create=create))
    except (ArgumentError, NoSuchModuleError, ValueError) as e:
        raise fail(f"unusable database URL: {e}") from None
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def open_stored_log(database_url: str | None = None) -> Iterator[SqliteFile | Database]:
    """The configured database for a reader of plain DB-API connections (verify-log).

    A plain SQLite file is opened without importing SQLAlchemy; any other URL goes
    through `open_database`, so that it is read, and refused, exactly as there.
    """
    path = sqlite_file_path(settings_from(database_url).database_url)
    if path is None:
        with open_database(database_url) as db:
            yield db
        return
    try:
        stored = SqliteFile(path)
    except ValueError as e:
        raise fail(f"unusable database URL: {e}") from None
    yield stored


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


# Where database errors come from: SQLAlchemy, which wraps the drivers' errors, and the
# drivers themselves, whose errors reach verify-log unwrapped. Looked up among the
# modules already imported: an error of a module nobody imported cannot have occurred.
_ERROR_MODULES = ("sqlalchemy.exc", "sqlite3", "psycopg")


def _database_problem(error: Exception) -> str | None:
    """One line for a database error (from any of `_ERROR_MODULES`), None for others."""
    for name in _ERROR_MODULES:
        module = sys.modules.get(name)
        base = getattr(module, "SQLAlchemyError" if name == "sqlalchemy.exc" else "Error", None)
        if base is not None and isinstance(error, base):
            operational = isinstance(error, module.OperationalError)  # type: ignore[union-attr]
            break
    else:
        return None
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if "no such table" in text or "does not exist" in text and "relation" in text:
        return "the database has no schema yet; run `traceability db upgrade`"
    if operational:
        return f"cannot use the database: {text}"
    return f"database error: {text}"


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Turn the service's own errors and database failures into one line and exit code 2."""
    try:
        yield
    except TraceabilityError as e:
        field = getattr(e, "field", None)
        raise fail(f"{field}: {e}" if field else str(e)) from None
    except Exception as e:
        problem = _database_problem(e)
        if problem is None:
            raise
        raise fail(problem) from None
