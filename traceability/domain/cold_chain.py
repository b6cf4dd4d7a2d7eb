"""Cold chain: temperature logger data in, excursions out. Plain rules.

Vials wait in storage units and travel in shippers that must stay within temperature
limits (a vapour-phase nitrogen freezer or a dry shipper: at most -150 degC). Loggers
record readings; this module turns their files into `Reading`s and the readings into
`Excursion`s. An open excursion blocks the batch's release until QA closes it, so a
wrong answer here either releases product that warmed up or holds product that did
not. Hence the strictness:

* A logger file is accepted whole or refused whole. A partial import would hide
  exactly the stretch of data where something may have happened.
* Times must carry a UTC offset. A naive time read in the wrong zone shifts every
  excursion by hours and can merge or split runs; we cannot guess the logger's zone.
* Temperatures must be in Celsius, written with a decimal point. Units are read from
  the header, never inferred from the values: -150 could be Celsius or Fahrenheit.
* Temperatures stay `Decimal` so that "exactly at the limit" is decided exactly.

Every refusal is an `InvalidInputError` that says where: `line N:` at the start of the
message for CSV files (field "file"), the JSON path as the field for EPCIS sensor
data. No database, no web: the caller stores and logs what this module finds.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import groupby
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from traceability.domain.what import Refusal, Text4000, What
from traceability.errors import InvalidInputError

ExcursionKind = Literal["above", "below"]

MAX_READINGS = 1_000_000
MAX_LINE_LENGTH = 1_000
# Readings outside these bounds are not temperatures a logger in our cold chain can
# report; they come from a broken probe or a wrong column, never from a real event.
LOWEST_PLAUSIBLE = Decimal("-273.15")
HIGHEST_PLAUSIBLE = Decimal("200")

CSV_FIELD = "file"
SENSOR_FIELD = "sensorElementList"


class _Refusal(Exception):
    """Why a value is refused; the parser that caught it adds where it was."""


# --- limits, readings, excursions ---------------------------------------------------


@dataclass(frozen=True)
class TemperatureLimits:
    """The range a storage unit or shipper must hold, and how long it may leave it.

    A reading exactly at a limit is inside (the limit of an LN2 vapour freezer is
    "<= -150 degC", so -150 passes). `allowed_excursion` is the time the readings may
    spend outside before it counts; zero means any reading outside counts.
    """

    max_celsius: Decimal | None
    min_celsius: Decimal | None
    allowed_excursion: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.max_celsius is None and self.min_celsius is None:
            raise InvalidInputError(
                "temperature limits need a maximum, a minimum or both", field="max_celsius"
            )
        for name, value in (("max_celsius", self.max_celsius), ("min_celsius", self.min_celsius)):
            if value is not None and not value.is_finite():
                raise InvalidInputError(f"{name} must be a finite number", field=name)
        if (
            self.max_celsius is not None
            and self.min_celsius is not None
            and not self.min_celsius < self.max_celsius
        ):
            raise InvalidInputError(
                f"the minimum ({self.min_celsius} degC) must be below the maximum "
                f"({self.max_celsius} degC)",
                field="min_celsius",
            )
        if self.allowed_excursion < timedelta(0):
            raise InvalidInputError(
                "the allowed excursion time cannot be negative", field="allowed_excursion"
            )

    def outside(self, celsius: Decimal) -> ExcursionKind | None:
        """Which side of the limits a temperature is on; None when inside or at a limit."""
        if self.max_celsius is not None and celsius > self.max_celsius:
            return "above"
        if self.min_celsius is not None and celsius < self.min_celsius:
            return "below"
        return None


@dataclass(frozen=True)
class Reading:
    """One logger reading; `at` is timezone-aware and in UTC (the parsers convert)."""

    at: datetime
    celsius: Decimal

    def __post_init__(self) -> None:
        offset = self.at.utcoffset()
        if offset is None or offset != timedelta(0):
            raise InvalidInputError("a reading's time must be timezone-aware UTC", field="at")
        if not self.celsius.is_finite():
            raise InvalidInputError("a reading's temperature must be finite", field="celsius")


@dataclass(frozen=True)
class Excursion:
    """A maximal run of readings outside the limits on one side that lasted too long.

    `start` is the time of the first reading outside, `end` the time of the first
    reading after the run (back inside, or outside on the other side), None when the
    data ends during the run. `duration` is `end - start`, or last reading - `start`
    for an open run. `peak_celsius` is the reading furthest outside.
    """

    start: datetime
    end: datetime | None
    peak_celsius: Decimal
    duration: timedelta
    kind: ExcursionKind


def _check_increasing(readings: Sequence[Reading]) -> None:
    for index in range(1, len(readings)):
        if not readings[index - 1].at < readings[index].at:
            raise InvalidInputError(
                f"readings must be in strictly increasing time order: reading {index} "
                f"({_rfc3339(readings[index].at)}) does not follow "
                f"{_rfc3339(readings[index - 1].at)}",
                field="readings",
            )


def find_excursions(readings: Sequence[Reading], limits: TemperatureLimits) -> list[Excursion]:
    """The excursions in time-ordered readings, oldest first.

    Boundary rules, exact and matching how limits are written ("<= -150 degC"):

    * A reading is outside when it is strictly above `max_celsius` or strictly below
      `min_celsius`; a reading exactly at a limit is inside.
    * A run is a maximal sequence of consecutive readings outside on the same side. A
      run that goes straight from above to below is two runs: warming and freezing
      harm a product differently and QA assesses them apart.
    * A run's duration is measured from its first reading to the first reading after
      it, or to its own last reading when the data ends during the run. We only know
      what the logger saw: the sampling interval bounds how early an excursion could
      have started, which is why `gaps` exists.
    * A run is an excursion when its duration is strictly greater than
      `allowed_excursion`: a run lasting exactly the allowed time is not an excursion,
      one lasting a second more is. With a zero allowance every run is an excursion,
      including a single reading outside at the end of the data.

    Readings must be in strictly increasing time order (the parsers guarantee it);
    otherwise `InvalidInputError` is raised rather than guessing an order.
    """
    _check_increasing(readings)
    runs = [
        (side, list(run))
        for side, run in groupby(readings, key=lambda reading: limits.outside(reading.celsius))
    ]
    found: list[Excursion] = []
    for index, (side, run) in enumerate(runs):
        if side is None:
            continue
        end = runs[index + 1][1][0].at if index + 1 < len(runs) else None
        start = run[0].at
        duration = (run[-1].at if end is None else end) - start
        # With no allowance a single reading outside is an excursion, even a last reading
        # whose run lasts zero seconds.
        if limits.allowed_excursion > timedelta(0) and duration <= limits.allowed_excursion:
            continue
        temperatures = [reading.celsius for reading in run]
        peak = max(temperatures) if side == "above" else min(temperatures)
        found.append(Excursion(start, end, peak, duration, side))
    return found


def gaps(readings: Sequence[Reading], max_gap: timedelta) -> list[tuple[datetime, datetime]]:
    """Pairs of consecutive reading times further apart than `max_gap` (strictly).

    A gap is not an excursion, but nothing is known about the temperature inside it:
    an excursion could hide there. The caller decides whether to flag it.
    """
    if max_gap <= timedelta(0):
        raise InvalidInputError("the maximum gap must be positive", field="max_gap")
    _check_increasing(readings)
    return [
        (earlier.at, later.at)
        for earlier, later in zip(readings, readings[1:], strict=False)
        if later.at - earlier.at > max_gap
    ]


# --- values shared by both formats --------------------------------------------------

_TIME = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<off_hour>[0-9]{2})(?::?(?P<off_minute>[0-9]{2}))?)?"
)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]*,[0-9]+")


def _shown(text: str) -> str:
    """A value quoted in a message, cut short: a message need not repeat 1,000 characters."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc_time(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 date and time with Z or an offset, converted to UTC."""
    match = _TIME.fullmatch(text)
    if match is None:
        raise _Refusal(
            f"{_shown(text)} is not a date and time like 2024-05-01T10:00:00Z or "
            "2024-05-01T11:00:00+01:00"
        )
    if match["offset"] is None:
        raise _Refusal(
            f"time {_shown(text)} has no UTC offset (Z or +hh:mm); the logger's time zone "
            "cannot be guessed"
        )
    try:
        if match["offset"] in ("Z", "z"):
            zone = UTC
        else:
            off_minutes = int(match["off_minute"] or "0")
            if off_minutes > 59:
                raise ValueError("minutes of the offset above 59")
            offset = timedelta(hours=int(match["off_hour"]), minutes=off_minutes)
            zone = timezone(-offset if match["sign"] == "-" else offset)
        # Digits beyond the microsecond are dropped: truncation keeps the order of
        # distinct times, rounding could swap two of them.
        micro = int((match["fraction"] or "0").ljust(6, "0")[:6])
        local = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or "0"),
            micro,
            tzinfo=zone,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise _Refusal(f"{_shown(text)} is not a valid date and time ({error})") from None


