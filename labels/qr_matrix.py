"""QR code matrices for labels, and the dark runs that draw them as vector paths.

Error correction is level M (about 15 % of codewords recoverable). On a 12.7 mm
cryovial wrap the symbol is at most ~11 mm across, so what limits reading is module
size against the printer's dot pitch. For the usual ~100-character label URI, M and
L both fit at 3 dots a module at 300 dpi (version 6 against 5), while Q needs version
8 and drops to 2 dots (0.17 mm). Only for the longest identifiers (20-character lot
and serial) does M fall to 2 dots where L would keep 3. Cryovials get frost, rack
scuffs and ethanol wipes: local damage that error correction repairs and a bigger
module does not, so M, QR's default, is the balance; Q and H cost size the label
does not have. The ZPL writer asks the printer for the same level.

The data is always encoded as one 8-bit byte segment. Mixed segments would save a
few modules for the GTIN's digits, but a Zebra printer in manual byte mode encodes
exactly one byte segment too, so the PDF and the printed ZPL symbol have the same
version and size, and the shared layout holds for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
from qrcode.exceptions import DataOverflowError
from qrcode.util import MODE_8BIT_BYTE, QRData

from labels.errors import FitError

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
ERROR_CORRECTION_LETTER = "M"
QUIET_ZONE = 4  # modules of white on every side (ISO/IEC 18004)


@dataclass(frozen=True)
class Run:
    """A horizontal run of dark modules: row, first column, number of modules."""

    row: int
    column: int
    length: int


@dataclass(frozen=True)
class QrMatrix:
    """A QR symbol without its quiet zone: `size` modules square, dark runs per row."""

    data: str
    size: int
    runs: tuple[Run, ...]

    def dark(self) -> set[tuple[int, int]]:
        """Every dark module as (row, column), for checks and tests."""
        return {(r.row, r.column + i) for r in self.runs for i in range(r.length)}


def bare_matrix(data: str) -> list[list[bool]]:
    """The qrcode library's matrix for `data` at this package's settings, nothing more.

    The benchmark times this as the floor that drawing labels is measured against.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=0, box_size=1)
    code.add_data(QRData(data.encode("ascii"), mode=MODE_8BIT_BYTE))
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError) as e:
        raise FitError(
            f"{len(data)} characters do not fit in a QR code at level M", field="uri"
        ) from e
    matrix: list[list[bool]] = code.get_matrix()
    return matrix


def qr_matrix(data: str) -> QrMatrix:
    """The QR symbol for `data`, with its dark modules merged into runs per row.

    One rectangle per run rather than per module makes the PDF several times smaller
    and faster to write and to rasterise.
    """
    rows = bare_matrix(data)
    return QrMatrix(data, len(rows), tuple(_runs(rows)))


def _runs(rows: list[list[bool]]) -> list[Run]:
    runs: list[Run] = []
    for r, row in enumerate(rows):
        start = -1
        for c, dark in enumerate(row):
            if dark and start < 0:
                start = c
            elif not dark and start >= 0:
                runs.append(Run(r, start, c - start))
                start = -1
        if start >= 0:
            runs.append(Run(r, start, len(row) - start))
    return runs
