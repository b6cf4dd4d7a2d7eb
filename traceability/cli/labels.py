"""`traceability labels`: print a batch's current labels, or a shipper's SSCC label, to a
file (PDF or ZPL).

Reads only: labels are issued (and reissued, with a reason) through the signed API or
the batch page, each one logged; printing never issues anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.cli.db import DatabaseUrl

Layout = Literal["vial", "sheet"]
Format = Literal["pdf", "zpl"]
Paper = Literal["A4", "letter"]
Dpi = Literal["203", "300", "600"]

app = new_app("Print vial, sheet and shipper labels (vector PDF or ZPL).")


@app.command()
def pdf(
    lot: Annotated[str, typer.Option("--lot", help="The batch's lot.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    layout: Annotated[Layout, typer.Option(help="vial (roll) or sheet.")] = "vial",
    format_: Annotated[Format, typer.Option("--format", help="pdf, or zpl (Zebra).")] = "pdf",
    paper: Annotated[Paper, typer.Option(help="Sheet paper: A4 or letter.")] = "A4",
    width_mm: Annotated[float, typer.Option(min=10, max=200, help="Vial label width.")] = 32.5,
    height_mm: Annotated[float, typer.Option(min=5, max=200, help="Vial label height.")] = 12.7,
    dpi: Annotated[
        Dpi, typer.Option(help="The printer's resolution in dots per inch (ZPL is in dots).")
    ] = "300",
    database_url: DatabaseUrl = None,
) -> None:
    """Write the batch's current labels, one per vial, to OUTPUT."""
    # Drawing labels needs reportlab; imported here so other commands start fast.
    from traceability.services import batch_records
    from traceability.services.label_printing import PrintJob, print_labels

    settings = settings_from(database_url)
    job = PrintJob(layout, format_, paper, (width_mm, height_mm), int(dpi))
    with errors_as_exit(), open_database(database_url) as db, db.read() as session:
        printed = print_labels(
            session, batch_records.get_batch(session, lot), job, resolver=settings.resolver_base
        )
    _write(output, printed.data)
    at = f", {dpi} dpi" if format_ == "zpl" else ""
    typer.echo(f"wrote {output} ({layout} labels for {lot}{at}, {len(printed.data):,} bytes)")


@app.command()
def shipper(
    sscc: Annotated[str, typer.Option("--sscc", help="The shipper's SSCC (18 digits).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    format_: Annotated[Format, typer.Option("--format", help="pdf, or zpl (Zebra).")] = "pdf",
    dpi: Annotated[
        Dpi, typer.Option(help="The printer's resolution in dots per inch (ZPL is in dots).")
    ] = "300",
    database_url: DatabaseUrl = None,
) -> None:
    """Write a packed shipper's SSCC label (100 x 150 mm) to OUTPUT, once the signed log
    proves what it says."""
    from traceability.clock import utcnow
    from traceability.custody_log.appender import CustodyLog
    from traceability.custody_log.evidence import LogEvidence
    from traceability.services import sites
    from traceability.services.label_printing import print_shipper_label

    settings = settings_from(database_url)
    with errors_as_exit(), open_database(database_url) as db:
        log = CustodyLog.from_settings(settings)
        with db.write() as session:  # a checkpoint covering the newest entries, if needed
            note = log.issue_checkpoint(session, now=utcnow()).note
        with db.read() as session:
            printed = print_shipper_label(
                session,
                LogEvidence(session, log.keys.log.verifier(), note=note),
                sites.get_shipper(session, sscc),
                format=format_,
                dpi=int(dpi),
                establishment=settings.establishment,
            )
    _write(output, printed.data)
    at = f", {dpi} dpi" if format_ == "zpl" else ""
    typer.echo(f"wrote {output} (shipper label for {sscc}{at}, {len(printed.data):,} bytes)")


def _write(output: Path, data: bytes) -> None:
    try:
        output.write_bytes(data)
    except OSError as e:
        raise fail(f"cannot write {output}: {e.strerror}") from None
