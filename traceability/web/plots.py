"""Pictures drawn on the server as inline SVG: no script, no library, nothing fetched.

A custody timeline: one lane per holder (a vial's page) or per vial (a batch's page),
each stretch of custody a bar coloured by who held it (a site, a courier). A
temperature trace: the readings as a line against time, each limit as a dashed line,
and each excursion (a run outside the limits longer than allowed) shaded. Colours come
from presentation attributes, which the Content-Security-Policy allows where inline
styles are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

from traceability.domain.cold_chain import Excursion, Reading, TemperatureLimits

WIDTH, HEIGHT = 800, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40
MAX_POINTS = 2000
"""More readings than this are thinned to the lowest and highest of each slice, so a
spike between two kept points is never lost from the line."""


def _thinned(readings: Sequence[Reading]) -> list[Reading]:
    if len(readings) <= MAX_POINTS:
        return list(readings)
    size = len(readings) * 2 // MAX_POINTS + 1
    kept: list[Reading] = []
    for start in range(0, len(readings), size):
        part = readings[start : start + size]
        low = min(part, key=lambda r: r.celsius)
        high = max(part, key=lambda r: r.celsius)
        kept += sorted({low, high}, key=lambda r: r.at)
    return kept


def temperature_trace(
    readings: Sequence[Reading],
    limits: TemperatureLimits,
    excursions: Sequence[Excursion],
    *,
    title: str,
) -> Markup:
    """The trace as an <svg> element, with a <title> and <desc> for screen readers."""
    first, last = readings[0].at, readings[-1].at
    span = max((last - first).total_seconds(), 1.0)
    bounds = [r.celsius for r in readings] + [
        v for v in (limits.max_celsius, limits.min_celsius) if v is not None
    ]
    low, high = float(min(bounds)), float(max(bounds))
    pad = max((high - low) * 0.1, 1.0)
    low, high = low - pad, high + pad

    def x(at: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - first).total_seconds() / span

    def y(celsius: Decimal | float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high - float(celsius)) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="trace-title trace-desc" data-trace>',
        f'<title id="trace-title">{escape(title)}</title>',
        f'<desc id="trace-desc">{len(readings)} readings from {_utc(first)} to {_utc(last)}; '
        f"{len(excursions)} excursion{'' if len(excursions) == 1 else 's'}.</desc>",
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="none" stroke="#888"/>',
    ]
    for run in excursions:
        end = run.end or last
        parts.append(
            f'<rect data-excursion x="{x(run.start):.1f}" y="{TOP}" '
            f'width="{max(x(end) - x(run.start), 1.5):.1f}" height="{HEIGHT - TOP - BOTTOM}" '
            f'fill="#d33" fill-opacity="0.18"><title>excursion {run.kind} the limit, '
            f"peak {run.peak_celsius} °C, {_utc(run.start)} to {_utc(end)}</title></rect>"
        )
    for name, value in (("max", limits.max_celsius), ("min", limits.min_celsius)):
        if value is not None:
            parts.append(
                f'<line data-limit="{name}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" '
                f'y2="{y(value):.1f}" stroke="#d33" stroke-dasharray="6 4"/>'
                f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
                f'font-size="12" fill="#d33">{value} °C</text>'
            )
    points = " ".join(f"{x(r.at):.1f},{y(r.celsius):.1f}" for r in _thinned(readings))
    parts.append(
        '<polyline data-readings fill="none" stroke="#1a5fb4" stroke-width="1.5" '
        f'points="{points}"/>'
    )
    lowest, highest = min(r.celsius for r in readings), max(r.celsius for r in readings)
    for value in {lowest, highest} - {limits.max_celsius, limits.min_celsius}:
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#444">{value} °C</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 14}" font-size="12" fill="#444">{_utc(first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 14}" font-size="12" fill="#444" '
        f'text-anchor="end">{_utc(last)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class Bar:
    """One stretch on a lane: from `start` to `end` (None: until the picture's end)."""

    start: datetime
    end: datetime | None
    label: str
    kind: str
    """"site", "user" (a courier) or "none": the bar's colour."""


COLOURS = {"site": "#2e7d32", "user": "#e67e00", "none": "#999"}
LANE, LABEL_WIDTH = 30, 170


def custody_lanes(
    lanes: Sequence[tuple[str, Sequence[Bar]]], *, until: datetime, title: str
) -> Markup:
    """A timeline: one lane per label, its bars placed by time; each bar's words are in
    its <title> (a tooltip and what a screen reader reads) and on it when they fit."""
    starts = [bar.start for _, bars in lanes for bar in bars]
    first = min(starts) if starts else until
    last = max([until, *starts])
    span = max((last - first).total_seconds(), 1.0)
    height = TOP + LANE * len(lanes) + BOTTOM

    def x(at: datetime) -> float:
        return LABEL_WIDTH + (WIDTH - LABEL_WIDTH - RIGHT) * (at - first).total_seconds() / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" data-custody-timeline>',
        f"<title>{escape(title)}</title>",
    ]
    for n, (label, bars) in enumerate(lanes):
        top = TOP + n * LANE
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{top + LANE / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="#222" data-lane>{escape(label)}</text>'
        )
        for bar in bars:
            left = x(bar.start)
            width = max(x(bar.end or last) - left, 3.0)
            parts.append(
                f'<rect data-bar="{escape(bar.kind)}" x="{left:.1f}" y="{top + 4}" '
                f'width="{width:.1f}" height="{LANE - 8}" rx="3" '
                f'fill="{COLOURS.get(bar.kind, COLOURS["none"])}" fill-opacity="0.85">'
                f"<title>{escape(bar.label)}: {_utc(bar.start)} to "
                f"{_utc(bar.end) if bar.end else 'now'}</title></rect>"
            )
            if width > 7 * len(bar.label):
                parts.append(
                    f'<text x="{left + 4:.1f}" y="{top + LANE / 2 + 4:.1f}" font-size="11" '
                    f'fill="#fff">{escape(bar.label)}</text>'
                )
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{height - 14}" font-size="12" fill="#444">{_utc(first)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{height - 14}" font-size="12" fill="#444" '
        f'text-anchor="end">{_utc(last)}</text></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 - every value above is a number or escaped
