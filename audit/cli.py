"""``trace-audit verify``: the auditor's command line, with the ``audit`` package alone.

An auditor who installs only this package (``pip install ./audit``: the standard library
and ``cryptography``, nothing of the service) verifies a bundle with it, as the service's
own ``traceability audit verify`` does: the same options, report and exit codes (0 when
everything verifies, 1 with one line per finding, 2 for input that cannot be used). It
is ``argparse`` rather than the service's command-line library so that it adds no
dependency; ``python -m audit`` runs it too.

It reads files and prints; every decision is ``audit.bundle.verify``'s.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from audit import bundle
from audit.cosignature import CosignerKey, parse_cosigner_key
from audit.errors import FormatError

__all__ = ["main"]

USAGE_ERROR = 2
"""Exit code for input that cannot be used (argparse exits with it too)."""


class _Unusable(Exception):
    """Input the command cannot use: printed as one line, exit 2."""


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise _Unusable(f"{option}: cannot read {path}: {e.strerror or e}") from None


def _key_text(value: str, option: str) -> str:
    """A key given as text, or the name of a file holding it."""
    path = Path(value)
    if path.is_file():
        return _read(path, option).decode("utf-8", "replace")
    return value


def _cosigner_keys(value: str, option: str) -> list[CosignerKey]:
    lines = [line.strip() for line in _key_text(value, option).splitlines() if line.strip()]
    if not lines:
        raise _Unusable(f"{option}: no key given")
    try:
        return [parse_cosigner_key(line) for line in lines]
    except FormatError as e:
        raise _Unusable(f"{option}: {e}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trace-audit",
        description="Verify custody-log evidence offline, trusting only the keys you give.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify",
        help="verify an audit bundle and print its report",
        description="Verify an audit bundle offline and print its report. Every signature "
        "on the bundle's checkpoint must be by a key you give. Exit 0 when everything "
        "verifies; 1 with each finding listed; 2 for unusable input.",
    )
    verify.add_argument("bundle", metavar="BUNDLE", type=Path, help="the bundle zip")
    verify.add_argument(
        "--log-key",
        required=True,
        help="the log's verifier key text (vkey form), or a file holding it",
    )
    verify.add_argument(
        "--since-checkpoint",
        type=Path,
        help="a signed checkpoint note you already hold: the bundle must prove the log "
        "consistent with it",
    )
    verify.add_argument(
        "--witness",
        action="append",
        default=[],
        help="a witness's cosigner key text, or a file of its keys (one per line); "
        "repeat for each witness",
    )
    verify.add_argument(
        "--quorum",
        type=int,
        default=0,
        help="how many distinct witnesses must have cosigned (0: none)",
    )
    verify.add_argument(
        "--log-cosigner",
        help="the log's own ML-DSA-44 cosigner key (GET /log/cosigner-key), or a file",
    )
    return parser


def _verify(args: argparse.Namespace) -> int:
    if args.quorum < 0:
        raise _Unusable("--quorum: must not be negative")
    since = None
    if args.since_checkpoint is not None:
        since = _read(args.since_checkpoint, "--since-checkpoint")
    witnesses = [key for text in args.witness for key in _cosigner_keys(text, "--witness")]
    cosigner = None
    if args.log_cosigner is not None:
        (cosigner, *more) = _cosigner_keys(args.log_cosigner, "--log-cosigner")
        if more:
            raise _Unusable("--log-cosigner: give one key")
    if not args.bundle.is_file():
        raise _Unusable(f"no bundle at {args.bundle}")
    try:
        report = bundle.verify(
            args.bundle,
            log_key=_key_text(args.log_key, "--log-key").strip(),
            since_checkpoint=since,
            witnesses=witnesses,
            quorum=args.quorum,
            log_cosigner=cosigner,
            progress=terminal_progress(),
        )
    except FormatError as e:
        raise _Unusable(str(e)) from None
    sys.stdout.write(report.text())
    status = "verified" if report.ok else f"{len(report.findings)} finding(s)"
    sys.stdout.write(f"{report.entries} entries: {status}\n")
    return 0 if report.ok else 1


def terminal_progress() -> Callable[[int, int], None] | None:
    """Signatures checked so far, on one line of a terminal (stderr); nothing when piped,
    so the report is all a script reads."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\r... {done:,} of {total:,} entries checked{end}")
        sys.stderr.flush()

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return its exit code.

    The cyclic garbage collector is paused in this process: verifying a bundle builds
    tens of thousands of acyclic objects that live to the end, and the collector's
    passes over them cost a tenth of the run. The reader's limits bound the memory.
    """
    args = _parser().parse_args(argv)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _verify(args)
    except _Unusable as e:
        print(f"error: {e}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        if collecting:
            gc.enable()
