"""GS1 Digital Link identifiers and the ISBT 128 DIN check character."""

from __future__ import annotations

from datetime import date

import pytest

from labels.digital_link import VialId, batch_uri, parse_vial_path
from labels.errors import IdentifierError
from labels.gs1 import ai82, check_digit, gtin14
from labels.isbt128 import eye_readable, mod37_2

RESOLVER = "https://id.clinic.example"


def test_the_gs1_example_gtin_is_valid() -> None:
    assert gtin14("09521234543213") == "09521234543213"
    assert check_digit("0952123454321") == 3


@pytest.mark.parametrize("bad", ["09521234543214", "0952123454321", "0952123454321X", "", "٠٩٥"])
def test_bad_gtins_are_refused(bad: str) -> None:
    with pytest.raises(IdentifierError) as e:
        gtin14(bad)
    assert e.value.field == "gtin"


def test_a_gtin_13_is_padded_to_14_digits() -> None:
    assert gtin14("9521234543213") == "09521234543213"


def test_lot_and_serial_use_the_ai82_set_up_to_20_characters() -> None:
    assert ai82("LOT-2026/07", field="lot", max_length=20) == "LOT-2026/07"
    for bad in ("", "x" * 21, "LOT 1", "LÖT", "a~b", "a#b"):
        with pytest.raises(IdentifierError) as e:
            ai82(bad, field="lot", max_length=20)
        assert e.value.field == "lot"


def test_the_vial_uri_has_01_10_21_in_order_and_expiry_only_in_the_query() -> None:
    vial = VialId("09521234543213", "UC24-007", "0042")
    assert vial.uri(RESOLVER) == f"{RESOLVER}/01/09521234543213/10/UC24-007/21/0042"
    label = vial.label_uri(RESOLVER + "/", expiry=date(2027, 3, 31), tag="AbCdEfGhIjK_-")
    assert label == (f"{RESOLVER}/01/09521234543213/10/UC24-007/21/0042?17=270331&s=AbCdEfGhIjK_-")


def test_reserved_characters_are_percent_encoded_and_parse_back() -> None:
    vial = VialId("09521234543213", "A/B%C", "7&8?")
    path = vial.path()
    assert path == "/01/09521234543213/10/A%2FB%25C/21/7%268%3F"
    assert parse_vial_path(path) == vial
    assert parse_vial_path(path + "?17=270331") == vial


def test_a_short_tag_is_refused() -> None:
    with pytest.raises(IdentifierError) as e:
        VialId("09521234543213", "L", "1").label_uri(RESOLVER, tag="short")
    assert e.value.field == "tag"


@pytest.mark.parametrize(
    "path",
    [
        "/01/09521234543213/10/L",
        "/01/123/10/L/21/1",
        "/01/09521234543214/10/L/21/1",
        "/02/09521234543213/10/L/21/1",
    ],
)
def test_paths_that_are_not_vials_are_refused(path: str) -> None:
    with pytest.raises(IdentifierError):
        parse_vial_path(path)


def test_batch_uri() -> None:
    assert (
        batch_uri(RESOLVER, "09521234543213", "UC24-007")
        == f"{RESOLVER}/01/09521234543213/10/UC24-007"
    )


def test_isbt128_din_check_character_known_answer() -> None:
    assert mod37_2("G123498654321") == (17, "H")
    assert eye_readable("G123 498 654 321").endswith("[H]")


def test_a_malformed_din_is_refused() -> None:
    with pytest.raises(IdentifierError):
        eye_readable("G123-498")
