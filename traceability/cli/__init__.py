"""The `traceability` command line (Typer). Errors: one line on stderr, exit code 2."""
