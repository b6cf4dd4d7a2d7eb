"""The release gate on plain facts: each check fails alone, the empty gate fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from traceability.domain.qc_record import QcStatus
from traceability.domain.release_gate import RELEASE_GATE, BatchFacts, Gate

CLEAN = BatchFacts(
    lot="L1",
    expires_on=date(2027, 1, 1),
    today=date(2026, 11, 2),
    qc={"sterility": QcStatus.passed, "viability": QcStatus.passed},
    test_names={"sterility": "Sterility", "viability": "Viability"},
)


def failing(facts: BatchFacts) -> dict[str, tuple[str, ...]]:
    return {c.name: c.reasons for c in RELEASE_GATE.evaluate(facts).failing}


def test_clean_facts_pass() -> None:
    assert RELEASE_GATE.evaluate(CLEAN).passed


@pytest.mark.parametrize(
    ("change", "check", "reason"),
    [
        (
            {"qc": {"sterility": QcStatus.passed, "viability": QcStatus.awaiting_review}},
            "qc-complete",
            "Viability: awaiting review",
        ),
        ({"open_oos": ["result #3"]}, "no-open-oos", "result #3"),
        ({"open_deviations": ["deviation #1"]}, "no-open-deviation", "deviation #1"),
        ({"open_excursions": ["excursion #2"]}, "no-open-excursion", "excursion #2"),
        (
            {"chain_problems": ["vial 0001: entry 9 modified"]},
            "custody-chain",
            "vial 0001: entry 9 modified",
        ),
        ({"unaccounted_vials": ["vial 0002"]}, "vials-accounted", "vial 0002"),
        ({"label_problems": ["vial 0003: no label"]}, "labels-reconciled", "vial 0003: no label"),
        ({"today": date(2027, 1, 2)}, "not-expired", "the batch expired on 2027-01-01"),
    ],
)
def test_each_check_fails_on_its_own(change: dict[str, object], check: str, reason: str) -> None:
    assert failing(replace(CLEAN, **change)) == {check: (reason,)}  # type: ignore[arg-type]


def test_the_expiry_day_itself_still_passes() -> None:
    assert RELEASE_GATE.evaluate(replace(CLEAN, today=date(2027, 1, 1))).passed


def test_sterility_may_pend_only_for_a_conditional_release() -> None:
    pending = replace(CLEAN, qc={"sterility": QcStatus.missing, "viability": QcStatus.passed})
    assert failing(pending) == {"qc-complete": ("Sterility: missing",)}
    assert RELEASE_GATE.evaluate(replace(pending, pending_allowed=frozenset({"sterility"}))).passed
    failed = replace(
        CLEAN,
        qc={"sterility": QcStatus.failed, "viability": QcStatus.passed},
        pending_allowed=frozenset({"sterility"}),
    )
    assert failing(failed) == {"qc-complete": ("Sterility: fail",)}


def test_an_empty_gate_fails() -> None:
    result = Gate(()).evaluate(CLEAN)
    assert not result.passed and result.failing[0].name == "empty-gate"
