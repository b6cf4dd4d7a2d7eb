"""The QC record's rules: supersession, second-person review, OOS blocking."""

from __future__ import annotations

import pytest

from traceability.domain.qc_record import (
    BatchState,
    OosState,
    QcStatus,
    ResultView,
    ReviewDecision,
    check_batch_open,
    check_new_result,
    check_reviewer,
    current_results,
    record_status,
)
from traceability.domain.roles import Role
from traceability.domain.specifications import Verdict, uc_msc_specification
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError

LAB = frozenset({Role.lab})


def result(
    id: int,
    test: str = "viability",
    verdict: Verdict = Verdict.passed,  # noqa: A002
    **kw: object,
) -> ResultView:
    return ResultView(id=id, test=test, entered_by=str(kw.pop("by", "lena")), verdict=verdict, **kw)  # type: ignore[arg-type]


def test_a_first_result_needs_nothing_to_supersede() -> None:
    check_new_result([], "viability", supersedes=None, reason=None)
    with pytest.raises(InvalidInputError) as e:
        check_new_result([], "viability", supersedes=3, reason="x")
    assert e.value.field == "supersedes"


def test_a_second_result_must_supersede_the_standing_one_with_a_reason() -> None:
    standing = [result(1)]
    with pytest.raises(ConflictError, match="supersede"):
        check_new_result(standing, "viability", supersedes=None, reason=None)
    with pytest.raises(InvalidInputError) as e:
        check_new_result(standing, "viability", supersedes=1, reason="  ")
    assert e.value.field == "reason"
    check_new_result(standing, "viability", supersedes=1, reason="transcription error")


def test_a_correction_names_a_result_of_the_same_test_on_this_batch() -> None:
    """Naming another batch's result, or another test's, is bad input (422), not the
    409 'must supersede the standing one', which would send the analyst looking for it."""
    standing = [result(1), result(2, test="endotoxin")]
    with pytest.raises(InvalidInputError, match="result 7 is not this batch's result") as e:
        check_new_result(standing, "viability", supersedes=7, reason="typo")
    assert e.value.field == "supersedes"
    with pytest.raises(InvalidInputError, match="result 2 is not a viability result") as e:
        check_new_result(standing, "viability", supersedes=2, reason="typo")
    assert e.value.field == "supersedes"


def test_every_version_stays_and_the_newest_stands() -> None:
    history = [result(1), result(2, supersedes=1), result(3, supersedes=2)]
    assert current_results(history)["viability"].id == 3
    with pytest.raises(ConflictError):
        check_new_result(history, "viability", supersedes=1, reason="old one")


def test_an_open_oos_investigation_blocks_a_retest_until_it_is_closed() -> None:
    failed = [result(1, verdict=Verdict.failed, oos=OosState.open)]
    with pytest.raises(ConflictError, match="OOS"):
        check_new_result(failed, "viability", supersedes=1, reason="retest")
    invalidated = [result(1, verdict=Verdict.failed, oos=OosState.invalidated)]
    check_new_result(invalidated, "viability", supersedes=1, reason="retest after lab error")
    confirmed = [result(1, verdict=Verdict.failed, oos=OosState.confirmed)]
    with pytest.raises(ConflictError, match="rejection"):
        check_new_result(confirmed, "viability", supersedes=1, reason="retest")


def test_nobody_reviews_their_own_result() -> None:
    entered = result(1, by="lena")
    with pytest.raises(PermissionDeniedError, match="another person"):
        check_reviewer(entered, "lena", frozenset({Role.lab, Role.qa}))
    with pytest.raises(PermissionDeniedError, match="lab or qa"):
        check_reviewer(entered, "cora", frozenset({Role.courier}))
    check_reviewer(entered, "leo", LAB)
    check_reviewer(entered, "quinn", frozenset({Role.qa}))
    with pytest.raises(ConflictError, match="already reviewed"):
        check_reviewer(result(2, review=ReviewDecision.approved), "leo", LAB)


def test_the_record_shows_each_required_test_in_the_specifications_order() -> None:
    spec = uc_msc_specification()
    results = [
        result(1, "sterility", review=ReviewDecision.approved),
        result(2, "potency", Verdict.failed, oos=OosState.open),
        result(3, "viability"),
        result(4, "endotoxin", Verdict.invalid),
        result(5, "identity", review=ReviewDecision.returned),
        result(6, "mycoplasma", Verdict.failed, oos=OosState.invalidated),
    ]
    assert record_status(spec, results) == {
        "sterility": QcStatus.passed,
        "mycoplasma": QcStatus.retest_needed,
        "endotoxin": QcStatus.retest_needed,
        "identity": QcStatus.returned,
        "viability": QcStatus.awaiting_review,
        "potency": QcStatus.under_investigation,
        "cell_count": QcStatus.missing,
    }


@pytest.mark.parametrize("state", [BatchState.released, BatchState.rejected])
def test_released_or_rejected_batches_take_no_entries(state: BatchState) -> None:
    with pytest.raises(ConflictError, match=str(state)):
        check_batch_open(state)


def test_open_batches_take_entries() -> None:
    for state in (BatchState.quarantine, BatchState.on_hold, BatchState.conditionally_released):
        check_batch_open(state)
