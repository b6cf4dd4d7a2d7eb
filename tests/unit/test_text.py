"""Which characters text may hold: control characters and text-direction controls are
refused, everything else (any script, emoji, the plain RTL marks) is kept."""

from __future__ import annotations

import unicodedata

import pytest

from traceability.domain.text import refused_character

# The embedding, override and isolate controls, as Unicode's bidi algorithm (UAX #9) lists them.
BIDI = {"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"}


def test_exactly_the_controls_and_direction_overrides_are_refused() -> None:
    for code in range(0x3000):
        ch = chr(code)
        control = unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"
        direction = unicodedata.bidirectional(ch) in BIDI
        assert (refused_character(f"ab{ch}cd") is not None) == (control or direction), hex(code)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Zoë \u202e 😀", "text-direction control U+202E"),
        ("a\u2066b", "text-direction control U+2066"),
        ("nul\x00", "control character U+0000"),
        ("\x85", "control character U+0085"),
    ],
)
def test_the_reason_names_the_character(text: str, reason: str) -> None:
    found = refused_character(text)
    assert found is not None and found.startswith(reason)


def test_ordinary_text_in_any_script_is_kept() -> None:
    for text in ("Zoë Ångström", "محمد\u200f", "李小龍", "line one\nline two\tx", "😀"):
        assert refused_character(text) is None
