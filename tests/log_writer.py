"""A custody-log writer run as its own process by the concurrency and crash tests.

    python -m tests.log_writer DATABASE_URL KEY_DIR KEY_FILE USERNAME SUBJECT COUNT

Appends COUNT statements about SUBJECT signed with KEY_FILE (COUNT 0: forever) and
prints "ack INDEX LEAFHEX" only after each commit returned, so the parent knows
exactly which appends were acknowledged.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from traceability.custody_log.appender import CustodyLog, read_subject_head
from traceability.custody_log.statements import Statement, when_text
from traceability.keys import ActorKeyPair, load_service_keys, read_private_key
from traceability.storage.database import Database, create_db_engine

ORIGIN = "test.example/log"  # the same as tests.log_support, without its heavy imports


def main(argv: list[str]) -> int:
    url, key_dir, key_file, username, subject, count = argv
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
        print(f"ack {appended.index} {appended.leaf_hash.hex()}", flush=True)
        n += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
