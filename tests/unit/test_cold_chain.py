"""Cold chain: logger files in, excursions out; at and around every limit and boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from traceability.domain import cold_chain
from traceability.domain.cold_chain import (
    Excursion,
    Reading,
    TemperatureLimits,
    find_excursions,
    gaps,
    parse_logger_csv,
    parse_sensor_readings,
)
from traceability.errors import InvalidInputError

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
LN2 = TemperatureLimits(max_celsius=Decimal("-150"), min_celsius=None)
LN2_10_MIN = TemperatureLimits(
    max_celsius=Decimal("-150"), min_celsius=None, allowed_excursion=timedelta(minutes=10)
)


def series(*points: tuple[timedelta, str]) -> list[Reading]:
    return [Reading(T0 + offset, Decimal(celsius)) for offset, celsius in points]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


# --- limits and readings ---------------------------------------------------------------


def test_limits_need_at_least_one_side() -> None:
    with pytest.raises(InvalidInputError):
        TemperatureLimits(max_celsius=None, min_celsius=None)


@pytest.mark.parametrize(("low", "high"), [("-150", "-150"), ("-100", "-150")])
def test_limits_refuse_a_minimum_not_below_the_maximum(low: str, high: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        TemperatureLimits(max_celsius=Decimal(high), min_celsius=Decimal(low))
    assert caught.value.field == "min_celsius"


def test_limits_refuse_a_negative_allowance() -> None:
    with pytest.raises(InvalidInputError) as caught:
        TemperatureLimits(Decimal("-150"), None, allowed_excursion=timedelta(seconds=-1))
    assert caught.value.field == "allowed_excursion"


def test_limits_refuse_nan() -> None:
    with pytest.raises(InvalidInputError) as caught:
        TemperatureLimits(Decimal("NaN"), None)
    assert caught.value.field == "max_celsius"


@pytest.mark.parametrize(
    ("celsius", "side"),
    [("-150", None), ("-150.0", None), ("-149.9", "above"), ("-196", None)],
)
def test_a_reading_exactly_at_the_limit_is_inside(celsius: str, side: str | None) -> None:
    assert LN2.outside(Decimal(celsius)) == side


def test_reading_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInputError):
        Reading(datetime(2024, 5, 1, 10, 0), Decimal("-150"))


def test_reading_refuses_a_time_not_in_utc() -> None:
    with pytest.raises(InvalidInputError):
        Reading(datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))), Decimal(1))


# --- excursions ------------------------------------------------------------------------


def test_no_readings_no_excursions() -> None:
    assert find_excursions([], LN2) == []


def test_readings_exactly_at_the_limit_are_no_excursion() -> None:
    readings = series((minutes(0), "-150"), (minutes(1), "-150"), (minutes(2), "-150.00"))
    assert find_excursions(readings, LN2) == []


def test_a_tenth_of_a_degree_beyond_the_limit_is_an_excursion_with_zero_allowance() -> None:
    readings = series((minutes(0), "-160"), (minutes(1), "-149.9"), (minutes(2), "-160"))
    assert find_excursions(readings, LN2) == [
        Excursion(
            start=T0 + minutes(1),
            end=T0 + minutes(2),
            peak_celsius=Decimal("-149.9"),
            duration=minutes(1),
            kind="above",
        )
    ]


def test_zero_allowance_counts_a_single_reading_at_the_end_of_the_data() -> None:
    readings = series((minutes(0), "-160"), (minutes(1), "-149.9"))
    assert find_excursions(readings, LN2) == [
        Excursion(T0 + minutes(1), None, Decimal("-149.9"), timedelta(0), "above")
    ]


@pytest.mark.parametrize(
    ("back_inside_after", "is_excursion"),
    [
        (timedelta(minutes=9, seconds=59), False),
        (timedelta(minutes=10), False),
        (timedelta(minutes=10, seconds=1), True),
    ],
)
def test_a_run_must_last_strictly_longer_than_the_allowance(
    back_inside_after: timedelta, is_excursion: bool
) -> None:
    readings = series(
        (minutes(0), "-170"),
        (minutes(1), "-140"),
        (minutes(1) + back_inside_after, "-170"),
    )
    expected = (
        [Excursion(T0 + minutes(1), T0 + minutes(11) + timedelta(seconds=1), Decimal("-140"),
                   timedelta(minutes=10, seconds=1), "above")]
        if is_excursion
        else []
    )  # fmt: skip
    assert find_excursions(readings, LN2_10_MIN) == expected


def test_the_duration_runs_to_the_first_reading_back_inside() -> None:
    readings = series(
        (minutes(0), "-140"),
        (minutes(5), "-145"),
        (minutes(12), "-150"),
    )
    assert find_excursions(readings, LN2_10_MIN) == [
        Excursion(T0, T0 + minutes(12), Decimal("-140"), minutes(12), "above")
    ]


def test_an_open_run_at_the_end_has_no_end_and_lasts_until_the_last_reading() -> None:
    readings = series(
        (minutes(0), "-180"),
        (minutes(1), "-149"),
        (minutes(6), "-120"),
        (minutes(12), "-130"),
    )
    assert find_excursions(readings, LN2_10_MIN) == [
        Excursion(T0 + minutes(1), None, Decimal("-120"), minutes(11), "above")
    ]


def test_an_open_run_within_the_allowance_is_not_an_excursion() -> None:
    readings = series((minutes(0), "-180"), (minutes(1), "-149"), (minutes(11), "-120"))
    assert find_excursions(readings, LN2_10_MIN) == []


def test_above_then_below_is_two_runs() -> None:
    fridge = TemperatureLimits(max_celsius=Decimal(8), min_celsius=Decimal(2))
    readings = series(
        (minutes(0), "5"),
        (minutes(1), "8.1"),
        (minutes(2), "9.5"),
        (minutes(3), "1.9"),
        (minutes(4), "0.5"),
        (minutes(5), "2"),
    )
    assert find_excursions(readings, fridge) == [
        Excursion(T0 + minutes(1), T0 + minutes(3), Decimal("9.5"), minutes(2), "above"),
        Excursion(T0 + minutes(3), T0 + minutes(5), Decimal("0.5"), minutes(2), "below"),
    ]


def test_min_only_limits() -> None:
    at_least_minus_80 = TemperatureLimits(max_celsius=None, min_celsius=Decimal("-80"))
    readings = series(
        (minutes(0), "-80"),
        (minutes(1), "-80.1"),
        (minutes(2), "20"),
        (minutes(3), "-90"),
    )
    assert find_excursions(readings, at_least_minus_80) == [
        Excursion(T0 + minutes(1), T0 + minutes(2), Decimal("-80.1"), minutes(1), "below"),
        Excursion(T0 + minutes(3), None, Decimal("-90"), timedelta(0), "below"),
    ]


def test_max_only_limits_ignore_any_cold() -> None:
    readings = series((minutes(0), "-273"), (minutes(1), "-196"))
    assert find_excursions(readings, LN2) == []


def test_the_peak_is_the_reading_furthest_outside() -> None:
    readings = series(
        (minutes(0), "-149"),
        (minutes(1), "-100.5"),
        (minutes(2), "-120"),
        (minutes(3), "-100.6"),
        (minutes(4), "-151"),
    )
    [excursion] = find_excursions(readings, LN2)
    assert excursion.peak_celsius == Decimal("-100.5")


def test_the_peak_below_is_the_coldest_reading() -> None:
    limits = TemperatureLimits(max_celsius=Decimal(8), min_celsius=Decimal(2))
    readings = series((minutes(0), "1"), (minutes(1), "-0.5"), (minutes(2), "0"))
    [excursion] = find_excursions(readings, limits)
    assert excursion.peak_celsius == Decimal("-0.5")


def test_separate_runs_are_separate_excursions() -> None:
    readings = series(
        (minutes(0), "-140"),
        (minutes(1), "-160"),
        (minutes(2), "-140"),
        (minutes(3), "-160"),
    )
    assert [e.start for e in find_excursions(readings, LN2)] == [T0, T0 + minutes(2)]


@pytest.mark.parametrize("second", [minutes(0), minutes(-1)])
def test_readings_out_of_order_are_refused(second: timedelta) -> None:
    readings = series((minutes(0), "-160"), (second, "-160"))
    with pytest.raises(InvalidInputError) as caught:
        find_excursions(readings, LN2)
    assert caught.value.field == "readings"


# --- gaps ------------------------------------------------------------------------------


def test_gaps_are_strictly_longer_than_the_maximum() -> None:
    readings = series(
        (minutes(0), "-160"),
        (minutes(5), "-160"),
        (minutes(10) + timedelta(seconds=1), "-160"),
        (minutes(11), "-160"),
    )
    assert gaps(readings, minutes(5)) == [
        (T0 + minutes(5), T0 + minutes(10) + timedelta(seconds=1))
    ]


def test_gaps_need_a_positive_maximum() -> None:
    with pytest.raises(InvalidInputError) as caught:
        gaps([], timedelta(0))
    assert caught.value.field == "max_gap"


# --- CSV: happy paths ------------------------------------------------------------------

HEADER = "time,temp_c\n"
GOOD_ROW = "2024-05-01T10:00:00Z,-180\n"


def test_csv_offsets_are_converted_to_utc() -> None:
    text = (
        "timestamp,temperature (°C)\n"
        "2024-05-01T10:00:00Z,-190.5\n"
        "2024-05-01T11:01:00+01:00,-150\n"
        "2024-05-01T05:02:30.250-05:00,-149.9\n"
    )
    assert parse_logger_csv(text) == [
        Reading(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), Decimal("-190.5")),
        Reading(datetime(2024, 5, 1, 10, 1, tzinfo=UTC), Decimal("-150")),
        Reading(datetime(2024, 5, 1, 10, 2, 30, 250000, tzinfo=UTC), Decimal("-149.9")),
    ]
    assert all(r.at.utcoffset() == timedelta(0) for r in parse_logger_csv(text))


def test_csv_with_bom_semicolons_crlf_and_trailing_blank_lines() -> None:
    text = "\ufeffTime;Temperature (°C);Battery\r\n2024-05-01T10:00:00Z;-180.25;98\r\n\r\n\r\n"
    assert parse_logger_csv(text) == [
        Reading(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), Decimal("-180.25"))
    ]


def test_csv_with_tabs_and_quoted_header() -> None:
    text = '"date_time"\t"temp °C"\n2024-05-01T10:00:00Z\t-180\n'
    assert parse_logger_csv(text) == [
        Reading(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), Decimal("-180"))
    ]


def test_csv_semicolon_header_whose_name_contains_a_comma() -> None:
    text = "time;temperature (°C, probe 1)\n2024-05-01T10:00:00Z;-180\n"
    assert [r.celsius for r in parse_logger_csv(text)] == [Decimal("-180")]


@pytest.mark.parametrize(
    ("time_name", "temperature_name"),
    [
        ("time", "°C"),
        ("Timestamp", "Temperature (°C)"),
        ("DATETIME", "temp_c"),
        ("date_time", "celsius"),
        ("Date Time", "temperature_c"),
        ("time", "Temperature [°C]"),
        ("time", "Temp (C)"),
        ("time", "temperature ℃"),
        ("time", "Temperature (deg C)"),
    ],
)
def test_csv_header_spellings(time_name: str, temperature_name: str) -> None:
    text = f"{time_name},{temperature_name}\n2024-05-01T10:00:00Z,-180\n"
    assert parse_logger_csv(text) == [
        Reading(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), Decimal("-180"))
    ]


@pytest.mark.parametrize(
    "written",
    [
        "2024-05-01T11:00:00+01:00",
        "2024-05-01T11:00:00+0100",
        "2024-05-01T11:00+01",
        "2024-05-01 10:00:00z",
        "2024-05-01T10:00:00.000000999Z",
        "2024-05-01T06:30:00-03:30",
    ],
)
def test_csv_time_forms_with_an_offset(written: str) -> None:
    text = HEADER + f"{written},-180\n"
    assert parse_logger_csv(text)[0].at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_csv_a_column_named_by_a_bare_letter_is_not_a_temperature() -> None:
    text = "time,temp_c,F\n2024-05-01T10:00:00Z,-180,0\n"
    assert [r.celsius for r in parse_logger_csv(text)] == [Decimal("-180")]


def test_csv_plausible_range_is_open_at_both_ends() -> None:
    text = HEADER + "2024-05-01T10:00:00Z,-273.14\n2024-05-01T10:01:00Z,199.99\n"
    assert [r.celsius for r in parse_logger_csv(text)] == [Decimal("-273.14"), Decimal("199.99")]


def test_csv_line_of_exactly_the_maximum_length_is_accepted() -> None:
    row = "2024-05-01T10:00:00Z,-180,"
    text = "time,temp_c,note\n" + row + "x" * (1000 - len(row)) + "\n"
    assert len(parse_logger_csv(text)) == 1


# --- CSV: errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "prefix", "words"),
    [
        ("", "line 1:", "empty"),
        ("\n\n", "line 1:", "empty"),
        ("time,temp_c", "line 1:", "no readings"),
        (HEADER, "line 1:", "no readings"),
        ("\n" + HEADER + GOOD_ROW, "line 1:", "header"),
        ("time,temperature (°F)\n" + GOOD_ROW, "line 1:", "wrong units"),
        ("time,Fahrenheit\n" + GOOD_ROW, "line 1:", "wrong units"),
        ("time,temp_f\n" + GOOD_ROW, "line 1:", "wrong units"),
        ("time;Temperature (K)\n" + GOOD_ROW, "line 1:", "wrong units"),
        ("time,kelvin\n" + GOOD_ROW, "line 1:", "wrong units"),
        ("time,temperature\n" + GOOD_ROW, "line 1:", "unit"),
        ("when,temp_c\n" + GOOD_ROW, "line 1:", "no time column"),
        ("time,value\n" + GOOD_ROW, "line 1:", "no temperature column"),
        ("time,temp_c,celsius\n2024-05-01T10:00:00Z,-180,-180\n", "line 1:", "temperature columns"),
        (HEADER + GOOD_ROW + '2024-05-01T10:01:00Z,"-180\n', "line 3:", "unparseable"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z\n", "line 3:", "column count"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,-180,1\n", "line 3:", "column count"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,-180,5\n", "line 3:", "decimal comma"),
        (HEADER + GOOD_ROW + '2024-05-01T10:01:00Z,"-180,5"\n', "line 3:", "decimal comma"),
        ("time;temp_c\n2024-05-01T10:00:00Z;-180,5\n", "line 2:", "decimal comma"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,minus 180\n", "line 3:", "not a number"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,1e2\n", "line 3:", "not a number"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,\n", "line 3:", "missing"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,-273.15\n", "line 3:", "impossible"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z,200\n", "line 3:", "impossible"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00,-180\n", "line 3:", "no UTC offset"),
        (HEADER + GOOD_ROW + "2024-05-01,-180\n", "line 3:", "not a date and time"),
        (HEADER + GOOD_ROW + "01/05/2024 10:01,-180\n", "line 3:", "not a date and time"),
        (HEADER + GOOD_ROW + "2024-02-30T10:01:00Z,-180\n", "line 3:", "not a valid"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:60Z,-180\n", "line 3:", "not a valid"),
        (HEADER + GOOD_ROW + "2024-05-01T11:01:00+01:60,-180\n", "line 3:", "not a valid"),
        (HEADER + GOOD_ROW + "2024-05-01T09:59:59Z,-180\n", "line 3:", "out of order"),
        (HEADER + GOOD_ROW + "2024-05-01T11:00:00+01:00,-180\n", "line 3:", "duplicate"),
        (HEADER + GOOD_ROW + "\n2024-05-01T10:01:00Z,-180\n", "line 3:", "blank line"),
        (HEADER + GOOD_ROW + "2024-05-01T10:01:00Z," + "1" * 980 + "\n", "line 3:", "1001"),
        ("time," + "t" * 996 + "\n", "line 1:", "1001"),
    ],
)
def test_csv_errors_name_the_line(text: str, prefix: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_logger_csv(text)
    message = str(caught.value)
    assert message.startswith(prefix + " "), message
    assert words in message
    assert caught.value.field == "file"


def test_csv_time_out_of_order_message_names_both_times() -> None:
    text = HEADER + GOOD_ROW + "2024-05-01T10:05:00Z,-180\n" + "2024-05-01T10:04:00Z,-180\n"
    with pytest.raises(InvalidInputError) as caught:
        parse_logger_csv(text)
    assert str(caught.value) == (
        "line 4: times out of order: 2024-05-01T10:04:00Z is earlier than "
        "2024-05-01T10:05:00Z (line 3)"
    )


def test_csv_refuses_more_readings_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cold_chain, "MAX_READINGS", 2)
    rows = "".join(f"2024-05-01T10:0{minute}:00Z,-180\n" for minute in range(3))
    with pytest.raises(InvalidInputError) as caught:
        parse_logger_csv(HEADER + rows)
    assert str(caught.value).startswith("line 4: more than 2 readings")


# --- EPCIS sensor data -----------------------------------------------------------------


def element(time: str | None, *reports: object) -> dict[str, Any]:
    metadata: dict[str, Any] = {"deviceID": "urn:epc:id:giai:4000001.111"}
    if time is not None:
        metadata["time"] = time
    return {"sensorMetadata": metadata, "sensorReport": list(reports)}


def temperature(value: object, **extra: Any) -> dict[str, Any]:
    return {"type": "Temperature", "value": value, "uom": "CEL", **extra}


HUMIDITY = {"type": "AbsoluteHumidity", "value": 12.1, "uom": "A93"}


def test_sensor_readings_like_the_epcis_example() -> None:
    data = [
        element("2019-04-02T14:05:00.000+01:00", temperature(26.0), HUMIDITY),
        element("2019-04-02T14:35:00.000+01:00", HUMIDITY, temperature(26.1)),
        element(
            None,
            {**temperature(-150), "type": "gs1:Temperature", "time": "2019-04-02T13:55:00Z"},
        ),
    ]
    assert parse_sensor_readings(data) == [
        Reading(datetime(2019, 4, 2, 13, 5, tzinfo=UTC), Decimal("26.0")),
        Reading(datetime(2019, 4, 2, 13, 35, tzinfo=UTC), Decimal("26.1")),
        Reading(datetime(2019, 4, 2, 13, 55, tzinfo=UTC), Decimal("-150")),
    ]


def test_a_report_time_takes_precedence_over_the_metadata_time() -> None:
    data = [element("2019-04-02T14:05:00Z", temperature(-180, time="2019-04-02T14:06:00+00:00"))]
    assert parse_sensor_readings(data)[0].at == datetime(2019, 4, 2, 14, 6, tzinfo=UTC)


def test_sensor_readings_refuse_more_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cold_chain, "MAX_READINGS", 1)
    data = [element("2019-04-02T14:05:00Z", HUMIDITY, temperature(-180), temperature(-181))]
    with pytest.raises(InvalidInputError) as caught:
        parse_sensor_readings(data)
    assert caught.value.field == "sensorElementList[0].sensorReport[2]"


def test_sensor_values_parsed_as_decimal_are_kept_exact() -> None:
    data = [element("2019-04-02T14:05:00Z", temperature(Decimal("-150.000001")))]
    assert parse_sensor_readings(data)[0].celsius == Decimal("-150.000001")


AT = "2019-04-02T14:05:00Z"


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"sensorElementList": []}, "sensorElementList", "list"),
        ([], "sensorElementList", "no temperature"),
        ([element(AT, HUMIDITY)], "sensorElementList", "no temperature"),
        (["x"], "sensorElementList[0]", "object"),
        ([{"sensorReport": []}], "sensorElementList[0].sensorReport", "non-empty"),
        ([{"sensorMetadata": [], "sensorReport": [temperature(1)]}],
         "sensorElementList[0].sensorMetadata", "object"),
        ([element(AT, HUMIDITY, "x")], "sensorElementList[0].sensorReport[1]", "object"),
        ([element(AT, {"value": 1})], "sensorElementList[0].sensorReport[0].type", "type"),
        ([element(AT, HUMIDITY, HUMIDITY, {**temperature(80), "uom": "FAH"})],
         "sensorElementList[0].sensorReport[2].uom", "wrong units"),
        ([element(AT, {**temperature(80), "uom": "KEL"})],
         "sensorElementList[0].sensorReport[0].uom", "wrong units"),
        ([element(AT, {**temperature(80), "uom": "XYZ"})],
         "sensorElementList[0].sensorReport[0].uom", "unknown unit"),
        ([element(AT, {"type": "Temperature", "value": 1})],
         "sensorElementList[0].sensorReport[0].uom", "CEL"),
        ([element(AT, temperature("-150"))], "sensorElementList[0].sensorReport[0].value",
         "number"),
        ([element(AT, temperature(True))], "sensorElementList[0].sensorReport[0].value",
         "number"),
        ([element(AT, {"type": "Temperature", "uom": "CEL"})],
         "sensorElementList[0].sensorReport[0].value", "number"),
        ([element(AT, temperature(float("nan")))], "sensorElementList[0].sensorReport[0].value",
         "finite"),
        ([element(AT, temperature(-300))], "sensorElementList[0].sensorReport[0].value",
         "impossible"),
        ([element(None, temperature(-180))], "sensorElementList[0].sensorReport[0].time",
         "no time"),
        ([element("2019-04-02T14:05:00", temperature(-180))],
         "sensorElementList[0].sensorMetadata.time", "no UTC offset"),
        ([element(AT, temperature(-180, time=1554213900))],
         "sensorElementList[0].sensorReport[0].time", "RFC 3339"),
        ([element(AT, temperature(-180)), element("2019-04-02T14:04:59Z", temperature(-180))],
         "sensorElementList[1].sensorMetadata.time", "out of order"),
        ([element(AT, temperature(-180), temperature(-181))],
         "sensorElementList[0].sensorMetadata.time", "duplicate"),
        ([element(AT, temperature(-180)), element(None, temperature(-180, time=AT))],
         "sensorElementList[1].sensorReport[0].time", "duplicate"),
    ],
)  # fmt: skip
def test_sensor_errors_name_the_json_path(data: object, field: str, words: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_sensor_readings(data)
    assert caught.value.field == field
    assert words in str(caught.value)
