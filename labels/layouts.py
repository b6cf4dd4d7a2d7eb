"""Where everything sits on a label: one computation shared by the PDF and ZPL writers.

A `LabelDrawing` is the whole label in millimetres from its top-left corner: the QR
symbol (position, module size, dark runs) and every line of text (position, font,
size, measured width). The PDF and the ZPL writers only translate it, so the two
outputs agree and a test can check every string against the label's bounds without
rendering anything.

QR modules are a whole number of printer dots (at `dpi`, 300 by default) and the
symbol is placed on the dot grid: a module that straddles dots prints unevenly, and
the Zebra `^BQ` command only knows whole-dot magnifications anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from labels.errors import ContentError, FitError
from labels.gs1 import sscc_text
from labels.label_content import ShipperLabel, ShipperLot, VialLabel, expiry_text
from labels.qr_matrix import QUIET_ZONE, QrMatrix, qr_matrix
from labels.text_fit import BOLD, REGULAR, Box, TextBlock, TextItem, fit_column

__all__ = [
    "DEFAULT_DPI",
    "MIN_TYPE_PT",
    "PAPER_MM",
    "SHIPPER_SIZE_MM",
    "VIAL_SIZE_MM",
    "LabelDrawing",
    "QrItem",
    "SheetGrid",
    "ShipperLabel",
    "ShipperLot",
    "VialLabel",
    "sheet_grid",
    "shipper_label_drawing",
    "vial_label_drawing",
]

Paper = Literal["A4", "letter"]

VIAL_SIZE_MM = (32.5, 12.7)  # a common 1/2" cryovial wrap label
SHIPPER_SIZE_MM = (100.0, 150.0)  # the A6 / 4 x 6 in size of GS1 logistic labels
PAPER_MM: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "letter": (215.9, 279.4)}
DEFAULT_DPI = 300
MIN_TYPE_PT = 4.0  # below this, thermal-printed Helvetica stops being legible
PRODUCT_LINES = 3
"""A vial label wraps the product name onto up to this many lines, then shrinks all its
text down to MIN_TYPE_PT; a name that still does not fit is refused (FitError on
`product`), never cut: a label must name its product whole."""
MIN_MODULE_MM = 0.16  # about 2 dots at 300 dpi: the smallest QR module worth printing
MAX_MODULE_DOTS = 10  # the largest ^BQ magnification
VIAL_MARGIN = 0.5  # unprinted edge of a roll label
SHIPPER_MARGIN = 4.0
SHEET_MARGIN = 10.0  # office printers cannot print closer to the paper's edge
SHEET_GAP = 2.0  # between labels, for cutting or a die-cut sheet's bridges


@dataclass(frozen=True)
class QrItem:
    """The QR symbol on a label: top-left of the symbol (mm), module size (mm and dots)."""

    matrix: QrMatrix
    x: float
    y: float
    module: float
    dots: int

    @property
    def side(self) -> float:
        return self.matrix.size * self.module


@dataclass(frozen=True)
class LabelDrawing:
    """Everything drawn on one label, in mm from its top-left corner."""

    width: float
    height: float
    dpi: int
    qr: QrItem
    texts: tuple[TextItem, ...]


@dataclass(frozen=True)
class SheetGrid:
    """How labels tile a page: label origins (mm from the page's top-left) in order."""

    paper: tuple[float, float]
    label: tuple[float, float]
    origins: tuple[tuple[float, float], ...]

    @property
    def per_page(self) -> int:
        return len(self.origins)


def vial_label_drawing(
    label: VialLabel, *, size_mm: tuple[float, float] = VIAL_SIZE_MM, dpi: int = DEFAULT_DPI
) -> LabelDrawing:
    """A cryovial wrap label: QR at the left end, the eye-readable identity beside it."""
    width, height = check_size(size_mm)
    check_dpi(dpi)
    qr = place_qr(qr_matrix(label.uri), Box(0.0, 0.0, height, height), dpi)
    text_x = qr.x + qr.side + QUIET_ZONE * qr.module
    room = Box(text_x, VIAL_MARGIN, width - VIAL_MARGIN - text_x, height - 2 * VIAL_MARGIN)
    if room.width <= 0 or room.height <= 0:
        raise FitError(
            f"a {width} x {height} mm label has no room beside its QR code", field="size"
        )
    texts = fit_column(_vial_blocks(label, height), room, min_size=MIN_TYPE_PT, centre=True)
    return LabelDrawing(width, height, dpi, qr, texts)


def _vial_blocks(label: VialLabel, height: float) -> list[TextBlock]:
    """The product (wrapped, whole) and five lines; type starts at 6 pt on a 12.7 mm label
    and grows with height."""
    size = min(12.0, 6.0 * height / VIAL_SIZE_MM[1])
    blocks = [
        TextBlock("product", label.product, BOLD, size, max_lines=PRODUCT_LINES, whole=True),
        TextBlock("lot", f"LOT {label.lot}", REGULAR, size, whole=True),
        TextBlock("serial", f"SN {label.serial}", REGULAR, size, whole=True),
        TextBlock("expiry", expiry_text(label.expiry), BOLD, size, whole=True),
        TextBlock("storage", label.storage, REGULAR, size, whole=True),
    ]
    din = label.din_text()
    if din is not None:
        blocks.append(TextBlock("din", din, BOLD, size, whole=True))
    return blocks


def shipper_label_drawing(label: ShipperLabel, *, dpi: int = DEFAULT_DPI) -> LabelDrawing:
    """A 100 x 150 mm logistic label, in the order GS1 logistic labels read top down:
    where from and where to; what is inside and how to keep it; the SSCC last, as a QR
    code of its Digital Link URI with the digits beside it."""
    check_dpi(dpi)
    width, height = SHIPPER_SIZE_MM
    inner = width - 2 * SHIPPER_MARGIN
    ship = Box(SHIPPER_MARGIN, SHIPPER_MARGIN, inner, 38.0)
    goods_top = ship.y + ship.height + SHIPPER_MARGIN
    qr_box = Box(SHIPPER_MARGIN / 2, height - SHIPPER_MARGIN / 2 - 44.0, 44.0, 44.0)
    goods = Box(SHIPPER_MARGIN, goods_top, inner, qr_box.y - SHIPPER_MARGIN - goods_top)
    qr = place_qr(qr_matrix(label.uri), qr_box, dpi)
    code_x = qr_box.x + qr_box.width + SHIPPER_MARGIN / 2
    code = Box(code_x, qr_box.y + SHIPPER_MARGIN, width - SHIPPER_MARGIN - code_x, 30.0)
    texts = (
        fit_column(_shipper_route(label), ship, min_size=MIN_TYPE_PT)
        + fit_column(_shipper_goods(label), goods, min_size=MIN_TYPE_PT)
        + fit_column(_shipper_code(label), code, min_size=MIN_TYPE_PT)
    )
    return LabelDrawing(width, height, dpi, qr, texts)


def _shipper_route(label: ShipperLabel) -> list[TextBlock]:
    return [
        TextBlock("ship_to", f"TO: {label.ship_to}", BOLD, 14.0, max_lines=4),
        TextBlock("ship_from", f"FROM: {label.ship_from}", REGULAR, 8.0, max_lines=3),
    ]


def _shipper_goods(label: ShipperLabel) -> list[TextBlock]:
    """The contents, then the 21 CFR 1271.370 items a cryovial has no room for."""
    blocks = [
        TextBlock("product", label.product, BOLD, 12.0, max_lines=2),
        TextBlock("description", label.description, REGULAR, 8.0, max_lines=2),
    ]
    for lot in label.contents:
        count = f"QTY {lot.vials} vial" + ("" if lot.vials == 1 else "s")
        line = f"LOT {lot.lot}   {expiry_text(lot.expiry)}   {count}"
        blocks.append(TextBlock("contents", line, BOLD, 10.0, whole=True))
    blocks.append(TextBlock("storage", label.storage, BOLD, 10.0, max_lines=2, whole=True))
    blocks += [TextBlock("warnings", w, BOLD, 9.0, max_lines=2, whole=True) for w in label.warnings]
    if label.instructions:
        blocks.append(TextBlock("instructions", label.instructions, REGULAR, 8.0, max_lines=3))
    return blocks


def _shipper_code(label: ShipperLabel) -> list[TextBlock]:
    total = f"{label.vials} vial" + ("" if label.vials == 1 else "s")
    return [
        TextBlock("sscc_title", "SSCC", REGULAR, 8.0, whole=True),
        TextBlock("sscc", sscc_text(label.sscc), BOLD, 11.0, whole=True),
        TextBlock("vials", f"Total: {total}", REGULAR, 9.0, whole=True),
    ]


def place_qr(matrix: QrMatrix, box: Box, dpi: int) -> QrItem:
    """The largest whole-dot module whose symbol and quiet zone fit `box`, left-aligned.

    Raises FitError when that module would be smaller than `MIN_MODULE_MM`: a code
    that prints but does not scan is worse than a refusal.
    """
    dot = 25.4 / dpi
    span = matrix.size + 2 * QUIET_ZONE
    dots = min(MAX_MODULE_DOTS, math.floor(min(box.width, box.height) / (span * dot) + 1e-9))
    module = dots * dot
    if module < MIN_MODULE_MM:
        need = span * math.ceil(MIN_MODULE_MM / dot) * dot
        raise FitError(
            f"the QR code for a {len(matrix.data)}-character URI needs {need:.1f} mm with its "
            f"quiet zone; the label gives {min(box.width, box.height):.1f} mm",
            field="uri",
        )
    top = box.y + (box.height - span * module) / 2
    x = snap(box.x + QUIET_ZONE * module, dpi)
    y = snap(top + QUIET_ZONE * module, dpi)
    return QrItem(matrix, x, y, module, dots)


def sheet_grid(
    paper: Paper, size_mm: tuple[float, float] = VIAL_SIZE_MM, *, dpi: int = DEFAULT_DPI
) -> SheetGrid:
    """Rows and columns of labels within the sheet margins, centred, row by row."""
    if paper not in PAPER_MM:
        raise ContentError(f"paper is one of {', '.join(PAPER_MM)}", field="paper")
    page_w, page_h = PAPER_MM[paper]
    width, height = check_size(size_mm)
    columns = math.floor((page_w - 2 * SHEET_MARGIN + SHEET_GAP) / (width + SHEET_GAP))
    rows = math.floor((page_h - 2 * SHEET_MARGIN + SHEET_GAP) / (height + SHEET_GAP))
    if columns < 1 or rows < 1:
        raise FitError(f"a {width} x {height} mm label does not fit on {paper}", field="size")
    left = (page_w - columns * width - (columns - 1) * SHEET_GAP) / 2
    top = (page_h - rows * height - (rows - 1) * SHEET_GAP) / 2
    origins = tuple(
        (snap(left + c * (width + SHEET_GAP), dpi), snap(top + r * (height + SHEET_GAP), dpi))
        for r in range(rows)
        for c in range(columns)
    )
    return SheetGrid((page_w, page_h), (width, height), origins)


def check_size(size_mm: Sequence[float]) -> tuple[float, float]:
    """A label size: two finite positive millimetre figures, at most a metre."""
    if len(size_mm) != 2:
        raise ContentError("a label size is (width, height) in mm", field="size")
    width, height = float(size_mm[0]), float(size_mm[1])
    if not all(math.isfinite(v) and 0 < v <= 1000 for v in (width, height)):
        raise ContentError("a label's width and height are between 0 and 1000 mm", field="size")
    return width, height


def check_dpi(dpi: int) -> None:
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 100 <= dpi <= 1200:
        raise ContentError("dpi is a whole number from 100 to 1200", field="dpi")


def snap(value_mm: float, dpi: int) -> float:
    """The nearest printer dot, so modules start on dot boundaries."""
    dot = 25.4 / dpi
    return round(value_mm / dot) * dot
