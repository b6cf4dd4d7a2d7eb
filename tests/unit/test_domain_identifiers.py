"""The domain's GS1 identifier rules and the label printer's give the same answers.

The records refuse what could not be labelled; the printer, standing alone, refuses it
again. They are separate code (the domain must not depend on the printer), so these
tests hold them to one answer on valid and invalid identifiers alike.
"""

from __future__ import annotations

import random
import string

import pytest

from labels import gs1 as printer
from labels.errors import IdentifierError
from traceability.domain import identifiers as domain
from traceability.errors import InvalidInputError

# Known-good GTINs from GS1's own examples and products in the demo.
VALID_GTINS = ["09521234543213", "9521234543213", "036000291452", "96385074", "00012345600012"]


def _printer_gtin(value: str) -> str | None:
    try:
        return printer.gtin14(value)
    except IdentifierError:
        return None


def _domain_gtin(value: str) -> str | None:
    try:
        return domain.gtin14(value, field="statement.what.gtin")
    except InvalidInputError:
        return None


@pytest.mark.parametrize("gtin", VALID_GTINS)
def test_valid_gtins_pass_both_and_pad_alike(gtin: str) -> None:
    assert _domain_gtin(gtin) == _printer_gtin(gtin) == gtin.zfill(14)


def test_every_wrong_check_digit_is_refused_by_both() -> None:
    for gtin in VALID_GTINS:
        for digit in "0123456789":
            if digit == gtin[-1]:
                continue
            wrong = gtin[:-1] + digit
            assert _domain_gtin(wrong) is None and _printer_gtin(wrong) is None, wrong


def test_random_digit_strings_get_the_same_answer() -> None:
    rng = random.Random(18)
    for _ in range(2000):
        value = "".join(rng.choice(string.digits) for _ in range(rng.choice([7, 8, 12, 13, 14])))
        assert _domain_gtin(value) == _printer_gtin(value), value


def test_check_digit_matches_the_printer() -> None:
    rng = random.Random(7)
    for _ in range(500):
        body = "".join(rng.choice(string.digits) for _ in range(13))
        assert domain.gs1_check_digit(body) == printer.check_digit(body)


@pytest.mark.parametrize(
    "value",
    ["UC26-101", "A", "x" * 20, "x" * 21, "", "lot 1", "lot#1", "ÄBC", "a/b:c;d<e>f?_", "é"],
)
def test_lots_and_serials_get_the_same_answer(value: str) -> None:
    try:
        printer.ai82(value, field="lot", max_length=20)
        printer_ok = True
    except IdentifierError:
        printer_ok = False
    try:
        domain.ai82(value, name="lot", field="statement.what.lot", max_length=20)
        domain_ok = True
    except InvalidInputError as e:
        assert e.field == "statement.what.lot"
        domain_ok = False
    assert domain_ok == printer_ok
