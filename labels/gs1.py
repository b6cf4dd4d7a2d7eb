"""GS1 identifier rules: GTIN and SSCC check digits and the AI 82 character set.

Facts from the GS1 General Specifications: a GTIN's and an SSCC's last digit is a
mod-10 check digit with weights 3 and 1 alternating from the right; an SSCC (AI 00) is
18 digits (extension digit, company prefix, serial reference, check digit); batch/lot
(AI 10) and serial (AI 21) are up to 20 characters from "GS1 AI encodable character
set 82".
"""

from __future__ import annotations

import string

from labels.errors import IdentifierError

AI82 = frozenset(string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_")
MAX_LOT = 20
MAX_SERIAL = 20


def check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for the digits before it."""
    total = 0
    for position, char in enumerate(reversed(digits), start=1):
        total += int(char) * (3 if position % 2 else 1)
    return (10 - total % 10) % 10


def gtin14(value: str, *, field: str = "gtin") -> str:
    """A valid GTIN-14; shorter GTINs (8, 12, 13 digits) are padded with leading zeros."""
    text = value.strip()
    if not text.isdigit() or not text.isascii() or len(text) not in (8, 12, 13, 14):
        raise IdentifierError("a GTIN has 8, 12, 13 or 14 digits", field=field)
    text = text.zfill(14)
    if check_digit(text[:-1]) != int(text[-1]):
        raise IdentifierError(
            f"GTIN {text} has check digit {text[-1]}; it should be {check_digit(text[:-1])}",
            field=field,
        )
    return text


def sscc18(value: str, *, field: str = "sscc") -> str:
    """A valid SSCC: 18 digits whose last is the check digit of the other 17."""
    if not (value.isascii() and value.isdigit() and len(value) == 18):
        raise IdentifierError("an SSCC is 18 digits", field=field)
    if check_digit(value[:-1]) != int(value[-1]):
        raise IdentifierError(
            f"SSCC {value} has check digit {value[-1]}; it should be {check_digit(value[:-1])}",
            field=field,
        )
    return value


def sscc_text(value: str) -> str:
    """The SSCC as people read it under the symbol: its AI in brackets, then the digits
    (GS1 human-readable interpretation)."""
    return f"(00) {sscc18(value)}"


def ai82(value: str, *, field: str, max_length: int) -> str:
    """A lot or serial: 1..max_length characters of the AI 82 set."""
    if not value:
        raise IdentifierError(f"{field} may not be empty", field=field)
    if len(value) > max_length:
        raise IdentifierError(f"{field} has more than {max_length} characters", field=field)
    bad = sorted({c for c in value if c not in AI82})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise IdentifierError(
            f"{field} may only use the GS1 AI 82 characters; not {shown}", field=field
        )
    return value
