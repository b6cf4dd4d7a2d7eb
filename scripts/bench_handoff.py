"""Benchmark: signed two-party custody handoffs through a real server under load.

A uvicorn server on loopback, on a fresh SQLite database, with one worker process per
core (`traceability serve --workers N`; ./scripts/serve runs one). 64 concurrent
clients, each a pair of couriers passing one vial back and forth: the holder signs an
offer, the other signs the acceptance, and the handoff is complete. Each statement is
signed on the client, exactly as a phone does. Beside it, in the same run and under the
same load, the requests per second of the app's trivial endpoint (GET /healthz) set the
ceiling that the HTTP stack alone allows.

Run: ./scripts/bench handoff [--clients 64] [--seconds 20] [--workers N] [--configs ...]

`--configs "" "NAME=value,NAME=value"`: server configurations (environment settings added
to the server's; "" for none), measured back to back in one run on copies of one set-up
database, with a table of all of them at the end (issue 18 measured the speed devices
this way, each switched off by a temporary setting).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from audit.entry import pop_message
from traceability.custody_log.statements import Statement, when_text
from traceability.keys import ActorKeyPair

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "bench.example/log"
PASSWORD = "bench-password-1"
GTIN = "09521234543213"
LOT = "BENCH-1"


def say(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Person:
    name: str
    pair: ActorKeyPair
    headers: dict[str, str]


@dataclass
class Pair:
    """Two couriers and the vial they pass between them."""

    vial: str
    holder: Person
    other: Person
    next_seq: int
    prev: str | None
    latencies: list[float] = field(default_factory=list)


def body(
    who: Person, kind: str, subject: str, what: dict[str, Any], seq: int, prev: str | None
) -> dict[str, Any]:
    statement = Statement(
        log=ORIGIN,
        subject=subject,
        subject_seq=seq,
        subject_prev=bytes.fromhex(prev) if prev else None,
        type=kind,
        when=when_text(datetime.now(UTC)),
        key=who.pair.key_id,
        actor=who.name,
        what={**what, "nonce": secrets.token_urlsafe(16)},
    )
    signature = who.pair.sign(statement.signed_message())
    return {"statement": statement.to_json(), "signature": base64.b64encode(signature).decode()}


async def signed_post(
    client: httpx.AsyncClient,
    who: Person,
    path: str,
    kind: str,
    subject: str,
    what: dict[str, Any],
    head: tuple[int, str | None] | None = None,
) -> dict[str, Any]:
    if head is None:
        got = (
            await client.get("/log/subject-head", params={"subject": subject}, headers=who.headers)
        ).json()
        head = (got["next_seq"], got["prev"])
    response = await client.post(
        path, headers=who.headers, json=body(who, kind, subject, what, *head)
    )
    if response.status_code >= 300:
        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


async def person(client: httpx.AsyncClient, admin: dict[str, str], name: str, role: str) -> Person:
    made = await client.post(
        "/users",
        headers=admin,
        json={"username": name, "full_name": name.title(), "roles": [role], "password": PASSWORD},
    )
    if made.status_code != 201:
        raise RuntimeError(made.text)
    token = (
        await client.post("/auth/token", data={"username": name, "password": PASSWORD})
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    # An administrator chose that password: the courier sets their own before anything.
    changed = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": PASSWORD + "-own"},
    )
    if changed.status_code != 204:
        raise RuntimeError(changed.text)
    pair = ActorKeyPair.generate(name)
    pop = pair.sign(pop_message(pair.key_id, ORIGIN, name))
    registered = await client.post(
        "/keys",
        headers=headers,
        json={
            "public_key": base64.b64encode(pair.public_key).decode(),
            "label": "bench",
            "pop": base64.b64encode(pop).decode(),
        },
    )
    if registered.status_code != 201:
        raise RuntimeError(registered.text)
    return Person(name, pair, headers)


async def set_up(base: str, clients: int) -> list[Pair]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        token = (
            await client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        quinn = await person(client, admin, "quinn", "qa")
        lena = await person(client, admin, "lena", "lab")
        for call in (
            client.post(
                "/sites", headers=admin, json={"code": "LAB1", "name": "Lab", "kind": "lab"}
            ),
            client.post("/sites/LAB1/members", headers=admin, json={"username": "lena"}),
            client.post(
                "/sites/LAB1/units",
                headers=admin,
                json={"code": "LN2-A", "name": "Tank", "max_celsius": "-150"},
            ),
        ):
            response = await call
            if response.status_code != 201:
                raise RuntimeError(response.text)
        from traceability.domain.specifications import specification_to_json, uc_msc_specification

        product = f"{base}/01/{GTIN}"
        spec = specification_to_json(uc_msc_specification())
        await signed_post(
            client,
            quinn,
            "/products",
            "product.registered",
            product,
            {
                "code": "UC-MSC",
                "name": "UC-MSC",
                "gtin": GTIN,
                "processing_class": "advanced-therapy",
                "storage_condition": "Store at or below -150 °C",
                "specification": spec,
            },
        )
        serials = [f"{n:04d}" for n in range(1, clients + 1)]
        await signed_post(
            client,
            lena,
            "/batches",
            "batch.registered",
            f"{product}/10/{LOT}",
            {
                "product": "UC-MSC",
                "lot": LOT,
                "donor_code": "D-BENCH",
                "processing_class": "advanced-therapy",
                "manufactured_on": "2026-10-01",
                "expires_on": "2027-10-01",
                "specification_version": 1,
                "vials": serials,
                "site": "LAB1",
            },
        )
        pairs = []
        for n, serial in enumerate(serials):
            a = await person(client, admin, f"courier-a{n}", "courier")
            b = await person(client, admin, f"courier-b{n}", "courier")
            vial = f"{product}/10/{LOT}/21/{serial}"
            await signed_post(
                client,
                lena,
                "/custody/store",
                "custody.stored",
                vial,
                {"site": "LAB1", "unit": "LN2-A", "rack": "R1", "box": "B1", "position": serial},
            )
            offered = await signed_post(
                client,
                lena,
                "/custody/handoffs",
                "custody.handover.offered",
                vial,
                {"to": f"user:{a.name}"},
            )
            accepted = await signed_post(
                client,
                a,
                "/custody/handoffs/accept",
                "custody.handover.accepted",
                vial,
                {"handoff": offered["handoff"]},
            )
            pairs.append(Pair(vial, a, b, accepted["next_seq"], accepted["prev"]))
        return pairs


@dataclass
class Tally:
    handoffs: int = 0
    errors: int = 0
    request_latencies: list[float] = field(default_factory=list)
    handoff_latencies: list[float] = field(default_factory=list)


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand.

    The load generator shares the machine's cores with the server, so it must cost as
    little as possible per request: a general client (httpx) spends more CPU per
    request than the server's trivial endpoint, and the figures would measure the
    client. Requests are written whole; responses are read by Content-Length, and
    anything else (chunked, no length, a closed connection) raises `TransportError`,
    after which the caller opens a new connection: an answer is never misread.
    """

    def __init__(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.port = port
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(port, reader, writer)

    async def reopen(self) -> None:
        self.close()
        fresh = await Connection.open(self.port)
        self.reader, self.writer = fresh.reader, fresh.writer

    async def request(
        self, method: str, path: str, headers: dict[str, str], payload: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if payload or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
            head = await self.reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 ") or not head[9:12].isdigit():
                raise TransportError(f"not an HTTP/1.1 answer: {head[:40]!r}")
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
            }
            if b"transfer-encoding" in fields or b"content-length" not in fields:
                raise TransportError(f"{path}: an answer without Content-Length")
            answer = await self.reader.readexactly(int(fields[b"content-length"]))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            raise TransportError(f"{path}: {error!r}") from error
        if fields.get(b"connection", b"").lower() == b"close":
            await self.reopen()
        return int(head[9:12]), answer

    def close(self) -> None:
        self.writer.close()


class TransportError(Exception):
    """The connection broke or answered in a form this client does not read."""


async def lean_signed_post(
    connection: Connection,
    who: Person,
    path: str,
    kind: str,
    subject: str,
    what: dict[str, Any],
    head: tuple[int, str | None],
) -> dict[str, Any]:
    payload = json.dumps(body(who, kind, subject, what, *head)).encode()
    status, answer = await connection.request("POST", path, who.headers, payload)
    if status >= 300:
        raise RuntimeError(f"{path}: {status} {answer[:300]!r}")
    result: dict[str, Any] = json.loads(answer)
    return result


async def pass_back_and_forth(
    connection: Connection, pair: Pair, until: float, tally: Tally
) -> None:
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            offered = await lean_signed_post(
                connection,
                pair.holder,
                "/custody/handoffs",
                "custody.handover.offered",
                pair.vial,
                {"to": f"user:{pair.other.name}"},
                (pair.next_seq, pair.prev),
            )
            middle = time.perf_counter()
            accepted = await lean_signed_post(
                connection,
                pair.other,
                "/custody/handoffs/accept",
                "custody.handover.accepted",
                pair.vial,
                {"handoff": offered["handoff"]},
                (offered["next_seq"], offered["prev"]),
            )
        except (RuntimeError, TransportError, ValueError) as error:
            tally.errors += 1
            say(f"  error: {str(error)[:200]}")
            if isinstance(error, TransportError):
                await connection.reopen()
            status, answer = await connection.request(
                "GET", f"/log/subject-head?subject={quote(pair.vial)}", pair.holder.headers
            )
            got = json.loads(answer)
            pair.next_seq, pair.prev = got["next_seq"], got["prev"]
            continue
        end = time.perf_counter()
        tally.handoffs += 1
        tally.request_latencies += [middle - start, end - middle]
        tally.handoff_latencies.append(end - start)
        pair.holder, pair.other = pair.other, pair.holder
        pair.next_seq, pair.prev = accepted["next_seq"], accepted["prev"]


async def trivial(connection: Connection, until: float, latencies: list[float]) -> None:
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            status, _ = await connection.request("GET", "/healthz", {})
        except TransportError:
            await connection.reopen()
            continue
        if status == 200:
            latencies.append(time.perf_counter() - start)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


@dataclass
class Figures:
    """One configuration's figures, for the table."""

    trivial_rate: float
    rate: float
    p50: float
    p99: float
    handoff_p99: float
    errors: int
    cpu_ms: float = float("nan")
    """Server CPU time (all its processes) per handoff: on a machine shared with other
    work the rate follows the share of the cores the server gets, this does not."""


def cpu_seconds(root: int) -> float:
    """User and system CPU time of a process and all its descendants so far (Linux)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in family)


async def measure(port: int, pairs: list[Pair], seconds: float, server_pid: int = 0) -> Figures:
    connections = [await Connection.open(port) for _ in pairs]
    try:
        latencies: list[float] = []
        until = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(trivial(c, until, latencies) for c in connections))
        trivial_rate = len(latencies) / (time.perf_counter() - start)
        say(
            f"trivial GET /healthz, {len(pairs)} clients: {trivial_rate:7.0f} requests/s   "
            f"p50 {pct(latencies, 50):6.1f} ms   p99 {pct(latencies, 99):6.1f} ms"
        )
        tally = Tally()
        cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
        until = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(
            *(
                pass_back_and_forth(c, p, until, tally)
                for c, p in zip(connections, pairs, strict=True)
            )
        )
        rate = tally.handoffs / (time.perf_counter() - start)
        cpu = cpu_seconds(server_pid) - cpu_before if server_pid else float("nan")
        requests = tally.request_latencies
        figures = Figures(
            trivial_rate,
            rate,
            pct(requests, 50),
            pct(requests, 99),
            pct(tally.handoff_latencies, 99),
            tally.errors,
            1000 * cpu / max(tally.handoffs, 1),
        )
        say(
            f"signed two-party handoffs, {len(pairs)} clients: {rate:7.0f} handoffs/s "
            f"({2 * rate:.0f} signed requests/s)   request p50 {figures.p50:6.1f} ms   "
            f"p99 {figures.p99:6.1f} ms   "
            f"handoff p99 {figures.handoff_p99:6.1f} ms   errors {tally.errors}"
        )
        say(f"  signed requests / trivial requests: {2 * rate / trivial_rate:.2f}")
        say(f"  server CPU per handoff: {figures.cpu_ms:.2f} ms")
        say("  targets on SQLite: >= 500 handoffs/s, p99 <= 150 ms, no errors")
        return figures
    finally:
        for c in connections:
            c.close()


class Server:
    """`traceability serve` on one database file, its log in a file beside it."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log_path: Path) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("wb")  # a file, not a pipe nobody reads (it could fill)
        exe = str(ROOT / ".venv/bin/traceability")
        self.process = subprocess.Popen(
            [exe, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        self.log_file.close()
        failures = self.log_path.read_text(errors="replace").count("Traceback")
        if failures:
            say(f"  the server logged {failures} traceback(s); last lines:")
            say(self.log_path.read_text(errors="replace")[-2000:])


def run(
    clients: int = 64,
    seconds: float = 20.0,
    workers: int = 1,
    configs: list[str] | None = None,
    rounds: int = 1,
) -> None:
    """Set up once, then measure each configuration on its own copy of the set-up
    database, back to back: `configs` are environment settings for the server
    ("NAME=value" pairs, comma-separated; "" for none). Without it, one run as configured.
    `rounds`: the list is measured this many times over, interleaved, so that a load
    elsewhere on the machine falls on every configuration alike; the table shows each
    configuration's median."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        template = tmp / "template.db"
        env = dict(
            os.environ,
            TRACE_ENVIRONMENT="development",
            TRACE_DATABASE_URL=f"sqlite:///{template}",
            TRACE_KEY_DIR=str(tmp / "keys"),
            TRACE_ORIGIN=ORIGIN,
            TRACE_RESOLVER_BASE=f"http://127.0.0.1:{port}",
            TRACE_SCANS_PER_MINUTE="1000000",
            TRACE_CHECKPOINT_EVERY="1000",
        )
        exe = str(ROOT / ".venv/bin/traceability")
        subprocess.run([exe, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [exe, "users", "add", "admin", "--full-name", "Admin", "--role", "admin"],
            env={**env, "TRACE_NEW_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
        )
        base = f"http://127.0.0.1:{port}"
        say(
            f"machine: {os.cpu_count()} cores; server: uvicorn, {workers} worker "
            "process(es), on SQLite (WAL, synchronous=FULL); the clients run on the "
            "same machine"
        )
        server = Server(env, port, workers, tmp / "setup.log")
        try:
            t = time.perf_counter()
            pairs = asyncio.run(set_up(base, clients))
            took = time.perf_counter() - t
            say(f"set up {clients} courier pairs with a vial each in {took:.0f} s")
        finally:
            server.stop()
        table: list[tuple[str, Figures]] = []
        chosen: list[str | None] = list(configs) if configs is not None else [None]
        for n, config in enumerate(chosen * rounds):
            copy = tmp / f"run{n}.db"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{template}{suffix}").exists():
                    shutil.copyfile(f"{template}{suffix}", f"{copy}{suffix}")
            run_env = {**env, "TRACE_DATABASE_URL": f"sqlite:///{copy}"}
            for setting in filter(None, (config or "").split(",")):
                variable, _, value = setting.partition("=")
                run_env[variable] = value
            name = "(as configured)" if config is None else (config or "as it is")
            say(f"--- {name}")
            server = Server(run_env, port, workers, tmp / f"run{n}.log")
            try:
                figures = asyncio.run(measure(port, copy_pairs(pairs), seconds, server.process.pid))
            finally:
                server.stop()
            table.append((name, figures))
        say("")
        say(
            f"{'configuration':<34} {'handoffs/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'errors':>6} {'healthz/s':>9}"
        )
        for name, f in table:
            say(
                f"{name:<34} {f.rate:>10.0f} {f.p50:>7.1f} {f.p99:>7.1f} {f.errors:>6} "
                f"{f.trivial_rate:>9.0f}"
            )


def copy_pairs(pairs: list[Pair]) -> list[Pair]:
    """The pairs as set up (each configuration starts from the same database)."""
    return [Pair(p.vial, p.holder, p.other, p.next_seq, p.prev) for p in pairs]


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 64)
