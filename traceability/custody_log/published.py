"""The checkpoint the log publishes: what `GET /checkpoint` serves to mirrors, witnesses
and monitors (C2SP tlog-tiles, tlog-witness).

One function, so that every place that hands out "the log's current checkpoint" (the
tiles endpoint, certificates, bundles) hands out the same note.
"""

from __future__ import annotations

from sqlmodel import Session

from traceability.custody_log.appender import latest_checkpoint


def published_checkpoint(session: Session) -> str | None:
    """The newest signed checkpoint note, or None while the log has none."""
    row = latest_checkpoint(session)
    return None if row is None else row.note
