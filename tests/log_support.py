"""Helpers for custody-log tests: a log on a fresh database, people with real keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit.entry import pop_message
from tests.support import TEST_ACTOR, add_user
from traceability.custody_log import keys as key_service
from traceability.custody_log.appender import Appended, CustodyLog, read_subject_head
from traceability.custody_log.statements import Statement, when_text
from traceability.keys import ActorKeyPair, load_service_keys
from traceability.services.users import get_by_username
from traceability.storage.database import Database

ORIGIN = "test.example/log"
VIAL = "https://id.example/01/09521234543213/10/LOT1/21/{}"


@dataclass
class LogWorld:
    db: Database
    log: CustodyLog
    key_dir: Path
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    people: dict[str, ActorKeyPair] = field(default_factory=dict)

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def person(self, username: str, *roles: str) -> ActorKeyPair:
        """A user with a registered key of their own."""
        add_user(self.db, username, *(roles or ("lab",)))
        pair = ActorKeyPair.generate(username)
        with self.db.write() as session:
            user = get_by_username(session, username)
            key_service.register_key(
                session,
                self.log,
                user=user,
                actor=TEST_ACTOR,
                public_key=pair.public_key,
                label="test key",
                pop=pair.sign(pop_message(pair.key_id, ORIGIN, username)),
                now=self.tick(),
            )
        self.people[username] = pair
        return pair

    def statement(
        self, username: str, subject: str, type: str = "custody.stored", **extra: Any
    ) -> Statement:
        pair = self.people[username]
        with self.db.read() as session:
            head = read_subject_head(session, subject)
        return Statement(
            log=ORIGIN,
            subject=subject,
            subject_seq=head.next_seq,
            subject_prev=head.prev,
            type=type,
            when=when_text(self.tick()),
            key=pair.key_id,
            actor=username,
            **extra,
        )

    def append(self, username: str, subject: str, **extra: Any) -> Appended:
        statement = self.statement(username, subject, **extra)
        signature = self.people[username].sign(statement.signed_message())
        with self.db.write() as session:
            return self.log.append_signed(session, statement, signature, now=self.now)

    def service_event(self, subject: str, type: str = "vial.commissioned") -> Appended:
        with self.db.write() as session:
            return self.log.append_as_service(session, subject=subject, type=type, now=self.tick())


def make_log(db: Database, key_dir: Path, *, checkpoint_every: int = 10) -> CustodyLog:
    return CustodyLog(
        load_service_keys(key_dir, ORIGIN), origin=ORIGIN, checkpoint_every=checkpoint_every
    )