def _check_plausible(celsius: Decimal) -> Decimal:
    if not LOWEST_PLAUSIBLE < celsius < HIGHEST_PLAUSIBLE:
        raise _Refusal(
            f"temperature {_shown(str(celsius))} degC is impossible for a logger: it must be "
            f"above {LOWEST_PLAUSIBLE} and below {HIGHEST_PLAUSIBLE}"
        )
    return celsius


def _celsius_from_text(text: str) -> Decimal:
    if not text:
        raise _Refusal("the temperature is missing")
    if _DECIMAL_COMMA.fullmatch(text):
        raise _Refusal(
            f"temperature {_shown(text)} has a decimal comma; write it with a decimal point "
            f"({text.replace(',', '.')})"
        )
    if not _DECIMAL.fullmatch(text):
        raise _Refusal(f"temperature {_shown(text)} is not a number")
    return _check_plausible(Decimal(text))


def _order_problem(previous: datetime, current: datetime, previous_where: str) -> str | None:
    if current == previous:
        return f"duplicate time {_rfc3339(current)} (same as {previous_where})"
    if current < previous:
        return (
            f"times out of order: {_rfc3339(current)} is earlier than "
            f"{_rfc3339(previous)} ({previous_where})"
        )
    return None


# --- CSV logger files ---------------------------------------------------------------

