"""Server-drawn SVG: a long trace is thinned without losing a spike; text is escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from traceability.domain.cold_chain import Reading, TemperatureLimits
from traceability.web.plots import MAX_POINTS, temperature_trace

START = datetime(2026, 11, 2, tzinfo=UTC)
LIMITS = TemperatureLimits(Decimal("-150"), None)


def test_ten_thousand_readings_are_thinned_but_the_spike_is_kept() -> None:
    readings = [Reading(START + timedelta(seconds=10 * n), Decimal("-190")) for n in range(10_000)]
    readings[7_777] = Reading(readings[7_777].at, Decimal("-120"))
    svg = str(temperature_trace(readings, LIMITS, [], title="t"))
    [points] = re.findall(r'points="([^"]+)"', svg)
    ys = [float(p.split(",")[1]) for p in points.split()]
    assert len(ys) <= 2 * MAX_POINTS + 2
    assert min(ys) < max(ys)  # the one warm reading is still drawn, above the rest
    assert ys.count(min(ys)) == 1


def test_the_title_is_escaped() -> None:
    readings = [
        Reading(START, Decimal("-190")),
        Reading(START + timedelta(minutes=1), Decimal("-191")),
    ]
    svg = str(temperature_trace(readings, LIMITS, [], title="<script>x</script>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
