"""Input field types shared by request models, forms and query parameters.

`Text` refuses control characters and text-direction controls (`domain.text`): a NUL
cannot be stored by PostgreSQL at all (it would be a 500), and the others have no
business in names, reasons or subjects printed on records and signatures.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, ConfigDict

from traceability.domain.text import refused_character


def refuse_control_characters(value: str) -> str:
    reason = refused_character(value)
    if reason is not None:
        raise ValueError(reason)
    return value


Text = Annotated[str, AfterValidator(refuse_control_characters)]

STRICT_BODY = ConfigDict(extra="forbid")
"""Request bodies refuse unknown members, so a misspelt or smuggled field is an error."""

BIGINT_MAX = 2**63 - 1
"""The largest integer either database stores (BIGINT; SQLite's INTEGER): a larger id
or cursor sent to a query would fail in the driver (OverflowError), not match nothing."""

RowCursor = Annotated[
    int | None, Query(ge=1, le=BIGINT_MAX, description="Only rows with a smaller id")
]
"""A keyset cursor over row ids: pages of newest-first lists."""
