"""Signed requests: a person's GxP action arrives as a statement signed on their device.

See docs/signed-writes.md. The endpoint fixes the statement's type and subject; the
statement's `what` carries the domain request itself, so what is stored and what is
signed are the same thing. Errors name the member as `statement.<member>`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from traceability.custody_log.appender import Appended, CustodyLog, read_subject_head
from traceability.custody_log.statements import (
    EncodedStatement,
    Statement,
    statement_from_json,
    when_text,
)
from traceability.domain.statement_kinds import current
from traceability.errors import InvalidInputError, PermissionDeniedError
from traceability.keys import ActorKeyPair
from traceability.storage.models import User


@dataclass(frozen=True)
class SignedStatement:
    statement: Statement
    signature: bytes
    verified: EncodedStatement | None = None
    """The statement's encoding, once its signature was checked against its key
    (`verify_early`); the append then skips checking it again."""


def signed_by(
    session: Session,
    log: CustodyLog,
    pair: ActorKeyPair,
    username: str,
    *,
    type: str,  # noqa: A002 - the statement's member
    subject: str,
    what: dict[str, Any],
    now: datetime,
) -> SignedStatement:
    """A statement signed with `pair` as the person's device would sign it: about the
    subject's next place in the log, at `now`. For those who hold the person's key here:
    the demo loader and the command line."""
    head = read_subject_head(session, subject)
    statement = Statement(
        log=log.origin,
        subject=subject,
        subject_seq=head.next_seq,
        subject_prev=head.prev,
        type=type,
        when=when_text(now),
        key=pair.key_id,
        actor=username,
        what=what,
    )
    return SignedStatement(statement, pair.sign(statement.signed_message()))


def verify_early(log: CustodyLog, signed: SignedStatement) -> SignedStatement:
    """Check the signature before the write queue, where the key is already known.

    Ed25519 and the canonical encoding are the dearest part of an append that needs no
    lock; done here, they keep the queue of writers short. A key not yet known is
    looked up and checked by the append itself."""
    encoded = log.verify_known(signed.statement, signed.signature)
    return signed if encoded is None else replace(signed, verified=encoded)


def read_signed(statement: Mapping[str, Any], signature: str) -> SignedStatement:
    try:
        parsed = statement_from_json(statement)
    except InvalidInputError as e:
        raise InvalidInputError(str(e), field=f"statement.{e.field}") from None
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("signature is not base64", field="signature") from None
    if len(raw) != 64:
        raise InvalidInputError("an Ed25519 signature is 64 bytes", field="signature")
    return SignedStatement(parsed, raw)


def expect(signed: SignedStatement, *, type: str, subject: str, user: User) -> None:  # noqa: A002
    """The statement must be this endpoint's, about this subject, by the signed-in user."""
    statement = signed.statement
    # A client written before a kind was renamed still signs its old name (statement_kinds).
    if current(statement.type) != type:
        raise InvalidInputError(f"this request takes a {type!r} statement", field="statement.type")
    if statement.subject != subject:
        raise InvalidInputError(f"this request is about {subject}", field="statement.subject")
    if statement.actor != user.username:
        raise PermissionDeniedError("the statement's actor must be you")


def append(
    session: Session, log: CustodyLog, signed: SignedStatement, *, user: User, now: datetime
) -> Appended:
    try:
        return log.append_signed(
            session,
            signed.statement,
            signed.signature,
            now=now,
            signed_in_user=user,
            verified=signed.verified,
        )
    except InvalidInputError as e:
        if e.field in STATEMENT_MEMBERS:  # named as the request names it
            raise InvalidInputError(str(e), field=f"statement.{e.field}") from None
        raise


STATEMENT_MEMBERS = frozenset(
    {"log", "subject", "subject_seq", "subject_prev", "type", "when", "key", "actor"}
    | {"what", "where", "why"}
)
