"""What a product or batch registration says, read from a signed statement's `what`.

Plain Python. Every refusal names the member as `statement.what.<member>`, because that
is where the person's device put it. Identifiers follow GS1 (`identifiers`: GTIN check
digit, AI 82 characters for lots and serials); a donor is only ever a pseudonymous code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from traceability.domain.identifiers import MAX_LOT, MAX_SERIAL, ai82, gtin14
from traceability.domain.specifications import Specification, specification_from_json
from traceability.errors import InvalidInputError

WHAT = "statement.what"
PRODUCT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
DONOR_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,31}$")
MAX_VIALS = 2000


class ProcessingClass(StrEnum):
    minimally_manipulated = "minimally-manipulated"
    advanced_therapy = "advanced-therapy"


def _field(name: str) -> str:
    return f"{WHAT}.{name}"


def _text(what: Mapping[str, Any], name: str, max_length: int = 200) -> str:
    value = what.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(f"{name} is text of 1-{max_length} characters", field=_field(name))
    return value.strip()


def _day(what: Mapping[str, Any], name: str) -> date:
    value = what.get(name)
    try:
        return date.fromisoformat(value) if isinstance(value, str) else date.fromisoformat("")
    except ValueError:
        raise InvalidInputError(f"{name} is a date YYYY-MM-DD", field=_field(name)) from None


def _processing_class(what: Mapping[str, Any]) -> ProcessingClass:
    try:
        return ProcessingClass(str(what.get("processing_class")))
    except ValueError:
        allowed = ", ".join(c.value for c in ProcessingClass)
        raise InvalidInputError(
            f"processing_class is one of {allowed}", field=_field("processing_class")
        ) from None


ISBT128_FACILITY = re.compile(r"^[A-NP-Z][0-9]{4}$")


def _facility(what: Mapping[str, Any]) -> str | None:
    """An optional ISBT 128 facility identification number: a letter (not O), four digits."""
    value = what.get("isbt128_facility")
    if value is None:
        return None
    if not isinstance(value, str) or not ISBT128_FACILITY.fullmatch(value):
        raise InvalidInputError(
            "isbt128_facility is a letter (not O) and four digits, e.g. G1234",
            field=_field("isbt128_facility"),
        )
    return value


@dataclass(frozen=True)
class ProductRegistration:
    code: str
    name: str
    gtin: str
    processing_class: ProcessingClass
    storage_condition: str
    specification: Specification
    isbt128_facility: str | None = None

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> ProductRegistration:
        code = _text(what, "code", 32)
        if not PRODUCT_CODE.fullmatch(code):
            raise InvalidInputError(
                "code is 2-32 upper-case letters, digits or '-'", field=_field("code")
            )
        specification = read_specification(what, code)
        if specification.version != 1:
            raise InvalidInputError(
                "a new product starts at specification version 1",
                field=_field("specification.version"),
            )
        return cls(
            code=code,
            name=_text(what, "name"),
            gtin=gtin14(str(what.get("gtin", "")), field=_field("gtin")),
            processing_class=_processing_class(what),
            storage_condition=_text(what, "storage_condition"),
            specification=specification,
            isbt128_facility=_facility(what),
        )


def read_specification(what: Mapping[str, Any], product_code: str) -> Specification:
    try:
        specification = specification_from_json(what.get("specification"))
    except InvalidInputError as e:
        raise InvalidInputError(str(e), field=f"{WHAT}.specification.{e.field}") from None
    if specification.product_code != product_code:
        raise InvalidInputError(
            f"the specification is for {specification.product_code}",
            field=f"{WHAT}.specification.product",
        )
    return specification


@dataclass(frozen=True)
class BatchRegistration:
    product: str
    lot: str
    donor_code: str
    processing_class: ProcessingClass
    manufactured_on: date
    expires_on: date
    specification_version: int
    serials: tuple[str, ...]
    site: str | None = None
    """The code of the laboratory that makes the batch; its members keep the record."""

    @classmethod
    def from_what(cls, what: Mapping[str, Any]) -> BatchRegistration:
        donor = _text(what, "donor_code", 32)
        if not DONOR_CODE.fullmatch(donor):
            raise InvalidInputError(
                "donor_code is a pseudonymous code (4-32 upper-case letters, digits or '-'), "
                "never a name",
                field=_field("donor_code"),
            )
        made, expires = _day(what, "manufactured_on"), _day(what, "expires_on")
        if expires <= made:
            raise InvalidInputError(
                "expires_on must come after manufactured_on", field=_field("expires_on")
            )
        version = what.get("specification_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInputError(
                "specification_version is a positive integer", field=_field("specification_version")
            )
        serials = what.get("vials")
        if not isinstance(serials, list) or not 1 <= len(serials) <= MAX_VIALS:
            raise InvalidInputError(
                f"vials lists 1-{MAX_VIALS} serial numbers", field=_field("vials")
            )
        checked = tuple(
            ai82(
                s if isinstance(s, str) else "",
                name="serial",
                field=_field(f"vials[{i}]"),
                max_length=MAX_SERIAL,
            )
            for i, s in enumerate(serials)
        )
        if len(set(checked)) != len(checked):
            raise InvalidInputError("vial serial numbers must be unique", field=_field("vials"))
        return cls(
            product=_text(what, "product", 32),
            lot=ai82(str(what.get("lot", "")), name="lot", field=_field("lot"), max_length=MAX_LOT),
            donor_code=donor,
            processing_class=_processing_class(what),
            manufactured_on=made,
            expires_on=expires,
            specification_version=version,
            serials=checked,
            site=_text(what, "site", 32) if what.get("site") is not None else None,
        )
