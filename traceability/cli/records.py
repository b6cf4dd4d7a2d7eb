"""`traceability records`: register a product (with its first specification version), add
its next specification version, or register a batch (with its vials) from the command
line, signed with the person's own key.

The same signed statement the pages make: its `what` comes from a JSON file (the API
reference documents each kind's members), it is signed here with the person's key file
(`traceability keys new`, registered with `keys register`), and the same use case checks
and logs it. Only people with the role the pages require may do it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from labels.digital_link import batch_uri, product_uri
from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.clock import utcnow
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement, read_signed, signed_by
from traceability.domain.actor import Actor
from traceability.domain.roles import BATCH_WRITERS, SPECIFICATION_WRITERS, Role, parse_roles
from traceability.errors import InvalidInputError, PermissionDeniedError
from traceability.keys import ActorKeyPair, read_private_key
from traceability.services import batch_records
from traceability.services.users import get_by_username
from traceability.settings import Settings
from traceability.storage.models import User

app = new_app("Register products and batches, signed with your own key.")

DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Override TRACE_DATABASE_URL.")
]
As = Annotated[str, typer.Option("--as", help="Your username: the key's owner.")]
KeyFile = Annotated[Path, typer.Option("--key-file", help="Your registered private key file.")]
What = Annotated[Path, typer.Option("--what", help="A JSON file: the statement's `what`.")]


def _what(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise fail(f"--what: cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise fail(f"--what: {path} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise fail(f"--what: {path} holds a JSON object, the statement's `what`")
    return value


@dataclass(frozen=True)
class Signing:
    """One signed use case from the command line: the unit of work (under the log's lock,
    as the API runs it), the person, and what every use case takes besides its record."""

    session: Session
    log: CustodyLog
    settings: Settings
    user: User
    pair: ActorKeyPair

    def signed(self, kind: str, subject: str, what: dict[str, Any]) -> SignedStatement:
        """Signed with the person's key, then read as the API reads a request."""
        made = signed_by(
            self.session, self.log, self.pair, self.user.username, type=kind,
            subject=subject, what=what, now=utcnow(),
        )  # fmt: skip
        signature = base64.b64encode(made.signature).decode()
        return read_signed(made.statement.to_json(), signature)

    def context(self) -> dict[str, Any]:
        user = self.user
        return {
            "user": user,
            "actor": Actor(user.username, user.id, parse_roles(user.roles)),
            "resolver": self.settings.resolver_base,
            "now": utcnow(),
        }


@contextmanager
def signing(
    username: str, roles: tuple[Role, ...], key_file: Path, database_url: str | None
) -> Iterator[Signing]:
    """Only the roles the pages require; errors are one line and exit 2."""
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            log.lock(session)
            user = get_by_username(session, username)
            if not set(parse_roles(user.roles)) & set(roles):
                names = " or ".join(r.value for r in roles)
                raise PermissionDeniedError(f"{username} is not {names}: this needs that role")
            if not key_file.exists():
                raise fail(f"--key-file: {key_file}: no such file")
            pair = ActorKeyPair(read_private_key(key_file))
            yield Signing(session, log, settings, user, pair)


@app.command()
def product(as_: As, key_file: KeyFile, what: What, database_url: DatabaseUrl = None) -> None:
    """Register a product and its specification version 1 (QA or admin)."""
    body = _what(what)
    with signing(as_, SPECIFICATION_WRITERS, key_file, database_url) as s:
        gtin = body.get("gtin")
        if not isinstance(gtin, str):
            raise InvalidInputError("what.gtin is the product's GTIN", field="what.gtin")
        subject = product_uri(s.settings.resolver_base, gtin)
        made = batch_records.register_product(
            s.session, s.log, s.signed("product.registered", subject, body), **s.context()
        )
        typer.echo(f"registered product {made.code} ({subject})")


@app.command("spec-version")
def spec_version(
    as_: As,
    key_file: KeyFile,
    what: What,
    product_code: Annotated[str, typer.Option("--product", help="The product's code.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Add the product's next specification version (QA or admin)."""
    body = _what(what)
    with signing(as_, SPECIFICATION_WRITERS, key_file, database_url) as s:
        found = batch_records.get_product(s.session, product_code, field="product")
        subject = product_uri(s.settings.resolver_base, found.gtin)
        row = batch_records.add_specification_version(
            s.session,
            s.log,
            s.signed("spec.version.created", subject, body),
            product=found,
            **s.context(),
        )
        typer.echo(f"added specification version {row.version} of {found.code}")


@app.command()
def batch(as_: As, key_file: KeyFile, what: What, database_url: DatabaseUrl = None) -> None:
    """Register a batch and its vials (lab)."""
    body = _what(what)
    with signing(as_, BATCH_WRITERS, key_file, database_url) as s:
        code, lot = body.get("product"), body.get("lot")
        if not isinstance(code, str) or not isinstance(lot, str):
            raise InvalidInputError("what names the product and the lot", field="what")
        found = batch_records.get_product(s.session, code, field="what.product")
        subject = batch_uri(s.settings.resolver_base, found.gtin, lot)
        made = batch_records.register_batch(
            s.session, s.log, s.signed("batch.registered", subject, body), **s.context()
        )
        vials = len(batch_records.vials_of(s.session, made))
        typer.echo(f"registered batch {made.lot} with {vials} vials ({subject})")
