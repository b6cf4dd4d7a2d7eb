"""QC evaluation against specifications: every criterion type at and around its limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from traceability.domain.specifications import (
    Bound,
    MarkerPanel,
    NumericLimits,
    RequiredTest,
    Result,
    Verdict,
    evaluate,
    specification_from_json,
    specification_to_json,
    uc_msc_specification,
)
from traceability.errors import InvalidInputError

SPEC = uc_msc_specification()
COUNT_LIMITS = NumericLimits("cells/vial", lower=Bound(Decimal(1)))
GOOD_PANEL = {
    "CD73": "98.1",
    "CD90": "99",
    "CD105": "96.5",
    "CD34": "0.4",
    "CD45": "0.3",
    "CD14": "0.2",
    "CD19": "0.1",
    "HLA-DR": "0.6",
}


def verdict(
    code: str, values: dict[str, object], unit: str | None = None, assay_valid: bool = True
) -> Verdict:
    return evaluate(SPEC.test(code), Result(code, values, unit, assay_valid)).verdict


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.49", Verdict.passed),
        ("0.5", Verdict.passed),
        ("0.50", Verdict.passed),
        ("0.500001", Verdict.failed),
        ("0.51", Verdict.failed),
        ("0", Verdict.passed),
    ],
)
def test_endotoxin_is_at_most_half_an_eu_per_ml_inclusive(value: str, expected: Verdict) -> None:
    assert verdict("endotoxin", {"value": value}, "EU/mL") is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("69.99", Verdict.failed),
        ("70", Verdict.passed),
        ("70.0", Verdict.passed),
        ("100", Verdict.passed),
        (85, Verdict.passed),
    ],
)
def test_viability_is_at_least_seventy_percent(value: object, expected: Verdict) -> None:
    assert verdict("viability", {"value": value}, "%") is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("29.9", Verdict.failed),
        ("30", Verdict.passed),
        ("-5", Verdict.failed),
    ],
)
def test_potency_is_at_least_thirty_percent_inhibition(value: str, expected: Verdict) -> None:
    assert verdict("potency", {"value": value}, "% inhibition") is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19999999", Verdict.failed),
        ("20000000", Verdict.passed),
        ("25000000", Verdict.passed),
        ("30000000", Verdict.passed),
        ("30000001", Verdict.failed),
    ],
)
def test_cell_count_is_25_million_plus_or_minus_20_percent(value: str, expected: Verdict) -> None:
    assert verdict("cell_count", {"value": value}, "cells/vial") is expected


def test_a_value_in_exponent_form_is_written_out_in_the_reason() -> None:
    result = evaluate(
        SPEC.test("cell_count"), Result("cell_count", {"value": "2.54e7"}, "cells/vial")
    )
    assert result.verdict is Verdict.passed
    assert "25400000 cells/vial meets" in result.reasons[0]


def test_exclusive_and_two_sided_limits() -> None:
    limits = NumericLimits(
        "%", lower=Bound(Decimal(10), inclusive=False), upper=Bound(Decimal(20), inclusive=False)
    )
    test = RequiredTest("x", "X", "m", limits)
    outcomes = {
        v: evaluate(test, Result("x", {"value": v}, "%")).verdict
        for v in ("10", "10.0001", "19.9999", "20")
    }
    assert outcomes == {
        "10": Verdict.failed,
        "10.0001": Verdict.passed,
        "19.9999": Verdict.passed,
        "20": Verdict.failed,
    }


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("no growth", Verdict.passed),
        ("No Growth", Verdict.passed),
        ("growth", Verdict.failed),
    ],
)
def test_sterility_is_no_growth(answer: str, expected: Verdict) -> None:
    assert verdict("sterility", {"result": answer}) is expected


def test_mycoplasma_detected_fails_with_a_reason() -> None:
    evaluation = evaluate(SPEC.test("mycoplasma"), Result("mycoplasma", {"result": "detected"}))
    assert evaluation.verdict is Verdict.failed
    assert evaluation.reasons == ("Mycoplasma: detected (expected not detected)",)


def test_an_identity_panel_passes_only_if_every_marker_does() -> None:
    assert verdict("identity", GOOD_PANEL, "%") is Verdict.passed
    at_limits = GOOD_PANEL | {"CD73": "95", "CD45": "2"}
    assert verdict("identity", at_limits, "%") is Verdict.passed
    one_off = GOOD_PANEL | {"CD105": "94.9"}
    evaluation = evaluate(SPEC.test("identity"), Result("identity", one_off, "%"))
    assert evaluation.verdict is Verdict.failed
    assert len(evaluation.reasons) == 1 and evaluation.reasons[0].startswith("CD105 94.9")
    assert verdict("identity", GOOD_PANEL | {"HLA-DR": "2.01"}, "%") is Verdict.failed


def test_a_panel_is_reported_in_the_one_unit_its_markers_share() -> None:
    """A result carries one unit for all its values, so the form offers the panel's."""
    panel = SPEC.test("identity").criterion
    assert isinstance(panel, MarkerPanel) and panel.unit == "%"
    with pytest.raises(ValueError, match="one unit"):
        MarkerPanel({"CD73": NumericLimits("%", Bound(Decimal(95))), "count": COUNT_LIMITS})
    mixed = specification_to_json(SPEC)
    tests = mixed["tests"]
    assert isinstance(tests, list)
    tests[3]["criterion"]["markers"]["CD34"]["unit"] = "cells/vial"
    with pytest.raises(InvalidInputError) as refused:
        specification_from_json(mixed)
    assert refused.value.field == "tests[3].criterion.markers"


