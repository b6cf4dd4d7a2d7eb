"""QA's excursion closure is read once, by its kind's model, naming the member."""

from __future__ import annotations

from typing import Any

import pytest

from traceability.domain.cold_chain import ExcursionClosing
from traceability.errors import InvalidInputError

CLOSE = {"excursion": 3, "assessment": "  Vials stayed below -130 °C.  "}


def test_a_closure_reads_stripped() -> None:
    closing = ExcursionClosing.from_what(CLOSE | {"client": "qa-app"})
    assert (closing.excursion, closing.assessment) == (3, "Vials stayed below -130 °C.")


@pytest.mark.parametrize(
    ("what", "field", "says"),
    [
        ({"assessment": "fine"}, "excursion", "excursion is the excursion's id"),
        (CLOSE | {"excursion": True}, "excursion", "excursion is the excursion's id"),
        (CLOSE | {"excursion": "3"}, "excursion", "excursion is the excursion's id"),
        (CLOSE | {"excursion": 0}, "excursion", "excursion is the excursion's id"),
        # the excursion is named before the assessment is judged, as the service did
        ({"excursion": None, "assessment": 5}, "excursion", "excursion is the excursion's id"),
        ({"excursion": 3}, "assessment", "assessment is text of 1-4000 characters"),
        (CLOSE | {"assessment": "  "}, "assessment", "assessment is text of 1-4000 characters"),
        (CLOSE | {"assessment": 4}, "assessment", "assessment is text of 1-4000 characters"),
        (
            CLOSE | {"assessment": "a" * 4001},
            "assessment",
            "assessment is text of 1-4000 characters",
        ),
    ],
)
def test_a_bad_closure_is_refused_naming_the_member(
    what: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        ExcursionClosing.from_what(what)
    assert (refused.value.field, str(refused.value)) == (f"statement.what.{field}", says)
