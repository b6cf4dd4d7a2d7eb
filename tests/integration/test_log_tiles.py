"""The log published as C2SP tlog-tiles, over real HTTP, on SQLite and PostgreSQL.

Every file served is compared with what the entries determine, recomputed here from the
entries' bytes by RFC 9162's definition (not by the service's tree nor `audit.tiles`'s
reader); a mirror made by downloading the files verifies with `verify-log --tiles`, and
a changed byte anywhere in it is found.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from audit.checkpoint import verify_checkpoint
from audit.tiles import HttpTiles, Tile, tiles_for, verify_tiled_log
from tests.log_support import ORIGIN, VIAL, LogWorld, make_log
from tests.support import Api
from traceability.cli.main import app
from traceability.errors import InvalidInputError
from traceability.settings import Settings, load_settings

FULL = "public, max-age=31536000, immutable"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The app signs nothing here, but shares the log's key directory and origin."""
    return load_settings(
        environment="development",
        database_url=database_url,
        key_dir=str(tmp_path / "keys"),
        origin=ORIGIN,
    )


@pytest.fixture
def world(api: Api) -> LogWorld:
    key_dir = Path(api.settings.key_dir)
    return LogWorld(
        db=api.db, log=make_log(api.db, key_dir, checkpoint_every=10**6), key_dir=key_dir
    )


def grow(world: LogWorld, count: int, *, checkpoint: bool = True) -> int:
    """Append `count` service events (and a person's signed statements), in one unit of
    work for speed; sign a checkpoint of the result. Returns the log's size."""
    if "lena" not in world.people:
        world.person("lena")
    with world.db.write() as session:
        for n in range(count):
            world.log.append_as_service(
                session, subject=VIAL.format(n % 37), type="vial.commissioned", now=world.tick()
            )
    world.append("lena", VIAL.format(0), type="qc.result.entered")
    with world.db.write() as session:
        if checkpoint:
            return world.log.issue_checkpoint(session, now=world.tick()).size
        return int(session.exec(text("SELECT count(*) FROM log_entries")).one()[0])


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, as written there."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def split_bundle(data: bytes) -> list[bytes]:
    out = []
    while data:
        n = int.from_bytes(data[:2], "big")
        out.append(data[2 : 2 + n])
        data = data[2 + n :]
    return out


def stored_entries(world: LogWorld) -> list[bytes]:
    with world.db.read() as session:
        rows = session.exec(text("SELECT entry FROM log_entries ORDER BY idx")).all()
    return [bytes(r[0]) for r in rows]


def test_the_tiles_are_the_stored_tree(api: Api, world: LogWorld) -> None:
    size = grow(world, 600)
    assert 512 < size < 768
    checkpoint = api.client.get("/checkpoint")
    assert checkpoint.status_code == 200
    assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
    assert checkpoint.headers["cache-control"] == "no-cache"
    signed = verify_checkpoint(checkpoint.text, world.log.keys.log.verifier())
    assert signed.size == size

    entries: list[bytes] = []
    for bundle in (t for t in tiles_for(size) if t.level is None):
        response = api.client.get(f"/{bundle.path()}", headers={"accept-encoding": "identity"})
        assert response.status_code == 200, response.text
        entries += split_bundle(response.content)
    assert entries == stored_entries(world)
    leaves = [hashlib.sha256(b"\x00" + e).digest() for e in entries]
    assert mth(leaves) == signed.root_hash

    served = [t for t in tiles_for(size) if t.level is not None]
    assert [t.path() for t in served] == [
        "tile/0/000",
        "tile/0/001",
        f"tile/0/002.p/{size - 512}",
        "tile/1/000.p/2",
    ]
    for tile in served:
        response = api.client.get(f"/{tile.path()}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        span = 256**tile.level  # type: ignore[operator]
        first = tile.index * 256
        assert response.content == b"".join(
            mth(leaves[(first + i) * span : (first + i + 1) * span]) for i in range(tile.width)
        )
        if tile.full:
            assert response.headers["cache-control"] == FULL
        else:
            assert response.headers["cache-control"] == "public, max-age=60"

    # The reader of `audit` agrees, over HTTP.
    assert (
        verify_tiled_log(HttpTiles(str(api.client.base_url)), world.log.keys.log.verifier()) == []
    )


def test_entry_bundles_are_gzipped_for_clients_that_accept_it(api: Api, world: LogWorld) -> None:
    grow(world, 300)
    plain = api.client.get("/tile/entries/000", headers={"accept-encoding": "identity"})
    zipped = api.client.get("/tile/entries/000", headers={"accept-encoding": "gzip"})
    refused = api.client.get("/tile/entries/000", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content == refused.content  # httpx inflates it
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content
    assert plain.headers["cache-control"] == FULL


def test_only_what_the_checkpoint_covers_is_served(api: Api, world: LogWorld) -> None:
    assert api.client.get("/checkpoint").status_code == 404
    assert api.client.get("/tile/entries/000.p/1").status_code == 404
    size = grow(world, 300)
    grow(world, 300, checkpoint=False)  # appended, not yet covered by a checkpoint
    partial = size - 256
    assert api.client.get(f"/tile/0/001.p/{partial}").status_code == 200
    assert api.client.get("/tile/0/001.p/1").status_code == 200  # an older size's tile
    for path in (
        f"/tile/0/001.p/{partial + 1}",
        "/tile/0/001",
        "/tile/entries/001",
        "/tile/entries/002.p/1",
        "/tile/1/000",
        "/tile/1/000.p/2",
        "/tile/5/000.p/1",
        "/tile/0/x001/000",
    ):
        response = api.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert "beyond the published checkpoint" in response.json()["detail"]
    assert api.client.get("/tile/1/000.p/1").status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tile/0/1234", "N"),
        ("/tile/0/01", "N"),
        ("/tile/0/x000/001", "N"),
        ("/tile/0/x1/000", "N"),
        ("/tile/0/000/", "N"),
        ("/tile/0/", "N"),
        ("/tile/entries/abc", "N"),
        ("/tile/0/000.p/0", "W"),
        ("/tile/0/000.p/256", "W"),
        ("/tile/entries/000.p/007", "W"),
        ("/tile/entries/000.p/", "W"),
        ("/tile/64/000", "L"),
        ("/tile/01/000", "L"),
        ("/tile/-1/000", "L"),
        ("/tile/x/000", "L"),
    ],
)
def test_bad_tile_paths_are_problems_naming_the_part(
    api: Api, world: LogWorld, path: str, field: str
) -> None:
    grow(world, 1)
    response = api.client.get(path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_tiles_need_no_sign_in_and_are_read_with_one_query_each(api: Api, world: LogWorld) -> None:
    size = grow(world, 300)
    assert Tile(None, 1, size - 256).end == size
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(api.db.engine, "before_cursor_execute", count)
    try:
        for path in ("/tile/entries/000", "/tile/0/000", f"/tile/0/001.p/{size - 256}"):
            statements.clear()
            assert api.client.get(path).status_code == 200
            reads = [s for s in statements if "log_entries" in s or "log_nodes" in s]
            assert len(reads) == 1, (path, reads)
    finally:
        event.remove(api.db.engine, "before_cursor_execute", count)


# --- verify-log --tiles ------------------------------------------------------------

HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "alembic", "traceability.services")
LAUNCH = "import sys\nfrom traceability.cli.entry_point import main\nsys.argv[0] = 'traceability'\n"