_TIME_NAMES = frozenset({"time", "timestamp", "datetime", "date_time"})
_TEMPERATURE_WORDS = frozenset({"temperature", "temp"})
_UNIT_WORDS: dict[str, str] = {
    "c": "C",
    "celsius": "C",
    "centigrade": "C",
    "f": "F",
    "fahrenheit": "F",
    "k": "K",
    "kelvin": "K",
}
_UNIT_NAMES = {"F": "Fahrenheit", "K": "kelvin"}


def _header_tokens(cell: str) -> list[str]:
    """Words of a header cell, with degree signs and 'deg'/'degrees' folded into '°'."""
    text = cell.strip().casefold()
    text = text.replace("℃", "°c").replace("℉", "°f").replace("º", "°")
    text = re.sub(r"\bdeg(?:rees?)?\s*(?=[a-z])", "°", text)
    text = re.sub(r"°\s+", "°", text)
    return re.findall(r"[a-z0-9°]+", text)


def _unit_of(token: str) -> str | None:
    return _UNIT_WORDS.get(token.removeprefix("°"))


def _temperature_unit(cell: str) -> tuple[bool, set[str]]:
    """Whether a header cell names a temperature column, and the units it states."""
    tokens = _header_tokens(cell)
    if not tokens:
        return False, set()
    if tokens[0] in _TEMPERATURE_WORDS:
        return True, {unit for token in tokens[1:] if (unit := _unit_of(token)) is not None}
    # A column named by its unit alone: "°C", "Celsius", "°F". A bare letter is not
    # enough ("F" could be a flag column).
    if len(tokens) == 1 and (tokens[0].startswith("°") or len(tokens[0]) > 1):
        unit = _unit_of(tokens[0])
        if unit is not None:
            return True, {unit}
    return False, set()


def _is_time_name(cell: str) -> bool:
    return re.sub(r"[\s_/-]+", "_", cell.strip().casefold()) in _TIME_NAMES


def _columns(cells: list[str]) -> tuple[int, int]:
    """(time column, temperature column) of a header row."""
    temperature: list[int] = []
    for index, cell in enumerate(cells):
        is_temperature, units = _temperature_unit(cell)
        if not is_temperature:
            continue
        wrong = sorted(units - {"C"})
        if wrong:
            named = " and ".join(_UNIT_NAMES[unit] for unit in wrong)
            raise _Refusal(
                f"wrong units: column {_shown(cell.strip())} is in {named}; readings must be in "
                "Celsius (°C)"
            )
        if not units:
            raise _Refusal(
                f"column {_shown(cell.strip())} does not state its unit; name it e.g. "
                "'temperature (°C)' so that Celsius is certain"
            )
        temperature.append(index)
    time = [index for index, cell in enumerate(cells) if _is_time_name(cell)]
    if not time:
        raise _Refusal("no time column: name it time, timestamp, datetime or date_time")
    if not temperature:
        raise _Refusal(
            "no temperature column: name it e.g. °C, temperature (°C), temp_c or celsius"
        )
    if len(time) > 1:
        raise _Refusal(f"{len(time)} time columns; expected one")
    if len(temperature) > 1:
        raise _Refusal(f"{len(temperature)} temperature columns; expected one per file")
    return time[0], temperature[0]


