"""Unusable settings on the command line: one line and exit code 2, from every command.

`traceability labels pdf` without TRACE_ENVIRONMENT printed a 40-line traceback: the
command read its settings outside the handler the others use. Each command is run here
with every required option and argument filled, so that it gets as far as reading
settings, and with settings that cannot be used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from traceability.cli.main import app

runner = CliRunner()
BAD_SETTINGS = {"TRACE_ENVIRONMENT": "production", "TRACE_SECRET_KEY": ""}
NOT_RUN = {("witness", "serve"), ("serve",)}
"""Servers: with usable settings they would start and never return (serve is run once
below, in its own process)."""


def leaf_commands() -> list[tuple[list[str], Any]]:
    """Typer carries its own copy of click: its classes are told apart by what they have."""
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, prefix: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])
        elif tuple(prefix) not in NOT_RUN:
            found.append((prefix, command))

    walk(typer.main.get_command(app), [])
    return found


def filled(command: Any, tmp: Path) -> list[str]:
    """Every required parameter with a value: its minimum if it is a number with one, else
    a path in the test's directory (which any text option takes too). A value a command
    refuses is a usage error, still one line; most get as far as the settings."""
    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        minimum = getattr(param, "min", None)
        value = str(minimum) if minimum is not None else str(tmp / str(param.name))
        if param.param_type_name == "option":
            args += [param.opts[0], value]
        else:
            args.append(value)
    return args


@pytest.mark.parametrize(
    ("path", "command"), leaf_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_no_command_shows_a_traceback_for_unusable_settings(
    path: list[str], command: Any, tmp_path: Path
) -> None:
    result = runner.invoke(app, [*path, *filled(command, tmp_path)], env=BAD_SETTINGS)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        path,
        result.output,
    )
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output


def test_labels_pdf_without_an_environment_is_one_line(tmp_path: Path) -> None:
    """As reported: a real process, with no TRACE_ENVIRONMENT at all."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "traceability.cli.main", "labels", "pdf"]
        + ["--lot", "UC26-001", "-o", str(tmp_path / "labels.pdf")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: TRACE_SECRET_KEY")
    serve = subprocess.run(
        [sys.executable, "-m", "traceability.cli.main", "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert serve.returncode == 2 and serve.stderr.count("\n") == 1, serve.stderr
