"""Entry point of the `traceability` command."""

from __future__ import annotations

from typing import Annotated

import typer

from traceability.cli import db, demo, epcis, keys, labels, log, records, users, witness
from traceability.cli.common import OneLineErrors, errors_as_exit, settings_from

app = typer.Typer(
    help="Cell-therapy traceability: batch records, custody log, labels, release gate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    cls=OneLineErrors,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(demo.app, name="demo")
app.add_typer(keys.app, name="keys")
app.add_typer(labels.app, name="labels")
app.add_typer(records.app, name="records")
app.add_typer(log.log_app, name="log")
log.audit_app.command("epcis")(epcis.epcis)
app.add_typer(log.audit_app, name="audit")
app.add_typer(witness.app, name="witness")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes. One is enough for a site; more use more cores "
            "(their writes still take turns, across processes too).",
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Serve the web pages and the API."""
    import uvicorn

    from traceability.web.app import create_app

    with errors_as_exit():
        application = create_app(settings_from())  # fails here, once, on bad settings
    if workers == 1:
        uvicorn.run(application, host=host, port=port, proxy_headers=False, log_level="info")
        return
    # Each worker process builds its own app from the same settings (the environment).
    uvicorn.run(
        "traceability.web.app:create_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        proxy_headers=False,
        log_level="info",
    )


if __name__ == "__main__":
    app()
