"""Fitting eye-readable text into a box on a label: shrink, then wrap, then truncate.

No text may ever run outside its label, so every string is measured with the
standard PDF font metrics (reportlab's `stringWidth`) before it is placed, and its
vertical extent is taken from the font's bounding box (not its cap height), so
accented capitals and descenders stay inside too. A block first shrinks with the
whole column, then on its own down to the minimum size; only then is it cut short
with an ellipsis. Blocks marked `whole` (lot, serial, expiry, DIN, storage,
warnings) are never cut: if they cannot fit at the minimum size the label is
refused, because a truncated lot or temperature reads as a different one.

The same `TextItem`s drive the PDF and the ZPL writers, and tests check them against
the label's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.pdfbase.pdfmetrics import stringWidth

from labels.errors import FitError

PT_MM = 25.4 / 72  # one typographic point in millimetres
REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
ELLIPSIS = "\u2026"

# Ascent and descent (fractions of the size) from each font's FontBBox in Adobe's
# AFM files: the ink of every glyph, accented capitals included, lies within these.
_EXTENT = {REGULAR: (0.931, 0.225), BOLD: (0.962, 0.228)}
_SCALE_STEP = 0.94  # how much a crowded column shrinks per attempt


@dataclass(frozen=True)
class Box:
    """A rectangle on a label in millimetres, measured from the label's top-left corner."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class TextBlock:
    """A piece of text to place: preferred size, how many lines it may use, whether whole."""

    field: str
    text: str
    font: str = REGULAR
    size: float = 6.0
    max_lines: int = 1
    whole: bool = False


@dataclass(frozen=True)
class TextItem:
    """One drawn line: text, font, size (pt), left edge and baseline (mm), width (mm).

    `room` is the width its column allows (mm): the measured `width` never exceeds it.
    """

    field: str
    text: str
    font: str
    size: float
    x: float
    baseline: float
    width: float
    room: float

    @property
    def top(self) -> float:
        return self.baseline - ascent_mm(self.font, self.size)

    @property
    def bottom(self) -> float:
        return self.baseline + descent_mm(self.font, self.size)

    @property
    def right(self) -> float:
        return self.x + self.width


def ascent_mm(font: str, size: float) -> float:
    return _EXTENT[font][0] * size * PT_MM


def descent_mm(font: str, size: float) -> float:
    return _EXTENT[font][1] * size * PT_MM


def width_mm(text: str, font: str, size: float) -> float:
    return float(stringWidth(text, font, size)) * PT_MM


@dataclass(frozen=True)
class _Line:
    field: str
    text: str
    font: str
    size: float


class _Shortfall(Exception):
    """Internal: this attempt does not fit; carries what the final refusal will say."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def fit_column(
    blocks: Sequence[TextBlock], box: Box, *, min_size: float, centre: bool = False
) -> tuple[TextItem, ...]:
    """Lay blocks out top to bottom in `box`, shrinking all of them until they fit.

    Raises FitError naming the field that cannot be shown whole at `min_size`, or
    "size" when the lines together are taller than the box even at the minimum.
    """
    if not blocks:
        return ()
    largest = max(block.size for block in blocks)
    scale = 1.0
    while True:
        at_minimum = largest * scale <= min_size
        try:
            lines = _lines_at(blocks, box.width, scale, min_size)
            return _stack(lines, box, centre=centre)
        except _Shortfall as shortfall:
            if at_minimum:
                raise FitError(str(shortfall), field=shortfall.field) from None
        scale = scale * _SCALE_STEP


def _lines_at(
    blocks: Sequence[TextBlock], width: float, scale: float, min_size: float
) -> list[_Line]:
    lines: list[_Line] = []
    for block in blocks:
        size = max(min_size, _round_down(block.size * scale))
        if block.max_lines == 1 and "\n" not in block.text:
            lines.append(_one_line(block, width, size, min_size))
        else:
            lines.extend(_wrapped(block, width, size))
    return lines


def _one_line(block: TextBlock, width: float, size: float, min_size: float) -> _Line:
    """The block on one line: at `size` if it fits, else smaller, else cut short."""
    natural = width_mm(block.text, block.font, size)
    if natural <= width:
        return _Line(block.field, block.text, block.font, size)
    shrunk = _round_down(size * width / natural)
    if shrunk >= min_size and width_mm(block.text, block.font, shrunk) <= width:
        return _Line(block.field, block.text, block.font, shrunk)
    if block.whole:
        raise _Shortfall(
            f"{block.field} {block.text!r} does not fit the label at {min_size} pt", block.field
        )
    return _Line(
        block.field, ellipsize(block.text, block.font, min_size, width), block.font, min_size
    )


def _wrapped(block: TextBlock, width: float, size: float) -> list[_Line]:
    """The block wrapped at word boundaries into at most `max_lines` lines."""
    texts = wrap(block.text, block.font, size, width)
    if len(texts) > block.max_lines:
        if block.whole:
            raise _Shortfall(
                f"{block.field} {block.text!r} needs more than {block.max_lines} lines on the "
                "label even at the minimum size",
                block.field,
            )
        kept = texts[: block.max_lines - 1]
        rest = " ".join(texts[block.max_lines - 1 :])
        texts = [*kept, ellipsize(rest + " " + ELLIPSIS, block.font, size, width)]
    return [_Line(block.field, text, block.font, size) for text in texts]


def _stack(lines: list[_Line], box: Box, *, centre: bool) -> tuple[TextItem, ...]:
    """Place lines so that no two lines' glyph boxes overlap and all lie in `box`."""
    height = sum(ascent_mm(ln.font, ln.size) + descent_mm(ln.font, ln.size) for ln in lines)
    if height > box.height + 1e-9:
        raise _Shortfall(
            f"the label text needs {height:.1f} mm but the label has {box.height:.1f} mm "
            "even at the minimum size",
            "size",
        )
    y = box.y + ((box.height - height) / 2 if centre else 0.0)
    items: list[TextItem] = []
    for line in lines:
        baseline = y + ascent_mm(line.font, line.size)
        items.append(
            TextItem(
                line.field,
                line.text,
                line.font,
                line.size,
                box.x,
                baseline,
                width_mm(line.text, line.font, line.size),
                box.width,
            )
        )
        y = baseline + descent_mm(line.font, line.size)
    return tuple(items)


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap, keeping the text's own line breaks; overlong words are split."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if width_mm(candidate, font, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = word
            while width_mm(current, font, size) > width:
                cut = _longest_prefix(current, font, size, width, suffix="")
                lines.append(current[:cut])
                current = current[cut:]
        if current:
            lines.append(current)
    return lines


def ellipsize(text: str, font: str, size: float, width: float) -> str:
    """The longest start of `text` that, followed by an ellipsis, fits `width`."""
    if width_mm(text, font, size) <= width:
        return text
    cut = _longest_prefix(text, font, size, width, suffix=ELLIPSIS)
    return text[:cut].rstrip() + ELLIPSIS


def _longest_prefix(text: str, font: str, size: float, width: float, *, suffix: str) -> int:
    """Binary search for the longest prefix (at least one character) that fits."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if width_mm(text[:middle].rstrip() + suffix, font, size) <= width:
            low = middle
        else:
            high = middle - 1
    if width_mm(text[:low].rstrip() + suffix, font, size) > width:
        raise FitError(f"no room for even one character of {text!r}", field="size")
    return low


def _round_down(size: float) -> float:
    """Sizes to 1/100 pt, rounded down, so a size that fits still fits once written."""
    return math.floor(size * 100) / 100
