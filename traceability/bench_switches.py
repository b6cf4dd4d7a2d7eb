"""TEMPORARY (issue 18): switch each speed device off for `./scripts/bench handoff`.

`TRACE_BENCH_OFF` names the devices switched off, comma-separated: `lane` (the step
lane in front of FastAPI), `group` (group commit), `hot` (storage.hot's statements on
SQLite's own cursor, and `Database.read_first`'s kept connection), `records` (the
process-wide record cache). Read once per process. Removed with the devices it measures.
"""

from __future__ import annotations

import os

OFF = frozenset(filter(None, os.environ.get("TRACE_BENCH_OFF", "").split(",")))


def off(device: str) -> bool:
    return device in OFF
