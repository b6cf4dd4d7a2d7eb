"""Label layouts: every drawn string and the QR code lie within the label, measured
independently with reportlab's font metrics; must-show fields are whole or refused."""

from __future__ import annotations

from datetime import date

import pytest
from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth

from labels.digital_link import VialId
from labels.errors import FitError, IdentifierError
from labels.isbt128 import mod37_2
from labels.layouts import (
    LabelDrawing,
    ShipperLabel,
    ShipperLot,
    VialLabel,
    sheet_grid,
    shipper_label_drawing,
    vial_label_drawing,
)

RESOLVER = "https://id.clinic.example"
GTIN = "09521234543213"
TAG = "AbCdEfGhIjKlMnOpQrStUv"  # 22 base64url characters: 128 bits
EXPIRY = date(2027, 3, 31)
STORAGE = "Store at or below -150 °C"
MM_PER_PT = 25.4 / 72
ELLIPSIS = "\u2026"


def vial(lot: str = "UC24-007", serial: str = "0042", **changes: object) -> VialLabel:
    uri = VialId(GTIN, lot, serial).label_uri(RESOLVER, expiry=EXPIRY, tag=TAG)
    fields: dict[str, object] = {
        "uri": uri,
        "product": "UC-MSC 10M cells/mL",
        "lot": lot,
        "serial": serial,
        "expiry": EXPIRY,
        "storage": STORAGE,
    }
    fields.update(changes)
    return VialLabel(**fields)  # type: ignore[arg-type]


SSCC = "106141411234567897"


def shipper(**changes: object) -> ShipperLabel:
    fields: dict[str, object] = {
        "uri": f"{RESOLVER}/00/{SSCC}",
        "sscc": SSCC,
        "product": "UC-MSC",
        "description": "Umbilical cord mesenchymal stromal cells, 10 million cells/mL",
        "contents": (ShipperLot("UC24-007", EXPIRY, 12),),
        "storage": STORAGE,
        "ship_from": "Cell Therapy Unit\nUniversity Hospital, 1 Main St\nSpringfield",
        "ship_to": "Orthopaedic Clinic\n2 High St\nShelbyville",
        "warnings": ("For Autologous Use Only", "Not Evaluated for Infectious Substances"),
        "instructions": "Thaw at 37 °C; infuse within 30 minutes of thawing.",
    }
    fields.update(changes)
    return ShipperLabel(**fields)  # type: ignore[arg-type]


def assert_inside(drawing: LabelDrawing) -> None:
    """Every string's measured extent lies in the label; none touches the QR's quiet zone."""
    qr = drawing.qr
    quiet = 4 * qr.module
    assert qr.x - quiet >= -1e-6 and qr.y >= 0
    assert qr.x + qr.side <= drawing.width and qr.y + qr.side <= drawing.height
    for item in drawing.texts:
        width = stringWidth(item.text, item.font, item.size) * MM_PER_PT
        ascent, descent = getAscentDescent(item.font, item.size)
        assert item.x >= 0, item
        assert item.x + width <= drawing.width + 1e-9, item
        assert item.baseline - ascent * MM_PER_PT >= 0, item
        assert item.baseline - descent * MM_PER_PT <= drawing.height + 1e-9, item
        assert item.top >= 0 and item.bottom <= drawing.height + 1e-9, item
        clear_of_qr = (
            item.x >= qr.x + qr.side + quiet - 1e-9
            or item.top >= qr.y + qr.side + quiet - 1e-9
            or item.bottom <= qr.y - quiet + 1e-9
        )
        assert clear_of_qr, item
    boxes = sorted((i.x, i.top, i.x + i.room, i.bottom) for i in drawing.texts)
    for a in boxes:
        for b in boxes:
            if a is b:
                continue
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] + 1e-9 or b[3] <= a[1] + 1e-9
            assert apart, (a, b)


def shown(drawing: LabelDrawing, field: str) -> list[str]:
    return [item.text for item in drawing.texts if item.field == field]


def test_a_vial_label_shows_product_lot_serial_expiry_and_storage_inside_its_bounds() -> None:
    drawing = vial_label_drawing(vial())
    assert_inside(drawing)
    assert shown(drawing, "product") == ["UC-MSC 10M cells/mL"]
    assert shown(drawing, "lot") == ["LOT UC24-007"]
    assert shown(drawing, "serial") == ["SN 0042"]
    assert shown(drawing, "expiry") == ["EXP 2027-03-31"]
    assert shown(drawing, "storage") == [STORAGE]
    assert (drawing.width, drawing.height) == (32.5, 12.7)


@pytest.mark.parametrize("size", [(32.5, 12.7), (50.8, 25.4)])
def test_a_long_product_name_wraps_and_shrinks_but_is_shown_whole(
    size: tuple[float, float],
) -> None:
    product = "Allogeneic umbilical cord mesenchymal stromal cells for intravenous infusion"
    drawing = vial_label_drawing(vial(product=product), size_mm=size)
    assert_inside(drawing)
    lines = shown(drawing, "product")
    assert 1 < len(lines) <= 3 and " ".join(lines) == product
    assert all(item.size >= 4.0 for item in drawing.texts)
    assert shown(drawing, "lot") == ["LOT UC24-007"]  # nothing else gave way


