"""Product specifications and the evaluation of QC results against them.

Plain Python, no database and no web. A specification is immutable: a new version is a
new object, so a result evaluated under version 3 keeps its verdict when version 4
tightens a limit. Numbers are `Decimal` so that a limit of 0.5 EU/mL means exactly
that, and "at the limit" is decided without binary rounding.

Three kinds of acceptance criterion cover the QC tests of cell-therapy products:

* `NumericLimits`: one- or two-sided, each side inclusive or exclusive
  (endotoxin <= 0.5 EU/mL; viability >= 70 %; 25 x 10^6 cells +/- 20 %).
* `Qualitative`: one accepted result out of a closed vocabulary
  ("no growth" of "no growth" / "growth").
* `MarkerPanel`: several named markers, each with its own numeric limits
  (identity by flow cytometry: CD73 >= 95 %, CD45 <= 2 %, ...).

`evaluate` answers pass, fail (out of specification, which opens an OOS
investigation) or invalid (the analyst reports the assay run itself invalid, e.g. a
failed positive control; it calls for a retest, not an investigation). Input that
cannot be a result at all (an unknown unit, viability above 100 %, a negative count,
a missing marker) is refused with `InvalidInputError` and never evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from traceability.errors import InvalidInputError


class Verdict(StrEnum):
    passed = "pass"
    failed = "fail"
    invalid = "invalid"


@dataclass(frozen=True)
class Unit:
    """A unit with the values it can physically take (inclusive bounds, None = open)."""

    symbol: str
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    def check(self, value: Decimal, field_name: str) -> None:
        if self.minimum is not None and value < self.minimum:
            raise InvalidInputError(
                f"{value} {self.symbol} is impossible: below {self.minimum}", field=field_name
            )
        if self.maximum is not None and value > self.maximum:
            raise InvalidInputError(
                f"{value} {self.symbol} is impossible: above {self.maximum}", field=field_name
            )


UNITS: dict[str, Unit] = {
    unit.symbol: unit
    for unit in (
        Unit("%", Decimal(0), Decimal(100)),
        Unit("% inhibition", Decimal(-100), Decimal(100)),
        Unit("EU/mL", Decimal(0)),
        Unit("cells/vial", Decimal(0)),
        Unit("cells/mL", Decimal(0)),
        Unit("CFU/mL", Decimal(0)),
        Unit("mL", Decimal(0)),
    )
}


def unit_named(symbol: str, *, field_name: str = "unit") -> Unit:
    unit = UNITS.get(symbol)
    if unit is None:
        known = ", ".join(sorted(UNITS))
        raise InvalidInputError(f"unknown unit {symbol!r}; known units: {known}", field=field_name)
    return unit


def decimal_from(value: object, *, field_name: str) -> Decimal:
    """A finite decimal from a number or numeric string; floats go through their text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInputError("must be a number", field=field_name)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInputError(f"{value!r} is not a number", field=field_name) from None
    if not number.is_finite():
        raise InvalidInputError("must be a finite number", field=field_name)
    if number != 0 and not MIN_MAGNITUDE <= abs(number) < MAX_MAGNITUDE:
        raise InvalidInputError(
            f"{value!r} is not a plausible measurement (a typo?)", field=field_name
        )
    return number


MAX_MAGNITUDE = Decimal("1e15")
MIN_MAGNITUDE = Decimal("1e-15")
"""Bounds on a measurement's size: no result of these tests (cell counts up to ~1e9 per
vial, endotoxin in EU/mL) comes near them, while `1e400`, a slip of the keyboard, would
otherwise be stored and evaluated (and shown as 1E+400)."""


@dataclass(frozen=True)
class Bound:
    value: Decimal
    inclusive: bool = True


