"""Faults of the database (issue 18): down, cut off, or full.

PostgreSQL stopped under load gave writes a generic 500, some no answer at all (the
error left the app and the server dropped the connection); SQLite on a full disk gave
the same 500 while /readyz said "ready". Here: a PostgreSQL reached through a TCP relay
that the test cuts and restores (real connections cut mid-use), a PostgreSQL URL on a
closed port, and a SQLite file held to its size with `PRAGMA max_page_count` (SQLite's
own SQLITE_FULL, "database or disk is full"). Every write is answered: acknowledged
(and then kept), or a 503 problem with Retry-After that names the outage; the
connection stays open; readiness says what is wrong; it all recovers without restart.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, make_url

from tests.support import PASSWORD, LiveServer, add_user, local_client, migrated_postgres_url
from traceability.settings import Settings, load_settings
from traceability.storage import migrate
from traceability.storage.database import Database, create_db_engine
from traceability.web.app import create_app


def settings_for(url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environment="development", database_url=url, key_dir=str(tmp_path / "keys")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    """A TCP relay to PostgreSQL that the test can cut (every connection and the
    listener, as a stopped server or a broken network would) and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        if listener is not None:
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@contextmanager
def serve(server: LiveServer, app: Any) -> Iterator[httpx.Client]:
    server.switch.target = app
    try:
        with local_client(server.base_url) as client:
            yield client
    finally:
        server.switch.wait_idle()
        server.switch.target = None


def token(client: httpx.Client, username: str) -> dict[str, str]:
    answer = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def new_user(name: str) -> dict[str, Any]:
    return {"username": name, "full_name": name.title(), "roles": ["lab"], "password": PASSWORD}


