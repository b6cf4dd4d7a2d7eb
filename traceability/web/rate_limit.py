"""A per-client sliding-window limit, for public endpoints such as label scans.

The resolver answers anyone who scans a label, so it is where someone would try tags
at speed to find a valid one. 96-bit tags make guessing hopeless; the limit keeps the
scan log and the database from being flooded. Kept in memory per process: a site that
runs several processes behind a proxy limits there too.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from traceability.errors import RateLimitedError

MAX_CLIENTS = 10_000
"""Clients remembered at once; the longest-idle ones are forgotten beyond this."""


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_seconds: float = 60.0) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str, now: float) -> None:
        """Count one request by `client` at `now` (seconds); RateLimitedError past the limit."""
        with self._lock:
            hits = self._hits.pop(client, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            self._hits[client] = hits  # re-inserted last: dict order is recency
            if len(hits) >= self.limit:
                retry = max(1, math.ceil(hits[0] + self.window - now))
                raise RateLimitedError(
                    f"too many scans from this client; try again in {retry} s", retry_after=retry
                )
            hits.append(now)
            while len(self._hits) > MAX_CLIENTS:
                del self._hits[next(iter(self._hits))]
