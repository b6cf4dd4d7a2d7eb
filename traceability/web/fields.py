"""Input field types shared by request models, forms and query parameters.

`Text` refuses control characters: a NUL cannot be stored by PostgreSQL at all (it
would be a 500), and other controls have no business in names, reasons or subjects
that are printed on records and signatures. Both engines then accept the same input.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict

ALLOWED_CONTROLS = frozenset("\t\n\r")


def refuse_control_characters(value: str) -> str:
    for ch in value:
        if (ord(ch) < 32 and ch not in ALLOWED_CONTROLS) or 0x7F <= ord(ch) < 0xA0:
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed")
    return value


Text = Annotated[str, AfterValidator(refuse_control_characters)]

STRICT_BODY = ConfigDict(extra="forbid")
"""Request bodies refuse unknown members, so a misspelt or smuggled field is an error."""
