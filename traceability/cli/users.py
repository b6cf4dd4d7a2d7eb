"""`traceability users`: manage accounts from the server's shell.

Each change goes through the same service as the web, with an audit-trail row naming
the operator as `cli:<os user>`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from traceability.cli.common import cli_actor, errors_as_exit, fail, new_app, open_database
from traceability.clock import utcnow
from traceability.services import users as user_service

app = new_app("Add, list, disable and re-enable users; set passwords.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]
Password = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="TRACE_NEW_PASSWORD",
        help="Prompted for on a terminal when not given; or set TRACE_NEW_PASSWORD.",
    ),
]


def _password(value: str | None) -> str:
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise fail("no password: give --password, set TRACE_NEW_PASSWORD, or run on a terminal")
    entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return entered


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="Sign-in name: lower case, digits, . _ -")],
    full_name: Annotated[str, typer.Option("--full-name", help="Printed on e-signatures.")],
    role: Annotated[
        list[str], typer.Option("--role", help="lab, qa, courier, auditor or admin; repeatable.")
    ],
    password: Password = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Where notices (a recall) are mailed.")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user."""
    secret = _password(password)
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        user = user_service.create_user(
            session,
            actor=cli_actor(),
            now=utcnow(),
            username=username,
            full_name=full_name,
            roles=role,
            password=secret,
            email=email,
        )
        typer.echo(f"created {user.username} ({user.roles})")


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """List every user with roles and status."""
    with errors_as_exit(), open_database(database_url) as db, db.read() as session:
        for user in user_service.list_users(session):
            status = "active" if user.is_active else "disabled"
            typer.echo(f"{user.username:<20} {status:<9} {user.roles:<30} {user.full_name}")


@app.command()
def disable(username: str, reason: Reason, database_url: DatabaseUrl = None) -> None:
    """Disable a user and end all of their sessions."""
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_active(
            session, user, active=False, actor=cli_actor(), now=utcnow(), reason=reason
        )
        typer.echo(f"disabled {username}")


@app.command()
def enable(username: str, reason: Reason, database_url: DatabaseUrl = None) -> None:
    """Re-enable a disabled user."""
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_active(
            session, user, active=True, actor=cli_actor(), now=utcnow(), reason=reason
        )
        typer.echo(f"enabled {username}")


@app.command("set-password")
def set_password(
    username: str, reason: Reason, password: Password = None, database_url: DatabaseUrl = None
) -> None:
    """Set a user's password; their open sessions end and any lock-out lifts."""
    secret = _password(password)
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.set_password(
            session, user, password=secret, actor=cli_actor(), now=utcnow(), reason=reason
        )
        typer.echo(f"password set for {username}")


@app.command()
def unlock(username: str, reason: Reason, database_url: DatabaseUrl = None) -> None:
    """Lift a sign-in lock-out now (failed attempts before now stop counting)."""
    with errors_as_exit(), open_database(database_url) as db, db.write() as session:
        user = user_service.get_by_username(session, username)
        user_service.unlock(session, user, actor=cli_actor(), now=utcnow(), reason=reason)
        typer.echo(f"unlocked {username}")
