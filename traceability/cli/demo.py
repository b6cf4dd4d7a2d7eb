"""`traceability demo`: load the demo site into an empty development database."""

from __future__ import annotations

from typing import Annotated

import typer

from traceability import demo
from traceability.cli.common import (
    cli_actor,
    errors_as_exit,
    fail,
    new_app,
    open_database,
    settings_from,
)
from traceability.clock import utcnow
from traceability.settings import Environment

app = new_app("The demo site.")


@app.command()
def load(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing (exit 0) if the database has users.")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
    ] = None,
) -> None:
    """Create the demo accounts and records (development mode, empty database only)."""
    with errors_as_exit():
        settings = settings_from(database_url)
    if settings.environment is not Environment.development:
        raise fail("demo data loads only with TRACE_ENVIRONMENT=development")
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        if not demo.accounts.is_empty(session):
            if if_empty:
                typer.echo("database already has data; demo not loaded")
                return
            raise fail("the database is not empty; demo data goes only into an empty one")
        loaded = demo.load(session, settings, actor=cli_actor(), now=utcnow())
        typer.echo(f"demo site loaded ({loaded.accounts} accounts, {loaded.batches} batches)")


@app.command("sign-ins")
def sign_ins() -> None:
    """Print the demo accounts and their password."""
    typer.echo(demo.accounts.sign_in_table())
