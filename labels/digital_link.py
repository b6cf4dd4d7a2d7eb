"""GS1 Digital Link URIs for vials: https://{resolver}/01/{GTIN-14}/10/{lot}/21/{serial}.

The path carries the identity (primary key GTIN, then lot, then serial, in that order);
attributes such as expiry (AI 17, YYMMDD) go in the query string, never the path, so
the same vial has one path whatever is printed beside it. The label's tag `s` binds a
printed label to its issue entry in the custody log.

Values are percent-encoded: every character outside A-Z a-z 0-9 - . _ (the URI
unreserved set, less "~" which AI 82 lacks) is written as %XX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote, unquote, urlsplit

from labels.errors import IdentifierError
from labels.gs1 import MAX_LOT, MAX_SERIAL, ai82, gtin14, sscc18

_SAFE = "-._"
_TAG = re.compile(r"^[A-Za-z0-9_-]{11,64}$")  # base64url of at least 64 bits


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE)


@dataclass(frozen=True)
class VialId:
    """The identity of one vial: GTIN-14, lot and serial (validated)."""

    gtin: str
    lot: str
    serial: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", gtin14(self.gtin))
        ai82(self.lot, field="lot", max_length=MAX_LOT)
        ai82(self.serial, field="serial", max_length=MAX_SERIAL)

    def path(self) -> str:
        return f"/01/{self.gtin}/10/{_encode(self.lot)}/21/{_encode(self.serial)}"

    def uri(self, resolver: str) -> str:
        """The vial's identity URI (no query string): the custody log's subject."""
        return resolver.rstrip("/") + self.path()

    def label_uri(
        self, resolver: str, *, expiry: date | None = None, tag: str | None = None
    ) -> str:
        """What the QR code carries: the identity URI plus expiry and the label's tag."""
        return with_label_query(self.uri(resolver), expiry=expiry, tag=tag)


def with_label_query(identity: str, *, expiry: date | None = None, tag: str | None = None) -> str:
    """An identity URI as a label carries it: `?17=YYMMDD&s={tag}` appended.

    For reprints, start from the identity the vial was commissioned with, not from the
    resolver configured today: a label must always name the same vial.
    """
    query = []
    if expiry is not None:
        query.append(f"17={expiry:%y%m%d}")
    if tag is not None:
        if not _TAG.fullmatch(tag):
            raise IdentifierError("a label tag is 11-64 base64url characters", field="tag")
        query.append(f"s={tag}")
    return identity + ("?" + "&".join(query) if query else "")


def product_uri(resolver: str, gtin: str) -> str:
    """A product's identity: https://{resolver}/01/{GTIN-14}."""
    return f"{resolver.rstrip('/')}/01/{gtin14(gtin)}"


def batch_uri(resolver: str, gtin: str, lot: str) -> str:
    """A batch's identity: https://{resolver}/01/{GTIN-14}/10/{lot}."""
    lot = ai82(lot, field="lot", max_length=MAX_LOT)
    return f"{resolver.rstrip('/')}/01/{gtin14(gtin)}/10/{_encode(lot)}"


def sscc_uri(resolver: str, sscc: str) -> str:
    """A logistic unit's identity (a shipper): https://{resolver}/00/{SSCC-18}."""
    return f"{resolver.rstrip('/')}/00/{sscc18(sscc)}"


_PATH = re.compile(r"^/01/(?P<gtin>[0-9]{14})/10/(?P<lot>[^/]+)/21/(?P<serial>[^/]+)/?$")


def parse_vial_path(path: str) -> VialId:
    """The vial a resolver path names; IdentifierError if it is not one."""
    match = _PATH.fullmatch(urlsplit(path).path)
    if match is None:
        raise IdentifierError(
            "not a vial Digital Link path /01/{gtin}/10/{lot}/21/{serial}", field="path"
        )
    return VialId(match["gtin"], unquote(match["lot"]), unquote(match["serial"]))
