"""What every signed custody step shares: the request's checks, its entry, the moves.

A step (`steps`, `handoffs`) reads the person's signed statement through `expect`,
checks the scanned label and the custodian here, appends the person's entry with
`append` (which refuses a replayed nonce), then writes the vials' new positions with
`move`, the only writer of custody events. Nothing here decides whether a step is
allowed from a state: `domain.custody` does, and the steps ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from traceability.custody_log import signed_requests
from traceability.custody_log.appender import Appended, CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain.custody import (
    HELD,
    CustodyRequest,
    CustodyState,
    Party,
    Step,
    check_first_custody,
    check_handover_while_held,
)
from traceability.domain.label_tags import TagVerdict
from traceability.domain.qc_record import BatchState
from traceability.domain.statement_kinds import STEP_TYPES
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError
from traceability.services import sites as site_service
from traceability.services import vial_labels
from traceability.services.custody.positions import (
    EVENTS,
    Offer,
    Position,
    Unit,
    acts_for,
    making_lab,
    open_handoff,
    positions,
    site_party,
)
from traceability.services.stored import stored
from traceability.storage.database import connection_of
from traceability.storage.models import (
    Batch,
    LabelIssue,
    LabelScan,
    RequestNonce,
    Shipper,
    Site,
    User,
    Vial,
)

WHAT = "statement.what"


Request = TypeVar("Request", bound=CustodyRequest)


class CustodyRefused(ConflictError):
    """A step refused because of what was scanned: the label or the custodian.

    Carries the vial and the verdict so the caller can keep the flagged scan after the
    refused request's own unit of work is rolled back.
    """

    def __init__(self, message: str, *, vial_id: int, verdict: str, tag: str | None) -> None:
        super().__init__(message)
        self.vial_id = vial_id
        self.verdict = verdict
        self.tag = tag


class NotCustodian(CustodyRefused, PermissionDeniedError):
    """The signer does not hold the vial: someone else's custody (403, flagged)."""


def expect(
    signed: SignedStatement,
    kind: type[Request],
    *,
    type: str,  # noqa: A002
    subject: str,
    user: User,
) -> Request:
    """The statement is this step's, about this unit, by the caller: its `what` read,
    once, by the step's own model (which holds the nonce every step carries)."""
    signed_requests.expect(signed, type=type, subject=subject, user=user)
    return kind.from_what(signed.statement.what)


_NONCES = RequestNonce.__table__  # type: ignore[attr-defined]
_NONCE_USED = sa_select(_NONCES.c.id).where(_NONCES.c.nonce == bindparam("nonce"))
_KEEP_NONCE = {
    "sqlite": sqlite_insert(_NONCES)
    .on_conflict_do_nothing(index_elements=["nonce"])
    .returning(_NONCES.c.id),
    "postgresql": postgresql_insert(_NONCES)
    .on_conflict_do_nothing(index_elements=["nonce"])
    .returning(_NONCES.c.id),
}
"""Keeps a request's nonce unless it is already kept: a replay stores nothing and
returns no row (no read first, in the write lock of every step)."""
REPLAY = "this signed request was already used (a replay); sign a new one"


def append(
    session: Session, log: CustodyLog, signed: SignedStatement, nonce: str, caller: Caller
) -> Appended:
    """Append the caller's signed statement, and keep its nonce so that it is never
    appended again. A replay fails here: its subject has moved on since the first time
    (then the nonce says why), or its nonce is taken (then the unit of work, entry
    included, is rolled back by the caller)."""
    user, now = caller.user, caller.now
    connection = connection_of(session)
    try:
        appended = signed_requests.append(session, log, signed, user=user, now=now)
    except ConflictError:
        if connection.execute(_NONCE_USED, {"nonce": nonce}).first() is not None:
            raise ConflictError(REPLAY) from None
        raise
    kept = connection.execute(
        _KEEP_NONCE[connection.dialect.name],
        {"nonce": nonce, "username": user.username, "log_index": appended.index, "created_at": now},
    ).first()
    if kept is None:
        raise ConflictError(REPLAY)
    caller.signed_entries.append(appended)
    return appended


