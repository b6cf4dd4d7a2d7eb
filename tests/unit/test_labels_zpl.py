"""ZPL output: one format and one QR code per label, carrying exactly the label's URI,
at the positions the shared layout gives the PDF, with nothing that could break out."""

from __future__ import annotations

import re
from datetime import date

import pytest

from labels.digital_link import VialId
from labels.errors import ContentError
from labels.layouts import (
    ShipperLabel,
    ShipperLot,
    VialLabel,
    shipper_label_drawing,
    vial_label_drawing,
)
from labels.zpl import shipper_label_zpl, vial_labels_zpl

RESOLVER = "https://id.clinic.example"
GTIN = "09521234543213"
TAG = "AbCdEfGhIjKlMnOpQrStUv"
EXPIRY = date(2027, 3, 31)
QR_FIELD = re.compile(r"\^FO(\d+),(\d+)\^BQN,2,(\d+),([HQML]),\d\^FD([HQML])M,B(\d{4})(.*?)\^FS")


def vial(serial: str, **changes: object) -> VialLabel:
    uri = VialId(GTIN, "UC24/007", serial).label_uri(RESOLVER, expiry=EXPIRY, tag=TAG)
    fields: dict[str, object] = {
        "uri": uri,
        "product": "UC-MSC 10M cells/mL",
        "lot": "UC24/007",
        "serial": serial,
        "expiry": EXPIRY,
        "storage": "Store at or below -150 °C",
    }
    fields.update(changes)
    return VialLabel(**fields)  # type: ignore[arg-type]


def formats(zpl: str) -> list[str]:
    return re.findall(r"\^XA.*?\^XZ", zpl, flags=re.S)


def test_each_label_is_one_format_with_one_qr_code_holding_its_uri() -> None:
    labels = [vial(f"{n:04d}") for n in range(5)] + [vial("7&8?")]
    zpl = vial_labels_zpl(labels)
    blocks = formats(zpl)
    assert len(blocks) == len(labels) == zpl.count("^XA") == zpl.count("^XZ")
    for block, label in zip(blocks, labels, strict=True):
        assert block.count("^BQ") == 1
        [(_, _, _, level, fd_level, count, data)] = QR_FIELD.findall(block)
        assert data == label.uri
        assert int(count) == len(label.uri.encode("ascii"))
        assert level == fd_level == "M"


@pytest.mark.parametrize("dpi", [203, 300, 600])
def test_zpl_positions_are_the_layouts_positions_in_dots(dpi: int) -> None:
    label = vial("0042", din="G123 498 654 321 H")
    drawing = vial_label_drawing(label, dpi=dpi)
    block = vial_labels_zpl([label], dpi=dpi)
    dots = dpi / 25.4
    assert f"^PW{round(32.5 * dots)}" in block and f"^LL{round(12.7 * dots)}" in block
    [(x, y, magnification, *_)] = QR_FIELD.findall(block)
    assert int(magnification) == drawing.qr.dots
    assert int(x) == round(drawing.qr.x * dots)
    assert abs(int(y) - drawing.qr.y * dots) <= 1.5  # pinned ^BY sink of one dot
    typeset = re.findall(r"\^FT(\d+),(\d+)\^A0N,(\d+),\d+\^FB(\d+),1", block)
    assert len(typeset) == len(drawing.texts)
    for (tx, ty, size, room), item in zip(typeset, drawing.texts, strict=True):
        assert int(tx) == round(item.x * dots)
        assert int(ty) == round(item.baseline * dots)
        assert abs(int(size) - item.size / 72 * dpi) <= 0.51
        assert int(tx) + int(room) <= round(32.5 * dots)


def test_text_cannot_inject_zpl_commands() -> None:
    label = vial("0042", product="Cells ^XZ^XA~JR_5E \\& x")
    block = vial_labels_zpl([label])
    assert block.count("^XZ") == 1 and block.count("^XA") == 1
    assert "~" not in block
    fields = re.findall(r"\^FH_\^FD(.*?)\^FS", block)
    decoded = [re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m[1], 16)), f) for f in fields]
    assert "Cells ^XZ^XA~JR_5E \\\\& x" in " ".join(decoded)  # the name may wrap


def test_non_ascii_text_is_hex_escaped_utf8() -> None:
    block = vial_labels_zpl([vial("0042")])
    assert "^CI28" in block
    assert "-150 _C2_B0C" in block
    assert "°" not in block


def test_a_uri_zpl_cannot_carry_is_refused() -> None:
    label = vial("0042", uri="https://id.clinic.example/~vial/1")
    with pytest.raises(ContentError) as e:
        vial_labels_zpl([label])
    assert e.value.field == "uri"


def test_shipper_zpl_has_one_qr_code_per_shipper() -> None:
    labels = [
        ShipperLabel(
            uri=f"{RESOLVER}/00/{sscc}",
            sscc=sscc,
            product="UC-MSC",
            description="Umbilical cord mesenchymal stromal cells",
            contents=(ShipperLot(lot, EXPIRY, 12),),
            storage="Store at or below -150 °C",
            ship_from="Cell Therapy Unit\n1 Main St, Springfield",
            ship_to="Orthopaedic Clinic\n2 High St, Shelbyville",
            warnings=("For Autologous Use Only",),
        )
        for lot, sscc in (("UC24-007", "106141411234567897"), ("UC24-008", "106141411234567903"))
    ]
    zpl = shipper_label_zpl(labels)
    blocks = formats(zpl)
    assert len(blocks) == 2
    for block, label in zip(blocks, labels, strict=True):
        [(*_, data)] = QR_FIELD.findall(block)
        assert data == label.uri
        assert f"^PW{round(100 * 300 / 25.4)}" in block
        assert len(re.findall(r"\^FT", block)) == len(shipper_label_drawing(label).texts)


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ContentError) as e:
        vial_labels_zpl([])
    assert e.value.field == "labels"