def test_a_product_name_too_long_for_three_lines_at_4_pt_is_refused_not_cut() -> None:
    product = "Allogeneic umbilical cord mesenchymal stromal cells, " * 3
    with pytest.raises(FitError) as e:
        vial_label_drawing(vial(product=product.strip()))
    assert e.value.field in ("product", "size")
    assert "4.0 pt" in str(e.value) or "minimum" in str(e.value)


@pytest.mark.parametrize(
    ("lot", "serial"),
    [("LOT-2026-07-ABCDEFGH", "SN-00000000000000001"), ("A/B%C&D(E)F+G,H:I;J=", "7&8?" * 5)],
)
def test_twenty_character_lots_and_serials_are_shown_whole(lot: str, serial: str) -> None:
    assert len(lot) == 20 and len(serial) == 20
    drawing = vial_label_drawing(vial(lot=lot, serial=serial))
    assert_inside(drawing)
    assert shown(drawing, "lot") == [f"LOT {lot}"]
    assert shown(drawing, "serial") == [f"SN {serial}"]


@pytest.mark.parametrize(
    "size", [(32.5, 12.7), (38.0, 13.0), (40.0, 15.0), (50.8, 25.4), (60.0, 12.7), (30.0, 12.7)]
)
@pytest.mark.parametrize("dpi", [203, 300, 600])
def test_configurable_sizes_keep_everything_inside(size: tuple[float, float], dpi: int) -> None:
    label = vial(lot="UC2026-0007", serial="000123", din="G123 498 654 321 H")
    drawing = vial_label_drawing(label, size_mm=size, dpi=dpi)
    assert (drawing.width, drawing.height) == size
    assert_inside(drawing)
    dot = 25.4 / dpi
    assert drawing.qr.module == pytest.approx(drawing.qr.dots * dot)
    assert drawing.qr.module >= 0.16
    assert drawing.qr.x / dot == pytest.approx(round(drawing.qr.x / dot))
    for field in ("lot", "serial", "expiry", "storage", "din"):
        [text] = shown(drawing, field)
        assert ELLIPSIS not in text


def test_a_bigger_label_gets_bigger_text_and_modules() -> None:
    small = vial_label_drawing(vial())
    big = vial_label_drawing(vial(), size_mm=(50.8, 25.4))
    assert big.qr.module > small.qr.module
    assert min(i.size for i in big.texts) > max(i.size for i in small.texts)


def test_the_din_is_printed_eye_readable_with_its_check_character() -> None:
    drawing = vial_label_drawing(vial(din="G123 498 654 321 H"))
    assert_inside(drawing)
    [text] = shown(drawing, "din")
    _, check = mod37_2("G123498654321")
    assert text.replace(" ", "").replace("[", "").replace("]", "") == "G123498654321" + check


def test_a_din_with_the_wrong_check_character_is_refused() -> None:
    with pytest.raises(IdentifierError) as e:
        vial(din="G123 498 654 321 G")
    assert e.value.field == "din"


def test_a_lot_that_cannot_fit_at_the_minimum_size_is_refused_not_truncated() -> None:
    with pytest.raises(FitError) as e:
        vial_label_drawing(vial(lot="W" * 20))
    assert e.value.field == "lot"
    assert "WWWW" in str(e.value)


def test_a_storage_condition_that_cannot_fit_is_refused() -> None:
    with pytest.raises(FitError) as e:
        vial_label_drawing(vial(), size_mm=(25.4, 12.7))
    assert e.value.field == "storage"


def test_a_label_too_short_for_its_lines_is_refused() -> None:
    with pytest.raises(FitError) as e:
        vial_label_drawing(vial(din="G123 498 654 321 H"), size_mm=(32.5, 9.0))
    assert e.value.field == "size"


def test_a_label_too_small_for_a_scannable_qr_code_is_refused() -> None:
    with pytest.raises(FitError) as e:
        vial_label_drawing(vial(), size_mm=(60.0, 6.0))
    assert e.value.field == "uri"


def test_a_shipper_label_carries_its_sscc_route_contents_and_1271_370_items() -> None:
    label = shipper(
        contents=(ShipperLot("UC24-007", EXPIRY, 12), ShipperLot("UC24-008", EXPIRY, 1))
    )
    drawing = shipper_label_drawing(label)
    assert_inside(drawing)
    assert (drawing.width, drawing.height) == (100.0, 150.0)
    assert shown(drawing, "sscc") == ["(00) 106141411234567897"]
    assert shown(drawing, "contents") == [
        "LOT UC24-007   EXP 2027-03-31   QTY 12 vials",
        "LOT UC24-008   EXP 2027-03-31   QTY 1 vial",
    ]
    assert shown(drawing, "vials") == ["Total: 13 vials"]
    assert " ".join(shown(drawing, "ship_to")).split() == ("TO: " + label.ship_to).split()
    assert " ".join(shown(drawing, "ship_from")).split() == ("FROM: " + label.ship_from).split()
    assert " ".join(shown(drawing, "description")) == label.description
    assert " ".join(shown(drawing, "warnings")) == " ".join(label.warnings)
    assert shown(drawing, "storage") == [STORAGE]
    assert not any("Released" in item.text for item in drawing.texts)


