"""Benchmark: what a batch's release readiness and batch page cost to serve.

Loads the demo site into a fresh SQLite database, serves the app in this process and
times, as QA, `GET /batches/{lot}/release-readiness` and the batch page `/ui/batches/{lot}`
for every demo batch, `--rounds` times each (the first round warms caches and is not
counted). Prints the median and the 95th percentile per endpoint, in milliseconds.
Since the tables are checked against the signed log on read (docs/trust.md), both
include proving every entry about the batch and its vials.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from traceability.cli.main import app as cli
from traceability.demo.accounts import DEMO_PASSWORD
from traceability.settings import load_settings
from traceability.web.app import create_app

LOTS = ("UC26-101", "UC26-102", "UC26-103", "UC26-104")


def run(rounds: int) -> None:
    from typer.testing import CliRunner

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "TRACE_ENVIRONMENT": "development",
            "TRACE_KEY_DIR": str(Path(tmp) / "keys"),
            "TRACE_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        }
        os.environ.update(env)
        runner = CliRunner()
        for args in (["db", "upgrade"], ["demo", "load", "--if-empty"]):
            result = runner.invoke(cli, args, env=env)
            assert result.exit_code == 0, result.output
        application = create_app(load_settings())
        with TestClient(application) as client:
            token = client.post(
                "/auth/token", data={"username": "quinn", "password": DEMO_PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            timings: dict[str, list[float]] = {"readiness": [], "batch page": []}
            for n in range(rounds + 1):
                for lot in LOTS:
                    for name, path in (
                        ("readiness", f"/batches/{lot}/release-readiness"),
                        ("batch page", f"/ui/batches/{lot}"),
                    ):
                        start = time.perf_counter()
                        response = client.get(path, headers=headers)
                        elapsed = (time.perf_counter() - start) * 1000
                        assert response.status_code == 200, response.text
                        if n:
                            timings[name].append(elapsed)
        print(f"demo batches {', '.join(LOTS)}; {rounds} rounds; SQLite; one process")
        for name, values in timings.items():
            values.sort()
            p95 = values[int(0.95 * (len(values) - 1))]
            print(
                f"  {name:<11} median {statistics.median(values):6.1f} ms   "
                f"p95 {p95:6.1f} ms   ({len(values)} requests)"
            )