def _split(line: str, delimiter: str) -> list[str]:
    if '"' not in line:
        # Without quotes the csv module would split exactly like this, at a fraction of
        # the cost of building one reader per line of a million-line file.
        return line.split(delimiter)
    try:
        rows = list(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise _Refusal(f"unparseable row ({error})") from None
    return rows[0] if rows else []


def _read_header(line: str) -> tuple[str, int, int, int]:
    """(delimiter, field count, time column, temperature column) sniffed from the header.

    Each delimiter that occurs in the header is tried; the one that yields exactly one
    time and one temperature column wins. If none does, the refusal of the split with
    the most fields is the one that explains the problem best.
    """
    candidates = [d for d in (",", ";", "\t") if d in line] or [","]
    refusals: list[tuple[int, _Refusal]] = []
    for delimiter in candidates:
        cells = _split(line, delimiter)
        try:
            time_column, temperature_column = _columns(cells)
        except _Refusal as refusal:
            refusals.append((len(cells), refusal))
            continue
        return delimiter, len(cells), time_column, temperature_column
    raise max(refusals, key=lambda pair: pair[0])[1]


def _physical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based number, content) of each line, without its CR LF or LF ending."""
    start = 0
    number = 1
    while True:
        end = text.find("\n", start)
        if end == -1:
            yield number, text[start:].removesuffix("\r")
            return
        yield number, text[start:end].removesuffix("\r")
        start = end + 1
        number += 1


def parse_logger_csv(text: str) -> list[Reading]:
    """The readings of a logger's CSV export, or `InvalidInputError` for the whole file.

    The first line is a header naming a time column (time, timestamp, datetime,
    date_time) and one temperature column in Celsius (°C, temperature (°C), temp_c,
    celsius, ...); other columns are ignored. The delimiter (comma, semicolon or tab)
    is sniffed from the header; a UTF-8 byte order mark is skipped. Times need Z or an
    offset and are converted to UTC; temperatures use a decimal point. Times must be
    strictly increasing. Blank lines are allowed only at the end. At most
    `MAX_READINGS` readings and `MAX_LINE_LENGTH` characters per line.

    Every error message starts with `line N:` (the physical line, 1-based) and has
    field "file".
    """
    text = text.removeprefix("\ufeff")
    readings: list[Reading] = []
    header: tuple[str, int, int, int] | None = None
    previous_line = 0
    blank_line: int | None = None
    for number, line in _physical_lines(text):
        where = number
        try:
            if len(line) > MAX_LINE_LENGTH:
                raise _Refusal(
                    f"line is {len(line)} characters long; at most {MAX_LINE_LENGTH} allowed"
                )
            if not line.strip():
                if blank_line is None:
                    blank_line = number
                continue
            if blank_line is not None:
                where = blank_line
                if header is None:
                    raise _Refusal("the first line must be the header row; it is blank")
                raise _Refusal("blank line inside the file; only trailing blank lines are allowed")
            if header is None:
                header = _read_header(line)
                continue
            if len(readings) == MAX_READINGS:
                raise _Refusal(f"more than {MAX_READINGS:,} readings in one file")
            delimiter, width, time_column, temperature_column = header
            cells = _split(line, delimiter)
            if len(cells) != width:
                hint = ""
                if delimiter == "," and len(cells) == width + 1:
                    hint = " (a decimal comma? write temperatures with a decimal point)"
                raise _Refusal(
                    f"wrong column count: expected {width} fields separated by "
                    f"{delimiter!r}, found {len(cells)}{hint}"
                )
            at = _utc_time(cells[time_column].strip())
            celsius = _celsius_from_text(cells[temperature_column].strip())
            if readings:
                problem = _order_problem(readings[-1].at, at, f"line {previous_line}")
                if problem is not None:
                    raise _Refusal(problem)
            readings.append(Reading(at, celsius))
            previous_line = number
        except _Refusal as refusal:
            raise InvalidInputError(f"line {where}: {refusal}", field=CSV_FIELD) from None
    if header is None:
        raise InvalidInputError("line 1: the file is empty", field=CSV_FIELD)
    if not readings:
        raise InvalidInputError(
            "line 1: the file has a header row but no readings", field=CSV_FIELD
        )
    return readings


# --- EPCIS 2.0 sensor data ----------------------------------------------------------

_TEMPERATURE_TYPES = frozenset(
    {"gs1:Temperature", "Temperature", "https://gs1.org/voc/Temperature"}
)
_WRONG_UOM = {"FAH": "Fahrenheit", "KEL": "kelvin"}


def _sensor_time(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidInputError("time must be an RFC 3339 string", field=path)
    try:
        return _utc_time(value)
    except _Refusal as refusal:
        raise InvalidInputError(str(refusal), field=path) from None


def _sensor_celsius(report: dict[str, object], path: str) -> Decimal:
    uom = report.get("uom")
    if uom is None:
        raise InvalidInputError("a temperature report needs uom CEL", field=f"{path}.uom")
    if isinstance(uom, str) and uom in _WRONG_UOM:
        raise InvalidInputError(
            f"wrong units: {uom} is {_WRONG_UOM[uom]}; readings must be in Celsius (CEL)",
            field=f"{path}.uom",
        )
    if uom != "CEL":
        raise InvalidInputError(
            f"unknown unit {_shown(uom) if isinstance(uom, str) else repr(uom)}; expected CEL",
            field=f"{path}.uom",
        )
    value = report.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidInputError("value must be a number", field=f"{path}.value")
    # A float goes through its shortest text so that 26.1 stays 26.1, not its binary
    # neighbour; an int goes in directly (no digit limit).
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise InvalidInputError("value must be a finite number", field=f"{path}.value")
    try:
        return _check_plausible(number)
    except _Refusal as refusal:
        raise InvalidInputError(str(refusal), field=f"{path}.value") from None


def parse_sensor_readings(data: object) -> list[Reading]:
    """The temperature readings of an EPCIS 2.0 `sensorElementList` (parsed JSON).

    Each element has an optional `sensorMetadata` and a non-empty `sensorReport` list.
    Reports whose `type` is Temperature (`Temperature`, `gs1:Temperature` or the full
    GS1 vocabulary URI) become readings; other reports (humidity, light, ...) are
    ignored. A temperature report needs `uom` CEL (FAH and KEL are refused as wrong
    units, not converted: a logger configured in the wrong unit is itself a finding),
    a numeric `value`, and a `time` with an offset, taken from the report or else from
    its element's `sensorMetadata.time`. Times must be strictly increasing in document
    order. Errors are `InvalidInputError` with the JSON path as the field, e.g.
    `sensorElementList[0].sensorReport[2].uom`.
    """
    if not isinstance(data, list):
        raise InvalidInputError("sensorElementList must be a list", field=SENSOR_FIELD)
    readings: list[Reading] = []
    previous_path = ""
    for element_index, element in enumerate(data):
        element_path = f"{SENSOR_FIELD}[{element_index}]"
        if not isinstance(element, dict):
            raise InvalidInputError("a sensor element must be an object", field=element_path)
        metadata = element.get("sensorMetadata", {})
        if not isinstance(metadata, dict):
            raise InvalidInputError(
                "sensorMetadata must be an object", field=f"{element_path}.sensorMetadata"
            )
        reports = element.get("sensorReport")
        if not isinstance(reports, list) or not reports:
            raise InvalidInputError(
                "sensorReport must be a non-empty list", field=f"{element_path}.sensorReport"
            )
        for report_index, report in enumerate(reports):
            path = f"{element_path}.sensorReport[{report_index}]"
            if not isinstance(report, dict):
                raise InvalidInputError("a sensor report must be an object", field=path)
            kind = report.get("type")
            if not isinstance(kind, str):
                raise InvalidInputError("type must be a measurement type", field=f"{path}.type")
            if kind not in _TEMPERATURE_TYPES:
                continue
            if len(readings) == MAX_READINGS:
                raise InvalidInputError(
                    f"more than {MAX_READINGS:,} temperature readings", field=path
                )
            celsius = _sensor_celsius(report, path)
            if "time" in report:
                time_path = f"{path}.time"
                at = _sensor_time(report["time"], time_path)
            elif "time" in metadata:
                time_path = f"{element_path}.sensorMetadata.time"
                at = _sensor_time(metadata["time"], time_path)
            else:
                raise InvalidInputError(
                    "no time: neither the report nor its sensorMetadata has one",
                    field=f"{path}.time",
                )
            if readings:
                problem = _order_problem(readings[-1].at, at, previous_path)
                if problem is not None:
                    raise InvalidInputError(problem, field=time_path)
            readings.append(Reading(at, celsius))
            previous_path = time_path
    if not readings:
        raise InvalidInputError("no temperature readings", field=SENSOR_FIELD)
    return readings


class ExcursionClosing(What):
    """`coldchain.excursion.closed`: QA's assessment of one excursion, which closes it."""

    excursion: Annotated[StrictInt, Field(ge=1), Refusal("{name} is the excursion's id")]
    assessment: Text4000
