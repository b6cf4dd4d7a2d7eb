"""`traceability audit verify-log`, in a module of its own so that it starts fast.

An auditor runs it on logs of millions of entries, and the whole command line, with
the web application, SQLAlchemy and every service behind it, takes longer to import
than checking thousands of entries. The console script (`entry_point`) runs this
command through `app` below, a command line holding nothing else; the full command
line registers the same function (`log.py`), so both give the same help, options,
output and exit codes. This module and what it imports must never import SQLAlchemy,
SQLModel, FastAPI or the services (the tests check it); a database URL other than a
plain SQLite file imports SQLAlchemy when it is opened (`common.open_stored_log`).

With `--tiles` it checks a C2SP tlog-tiles copy (a mirror's URL or directory) instead of
the database, with the same checks (`custody_log.verify_tiles`); given `--log-key`, it
reads no settings, so an auditor runs it on any machine.
"""

from __future__ import annotations

from typing import Annotated

import typer

from audit.cli import terminal_progress
from audit.errors import AuditError, FormatError, SourceError
from audit.note import Verifier, parse_verifier_key
from audit.tiles import open_tiles
from traceability.cli.common import (
    OneLineErrors,
    errors_as_exit,
    fail,
    new_app,
    open_stored_log,
    settings_from,
)
from traceability.custody_log.verify_log import Report, verify_log
from traceability.custody_log.verify_tiles import verify_tiled_copy
from traceability.keys import read_log_verifier


def verify_log_command(
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
    ] = None,
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
    tiles: Annotated[
        str | None,
        typer.Option(
            "--tiles",
            metavar="URL|DIR",
            help="Check a C2SP tlog-tiles copy (URL or directory) instead.",
        ),
    ] = None,
) -> None:
    """Check every entry, link, signature, key and checkpoint of the stored log.

    With --tiles, check a C2SP tlog-tiles copy of it instead: the URL the log is
    published at (the service's own, or a mirror's) or a directory holding the files.

    Exit 0 when intact; 1 with one line per finding; 2 for unusable input.
    """
    with errors_as_exit():
        if tiles is not None:
            if database_url is not None:
                raise fail("--tiles and --database-url name two copies of a log; give one")
            report = _verify_tiles(tiles, _verifier(log_key, None), workers)
        else:
            settings_from(database_url)  # unusable settings are refused first, as ever
            verifier = _verifier(log_key, database_url)
            with open_stored_log(database_url) as stored:
                report = verify_log(stored, verifier, workers=workers, progress=terminal_progress())
    for finding in report.findings:
        typer.echo(finding.line())
    status = "intact" if report.ok else f"{len(report.findings)} finding(s)"
    typer.echo(f"{report.entries} entries, {report.checkpoints} checkpoints: {status}")
    raise typer.Exit(code=0 if report.ok else 1)


def _verifier(log_key: str | None, database_url: str | None) -> Verifier:
    """The key given, else the log's own from TRACE_KEY_DIR."""
    if log_key is None:
        return read_log_verifier(settings_from(database_url).key_dir)
    try:
        return parse_verifier_key(log_key.strip())
    except AuditError as e:
        raise fail(f"--log-key: {e}") from None


def _verify_tiles(location: str, verifier: Verifier, workers: int | None) -> Report:
    """verify-log on the copy at `location`; exit 2 if it cannot be read at all."""
    try:
        source = open_tiles(location)
    except (FormatError, SourceError) as e:
        raise fail(f"--tiles: {e}") from None
    try:
        return verify_tiled_copy(source, verifier, workers=workers)
    except SourceError as e:
        raise fail(f"--tiles: {e}") from None


AUDIT_HELP = "Verify the record."

# `traceability` as the console script sees it when it is asked for `audit verify-log`:
# the same groups (and group class) as `main.app`, holding only this command.
app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, cls=OneLineErrors
)
audit_app = new_app(AUDIT_HELP)
audit_app.command("verify-log")(verify_log_command)
app.add_typer(audit_app, name="audit")
