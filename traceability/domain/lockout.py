"""The account lock-out rule, kept apart from storage so it can be read and tested alone.

An account is locked when `attempts` sign-ins failed within the last `window`, counting
only failures after the most recent success (a success clears the count). While locked,
even the right password is refused, so guessing cannot continue; the lock lifts by
itself when the oldest counted failure leaves the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def locked_until(
    failures: Sequence[datetime],
    *,
    last_success: datetime | None,
    now: datetime,
    attempts: int,
    window: timedelta,
) -> datetime | None:
    """When the lock lifts, or None if the account is not locked at `now`."""
    since = now - window
    if last_success is not None and last_success > since:
        since = last_success
    recent = sorted(t for t in failures if t > since)
    if len(recent) < attempts:
        return None
    # The lock lifts when the count within the window drops below the threshold.
    return recent[-attempts] + window
