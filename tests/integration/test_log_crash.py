"""Crash safety on SQLite: SIGKILL a process appending in a loop, 20 times, at random.

After each kill the database passes `PRAGMA integrity_check`, verify-log finds nothing,
and every append the writer reported as acknowledged (after its commit returned) is
stored with the leaf hash it was told.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.log_support import VIAL, LogWorld, make_log
from tests.log_writer import acks_of, start_writer
from tests.support import migrated_database
from traceability.custody_log.verify_log import verify_log
from traceability.keys import write_private_file

KILLS = 20


@pytest.mark.slow
def test_sigkill_while_appending_loses_no_acknowledged_entry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    rng = random.Random(1234)
    acknowledged: dict[int, bytes] = {}
    with migrated_database(url) as db:
        world = LogWorld(db=db, log=make_log(db, tmp_path / "keys"), key_dir=tmp_path / "keys")
        world.person("lena")
        key_file = tmp_path / "lena.key"
        write_private_file(key_file, world.people["lena"].signer.private_key_text())
    for run in range(KILLS):
        process, acks = start_writer(
            url, str(tmp_path / "keys"), str(key_file), "lena", VIAL.format(f"crash{run % 3}"), "0"
        )
        assert acks.poll(30), f"run {run}: the writer never acknowledged"
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        lines = acks_of(acks)  # what it acknowledged before it died
        process.join()
        assert process.exitcode == -signal.SIGKILL
        for line in lines:
            _, index, leaf = line.split()
            acknowledged[int(index)] = bytes.fromhex(leaf)

        with migrated_database(url) as db:
            with db.read() as session:
                assert session.exec(text("PRAGMA integrity_check")).one()[0] == "ok"
                stored = dict(session.exec(text("SELECT idx, leaf_hash FROM log_entries")).all())
            missing = [i for i in acknowledged if bytes(stored.get(i, b"")) != acknowledged[i]]
            assert missing == [], f"run {run}: acknowledged entries lost"
            report = verify_log(db, make_log(db, tmp_path / "keys").keys.log.verifier())
            assert report.ok, (run, report.findings[:3])
    assert len(acknowledged) > KILLS
