"""The command line for keys, checkpoints and verify-log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click.testing
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from audit.checkpoint import verify_checkpoint
from audit.note import parse_verifier_key
from tests.support import add_user
from traceability.cli.main import app
from traceability.keys import load_service_keys
from traceability.storage import append_only
from traceability.storage.database import Database
from traceability.storage.models import LOG_TABLES

runner = CliRunner()
ORIGIN = "cli.example/log"


@pytest.fixture
def run(database: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = database.engine.url.render_as_string(hide_password=False)
    env = {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(tmp_path / "keys"),
        "TRACE_ORIGIN": ORIGIN,
        "TRACE_DATABASE_URL": url,
    }

    def invoke(*args: str) -> click.testing.Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_keys_new_writes_a_private_file_and_prints_the_verifier_key(
    run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "lena.key"
    result = run("keys", "new", "lena", "--output", str(path))
    assert result.exit_code == 0, result.output
    verifier = parse_verifier_key(result.stdout.strip().splitlines()[0])
    assert verifier.name == "lena"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().startswith("PRIVATE+KEY+lena+")
    again = run("keys", "new", "lena", "--output", str(path))
    assert again.exit_code == 2
    assert "exists" in again.output


def test_register_list_revoke_checkpoint_and_verify(
    run,
    database: Database,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    add_user(database, "lena", "lab")
    path = tmp_path / "lena.key"
    run("keys", "new", "lena", "--output", str(path))
    registered = run("keys", "register", "lena", "--key-file", str(path), "--label", "laptop")
    assert registered.exit_code == 0, registered.output
    key_id = registered.output.split()[1]
    assert key_id in run("keys", "list").output
    revoked = run("keys", "revoke", key_id, "--reason", "laptop replaced")
    assert revoked.exit_code == 0, revoked.output
    assert "revoked at" in run("keys", "list").output

    note = run("log", "checkpoint")
    assert note.exit_code == 0, note.output
    log_key = load_service_keys(tmp_path / "keys", ORIGIN).log.verifier()
    assert verify_checkpoint(note.stdout.encode(), log_key).size == 3

    verified = run("audit", "verify-log")
    assert verified.exit_code == 0, verified.output
    assert "3 entries, 1 checkpoints: intact" in verified.output
    with_key = run("audit", "verify-log", "--log-key", log_key.text())
    assert with_key.exit_code == 0

    with database.write() as session:
        for table in LOG_TABLES:
            for drop in append_only.drop_statements(database.dialect, table):
                session.exec(text(drop))
        session.exec(text("DELETE FROM log_entries WHERE idx = 1"))
    broken = run("audit", "verify-log")
    assert broken.exit_code == 1
    assert "index 1: missing:" in broken.output


def test_verify_log_with_someone_elses_log_key_finds_the_checkpoints_unverified(
    run,
    database: Database,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    add_user(database, "lena", "lab")
    run("keys", "new", "lena", "--output", str(tmp_path / "k"))
    run("keys", "register", "lena", "--key-file", str(tmp_path / "k"))
    run("log", "checkpoint")
    other = run("keys", "new", ORIGIN, "--output", str(tmp_path / "other")).stdout.split()[0]
    result = run("audit", "verify-log", "--log-key", other)
    assert result.exit_code == 1
    assert "checkpoint-mismatch" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "verify-log", "--log-key", "not a key"],
        ["keys", "register", "lena", "--key-file", "/nonexistent/key"],
        ["keys", "revoke", "0" * 32, "--reason", "x"],
        ["keys", "new", "bad name"],
    ],
)
def test_bad_input_exits_2_with_one_line(run, database: Database, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    add_user(database, "lena", "lab")
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")


def test_verify_log_without_the_log_key_says_so_and_creates_nothing(
    database: Database, tmp_path: Path
) -> None:
    empty = tmp_path / "no-keys-here"
    empty.mkdir()
    url = database.engine.url.render_as_string(hide_password=False)
    result = runner.invoke(
        app,
        ["audit", "verify-log", "--database-url", url],
        env={"TRACE_ENVIRONMENT": "development", "TRACE_KEY_DIR": str(empty)},
    )
    assert result.exit_code == 2
    assert "no log key" in result.output and "--log-key" in result.output
    assert list(empty.iterdir()) == []


def test_keys_new_into_an_unwritable_place_is_one_line(run) -> None:  # type: ignore[no-untyped-def]
    result = run("keys", "new", "sam", "--output", "/nonexistent/dir/sam.key")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write" in lines[0]
