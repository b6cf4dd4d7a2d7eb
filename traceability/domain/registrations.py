"""What a product or batch registration says, read from a signed statement's `what`.

One model per statement kind (`domain.what`). Every refusal names the member as
`statement.what.<member>`, because that is where the person's device put it.
Identifiers follow GS1 (`identifiers`: GTIN check digit, AI 82 characters for lots and
serials); a donor is only ever a pseudonymous code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from traceability.domain.identifiers import MAX_LOT, MAX_SERIAL, ai82, gtin14
from traceability.domain.specifications import Specification, specification_from_json
from traceability.domain.what import Refusal, Text32, Text200, What, refused
from traceability.errors import InvalidInputError

PRODUCT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
DONOR_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,31}$")
MAX_VIALS = 2000


class ProcessingClass(StrEnum):
    minimally_manipulated = "minimally-manipulated"
    advanced_therapy = "advanced-therapy"


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """A domain check (raising InvalidInputError) as a pydantic validator."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidInputError as e:
            raise refused(str(e)) from None

    return validate


def _digits_as_text(value: object) -> object:
    """A GTIN or lot sent as a JSON number reads as its digits, as it always has."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _day(value: object) -> date:
    if not isinstance(value, str):
        raise ValueError("not text")
    return date.fromisoformat(value)


def _matching(pattern: re.Pattern[str], message: str) -> Callable[[str], str]:
    def validate(value: str) -> str:
        if not pattern.fullmatch(value):
            raise refused(message)
        return value

    return validate


ISBT128_FACILITY = re.compile(r"^[A-NP-Z][0-9]{4}$")
_PROCESSING_CLASSES = ", ".join(c.value for c in ProcessingClass)

Class = Annotated[ProcessingClass, Refusal(f"{{name}} is one of {_PROCESSING_CLASSES}")]
Day = Annotated[date, BeforeValidator(_day), Refusal("{name} is a date YYYY-MM-DD")]
Gtin = Annotated[
    StrictStr,
    BeforeValidator(_digits_as_text),
    AfterValidator(_checked(lambda v: gtin14(v, field="gtin"))),
    Refusal("a GTIN has 8, 12, 13 or 14 digits"),
]
Lot = Annotated[
    StrictStr,
    BeforeValidator(_digits_as_text),
    AfterValidator(_checked(lambda v: ai82(v, name="lot", field="lot", max_length=MAX_LOT))),
    Refusal(f"{{name}} is 1-{MAX_LOT} GS1 AI 82 characters"),
]
Serial = Annotated[
    StrictStr,
    AfterValidator(
        _checked(lambda v: ai82(v, name="serial", field="serial", max_length=MAX_SERIAL))
    ),
]
Facility = Annotated[
    StrictStr,
    AfterValidator(
        _matching(
            ISBT128_FACILITY, "isbt128_facility is a letter (not O) and four digits, e.g. G1234"
        )
    ),
    Refusal("{name} is a letter (not O) and four digits, e.g. G1234"),
]
"""An optional ISBT 128 facility identification number: a letter (not O), four digits."""


def _specification(value: object) -> Specification:
    try:
        return specification_from_json(value)
    except InvalidInputError as e:
        # specification_from_json names members inside the document ("tests[0].code").
        raise refused(str(e), field=None if e.field == "specification" else e.field) from None


_LIMIT = {
    "type": "object",
    "properties": {
        "value": {"type": "string", "description": "a decimal, as text"},
        "inclusive": {"type": "boolean"},
    },
    "required": ["value", "inclusive"],
}
_NUMERIC = {
    "type": "object",
    "properties": {
        "kind": {"const": "numeric"},
        "unit": {"type": "string"},
        "lower": {"anyOf": [_LIMIT, {"type": "null"}]},
        "upper": {"anyOf": [_LIMIT, {"type": "null"}]},
    },
    "required": ["kind", "unit"],
}
SPECIFICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A specification version: the tests a batch of the product must pass.",
    "properties": {
        "product": {"type": "string", "description": "the product's code"},
        "version": {"type": "integer", "minimum": 1},
        "tests": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "name": {"type": "string"},
                    "method": {"type": "string"},
                    "rapid_method": {"type": ["string", "null"]},
                    "criterion": {
                        "oneOf": [
                            _NUMERIC,
                            {
                                "type": "object",
                                "properties": {
                                    "kind": {"const": "qualitative"},
                                    "accepted": {"type": "string"},
                                    "vocabulary": {"type": "array", "items": {"type": "string"}},
                                },
                                "required": ["kind", "accepted", "vocabulary"],
                            },
                            {
                                "type": "object",
                                "properties": {
                                    "kind": {"const": "markers"},
                                    "markers": {"type": "object", "additionalProperties": _NUMERIC},
                                },
                                "required": ["kind", "markers"],
                            },
                        ]
                    },
                },
                "required": ["code", "name", "method", "criterion"],
            },
        },
    },
    "required": ["product", "version", "tests"],
}
"""What `specification_from_json` reads, for the API's documentation (it does the checking)."""

