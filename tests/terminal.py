"""Running a command with its stderr on a pseudo-terminal, as a person at a terminal
would see it: the tests of progress lines, which a command shows only there."""

from __future__ import annotations

import os
import pty
import subprocess
from typing import Any


def on_a_terminal(command: list[str], **run: Any) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `command` (stdout piped, stderr a terminal); its result and what the terminal
    showed."""
    master, terminal = pty.openpty()
    try:
        done = subprocess.run(  # noqa: S603 - the tests' own commands
            command, stdout=subprocess.PIPE, stderr=terminal, text=True, check=False, **run
        )
    finally:
        os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end is closed: all of it was read
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return done, shown.decode()
