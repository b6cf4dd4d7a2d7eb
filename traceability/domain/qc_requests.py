"""What a QC result entry, a review or an OOS decision says, read from a signed `what`.

Plain Python; refusals name `statement.what.<member>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from traceability.clock import as_utc
from traceability.domain.qc_record import OosState, ReviewDecision
from traceability.domain.specifications import Result
from traceability.errors import InvalidInputError

WHAT = "statement.what"


def _field(name: str) -> str:
    return f"{WHAT}.{name}"


def _text(
    what: Mapping[str, Any], name: str, *, required: bool = True, max_length: int = 200
) -> str | None:
    value = what.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(f"{name} is text of 1-{max_length} characters", field=_field(name))
    return value.strip()


def _required(what: Mapping[str, Any], name: str, max_length: int = 200) -> str:
    value = _text(what, name, max_length=max_length)
    assert value is not None  # noqa: S101 - required
    return value


def _result_id(what: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = what.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{name} is a result id", field=_field(name))
    return value


@dataclass(frozen=True)
class ResultEntry:
    result: Result
    method: str
    instrument: str
    reagent_lots: tuple[str, ...]
    analyst: str
    tested_at: datetime
    supersedes: int | None
    reason: str | None

    @classmethod
    def from_what(cls, what: Mapping[str, Any], *, now: datetime) -> ResultEntry:
        test = _required(what, "test", 32)
        values = what.get("values")
        if not isinstance(values, dict) or not values:
            raise InvalidInputError(
                "values holds the value, result or markers", field=_field("values")
            )
        unit = what.get("unit")
        if unit is not None and not isinstance(unit, str):
            raise InvalidInputError("unit is text or null", field=_field("unit"))
        lots = what.get("reagent_lots", [])
        if not isinstance(lots, list) or not all(isinstance(x, str) and x for x in lots):
            raise InvalidInputError(
                "reagent_lots is a list of lot numbers", field=_field("reagent_lots")
            )
        tested_at = what.get("tested_at")
        try:
            moment = as_utc(datetime.fromisoformat(str(tested_at).replace("Z", "+00:00")))
        except ValueError:
            raise InvalidInputError(
                "tested_at is an RFC 3339 time", field=_field("tested_at")
            ) from None
        if moment > now:
            raise InvalidInputError("tested_at is in the future", field=_field("tested_at"))
        valid = what.get("assay_valid", True)
        if not isinstance(valid, bool):
            raise InvalidInputError("assay_valid is true or false", field=_field("assay_valid"))
        return cls(
            result=Result(test, values, unit, valid),
            method=_required(what, "method"),
            instrument=_required(what, "instrument"),
            reagent_lots=tuple(lots),
            analyst=_required(what, "analyst"),
            tested_at=moment,
            supersedes=_result_id(what, "supersedes", required=False),
            reason=_text(what, "reason", required=False, max_length=2000),
        )


@dataclass(frozen=True)
class ReviewEntry:
    result: int
    decision: ReviewDecision
    comment: str | None

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> ReviewEntry:
        try:
            decision = ReviewDecision(str(what.get("decision")))
        except ValueError:
            raise InvalidInputError(
                "decision is approved or returned", field=_field("decision")
            ) from None
        comment = _text(
            what, "comment", required=decision is ReviewDecision.returned, max_length=2000
        )
        result = _result_id(what, "result", required=True)
        assert result is not None  # noqa: S101 - required
        return cls(result, decision, comment)


@dataclass(frozen=True)
class OosConclusion:
    result: int
    conclusion: OosState
    reason: str

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> OosConclusion:
        try:
            conclusion = OosState(str(what.get("conclusion")))
        except ValueError:
            conclusion = OosState.open
        if conclusion is OosState.open:
            raise InvalidInputError(
                "conclusion is confirmed or invalidated", field=_field("conclusion")
            )
        result = _result_id(what, "result", required=True)
        assert result is not None  # noqa: S101 - required
        return cls(result, conclusion, _required(what, "reason", 2000))
