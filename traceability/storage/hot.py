"""Statements of the busiest paths, run on SQLite's own cursor.

A custody step runs about a dozen small statements inside the serialised part of a
write, and authentication one more on every request. Through SQLAlchemy each costs
some 40 µs of Python (an execution context, parameter processing, a result object)
around a few microseconds of SQLite; while one worker process holds the write lock,
that Python time is what the other writers wait for. A `Hot` statement keeps
SQLAlchemy's column types, and so its storage formats, but on SQLite runs its SQL
straight on the driver's cursor, in the caller's transaction, with the types'
processors applied in one pass. Its results are plain tuples of Python values.

On PostgreSQL the same SQL runs through SQLAlchemy (`text()` with the same types):
there a network round trip dwarfs the Python, and the driver's own adaptation stays in
one place. The SQL must therefore be valid on both engines; parameters are `:name`.

What a `Hot` statement writes must read back through the ORM exactly as if the ORM
had written it, and the reverse; `tests/integration/test_hot.py` checks both engines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, TextClause, bindparam, column, text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from traceability.bench_switches import off

_HOT = not off("hot")

Processor = Callable[[Any], Any]


class Hot:
    """One SQL statement with typed parameters and typed result columns."""

    def __init__(
        self,
        sql: str,
        *,
        params: Mapping[str, TypeEngine[Any]] | None = None,
        columns: Sequence[Column[Any]] = (),
        remember: int = 0,
    ) -> None:
        """`remember`: keep up to this many rows converted, by their raw values, for a
        query that reads the same few rows over and over (who is calling)."""
        self.sql = sql
        self._remember = remember
        self._converted: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._params = dict(params or {})
        self._columns = tuple(columns)
        self._clause: TextClause | None = None
        self._sqlite: tuple[list[tuple[str, Processor]], list[Processor | None]] | None = None

    @classmethod
    def insert(
        cls, table: Table, names: Iterable[str] | None = None, *, returning: str = ""
    ) -> Hot:
        """INSERT of the named columns (all by default), typed by the table itself."""
        cols = [table.c[n] for n in names] if names is not None else list(table.columns)
        # Names from the table's own definition, never from input.
        into = f"{table.name} ({', '.join(c.name for c in cols)})"
        sql = f"INSERT INTO {into} VALUES ({', '.join(':' + c.name for c in cols)})"  # noqa: S608
        if returning:
            sql += f" RETURNING {returning}"
        back = [table.c[returning]] if returning else []
        return cls(sql, params={c.name: c.type for c in cols}, columns=back)

    @classmethod
    def select(
        cls,
        columns: Sequence[Column[Any]],
        rest: str,
        *,
        params: Mapping[str, TypeEngine[Any]] | None = None,
        remember: int = 0,
    ) -> Hot:
        """SELECT of these columns (typed by their tables), then `rest` (FROM ...)."""
        sql = f"SELECT {column_list(columns)} {rest}"
        return cls(sql, params=params, columns=columns, remember=remember)

    # --- running ------------------------------------------------------------------

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (or None), its values converted by the column types."""
        if _HOT and connection.dialect.name == "sqlite":
            return self.first_on_sqlite(_driver(connection), connection.dialect, values)
        found = connection.execute(self._text(), values).first()
        return None if found is None else tuple(found)

    def first_on_sqlite(
        self, driver: sqlite3.Connection, dialect: Dialect, values: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """`first` on a `sqlite3` connection of the engine whose `dialect` is given."""
        binds, reads = self._for_sqlite(dialect)
        cursor = driver.execute(self.sql, _bound(values, binds))
        row = cursor.fetchone()
        cursor.close()
        if row is None:
            return None
        if not self._remember:
            return _read(row, reads)
        converted = self._converted.get(row)
        if converted is None:
            converted = _read(row, reads)
            if len(self._converted) >= self._remember:
                self._converted.clear()  # a miss only costs a conversion
            self._converted[row] = converted
        return converted

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        if _HOT and connection.dialect.name == "sqlite":
            binds, reads = self._for_sqlite(connection.dialect)
            cursor = _driver(connection).execute(self.sql, _bound(values, binds))
            return [_read(row, reads) for row in cursor.fetchall()]
        return [tuple(r) for r in connection.execute(self._text(), values).all()]

    def run(self, connection: Connection, values: Mapping[str, Any]) -> None:
        """Run a statement that returns nothing (an INSERT)."""
        if _HOT and connection.dialect.name == "sqlite":
            binds, _ = self._for_sqlite(connection.dialect)
            _driver(connection).execute(self.sql, _bound(values, binds)).close()
            return
        connection.execute(self._text(), values)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row (executemany)."""
        if not rows:
            return
        if _HOT and connection.dialect.name == "sqlite":
            binds, _ = self._for_sqlite(connection.dialect)
            _driver(connection).executemany(self.sql, [_bound(r, binds) for r in rows]).close()
            return
        connection.execute(self._text(), list(rows))

    # --- preparation, once per statement ---------------------------------------------

    def _for_sqlite(
        self, dialect: Dialect
    ) -> tuple[list[tuple[str, Processor]], list[Processor | None]]:
        prepared = self._sqlite
        if prepared is None:
            binds: list[tuple[str, Processor]] = [
                (name, processor)
                for name, type_ in self._params.items()
                if (processor := type_._cached_bind_processor(dialect)) is not None  # noqa: SLF001
            ]
            reads = [_result_processor(c.type, dialect) for c in self._columns]
            if not any(reads):
                reads = []  # rows are taken as they come
            prepared = (binds, reads)
            self._sqlite = prepared
        return prepared

    def _text(self) -> TextClause:
        clause = self._clause
        if clause is None:
            clause = text(self.sql).bindparams(
                *(bindparam(name, type_=type_) for name, type_ in self._params.items())
            )
            if self._columns:
                clause = clause.columns(*(column(c.name, c.type) for c in self._columns))  # type: ignore[assignment]
            self._clause = clause
        return clause


def _driver(connection: Connection) -> sqlite3.Connection:
    """The `sqlite3` connection under a SQLAlchemy connection to SQLite."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)  # noqa: S101 - only called on SQLite
    return driver


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """The function SQLAlchemy applies to a result value of this type (None: as is)."""
    return type_._cached_result_processor(dialect, None)  # noqa: SLF001 - what execution uses


def _bound(values: Mapping[str, Any], binds: list[tuple[str, Processor]]) -> dict[str, Any]:
    """The parameters as SQLAlchemy would pass them: every value through its type's
    processor, None included (a JSON column stores None as JSON null, as the ORM does)."""
    bound = dict(values)
    for name, processor in binds:
        bound[name] = processor(bound[name])
    return bound


def _read(row: Sequence[Any], reads: list[Processor | None]) -> tuple[Any, ...]:
    if not reads:
        return tuple(row)
    return tuple(
        value if processor is None else processor(value)
        for value, processor in zip(row, reads, strict=True)
    )


def column_list(columns: Iterable[Column[Any]]) -> str:
    """`table.column, ...` for a SELECT of these columns, in this order."""
    return ", ".join(f"{c.table.name}.{c.name}" for c in columns)
