"""Earlier answers to a custody request, kept under the sender's Idempotency-Key.

A courier's phone on a bad connection sends a step again; with the same key and body
it gets the first answer instead of a second step (or a refusal of its nonce as a
replay). The answers are read and written inside the step's own unit of work, after
the log's lock, so a retry sent while the first attempt runs waits for it. Nothing
here checks or takes a step.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from traceability.errors import InvalidInputError
from traceability.storage.models import IdempotentResponse


def request_sha256(statement: dict[str, Any], signature: str) -> str:
    """The request's fingerprint: the same key with another body is refused."""
    raw = json.dumps(
        {"statement": statement, "signature": signature}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(raw.encode()).hexdigest()


def earlier_answer(
    session: Session, username: str, key: str | None, digest: str
) -> tuple[int, dict[str, Any]] | None:
    """The stored answer to this person's request with this Idempotency-Key, if any."""
    if key is None:
        return None
    earlier = session.exec(
        select(IdempotentResponse).where(
            IdempotentResponse.username == username, IdempotentResponse.key == key
        )
    ).first()
    if earlier is None:
        return None
    if earlier.request_sha256 != digest:
        raise InvalidInputError(
            "this Idempotency-Key was used for a different request", field="Idempotency-Key"
        )
    return earlier.status, earlier.body


def keep_answer(
    session: Session,
    *,
    username: str,
    key: str,
    digest: str,
    status: int,
    body: dict[str, Any],
    now: datetime,
) -> None:
    """Keep the answer for a retry with the same key; in the step's unit of work, so
    it is kept exactly when the step is."""
    session.add(
        IdempotentResponse(
            username=username,
            key=key,
            request_sha256=digest,
            status=status,
            body=body,
            created_at=now,
        )
    )
