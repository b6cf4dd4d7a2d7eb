"""What a QC result entry, a review or an OOS decision says, read from a signed `what`.

One model per statement kind (`domain.what`): refusals name `statement.what.<member>`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from traceability.clock import as_utc
from traceability.domain.qc_record import OosState, ReviewDecision
from traceability.domain.specifications import Result
from traceability.domain.what import Refusal, Text32, Text200, Text2000, What, refused


def _moment(value: object) -> datetime:
    """An RFC 3339 time as the device wrote it, as UTC (a naive one is taken as UTC)."""
    if not isinstance(value, str):
        raise ValueError("not text")
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


ResultId = Annotated[StrictInt, Field(ge=1), Refusal("{name} is a result id")]
Moment = Annotated[datetime, BeforeValidator(_moment), Refusal("{name} is an RFC 3339 time")]


class ResultEntry(What):
    """`qc.result.entered`: a QC result as the analyst reports it. `tested_at` may not
    be after the `now` the reader is given (the server's clock; the proof passes a time
    far ahead, since an entry is judged by the rules of when it was signed)."""

    test: Text32 = Field(description="the test's code in the batch's specification")
    values: Annotated[
        dict[str, Any],
        Field(strict=True, min_length=1),
        Refusal("{name} holds the value, result or markers"),
    ] = Field(description='one value ({"value": "85.2"}), a result, or one per marker')
    unit: Annotated[StrictStr | None, Refusal("{name} is text or null")] = None
    method: Text200
    instrument: Text200
    reagent_lots: Annotated[
        tuple[Annotated[StrictStr, Field(min_length=1)], ...],
        Refusal("{name} is a list of lot numbers"),
    ] = ()
    analyst: Text200
    tested_at: Moment
    assay_valid: Annotated[StrictBool, Refusal("{name} is true or false")] = True
    supersedes: ResultId | None = Field(
        default=None, description="the id of the result this one corrects"
    )
    reason: Text2000 | None = Field(default=None, description="why a result is corrected")

    @field_validator("tested_at")
    @classmethod
    def _not_ahead(cls, moment: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now")
        if not isinstance(now, datetime):
            raise TypeError("ResultEntry.from_what needs now= (the server's clock)")
        if moment > now:
            raise refused("tested_at is in the future")
        return moment

    @property
    def result(self) -> Result:
        return Result(self.test, self.values, self.unit, self.assay_valid)


class ReviewEntry(What):
    """`qc.result.reviewed`: a second person approves a result or sends it back; a
    result sent back says why."""

    result: ResultId
    decision: Annotated[ReviewDecision, Refusal("{name} is approved or returned")]
    comment: Text2000 | None = None

    @model_validator(mode="after")
    def _returned_says_why(self) -> ReviewEntry:
        if self.decision is ReviewDecision.returned and self.comment is None:
            raise refused("comment is text of 1-2000 characters", field="comment")
        return self


class OosConclusion(What):
    """`oos.concluded`: QA closes an OOS investigation, confirmed or invalidated."""

    result: ResultId
    conclusion: Annotated[
        OosState,
        Refusal("{name} is confirmed or invalidated"),
        WithJsonSchema({"type": "string", "enum": [OosState.confirmed, OosState.invalidated]}),
    ]
    reason: Text2000

    @field_validator("conclusion")
    @classmethod
    def _concluded(cls, conclusion: OosState) -> OosState:
        if conclusion is OosState.open:
            raise refused("conclusion is confirmed or invalidated")
        return conclusion
