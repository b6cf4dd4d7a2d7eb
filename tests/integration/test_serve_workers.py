"""`traceability serve --workers 2`: several server processes on one SQLite database.

Each worker builds its own app from the environment; their writes queue on the writer
lock beside the database, so sign-ins (each a write) spread over both workers all land.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from tests.support import PASSWORD
from traceability.storage.database import Database, create_db_engine
from traceability.storage.models import SignInEvent

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_worker_processes_serve_and_every_write_lands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/var/trace.db"
    env = os.environ | {
        "TRACE_ENVIRONMENT": "development",
        "TRACE_DATABASE_URL": url,
        "TRACE_KEY_DIR": str(tmp_path / "keys"),
    }
    cli = [sys.executable, "-m", "traceability.cli.main"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run(
        [*cli, "users", "add", "lena", "--full-name", "Lena", "--role", "lab"],
        env=env | {"TRACE_NEW_PASSWORD": PASSWORD},
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the server never became ready")
        # New connections each time, so both workers take some of them.
        answers = [
            httpx.post(f"{base}/auth/token", data={"username": "lena", "password": PASSWORD})
            for _ in range(20)
        ]
        assert [a.status_code for a in answers] == [200] * 20
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert b"Traceback" not in errors, errors.decode(errors="replace")[-2000:]
    db = Database(create_db_engine(url, create=False))
    with db.read() as session:
        sign_ins = session.exec(select(SignInEvent).where(SignInEvent.username == "lena")).all()
    db.dispose()
    assert len(sign_ins) == 20 and all(s.success for s in sign_ins)