def test_the_route_sits_above_the_goods_and_the_sscc_below_them() -> None:
    drawing = shipper_label_drawing(shipper())
    top = {item.field: item.top for item in reversed(drawing.texts)}
    assert top["ship_to"] < top["ship_from"] < top["product"] < top["contents"]
    assert max(i.bottom for i in drawing.texts if i.field == "instructions") < drawing.qr.y
    sscc = [item for item in drawing.texts if item.field == "sscc"]
    assert sscc[0].top > max(i.bottom for i in drawing.texts if i.field == "instructions")
    assert sscc[0].x >= drawing.qr.x + drawing.qr.side + 4 * drawing.qr.module  # its quiet zone


def test_long_shipper_text_is_wrapped_and_cut_but_warnings_and_lots_never_are() -> None:
    warnings = (
        "For Autologous Use Only",
        "Not Evaluated for Infectious Substances",
        "WARNING: Reactive test results for communicable disease agents",
    )
    label = shipper(
        product="Allogeneic umbilical cord mesenchymal stromal cells, cryopreserved " * 2,
        description="Human cells for intravenous infusion after thawing; " * 6,
        instructions="Do not irradiate. Do not use a leukocyte reduction filter. " * 4,
        ship_from="Cell Therapy Unit, University Hospital\n" * 6,
        ship_to="Orthopaedic Clinic, Springfield General Hospital\n" * 6,
        warnings=warnings,
        contents=(ShipperLot("LOT-2026-07-ABCDEFGH", EXPIRY, 12),),
    )
    drawing = shipper_label_drawing(label)
    assert_inside(drawing)
    assert " ".join(shown(drawing, "warnings")).split() == " ".join(warnings).split()
    assert shown(drawing, "contents") == [
        "LOT LOT-2026-07-ABCDEFGH   EXP 2027-03-31   QTY 12 vials"
    ]
    for field in ("product", "description", "instructions", "ship_from", "ship_to"):
        assert shown(drawing, field)[-1].endswith(ELLIPSIS), field


def test_warnings_that_cannot_all_fit_are_refused() -> None:
    warnings = tuple(f"Warning {i}: not evaluated for infectious substances" for i in range(40))
    with pytest.raises(FitError) as e:
        shipper_label_drawing(shipper(warnings=warnings))
    assert e.value.field in ("warnings", "size")


def test_one_vial_is_counted_in_the_singular() -> None:
    drawing = shipper_label_drawing(shipper(contents=(ShipperLot("UC24-007", EXPIRY, 1),)))
    assert shown(drawing, "vials") == ["Total: 1 vial"]


@pytest.mark.parametrize(
    ("paper", "size", "columns", "rows"),
    [
        # Worked by hand: 10 mm margins, 2 mm gaps. A4: (210 - 20 + 2) // 34.5 = 5 columns,
        # (297 - 20 + 2) // 14.7 = 18 rows; Letter: (215.9 - 18) // 34.5 = 5, (279.4 - 18) //
        # 14.7 = 17; 50.8 x 25.4 mm labels on A4: 192 // 52.8 = 3, 279 // 27.4 = 10.
        ("A4", (32.5, 12.7), 5, 18),
        ("letter", (32.5, 12.7), 5, 17),
        ("A4", (50.8, 25.4), 3, 10),
    ],
)
def test_a_sheet_fills_the_page_with_as_many_labels_as_its_margins_allow(
    paper: str, size: tuple[float, float], columns: int, rows: int
) -> None:
    grid = sheet_grid(paper, size)  # type: ignore[arg-type]
    assert grid.per_page == columns * rows
    assert len({x for x, _ in grid.origins}) == columns
    assert len({y for _, y in grid.origins}) == rows
    page_w, page_h = {"A4": (210.0, 297.0), "letter": (215.9, 279.4)}[paper]
    left = min(x for x, _ in grid.origins)
    right = page_w - max(x for x, _ in grid.origins) - size[0]
    # Centred, within the printer dot each origin is snapped to: the slack is shared.
    assert abs(left - right) <= 25.4 / 300


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_a_sheet_grid_keeps_labels_inside_the_margins_and_apart(paper: str) -> None:
    grid = sheet_grid(paper, (32.5, 12.7))  # type: ignore[arg-type]
    page_w, page_h = {"A4": (210.0, 297.0), "letter": (215.9, 279.4)}[paper]
    assert grid.per_page > 20
    for x, y in grid.origins:
        assert 9.9 <= x and x + 32.5 <= page_w - 9.9
        assert 9.9 <= y and y + 12.7 <= page_h - 9.9
    for i, (x1, y1) in enumerate(grid.origins):
        for x2, y2 in grid.origins[i + 1 :]:
            assert x1 + 32.5 <= x2 or x2 + 32.5 <= x1 or y1 + 12.7 <= y2 or y2 + 12.7 <= y1
