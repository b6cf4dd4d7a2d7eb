"""Label content is checked before drawing: bad input is refused with the field named."""

from __future__ import annotations

from datetime import date

import pytest

from labels.errors import ContentError, IdentifierError, LabelError
from labels.layouts import ShipperLabel, VialLabel, sheet_grid, vial_label_drawing
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


def shipper(**changes: object) -> ShipperLabel:
    fields: dict[str, object] = {
        "uri": URI,
        "product": "UC-MSC",
        "description": "Umbilical cord MSCs",
        "lot": "UC24-007",
        "expiry": date(2027, 3, 31),
        "storage": "Store at or below -150 °C",
        "establishment": "Cell Therapy Unit\n1 Main St",
        "vials": 3,
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
        ({"vials": 0}, "vials"),
        ({"vials": True}, "vials"),
        ({"warnings": ["For Autologous Use Only"]}, "warnings"),
        ({"warnings": ("",)}, "warnings"),
        ({"establishment": ""}, "establishment"),
        ({"instructions": "Thaw \u2603"}, "instructions"),
    ],
)
def test_bad_shipper_content_is_refused_naming_the_field(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ContentError) as e:
        shipper(**changes)
    assert e.value.field == field


def test_multiline_establishment_and_every_latin1_character_are_accepted() -> None:
    label = shipper(establishment="Zellthérapie GmbH\nStraße 1, Zürich", warnings=())
    assert label.establishment.count("\n") == 1


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
