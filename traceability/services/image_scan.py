"""Decode every QR code in a photo of a shipper box, on the server.

Phones without a barcode API (or a browser that lacks one) still have a camera: the
"scan many" page sends one frame or photo and the server reads every code in it with
zxing-cpp, an independent, maintained decoder. Images are untrusted input: size and
pixel count are capped before decoding (a small file can claim a huge canvas).
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from traceability.errors import InvalidInputError

MAX_BYTES = 12 * 1024 * 1024
MAX_PIXELS = 40_000_000
"""About a 48-megapixel photo's worth, after the phone's own downscaling."""


def decode_qr_codes(data: bytes) -> list[str]:
    """The text of every QR code found, in reading order, duplicates removed."""
    if not data:
        raise InvalidInputError("the image is empty", field="image")
    if len(data) > MAX_BYTES:
        raise InvalidInputError(
            f"the image is larger than {MAX_BYTES // 2**20} MB; send a smaller photo",
            field="image",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInputError("the image has too many pixels", field="image")
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        ValueError,
    ):
        raise InvalidInputError("not a readable image (JPEG, PNG or WebP)", field="image") from None
    grey = image.convert("L")
    found = zxingcpp.read_barcodes(
        grey, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    texts: list[str] = []
    for code in sorted(found, key=lambda c: (c.position.top_left.y, c.position.top_left.x)):
        if code.text not in texts:
            texts.append(code.text)
    return texts
