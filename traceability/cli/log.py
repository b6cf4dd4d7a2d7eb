"""`traceability log` and `traceability audit`: checkpoints, whole-log verification, and
audit bundles (export from the database; verify offline with the `audit` package alone)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from audit import cli as audit_cli
from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.cli.verify_log import AUDIT_HELP, verify_log_command
from traceability.clock import utcnow
from traceability.custody_log.appender import CustodyLog
from traceability.keys import load_service_keys
from traceability.services import audit_bundle

log_app = new_app("The custody log.")
audit_app = new_app(AUDIT_HELP)

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]


@log_app.command()
def checkpoint(database_url: DatabaseUrl = None) -> None:
    """Sign a checkpoint of the log now (if it grew) and print it."""
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            row = log.issue_checkpoint(session, now=utcnow())
            typer.echo(row.note, nl=False)


@log_app.command()
def key(
    cosigner: Annotated[
        bool,
        typer.Option(
            "--cosigner", help="The log's ML-DSA-44 cosigner key instead of its Ed25519 key."
        ),
    ] = False,
) -> None:
    """Print the log's verifier key (creating the keys on first use, as the server does)."""
    with errors_as_exit():
        settings = settings_from()
        keys = load_service_keys(settings.key_dir, settings.origin)
    typer.echo(keys.cosigner.key().text() if cosigner else keys.log.verifier().text())


audit_app.command("verify-log")(verify_log_command)


@audit_app.command("reconcile")
def reconcile_command(
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Processes for signatures.")
    ] = None,
) -> None:
    """Compare every table with the signed log and list each disagreement.

    Verifies the log, then checks that each entry has its row and each row its entry,
    and every batch's rows against the entries that made them. Signs a checkpoint first
    if entries wait for one. Exit 0 when everything agrees; 1 with each finding listed
    (missing-row, extra-row, missing-entry, changed, ...); 2 for unusable input.
    """
    from traceability.custody_log.evidence import ensure_covering
    from traceability.services.proof.reconcile import reconcile

    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db:
            note = ensure_covering(db, log, now=utcnow())
            report = reconcile(
                db, log.keys.log.verifier(), note=note, workers=workers, progress=_progress()
            )
    for line in report.lines():
        typer.echo(line)
    status = (
        "every table agrees with the log" if report.ok else f"{len(report.findings)} finding(s)"
    )
    typer.echo(
        f"{report.entries} entries, {report.checkpoints} checkpoints, "
        f"{report.batches} batches: {status}"
    )
    raise typer.Exit(code=0 if report.ok else 1)


def _progress() -> Callable[[str], None] | None:
    """Progress on a terminal (stderr), nothing when piped."""
    if not sys.stderr.isatty():
        return None
    return lambda step: typer.echo(f"... {step}", err=True)


SinceCheckpoint = Annotated[
    Path | None,
    typer.Option(
        "--since-checkpoint",
        help="A signed checkpoint note you already hold: the bundle proves the log "
        "consistent with it.",
    ),
]


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise fail(f"{what}: cannot read {path}: {e.strerror or e}") from None


@audit_app.command("export")
def export_command(
    lot: Annotated[str, typer.Option("--lot", help="The batch's lot number.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the zip.")],
    since_checkpoint: SinceCheckpoint = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the batch's audit bundle: entries, proofs, keys, signed checkpoint (zip)."""
    since = None if since_checkpoint is None else _read_file(since_checkpoint, "--since-checkpoint")
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db:
            data = audit_bundle.export(
                db, log, lot, now=utcnow(), since=since, progress=_progress()
            )
    try:
        output.write_bytes(data)
    except OSError as e:
        raise fail(f"cannot write {output}: {e.strerror or e}") from None
    typer.echo(f"wrote {output} ({len(data)} bytes)")


@audit_app.command("verify")
def verify_command(
    bundle_path: Annotated[Path, typer.Argument(metavar="BUNDLE", help="The bundle zip.")],
    log_key: Annotated[
        str,
        typer.Option(
            "--log-key", help="The log's verifier key text, or a file holding it (vkey form)."
        ),
    ],
    since_checkpoint: SinceCheckpoint = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A witness's cosigner key text, or a file of its keys (one per line); "
            "repeat for each witness.",
        ),
    ] = None,
    quorum: Annotated[
        int,
        typer.Option(
            "--quorum", min=0, help="How many distinct witnesses must have cosigned (0: none)."
        ),
    ] = 0,
    log_cosigner: Annotated[
        str | None,
        typer.Option(
            "--log-cosigner",
            help="The log's own ML-DSA-44 cosigner key (GET /log/cosigner-key), or a file.",
        ),
    ] = None,
) -> None:
    """Verify an audit bundle offline and print its report.

    Every signature on the bundle's checkpoint must be by a key you give: the log's
    (--log-key), its ML-DSA-44 cosigner (--log-cosigner) or a witness (--witness), and
    at least --quorum distinct witnesses must have cosigned it. Exit 0 when everything
    verifies; 1 with each finding listed; 2 for unusable input.
    """
    argv = ["verify", str(bundle_path), "--log-key", log_key, "--quorum", str(quorum)]
    if since_checkpoint is not None:
        argv += ["--since-checkpoint", str(since_checkpoint)]
    for text in witness or []:
        argv += ["--witness", text]
    if log_cosigner is not None:
        argv += ["--log-cosigner", log_cosigner]
    # One verifier command: the auditor's own (`trace-audit`, installable alone) runs it.
    raise typer.Exit(code=audit_cli.main(argv))
