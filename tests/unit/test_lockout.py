from datetime import UTC, datetime, timedelta

from traceability.domain.lockout import locked_until

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def minutes_ago(*values: float) -> list[datetime]:
    return [NOW - timedelta(minutes=v) for v in values]


def test_four_failures_do_not_lock() -> None:
    failures = minutes_ago(1, 2, 3, 4)
    assert locked_until(failures, last_success=None, now=NOW, attempts=5, window=WINDOW) is None


def test_five_failures_within_the_window_lock_until_the_oldest_leaves_it() -> None:
    failures = minutes_ago(10, 8, 6, 4, 2)
    until = locked_until(failures, last_success=None, now=NOW, attempts=5, window=WINDOW)
    assert until == NOW - timedelta(minutes=10) + WINDOW


def test_failures_older_than_the_window_do_not_count() -> None:
    failures = minutes_ago(16, 14, 3, 2, 1)
    assert locked_until(failures, last_success=None, now=NOW, attempts=5, window=WINDOW) is None


def test_a_success_clears_earlier_failures() -> None:
    failures = minutes_ago(9, 8, 7, 6, 2)
    success = NOW - timedelta(minutes=5)
    assert locked_until(failures, last_success=success, now=NOW, attempts=5, window=WINDOW) is None


def test_more_failures_keep_the_lock_until_enough_leave_the_window() -> None:
    failures = minutes_ago(14, 12, 10, 8, 6, 4)
    until = locked_until(failures, last_success=None, now=NOW, attempts=5, window=WINDOW)
    # Six failures: the count drops below five when the second oldest leaves the window.
    assert until == NOW - timedelta(minutes=12) + WINDOW
