"""The custody state machine: only the permitted sequences (21 CFR 11.10(f))."""

from __future__ import annotations

import itertools

import pytest

from traceability.domain.custody import (
    ALLOWED,
    CustodyState,
    Party,
    Step,
    check_disposition,
    check_first_custody,
    check_handover_while_held,
    check_step,
    custodian_after,
)
from traceability.domain.qc_record import BatchState
from traceability.errors import ConflictError, InvalidInputError, PermissionDeniedError

S = CustodyState
PERMITTED = {
    (Step.store, S.commissioned),
    (Step.store, S.in_storage),
    (Step.store, S.packed),
    (Step.store, S.received),
    (Step.pack, S.in_storage),
    (Step.hand_to_courier, S.in_storage),
    (Step.hand_to_courier, S.packed),
    (Step.hand_to_courier, S.with_courier),
    (Step.hand_to_courier, S.in_transit),
    (Step.dispatch, S.with_courier),
    (Step.hand_to_site, S.with_courier),
    (Step.hand_to_site, S.in_transit),
    (Step.receive, S.delivered),
    (Step.administer, S.in_storage),
    (Step.administer, S.received),
    (Step.destroy, S.commissioned),
    (Step.destroy, S.in_storage),
    (Step.destroy, S.received),
}  # written out by hand from the sequence, not read from ALLOWED


def test_the_table_is_the_permitted_sequence() -> None:
    assert {(step, state) for step, states in ALLOWED.items() for state in states} == PERMITTED


@pytest.mark.parametrize(
    ("step", "state"),
    [pair for pair in itertools.product(Step, S) if pair not in PERMITTED],
    ids=lambda v: str(v),
)
def test_every_other_step_is_refused_naming_the_current_state(step: Step, state: S) -> None:
    with pytest.raises(ConflictError) as refused:
        check_step(step, state)
    assert f"is {state}" in str(refused.value)


def test_nothing_follows_administered_or_destroyed() -> None:
    for step in Step:
        for state in (S.administered, S.destroyed):
            with pytest.raises(ConflictError):
                check_step(step, state)


@pytest.mark.parametrize(
    "state", [BatchState.quarantine, BatchState.on_hold, BatchState.rejected, BatchState.recalled]
)
def test_only_released_vials_are_administered(state: BatchState) -> None:
    with pytest.raises(ConflictError):
        check_disposition(Step.administer, state)
    check_disposition(Step.hand_to_courier, state)  # shipping in quarantine is allowed
    check_disposition(Step.destroy, state)


def test_released_vials_are_administered() -> None:
    check_disposition(Step.administer, BatchState.released)
    check_disposition(Step.administer, BatchState.conditionally_released)


def test_the_custodian_changes_only_on_a_completed_handoff() -> None:
    lab, cora = Party("site", "LAB1"), Party("user", "cora")
    assert custodian_after(Step.hand_to_courier, to=cora, current=lab) == cora
    assert custodian_after(Step.dispatch, to=None, current=cora) == cora
    assert custodian_after(Step.destroy, to=None, current=lab) is None


@pytest.mark.parametrize("value", ["cora", "site:", "user:a b", "group:x", 7, None])
def test_a_party_is_site_or_user(value: object) -> None:
    with pytest.raises(InvalidInputError):
        Party.parse(value, "to")


def test_a_commissioned_vial_is_acted_on_only_by_its_making_lab() -> None:
    with pytest.raises(PermissionDeniedError, match="made at LAB1"):
        check_first_custody(S.commissioned, maker="LAB1", acts_for_maker=False)
    check_first_custody(S.commissioned, maker="LAB1", acts_for_maker=True)
    for state in set(S) - {S.commissioned}:  # someone holds it: custody decides
        check_first_custody(state, maker="LAB1", acts_for_maker=False)


def test_a_held_batchs_vial_goes_only_back_to_its_lab() -> None:
    lab, clinic, cora = Party("site", "LAB1"), Party("site", "CLINIC1"), Party("user", "cora")

    def hand(state: BatchState, to: Party, holder: Party, home: Party | None = lab) -> None:
        check_handover_while_held(state, lot="L1", unit="the vial", to=to, holder=holder, home=home)

    hand(BatchState.released, cora, lab)  # not held: anything the steps allow
    for state in (BatchState.recalled, BatchState.on_hold, BatchState.rejected):
        hand(state, cora, clinic)  # a courier collects it from the clinic
        hand(state, lab, cora)  # and brings it home
        for to, holder in ((cora, lab), (clinic, cora), (Party("user", "cody"), cora)):
            with pytest.raises(ConflictError, match="goes only back to LAB1"):
                hand(state, to, holder)
    with pytest.raises(ConflictError, match="nowhere until QA decides"):
        hand(BatchState.recalled, lab, cora, home=None)