@dataclass(frozen=True)
class NumericLimits:
    """Accept values within the bounds; at least one side must be given."""

    unit: str
    lower: Bound | None = None
    upper: Bound | None = None

    def __post_init__(self) -> None:
        if self.lower is None and self.upper is None:
            raise ValueError("a numeric criterion needs a lower or an upper limit")
        if self.lower and self.upper and self.lower.value > self.upper.value:
            raise ValueError("the lower limit is above the upper limit")
        unit_named(self.unit)

    @classmethod
    def around(cls, nominal: Decimal, tolerance_percent: Decimal, unit: str) -> NumericLimits:
        """nominal +/- tolerance %, both ends inclusive (25 x 10^6 cells +/- 20 %)."""
        delta = nominal * tolerance_percent / Decimal(100)
        return cls(unit, Bound(nominal - delta), Bound(nominal + delta))

    def accepts(self, value: Decimal) -> bool:
        if self.lower is not None:
            if value < self.lower.value or (value == self.lower.value and not self.lower.inclusive):
                return False
        if self.upper is not None:
            if value > self.upper.value or (value == self.upper.value and not self.upper.inclusive):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.lower is not None:
            parts.append(f"{'>=' if self.lower.inclusive else '>'} {self.lower.value}")
        if self.upper is not None:
            parts.append(f"{'<=' if self.upper.inclusive else '<'} {self.upper.value}")
        return " and ".join(parts) + f" {self.unit}"


@dataclass(frozen=True)
class Qualitative:
    """Accept one result out of a closed vocabulary (compared case-insensitively)."""

    accepted: str
    vocabulary: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.accepted not in self.vocabulary:
            raise ValueError("the accepted result must be in the vocabulary")

    def describe(self) -> str:
        return self.accepted


@dataclass(frozen=True)
class MarkerPanel:
    """Every marker must be reported and within its own limits."""

    markers: Mapping[str, NumericLimits]

    def __post_init__(self) -> None:
        # A result reports its values in one unit (`Result.unit`): a panel whose markers
        # differed could never be entered.
        if not self.markers:
            raise ValueError("a marker panel needs at least one marker")
        if len({limits.unit for limits in self.markers.values()}) != 1:
            raise ValueError("the markers of a panel are reported in one unit")

    @property
    def unit(self) -> str:
        """The unit every marker of the panel is reported in."""
        return next(iter(self.markers.values())).unit

    def describe(self) -> str:
        return "; ".join(f"{name} {limits.describe()}" for name, limits in self.markers.items())


Criterion = NumericLimits | Qualitative | MarkerPanel


@dataclass(frozen=True)
class RequiredTest:
    """One required test of a specification."""

    code: str
    name: str
    method: str
    criterion: Criterion
    rapid_method: str | None = None
    """An alternative method whose result may stand in for conditional release only."""


@dataclass(frozen=True)
class Specification:
    product_code: str
    version: int
    tests: tuple[RequiredTest, ...]

    def test(self, code: str) -> RequiredTest:
        for test in self.tests:
            if test.code == code:
                return test
        known = ", ".join(t.code for t in self.tests)
        raise InvalidInputError(
            f"{code!r} is not a test of {self.product_code} specification v{self.version} "
            f"(its tests: {known})",
            field="test",
        )


@dataclass(frozen=True)
class Result:
    """What the analyst reports; `values` holds one value, or one per marker."""

    test: str
    values: Mapping[str, object]
    unit: str | None = None
    assay_valid: bool = True


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    reasons: tuple[str, ...] = field(default_factory=tuple)


def _numeric(
    limits: NumericLimits, raw: object, unit: str | None, field_name: str, label: str
) -> tuple[bool, str]:
    if unit != limits.unit:
        unit_named(unit or "", field_name="unit")  # an unknown unit is its own error
        raise InvalidInputError(f"{label} is specified in {limits.unit}, not {unit}", field="unit")
    value = decimal_from(raw, field_name=field_name)
    unit_named(limits.unit).check(value, field_name)
    # Written out ("25400000", not "2.54E+7"): the reason is read on the record.
    shown = f"{value:f}"
    if limits.accepts(value):
        return True, f"{label} {shown} {limits.unit} meets {limits.describe()}"
    return False, f"{label} {shown} {limits.unit} is outside {limits.describe()}"


