"""Benchmarks. Each prints its figures beside a raw baseline measured in the same run.

./scripts/bench log      custody-log appends and verify-log (issue 3)
./scripts/bench labels   a 1,000-vial sheet PDF against bare QR matrices (issue 5)
./scripts/bench handoff  signed two-party handoffs through a real server (issue 6)
./scripts/bench audit    export and verification of a 10,000-entry audit bundle (issue 8)
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from audit.entry import pop_message
from traceability.custody_log import keys as key_service
from traceability.custody_log import tables
from traceability.custody_log.appender import CustodyLog
from traceability.custody_log.statements import Statement, when_text
from traceability.custody_log.tree import extend
from traceability.domain.actor import Actor
from traceability.domain.roles import Role
from traceability.keys import ActorKeyPair, load_service_keys
from traceability.services import users as user_service
from traceability.storage import migrate
from traceability.storage.database import Database, create_db_engine

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "bench.example/log"
ADMIN = Actor(name="cli:bench", user_id=None, roles=frozenset({Role.admin}))
PG_URL = os.environ.get(
    "TRACE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/trace_bench"
)


def say(text: str) -> None:
    print(text, flush=True)


# --- set-up ---------------------------------------------------------------------------


def postgres_database() -> str | None:
    """A dedicated, emptied benchmark database, or None if the server is unreachable."""
    admin_url = PG_URL.rsplit("/", 1)[0] + "/postgres"
    name = PG_URL.rsplit("/", 1)[1]
    try:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception as e:  # noqa: BLE001 - reported, then skipped
        say(f"PostgreSQL not reachable at {admin_url} ({type(e).__name__}); skipped")
        return None
    return PG_URL


def fresh(url: str, key_dir: Path) -> tuple[Database, CustodyLog]:
    db = Database(create_db_engine(url))
    migrate.upgrade(db.engine)
    log = CustodyLog(load_service_keys(key_dir, ORIGIN), origin=ORIGIN, checkpoint_every=1000)
    return db, log


def person(db: Database, log: CustodyLog, name: str) -> ActorKeyPair:
    pair = ActorKeyPair.generate(name)
    now = datetime.now(UTC)
    with db.write() as session:
        user = user_service.create_user(
            session,
            actor=ADMIN,
            now=now,
            username=name,
            full_name=name.title(),
            roles=["lab"],
            password="bench-password-1",
        )
        key_service.register_key(
            session,
            log,
            user=user,
            actor=ADMIN,
            public_key=pair.public_key,
            label="bench",
            pop=pair.sign(pop_message(pair.key_id, ORIGIN, name)),
            now=now,
        )
    return pair


def signed_statements(
    pair: ActorKeyPair, actor: str, count: int, tag: str
) -> list[tuple[Statement, bytes]]:
    """Statements about `count` distinct vials (so each is its subject's first)."""
    out = []
    when = when_text(datetime.now(UTC))
    for n in range(count):
        statement = Statement(
            log=ORIGIN,
            subject=f"https://id.example/01/09521234543213/10/B{tag}/21/{n}",
            subject_seq=0,
            subject_prev=None,
            type="custody.stored",
            when=when,
            key=pair.key_id,
            actor=actor,
            what={"temperature": "-151.2", "unit": "CEL"},
            where={"readPoint": "urn:site:lab:ln2-tank-2", "bizLocation": "urn:site:lab"},
            why={"bizStep": "storing", "disposition": "in_progress"},
        )
        out.append((statement, pair.sign(statement.signed_message())))
    return out


# --- appends ----------------------------------------------------------------------------


def bench_appends(url: str, label: str, count: int, key_dir: Path) -> None:
    if count <= 0:  # --appends 0: only the verify-log figures
        return
    db, log = fresh(url, key_dir)
    pair = person(db, log, "bencher")
    work = signed_statements(pair, "bencher", count, label)
    start = time.perf_counter()
    for statement, signature in work:
        now = datetime.now(UTC)
        with db.write() as session:
            log.append_signed(session, statement, signature, now=now)
    appends = count / (time.perf_counter() - start)

    # Baseline: per entry one Ed25519 verification, one SHA-256, one committed INSERT.
    with db.write() as session:
        session.exec(
            text(
                "CREATE TABLE bench_raw (idx BIGINT PRIMARY KEY, leaf_hash "
                + ("BYTEA" if db.dialect == "postgresql" else "BLOB")
                + ", entry "
                + ("BYTEA" if db.dialect == "postgresql" else "BLOB")
                + ")"
            )
        )
    public = pair.signer.verifier()
    raws = [(s.signed_message(), sig) for s, sig in work]
    insert = text("INSERT INTO bench_raw (idx, leaf_hash, entry) VALUES (:i, :h, :e)")
    start = time.perf_counter()
    for i, (message, signature) in enumerate(raws):
        public.verify(message, signature)
        leaf = hashlib.sha256(b"\x00" + message).digest()
        with db.write() as session:
            session.connection().execute(insert, {"i": i, "h": leaf, "e": message})
    baseline = count / (time.perf_counter() - start)
    say(
        f"{label:<10} append (signed, durable): {appends:8.0f}/s   raw baseline: "
        f"{baseline:8.0f}/s   ratio {appends / baseline:.2f}  (target >= 0.5; {count} entries)"
    )
    db.dispose()


# --- verify-log ---------------------------------------------------------------------------


def build_log(db: Database, log: CustodyLog, pair: ActorKeyPair, total: int) -> None:
    """Write `total` valid signed entries quickly: big transactions, same bytes as appends."""
    batch = 10_000
    with db.read() as session:
        from traceability.custody_log.appender import read_head

        head = read_head(session)
    size, prev = head.size, head.last_leaf
    with db.read() as session:
        from traceability.custody_log.tree import StoredTree

        frontier = StoredTree(session).frontier(size)
    now = datetime.now(UTC)
    n = 0
    while size < total:
        entries, nodes = [], []
        for statement, signature in signed_statements(
            pair, "bencher", min(batch, total - size), f"V{n}"
        ):
            raw = statement.encoded().entry_bytes(index=size, prev=prev, signature=signature)
            leaf = hashlib.sha256(b"\x00" + raw).digest()
            entries.append(
                {
                    "idx": size,
                    "leaf_hash": leaf,
                    "entry": raw,
                    "subject": statement.subject,
                    "subject_seq": 0,
                    "subject_prev": None,
                    "entry_type": statement.type,
                    "key_id": statement.key,
                    "appended_at": now,
                }
            )
            frontier, done = extend(size, leaf, frontier)
            nodes.extend({"level": lv, "idx": i, "hash": h} for lv, i, h in done)
            size, prev = size + 1, leaf
        with db.write() as session:
            connection = session.connection()
            connection.execute(tables.INSERT_ENTRY, entries)
            connection.execute(tables.INSERT_NODE, nodes)
        with db.write() as session:
            log.issue_checkpoint(session, now=now)
        n += 1


def rss_of_tree(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, from /proc."""
    total = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_verify_log(url: str, key_dir: Path, workers: int | None = None) -> tuple[float, int, str]:
    """Run the real CLI; return (seconds, peak RSS of its process tree, last line)."""
    env = dict(
        os.environ, TRACE_ENVIRONMENT="development", TRACE_KEY_DIR=str(key_dir), TRACE_ORIGIN=ORIGIN
    )
    command = [str(ROOT / ".venv/bin/traceability"), "audit", "verify-log", "--database-url", url]
    if workers:
        command += ["--workers", str(workers)]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_of_tree(process.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, _ = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"verify-log failed:\n{out}")
    return seconds, peak, out.strip().splitlines()[-1]


def _verify_many(args: tuple[bytes, bytes, bytes, int]) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public, message, signature, count = args
    key = Ed25519PublicKey.from_public_bytes(public)
    for _ in range(count):
        key.verify(signature, message)
    return count


def raw_verifications_per_second(seconds: float = 3.0) -> float:
    """Ed25519 verifications per second on every core (one process per core)."""
    private = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    message = b"x" * 600
    signature = private.sign(message)
    cores = os.cpu_count() or 1
    per = 2000
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.map(_verify_many, [(public, message, signature, 10)] * cores)  # warm up
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            done += sum(pool.map(_verify_many, [(public, message, signature, per)] * cores))
        return done / (time.perf_counter() - start)


def bench_verify(entries: int, big: int, key_dir: Path, tmp: Path) -> None:
    peaks: dict[int, int] = {}
    for size in sorted({entries, big}):
        if size <= 0:
            continue
        url = f"sqlite:///{tmp}/verify-{size}.db"
        db, log = fresh(url, key_dir)
        pair = person(db, log, "bencher")
        t = time.perf_counter()
        build_log(db, log, pair, size)
        say(f"built a {size:,}-entry log in {time.perf_counter() - t:.0f} s")
        db.dispose()
        raw = raw_verifications_per_second()  # measured right before, in the same conditions
        seconds, peak, summary = run_verify_log(url, key_dir)
        peaks[size] = peak
        rate = size / seconds
        say(
            f"verify-log {size:>9,} entries: {rate:8.0f} entries/s ({seconds:.1f} s, "
            f"peak memory {peak / 2**20:.0f} MiB)   raw Ed25519 verify on "
            f"{os.cpu_count()} cores: {raw:8.0f}/s   ratio {rate / raw:.2f} (target >= 0.7)"
        )
        say(f"  verify-log said: {summary}")
    if len(peaks) == 2:
        small, large = peaks[min(peaks)], peaks[max(peaks)]
        say(
            f"peak memory {max(peaks):,} / {min(peaks):,} entries: {large / small:.2f}x "
            "(target <= 1.2)"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench")
    sub = parser.add_subparsers(dest="what", required=True)
    log_parser = sub.add_parser("log", help="custody-log appends and verify-log")
    log_parser.add_argument("--appends", type=int, default=2000)
    log_parser.add_argument("--entries", type=int, default=100_000)
    log_parser.add_argument("--big", type=int, default=1_000_000)
    labels_parser = sub.add_parser("labels", help="a sheet PDF of vial labels against bare QR")
    labels_parser.add_argument("--vials", type=int, default=1000)
    audit_parser = sub.add_parser("audit", help="export and verify a 10,000-entry audit bundle")
    audit_parser.add_argument("--entries", type=int, default=10_000)
    readiness_parser = sub.add_parser(
        "readiness", help="release readiness and the batch page, proven against the log"
    )
    readiness_parser.add_argument("--rounds", type=int, default=30)
    handoff_parser = sub.add_parser("handoff", help="signed two-party handoffs through uvicorn")
    handoff_parser.add_argument("--clients", type=int, default=64)
    handoff_parser.add_argument("--seconds", type=float, default=20.0)
    handoff_parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="server processes (cores)"
    )
    handoff_parser.add_argument(
        "--configs",
        nargs="*",
        default=None,
        help='server configurations measured back to back, each "NAME=value,..." ("" for none)',
    )
    handoff_parser.add_argument("--rounds", type=int, default=1, help="times over the configs")
    args = parser.parse_args(argv)
    if args.what == "audit":
        import bench_audit  # beside this script

        bench_audit.run(args.entries)
        return 0
    if args.what == "handoff":
        import bench_handoff  # beside this script

        bench_handoff.run(args.clients, args.seconds, args.workers, args.configs, args.rounds)
        return 0
    if args.what == "readiness":
        import bench_readiness  # beside this script

        bench_readiness.run(args.rounds)
        return 0
    if args.what == "labels":
        import bench_labels  # beside this script

        bench_labels.run(args.vials)
        return 0
    jobs: dict[str, Callable[[], None]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key_dir = tmp / "keys"
        if args.what == "log":
            say(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
            bench_appends(f"sqlite:///{tmp}/appends.db", "SQLite", args.appends, key_dir)
            pg = postgres_database()
            if pg:
                bench_appends(pg, "PostgreSQL", args.appends, key_dir)
            bench_verify(args.entries, args.big, key_dir, tmp)
        for job in jobs.values():
            job()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
