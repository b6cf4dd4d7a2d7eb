"""The demo site a new user explores right after `./scripts/serve`: accounts
(`accounts`), two sites with storage and a shipment on its way (`custody`), their
logger files, one with an open excursion (`cold_chain`), and batches in every state a
lab sees (`records`).

Demo data is loaded only into an empty database, and only in development mode, so it
can never mix with a real site's records. Everything is written through the services
and signed into the custody log, as people would: the demo proves what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from traceability.custody_log.appender import CustodyLog
from traceability.demo import accounts, cold_chain, custody, records
from traceability.domain.actor import Actor
from traceability.settings import Settings


@dataclass(frozen=True)
class Loaded:
    accounts: int
    batches: int


def load(session: Session, settings: Settings, *, actor: Actor, now: datetime) -> Loaded:
    """Load the whole demo into an empty database and sign a checkpoint over it."""
    count = accounts.load(session, actor=actor, now=now)
    # Opening the custody log writes entry 0, which registers the service key.
    log = CustodyLog.from_settings(settings)
    custody.load_sites(session, actor=actor, now=now)
    cold_chain.load_cold_chain(session, log, resolver=settings.resolver_base, now=now)
    batches = records.load_records(session, log, resolver=settings.resolver_base, now=now)
    custody.load_custody(
        session,
        log,
        resolver=settings.resolver_base,
        company_prefix=settings.gs1_company_prefix,
        now=now,
    )
    log.issue_checkpoint(session, now=now)
    return Loaded(accounts=count, batches=batches)