def evaluate(test: RequiredTest, result: Result) -> Evaluation:
    """Pass, fail or invalid, with the reasons a person can act on."""
    criterion = test.criterion
    if isinstance(criterion, Qualitative):
        raw = result.values.get("result")
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidInputError("a qualitative result is needed", field="values.result")
        answer = raw.strip().lower()
        vocabulary = {word.lower(): word for word in criterion.vocabulary}
        if answer not in vocabulary:
            raise InvalidInputError(
                f"{raw!r} is not a result of this test; one of: " + ", ".join(criterion.vocabulary),
                field="values.result",
            )
        outcome = [
            (
                vocabulary[answer] == criterion.accepted,
                f"{test.name}: {vocabulary[answer]} (expected {criterion.accepted})",
            )
        ]
    elif isinstance(criterion, NumericLimits):
        if "value" not in result.values:
            raise InvalidInputError("a value is needed", field="values.value")
        outcome = [
            _numeric(criterion, result.values["value"], result.unit, "values.value", test.name)
        ]
    else:
        unknown = sorted(set(result.values) - set(criterion.markers))
        if unknown:
            raise InvalidInputError(
                f"{unknown[0]} is not a marker of this panel", field=f"values.{unknown[0]}"
            )
        missing = [m for m in criterion.markers if m not in result.values]
        if missing:
            raise InvalidInputError(
                f"marker {missing[0]} was not reported", field=f"values.{missing[0]}"
            )
        outcome = [
            _numeric(limits, result.values[name], result.unit, f"values.{name}", name)
            for name, limits in criterion.markers.items()
        ]
    if not result.assay_valid:
        return Evaluation(Verdict.invalid, ("the analyst reported the assay run invalid; retest",))
    failures = tuple(reason for ok, reason in outcome if not ok)
    if failures:
        return Evaluation(Verdict.failed, failures)
    return Evaluation(Verdict.passed, tuple(reason for _, reason in outcome))


def _percent_at_least(value: str) -> NumericLimits:
    return NumericLimits("%", lower=Bound(Decimal(value)))


def _percent_at_most(value: str) -> NumericLimits:
    return NumericLimits("%", upper=Bound(Decimal(value)))


def uc_msc_specification(version: int = 1) -> Specification:
    """The demo umbilical-cord MSC product's release specification."""
    return Specification(
        product_code="UC-MSC",
        version=version,
        tests=(
            RequiredTest(
                "sterility",
                "Sterility",
                "14-day culture, USP <71> / Ph. Eur. 2.6.27",
                Qualitative("no growth", ("no growth", "growth")),
                rapid_method="rapid microbial method (conditional release only)",
            ),
            RequiredTest(
                "mycoplasma",
                "Mycoplasma",
                "NAT, Ph. Eur. 2.6.7",
                Qualitative("not detected", ("not detected", "detected")),
            ),
            RequiredTest(
                "endotoxin",
                "Endotoxin",
                "LAL kinetic chromogenic, Ph. Eur. 2.6.14",
                NumericLimits("EU/mL", upper=Bound(Decimal("0.5"))),
            ),
            RequiredTest(
                "identity",
                "Identity (flow cytometry)",
                "ISCT MSC panel",
                MarkerPanel(
                    {
                        "CD73": _percent_at_least("95"),
                        "CD90": _percent_at_least("95"),
                        "CD105": _percent_at_least("95"),
                        "CD34": _percent_at_most("2"),
                        "CD45": _percent_at_most("2"),
                        "CD14": _percent_at_most("2"),
                        "CD19": _percent_at_most("2"),
                        "HLA-DR": _percent_at_most("2"),
                    }
                ),
            ),
            RequiredTest(
                "viability",
                "Viability",
                "7-AAD flow cytometry",
                NumericLimits("%", lower=Bound(Decimal("70"))),
            ),
            RequiredTest(
                "potency",
                "Potency",
                "inhibition of stimulated PBMC proliferation",
                NumericLimits("% inhibition", lower=Bound(Decimal("30"))),
            ),
            RequiredTest(
                "cell_count",
                "Viable cells per vial",
                "automated cell count",
                NumericLimits.around(Decimal("25000000"), Decimal("20"), "cells/vial"),
            ),
        ),
    )


def required_codes(specification: Specification) -> Sequence[str]:
    return [test.code for test in specification.tests]


# --- the stored and signed form ---------------------------------------------------------


def _bound_json(bound: Bound | None) -> dict[str, object] | None:
    if bound is None:
        return None
    return {"value": str(bound.value), "inclusive": bound.inclusive}


def _limits_json(limits: NumericLimits) -> dict[str, object]:
    return {
        "unit": limits.unit,
        "lower": _bound_json(limits.lower),
        "upper": _bound_json(limits.upper),
    }


