"""Cold chain use cases: temperature uploads, the excursions they reveal, QA's closures.

An upload is one unit of work: the readings' log entry (`coldchain.readings.uploaded`,
about the storage unit or shipper), the upload row, each excursion the plain rules of
`domain.cold_chain` find under the place's limits, and for every vial that was there
during an excursion a `coldchain.excursion` entry in that vial's own chain. Any error
stores nothing, so a file is either fully accounted for or not at all.

Which vials an excursion touched is read from `custody_events`: a vial is in a storage
unit from an event naming that unit until its next event, and in a shipper from an
event naming that shipper until its next event (which names it again, or does not and
so ends the stay). An excursion touches a vial whose stay overlaps it. An excursion the
data ends in (no reading back inside) is taken to last until further data shows
otherwise: we do not know that the unit cooled down, so vials put in after the last
reading count too.

An excursion stays open, and blocks release of every batch with an affected vial,
until QA closes it with an assessment: a statement QA signs about the excursion's own
URI (`coldchain.excursion.closed`). Nothing here updates a row: closing adds one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any
from urllib.parse import quote

from sqlmodel import Session, col, select

from traceability.clock import as_utc, rfc3339
from traceability.custody_log import signed_requests
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.signed_requests import SignedStatement
from traceability.domain import cold_chain as rules
from traceability.domain.actor import Actor
from traceability.domain.changes import diff
from traceability.domain.roles import Role, parse_roles
from traceability.domain.statement_kinds import EXCURSION_DETECTED
from traceability.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from traceability.services import audit_trail, logger_files
from traceability.storage.models import (
    Batch,
    CustodyEvent,
    Excursion,
    ExcursionClosure,
    ExcursionVial,
    Shipper,
    Site,
    StorageUnit,
    TemperatureUpload,
    User,
    Vial,
)

UPLOADED = "coldchain.readings.uploaded"
EXCURSION = EXCURSION_DETECTED
CLOSED = "coldchain.excursion.closed"
BIZ_STEP = "sensor_reporting"
"""The GS1 CBV 2.0 business step for sensor data."""

Source = logger_files.Source
SOURCES: tuple[Source, ...] = ("csv", "epcis")
WHAT = "statement.what"


# --- identifiers --------------------------------------------------------------------


def unit_uri(resolver: str, site_code: str, unit_code: str) -> str:
    """A storage unit's subject in the log: `{resolver}/sites/{site}/units/{unit}`.

    Storage units have no GS1 identifier of their own; this URI is the only name the
    log uses for one, so it is built here and nowhere else.
    """
    return (
        f"{resolver.rstrip('/')}/sites/{quote(site_code, safe='')}"
        f"/units/{quote(unit_code, safe='')}"
    )


def excursion_uri(resolver: str, excursion_id: int) -> str:
    """An excursion's subject in the log: QA's closure is a statement about it."""
    return f"{resolver.rstrip('/')}/excursions/{excursion_id}"


# --- where readings were taken --------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A storage unit or a shipper: its log subject, a readable name, and its limits."""

    uri: str
    name: str
    unit: StorageUnit | None
    shipper: Shipper | None
    limits: rules.TemperatureLimits

    @property
    def id(self) -> int:
        row = self.unit or self.shipper
        assert row is not None and row.id is not None  # noqa: S101 - one of them, stored
        return row.id

    def holds(self, event: CustodyEvent) -> bool:
        """Whether a custody event leaves its vial here."""
        if self.unit is not None:
            return event.unit_id == self.id
        return event.shipper_id == self.id


def limits_of(row: StorageUnit | Shipper) -> rules.TemperatureLimits:
    return rules.TemperatureLimits(
        max_celsius=Decimal(row.max_celsius) if row.max_celsius is not None else None,
        min_celsius=Decimal(row.min_celsius) if row.min_celsius is not None else None,
        allowed_excursion=timedelta(minutes=row.allowed_excursion_minutes),
    )


def limits_text(row: StorageUnit | Shipper) -> str:
    """A unit's or shipper's limits as people write them: "<= -150 °C, 10 min allowed"."""
    return limits_words(limits_of(row))


