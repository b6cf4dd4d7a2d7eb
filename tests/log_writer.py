"""A custody-log writer run as its own process by the concurrency and crash tests.

    python -m tests.log_writer DATABASE_URL KEY_DIR KEY_FILE USERNAME SUBJECT COUNT

Appends COUNT statements about SUBJECT signed with KEY_FILE (COUNT 0: forever) and
reports "ack INDEX LEAFHEX" only after each commit returned, so the parent knows
exactly which appends were acknowledged.

The tests start it with `start_writer`, from a fork server that has imported this
module once: a child then costs a fork, not the second of imports a new interpreter
spends, which matters when a test starts sixteen of them or kills twenty.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from traceability.custody_log.appender import CustodyLog, read_subject_head
from traceability.custody_log.statements import Statement, when_text
from traceability.keys import ActorKeyPair, load_service_keys, read_private_key
from traceability.storage.database import Database, create_db_engine

ORIGIN = "test.example/log"  # the same as tests.log_support, without its heavy imports


def append_loop(args: list[str], report: Callable[[str], None]) -> None:
    url, key_dir, key_file, username, subject, count = args
    db = Database(create_db_engine(url))
    log = CustodyLog(load_service_keys(Path(key_dir), ORIGIN), origin=ORIGIN, checkpoint_every=10)
    pair = ActorKeyPair(read_private_key(Path(key_file)))
    n = 0
    while int(count) == 0 or n < int(count):
        with db.read() as session:
            head = read_subject_head(session, subject)
        now = datetime.now(UTC)
        statement = Statement(
            log=ORIGIN,
            subject=subject,
            subject_seq=head.next_seq,
            subject_prev=head.prev,
            type="custody.stored",
            when=when_text(now),
            key=pair.key_id,
            actor=username,
            what={"n": n},
        )
        with db.write() as session:
            appended = log.append_signed(
                session, statement, pair.sign(statement.signed_message()), now=now
            )
        report(f"ack {appended.index} {appended.leaf_hash.hex()}")
        n += 1


def _child(args: list[str], acks: Connection) -> None:
    append_loop(args, acks.send)


_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([__name__])


def start_writer(*args: str) -> tuple[BaseProcess, Connection]:
    """Start a writer process; its acks arrive on the returned end until it ends."""
    receiving, sending = _context.Pipe(duplex=False)
    process = _context.Process(target=_child, args=(list(args), sending))
    process.start()
    sending.close()  # only the child holds the sending end: its death ends the stream
    return process, receiving


def acks_of(receiving: Connection) -> list[str]:
    """Every ack a writer sent, read until it exited or was killed."""
    lines = []
    while True:
        try:
            lines.append(receiving.recv())
        except EOFError:
            return lines


def main(argv: list[str]) -> int:
    append_loop(argv, lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
