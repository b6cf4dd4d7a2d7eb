"""The `traceability` console script.

`traceability audit verify-log` goes to a command line holding only that command
(`verify_log.app`), which starts in a fraction of the time the whole one takes to
import; everything else, `traceability audit --help` included, goes to `main.app`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["audit", "verify-log"]:
        from traceability.cli.verify_log import app
    else:
        from traceability.cli.main import app
    app()