def assert_outage(response: httpx.Response, kind: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["code"] == f"database-{kind}" and kind in body["detail"], body


def two_on_one_connection(base_url: str, first: bytes, second: bytes) -> tuple[bytes, bytes]:
    """Two requests on one keep-alive connection: the first's failure must not drop it."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        answers = []
        for request in (first, second):
            sock.sendall(request)
            received = b""
            while b"\r\n\r\n" not in received:
                data = sock.recv(65536)
                assert data, "the server closed the connection"
                received += data
            head, _, body = received.partition(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length: (\d+)", head)
            assert match is not None, head
            while len(body) < int(match.group(1)):
                data = sock.recv(65536)
                assert data, "the server closed the connection mid-answer"
                body += data
            answers.append(head)
    return answers[0], answers[1]


# --- PostgreSQL unreachable --------------------------------------------------------------


def test_a_postgres_url_on_a_closed_port_is_a_503_not_a_500(
    server: LiveServer, tmp_path: Path
) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere"
    database = Database(create_db_engine(url))
    app = create_app(settings_for(url, tmp_path), database=database)
    try:
        with serve(server, app) as client:
            assert_outage(
                client.post("/auth/token", data={"username": "x", "password": "y"}),
                "unreachable",
            )
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "unreachable" in ready.json()["detail"]
            assert client.get("/healthz").status_code == 200
            first, second = two_on_one_connection(
                server.base_url,
                b"GET /users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer abc\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
            )
            assert first.startswith(b"HTTP/1.1 503") and second.startswith(b"HTTP/1.1 200")
    finally:
        database.dispose()


@pytest.mark.postgres
def test_postgres_cut_under_load_answers_every_write_and_loses_none(
    server: LiveServer, tmp_path: Path
) -> None:
    direct = make_url(migrated_postgres_url())
    relay = Relay((direct.host or "127.0.0.1", direct.port or 5432))
    relay.start()
    url = direct.set(port=relay.port).render_as_string(hide_password=False)
    database = Database(create_db_engine(url))
    add_user(database, "admin", "admin")
    app = create_app(settings_for(url, tmp_path), database=database)
    acknowledged: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(number: int, base_url: str, headers: dict[str, str]) -> None:
        with local_client(base_url) as client:
            i = 0
            while not stop.is_set():
                i += 1
                name = f"w{number}x{i}"
                try:
                    answer = client.post("/users", json=new_user(name), headers=headers)
                except httpx.HTTPError as e:  # a dropped connection: the bug
                    errors.append(e)
                    return
                statuses.append(answer.status_code)
                if answer.status_code == 201:
                    acknowledged.append(name)
                elif answer.status_code != 503:
                    errors.append(AssertionError(f"{answer.status_code}: {answer.text}"))

    try:
        with serve(server, app) as client:
            headers = token(client, "admin")
            writers = [
                threading.Thread(target=writer, args=(n, server.base_url, headers))
                for n in range(4)
            ]
            for thread in writers:
                thread.start()
            threading.Event().wait(1.0)
            relay.cut()  # the database goes away, connections and all
            threading.Event().wait(1.5)
            assert_outage(
                client.post("/users", json=new_user("during"), headers=headers), "unreachable"
            )
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "unreachable" in ready.json()["detail"]
            first, second = two_on_one_connection(
                server.base_url,
                b"GET /users HTTP/1.1\r\nHost: t\r\nAuthorization: "
                + headers["Authorization"].encode()
                + b"\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
            )
            assert first.startswith(b"HTTP/1.1 503") and second.startswith(b"HTTP/1.1 200")
            relay.start()  # back, without restarting the service
            threading.Event().wait(1.5)
            stop.set()
            for thread in writers:
                thread.join(timeout=30)
            assert not errors, errors[:3]
            assert 503 in statuses and statuses.count(201) == len(acknowledged)
            after = client.post("/users", json=new_user("after"), headers=headers)
            assert after.status_code == 201, after.text
            assert client.get("/readyz").status_code == 200
            stored = {u["username"] for u in client.get("/users?limit=500", headers=headers).json()}
            missing = set(acknowledged) - stored
            assert acknowledged and not missing, missing
    finally:
        stop.set()
        relay.cut()
        database.dispose()


# --- SQLite full ---------------------------------------------------------------------------


def test_a_full_sqlite_database_is_a_503_and_readiness_says_so(
    server: LiveServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/full.db"
    database = Database(create_db_engine(url))
    migrate.upgrade(database.engine)
    pages = {"limit": 1_000_000}

    @event.listens_for(database.engine, "checkout")
    def _size_limit(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # What a full disk does to SQLite, on every connection the app's pool hands out.
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages['limit']}")

    add_user(database, "admin", "admin")
    app = create_app(settings_for(url, tmp_path), database=database)
    try:
        with serve(server, app) as client:
            headers = token(client, "admin")
            assert client.get("/readyz").status_code == 200
            with database.engine.connect() as connection:
                pages["limit"] = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            acknowledged, full = [], None
            for i in range(300):
                answer = client.post("/users", json=new_user(f"u{i}"), headers=headers)
                if answer.status_code == 201:
                    acknowledged.append(f"u{i}")
                    continue
                full = answer
                break
            assert full is not None, "the database never filled"
            assert_outage(full, "full")
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "full" in ready.json()["detail"]
            assert client.get("/users", headers=headers).status_code == 200  # reads go on
            body = json.dumps(new_user("keep")).encode()
            first, second = two_on_one_connection(
                server.base_url,
                b"POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                + f"Authorization: {headers['Authorization']}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body,
                b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
            )
            assert first.startswith(b"HTTP/1.1 503") and second.startswith(b"HTTP/1.1 200")

            pages["limit"] = 1_000_000  # room again (a disk freed), no restart
            assert client.post("/users", json=new_user("after"), headers=headers).status_code == 201
            assert client.get("/readyz").status_code == 200
            stored = {u["username"] for u in client.get("/users?limit=500", headers=headers).json()}
            assert set(acknowledged) <= stored
    finally:
        database.dispose()
