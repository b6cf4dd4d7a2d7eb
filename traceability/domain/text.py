"""Which characters a person's text may hold, in request fields and signed statements.

Control characters have no business in names, reasons or results printed on records
(and PostgreSQL cannot store a NUL at all). The Unicode bidirectional embedding,
override and isolate controls (U+202A-U+202E, U+2066-U+2069) make text display in an
order other than the one stored and signed, so a record could read differently from
what was signed ("Trojan Source", CVE-2021-42574). Both are refused; tab, line feed and
carriage return are kept for notes, and the plain marks U+200E/U+200F stay allowed for
right-to-left writing.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""One search in C: every signed statement's text passes through here."""


def refused_character(value: str) -> str | None:
    """Why `value` is refused ("control character U+0000 ..."), or None if it is fine."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    code = ord(found.group())
    if found.group() in BIDI_CONTROLS:
        return f"text-direction control U+{code:04X} is not allowed (it reorders what is shown)"
    return f"control character U+{code:04X} is not allowed"
