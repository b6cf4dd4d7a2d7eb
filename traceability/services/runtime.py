"""The running service: its database, custody log, witnesses, self-check and clock,
built once from settings.

The web app keeps one on `app.state` (`web.context.ServiceContext` adds what only pages
need). Building it here keeps the web layer out of storage: a route receives a handle
to open units of work on and passes sessions to the services, but it never constructs
the database, reads a table or knows how writes are committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Self

from traceability.clock import Clock, utcnow
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.witnessing import Witnessing, endpoints
from traceability.services.auth import LockoutPolicy
from traceability.services.proof.self_check import SelfCheck
from traceability.settings import Settings
from traceability.storage.database import Database, create_db_engine
from traceability.storage.group_commit import GroupCommit

__all__ = ["Database", "Service"]


@dataclass(kw_only=True)
class Service:
    settings: Settings
    db: Database
    clock: Clock
    log: CustodyLog
    writer: GroupCommit
    """Runs the busiest signed writes (custody steps) with group commit, on its own
    writer thread: one fsync'd commit for the steps waiting together."""
    witnessing: Witnessing
    """Submits checkpoints to the configured witnesses (the checkpoint timer runs it)."""
    self_check: SelfCheck
    """The scheduled reconcile; its latest outcome raises the alarm on QA's pages."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Clock = utcnow,
        **extra: Any,
    ) -> Self:
        """The service for these settings, on `database` if given (tests pass their
        own); `extra` fills a subclass's own fields."""
        db = database or Database(create_db_engine(settings.database_url))
        log = CustodyLog.from_settings(settings)
        witnessing = Witnessing(
            db,
            log,
            endpoints(settings.witness_entries),
            quorum=settings.witness_quorum,
            timeout=settings.witness_timeout_seconds,
        )
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            log=log,
            writer=GroupCommit(db),
            witnessing=witnessing,
            self_check=SelfCheck(db, log, witnessing.alarms),
            **extra,
        )

    @property
    def lockout(self) -> LockoutPolicy:
        """The sign-in lock-out rule from settings, used by sign-in, e-signatures and pages."""
        return LockoutPolicy(
            attempts=self.settings.lockout_attempts,
            window=timedelta(minutes=self.settings.lockout_window_minutes),
        )

    def alarms(self) -> list[str]:
        """What the last self-check found; empty when it found nothing, or when no
        scheduled check runs here (a test's app, a command). While the first scheduled
        check since start-up is running, that itself is the alarm."""
        latest = self.self_check.latest
        if latest is None:
            return (
                ["the first self-check since start-up has not finished yet"]
                if self.self_check.started
                else []
            )
        return [] if latest.ok else latest.lines()
