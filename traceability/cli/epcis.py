"""`traceability audit epcis`: write a batch's history as a GS1 EPCIS 2.0 document.

Reads only, like `GET /epcis/events?lot=LOT`. Registered on the `audit` group in cli/main.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from traceability.cli.common import errors_as_exit, fail, open_database, settings_from
from traceability.cli.db import DatabaseUrl
from traceability.clock import utcnow
from traceability.services import batch_records
from traceability.services.epcis import epcis_document


def epcis(
    lot: Annotated[str, typer.Option("--lot", help="The batch's lot.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="File to write (JSON-LD, e.g. LOT.jsonld); default stdout."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the batch's custody, labels and excursions as an EPCISDocument (to OUTPUT
    or, without it, to standard output for a pipe: `... | jq`)."""
    with errors_as_exit():
        settings = settings_from(database_url)
        with open_database(database_url) as db, db.read() as session:
            document = epcis_document(
                session,
                batch_records.get_batch(session, lot),
                resolver=settings.resolver_base,
                now=utcnow(),
            )
    data = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(data, nl=False)
        return
    try:
        output.write_text(data, encoding="utf-8")
    except OSError as e:
        raise fail(f"cannot write {output}: {e.strerror}") from None
    events = len(document["epcisBody"]["eventList"])
    typer.echo(f"wrote {output} ({events} EPCIS events for {lot})")
