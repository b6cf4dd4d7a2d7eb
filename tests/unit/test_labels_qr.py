"""QR matrices: the runs drawn are exactly the dark modules, and an independent decoder
reads the symbol back at error-correction level M."""

from __future__ import annotations

import pytest
import qrcode
import zxingcpp
from PIL import Image

from labels.errors import FitError
from labels.qr_matrix import qr_matrix

URIS = [
    "https://id.clinic.example/01/09521234543213/10/UC24-007/21/0042?17=270331&s=AbCdEfGhIjK",
    "https://id.clinic.example/01/09521234543213/10/A%2FB%25C/21/7%268%3F?17=270331",
    "https://r.example/01/09521234543213/10/LOT-2026-07-ABCDEFGH/21/00000000000000000001",
]


def picture(dark: set[tuple[int, int]], size: int, scale: int = 4, quiet: int = 4) -> Image.Image:
    side = (size + 2 * quiet) * scale
    image = Image.new("L", (side, side), 255)
    for row, column in dark:
        x, y = (column + quiet) * scale, (row + quiet) * scale
        image.paste(0, (x, y, x + scale, y + scale))
    return image


@pytest.mark.parametrize("uri", URIS)
def test_runs_cover_exactly_the_dark_modules_of_the_qrcode_matrix(uri: str) -> None:
    reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    reference.add_data(qrcode.util.QRData(uri.encode(), mode=qrcode.util.MODE_8BIT_BYTE))
    reference.make(fit=True)
    rows = reference.get_matrix()
    expected = {(r, c) for r, row in enumerate(rows) for c, dark in enumerate(row) if dark}
    matrix = qr_matrix(uri)
    assert matrix.size == len(rows)
    assert matrix.dark() == expected
    ends = {(run.row, run.column + run.length) for run in matrix.runs}
    assert not any((run.row, run.column) in ends for run in matrix.runs), "runs not merged"


@pytest.mark.parametrize("uri", URIS)
def test_an_independent_decoder_reads_the_matrix_at_level_m(uri: str) -> None:
    matrix = qr_matrix(uri)
    [found] = zxingcpp.read_barcodes(
        picture(matrix.dark(), matrix.size), formats=zxingcpp.BarcodeFormat.QRCode
    )
    assert found.text == uri
    assert found.ec_level == "M"


def test_data_beyond_a_qr_codes_capacity_is_refused() -> None:
    with pytest.raises(FitError) as e:
        qr_matrix("https://id.example/" + "x" * 3000)
    assert e.value.field == "uri"
