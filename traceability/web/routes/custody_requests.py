"""The frame every signed custody step runs in over HTTP: one unit of the group commit.

Each step is a signed request (docs/signed-writes.md) whose statement's subject is the
unit it acts on: a vial's or a shipper's Digital Link URI. Requests may carry an
`Idempotency-Key` header: a retry with the same key and body gets the first answer
again instead of a second step; the same key with another body is refused. A replayed
signed request (its nonce seen before) is refused whatever the header. The frame
decides nothing about custody and reads no table: the steps and their checks are
`services.custody`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from traceability.custody_log.signed_requests import (
    SignedStatement,
    read_signed,
    verify_early,
)
from traceability.errors import InvalidInputError
from traceability.services.auth import Authenticated
from traceability.services.custody import frame, handoffs, idempotency, positions, steps
from traceability.web.context import ServiceContext

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]{8,128}$",
        description="Makes a retry safe: the same key and body get the first answer again.",
    ),
]


class StepDone(BaseModel):
    subject: str
    state: str | None
    custodian: str | None
    vials: int
    handoff: int | None = None
    expires_at: str | None = None
    log_index: int
    next_seq: int = Field(description="The subject's next statement goes here (sign against it)")
    prev: str | None = Field(description="Leaf hash (hex) the subject's next statement follows")


Action = Callable[
    [Session, positions.Unit, frame.Caller, SignedStatement, ServiceContext],
    positions.Offer | None,
]
"""One custody step; a handoff step returns its handoff, for the answer to name it."""


async def run_step(
    action: Action,
    statement: dict[str, Any],
    signature: str,
    auth: Authenticated,
    context: ServiceContext,
    key: str | None,
) -> JSONResponse:
    """The frame of every step: idempotency, the unit named by the subject, flagged scans.

    The step runs as one unit of the group commit (`storage.group_commit`): custody steps
    are the busiest writes, taken by couriers in bursts. An earlier answer to the same
    Idempotency-Key is looked up inside the unit, after the log's lock: a retry sent
    while the first attempt is still running waits for it and then gets its answer,
    instead of being refused as a replay of its nonce.
    """
    username = auth.user.username
    digest = idempotency.request_sha256(statement, signature) if key is not None else ""
    subject = statement.get("subject")
    if not isinstance(subject, str):
        raise InvalidInputError("subject is the unit's URI", field="statement.subject")
    signed = verify_early(context.log, read_signed(statement, signature))

    def unit_of_work(session: Session) -> tuple[int, dict[str, Any]]:
        context.log.lock(session)  # the step checks state, then appends: all of it serialised
        earlier = idempotency.earlier_answer(session, username, key, digest)
        if earlier is not None:
            return earlier
        # The user read by authentication just now, detached: steps only read it.
        caller = frame.Caller(auth.user, context.clock(), alarms=tuple(context.alarms()))
        unit = positions.unit_for(session, subject)
        handoff = action(session, unit, caller, signed, context)
        payload = _done(session, unit, caller, handoff, signed).model_dump()
        if key is not None:
            idempotency.keep_answer(
                session,
                username=username,
                key=key,
                digest=digest,
                status=201,
                body=payload,
                now=caller.now,
            )
        return 201, payload

    try:
        status, payload = await context.writer.run(unit_of_work)
    except frame.CustodyRefused as refused:
        await context.writer.run(partial(_keep_flag, context=context, refused=refused, by=username))
        raise
    return JSONResponse(payload, status_code=status)


def _keep_flag(
    session: Session, *, context: ServiceContext, refused: frame.CustodyRefused, by: str
) -> None:
    frame.keep_refused_scan(session, refused, by=by, now=context.clock())


def _done(
    session: Session,
    unit: positions.Unit,
    caller: frame.Caller,
    handoff: positions.Offer | None,
    signed: SignedStatement,
) -> StepDone:
    """The unit after the step, and where its next signed statement goes: a client that
    keeps going (a courier's phone, a scanner station) needs no extra round trip.

    The step's own entry is the unit's newest (the request's subject is the unit), so
    the next statement follows it."""
    entry = caller.signed_entries[-1]
    index = entry.index
    if unit.vial is not None:  # where the step moved it, else where it found it
        assert unit.vial.id is not None  # noqa: S101 - stored
        position, vials = caller.moved.get(unit.vial.id, unit.position), 1
    else:
        fresh = positions.unit_for(session, unit.uri)
        position, vials = fresh.position, len(fresh.vials)
    offered = handoff is not None and handoff.log_index == index  # this request offered it
    return StepDone(
        next_seq=signed.statement.subject_seq + 1,
        prev=entry.leaf_hash.hex(),
        subject=unit.uri,
        state=position.state.value if position else None,
        custodian=str(position.custodian) if position and position.custodian else None,
        vials=vials,
        log_index=index,
        handoff=handoff.id if handoff else None,
        expires_at=handoff.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if handoff and offered
        else None,
    )


# --- how each step is called: on a vial, on a vial or shipper, or with the settings -----


def on_vial(step: Callable[..., None]) -> Action:
    """A step taken on a lone vial: `step(session, log, signed, vial=, caller=)`."""

    def action(
        session: Session,
        unit: positions.Unit,
        caller: frame.Caller,
        signed: SignedStatement,
        context: ServiceContext,
    ) -> None:
        step(session, context.log, signed, vial=frame.vial_of(unit), caller=caller)

    return action


def on_unit(step: Callable[..., positions.Offer | None]) -> Action:
    """A step taken on a vial or a shipper: `step(session, log, signed, unit=, caller=)`."""

    def action(
        session: Session,
        unit: positions.Unit,
        caller: frame.Caller,
        signed: SignedStatement,
        context: ServiceContext,
    ) -> positions.Offer | None:
        return step(session, context.log, signed, unit=unit, caller=caller)

    return action


def pack_shipper(
    session: Session,
    unit: positions.Unit,
    caller: frame.Caller,
    signed: SignedStatement,
    context: ServiceContext,
) -> None:
    steps.pack(session, context.log, signed, shipper=frame.shipper_of(unit), caller=caller)


def offer_unit(
    session: Session,
    unit: positions.Unit,
    caller: frame.Caller,
    signed: SignedStatement,
    context: ServiceContext,
) -> positions.Offer:
    ttl = timedelta(minutes=context.settings.handoff_minutes)
    return handoffs.offer_handoff(session, context.log, signed, unit=unit, caller=caller, ttl=ttl)
