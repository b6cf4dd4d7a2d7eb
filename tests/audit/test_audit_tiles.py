"""Tests of audit.tiles: tile names and encodings as c2sp.org/tlog-tiles writes them, and
the reader that verifies a tiled copy, against copies this file builds from the spec's
own formula (each hash of a tile is MTH over the entries under it), not from the reader.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audit import merkle, note
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.errors import (
    FormatError,
    NoteError,
    SignatureError,
    SourceError,
    TileError,
    TilePathError,
)
from audit.tiles import (
    MAX_ENTRY_SIZE,
    DirectoryTiles,
    HttpTiles,
    Tile,
    TiledLog,
    decode_bundle,
    encode_bundle,
    encode_index,
    open_tiles,
    parse_level,
    parse_tile_index,
    tiles_for,
    verify_tiled_log,
)

ORIGIN = "tiles.example/log"
LOG = note.Signer(ORIGIN, hashlib.sha256(b"tiles test log key").digest())
OTHER = note.Signer(ORIGIN, hashlib.sha256(b"someone else").digest())


class MemoryTiles:
    """A copy held in a dict, as a mirror would hold the files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.fetched: list[str] = []

    def fetch(self, path: str) -> bytes | None:
        self.fetched.append(path)
        return self.files.get(path)


def entry(i: int) -> bytes:
    return f'{{"n":{i}}}'.encode() * (1 + i % 3)


def tiled_copy(size: int, signer: note.Signer = LOG) -> dict[str, bytes]:
    """Every file of the tiled log of `size` entries, straight from the spec's formula."""
    entries = [entry(i) for i in range(size)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    files = {"checkpoint": sign_checkpoint(Checkpoint(ORIGIN, size, merkle.root(leaves)), signer)}
    for tile in tiles_for(size):
        first = tile.index * 256
        if tile.level is None:
            files[tile.path()] = encode_bundle(entries[first : first + tile.width])
            continue
        span = 256**tile.level
        files[tile.path()] = b"".join(
            merkle.root(leaves[(first + i) * span : (first + i + 1) * span])
            for i in range(tile.width)
        )
    return files


# --- names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_paths_are_the_specs(index: int, path: str) -> None:
    assert encode_index(index) == path
    assert parse_tile_index(path) == (index, 256)
    assert parse_tile_index(path + ".p/17") == (index, 17)


def test_tile_paths() -> None:
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert Tile(2, 5, 3).path() == "tile/2/005.p/3"
    assert Tile(None, 1000, 255).path() == "tile/entries/x001/000.p/255"
    assert Tile(1, 2, 10).start == 2 * 65536 and Tile(1, 2, 10).end == 2 * 65536 + 10 * 256


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("", "N"),
        ("1", "N"),
        ("0001", "N"),
        ("x1/000", "N"),
        ("001/000", "N"),
        ("x000/001", "N"),  # not the one spelling of 1
        ("00a", "N"),
        ("٠٠١", "N"),  # Arabic-Indic digits are digits to \d, not to the spec
        ("x001/x002/x003/x004/x005/x006/x007/000", "N"),
        ("000/", "N"),
        ("000.p/0", "W"),
        ("000.p/256", "W"),
        ("000.p/07", "W"),
        ("000.p/", "W"),
        ("000.p/1/2", "N"),
    ],
)
def test_bad_tile_indices_name_their_part(text: str, field: str) -> None:
    with pytest.raises(TilePathError) as raised:
        parse_tile_index(text)
    assert raised.value.field == field


@pytest.mark.parametrize("text", ["", "64", "01", "-1", "1.0", "x1"])
def test_bad_levels(text: str) -> None:
    with pytest.raises(TilePathError) as raised:
        parse_level(text)
    assert raised.value.field == "L"
    assert [parse_level(t) for t in ("0", "9", "63")] == [0, 9, 63]


