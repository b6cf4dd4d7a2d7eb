"""The release gate: small named checks, composed with all-of semantics.

Plain rules. The service gathers the facts about a batch (`BatchFacts`); each check
reads them and passes, or fails with reasons a person can act on ("viability: awaiting
review", "vial 0003: no label issued"). A gate with no checks fails: an empty gate
must never release anything by accident.

A conditional release (sterility pending, 21 CFR 1271.265 style) passes the gate when
everything passes except the sterility test still waiting for its result or review;
a failed sterility result never passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from traceability.domain.qc_record import QcStatus


@dataclass(frozen=True)
class BatchFacts:
    """Everything the checks read, gathered by the service in one read transaction."""

    lot: str
    expires_on: date
    today: date
    qc: Mapping[str, QcStatus]
    """Each required test's status under the batch's specification version."""
    test_names: Mapping[str, str]
    pending_allowed: frozenset[str] = frozenset()
    """Tests that may still be pending (a conditional release: sterility)."""
    open_oos: Sequence[str] = ()
    open_deviations: Sequence[str] = ()
    open_excursions: Sequence[str] = ()
    chain_problems: Sequence[str] = ()
    unaccounted_vials: Sequence[str] = ()
    label_problems: Sequence[str] = ()
    unproven: Sequence[str] = ()
    """Rows the facts above were read from that the signed log does not prove (a row
    with no entry, an entry with no row, a row that disagrees with its entry)."""
    log_alarms: Sequence[str] = ()
    """What the last scheduled self-check found anywhere in the tables or the log: a
    damaged record elsewhere may hide damage here that a batch's own check cannot see
    (an entry deleted with its row)."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    passed: bool
    reasons: tuple[str, ...] = ()
    evaluated: bool = True
    """False when the check did not run (the record it reads is not proven): it does not
    pass, and says nothing about what it checks."""


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[BatchFacts], Sequence[str]]
    """The reasons it fails; none means it passes."""

    def __call__(self, facts: BatchFacts) -> CheckResult:
        reasons = tuple(self.run(facts))
        return CheckResult(self.name, self.title, not reasons, reasons)


@dataclass(frozen=True)
class GateResult:
    checks: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def not_evaluated(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.evaluated)

    @property
    def failing(self) -> tuple[CheckResult, ...]:
        if not self.checks:
            return (CheckResult("empty-gate", "The gate has checks", False, ("no checks",)),)
        return tuple(c for c in self.checks if not c.passed)


@dataclass(frozen=True)
class Gate:
    checks: tuple[Check, ...] = field(default_factory=tuple)

    def evaluate(self, facts: BatchFacts) -> GateResult:
        return GateResult(tuple(check(facts) for check in self.checks))


PENDING = frozenset({QcStatus.missing, QcStatus.awaiting_review})


def _qc(facts: BatchFacts) -> list[str]:
    reasons = []
    for code, status in facts.qc.items():
        if status is QcStatus.passed:
            continue
        if code in facts.pending_allowed and status in PENDING:
            continue
        name = facts.test_names.get(code, code)
        reasons.append(f"{name}: {status.value}")
    return reasons


def _listed(attribute: str) -> Callable[[BatchFacts], Sequence[str]]:
    def run(facts: BatchFacts) -> Sequence[str]:
        values: Sequence[str] = getattr(facts, attribute)
        return list(values)

    return run


def _not_expired(facts: BatchFacts) -> list[str]:
    if facts.expires_on < facts.today:
        return [f"the batch expired on {facts.expires_on.isoformat()}"]
    return []


RELEASE_GATE = Gate(
    (
        Check(
            "proven-by-log",
            "Every fact below is proven by the signed custody log",
            _listed("unproven"),
        ),
        Check(
            "self-check-clean",
            "The last self-check found every table agreeing with the log",
            _listed("log_alarms"),
        ),
        Check(
            "qc-complete",
            "Every required test has a valid, reviewed, passing result",
            _qc,
        ),
        Check("no-open-oos", "No open OOS investigation", _listed("open_oos")),
        Check("no-open-deviation", "No open deviation", _listed("open_deviations")),
        Check(
            "no-open-excursion",
            "No open temperature excursion",
            _listed("open_excursions"),
        ),
        Check(
            "custody-chain",
            "Every vial's custody chain verifies",
            _listed("chain_problems"),
        ),
        Check(
            "vials-accounted",
            "Every vial is accounted for",
            _listed("unaccounted_vials"),
        ),
        Check("labels-reconciled", "Labels reconciled", _listed("label_problems")),
        Check("not-expired", "The batch has not expired", _not_expired),
    )
)
"""The checks of DESIGN.md's release gate, in the order a checklist shows them."""


NOT_EVALUATED = "not evaluated: the record it reads is not proven by the signed log"


def unproven_result(unproven: Sequence[str], alarms: Sequence[str]) -> GateResult:
    """The gate when the batch's record is not proven: its rows may hold anything, so no
    check reads them; every one but the two about the log fails as not evaluated."""
    results = []
    for check in RELEASE_GATE.checks:
        if check.name == "proven-by-log":
            results.append(CheckResult(check.name, check.title, False, tuple(unproven)))
        elif check.name == "self-check-clean":
            results.append(CheckResult(check.name, check.title, not alarms, tuple(alarms)))
        else:
            results.append(
                CheckResult(check.name, check.title, False, (NOT_EVALUATED,), evaluated=False)
            )
    return GateResult(tuple(results))
