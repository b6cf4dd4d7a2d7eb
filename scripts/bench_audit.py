"""Benchmark: export and offline verification of a 10,000-entry audit bundle.

A fresh SQLite log gets one batch of 100 vials whose custody chains hold `entries`
entries in all; the bundle is then exported from the database (entries, inclusion
proofs, key entries, a checkpoint) and verified with `audit.bundle.verify` alone.
Both run in this single process, on one core. Beside them, the floor: raw Ed25519
verifications per second (the `cryptography` library) over the same entries, measured
in the same run, since a verifier checks one signature per entry and everything else
(parsing, hashing, proofs, chains) should add a fraction of that.

Run: .venv/bin/python scripts/bench_audit.py [ENTRIES]
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import select

from audit import bundle
from audit.entry import parse_entry
from traceability.custody_log.appender import CustodyLog
from traceability.keys import load_service_keys
from traceability.services import audit_bundle
from traceability.storage import migrate
from traceability.storage.database import Database, create_db_engine
from traceability.storage.models import (
    ActorKey,
    Batch,
    LogEntryRow,
    Product,
    SpecificationVersion,
    Vial,
)

ORIGIN = "bench.example/log"
GTIN = "09521234543213"
LOT = "BENCH-1"
VIALS = 100
PER_TRANSACTION = 1000


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _build(db: Database, log: CustodyLog, entries: int) -> None:
    """One batch and its vials; service-signed custody entries up to `entries` in all."""
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    batch_uri = f"https://id.example/01/{GTIN}/10/{LOT}"
    with db.write() as session:
        registered = log.append_as_service(
            session, subject=batch_uri, type="batch.registered", now=now, what={"lot": LOT}
        )
        product = Product(
            code="BENCH",
            name="Bench product",
            gtin=GTIN,
            processing_class="advanced-therapy",
            storage_condition="<= -150 °C",
            created_at=now,
        )
        session.add(product)
        session.flush()
        assert product.id is not None
        version = SpecificationVersion(
            product_id=product.id,
            version=1,
            document={},
            log_index=registered.index,
            created_by="bench",
            created_at=now,
        )
        session.add(version)
        session.flush()
        assert version.id is not None
        batch = Batch(
            product_id=product.id,
            lot=LOT,
            donor_code="D-1",
            processing_class="advanced-therapy",
            manufactured_on=date(2026, 11, 1),
            expires_on=date(2027, 11, 1),
            specification_version_id=version.id,
            state="quarantine",
            log_index=registered.index,
            created_by="bench",
            created_at=now,
        )
        session.add(batch)
        session.flush()
        assert batch.id is not None
        for n in range(VIALS):
            uri = f"{batch_uri}/21/{n:04d}"
            commissioned = log.append_as_service(
                session,
                subject=uri,
                type="vial.commissioned",
                now=now,
                what={"batch": batch_uri, "serial": f"{n:04d}"},
            )
            session.add(
                Vial(
                    batch_id=batch.id,
                    serial=f"{n:04d}",
                    uri=uri,
                    log_index=commissioned.index,
                    created_at=now,
                )
            )
    written = 2 + VIALS  # the genesis entry, the batch, the vials
    n = 0
    while written < entries:
        with db.write() as session:
            for _ in range(min(PER_TRANSACTION, entries - written)):
                log.append_as_service(
                    session,
                    subject=f"{batch_uri}/21/{n % VIALS:04d}",
                    type="custody.stored",
                    now=now,
                    what={"site": "LAB1", "unit": "LN2-A", "position": f"A{n % 81}"},
                )
                n += 1
                written += 1


def _raw_ed25519(db: Database) -> tuple[int, float]:
    """Raw Ed25519 verifications per second over every entry's signed message."""
    with db.read() as session:
        raws = [bytes(r) for r in session.exec(select(LogEntryRow.entry)).all()]
        keys = {k.key_id: bytes(k.public_key) for k in session.exec(select(ActorKey)).all()}
    parsed = [parse_entry(raw) for raw in raws]
    public = {kid: Ed25519PublicKey.from_public_bytes(key) for kid, key in keys.items()}
    start = time.perf_counter()
    for entry in parsed:
        public[entry.key].verify(entry.signature, entry.signed_message)
    return len(parsed), _rate(len(parsed), time.perf_counter() - start)


def run(entries: int = 10_000) -> None:
    """Print export and verification rates of an `entries`-entry bundle beside raw Ed25519."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(create_db_engine(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        migrate.upgrade(db.engine)
        log = CustodyLog(
            load_service_keys(Path(tmp) / "keys", ORIGIN), origin=ORIGIN, checkpoint_every=1000
        )
        now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
        build_start = time.perf_counter()
        _build(db, log, entries)
        built = time.perf_counter() - build_start

        start = time.perf_counter()
        data = audit_bundle.export(db, log, LOT, now=now)
        export_seconds = time.perf_counter() - start

        start = time.perf_counter()
        # The log cosigns every checkpoint with its ML-DSA-44 key: a verifier must be
        # given that key, or the line it cannot check is a finding.
        report = bundle.verify(
            io.BytesIO(data), log_key=log.keys.log.verifier(), log_cosigner=log.keys.cosigner.key()
        )
        verify_seconds = time.perf_counter() - start
        assert report.ok, report.findings[:5]

        count, raw = _raw_ed25519(db)
        db.dispose()
    held = report.entries
    print(f"audit bundle of {held} entries ({len(data) / 1e6:.1f} MB zip), one process, one core")
    print(f"  log built in {built:.1f} s (not part of the figures)")
    print(f"  export: {export_seconds:.2f} s, {_rate(held, export_seconds):,.0f} entries/s")
    print(f"  verify: {verify_seconds:.2f} s, {_rate(held, verify_seconds):,.0f} entries/s")
    print(f"  raw Ed25519 verify, same run: {raw:,.0f} signatures/s ({count} signatures)")
    print(f"  verify / raw Ed25519: {_rate(held, verify_seconds) / raw:.2f}")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
