"""Reported numbers as the pages show them: powers of ten written out, never "24.8e6"."""

from __future__ import annotations

import pytest

from traceability.web.pages import quantity_shown


@pytest.mark.parametrize(
    ("entered", "shown"),
    [
        ("24.8e6", "24.8 × 10⁶"),
        ("24.8E6", "24.8 × 10⁶"),
        ("25400000", "25.4 × 10⁶"),
        ("150000", "150 × 10³"),
        ("1.2e-3", "1.2 × 10⁻³"),
        ("-3e6", "-3 × 10⁶"),
        ("2.5e1", "25"),
        ("98.1", "98.1"),  # everyday numbers stay as entered
        ("0.5", "0.5"),
        ("99999", "99999"),
        ("0", "0"),
        ("not detected", "not detected"),
    ],
)
def test_a_reported_value_is_shown_as_people_read_it(entered: str, shown: str) -> None:
    assert quantity_shown(entered) == shown