def test_an_invalid_assay_run_is_invalid_not_failed() -> None:
    assert verdict("endotoxin", {"value": "3"}, "EU/mL", assay_valid=False) is Verdict.invalid
    assert verdict("sterility", {"result": "no growth"}, assay_valid=False) is Verdict.invalid


@pytest.mark.parametrize(
    ("code", "values", "unit", "field"),
    [
        ("viability", {"value": "100.1"}, "%", "values.value"),  # above 100 %
        ("cell_count", {"value": "-1"}, "cells/vial", "values.value"),  # negative count
        ("endotoxin", {"value": "-0.1"}, "EU/mL", "values.value"),
        ("endotoxin", {"value": "0.2"}, "EU/L", "unit"),  # unknown unit
        ("endotoxin", {"value": "0.2"}, "%", "unit"),  # known, but not this test's
        ("endotoxin", {"value": "abc"}, "EU/mL", "values.value"),
        ("endotoxin", {"value": "NaN"}, "EU/mL", "values.value"),
        ("endotoxin", {"value": True}, "EU/mL", "values.value"),
        ("endotoxin", {}, "EU/mL", "values.value"),
        ("sterility", {"result": "maybe"}, None, "values.result"),
        ("sterility", {"result": ""}, None, "values.result"),
        ("identity", {k: v for k, v in GOOD_PANEL.items() if k != "CD34"}, "%", "values.CD34"),
        ("identity", GOOD_PANEL | {"CD99": "1"}, "%", "values.CD99"),
        ("identity", GOOD_PANEL | {"CD73": "101"}, "%", "values.CD73"),
    ],
)
def test_impossible_or_malformed_results_are_refused(
    code: str, values: dict[str, object], unit: str | None, field: str
) -> None:
    with pytest.raises(InvalidInputError) as e:
        evaluate(SPEC.test(code), Result(code, values, unit))
    assert e.value.field == field


def test_a_result_for_a_test_not_in_the_specification_is_refused() -> None:
    with pytest.raises(InvalidInputError) as e:
        SPEC.test("karyotype")
    assert e.value.field == "test"
    assert "sterility" in str(e.value)


def test_the_demo_specification_lists_the_uc_msc_release_tests() -> None:
    assert [t.code for t in SPEC.tests] == [
        "sterility",
        "mycoplasma",
        "endotoxin",
        "identity",
        "viability",
        "potency",
        "cell_count",
    ]
    assert SPEC.test("sterility").rapid_method is not None


def test_a_new_version_does_not_change_an_older_one() -> None:
    older = uc_msc_specification(1)
    newer = uc_msc_specification(2)
    assert older.version == 1 and newer.version == 2
    assert (
        evaluate(older.test("viability"), Result("viability", {"value": "70"}, "%")).verdict
        is Verdict.passed
    )


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="lower or an upper"):
        NumericLimits("%")
    with pytest.raises(ValueError, match="above the upper"):
        NumericLimits("%", lower=Bound(Decimal(5)), upper=Bound(Decimal(4)))


def test_a_specification_round_trips_through_its_stored_form() -> None:
    import json

    from traceability.domain.specifications import specification_from_json, specification_to_json

    stored = json.loads(json.dumps(specification_to_json(SPEC)))
    assert specification_from_json(stored) == SPEC
    assert stored["tests"][2]["criterion"] == {
        "kind": "numeric",
        "unit": "EU/mL",
        "lower": None,
        "upper": {"value": "0.5", "inclusive": True},
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(version=0), "version"),
        (lambda d: d.update(tests=[]), "tests"),
        (lambda d: d["tests"][0].update(code=""), "tests[0].code"),
        (lambda d: d["tests"][2]["criterion"].update(unit="EU/L"), "tests[2].criterion.unit"),
        (
            lambda d: d["tests"][2]["criterion"]["upper"].update(value="x"),
            "tests[2].criterion.upper.value",
        ),
        (
            lambda d: d["tests"][0]["criterion"].update(accepted="sterile"),
            "tests[0].criterion.accepted",
        ),
        (lambda d: d["tests"][1].update(code="sterility"), "tests"),
        (lambda d: d["tests"][0]["criterion"].update(kind="fuzzy"), "tests[0].criterion.kind"),
    ],
)
def test_a_malformed_specification_names_the_field(change: object, field: str) -> None:
    import json

    from traceability.domain.specifications import specification_from_json, specification_to_json

    data = json.loads(json.dumps(specification_to_json(SPEC)))
    change(data)  # type: ignore[operator]
    with pytest.raises(InvalidInputError) as e:
        specification_from_json(data)
    assert e.value.field == field
