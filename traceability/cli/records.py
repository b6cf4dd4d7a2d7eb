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
from pathlib import Path
from typing import Annotated, Any

import typer

from labels.digital_link import batch_uri, product_uri
from traceability.cli.common import errors_as_exit, fail, new_app, open_database, settings_from
from traceability.clock import utcnow
from traceability.custody_log.appender import CustodyLog, read_subject_head
from traceability.custody_log.signed_requests import read_signed
from traceability.custody_log.statements import Statement, when_text
from traceability.domain.actor import Actor
from traceability.domain.roles import BATCH_WRITERS, SPECIFICATION_WRITERS, Role, parse_roles
from traceability.errors import InvalidInputError, PermissionDeniedError
from traceability.keys import ActorKeyPair, read_private_key
from traceability.services import batch_records
from traceability.services.users import get_by_username
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


def _signer(user: User, roles: tuple[Role, ...], key_file: Path) -> ActorKeyPair:
    if not set(parse_roles(user.roles)) & set(roles):
        names = " or ".join(r.value for r in roles)
        raise PermissionDeniedError(f"{user.username} is not {names}: this needs that role")
    if not key_file.exists():
        raise fail(f"--key-file: {key_file}: no such file")
    return ActorKeyPair(read_private_key(key_file))


def _signed(
    session: Any, log: CustodyLog, pair: ActorKeyPair, user: User, kind: str, subject: str,
    what: dict[str, Any],
) -> Any:  # fmt: skip
    head = read_subject_head(session, subject)
    statement = Statement(
        log=log.origin,
        subject=subject,
        subject_seq=head.next_seq,
        subject_prev=head.prev,
        type=kind,
        when=when_text(utcnow()),
        key=pair.key_id,
        actor=user.username,
        what=what,
    )
    signature = base64.b64encode(pair.sign(statement.signed_message())).decode()
    return read_signed(statement.to_json(), signature)  # as the API reads a request


@app.command()
def product(as_: As, key_file: KeyFile, what: What, database_url: DatabaseUrl = None) -> None:
    """Register a product and its specification version 1 (QA or admin)."""
    body = _what(what)
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            log.lock(session)
            user = get_by_username(session, as_)
            pair = _signer(user, SPECIFICATION_WRITERS, key_file)
            gtin = body.get("gtin")
            if not isinstance(gtin, str):
                raise InvalidInputError("what.gtin is the product's GTIN", field="what.gtin")
            subject = product_uri(settings.resolver_base, gtin)
            made = batch_records.register_product(
                session,
                log,
                _signed(session, log, pair, user, "product.registered", subject, body),
                user=user,
                actor=Actor(user.username, user.id, parse_roles(user.roles)),
                resolver=settings.resolver_base,
                now=utcnow(),
            )
            typer.echo(f"registered product {made.code} ({subject})")


@app.command()
def batch(as_: As, key_file: KeyFile, what: What, database_url: DatabaseUrl = None) -> None:
    """Register a batch and its vials (lab)."""
    body = _what(what)
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            log.lock(session)
            user = get_by_username(session, as_)
            pair = _signer(user, BATCH_WRITERS, key_file)
            code, lot = body.get("product"), body.get("lot")
            if not isinstance(code, str) or not isinstance(lot, str):
                raise InvalidInputError("what names the product and the lot", field="what")
            found = batch_records.get_product(session, code, field="what.product")
            subject = batch_uri(settings.resolver_base, found.gtin, lot)
            made = batch_records.register_batch(
                session,
                log,
                _signed(session, log, pair, user, "batch.registered", subject, body),
                user=user,
                actor=Actor(user.username, user.id, parse_roles(user.roles)),
                resolver=settings.resolver_base,
                now=utcnow(),
            )
            vials = len(batch_records.vials_of(session, made))
            typer.echo(f"registered batch {made.lot} with {vials} vials ({subject})")


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
    with errors_as_exit():
        settings = settings_from(database_url)
        log = CustodyLog.from_settings(settings)
        with open_database(database_url) as db, db.write() as session:
            log.lock(session)
            user = get_by_username(session, as_)
            pair = _signer(user, SPECIFICATION_WRITERS, key_file)
            found = batch_records.get_product(session, product_code, field="product")
            subject = product_uri(settings.resolver_base, found.gtin)
            row = batch_records.add_specification_version(
                session,
                log,
                _signed(session, log, pair, user, "spec.version.created", subject, body),
                product=found,
                user=user,
                actor=Actor(user.username, user.id, parse_roles(user.roles)),
                resolver=settings.resolver_base,
                now=utcnow(),
            )
            typer.echo(f"added specification version {row.version} of {found.code}")
