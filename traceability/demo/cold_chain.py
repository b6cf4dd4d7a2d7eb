"""The demo's logger files: a day of LAB1's tank A within its limits, and half a day of
the clinic's dewar with a 40-minute warm-up, an open excursion for QA to assess (before
any vial was there, so it touches none). Uploaded through the service, as CSV exports."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from traceability.custody_log.appender import CustodyLog
from traceability.domain.actor import Actor
from traceability.domain.roles import parse_roles
from traceability.services import cold_chain, logger_files
from traceability.services import sites as site_service
from traceability.services.users import get_by_username


def _csv(start: datetime, celsius: list[str], step: timedelta) -> bytes:
    rows = [f"{(start + n * step):%Y-%m-%dT%H:%M:%SZ},{value}" for n, value in enumerate(celsius)]
    return ("time,temperature (°C)\n" + "\n".join(rows) + "\n").encode()


def _tank_a(count: int) -> list[str]:
    """About -186 °C, moving by a few tenths as the tank is opened and topped up."""
    return [f"-{186 + (n * 7 % 11) / 10 - (2 if n % 36 == 0 else 0):.1f}" for n in range(count)]


def _dewar(count: int, warm: range) -> list[str]:
    """About -178 °C, warming to -135 °C while the dewar was left open during `warm`."""
    values = []
    for n in range(count):
        if n in warm:
            values.append(f"{-150 + 15 * min(n - warm.start + 1, warm.stop - n) / 4:.1f}")
        else:
            values.append(f"-{178 + (n * 5 % 7) / 10:.1f}")
    return values


def load_cold_chain(session: Session, log: CustodyLog, *, resolver: str, now: datetime) -> None:
    step = timedelta(minutes=5)
    files = (
        ("LAB1", "LN2-A", "lena", now - timedelta(hours=24), _tank_a(12 * 24 - 2)),
        ("CLINIC1", "LN2-C", "nina", now - timedelta(hours=12), _dewar(12 * 12 - 2, range(60, 68))),
    )
    for site_code, unit_code, username, start, values in files:
        site = site_service.get_site(session, site_code)
        unit = next(u for u in site_service.units_of(session, site) if u.code == unit_code)
        data = _csv(start, values, step)
        user = get_by_username(session, username)
        cold_chain.upload(
            session,
            log,
            unit=unit,
            readings=logger_files.parse("csv", data),
            source="csv",
            data=data,
            user=user,
            actor=Actor(user.username, user.id, parse_roles(user.roles)),
            resolver=resolver,
            now=now,
        )