def check_tag(session: Session, unit: Unit, tag: str | None) -> None:
    """A scanned label must be the vial's current one; anything else is refused, flagged."""
    if tag is None or unit.vial is None:
        return
    judgement = vial_labels.judge_scan(session, unit.vial, tag)
    if judgement.verdict is not TagVerdict.valid:
        assert unit.vial.id is not None  # noqa: S101 - stored
        raise CustodyRefused(
            f"the scanned label is {judgement.verdict}: check the vial before taking it",
            vial_id=unit.vial.id,
            verdict=judgement.verdict.value,
            tag=tag,
        )


def state_of(unit: Unit) -> CustodyState:
    if unit.position is None:
        raise ConflictError(f"{unit.name} is empty")
    return unit.position.state


def require_custodian(session: Session, unit: Unit, user: User, tag: str | None) -> Position:
    position = unit.position
    if position is None:
        raise ConflictError(f"{unit.name} is empty")
    if not acts_for(session, user, position.custodian):
        holder = str(position.custodian) if position.custodian else "nobody yet"
        vial_id = unit.vial.id if unit.vial and unit.vial.id else (unit.vials[0].id or 0)
        raise NotCustodian(
            f"{unit.name} is in the custody of {holder}, not yours",
            vial_id=vial_id,
            verdict="in other custody",
            tag=tag,
        )
    return position


def move(
    session: Session,
    log: CustodyLog,
    unit: Unit,
    step: Step,
    *,
    state: CustodyState,
    custodian: Party | None,
    appended: Appended,
    caller: Caller,
    site: Site | None = None,
    shipper_id: int | None = None,
    handoff: Offer | None = None,
    detail: dict[str, Any] | None = None,
    location: tuple[int | None, str | None, str | None, str | None] = (None, None, None, None),
) -> None:
    """One custody event per vial; on a shipper, one service entry per vial as well.

    The events are written as plain rows in one statement (SQLAlchemy Core): a shipper
    may hold hundreds of vials, and every custody step writes them. The caller notes
    each vial's new position (`Caller.moved`), for the answer to the request."""
    user, now = caller.user, caller.now
    if unit.shipper is None and unit.vial is not None and unit.position is not None:
        before = {unit.vial.id or 0: unit.position}  # a lone vial: already read
    else:
        before = positions(session, [v.id for v in unit.vials if v.id is not None])
    unit_id, rack, box, position = location
    events: list[dict[str, Any]] = []
    for vial in unit.vials:
        assert vial.id is not None  # noqa: S101 - stored
        index = appended.index
        if unit.shipper is not None:
            what: dict[str, Any] = {"shipper": unit.shipper.uri, "request_entry": appended.index}
            if custodian is not None:
                what["custodian"] = str(custodian)
            index = log.append_as_service(
                session,
                subject=vial.uri,
                type=STEP_TYPES[step],
                now=now,
                what=what,
                why={"bizStep": BIZ_STEP[step]},
            ).index
        site_id = (
            site.id
            if site
            else (None if custodian and custodian.kind == "user" else before[vial.id].site_id)
        )
        caller.moved[vial.id] = Position(
            state, custodian, site_id, unit_id, rack, box, position, shipper_id
        )
        events.append(
            {
                "vial_id": vial.id,
                "step": step.value,
                "state": state.value,
                "custodian": str(custodian) if custodian else None,
                "site_id": site_id,
                "unit_id": unit_id,
                "rack": rack,
                "box": box,
                "position": position,
                "shipper_id": shipper_id,
                "handoff_id": handoff.id if handoff else None,
                "detail": detail,
                "by": user.username,
                "log_index": index,
                "created_at": now,
            }
        )
    connection_of(session).execute(EVENTS.insert(), events)


BIZ_STEP = {
    Step.store: "storing",
    Step.pack: "packing",
    Step.hand_to_courier: "departing",
    Step.dispatch: "shipping",
    Step.hand_to_site: "arriving",
    Step.receive: "receiving",
    Step.administer: "dispensing",
    Step.destroy: "destroying",
}
"""The GS1 CBV business step each custody step corresponds to (for EPCIS export)."""


