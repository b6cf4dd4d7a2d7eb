"""What a vial label and a shipper label say, checked before anything is drawn.

These are plain values built by the caller (the service knows the batch, the product
and the releasing establishment). Checking here, once, means the PDF and the ZPL
writers can never disagree about what is printable: every text uses only characters
of the WinAnsi (cp1252) set that the standard PDF fonts and the Zebra printers' Latin
code page both have, and identifiers follow their standards (GS1 AI 82 for lot and
serial, ISO/IEC 7064 MOD 37-2 for the DIN's check character).

21 CFR 1271.370(b) puts the identification code, the HCT/P type, the expiry and the
required warnings on the label itself "if physically possible"; a 12.7 mm cryovial
wrap has room for the identity, expiry and storage, so the description, the warnings,
the establishments and the instructions travel on the shipper's label, which
accompanies the vials (1271.370(c)), beside its SSCC (GS1 AI 00).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from labels.errors import ContentError, IdentifierError
from labels.gs1 import MAX_LOT, MAX_SERIAL, ai82, sscc18
from labels.isbt128 import eye_readable, parse_eye_readable

_MAX_URI = 512  # a QR code on a label holds far less; refuse absurd input early


def check_text(value: str, field: str, *, multiline: bool = False) -> None:
    """Refuse empty text, control characters and characters the label fonts lack."""
    if not value.strip():
        raise ContentError(f"{field} may not be empty", field=field)
    for char in value:
        if char == "\n" and multiline:
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise ContentError(f"{field} contains a control character {char!r}", field=field)
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            raise ContentError(
                f"{field} contains {char!r}, which the label fonts cannot print", field=field
            ) from None


def check_uri(value: str) -> None:
    """A QR payload is a percent-encoded URI: printable ASCII, no spaces."""
    if not value or len(value) > _MAX_URI:
        raise IdentifierError(f"a label URI has 1 to {_MAX_URI} characters", field="uri")
    if not all("!" <= char <= "~" for char in value):
        raise IdentifierError(
            "a label URI is percent-encoded printable ASCII without spaces", field="uri"
        )


def expiry_text(expiry: date) -> str:
    """ISO 8601, the one date form no reader misreads as day/month or month/day."""
    return f"EXP {expiry:%Y-%m-%d}"


@dataclass(frozen=True)
class VialLabel:
    """One cryovial's label: its QR payload and the eye-readable identity beside it."""

    uri: str
    product: str
    lot: str
    serial: str
    expiry: date
    storage: str
    din: str | None = None

    def __post_init__(self) -> None:
        check_uri(self.uri)
        check_text(self.product, "product")
        ai82(self.lot, field="lot", max_length=MAX_LOT)
        ai82(self.serial, field="serial", max_length=MAX_SERIAL)
        _check_date(self.expiry)
        check_text(self.storage, "storage")
        if self.din is not None:
            parse_eye_readable(self.din)

    def din_text(self) -> str | None:
        """The DIN as printed, in one canonical spelling whatever the caller typed."""
        return None if self.din is None else eye_readable(parse_eye_readable(self.din))


@dataclass(frozen=True)
class ShipperLot:
    """One lot packed in a shipper: its lot, expiry and how many of its vials."""

    lot: str
    expiry: date
    vials: int

    def __post_init__(self) -> None:
        ai82(self.lot, field="lot", max_length=MAX_LOT)
        _check_date(self.expiry)
        if isinstance(self.vials, bool) or not isinstance(self.vials, int) or self.vials < 1:
            raise ContentError("a lot in a shipper has at least one vial", field="vials")


@dataclass(frozen=True)
class ShipperLabel:
    """A shipper's logistic label: its SSCC (GS1 AI 00) as a QR code of its Digital Link
    URI and as digits, where it goes and whence, what it holds, the temperature it must
    keep, and the 21 CFR 1271.370 items its vials have no room for."""

    uri: str
    sscc: str
    product: str
    description: str
    contents: tuple[ShipperLot, ...]
    storage: str
    """The temperature range the shipper keeps, in words ("-150 °C or colder")."""
    ship_from: str
    ship_to: str
    warnings: tuple[str, ...] = ()
    instructions: str = ""

    def __post_init__(self) -> None:
        sscc18(self.sscc)
        check_uri(self.uri)
        if not self.uri.endswith(f"/00/{self.sscc}"):
            raise ContentError("the label's URI is not its SSCC's", field="uri")
        check_text(self.product, "product")
        check_text(self.description, "description", multiline=True)
        if not isinstance(self.contents, tuple) or not self.contents:
            raise ContentError("a shipper label lists at least one lot", field="contents")
        if not all(isinstance(lot, ShipperLot) for lot in self.contents):
            raise ContentError("contents are ShipperLot values", field="contents")
        check_text(self.storage, "storage")
        check_text(self.ship_from, "ship_from", multiline=True)
        check_text(self.ship_to, "ship_to", multiline=True)
        if not isinstance(self.warnings, tuple):
            raise ContentError("warnings are a tuple of strings", field="warnings")
        for warning in self.warnings:
            check_text(warning, "warnings")
        if self.instructions:
            check_text(self.instructions, "instructions", multiline=True)

    @property
    def vials(self) -> int:
        return sum(lot.vials for lot in self.contents)


def _check_date(value: object) -> None:
    if not isinstance(value, date):
        raise ContentError("expiry is a date", field="expiry")