def test_the_specs_tree_of_70000() -> None:
    """ "A tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
    level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
    17, and one partial level 2 tile of width 1"; bundles as level 0."""
    tiles = list(tiles_for(70_000))
    for level in (None, 0):
        mine = [t for t in tiles if t.level == level]
        assert [t for t in mine if t.full] == [Tile(level, n) for n in range(273)]
        assert [t for t in mine if not t.full] == [Tile(level, 273, 112)]
    assert [t for t in tiles if t.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert [t for t in tiles if t.level == 2] == [Tile(2, 0, 1)]
    assert len(tiles) == 2 * 274 + 3
    assert list(tiles_for(256)) == [Tile(None, 0), Tile(0, 0), Tile(1, 0, 1)]
    assert list(tiles_for(0)) == []


def test_bundles_round_trip_and_refuse_what_is_not_one() -> None:
    entries = [b"", b"a", b"x" * MAX_ENTRY_SIZE]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert decode_bundle(data, 3) == entries
    for bad, width in ((data, 2), (data, 4), (data[:-1], 3), (data + b"\x00", 4)):
        with pytest.raises(TileError):
            decode_bundle(bad, width)
    with pytest.raises(FormatError, match="at most 65535"):
        encode_bundle([b"x" * (MAX_ENTRY_SIZE + 1)])


# --- reading a copy ------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 255, 256, 257, 513, 256 * 256 + 2 * 256 + 5])
def test_an_intact_copy_verifies_and_yields_every_entry(size: int) -> None:
    source = MemoryTiles(tiled_copy(size))
    log = TiledLog.open(source, LOG.verifier())
    assert list(log.entries()) == [(i, entry(i)) for i in range(size)]
    assert log.findings == []
    assert log.root == log.checkpoint.root_hash
    assert sorted(source.fetched) == sorted(source.files)  # every file, each once
    assert verify_tiled_log(MemoryTiles(source.files), LOG.verifier()) == []


def test_a_changed_entry_is_found_where_it_is() -> None:
    files = tiled_copy(600)
    bundle = bytearray(files["tile/entries/001"])
    bundle[-3] ^= 1  # in the last entry of the bundle: entry 511
    files["tile/entries/001"] = bytes(bundle)
    findings = verify_tiled_log(MemoryTiles(files), LOG.verifier())
    assert [(f.index, f.kind) for f in findings] == [
        (511, "tile-mismatch"),
        (599, "checkpoint-mismatch"),
    ]
    assert "tile/0/001" in findings[0].detail


def test_a_wrong_level_tile_is_found_though_the_entries_are_intact() -> None:
    size = 256 * 256 + 300
    files = tiled_copy(size)
    tile = bytearray(files["tile/1/000"])
    tile[32 * 7] ^= 1
    files["tile/1/000"] = bytes(tile)
    findings = verify_tiled_log(MemoryTiles(files), LOG.verifier())
    assert [(f.index, f.kind) for f in findings] == [(7 * 256, "tile-mismatch")]
    assert findings[0].detail.startswith("tile/1/000: 1 of its 256 hashes")


def test_partial_tiles_are_checked_too() -> None:
    files = tiled_copy(513)
    files["tile/1/000.p/2"] = files["tile/1/000.p/2"][:32] + bytes(32)
    files["tile/0/002.p/1"] = files["tile/0/002.p/1"] + bytes(32)
    findings = verify_tiled_log(MemoryTiles(files), LOG.verifier())
    assert [(f.index, f.kind) for f in findings] == [(256, "tile-mismatch"), (512, "tile-mismatch")]
    assert "64 bytes, not 1 hashes" in findings[1].detail


def test_missing_and_malformed_files_are_findings_and_the_rest_is_read() -> None:
    files = tiled_copy(800)
    del files["tile/entries/001"]
    files["tile/entries/002"] = files["tile/entries/002"][:-1]
    del files["tile/0/000"]
    log = TiledLog.open(MemoryTiles(files), LOG.verifier())
    indices = [i for i, _ in log.entries()]
    assert indices == [*range(256), *range(768, 800)]
    assert [(f.index, f.kind) for f in log.findings] == [
        (0, "unavailable"),
        (256, "unavailable"),
        (512, "tile-mismatch"),
    ]
    assert log.root is None


def test_a_checkpoint_that_does_not_verify_stops_the_reader() -> None:
    files = tiled_copy(10, OTHER)
    source = MemoryTiles(files)
    with pytest.raises((NoteError, SignatureError)):
        TiledLog.open(source, LOG.verifier())
    assert source.fetched == ["checkpoint"]  # nothing fetched on an unverified size
    with pytest.raises(SourceError, match="no checkpoint"):
        TiledLog.open(MemoryTiles({}), LOG.verifier())


def test_sources(tmp_path: Path) -> None:
    files = tiled_copy(300)
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    source = open_tiles(str(tmp_path))
    assert isinstance(source, DirectoryTiles)
    assert verify_tiled_log(source, LOG.verifier()) == []
    assert source.fetch("tile/0/x001/000") is None
    assert isinstance(open_tiles("https://mirror.example/log/"), HttpTiles)
    with pytest.raises(SourceError, match="not a directory"):
        open_tiles(str(tmp_path / "nothing"))
    for bad in ("ftp://mirror.example/", "https://mirror.example/log?x=1", "http:///x"):
        with pytest.raises(FormatError):
            HttpTiles(bad)
    with pytest.raises(SourceError):
        HttpTiles("http://127.0.0.1:9/", timeout=2).fetch("checkpoint")