def verify_tiles(
    world: LogWorld, where: str, *args: str, code: str = "main()"
) -> tuple[int, str, str]:
    """`traceability audit verify-log --tiles WHERE --log-key KEY` as the console script
    runs it, on a machine with none of the service's settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TRACE_")}
    key = world.log.keys.log.verifier().text()
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-c",
            LAUNCH + code,
            "audit",
            "verify-log",
            "--tiles",
            where,
            "--log-key",
            key,
            *args,
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout, result.stderr


def mirror(api: Api, size: int, into: Path) -> Path:
    """Download the published log into a directory, as a mirror would."""
    for path in ["checkpoint", *(t.path() for t in tiles_for(size))]:
        response = api.client.get(f"/{path}")
        assert response.status_code == 200, (path, response.text)
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        (into / path).write_bytes(response.content)
    return into


def test_a_mirror_verifies_as_the_database_does(api: Api, world: LogWorld, tmp_path: Path) -> None:
    size = grow(world, 600)
    copy = mirror(api, size, tmp_path / "mirror")
    intact = f"{size} entries, 1 checkpoints: intact\n"
    assert verify_tiles(world, str(copy)) == (0, intact, "")
    assert verify_tiles(world, str(api.client.base_url)) == (0, intact, "")
    environment = {
        **os.environ,
        "TRACE_ENVIRONMENT": "development",
        "TRACE_KEY_DIR": str(world.key_dir),
        "TRACE_ORIGIN": ORIGIN,
    }
    database = CliRunner().invoke(
        app,
        [
            "audit",
            "verify-log",
            "--database-url",
            world.db.engine.url.render_as_string(hide_password=False),
        ],
        env=environment,
    )
    assert (database.exit_code, database.output) == (0, intact)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mirror_is_verified_without_the_heavy_imports(
    api: Api, world: LogWorld, tmp_path: Path
) -> None:
    copy = mirror(api, grow(world, 10), tmp_path / "mirror")
    report = (
        "try:\n    main()\nexcept SystemExit as e:\n"
        f"    print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})), e.code)"
    )
    code, out, err = verify_tiles(world, str(copy), code=report)
    assert out.splitlines()[-1] == "[] 0", out + err


ONE_ENGINE = """The tests of a changed mirror run on SQLite only: what they test is the offline
verifier reading files, and the mirror it reads is made and verified on both engines by
test_a_mirror_verifies_as_the_database_does."""


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # see ONE_ENGINE
def test_a_changed_entry_in_a_mirror_is_found(api: Api, world: LogWorld, tmp_path: Path) -> None:
    size = grow(world, 600)
    copy = mirror(api, size, tmp_path / "mirror")
    bundle = copy / "tile/entries/001"
    entries = split_bundle(bundle.read_bytes())
    k = next(i for i, e in enumerate(entries) if b"LOT1" in e)
    offset = sum(2 + len(e) for e in entries[:k]) + 2 + entries[k].index(b"LOT1") + 3
    flip(bundle, offset)  # LOT1 -> LOT0 in entry 256 + k
    code, out, err = verify_tiles(world, str(copy))
    lines = out.splitlines()
    assert code == 1, out + err
    changed = 256 + k
    assert all(line.startswith(f"index {changed}: ") for line in lines[:2]), out
    assert f"index {changed}: tile-mismatch: tile/0/001: 1 of its 256 hashes" in out
    assert f"index {changed}: bad-signature" in out
    assert f"index {changed}: subject-chain: " + VIAL.replace("LOT1", "LOT0")[:-2] in out
    assert f"index {size - 1}: checkpoint-mismatch" in out
    assert lines[-1].startswith(f"{size} entries, 1 checkpoints: ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # see ONE_ENGINE
@pytest.mark.parametrize(
    ("file", "at", "finding"),
    [
        (
            "tile/0/000",
            32 * 5 + 31,
            "index 5: tile-mismatch: tile/0/000: 1 of its 256 hashes are not the entries' "
            "leaf hashes (the first is entry 5's)",
        ),
        (
            "tile/1/000.p/2",
            32 + 7,
            "index 256: tile-mismatch: tile/1/000.p/2: 1 of its 2 hashes are not those of the "
            "entries (the first covers 256 to 511)",
        ),
    ],
)
def test_a_changed_tile_in_a_mirror_is_found(
    api: Api, world: LogWorld, tmp_path: Path, file: str, at: int, finding: str
) -> None:
    size = grow(world, 600)
    copy = mirror(api, size, tmp_path / "mirror")
    flip(copy / file, at)
    code, out, _ = verify_tiles(world, str(copy))
    assert code == 1
    assert out.splitlines() == [finding, f"{size} entries, 1 checkpoints: 1 finding(s)"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # see ONE_ENGINE
@pytest.mark.parametrize("line", [0, 2, 4])  # the origin, the root, the signature
def test_a_changed_checkpoint_in_a_mirror_is_found(
    api: Api, world: LogWorld, tmp_path: Path, line: int
) -> None:
    size = grow(world, 300)
    copy = mirror(api, size, tmp_path / "mirror")
    note = (copy / "checkpoint").read_bytes()
    starts = [0, *(i + 1 for i, c in enumerate(note) if c == ord("\n"))]
    flip(copy / "checkpoint", starts[line] + 5)
    code, out, _ = verify_tiles(world, str(copy))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"index {size - 1}: checkpoint-mismatch: the copy's checkpoint does not verify"
    )
    assert lines[1] == "0 entries, 1 checkpoints: 1 finding(s)"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # see ONE_ENGINE
def test_a_missing_file_is_found_and_the_rest_checked(
    api: Api, world: LogWorld, tmp_path: Path
) -> None:
    size = grow(world, 600)
    copy = mirror(api, size, tmp_path / "mirror")
    (copy / "tile/entries/001").unlink()
    code, out, _ = verify_tiles(world, str(copy))
    assert code == 1
    assert "index 256: unavailable: the copy has no tile/entries/001" in out
    assert "index 256: missing: entries 256 to 511 are not in the log" in out
    assert out.splitlines()[-1].startswith(f"{size - 256} entries, 1 checkpoints: ")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unusable_copies_exit_2_with_one_line(api: Api, world: LogWorld, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for where, message in [
        (str(tmp_path / "nothing"), "is not a directory"),
        (str(tmp_path / "empty"), "the copy has no checkpoint"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9/checkpoint: "),
        ("https://mirror.example/log?x=1", "no query or fragment"),
    ]:
        code, out, err = verify_tiles(world, where)
        assert (code, out) == (2, ""), (where, err)
        assert len(err.splitlines()) == 1 and err.startswith("error: --tiles: "), err
        assert message in err, err
    code, _, err = verify_tiles(world, str(tmp_path), "--database-url", "sqlite:///x.db")
    assert code == 2 and "give one" in err


def test_an_entry_too_long_for_a_bundle_is_refused(api: Api, world: LogWorld) -> None:
    """A bundle gives each entry a uint16 length, so the log holds none longer."""
    size = grow(world, 1)
    with pytest.raises(InvalidInputError, match="at most 65535 bytes"):
        with world.db.write() as session:
            world.log.append_as_service(
                session,
                subject=VIAL.format(1),
                type="vial.commissioned",
                now=world.tick(),
                what={"note": "x" * 65_535},
            )
    with world.db.write() as session:  # just below the limit is stored, and published
        world.log.append_as_service(
            session,
            subject=VIAL.format(1),
            type="vial.commissioned",
            now=world.tick(),
            what={"note": "x" * 65_000},
        )
        world.log.issue_checkpoint(session, now=world.tick())
    bundle = api.client.get(f"/tile/entries/000.p/{size + 1}")
    assert bundle.status_code == 200
    assert split_bundle(bundle.content)[-1] == stored_entries(world)[-1]
