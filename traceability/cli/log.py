"""`traceability log` and `traceability audit`: checkpoints and whole-log verification."""

from __future__ import annotations

from typing import Annotated

import typer

from audit.errors import AuditError
from audit.note import Verifier, parse_verifier_key
from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.clock import utcnow
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.verify_log import verify_log
from traceability.keys import load_service_keys, read_log_verifier

log_app = new_app("The custody log.")
audit_app = new_app("Verify the record.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]


@log_app.command()
def checkpoint(database_url: DatabaseUrl = None) -> None:
    """Sign a checkpoint of the log now (if it grew) and print it."""
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog(
            load_service_keys(settings.key_dir, settings.origin),
            origin=settings.origin,
            checkpoint_every=settings.checkpoint_every,
        )
        with open_database(database_url) as db, db.write() as session:
            row = log.issue_checkpoint(session, now=utcnow())
            typer.echo(row.note, nl=False)


@audit_app.command("verify-log")
def verify_log_command(
    database_url: DatabaseUrl = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="The log's verifier key text (default: from "
            "TRACE_KEY_DIR). Give it to check against a key you obtained yourself.",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes for signatures.")
    ] = None,
) -> None:
    """Check every entry, link, signature, key and checkpoint of the stored log.

    Exit 0 when intact; 1 with one line per finding; 2 for unusable input.
    """
    with errors_as_exit():
        settings = settings_from(database_url)
        verifier: Verifier
        if log_key is not None:
            try:
                verifier = parse_verifier_key(log_key.strip())
            except AuditError as e:
                raise fail(f"--log-key: {e}") from None
        else:
            verifier = read_log_verifier(settings.key_dir)
        with open_database(database_url) as db:
            report = verify_log(db, verifier, workers=workers)
    for finding in report.findings:
        typer.echo(finding.line())
    status = "intact" if report.ok else f"{len(report.findings)} finding(s)"
    typer.echo(f"{report.entries} entries, {report.checkpoints} checkpoints: {status}")
    raise typer.Exit(code=0 if report.ok else 1)
