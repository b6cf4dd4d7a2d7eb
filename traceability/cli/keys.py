"""`traceability keys`: make a CLI signing key, register, list and revoke keys.

`keys new` runs on the person's own machine: the private key file never leaves it.
`keys register` needs only that file's public half and a proof of possession, which it
computes locally from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.entry import pop_message
from traceability.cli.common import (
    cli_actor,
    errors_as_exit,
    fail,
    new_app,
    open_database,
    settings_from,
)
from traceability.clock import utcnow
from traceability.custody_log import keys as key_service
from traceability.custody_log.appender import CustodyLog
from traceability.errors import InvalidInputError
from traceability.keys import ActorKeyPair, read_private_key, write_private_file
from traceability.services.users import get_by_username

app = new_app("Signing keys for the custody log.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="A name for the key, e.g. your username.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Key file to write (default NAME.key).")
    ] = None,
) -> None:
    """Write a new Ed25519 private key file (mode 0600) and print its verifier key."""
    path = output or Path(f"{name}.key")
    with errors_as_exit():
        try:
            pair = ActorKeyPair.generate(name)
        except Exception as e:  # audit.errors.FormatError for a bad name
            raise InvalidInputError(f"{name!r} cannot name a key: {e}", field="name") from e
        write_private_file(path, pair.signer.private_key_text() + "\n")
    typer.echo(pair.signer.verifier().text())
    typer.echo(
        f"custody-log key id {pair.key_id}; private key written to {path} (keep it secret)",
        err=True,
    )


@app.command()
def register(
    username: Annotated[str, typer.Argument(help="Whose key this is.")],
    key_file: Annotated[Path, typer.Option("--key-file", help="The private key file.")],
    label: Annotated[str, typer.Option("--label", help="Where the key lives.")] = "CLI key",
    database_url: DatabaseUrl = None,
) -> None:
    """Register the public half of a key file for a user (a log entry)."""
    with errors_as_exit():
        settings = settings_from(database_url)
        if not key_file.exists():
            raise fail(f"{key_file}: no such file")
        pair = ActorKeyPair(read_private_key(key_file))
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            user = get_by_username(session, username)
            pop = pair.sign(pop_message(pair.key_id, settings.origin, user.username))
            key = key_service.register_key(
                session,
                log,
                user=user,
                actor=cli_actor(),
                public_key=pair.public_key,
                label=label,
                pop=pop,
                now=utcnow(),
            )
            typer.echo(
                f"registered {key.key_id} for {username} at log index {key.registered_index}"
            )


@app.command()
def revoke(
    key_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the log).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: entries it signs after the revocation are refused."""
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            revocation = key_service.revoke_key(
                session, log, key_id=key_id, actor=cli_actor(), reason=reason, now=utcnow()
            )
            typer.echo(f"revoked {key_id} at log index {revocation.revoked_index}")


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """List every registered key with its owner and state."""
    with errors_as_exit(), open_database(database_url) as db, db.read() as session:
        from traceability.storage.models import User

        for key in key_service.keys_of(session, None):
            owner = session.get(User, key.user_id) if key.user_id is not None else None
            revoked = key_service.revocation_of(session, key.key_id)
            state = f"revoked at {revoked.revoked_index}" if revoked else "valid"
            typer.echo(
                f"{key.key_id}  {owner.username if owner else '(service)':<12} "
                f"from {key.registered_index:<8} {state:<20} {key.label}"
            )
