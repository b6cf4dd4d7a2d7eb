"""Logger files: reading one (a CSV export or EPCIS 2.0 sensor data) into readings, and
finding a stored one again to plot it.

One parser for the upload route and the trace page: what is plotted is what was judged
for excursions when the file arrived, read from the very bytes the log's entry names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, NoReturn

from sqlmodel import Session, select

from traceability.custody_log.evidence import LogEvidence, Unproven
from traceability.domain import cold_chain as rules
from traceability.errors import InvalidInputError, UnprovenError
from traceability.storage.models import TemperatureFile, TemperatureUpload

Source = Literal["csv", "epcis"]


def parse(source: Source, data: bytes) -> list[rules.Reading]:
    """Parse the whole file, or refuse it whole naming where it is wrong."""
    if source == "csv":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise InvalidInputError(
                f"line {line}: the file is not UTF-8 text; export it as UTF-8 CSV",
                field=rules.CSV_FIELD,
            ) from None
        return rules.parse_logger_csv(text)
    try:
        document = json.loads(data, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        where = (
            f" at line {error.lineno}, column {error.colno}"
            if isinstance(error, json.JSONDecodeError)
            else ""
        )
        raise InvalidInputError(
            f"the body is not valid JSON{where}: "
            f"{error.msg if isinstance(error, json.JSONDecodeError) else 'unreadable'}",
            field="body",
        ) from None
    if not isinstance(document, dict) or rules.SENSOR_FIELD not in document:
        raise InvalidInputError(
            "send an object with a sensorElementList (EPCIS 2.0 sensor data)",
            field=rules.SENSOR_FIELD,
        )
    return rules.parse_sensor_readings(document[rules.SENSOR_FIELD])


def keep(session: Session, sha256: str, data: bytes, now: datetime) -> None:
    """Store the file's bytes (whose SHA-256 is `sha256`) once: two places may be sent the
    same file."""
    if session.exec(select(TemperatureFile.id).where(TemperatureFile.sha256 == sha256)).first():
        return
    session.add(TemperatureFile(sha256=sha256, data=data, created_at=now))


@dataclass(frozen=True)
class Trace:
    """An upload's readings and what its proven entry says of them."""

    upload: TemperatureUpload
    readings: list[rules.Reading]
    limits: rules.TemperatureLimits
    excursions: list[rules.Excursion]
    uploaded_by: str
    """As the entry names them, not the row."""


UPLOADED = "coldchain.readings.uploaded"


def trace(
    session: Session, evidence: LogEvidence, upload: TemperatureUpload, *, place_uri: str
) -> Trace:
    """The upload's readings from its kept file, once its entry is proven to be an upload
    about `place_uri` (where the row says the logger was) naming exactly these bytes;
    UnprovenError (409, with the finding) otherwise."""
    record = f"temperature upload {upload.id}"
    proven = evidence.prove(upload.log_index)
    if isinstance(proven, Unproven):
        _unproven(f"{record}: entry {proven.index} {proven.kind}: {proven.detail}")
    entry = proven.entry
    if entry.type != UPLOADED or entry.subject != place_uri:
        _unproven(f"{record}: entry {entry.index} is not an upload for {place_uri}")
    what = entry.what
    named = what.get("sha256")
    kept = session.exec(select(TemperatureFile).where(TemperatureFile.sha256 == named)).first()
    if kept is None:
        _unproven(
            f"{record}: no kept file with the SHA-256 its entry names (uploaded before logger "
            "files were kept, or removed from the database)"
        )
    if hashlib.sha256(kept.data).hexdigest() != named or upload.sha256 != named:
        _unproven(f"{record}: the kept file is not the one its entry names")
    limits = _limits(what.get("limits"))
    source: Source = "epcis" if what.get("source") == "epcis" else "csv"
    readings = parse(source, kept.data)
    if len(readings) != what.get("readings"):
        _unproven(f"{record}: the kept file has {len(readings)} readings, its entry another count")
    by = what.get("uploaded_by")
    return Trace(
        upload,
        readings,
        limits,
        rules.find_excursions(readings, limits),
        by if isinstance(by, str) else "",
    )


def _limits(what: object) -> rules.TemperatureLimits:
    """The limits as the entry recorded them when the file was judged."""
    values = what if isinstance(what, dict) else {}

    def celsius(name: str) -> Decimal | None:
        value = values.get(name)
        return Decimal(value) if isinstance(value, str) else None

    minutes = values.get("allowed_excursion_minutes")
    return rules.TemperatureLimits(
        celsius("max_celsius"),
        celsius("min_celsius"),
        timedelta(minutes=minutes if isinstance(minutes, int) else 0),
    )


def _unproven(finding: str) -> NoReturn:
    raise UnprovenError(f"{finding} (run reconcile)", findings=[finding])