SpecificationDocument = Annotated[
    Specification, PlainValidator(_specification), WithJsonSchema(SPECIFICATION_SCHEMA)
]


class ProductRegistration(What):
    """`product.registered`: a product and its specification version 1."""

    code: Annotated[
        Text32,
        AfterValidator(_matching(PRODUCT_CODE, "code is 2-32 upper-case letters, digits or '-'")),
    ]
    name: Text200
    gtin: Gtin
    processing_class: Class
    storage_condition: Text200
    specification: SpecificationDocument
    isbt128_facility: Facility | None = None

    @model_validator(mode="after")
    def _first_version(self) -> ProductRegistration:
        _check_product(self.specification, self.code)
        if self.specification.version != 1:
            raise refused(
                "a new product starts at specification version 1", field="specification.version"
            )
        return self


def _check_product(specification: Specification, product_code: str) -> None:
    if specification.product_code != product_code:
        raise refused(
            f"the specification is for {specification.product_code}",
            field="specification.product",
        )


class SpecificationVersionRequest(What):
    """`spec.version.created`: the next specification version of the product named in
    the reader's context (`product=`)."""

    specification: SpecificationDocument

    @model_validator(mode="after")
    def _of_the_product(self, info: ValidationInfo) -> SpecificationVersionRequest:
        product = (info.context or {}).get("product")
        if not isinstance(product, str):
            raise TypeError("SpecificationVersionRequest.from_what needs product=")
        _check_product(self.specification, product)
        return self


def read_specification(what: Mapping[str, Any], product_code: str) -> Specification:
    return SpecificationVersionRequest.from_what(what, product=product_code).specification


class BatchRegistration(What):
    """`batch.registered`: a batch of a product and the serials of its vials."""

    product: Text32 = Field(description="the product's code")
    lot: Lot
    donor_code: Annotated[
        Text32,
        AfterValidator(
            _matching(
                DONOR_CODE,
                "donor_code is a pseudonymous code (4-32 upper-case letters, digits or '-'), "
                "never a name",
            )
        ),
    ]
    processing_class: Class
    manufactured_on: Day
    expires_on: Day
    specification_version: Annotated[
        StrictInt, Field(ge=1), Refusal("{name} is a positive integer")
    ]
    serials: Annotated[
        tuple[Serial, ...],
        Field(min_length=1, max_length=MAX_VIALS),
        Refusal(f"vials lists 1-{MAX_VIALS} serial numbers"),
    ] = Field(alias="vials", description="the serial numbers of the batch's vials")
    site: Text32 | None = None
    """The code of the laboratory that makes the batch; its members keep the record."""

    @model_validator(mode="after")
    def _consistent(self) -> BatchRegistration:
        if self.expires_on <= self.manufactured_on:
            raise refused("expires_on must come after manufactured_on", field="expires_on")
        if len(set(self.serials)) != len(self.serials):
            raise refused("vial serial numbers must be unique", field="vials")
        return self
