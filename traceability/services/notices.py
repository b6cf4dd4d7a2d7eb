"""Notices: what the people of a site, or one person, must know now, in their inbox.

A recall (`release.recall_if_needed`) tells every party that holds or held a vial of
the batch, the sites where its vials are and the lab that made it. A notice is a copy
of what a signed entry says, for the people it concerns; it names the entry, and its
reader finds the proof there. Append-only; nothing is ever taken out of an inbox.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from traceability.services import sites as site_service
from traceability.storage.models import Notice, User

RECALL = "recall"


def notify(
    session: Session,
    recipients: Iterable[str],
    *,
    kind: str,
    subject: str,
    text: str,
    log_index: int,
    now: datetime,
) -> list[Notice]:
    """One notice per distinct recipient (`site:CODE` or `user:NAME`), in a stable order."""
    made = [
        Notice(
            recipient=recipient,
            kind=kind,
            subject=subject,
            text=text,
            log_index=log_index,
            created_at=now,
        )
        for recipient in sorted(set(recipients))
    ]
    session.add_all(made)
    return made


def inbox(session: Session, user: User, *, limit: int = 20) -> Sequence[Notice]:
    """The newest notices to the person or to any site they act for."""
    parties = [f"user:{user.username}"] + [
        f"site:{site.code}" for site in site_service.sites_of(session, user)
    ]
    return session.exec(
        select(Notice)
        .where(col(Notice.recipient).in_(parties))
        .order_by(col(Notice.id).desc())
        .limit(limit)
    ).all()
