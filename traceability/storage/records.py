"""Read-only records made from plain rows, each distinct row made into a record once.

The busiest paths (authentication, custody steps) read rows with SQLAlchemy Core,
which is several times cheaper than loading ORM objects, but the services take
SQLModel records, and building one costs more than the query that read its row. A
record is a pure function of its model and its row, so it is kept and handed out again
for the same row in every column: nothing can go stale, since a changed row is a new
key. The records are shared between requests and threads, so they are detached and
must only ever be read; use this for append-only tables and for reads that are never
written back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlmodel import SQLModel

from traceability.bench_switches import off

_KEEP = not off("records")

M = TypeVar("M", bound=SQLModel)

_MADE: dict[tuple[type[SQLModel], tuple[str, ...], tuple[Any, ...]], SQLModel] = {}
_MAX = 8192


def record_of(model: type[M], values: Mapping[str, Any]) -> M:
    """The record of `model` with these column values (every column, by name)."""
    return record_of_row(model, tuple(values), tuple(values.values()))


def record_of_row(model: type[M], names: tuple[str, ...], row: tuple[Any, ...]) -> M:
    """`record_of` for a row of values in the order of `names` (every column of the
    model): found again by the row itself, without building a mapping first."""
    if not _KEEP:
        return model(**dict(zip(names, row, strict=True)))
    key = (model, names, row)
    try:
        made = _MADE.get(key)
    except TypeError:  # a JSON column's value: not hashable, so not kept
        return model(**dict(zip(names, row, strict=True)))
    if made is None:
        made = model(**dict(zip(names, row, strict=True)))
        if len(_MADE) >= _MAX:
            _MADE.clear()  # simpler than LRU, and a miss only costs a build
        _MADE[key] = made
    assert isinstance(made, model)  # noqa: S101 - keyed by model
    return made
