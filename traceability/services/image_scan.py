"""Decode every QR code in a photo of a shipper box, on the server.

Phones without a barcode API (or a browser that lacks one) still have a camera: the
"scan many" page sends one frame or photo and the server reads every code in it with
zxing-cpp, an independent, maintained decoder. Images are untrusted input: size and
pixel count are capped before decoding (a small file can claim a huge canvas: a
6,300 x 6,300 PNG of one colour is a few kilobytes, and 120 MB once decoded to RGB).
The pixel count is read from the header (`Image.open` decodes nothing) and the cap is
the site's `max_image_pixels`; Pillow's own bomb check stays on behind it.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from traceability.errors import InvalidInputError, TooLargeError

MAX_BYTES = 12 * 1024 * 1024
MAX_PIXELS = 24_000_000
"""A 6000 x 4000 photo; a phone's camera frame is far smaller (the default of the
`max_image_pixels` setting)."""


def decode_qr_codes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> list[str]:
    """The text of every QR code found, in reading order, duplicates removed."""
    if not data:
        raise InvalidInputError("the image is empty", field="image")
    if len(data) > MAX_BYTES:
        raise TooLargeError(
            f"the image is larger than {MAX_BYTES // 2**20} MB; send a smaller photo",
            field="image",
            limit=MAX_BYTES,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise TooLargeError(
                    f"the image is {image.width} x {image.height} pixels, more than the "
                    f"limit of {max_pixels} pixels; send a smaller photo",
                    field="image",
                    limit=max_pixels,
                )
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
