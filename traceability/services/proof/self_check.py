"""The scheduled self-check: reconcile at start-up and every N minutes, and remember it.

The service cannot stop a database administrator from editing its tables; it can
notice. `SelfCheck.run` reconciles every table with the signed log (and takes what the
witnesses last said: a witness holding a larger tree than the log's is a rollback or
a split view), and keeps the outcome for the pages: QA and admin see an alarm on every
page while the last run found anything, and the release gate fails closed meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.evidence import ensure_covering
from traceability.services.proof.findings import ProofFinding
from traceability.services.proof.reconcile import ReconcileReport, reconcile
from traceability.storage.database import Database


@dataclass(frozen=True)
class Integrity:
    """The outcome of one self-check."""

    checked_at: datetime
    entries: int
    batches: int
    findings: tuple[ProofFinding, ...] = ()
    error: str | None = None
    """Why the check could not run to its end (that is an alarm too)."""

    @property
    def ok(self) -> bool:
        return not self.findings and self.error is None

    def lines(self) -> list[str]:
        out = [f.line() for f in self.findings]
        if self.error is not None:
            out.append(f"the self-check could not finish: {self.error}")
        return out


@dataclass
class SelfCheck:
    """Runs reconcile on demand and keeps the latest outcome; thread-safe."""

    db: Database
    log: CustodyLog
    witness_alarms: Callable[[], list[str]] = field(default=lambda: [])
    """What the witnesses last said against the log (from `witnessing`)."""
    started: bool = False
    """Set when the scheduled checks begin: until the first has finished, that is an
    alarm too (nothing has been checked since start-up)."""
    _latest: Integrity | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: threading.Lock = field(default_factory=threading.Lock)

    @property
    def latest(self) -> Integrity | None:
        with self._lock:
            return self._latest

    def run(self, now: datetime) -> Integrity:
        """Reconcile now (one run at a time; a second caller waits for it)."""
        with self._running:
            try:
                note = ensure_covering(self.db, self.log, now=now)
                report = reconcile(self.db, self.log.keys.log.verifier(), note=note, workers=1)
                outcome = _outcome(report, now, self.witness_alarms())
            except Exception as e:  # noqa: BLE001 - a check that cannot run is itself an alarm
                outcome = Integrity(now, 0, 0, (), f"{type(e).__name__}: {e}")
            with self._lock:
                self._latest = outcome
            return outcome


def _outcome(report: ReconcileReport, now: datetime, witnesses: list[str]) -> Integrity:
    findings = [*report.findings]
    findings += [ProofFinding("witness", "checkpoint", None, line) for line in witnesses]
    return Integrity(now, report.entries, report.batches, tuple(findings))
