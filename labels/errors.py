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
