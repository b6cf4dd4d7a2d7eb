"""`traceability labels`: print a batch's current labels to a file (PDF or ZPL).

Reads only: labels are issued (and reissued, with a reason) through the signed API or
the batch page, each one logged; printing never issues anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.cli.db import DatabaseUrl

Layout = Literal["vial", "sheet", "shipper"]
Format = Literal["pdf", "zpl"]
Paper = Literal["A4", "letter"]
Dpi = Literal["203", "300", "600"]

app = new_app("Print vial, sheet and shipper labels (vector PDF or ZPL).")


@app.command()
def pdf(
    lot: Annotated[str, typer.Option("--lot", help="The batch's lot.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    layout: Annotated[Layout, typer.Option(help="vial (roll), sheet, or shipper.")] = "vial",
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
            session,
            batch_records.get_batch(session, lot),
            job,
            resolver=settings.resolver_base,
            establishment=settings.establishment,
        )
    try:
        output.write_bytes(printed.data)
    except OSError as e:
        raise fail(f"cannot write {output}: {e.strerror}") from None
    at = f", {dpi} dpi" if format_ == "zpl" else ""
    typer.echo(f"wrote {output} ({layout} labels for {lot}{at}, {len(printed.data):,} bytes)")
