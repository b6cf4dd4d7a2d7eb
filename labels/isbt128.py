"""ISBT 128's public structure: the Donation Identification Number's check character.

ISBT 128 is licensed; only its published structure is used here. The DIN (13 characters:
facility identification number, year, sequence number) carries an ISO/IEC 7064
MOD 37-2 check character, printed eye-readable beside it.
"""

from __future__ import annotations

import re

from labels.errors import IdentifierError

MOD37_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"
_DIN = re.compile(r"^[A-Z0-9]{13}$")


def mod37_2(text: str) -> tuple[int, str]:
    """The ISO/IEC 7064 MOD 37-2 check value and character of `text`."""
    product = 0
    for char in text:
        value = MOD37_CHARSET.find(char)
        if value < 0 or value == 36:
            raise IdentifierError(f"{char!r} cannot appear in a DIN", field="din")
        product = ((product + value) * 2) % 37
    check = (38 - product) % 37
    return check, MOD37_CHARSET[check]


def din(value: str) -> str:
    """A 13-character DIN (spaces allowed for readability) in its compact form."""
    compact = value.replace(" ", "").upper()
    if not _DIN.fullmatch(compact):
        raise IdentifierError("a DIN has 13 letters and digits", field="din")
    return compact


def eye_readable(value: str) -> str:
    """The DIN as printed: groups of characters and its check character in a box-like bracket."""
    compact = din(value)
    _, char = mod37_2(compact)
    return f"{compact[:5]} {compact[5:7]} {compact[7:]} [{char}]"


def parse_eye_readable(value: str) -> str:
    """The compact DIN of an eye-readable one (DIN then check character), verified.

    Accepts what `eye_readable` prints and looser spellings ("G1234 26 000042 K",
    with or without the brackets); refuses a check character that does not match,
    because a mistyped DIN on a label is worse than none.
    """
    compact = value.replace(" ", "").replace("[", "").replace("]", "").upper()
    if len(compact) != 14:
        raise IdentifierError(
            "an eye-readable DIN has 13 characters and a check character", field="din"
        )
    number = din(compact[:13])
    _, expected = mod37_2(number)
    if compact[13] != expected:
        raise IdentifierError(
            f"DIN {number} has check character {compact[13]}; it should be {expected}",
            field="din",
        )
    return number
