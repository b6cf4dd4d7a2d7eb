"""What changed in a record, in the form the audit trail keeps (old and new values).

Secret fields (password hashes) are recorded as changed, never with their values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

SECRET_MARK = "(changed)"  # noqa: S105 - a placeholder, not a secret


def diff(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    secret: Collection[str] = (),
) -> list[dict[str, Any]]:
    """One `{"field", "old", "new"}` per field whose value differs; creation has old None."""
    before = old or {}
    rows: list[dict[str, Any]] = []
    for field in sorted(set(before) | set(new)):
        was, now = before.get(field), new.get(field)
        if old is not None and was == now:
            continue
        if field in secret:
            was = SECRET_MARK if old is not None else None
            now = SECRET_MARK
        rows.append({"field": field, "old": was, "new": now})
    return rows