def _criterion_json(criterion: Criterion) -> dict[str, object]:
    if isinstance(criterion, NumericLimits):
        return {"kind": "numeric", **_limits_json(criterion)}
    if isinstance(criterion, Qualitative):
        return {
            "kind": "qualitative",
            "accepted": criterion.accepted,
            "vocabulary": list(criterion.vocabulary),
        }
    return {
        "kind": "markers",
        "markers": {name: _limits_json(limits) for name, limits in criterion.markers.items()},
    }


def specification_to_json(specification: Specification) -> dict[str, object]:
    """The form a specification version is stored and signed in (decimals as strings)."""
    return {
        "product": specification.product_code,
        "version": specification.version,
        "tests": [
            {
                "code": t.code,
                "name": t.name,
                "method": t.method,
                "criterion": _criterion_json(t.criterion),
                "rapid_method": t.rapid_method,
            }
            for t in specification.tests
        ],
    }


def _bound_from(data: object, where: str) -> Bound | None:
    if data is None:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("inclusive"), bool):
        raise InvalidInputError("a limit is {value, inclusive}", field=where)
    return Bound(decimal_from(data.get("value"), field_name=f"{where}.value"), data["inclusive"])


def _limits_from(data: dict[str, object], where: str) -> NumericLimits:
    unit = data.get("unit")
    if not isinstance(unit, str):
        raise InvalidInputError("a unit is needed", field=f"{where}.unit")
    unit_named(unit, field_name=f"{where}.unit")
    try:
        return NumericLimits(
            unit,
            _bound_from(data.get("lower"), f"{where}.lower"),
            _bound_from(data.get("upper"), f"{where}.upper"),
        )
    except ValueError as e:
        raise InvalidInputError(str(e), field=where) from None


def _criterion_from(data: object, where: str) -> Criterion:
    if not isinstance(data, dict):
        raise InvalidInputError("a criterion is an object", field=where)
    kind = data.get("kind")
    if kind == "numeric":
        return _limits_from(data, where)
    if kind == "qualitative":
        accepted, vocabulary = data.get("accepted"), data.get("vocabulary")
        if (
            not isinstance(accepted, str)
            or not isinstance(vocabulary, list)
            or not all(isinstance(v, str) for v in vocabulary)
        ):
            raise InvalidInputError(
                "a qualitative criterion has accepted and vocabulary", field=where
            )
        try:
            return Qualitative(accepted, tuple(vocabulary))
        except ValueError as e:
            raise InvalidInputError(str(e), field=f"{where}.accepted") from None
    if kind == "markers":
        markers = data.get("markers")
        if not isinstance(markers, dict) or not markers:
            raise InvalidInputError("a marker panel lists its markers", field=f"{where}.markers")
        parsed = {
            str(name): _limits_from(
                limits if isinstance(limits, dict) else {}, f"{where}.markers.{name}"
            )
            for name, limits in markers.items()
        }
        try:
            return MarkerPanel(parsed)
        except ValueError as e:
            raise InvalidInputError(str(e), field=f"{where}.markers") from None
    raise InvalidInputError("kind is numeric, qualitative or markers", field=f"{where}.kind")


def specification_from_json(data: object) -> Specification:
    """Read a specification version back (or from a client), naming the field at fault."""
    if not isinstance(data, dict):
        raise InvalidInputError("a specification is an object", field="specification")
    product, version, tests = data.get("product"), data.get("version"), data.get("tests")
    if not isinstance(product, str) or not product:
        raise InvalidInputError("product is needed", field="product")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInputError("version is a positive integer", field="version")
    if not isinstance(tests, list) or not tests:
        raise InvalidInputError("a specification lists at least one test", field="tests")
    parsed = []
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            raise InvalidInputError("a test is an object", field=where)
        texts = {}
        for name in ("code", "name", "method"):
            value = test.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidInputError(f"{name} is needed", field=f"{where}.{name}")
            texts[name] = value
        rapid = test.get("rapid_method")
        if rapid is not None and not isinstance(rapid, str):
            raise InvalidInputError("rapid_method is text or null", field=f"{where}.rapid_method")
        parsed.append(
            RequiredTest(
                texts["code"],
                texts["name"],
                texts["method"],
                _criterion_from(test.get("criterion"), f"{where}.criterion"),
                rapid,
            )
        )
    codes = [t.code for t in parsed]
    if len(set(codes)) != len(codes):
        raise InvalidInputError("test codes must be unique", field="tests")
    return Specification(product, version, tuple(parsed))
