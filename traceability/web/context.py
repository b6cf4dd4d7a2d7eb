"""What every request needs from the running service, kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from fastapi.templating import Jinja2Templates

from traceability.clock import Clock
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.witnessing import Witnessing
from traceability.services.auth import LockoutPolicy
from traceability.services.proof.self_check import SelfCheck
from traceability.settings import Settings
from traceability.storage.database import Database
from traceability.storage.group_commit import GroupCommit
from traceability.web.rate_limit import SlidingWindowLimiter

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    clock: Clock
    templates: Jinja2Templates
    log: CustodyLog
    writer: GroupCommit
    """Runs the busiest signed writes (custody steps) with group commit, on its own
    writer thread: one fsync'd commit for the steps waiting together."""
    scan_limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(limit=60)
    )
    witnessing: Witnessing | None = None
    """Submits checkpoints to the configured witnesses (the checkpoint timer runs it)."""
    self_check: SelfCheck | None = None
    """The scheduled reconcile; its latest outcome raises the alarm on QA's pages."""

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
        check = self.self_check
        if check is None:
            return []
        latest = check.latest
        if latest is None:
            return (
                ["the first self-check since start-up has not finished yet"]
                if check.started
                else []
            )
        return [] if latest.ok else latest.lines()
