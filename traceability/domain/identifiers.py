"""GS1 identifier syntax the records accept: GTINs and AI 82 lots and serials.

Facts from the GS1 General Specifications (GTIN mod-10 check digit with weights 3 and 1
from the right; batch/lot AI 10 and serial AI 21 are up to 20 characters of "GS1 AI
encodable character set 82"). The label printer (`labels.gs1`) checks the same syntax on
its own before it encodes anything, because it stands alone; the domain checks it here
so that no record is stored that could not be labelled, without depending on the
printer. A test holds the two to the same answers.
"""

from __future__ import annotations

import re

from traceability.errors import InvalidInputError

MAX_LOT = 20
MAX_SERIAL = 20
_AI82_CHARACTER = re.compile(r"[A-Za-z0-9!\"%&'()*+,\-./:;<=>?_]")


def gs1_check_digit(body: str) -> int:
    """The digit that completes `body` (all of a GTIN but its last digit)."""
    weighted = sum(int(d) * w for d, w in zip(reversed(body), (3, 1) * len(body), strict=False))
    return -weighted % 10


def gtin14(value: str, *, field: str) -> str:
    """The GTIN-14 form of a GTIN-8/12/13/14, or InvalidInputError naming `field`."""
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) in (8, 12, 13, 14)):
        raise InvalidInputError("a GTIN has 8, 12, 13 or 14 digits", field=field)
    padded = digits.zfill(14)
    expected = gs1_check_digit(padded[:13])
    if int(padded[13]) != expected:
        raise InvalidInputError(
            f"GTIN {padded} has check digit {padded[13]}; it should be {expected}", field=field
        )
    return padded


def ai82(value: str, *, name: str, field: str, max_length: int) -> str:
    """A lot or serial number: 1..max_length characters of the AI 82 set."""
    if not value:
        raise InvalidInputError(f"{name} may not be empty", field=field)
    if len(value) > max_length:
        raise InvalidInputError(f"{name} has more than {max_length} characters", field=field)
    refused = sorted({c for c in value if not _AI82_CHARACTER.fullmatch(c)})
    if refused:
        shown = ", ".join(repr(c) for c in refused)
        raise InvalidInputError(
            f"{name} may only use the GS1 AI 82 characters; not {shown}", field=field
        )
    return value
