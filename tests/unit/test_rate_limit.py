"""The per-client sliding window behind label scans."""

from __future__ import annotations

import pytest

from traceability.errors import RateLimitedError
from traceability.web.rate_limit import SlidingWindowLimiter


def test_the_limit_counts_per_client_within_the_window() -> None:
    limiter = SlidingWindowLimiter(limit=2, window_seconds=60)
    limiter.check("a", 0.0)
    limiter.check("a", 10.0)
    limiter.check("b", 10.0)  # another client has its own count
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("a", 30.0)
    assert refused.value.retry_after == 30  # the first hit leaves the window at 60 s
    limiter.check("a", 60.5)  # it has left


def test_a_refused_request_does_not_extend_the_wait() -> None:
    limiter = SlidingWindowLimiter(limit=1, window_seconds=10)
    limiter.check("a", 0.0)
    for moment in (1.0, 2.0, 9.0):
        with pytest.raises(RateLimitedError):
            limiter.check("a", moment)
    limiter.check("a", 10.5)
