"""`traceability witness`: run a transparency-log witness (c2sp.org/tlog-witness).

A witness is its own process with its own key directory and state directory; it needs
nothing of the log's service but the log's verifier key. `keygen` makes its key (ML-DSA-44
by default) and prints the verifier key the log and verifiers configure; `serve`
answers add-checkpoint.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from audit.cosignature import ALG_COSIGNATURE_V1, ALG_SUBTREE_V1
from audit.errors import FormatError
from audit.note import parse_verifier_key
from traceability.cli.common import errors_as_exit, fail, new_app
from traceability.witness.keys import create_key, load_keys

app = new_app("A transparency-log witness: cosigns checkpoints consistent with what it saw.")


class Algorithm(StrEnum):
    ml_dsa_44 = "ml-dsa-44"
    ed25519 = "ed25519"


KeyDir = Annotated[
    Path, typer.Option("--key-dir", help="The witness's own key directory (0700, files 0600).")
]


@app.command()
def keygen(
    key_dir: KeyDir,
    name: Annotated[
        str,
        typer.Option("--name", help="The witness's name, a schema-less URL (witness.example/w1)."),
    ],
    algorithm: Annotated[
        Algorithm,
        typer.Option(
            "--algorithm",
            help="ml-dsa-44 (type 0x06, recommended) or ed25519 (type 0x04, for verifiers "
            "that know only that type; a witness may hold both).",
        ),
    ] = Algorithm.ml_dsa_44,
) -> None:
    """Make the witness's key and print its verifier key."""
    with errors_as_exit():
        alg = ALG_SUBTREE_V1 if algorithm is Algorithm.ml_dsa_44 else ALG_COSIGNATURE_V1
        cosigner = create_key(key_dir, name, alg)
    typer.echo(cosigner.key().text())


@app.command()
def key(key_dir: KeyDir) -> None:
    """Print the witness's verifier key(s), one per line."""
    with errors_as_exit():
        for cosigner in load_keys(key_dir):
            typer.echo(cosigner.key().text())


@app.command()
def serve(
    key_dir: KeyDir,
    state: Annotated[
        Path,
        typer.Option("--state", help="Where the witness keeps each log's cosigned size and root."),
    ],
    log_key: Annotated[
        list[str],
        typer.Option(
            "--log-key",
            help="The verifier key of a log to witness (repeat for several logs or keys).",
        ),
    ],
    origin: Annotated[
        str | None,
        typer.Option("--origin", help="The logs' origin, if not the log keys' names."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 7380,
) -> None:
    """Serve POST /add-checkpoint (and GET /<origin hash>/checkpoint, GET /)."""
    import uvicorn

    from traceability.witness.app import create_witness_app
    from traceability.witness.service import Witness
    from traceability.witness.state import StateDirectory

    logs = []
    for text in log_key:
        try:
            verifier = parse_verifier_key(text.strip())
        except FormatError as e:
            raise fail(f"--log-key: {e}") from None
        logs.append((origin or verifier.name, verifier))
    with errors_as_exit():
        witness = Witness(
            load_keys(key_dir), logs, StateDirectory(state), clock=lambda: int(time.time())
        )
    for key_text in (k.text() for k in witness.keys()):
        typer.echo(f"witness key: {key_text}", err=True)
    uvicorn.run(
        create_witness_app(witness), host=host, port=port, proxy_headers=False, log_level="info"
    )
