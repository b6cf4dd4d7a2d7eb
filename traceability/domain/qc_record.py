"""The QC part of a batch record: which result stands for each required test, and why.

Plain rules, no storage. Results are never edited: a correction or a retest is a new
result that supersedes the earlier one, with a reason, and every version stays in the
record. A failed result opens an out-of-specification (OOS) investigation that blocks
release until QA closes it: *confirmed* (the batch goes to rejection) or *invalidated*
with a reason (the failure was a laboratory error; a retest may then supersede it).

`status_of` answers, for each required test, what a person needs to know: missing,
awaiting review, sent back, passed, failed, OOS under investigation, or retest needed.
The release gate (issue 7) reads the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from traceability.domain.roles import Role
from traceability.domain.specifications import Specification, Verdict
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError


class ReviewDecision(StrEnum):
    approved = "approved"
    returned = "returned"


class OosState(StrEnum):
    open = "open"
    confirmed = "confirmed"
    invalidated = "invalidated"


class QcStatus(StrEnum):
    missing = "missing"
    awaiting_review = "awaiting review"
    returned = "sent back"
    passed = "pass"
    failed = "fail"
    under_investigation = "OOS under investigation"
    retest_needed = "retest needed"


class BatchState(StrEnum):
    quarantine = "quarantine"
    released = "released"
    conditionally_released = "conditionally released"
    on_hold = "on hold"
    rejected = "rejected"
    recalled = "recalled"


CLOSED_STATES = frozenset({BatchState.released, BatchState.rejected})
"""No QC entry of any kind is accepted on a batch in these states."""


@dataclass(frozen=True)
class ResultView:
    """What the rules need to know about one stored result."""

    id: int
    test: str
    entered_by: str
    verdict: Verdict
    supersedes: int | None = None
    review: ReviewDecision | None = None
    oos: OosState | None = None


def check_batch_open(state: BatchState) -> None:
    if state in CLOSED_STATES:
        raise ConflictError(f"the batch is {state}; its record takes no more entries")


def current_results(results: Sequence[ResultView]) -> dict[str, ResultView]:
    """The result that stands for each test: the one no other result supersedes."""
    superseded = {r.supersedes for r in results if r.supersedes is not None}
    current: dict[str, ResultView] = {}
    for result in results:
        if result.id not in superseded:
            current[result.test] = result
    return current


def check_new_result(
    results: Sequence[ResultView], test: str, *, supersedes: int | None, reason: str | None
) -> None:
    """May a new result for `test` be entered (first, correction or retest)?"""
    if supersedes is not None:
        named = next((r for r in results if r.id == supersedes), None)
        if named is None or named.test != test:
            what = "this batch's" if named is None else f"a {test}"
            raise InvalidInputError(f"result {supersedes} is not {what} result", field="supersedes")
    standing = current_results(results).get(test)
    if standing is None:
        if supersedes is not None:
            raise InvalidInputError(
                "there is no result of this test to supersede", field="supersedes"
            )
        return
    if supersedes != standing.id:
        raise ConflictError(
            f"{test} already has result {standing.id}; a correction or retest must supersede "
            "it (and give a reason)"
        )
    if not (reason or "").strip():
        raise InvalidInputError("superseding a result needs a reason", field="reason")
    if standing.oos is OosState.open:
        raise ConflictError(f"result {standing.id} is under OOS investigation; close it first")
    if standing.oos is OosState.confirmed:
        raise ConflictError(
            f"result {standing.id} was confirmed out of specification; "
            "the batch goes to rejection, not to a retest"
        )


def check_standing(results: Sequence[ResultView], result: ResultView) -> None:
    """Only the result that stands for its test is reviewed: a superseded one is history,
    and one its OOS investigation invalidated is replaced by a retest."""
    standing = current_results(results).get(result.test)
    if standing is None or standing.id != result.id:
        newer = f" by result {standing.id}" if standing is not None else ""
        raise ConflictError(f"result {result.id} was superseded{newer}; review the standing one")
    if result.oos is OosState.invalidated:
        raise ConflictError(
            f"result {result.id} was invalidated by its OOS investigation; a retest replaces it"
        )


def check_reviewer(result: ResultView, reviewer: str, roles: frozenset[Role]) -> None:
    """Second-person review: lab or QA, and never the person who entered the result."""
    if reviewer == result.entered_by:
        raise PermissionDeniedError("you entered this result; another person must review it")
    if not roles & {Role.lab, Role.qa}:
        raise PermissionDeniedError("reviewing a result needs the lab or qa role")
    if result.review is not None:
        raise ConflictError(f"result {result.id} was already reviewed ({result.review})")


def status_of(result: ResultView | None) -> QcStatus:
    if result is None:
        return QcStatus.missing
    if result.verdict is Verdict.failed:
        if result.oos is OosState.open:
            return QcStatus.under_investigation
        if result.oos is OosState.invalidated:
            return QcStatus.retest_needed
        return QcStatus.failed
    if result.verdict is Verdict.invalid or result.review is ReviewDecision.returned:
        return QcStatus.retest_needed if result.verdict is Verdict.invalid else QcStatus.returned
    if result.review is None:
        return QcStatus.awaiting_review
    return QcStatus.passed


def record_status(
    specification: Specification, results: Sequence[ResultView]
) -> dict[str, QcStatus]:
    """Every required test of the batch's specification version, in its order."""
    current = current_results(results)
    return {test.code: status_of(current.get(test.code)) for test in specification.tests}
