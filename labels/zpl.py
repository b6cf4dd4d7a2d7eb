"""ZPL II for Zebra printers, from the same layouts as the PDF: one ^XA...^XZ per label.

Positions come from `labels.layouts` at the printer's dpi, converted to dots. The QR
code is `^BQN,2,<dots>,M` with field data `MM,B<nnnn><data>`: error correction M
and manual input of one 8-bit byte segment of <nnnn> bytes, which is what the PDF's
matrix is too, so the printer picks the same version and the symbol has the same
size. `^BY` is pinned to a 1-dot height because Zebra firmware offsets a `^FO`-placed
QR code down by the current `^BY` height (10 dots unless set).

Field data cannot contain `^` or `~` (ZPL's command prefixes). Text is written with
`^FH` and every byte outside plain printable ASCII as `_XX` hex, in UTF-8 (`^CI28`),
so a product name cannot inject commands. QR data is written as it is (an `^FH`
escape would change its byte count), so a URI with `^`, `~` or anything but
printable ASCII is refused; label URIs are percent-encoded and never contain those.

Each text line is typeset at the PDF's baseline (`^FT`) and size, in a one-line `^FB`
field block as wide as its column, so the printer's own font (CG Triumvirate, which
is narrower than Helvetica) cannot run past the label's edge either.
"""

from __future__ import annotations

from collections.abc import Sequence

from labels.errors import ContentError
from labels.layouts import (
    DEFAULT_DPI,
    VIAL_SIZE_MM,
    LabelDrawing,
    ShipperLabel,
    VialLabel,
    shipper_label_drawing,
    vial_label_drawing,
)
from labels.qr_matrix import ERROR_CORRECTION_LETTER
from labels.text_fit import PT_MM, TextItem

_QR_SINK = 1  # ^BY height pinned here; a ^FO-placed QR code prints this many dots lower
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("^~_\\")


def vial_labels_zpl(
    labels: Sequence[VialLabel],
    *,
    size_mm: tuple[float, float] = VIAL_SIZE_MM,
    dpi: int = DEFAULT_DPI,
) -> str:
    """ZPL for vial labels, one format per label, for a roll of `size_mm` labels."""
    _require(labels)
    return "".join(
        label_zpl(vial_label_drawing(label, size_mm=size_mm, dpi=dpi)) for label in labels
    )


def shipper_label_zpl(labels: Sequence[ShipperLabel], *, dpi: int = DEFAULT_DPI) -> str:
    """ZPL for 100 x 150 mm shipper labels, one format per label."""
    _require(labels)
    return "".join(label_zpl(shipper_label_drawing(label, dpi=dpi)) for label in labels)


def _require(labels: Sequence[object]) -> None:
    if not labels:
        raise ContentError("there are no labels to print", field="labels")


def label_zpl(drawing: LabelDrawing) -> str:
    """One label format: size, the QR code, then each text line."""
    dpi = drawing.dpi
    lines = [
        "^XA",
        "^CI28",
        f"^PW{dots(drawing.width, dpi)}",
        f"^LL{dots(drawing.height, dpi)}",
        "^LH0,0",
        _qr_field(drawing),
        *(_text_field(item, dpi) for item in drawing.texts),
        "^XZ",
    ]
    return "\n".join(lines) + "\n"


def _qr_field(drawing: LabelDrawing) -> str:
    qr = drawing.qr
    data = qr.matrix.data
    bad = sorted({c for c in data if c in "^~" or not " " < c <= "~"})
    if bad:
        raise ContentError(
            f"the QR data contains {', '.join(map(repr, bad))}, which ZPL cannot carry",
            field="uri",
        )
    level = ERROR_CORRECTION_LETTER
    x, y = dots(qr.x, drawing.dpi), dots(qr.y, drawing.dpi) - _QR_SINK
    return (
        f"^BY2,3,{_QR_SINK}^FO{x},{y}^BQN,2,{qr.dots},{level},7"
        f"^FD{level}M,B{len(data.encode('ascii')):04d}{data}^FS"
    )


def _text_field(item: TextItem, dpi: int) -> str:
    """A line at the PDF's baseline and size, in a field block as wide as its column."""
    size = max(1, dots(item.size * PT_MM, dpi))
    return (
        f"^FT{dots(item.x, dpi)},{dots(item.baseline, dpi)}^A0N,{size},{size}"
        f"^FB{max(1, int(item.room * dpi / 25.4))},1,0,L,0^FH_^FD{escape_text(item.text)}^FS"
    )


def escape_text(text: str) -> str:
    r"""Text as ^FH field data: plain ASCII kept, every other byte as _XX (UTF-8).

    A backslash is written twice, because ^FB reads "\\" as one backslash and a
    lone "\" as the start of its own escapes.
    """
    out: list[str] = []
    for char in text:
        if char in _PLAIN:
            out.append(char)
        else:
            raw = char.encode("utf-8") * (2 if char == "\\" else 1)
            out.append("".join(f"_{byte:02X}" for byte in raw))
    return "".join(out)


def dots(value_mm: float, dpi: int) -> int:
    """Millimetres to whole printer dots."""
    return round(value_mm * dpi / 25.4)