@dataclass
class Caller:
    """Who takes a step and when; the step notes the log index of the caller's entry."""

    user: User
    now: datetime
    signed_entries: list[Appended] = field(default_factory=list)
    """The caller's own signed entries this request appended (one per step; the
    per-vial service entries of a shipper step are not among them)."""
    moved: dict[int, Position] = field(default_factory=dict)
    """Where each vial this request moved stands now (`move` is the only writer of
    custody events, so a vial not here stands where the step found it)."""
    alarms: tuple[str, ...] = ()
    """What the last self-check found: no vial is administered meanwhile."""


def check_maker(session: Session, vial: Vial, position: Position, user: User) -> None:
    """A commissioned vial is acted on only by its making lab (`check_first_custody`).
    A batch registered without a site (a one-site install) leaves it to the route's
    roles and, for storage, to the site it is stored at."""
    if position.state is not CustodyState.commissioned:
        return
    maker = making_lab(session, vial)
    if maker is not None:
        check_first_custody(
            position.state,
            maker=maker.code,
            acts_for_maker=site_service.is_member(session, maker, user),
        )


def check_not_offered(session: Session, vial: Vial, position: Position, now: datetime) -> None:
    """While a handoff of the vial (or of its shipper) is open, its contents are frozen:
    what the receiver accepts must be exactly what was offered."""
    units = [vial.uri]
    if position.shipper_id is not None:
        shipper = session.get(Shipper, position.shipper_id)
        if shipper is not None:
            units.append(shipper.uri)
    for uri in units:
        pending = open_handoff(session, uri, now)
        if pending is not None:
            raise ConflictError(
                f"a handoff to {pending.to_party} is open until "
                f"{pending.expires_at:%Y-%m-%d %H:%M} UTC; it completes or lapses first"
            )


def check_not_held(session: Session, unit: Unit, *, to: Party, holder: Party | None) -> None:
    """`domain.custody.check_handover_while_held` for each batch the unit's vials are of.

    The batch's state is read from its row here, where a refusal fails safe; giving a
    vial to a patient rests on the batch's proven decisions (`steps`)."""
    for batch_id in sorted({v.batch_id for v in unit.vials}):
        batch = session.get(Batch, batch_id)
        assert batch is not None  # noqa: S101 - a foreign key
        state = stored(BatchState, batch.state, f"batch {batch.lot}")
        if state not in HELD:
            continue  # the common case: no read of the lab on every handoff
        maker = session.get(Site, batch.site_id) if batch.site_id is not None else None
        check_handover_while_held(
            state,
            lot=batch.lot,
            unit=unit.name,
            to=to,
            holder=holder,
            home=site_party(maker) if maker is not None else None,
        )


def refuse_packed_vial(unit: Unit) -> None:
    """A packed vial moves only with its shipper: a step on the vial alone is refused."""
    if unit.vial is not None and unit.position and unit.position.shipper_id is not None:
        raise ConflictError("the vial is packed in a shipper: hand over the shipper")


def vial_of(unit: Unit) -> Vial:
    """The vial a vial's step names; a shipper's URI is refused, naming the subject."""
    if unit.vial is None:
        raise InvalidInputError("this step is taken on a vial", field="statement.subject")
    return unit.vial


def shipper_of(unit: Unit) -> Shipper:
    """The shipper a shipper's step names; a vial's URI is refused, naming the subject."""
    if unit.shipper is None:
        raise InvalidInputError("this step is taken on a shipper", field="statement.subject")
    return unit.shipper


def keep_refused_scan(session: Session, refused: CustodyRefused, *, by: str, now: datetime) -> None:
    """Keep the flagged scan after the refused step rolled back: never silently accepted.

    Runs in a unit of work of its own, after the step's was rolled back."""
    label = (
        session.exec(select(LabelIssue).where(LabelIssue.tag == refused.tag)).first()
        if refused.tag and len(refused.tag) <= 32
        else None
    )
    session.add(
        LabelScan(
            vial_id=refused.vial_id,
            label_id=label.id if label else None,
            tag=refused.tag,
            verdict=refused.verdict,
            by=by,
            created_at=now,
        )
    )
