"""Getting the log's checkpoints cosigned by its witnesses (c2sp.org/tlog-witness).

After the log signs a checkpoint, this submits it to each configured witness with a
consistency proof from the size that witness last cosigned (the largest size of its
stored cosignatures, 0 if none). A witness answering 409 says which size it holds: we
try once more from there. Each answer's lines are verified against the witness's
configured keys before they are stored (`checkpoint_cosignatures`, append-only);
unknown keys' lines are dropped. `published.published_checkpoint` then serves the note
with every stored line for its size.

Network calls happen outside any database transaction, and never inside the log's
write lock: a slow witness delays only the next cosignature, never an append. Every
failure is logged and left for the next round.

This module must never store a cosignature it did not verify, nor submit a checkpoint
the log did not sign.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from audit.cosignature import (
    Cosignature,
    CosignerKey,
    parse_signature_lines,
    verify_cosignatures,
)
from audit.errors import AuditError
from traceability.custody_log.appender import CustodyLog, latest_checkpoint
from traceability.custody_log.tree import StoredTree
from traceability.storage.database import Database
from traceability.storage.models import CheckpointCosignatureRow, CheckpointRow
from traceability.witness.service import format_request

logger = logging.getLogger(__name__)

MAX_ANSWER = 64 * 1024


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log submits to: its URL prefix and its verifier key(s)."""

    url: str
    keys: tuple[CosignerKey, ...]

    @property
    def name(self) -> str:
        return self.keys[0].name


def endpoints(entries: Sequence[tuple[str, CosignerKey]]) -> tuple[WitnessEndpoint, ...]:
    """Group (URL, key) settings entries by URL."""
    grouped: dict[str, list[CosignerKey]] = {}
    for url, key in entries:
        grouped.setdefault(url, []).append(key)
    return tuple(WitnessEndpoint(url, tuple(keys)) for url, keys in grouped.items())


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def post_checkpoint(url: str, body: bytes, timeout: float) -> Answer:
    """POST <url>/add-checkpoint; any HTTP status is an Answer, a network failure raises
    OSError."""
    request = urllib.request.Request(  # noqa: S310 - the URL is an http(s) setting
        url + "/add-checkpoint",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, response.read(MAX_ANSWER).decode("utf-8", "replace"))
    except urllib.error.HTTPError as e:
        with e:
            return Answer(e.code, e.read(MAX_ANSWER).decode("utf-8", "replace"))