def limits_words(limits: rules.TemperatureLimits) -> str:
    high, low = limits.max_celsius, limits.min_celsius
    if high is not None and low is not None:
        text = f"{low} to {high} °C"
    elif high is not None:
        text = f"<= {high} °C"
    else:
        text = f">= {low} °C"
    minutes = int(limits.allowed_excursion.total_seconds() // 60)
    return f"{text}, {minutes} min allowed outside"


def upload_place(session: Session, upload: TemperatureUpload, resolver: str) -> Place:
    """Where the row says an upload's logger was; NotFoundError for an unknown upload."""
    if upload.unit_id is not None:
        unit = session.get(StorageUnit, upload.unit_id)
        if unit is not None:
            return unit_place(session, unit, resolver)
    shipper = session.get(Shipper, upload.shipper_id) if upload.shipper_id is not None else None
    if shipper is None:
        raise NotFoundError(f"temperature upload {upload.id} names no unit or shipper")
    return shipper_place(shipper)


def get_upload(session: Session, upload_id: int) -> TemperatureUpload:
    upload = session.get(TemperatureUpload, upload_id)
    if upload is None:
        raise NotFoundError(f"no temperature upload {upload_id}")
    return upload


def unit_place(session: Session, unit: StorageUnit, resolver: str) -> Place:
    site = session.get(Site, unit.site_id)
    assert site is not None  # noqa: S101 - a foreign key
    return Place(
        uri=unit_uri(resolver, site.code, unit.code),
        name=f"{site.code}/{unit.code}",
        unit=unit,
        shipper=None,
        limits=limits_of(unit),
    )


def shipper_place(shipper: Shipper) -> Place:
    return Place(
        uri=shipper.uri,
        name=f"shipper {shipper.sscc}",
        unit=None,
        shipper=shipper,
        limits=limits_of(shipper),
    )


def find_unit(session: Session, site_code: str, unit_code: str) -> tuple[Site, StorageUnit]:
    """A site's storage unit named in a URL path (404 if either is unknown)."""
    site = session.exec(select(Site).where(Site.code == site_code)).first()
    if site is None:
        raise NotFoundError(f"no site {site_code!r}")
    unit = session.exec(
        select(StorageUnit).where(StorageUnit.site_id == site.id, StorageUnit.code == unit_code)
    ).first()
    if unit is None:
        raise NotFoundError(f"{site.code} has no storage unit {unit_code!r}")
    return site, unit


def breached_limit(limits: rules.TemperatureLimits, kind: rules.ExcursionKind) -> str:
    """The limit an excursion crossed, as it is written on the unit: "<= -150 °C"."""
    if kind == "above":
        return f"<= {limits.max_celsius} °C"
    return f">= {limits.min_celsius} °C"


# --- which vials were there -------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    """A vial's time in one place: from `start` until `end` (None: still there)."""

    vial_id: int
    start: datetime
    end: datetime | None

    def overlaps(self, excursion: rules.Excursion) -> bool:
        # Half-open on both: a vial taken out at the moment the excursion starts, or
        # put in at the moment a reading shows the place back inside, was not exposed.
        before_end = excursion.end is None or self.start < excursion.end
        after_start = self.end is None or self.end > excursion.start
        return before_end and after_start


def stays(session: Session, place: Place) -> list[Stay]:
    """Every period any vial spent in the place, from the custody events."""
    column = col(CustodyEvent.unit_id) if place.unit else col(CustodyEvent.shipper_id)
    visitors = select(CustodyEvent.vial_id).where(column == place.id).distinct()
    events = session.exec(
        select(CustodyEvent)
        .where(col(CustodyEvent.vial_id).in_(visitors))
        .order_by(col(CustodyEvent.vial_id), col(CustodyEvent.id))
    ).all()
    found: list[Stay] = []
    for vial_id, rows in groupby(events, key=lambda event: event.vial_id):
        history = list(rows)
        for here, after in zip(history, [*history[1:], None], strict=True):
            if place.holds(here):
                found.append(Stay(vial_id, here.created_at, after.created_at if after else None))
    return found


def affected_vials(session: Session, visits: Sequence[Stay], run: rules.Excursion) -> list[Vial]:
    ids = sorted({stay.vial_id for stay in visits if stay.overlaps(run)})
    if not ids:
        return []
    return list(session.exec(select(Vial).where(col(Vial.id).in_(ids)).order_by(col(Vial.id))))


# --- uploads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    upload: TemperatureUpload
    excursions: list[Excursion]
    """Excursions this upload found first."""
    already_recorded: list[Excursion] = field(default_factory=list)
    """Excursions an earlier upload for the same place already recorded, found again
    here (overlapping logger files): the same event, never a second open excursion."""


def same_excursion(session: Session, place: Place, run: rules.Excursion) -> Excursion | None:
    """The recorded excursion this run is part of: same place, same kind, overlapping time.

    Two logger files for one unit or shipper often overlap (a logger read out twice, a
    second logger in the same tank). An excursion seen in both is one event; recording
    it again would leave QA two open excursions to assess for one warming.
    """
    column = col(Excursion.unit_id) if place.unit else col(Excursion.shipper_id)
    for known in session.exec(
        select(Excursion)
        .where(column == place.id, Excursion.kind == run.kind)
        .order_by(col(Excursion.id))
    ):
        known_end = as_utc(known.end_at) if known.end_at is not None else None
        if (run.end is None or as_utc(known.start_at) <= run.end) and (
            known_end is None or run.start <= known_end
        ):
            return known
    return None


def _check_new(session: Session, place: Place, sha256: str) -> None:
    column = col(TemperatureUpload.unit_id) if place.unit else col(TemperatureUpload.shipper_id)
    earlier = session.exec(
        select(TemperatureUpload).where(column == place.id, TemperatureUpload.sha256 == sha256)
    ).first()
    if earlier is not None:
        raise ConflictError(
            f"this file was already uploaded for {place.name} by {earlier.uploaded_by} "
            f"(upload {earlier.id}, log entry {earlier.log_index})"
        )


def _run_what(
    run: rules.Excursion, limits: rules.TemperatureLimits, same_as: Excursion | None = None
) -> dict[str, Any]:
    return {
        **({"same_as_excursion": same_as.id} if same_as is not None else {}),
        "kind": run.kind,
        "start": rfc3339(run.start),
        "end": rfc3339(run.end) if run.end is not None else None,
        "peak_celsius": str(run.peak_celsius),
        "limit": breached_limit(limits, run.kind),
        "duration_seconds": int(run.duration.total_seconds()),
    }


def _limits_what(limits: rules.TemperatureLimits) -> dict[str, Any]:
    return {
        "max_celsius": str(limits.max_celsius) if limits.max_celsius is not None else None,
        "min_celsius": str(limits.min_celsius) if limits.min_celsius is not None else None,
        "allowed_excursion_minutes": int(limits.allowed_excursion.total_seconds() // 60),
    }


CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock a logger's reading may be before it is refused."""


def upload(
    session: Session,
    log: CustodyLog,
    *,
    unit: StorageUnit | None = None,
    shipper: Shipper | None = None,
    readings: Sequence[rules.Reading],
    source: Source,
    data: bytes,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> Uploaded:
    """Record a logger's readings (parsed from `data`) for a unit or shipper, and every
    excursion in them; the file's bytes are kept as the original record, named by their
    SHA-256 (`logger_files.keep`)."""
    sha256 = hashlib.sha256(data).hexdigest()
    if unit is not None and shipper is None:
        place = unit_place(session, unit, resolver)
    elif shipper is not None and unit is None:
        place = shipper_place(shipper)
    else:
        raise ValueError("readings belong to exactly one storage unit or shipper")
    if source not in SOURCES:
        raise InvalidInputError(f"source is one of {', '.join(SOURCES)}", field="source")
    if not readings:
        raise InvalidInputError("no readings", field="file")
    future = next((n for n, r in enumerate(readings) if r.at > now + CLOCK_SKEW), None)
    if future is not None:
        raise InvalidInputError(
            f"reading {future + 1} is dated {rfc3339(readings[future].at)}, in the future: "
            "check the logger's clock",
            field="file",
        )
    runs = rules.find_excursions(readings, place.limits)
    _check_new(session, place, sha256)
    known = [same_excursion(session, place, run) for run in runs]
    entry = log.append_as_service(
        session,
        subject=place.uri,
        type=UPLOADED,
        now=now,
        what={
            "source": source,
            "sha256": sha256,
            "readings": len(readings),
            "first": rfc3339(readings[0].at),
            "last": rfc3339(readings[-1].at),
            "uploaded_by": user.username,
            "limits": _limits_what(place.limits),
            "excursions": [
                _run_what(run, place.limits, same) for run, same in zip(runs, known, strict=True)
            ],
        },
        why={"bizStep": BIZ_STEP},
    )
    row = TemperatureUpload(
        unit_id=unit.id if unit else None,
        shipper_id=shipper.id if shipper else None,
        source=source,
        sha256=sha256,
        readings=len(readings),
        first_at=readings[0].at,
        last_at=readings[-1].at,
        uploaded_by=user.username,
        log_index=entry.index,
        created_at=now,
    )
    session.add(row)
    logger_files.keep(session, sha256, data, now)
    session.flush()
    assert row.id is not None  # noqa: S101 - flushed
    visits = stays(session, place) if runs else []
    excursions: list[Excursion] = []
    for run, same in zip(runs, known, strict=True):
        if same is None:
            excursions.append(
                _record_excursion(session, log, place, run, upload=row, visits=visits, now=now)
            )
        else:
            _log_on_vials(session, log, place, same, run, upload=row, visits=visits, now=now)
    already = [same for same in known if same is not None]
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="create",
        record_type="temperature upload",
        record_id=str(row.id),
        changes=diff(
            None,
            {
                "place": place.name,
                "source": source,
                "sha256": sha256,
                "readings": len(readings),
                "excursions": len(excursions),
                "already_recorded_excursions": len(already),
                "log_index": entry.index,
            },
        ),
    )
    return Uploaded(row, excursions, already)


def _record_excursion(
    session: Session,
    log: CustodyLog,
    place: Place,
    run: rules.Excursion,
    *,
    upload: TemperatureUpload,
    visits: Sequence[Stay],
    now: datetime,
) -> Excursion:
    assert upload.id is not None  # noqa: S101 - flushed
    row = Excursion(
        upload_id=upload.id,
        unit_id=upload.unit_id,
        shipper_id=upload.shipper_id,
        kind=run.kind,
        start_at=run.start,
        end_at=run.end,
        peak_celsius=str(run.peak_celsius),
        limit=breached_limit(place.limits, run.kind),
        log_index=upload.log_index,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _log_on_vials(session, log, place, row, run, upload=upload, visits=visits, now=now)
    return row


def _log_on_vials(
    session: Session,
    log: CustodyLog,
    place: Place,
    excursion: Excursion,
    run: rules.Excursion,
    *,
    upload: TemperatureUpload,
    visits: Sequence[Stay],
    now: datetime,
) -> None:
    """An excursion entry on each vial the run touched that the excursion does not yet
    name (all of them for a new excursion; for one recorded before, the vials a longer
    view of the same event adds)."""
    assert excursion.id is not None  # noqa: S101 - flushed
    named = set(
        session.exec(
            select(ExcursionVial.vial_id).where(ExcursionVial.excursion_id == excursion.id)
        )
    )
    what = {
        "excursion": excursion.id,
        **_run_what(run, place.limits),
        "allowed_excursion_minutes": _limits_what(place.limits)["allowed_excursion_minutes"],
        ("unit" if place.unit else "shipper"): place.uri,
        "upload_entry": upload.log_index,
    }
    for vial in affected_vials(session, visits, run):
        assert vial.id is not None  # noqa: S101 - stored
        if vial.id in named:
            continue
        appended = log.append_as_service(
            session,
            subject=vial.uri,
            type=EXCURSION,
            now=now,
            what=what,
            where={"bizLocation": place.uri},
            why={"bizStep": BIZ_STEP},
        )
        session.add(
            ExcursionVial(excursion_id=excursion.id, vial_id=vial.id, log_index=appended.index)
        )
    session.flush()


# --- closing --------------------------------------------------------------------------------


def closure_of(session: Session, excursion: Excursion) -> ExcursionClosure | None:
    return session.exec(
        select(ExcursionClosure).where(ExcursionClosure.excursion_id == excursion.id)
    ).first()


def excursion_by_id(session: Session, excursion_id: int) -> Excursion:
    row = session.get(Excursion, excursion_id)
    if row is None:
        raise NotFoundError(f"no excursion {excursion_id}")
    return row


def _requested(session: Session, closing: rules.ExcursionClosing) -> Excursion:
    row = session.get(Excursion, closing.excursion)
    if row is None:
        raise InvalidInputError(f"no excursion {closing.excursion}", field=f"{WHAT}.excursion")
    return row


def close(
    session: Session,
    log: CustodyLog,
    signed: SignedStatement,
    *,
    user: User,
    actor: Actor,
    resolver: str,
    now: datetime,
) -> ExcursionClosure:
    """QA closes an excursion with an assessment, signed on QA's device; once only.

    The request is read once, by its kind's model (`ExcursionClosing`). The excursion is
    named by `what.excursion`, and the statement must be about that excursion's URI, so
    a signature cannot be moved from one excursion to another.
    """
    closing = rules.ExcursionClosing.from_what(signed.statement.what)
    excursion = _requested(session, closing)
    assert excursion.id is not None  # noqa: S101 - stored
    signed_requests.expect(
        signed, type=CLOSED, subject=excursion_uri(resolver, excursion.id), user=user
    )
    if Role.qa not in parse_roles(user.roles):
        raise PermissionDeniedError("only QA closes an excursion")
    earlier = closure_of(session, excursion)
    if earlier is not None:
        raise ConflictError(
            f"excursion {excursion.id} was already closed by {earlier.closed_by} "
            f"(log entry {earlier.log_index})"
        )
    appended = signed_requests.append(session, log, signed, user=user, now=now)
    row = ExcursionClosure(
        excursion_id=excursion.id,
        assessment=closing.assessment,
        closed_by=user.username,
        log_index=appended.index,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit_trail.record(
        session,
        actor=actor,
        at=now,
        action="close",
        record_type="excursion",
        record_id=str(excursion.id),
        changes=diff({"state": "open"}, {"state": "closed", "log_index": appended.index}),
        reason=closing.assessment,
    )
    return row


# --- reading ----------------------------------------------------------------------------------


def _closed_ids() -> Any:
    return select(ExcursionClosure.excursion_id)


def open_excursions_for_batch(session: Session, batch: Batch) -> list[Excursion]:
    """Excursions not yet closed by QA that touched any vial of the batch (release gate)."""
    return list(
        session.exec(
            select(Excursion)
            .join(ExcursionVial, col(ExcursionVial.excursion_id) == col(Excursion.id))
            .join(Vial, col(Vial.id) == col(ExcursionVial.vial_id))
            .where(Vial.batch_id == batch.id, col(Excursion.id).not_in(_closed_ids()))
            .distinct()
            .order_by(col(Excursion.id))
        ).all()
    )


def excursions_for_vial(session: Session, vial: Vial) -> list[Excursion]:
    """Every excursion that touched the vial, open or closed, oldest first."""
    return list(
        session.exec(
            select(Excursion)
            .join(ExcursionVial, col(ExcursionVial.excursion_id) == col(Excursion.id))
            .where(ExcursionVial.vial_id == vial.id)
            .order_by(col(Excursion.id))
        ).all()
    )


@dataclass(frozen=True)
class ExcursionView:
    """An excursion with where it happened, the vials it touched and its closure."""

    excursion: Excursion
    uri: str
    place: Place
    vials: list[tuple[Vial, int]]
    """(vial, log index of its `coldchain.excursion` entry)."""
    closure: ExcursionClosure | None

    @property
    def is_open(self) -> bool:
        return self.closure is None


def view(session: Session, excursion: Excursion, resolver: str) -> ExcursionView:
    assert excursion.id is not None  # noqa: S101 - stored
    if excursion.unit_id is not None:
        unit = session.get(StorageUnit, excursion.unit_id)
        assert unit is not None  # noqa: S101 - a foreign key
        place = unit_place(session, unit, resolver)
    else:
        shipper = session.get(Shipper, excursion.shipper_id)
        assert shipper is not None  # noqa: S101 - a foreign key
        place = shipper_place(shipper)
    touched = session.exec(
        select(Vial, ExcursionVial.log_index)
        .join(ExcursionVial, col(ExcursionVial.vial_id) == col(Vial.id))
        .where(ExcursionVial.excursion_id == excursion.id)
        .order_by(col(Vial.id))
    ).all()
    return ExcursionView(
        excursion=excursion,
        uri=excursion_uri(resolver, excursion.id),
        place=place,
        vials=[(vial, index) for vial, index in touched],
        closure=closure_of(session, excursion),
    )


def list_excursions(
    session: Session, *, open_only: bool, resolver: str, limit: int = 200
) -> list[ExcursionView]:
    """Excursions newest first: only the open ones, or all."""
    query = select(Excursion).order_by(col(Excursion.id).desc()).limit(limit)
    if open_only:
        query = query.where(col(Excursion.id).not_in(_closed_ids()))
    return [view(session, row, resolver) for row in session.exec(query).all()]


def uploads_for(session: Session, place: Place, *, limit: int = 5) -> Sequence[TemperatureUpload]:
    """The place's latest uploads, newest first."""
    column = col(TemperatureUpload.unit_id) if place.unit else col(TemperatureUpload.shipper_id)
    return session.exec(
        select(TemperatureUpload)
        .where(column == place.id)
        .order_by(col(TemperatureUpload.id).desc())
        .limit(limit)
    ).all()
