"""Database-level refusal of UPDATE and DELETE on append-only tables.

The application never updates or deletes GxP evidence, but "the application doesn't"
is not a control an inspector accepts. These triggers make the database itself refuse,
on SQLite and PostgreSQL alike, so that only someone who drops the triggers (a visible,
deliberate act) can change history, and the log's hashes catch them anyway.

Migrations call these functions; changing the SQL here changes only future migrations'
behaviour if they call it again, so keep it stable.
"""

from __future__ import annotations

from collections.abc import Callable

PG_FUNCTION = "trace_refuse_change"


def create_statements(dialect: str, table: str) -> list[str]:
    """DDL that makes `table` append-only on `dialect` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
        ]
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
        ]
    raise ValueError(f"no append-only triggers for dialect {dialect!r}")


def drop_statements(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_update",
            f"DROP TRIGGER IF EXISTS {table}_no_delete",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
    ]


def function_statements(dialect: str) -> list[str]:
    """PostgreSQL needs one shared trigger function; SQLite needs nothing."""
    if dialect != "postgresql":
        return []
    return [
        f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END $$"
    ]


def install(execute: Callable[[str], object], dialect: str, tables: tuple[str, ...]) -> None:
    for statement in function_statements(dialect):
        execute(statement)
    for table in tables:
        for statement in create_statements(dialect, table):
            execute(statement)
