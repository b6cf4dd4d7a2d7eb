"""Run schemathesis against a fresh demo server until it has answered enough requests.

The server is the real one (`traceability serve`) on a temporary SQLite database with
the demo site loaded, on a free port. Schemathesis runs once per demo role (admin, QA,
lab, courier, auditor, each with its own bearer token), round after round with new
seeds, until the server's access log counts `--requests` answers. Every check is on;
the one setting changed: a request that is valid by the schema may still be refused
with 422 when it breaks a rule the schema cannot state (a proof's index past the
log's size, a lot that is not released yet), so the positive-data check accepts 422 as
well as the statuses it accepts by default.

Prints the number of requests the server answered, how many were server errors (5xx
other than the documented 503s), and schemathesis's failures; exits 1 if either is
not zero.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
ROLES = ("admin", "quinn", "lena", "cora", "aude")
"""One demo account per role: admin, QA, lab, courier, auditor (`traceability demo sign-ins`)."""
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the demo's published password
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
"""
SIGN_OUT = "/auth/sign-out"
ACCESS = re.compile(rb'" (\d{3})\b')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(base: str, username: str, env: dict[str, str]) -> str:
    """A bearer token for a demo account; restored first if the last round's admin run
    changed its password, disabled it or locked it (generated names can be real ones)."""
    data = urllib.parse.urlencode({"username": username, "password": DEMO_PASSWORD}).encode()
    for attempt in range(2):
        try:
            with urllib.request.urlopen(f"{base}/auth/token", data=data, timeout=30) as answer:
                return str(json.load(answer)["access_token"])
        except urllib.error.HTTPError:
            if attempt:
                raise
        restore = env | {"TRACE_NEW_PASSWORD": DEMO_PASSWORD}
        for command in ("enable", "set-password", "unlock"):
            subprocess.run(
                [BIN / "traceability", "users", command, username, "--reason", "fuzz round"],
                env=restore,
                capture_output=True,
                check=False,
            )
    raise AssertionError("unreachable")


def statuses(log: Path) -> Counter[int]:
    """How many answers of each status uvicorn's access log records."""
    found: Counter[int] = Counter()
    for line in log.read_bytes().splitlines():
        match = ACCESS.search(line)
        if match and b"HTTP/" in line:
            found[int(match.group(1))] += 1
    return found


def answers(log: Path) -> tuple[int, int]:
    """(requests answered, server errors but the documented 503s)."""
    found = statuses(log)
    return sum(found.values()), sum(n for s, n in found.items() if s >= 500 and s != 503)


def schemathesis(
    base: str, bearer: str, work: Path, examples: int, round_number: int, role: int
) -> list[str]:
    return [
        str(BIN / "schemathesis"),
        "--config-file",
        str(work / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        "--seed",
        str(round_number * 1000 + role),
        "-H",
        f"Authorization: Bearer {bearer}",
    ]


def run_round(
    base: str, tokens: dict[str, str], work: Path, examples: int, number: int, scope: list[str]
) -> int:
    """One schemathesis process per role, side by side (its own worker threads trip over
    each other in hypothesis: errors of the tool, not of the API); the failed runs."""
    runs = {
        name: subprocess.Popen(
            [*schemathesis(base, tokens[name], work, examples, number, i), *scope],
            cwd=work,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, name in enumerate(ROLES)
    }
    failed = 0
    for name, run in runs.items():
        output, _ = run.communicate()
        if run.returncode != 0:
            failed += 1
            report = work / f"failures-{number}-{name}-{scope[0].strip('-')}.txt"
            report.write_text(output)
            print(f"  {name}: exit {run.returncode}, see {report}", flush=True)
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="answers to reach")
    parser.add_argument("--examples", type=int, default=50, help="per operation and run")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory after a clean run"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trace-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_DATABASE_URL": f"sqlite:///{work}/fuzz.db",
        "TRACE_KEY_DIR": str(work / "keys"),
        "TRACE_RESOLVER_BASE": base,
        "TRACE_TOKEN_TTL_MINUTES": "10080",
        "TRACE_WITNESSES": "",
        # Generated sign-ins with a demo account's name must not lock it for the rounds after.
        "TRACE_LOCKOUT_ATTEMPTS": "1000000",
    }
    subprocess.run([BIN / "traceability", "db", "upgrade"], env=env, check=True)
    subprocess.run([BIN / "traceability", "demo", "load"], env=env, check=True)
    (work / "schemathesis.toml").write_text(CONFIG)
    log = work / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [BIN / "traceability", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    failures = 0
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/readyz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        round_number = 0
        while answers(log)[0] < args.requests:
            round_number += 1
            # Fresh tokens each round: the last round's sign-outs ended them. Sign-out
            # ends the token a run holds, which would leave the rest of that run signed
            # out (every answer a 401): it is fuzzed after the rest, in runs of its own.
            tokens = {name: token(base, name, env) for name in ROLES}
            for scope in (["--exclude-path", SIGN_OUT], ["--include-path", SIGN_OUT]):
                failures += run_round(base, tokens, work, args.examples, round_number, scope)
                total, errors = answers(log)
                print(
                    f"round {round_number} ({' '.join(scope)}): {total} answered so far, "
                    f"{errors} server errors",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    total, errors = answers(log)
    print("answers by status:", ", ".join(f"{s}: {n}" for s, n in sorted(statuses(log).items())))
    print(
        f"requests answered: {total}; server errors: {errors}; "
        f"schemathesis runs with failures: {failures} (reports in {work})"
    )
    if errors or failures:
        return 1
    if not args.keep:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
