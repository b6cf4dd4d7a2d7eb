"""PDF labels rendered as a printer would see them: rasterised at 300 dpi by poppler's
pdftoppm and read back by an independent decoder (zxing-cpp). Every QR code must
decode to exactly its label's URI, one per label, and the PDF must hold no raster image.

Without pdftoppm these tests skip, unless TRACE_REQUIRE_BROWSER=1 (as in CI) makes
that a failure.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import zlib
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from labels.digital_link import VialId
from labels.layouts import ShipperLabel, ShipperLot, VialLabel
from labels.pdf import shipper_label_pdf, vial_labels_pdf

RESOLVER = "https://id.clinic.example"
GTIN = "09521234543213"
EXPIRY = date(2027, 3, 31)
STORAGE = "Store at or below -150 °C"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} not found (apt-get install poppler-utils)"
    if os.environ.get("TRACE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and TRACE_REQUIRE_BROWSER=1 requires it")
    pytest.skip(reason)


def vial(n: int, lot: str = "UC24-007") -> VialLabel:
    serial = f"{n:04d}"
    tag = f"Tag{n:08d}_abcdefghij"
    uri = VialId(GTIN, lot, serial).label_uri(RESOLVER, expiry=EXPIRY, tag=tag)
    return VialLabel(uri, "UC-MSC 10M cells/mL", lot, serial, EXPIRY, STORAGE)


def awkward_vials() -> list[VialLabel]:
    """Longest identifiers, reserved characters (percent-encoded), a DIN, a long name."""
    cases = [
        ("LOT-2026-07-ABCDEFGH", "00000000000000000001"),
        ("A/B%C&D", "7&8?"),
        ("UC24-007", "0042"),
    ]
    labels = []
    for i, (lot, serial) in enumerate(cases):
        tag = f"Awkward{i:04d}_-xyz"
        uri = VialId(GTIN, lot, serial).label_uri(RESOLVER, expiry=EXPIRY, tag=tag)
        labels.append(
            VialLabel(
                uri,
                "Allogeneic UC-MSC for intravenous infusion",
                lot,
                serial,
                EXPIRY,
                STORAGE,
                din="G123 498 654 321 H",
            )
        )
    return labels


def shippers() -> list[ShipperLabel]:
    return [
        ShipperLabel(
            uri=f"{RESOLVER}/00/{sscc}",
            sscc=sscc,
            product="UC-MSC",
            description="Umbilical cord mesenchymal stromal cells, 10 million cells/mL",
            contents=(ShipperLot(lot, EXPIRY, vials),),
            storage=STORAGE,
            ship_from="Cell Therapy Unit\nUniversity Hospital, 1 Main St\nSpringfield",
            ship_to="Orthopaedic Clinic\n2 High St\nShelbyville",
            warnings=("For Autologous Use Only", "Not Evaluated for Infectious Substances"),
            instructions="Thaw at 37 °C; infuse within 30 minutes.",
        )
        for lot, vials, sscc in (
            ("UC24-007", 12, "106141411234567897"),
            ("LOT-2026-07-ABCDEFGH", 1, "106141411234567903"),
        )
    ]


def rasterise(pdf: bytes, tmp_path: Path) -> list[Image.Image]:
    pdftoppm = require_tool("pdftoppm")
    source = tmp_path / "labels.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-r", "300", "-gray", "-png", str(source), str(tmp_path / "page")],
        check=True,
        timeout=300,
    )
    pages = sorted(tmp_path.glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
    return [Image.open(page) for page in pages]


def decoded(page: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
    assert all(code.ec_level == "M" for code in found)
    return [code.text for code in found]


def test_each_roll_label_page_decodes_to_its_own_uri(tmp_path: Path) -> None:
    labels = [vial(n) for n in range(4)] + awkward_vials()
    pages = rasterise(vial_labels_pdf(labels), tmp_path)
    assert len(pages) == len(labels)
    width_px = round(32.5 / 25.4 * 300)
    for page, label in zip(pages, labels, strict=True):
        assert abs(page.width - width_px) <= 1
        assert decoded(page) == [label.uri]


@pytest.mark.parametrize("size", [(40.0, 15.0), (50.8, 25.4)])
def test_other_label_sizes_decode(size: tuple[float, float], tmp_path: Path) -> None:
    labels = awkward_vials()
    pages = rasterise(vial_labels_pdf(labels, size_mm=size), tmp_path)
    assert [decoded(page) for page in pages] == [[label.uri] for label in labels]


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_a_sheet_spans_pages_and_every_code_decodes_once(paper: str, tmp_path: Path) -> None:
    labels = [vial(n) for n in range(120)] + awkward_vials()
    pages = rasterise(vial_labels_pdf(labels, "sheet", paper=paper), tmp_path)  # type: ignore[arg-type]
    assert len(pages) >= 2
    expected_px = {"A4": (2480, 3508), "letter": (2550, 3300)}[paper]
    per_page = [decoded(page) for page in pages]
    for page in pages:
        assert abs(page.width - expected_px[0]) <= 1 and abs(page.height - expected_px[1]) <= 1
    assert all(per_page)
    everything = [uri for page in per_page for uri in page]
    assert Counter(everything) == Counter(label.uri for label in labels)
    first = len(per_page[0])
    assert set(per_page[0]) == {label.uri for label in labels[:first]}, "labels out of order"


def test_shipper_labels_decode_to_their_uris(tmp_path: Path) -> None:
    labels = shippers()
    pages = rasterise(shipper_label_pdf(labels), tmp_path)
    assert [decoded(page) for page in pages] == [[label.uri] for label in labels]
    assert abs(pages[0].width - round(100 / 25.4 * 300)) <= 1
    assert abs(pages[0].height - round(150 / 25.4 * 300)) <= 1


def content_streams(pdf: bytes) -> list[bytes]:
    """Every stream in the PDF, with reportlab's ASCII85 and Flate filters undone."""
    streams = []
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", pdf, flags=re.S):
        header, body = match.groups()
        if b"/ASCII85Decode" in header:
            body = base64.a85decode(body.strip().removesuffix(b"~>"))
        if b"/FlateDecode" in header:
            body = zlib.decompress(body)
        streams.append(body)
    return streams


@pytest.mark.parametrize(
    "make",
    [
        lambda: vial_labels_pdf([vial(1), *awkward_vials()]),
        lambda: vial_labels_pdf([vial(n) for n in range(100)], "sheet", paper="letter"),
        lambda: shipper_label_pdf(shippers()),
    ],
    ids=["vial", "sheet", "shipper"],
)
def test_the_pdf_holds_no_raster_image(make: object) -> None:
    pdf: bytes = make()  # type: ignore[operator]
    assert pdf.startswith(b"%PDF-")
    assert b"/XObject" not in pdf
    assert not re.search(rb"/Subtype\s*/Image", pdf)
    streams = content_streams(pdf)
    assert streams
    for stream in streams:
        assert not re.search(rb"(^|\s)BI\s", stream), "inline image in a content stream"
    assert any(b" re" in stream and b"f" in stream for stream in streams), "no vector paths"


def test_the_eye_readable_text_is_real_text(tmp_path: Path) -> None:
    pdftotext = require_tool("pdftotext")
    label = awkward_vials()[0]
    source = tmp_path / "label.pdf"
    source.write_bytes(vial_labels_pdf([label]))
    text = subprocess.run(
        [pdftotext, "-raw", str(source), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode("utf-8")
    for expected in (f"LOT {label.lot}", f"SN {label.serial}", "EXP 2027-03-31", STORAGE):
        assert expected in text
