"""The checkpoint the log publishes: what `GET /checkpoint` serves to mirrors, witnesses
and monitors (C2SP tlog-tiles, tlog-witness).

One function, so that every place that hands out "the log's current checkpoint" (the
tiles endpoint, certificates, bundles) hands out the same note: the newest checkpoint
as the log signed it (Ed25519), followed by every cosignature stored for it (the log's
own ML-DSA-44 one, then its witnesses', in arrival order). It stays a standard signed
note: a verifier with the log's key alone ignores the cosignature lines.
"""

from __future__ import annotations

from sqlmodel import Session

from traceability.custody_log.appender import latest_checkpoint
from traceability.custody_log.witnessing import cosigned_note


def published_checkpoint(session: Session) -> str | None:
    """The newest checkpoint note with its cosignatures, or None while the log has none."""
    row = latest_checkpoint(session)
    return None if row is None else cosigned_note(session, row)
