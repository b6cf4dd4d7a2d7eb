"""Label content is checked before drawing: bad input is refused with the field named."""

from __future__ import annotations

from datetime import date

import pytest

from labels.errors import ContentError, IdentifierError, LabelError
from labels.gs1 import sscc_text
from labels.layouts import ShipperLabel, ShipperLot, VialLabel, sheet_grid, vial_label_drawing
from labels.pdf import shipper_label_pdf, vial_labels_pdf

URI = "https://id.clinic.example/01/09521234543213/10/UC24-007/21/0042?17=270331&s=AbCdEfGhIjK"


def vial(**changes: object) -> VialLabel:
    fields: dict[str, object] = {
        "uri": URI,
        "product": "UC-MSC",
        "lot": "UC24-007",
        "serial": "0042",
        "expiry": date(2027, 3, 31),
        "storage": "Store at or below -150 °C",
    }
    fields.update(changes)
    return VialLabel(**fields)  # type: ignore[arg-type]


# Check digit 7, worked by hand: the 17 digits weighted 3, 1, 3... from the right sum to 143.
SSCC = "106141411234567897"


def shipper(**changes: object) -> ShipperLabel:
    fields: dict[str, object] = {
        "uri": f"https://id.example/00/{SSCC}",
        "sscc": SSCC,
        "product": "UC-MSC",
        "description": "Umbilical cord MSCs",
        "contents": (ShipperLot("UC24-007", date(2027, 3, 31), 3),),
        "storage": "Store at or below -150 °C",
        "ship_from": "Cell Therapy Unit\n1 Main St",
        "ship_to": "Clinic One\n2 High St",
    }
    fields.update(changes)
    return ShipperLabel(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"product": "  "}, ContentError, "product"),
        ({"product": "UC\x07MSC"}, ContentError, "product"),
        ({"storage": "Store \u2264 -150 \u00b0C"}, ContentError, "storage"),
        ({"storage": "Store at\n-150 °C"}, ContentError, "storage"),
        ({"lot": "UC 24"}, IdentifierError, "lot"),
        ({"serial": "x" * 21}, IdentifierError, "serial"),
        ({"uri": "https://id.example/a b"}, IdentifierError, "uri"),
        ({"uri": "https://id.example/\u00e9"}, IdentifierError, "uri"),
        ({"uri": ""}, IdentifierError, "uri"),
        ({"expiry": "2027-03-31"}, ContentError, "expiry"),
        ({"din": "G123 498 654 321"}, IdentifierError, "din"),
    ],
)
def test_bad_vial_content_is_refused_naming_the_field(
    changes: dict[str, object], error: type[LabelError], field: str
) -> None:
    with pytest.raises(error) as e:
        vial(**changes)
    assert getattr(e.value, "field", None) == field
    assert str(e.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contents": ()}, "contents"),
        ({"contents": [ShipperLot("UC24-007", date(2027, 3, 31), 3)]}, "contents"),
        ({"contents": ("UC24-007",)}, "contents"),
        ({"warnings": ["For Autologous Use Only"]}, "warnings"),
        ({"warnings": ("",)}, "warnings"),
        ({"ship_from": ""}, "ship_from"),
        ({"ship_to": "Clinic \u2603"}, "ship_to"),
        ({"instructions": "Thaw \u2603"}, "instructions"),
        ({"uri": "https://id.example/00/106141411234567880"}, "uri"),
    ],
)
def test_bad_shipper_content_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ContentError) as e:
        shipper(**changes)
    assert e.value.field == field


@pytest.mark.parametrize(
    ("lot", "expiry", "vials", "field"),
    [
        ("UC 24", date(2027, 3, 31), 1, "lot"),
        ("UC24", "2027-03-31", 1, "expiry"),
        ("UC24", date(2027, 3, 31), 0, "vials"),
        ("UC24", date(2027, 3, 31), True, "vials"),
    ],
)
def test_a_bad_lot_in_a_shipper_is_refused_naming_the_field(
    lot: str, expiry: object, vials: object, field: str
) -> None:
    with pytest.raises(LabelError) as e:
        ShipperLot(lot, expiry, vials)  # type: ignore[arg-type]
    assert getattr(e.value, "field", None) == field


@pytest.mark.parametrize(
    ("sscc", "message"),
    [
        ("106141411234567890", "check digit 0; it should be 7"),
        ("10614141123456789", "18 digits"),
        ("1061414112345678970", "18 digits"),
        ("10614141123456789X", "18 digits"),
        ("１06141411234567897", "18 digits"),  # a full-width digit is a digit to Python
    ],
)
def test_an_sscc_needs_18_digits_and_its_check_digit(sscc: str, message: str) -> None:
    with pytest.raises(IdentifierError) as e:
        shipper(sscc=sscc, uri=f"https://id.example/00/{sscc}")
    assert e.value.field == "sscc"
    assert message in str(e.value)


def test_the_sscc_reads_with_its_application_identifier() -> None:
    assert sscc_text(SSCC) == "(00) 106141411234567897"
    assert shipper().vials == 3


def test_multiline_addresses_and_every_latin1_character_are_accepted() -> None:
    label = shipper(ship_from="Zellthérapie GmbH\nStraße 1, Zürich", warnings=())
    assert label.ship_from.count("\n") == 1


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: vial_labels_pdf([]), "labels"),
        (lambda: shipper_label_pdf([]), "labels"),
        (lambda: vial_labels_pdf([vial()], "roll"), "layout"),  # type: ignore[arg-type]
        (lambda: vial_labels_pdf([vial()], "sheet", paper="A3"), "paper"),  # type: ignore[arg-type]
        (lambda: vial_label_drawing(vial(), size_mm=(0.0, 12.7)), "size"),
        (lambda: vial_label_drawing(vial(), dpi=72), "dpi"),
        (lambda: sheet_grid("A4", (300.0, 12.7)), "size"),
    ],
)
def test_bad_options_are_refused_naming_them(call: object, field: str) -> None:
    with pytest.raises(LabelError) as e:
        call()  # type: ignore[operator]
    assert getattr(e.value, "field", None) == field
