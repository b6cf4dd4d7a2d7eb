"""verify-log through the console script, which runs it without the rest of the command line.

The lean path (`traceability.cli.entry_point` -> `traceability.cli.verify_log`) must
answer exactly as the full command line and as `verify_log` itself: the same output,
the same exit codes (0 intact, 1 findings, 2 unusable input as one line), the same
help; and it must not import SQLAlchemy, SQLModel, FastAPI, Alembic or the services
for a SQLite file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.log_support import ORIGIN, VIAL, LogWorld, make_log
from tests.terminal import on_a_terminal
from traceability.cli.main import app
from traceability.custody_log.verify_log import verify_log
from traceability.storage import append_only
from traceability.storage.database import Database
from traceability.storage.models import LOG_TABLES

HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "alembic", "traceability.services")

# What the installed console script runs, with the name it is called by.
LAUNCH = "import sys\nfrom traceability.cli.entry_point import main\nsys.argv[0] = 'traceability'\n"


@pytest.fixture
def world(database: Database, tmp_path: Path) -> LogWorld:
    world = LogWorld(
        db=database,
        log=make_log(database, tmp_path / "keys", checkpoint_every=4),
        key_dir=tmp_path / "keys",
    )
    world.person("lena")
    for n in range(4):
        world.service_event(VIAL.format(n))
        world.append("lena", VIAL.format(n), type="qc.result.entered")
    with world.db.write() as session:
        world.log.issue_checkpoint(session, now=world.tick())
    return world  # 2 + 8 = 10 entries


def environment(world: LogWorld) -> dict[str, str]:
    return {
        **os.environ,
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(world.key_dir),
        "TRACE_ORIGIN": ORIGIN,
        "TRACE_DATABASE_URL": world.db.engine.url.render_as_string(hide_password=False),
    }


def script(world: LogWorld, *args: str, code: str = "main()") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", LAUNCH + code, *args],
        env=environment(world),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def full(world: LogWorld, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=environment(world), prog_name="traceability")
    return result.exit_code, result.output


def tamper(world: LogWorld, statement: str, **params: object) -> None:
    with world.db.write() as session:
        for table in LOG_TABLES:
            for drop in append_only.drop_statements(world.db.dialect, table):
                session.exec(text(drop))
        session.exec(text(statement), params=params)


def test_an_intact_log_exits_0_as_on_the_full_command_line(world: LogWorld) -> None:
    lean = script(world, "audit", "verify-log")
    assert (lean.returncode, lean.stderr) == (0, "")
    assert lean.stdout == "10 entries, 3 checkpoints: intact\n"
    assert full(world, "audit", "verify-log") == (0, lean.stdout)


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_findings_are_those_of_verify_log_and_the_full_command_line(
    world: LogWorld, workers: list[str]
) -> None:
    with world.db.read() as session:
        raw = bytearray(session.exec(text("SELECT entry FROM log_entries WHERE idx = 5")).one()[0])
    raw[raw.index(b"LOT1") + 3] = ord("7")
    tamper(world, "UPDATE log_entries SET entry = :e WHERE idx = 5", e=bytes(raw))
    tamper(world, "DELETE FROM log_entries WHERE idx = 8")
    report = verify_log(world.db, world.log.keys.log.verifier())
    expected = [f.line() for f in report.findings]
    assert expected and expected[0].startswith("index 5: modified")

    lean = script(world, "audit", "verify-log", *workers)
    assert lean.returncode == 1, lean.stderr
    lines = lean.stdout.splitlines()
    assert lines[:-1] == expected
    assert lines[-1] == f"9 entries, 3 checkpoints: {len(expected)} finding(s)"
    assert full(world, "audit", "verify-log", *workers) == (1, lean.stdout)


def test_help_is_that_of_the_full_command_line(world: LogWorld) -> None:
    lean = script(world, "audit", "verify-log", "--help")
    assert lean.returncode == 0
    assert lean.stdout.startswith("Usage: traceability audit verify-log [OPTIONS]")
    assert full(world, "audit", "verify-log", "--help") == (0, lean.stdout)
    listing = script(world, "audit", "--help")
    assert listing.returncode == 0 and "verify-log" in listing.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--database-url", "sqlite:////nonexistent/dir/trace.db"],
        ["--database-url", "mysql://someone@127.0.0.1/trace"],
        ["--database-url", "not a url"],
        ["--log-key", "not a key"],
        ["--workers", "0"],
        ["--no-such-option"],
    ],
)
def test_unusable_input_exits_2_with_the_full_command_lines_one_line(
    world: LogWorld, args: list[str]
) -> None:
    lean = script(world, "audit", "verify-log", *args)
    assert lean.returncode == 2
    assert lean.stdout == ""
    assert len(lean.stderr.splitlines()) == 1 and lean.stderr.startswith("error: ")
    assert full(world, "audit", "verify-log", *args) == (2, lean.stderr)


def test_a_database_without_the_schema_exits_2_with_one_line(
    world: LogWorld, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    url = f"sqlite:///{empty}"
    lean = script(world, "audit", "verify-log", "--database-url", url)
    assert (lean.returncode, lean.stdout) == (2, "")
    assert lean.stderr == "error: the database has no schema yet; run `traceability db upgrade`\n"
    assert full(world, "audit", "verify-log", "--database-url", url) == (2, lean.stderr)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sqlite_file_is_verified_without_the_heavy_imports(world: LogWorld) -> None:
    """Only a SQLite file: other databases are opened through SQLAlchemy, as everywhere."""
    report = (
        "try:\n    main()\nexcept SystemExit as e:\n"
        f"    print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})), e.code)"
    )
    lean = script(world, "audit", "verify-log", code=report)
    assert lean.stdout.splitlines()[-1] == "[] 0", lean.stdout + lean.stderr


def test_it_says_how_far_it_got_on_a_terminal_and_nothing_when_piped(world: LogWorld) -> None:
    """Progress goes to a terminal's stderr only; piped, stdout and stderr hold only the
    findings and the summary (the test above)."""
    seen: list[tuple[int, int]] = []
    report = verify_log(
        world.db, world.log.keys.log.verifier(), progress=lambda d, t: seen.append((d, t))
    )
    assert report.ok and seen[-1] == (10, 10)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    done, shown = on_a_terminal(
        [sys.executable, "-c", LAUNCH + "main()", "audit", "verify-log"],
        env=environment(world),
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout == "10 entries, 3 checkpoints: intact\n"
    assert "10 of 10 entries checked" in shown
