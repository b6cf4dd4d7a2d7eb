"""The one exception tree of the labels package.

`LabelError` is the base; `IdentifierError` says an identifier (GTIN, lot, serial,
expiry, DIN) breaks its standard's rules, naming the field so the caller can point at
it. This package never imports `traceability`; the service maps these to its own errors.
"""

from __future__ import annotations


class LabelError(Exception):
    """Base of every error the labels package raises on purpose."""


class IdentifierError(LabelError, ValueError):
    """An identifier breaks its standard's rules; `field` names which one."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ContentError(LabelError, ValueError):
    """A label's content is missing or cannot be printed; `field` names which part.

    Raised for empty text, control characters, characters the label fonts lack, or a
    count that makes no sense: the caller fixes the data, not the layout.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class FitError(LabelError, ValueError):
    """Something that must be shown whole does not fit its label; `field` names it.

    Lot, serial, expiry, DIN, storage and warnings are never cut short, and a QR code
    never shrinks below a printable module: the caller chooses a bigger label or
    shorter data.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
