"""`traceability db`: build and inspect the schema."""

from __future__ import annotations

from typing import Annotated

import typer

from traceability.cli.common import errors_as_exit, new_app, open_database
from traceability.storage import migrate

app = new_app("Create and migrate the database schema.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]


@app.command()
def upgrade(database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration (the same ones build SQLite and PostgreSQL)."""
    with errors_as_exit(), open_database(database_url, create=True) as db:
        migrate.upgrade(db.engine)
        typer.echo(f"database at revision {migrate.current_revision(db.engine)}")


@app.command()
def current(database_url: DatabaseUrl = None) -> None:
    """Print the schema revision and whether it is the one this code needs."""
    with errors_as_exit(), open_database(database_url) as db:
        rev = migrate.current_revision(db.engine)
        head = migrate.head_revision()
        state = "current" if rev == head else f"behind (code needs {head})"
        typer.echo(f"{rev or 'empty'}: {state}")
    if rev != head:
        raise typer.Exit(code=1)