class Witnessing:
    """Submits the latest checkpoint to the configured witnesses, stores what they sign."""

    def __init__(
        self,
        db: Database,
        log: CustodyLog,
        witnesses: Sequence[WitnessEndpoint],
        *,
        quorum: int = 1,
        timeout: float = 10,
    ) -> None:
        self.db = db
        self.log = log
        self.witnesses = tuple(witnesses)
        self.quorum = quorum
        self.timeout = timeout
        self._alarms: dict[str, str] = {}
        """By witness: why it last refused the log's checkpoint (a rollback, a fork)."""

    def alarms(self) -> list[str]:
        """What witnesses hold against the log now: the self-check raises each as an alarm.
        A witness that cannot be reached is not one (it is logged); a refusal is."""
        return [f"witness {name}: {why}" for name, why in sorted(dict(self._alarms).items())]

    def run(self, now: datetime) -> int:
        """One round: make sure the latest checkpoint carries the log's own cosignature,
        then ask each witness that has not cosigned it. Returns how many distinct
        witnesses have cosigned the latest checkpoint."""
        own = self.log.keys.cosigner.name
        with self.db.read() as session:
            latest = latest_checkpoint(session)
            if latest is None:
                return 0
            size, note = latest.size, latest.note
            cosigned_by_log = _has_cosignature(session, size, own)
        if not cosigned_by_log:
            # A checkpoint signed before the log had its ML-DSA key (migration 0013).
            with self.db.write() as session:
                row = session.get(CheckpointRow, size)
                if row is not None and not _has_cosignature(session, size, own):
                    self.log.add_own_cosignature(session, row, now=now)
        cosigned = 0
        for witness in self.witnesses:
            try:
                if self._submit(witness, size, note, now):
                    cosigned += 1
            except Exception:  # noqa: BLE001 - one witness's failure must not stop the others
                logger.exception("witness %s (%s): submission failed", witness.name, witness.url)
        if self.witnesses and cosigned < self.quorum:
            logger.warning(
                "checkpoint %d is cosigned by %d of %d witnesses (quorum %d)",
                size,
                cosigned,
                len(self.witnesses),
                self.quorum,
            )
        return cosigned

    def _submit(self, witness: WitnessEndpoint, size: int, note: str, now: datetime) -> bool:
        with self.db.read() as session:
            if _has_cosignature(session, size, witness.name):
                return True
            old = _last_cosigned_size(session, witness.name)
            body = self._request(session, old, size, note)
        answer = post_checkpoint(witness.url, body, self.timeout)
        if answer.status == 409:
            held = _size_of(answer.body)
            if held is None:
                logger.error("witness %s answered 409 without a size", witness.name)
                return False
            if held > size:
                why = (
                    f"has cosigned size {held} of this log, beyond its latest checkpoint "
                    f"{size}: the log lost entries, or someone showed the witness another history"
                )
                logger.error("witness %s %s", witness.name, why)
                self._alarms[witness.name] = why
                return False
            with self.db.read() as session:
                body = self._request(session, held, size, note)
            answer = post_checkpoint(witness.url, body, self.timeout)
        if answer.status != 200:
            logger.error(
                "witness %s refused checkpoint %d (%d): %s",
                witness.name,
                size,
                answer.status,
                answer.body.strip()[:300],
            )
            if answer.status in (409, 422):  # not consistent with what it cosigned
                self._alarms[witness.name] = (
                    f"refused checkpoint {size} ({answer.status}): "
                    f"{answer.body.strip()[:200] or 'not consistent with what it cosigned'}"
                )
            return False
        stored = self._store(witness, size, note, answer.body, now)
        if stored:
            self._alarms.pop(witness.name, None)
        return stored

    def _request(self, session: Session, old: int, size: int, note: str) -> bytes:
        proof = StoredTree(session).consistency_proof(old, size) if 0 < old < size else []
        return format_request(old, proof, note.encode("utf-8"))

    def _store(
        self, witness: WitnessEndpoint, size: int, note: str, answer: str, now: datetime
    ) -> bool:
        text = note[: note.rfind("\n\n") + 1]
        try:
            found = verify_cosignatures(text, parse_signature_lines(text, answer), witness.keys)
        except AuditError as e:
            logger.error("witness %s answered lines that do not verify: %s", witness.name, e)
            return False
        if not found:
            logger.error("witness %s answered no cosignature by its configured keys", witness.name)
            return False
        with self.db.write() as session:
            for cosignature in found:
                _store_row(session, size, cosignature, now)
        return True


def _store_row(session: Session, size: int, cosignature: Cosignature, now: datetime) -> None:
    key_id = f"{cosignature.key.key_id:08x}"
    exists = session.exec(
        select(CheckpointCosignatureRow.id).where(
            CheckpointCosignatureRow.size == size,
            CheckpointCosignatureRow.cosigner == cosignature.key.name,
            CheckpointCosignatureRow.key_id == key_id,
        )
    ).first()
    if exists is not None:
        return
    session.add(
        CheckpointCosignatureRow(
            size=size,
            cosigner=cosignature.key.name,
            key_id=key_id,
            algorithm=cosignature.key.algorithm,
            cosigned_at=cosignature.timestamp,
            line=cosignature.line,
            received_at=now,
        )
    )
    session.flush()


def _has_cosignature(session: Session, size: int, name: str) -> bool:
    row = session.exec(
        select(CheckpointCosignatureRow.id).where(
            CheckpointCosignatureRow.size == size, CheckpointCosignatureRow.cosigner == name
        )
    ).first()
    return row is not None


def _last_cosigned_size(session: Session, name: str) -> int:
    size = session.exec(
        select(func.max(CheckpointCosignatureRow.size)).where(
            CheckpointCosignatureRow.cosigner == name
        )
    ).first()
    return int(size) if size is not None else 0


def _size_of(body: str) -> int | None:
    text = body.strip()
    return int(text) if text.isdigit() and len(text) <= 20 else None


def cosignature_lines(session: Session, size: int) -> list[str]:
    """Every stored cosignature line of the checkpoint of `size`, in arrival order."""
    return list(
        session.exec(
            select(CheckpointCosignatureRow.line)
            .where(CheckpointCosignatureRow.size == size)
            .order_by(col(CheckpointCosignatureRow.id))
        ).all()
    )


def cosigned_note(session: Session, row: CheckpointRow) -> str:
    """The checkpoint note as signed by the log, followed by its stored cosignatures."""
    return row.note + "".join(line + "\n" for line in cosignature_lines(session, row.size))
