"""Vector PDF labels: roll labels (one page per label), sheets of vial labels, shippers.

QR codes are filled paths, one rectangle per run of dark modules in a row, and text
uses the standard Helvetica fonts, so the PDF holds no raster image: it prints sharp
at any resolution and stays small. Geometry comes from `labels.layouts`; this module
only translates millimetres from the top-left into PDF points from the bottom-left.
Output is deterministic (reportlab's invariant mode), so the same labels give the
same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from labels.errors import ContentError
from labels.layouts import (
    DEFAULT_DPI,
    VIAL_SIZE_MM,
    LabelDrawing,
    Paper,
    ShipperLabel,
    VialLabel,
    check_size,
    sheet_grid,
    shipper_label_drawing,
    vial_label_drawing,
)
from labels.qr_matrix import QrMatrix


def vial_labels_pdf(
    labels: Sequence[VialLabel],
    layout: Literal["vial", "sheet"] = "vial",
    *,
    size_mm: tuple[float, float] = VIAL_SIZE_MM,
    paper: Paper = "A4",
    dpi: int = DEFAULT_DPI,
) -> bytes:
    """Vial labels as a PDF.

    "vial": one page per label, the page the label's size (for roll printers).
    "sheet": labels in a grid on A4 or US Letter, over as many pages as needed.
    `dpi` is the printer resolution the QR modules are snapped to.
    """
    _require(labels)
    if layout == "vial":
        drawings = [vial_label_drawing(label, size_mm=size_mm, dpi=dpi) for label in labels]
        return _roll(drawings, check_size(size_mm))
    if layout == "sheet":
        return _sheet(labels, size_mm, paper, dpi)
    raise ContentError("layout is 'vial' or 'sheet'", field="layout")


def shipper_label_pdf(labels: Sequence[ShipperLabel], *, dpi: int = DEFAULT_DPI) -> bytes:
    """Shipper labels as a PDF, one 100 x 150 mm page each."""
    _require(labels)
    drawings = [shipper_label_drawing(label, dpi=dpi) for label in labels]
    return _roll(drawings, (drawings[0].width, drawings[0].height))


def _require(labels: Sequence[object]) -> None:
    """Refuse an empty batch: an empty PDF would look like a successful print run."""
    if not labels:
        raise ContentError("there are no labels to print", field="labels")


def _roll(drawings: Sequence[LabelDrawing], size: tuple[float, float]) -> bytes:
    buffer = io.BytesIO()
    canvas = _canvas(buffer, size)
    for drawing in drawings:
        draw_label(canvas, drawing, (0.0, 0.0), size[1])
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _sheet(
    labels: Sequence[VialLabel], size_mm: tuple[float, float], paper: Paper, dpi: int
) -> bytes:
    grid = sheet_grid(paper, size_mm, dpi=dpi)
    buffer = io.BytesIO()
    canvas = _canvas(buffer, grid.paper)
    for start in range(0, len(labels), grid.per_page):
        page = labels[start : start + grid.per_page]
        for label, origin in zip(page, grid.origins, strict=False):
            drawing = vial_label_drawing(label, size_mm=size_mm, dpi=dpi)
            draw_label(canvas, drawing, origin, grid.paper[1])
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _canvas(buffer: io.BytesIO, size_mm: tuple[float, float]) -> Canvas:
    canvas = Canvas(
        buffer, pagesize=(size_mm[0] * mm, size_mm[1] * mm), invariant=1, pageCompression=1
    )
    canvas.setTitle("Labels")
    canvas.setCreator("labels")
    return canvas


def draw_label(
    canvas: Canvas, drawing: LabelDrawing, origin: tuple[float, float], page_height: float
) -> None:
    """Draw one label with its top-left corner at `origin` (mm from the page's top-left)."""
    left, top = origin
    _draw_qr(canvas, drawing, left, page_height - top)
    for item in drawing.texts:
        canvas.setFont(item.font, item.size)
        canvas.drawString((left + item.x) * mm, (page_height - top - item.baseline) * mm, item.text)


def _draw_qr(canvas: Canvas, drawing: LabelDrawing, left: float, top_from_bottom: float) -> None:
    """All dark runs as rectangles of one filled path, in module units.

    Scaling the coordinate system to one module (y pointing down) makes every
    rectangle four small integers, which is what keeps a 1,000-label sheet close to
    the speed of computing the matrices; one fill means no seams between rows.
    """
    qr = drawing.qr
    unit = qr.module * mm
    canvas.saveState()
    canvas.transform(unit, 0, 0, -unit, (left + qr.x) * mm, (top_from_bottom - qr.y) * mm)
    canvas.addLiteral(qr_path_operators(qr.matrix))
    canvas.restoreState()


def qr_path_operators(matrix: QrMatrix) -> str:
    """PDF path operators for a matrix's dark runs (`re` per run, then `f` to fill)."""
    rects = [f"{run.column} {run.row} {run.length} 1 re" for run in matrix.runs]
    return "\n".join([*rects, "f"])
