"""The log as C2SP tlog-tiles (c2sp.org/tlog-tiles): names, encodings, and a reader that
verifies a copy.

A tiled log is a set of static files any mirror can hold: ``checkpoint`` (the signed
checkpoint note), level tiles ``tile/<L>/<N>`` holding 256 consecutive 32-byte Merkle
tree hashes at tree height ``8 * L`` (at level 0 the leaf hashes; hash ``i`` of the
level-L tile N is the root of the complete subtree over entries
``[(256 N + i) 256**L, (256 N + i + 1) 256**L)``), and entry bundles
``tile/entries/<N>`` holding entries ``256 N`` to ``256 N + 255``, each prefixed by its
length as a big-endian uint16 (so an entry holds at most 65,535 bytes). ``N`` is written
in three-digit groups, all but the last prefixed by ``x`` (1234067 is
``x001/x234/067``); the rightmost tiles of a tree are partial, ``.p/<W>`` holding the
first ``W`` (1 to 255) hashes or entries.

``TiledLog`` reads a copy from a URL or a directory laid out as those paths, tile by
tile, in constant memory: it verifies the checkpoint's signature before it fetches
anything the checkpoint's size calls for (the spec requires it), recomputes every leaf
hash from the entry bundles, every level tile from the leaves below it (a mirror may
not serve a tile the entries do not determine), and the root. It reports what the
*tiles* get wrong as ``TileFinding``s and hands each entry's exact bytes to the caller,
which checks what the entries say (``verify_tiled_log`` below checks only the tree;
the service's ``verify-log --tiles`` also checks every entry's format, signature and
chains).

This module must never import anything beyond the standard library and
``cryptography`` (through ``audit``).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Protocol

from audit.checkpoint import Checkpoint, verify_checkpoint
from audit.entry import MAX_ENTRY_SIZE
from audit.errors import (
    CheckpointError,
    FormatError,
    SourceError,
    TileError,
    TilePathError,
)
from audit.merkle import HASH_SIZE, frontier_append, frontier_root, leaf_hash, root
from audit.note import Verifier

__all__ = [
    "CHECKPOINT_PATH",
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "DirectoryTiles",
    "HttpTiles",
    "Tile",
    "TileFinding",
    "TileSource",
    "TiledLog",
    "decode_bundle",
    "encode_bundle",
    "encode_index",
    "open_tiles",
    "parse_level",
    "parse_tile_index",
    "tiles_for",
    "verify_tiled_log",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes (or entries) in a full tile: 256."""

MAX_LEVEL = 63

CHECKPOINT_PATH = "checkpoint"

MAX_INDEX_GROUPS = 7
"""Three-digit groups in a tile index: seven reach past 2**64, more name no tile."""

MAX_RESOURCE = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
"""The largest file of a tiled log (a full bundle of the largest entries); a reader
never takes more from a source, so a hostile mirror cannot exhaust its memory."""

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_INDEX = re.compile(rf"((?:x[0-9]{{3}}/){{0,{MAX_INDEX_GROUPS - 1}}})([0-9]{{3}})(?:\.p/([^/]*))?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")


# --- names ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """One file of a tiled log: the level-``level`` tile ``index``, or the entry bundle
    ``index`` when ``level`` is None; ``width`` hashes or entries (256 when full)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise FormatError(f"tile level {self.level} is not in [0, {MAX_LEVEL}]")
        if self.index < 0:
            raise FormatError(f"tile index {self.index} is negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise FormatError(f"tile width {self.width} is not in [1, {TILE_WIDTH}]")

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def span(self) -> int:
        """Entries under one of the tile's hashes: 256**level (1 for a bundle)."""
        return 1 << (TILE_HEIGHT * (self.level or 0))

    @property
    def start(self) -> int:
        """The first entry under the tile."""
        return self.index * TILE_WIDTH * self.span

    @property
    def end(self) -> int:
        """One past the last entry under the tile's ``width`` hashes or entries."""
        return self.start + self.width * self.span

    def path(self) -> str:
        kind = "entries" if self.level is None else str(self.level)
        suffix = "" if self.full else f".p/{self.width}"
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"


def encode_index(index: int) -> str:
    """``N`` as a path: 1234067 -> ``x001/x234/067``."""
    if index < 0:
        raise FormatError(f"tile index {index} is negative")
    path = f"{index % 1000:03d}"
    index //= 1000
    while index:
        path = f"x{index % 1000:03d}/{path}"
        index //= 1000
    return path


def parse_level(text: str) -> int:
    """``L``: decimal 0 to 63, no leading zeros."""
    if not _LEVEL.fullmatch(text) or int(text) > MAX_LEVEL:
        raise TilePathError(
            f"L must be a level from 0 to {MAX_LEVEL} in decimal without leading zeros",
            field="L",
        )
    return int(text)


def parse_tile_index(text: str) -> tuple[int, int]:
    """``N[.p/W]`` as written in a tile path: (index, width), width 256 for a full tile.

    Only the one spelling the spec gives is accepted (no leading ``x000`` group), so
    that a tile has one name, and a cache one copy.
    """
    match = _INDEX.fullmatch(text)
    if match is None:
        raise TilePathError(
            "N must be three-digit groups, all but the last starting with x "
            "(1234067 is x001/x234/067), optionally followed by .p/W",
            field="N",
        )
    groups, last, width_text = match.groups()
    if groups.startswith("x000/"):
        raise TilePathError("N must not start with a zero group (x000/)", field="N")
    index = 0
    for group in [*groups.split("/")[:-1], last]:
        index = index * 1000 + int(group.removeprefix("x"))
    if width_text is None:
        return index, TILE_WIDTH
    if not _WIDTH.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
        raise TilePathError(
            f"W must be a partial tile's width, 1 to {TILE_WIDTH - 1}, without leading zeros",
            field="W",
        )
    return index, int(width_text)


def tiles_for(size: int) -> Iterator[Tile]:
    """Every file a copy of the tree of ``size`` entries holds besides its checkpoint:
    entry bundles and level-0 tiles in index order, then each higher level's tiles."""
    if size < 0:
        raise FormatError(f"tree size {size} is negative")
    for level in [None, *range(MAX_LEVEL + 1)]:
        span = 1 << (TILE_HEIGHT * (level or 0))
        hashes = size // span
        if hashes == 0:
            return
        for index in range(hashes // TILE_WIDTH):
            yield Tile(level, index)
        if hashes % TILE_WIDTH:
            yield Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH)


# --- encodings ------------------------------------------------------------------


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry prefixed by its length as a big-endian uint16."""
    parts: list[bytes] = []
    for n, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise FormatError(
                f"entry {n} of the bundle is {len(entry)} bytes; a bundle holds at most "
                f"{MAX_ENTRY_SIZE}"
            )
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_bundle(data: bytes, width: int) -> list[bytes]:
    """The ``width`` entries of an entry bundle; raises TileError if it holds other."""
    entries: list[bytes] = []
    position = 0
    while position < len(data):
        if len(entries) == width:
            raise TileError(f"the bundle holds more than {width} entries")
        if position + 2 > len(data):
            raise TileError(f"the bundle ends inside the length of entry {len(entries)}")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise TileError(f"the bundle ends inside entry {len(entries)}")
        entries.append(data[position : position + length])
        position += length
    if len(entries) != width:
        raise TileError(f"the bundle holds {len(entries)} entries, not {width}")
    return entries


def _hashes(data: bytes, tile: Tile) -> list[bytes]:
    if len(data) != HASH_SIZE * tile.width:
        raise TileError(
            f"{tile.path()} is {len(data)} bytes, not {tile.width} hashes "
            f"({HASH_SIZE * tile.width} bytes)"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


# --- sources --------------------------------------------------------------------


class TileSource(Protocol):
    """Where a copy of a tiled log is read from."""

    def fetch(self, path: str) -> bytes | None:
        """The file at ``path`` (relative, as ``Tile.path`` writes it), None if the copy
        does not have it; raises SourceError if the copy cannot be read at all."""
        ...


def _inflate(data: bytes, what: str) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(data, MAX_RESOURCE + 1)
    except zlib.error as e:
        raise SourceError(f"{what}: the gzip body is malformed ({e})") from None


class HttpTiles:
    """A tiled log served over HTTP(S) at ``base_url`` (the spec's *prefix*)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FormatError(f"{base_url!r} is not an http or https URL")
        if parts.query or parts.fragment:
            raise FormatError(f"{base_url!r}: a log's prefix has no query or fragment")
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout

    def fetch(self, path: str) -> bytes | None:
        url = self.base_url + path
        request = urllib.request.Request(  # noqa: S310 - the scheme is http(s), checked above
            url, headers={"Accept-Encoding": "gzip, identity", "User-Agent": "trace-audit"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                data = response.read(MAX_RESOURCE + 1)
                encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        except urllib.error.HTTPError as e:
            e.close()
            if e.code in (404, 410):
                return None
            raise SourceError(f"{url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, HTTPException, OSError) as e:
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            raise SourceError(f"{url}: {reason}") from None
        if encoding == "gzip":
            return _inflate(data, url)
        if encoding != "identity":
            raise SourceError(f"{url}: unexpected Content-Encoding {encoding!r}")
        return bytes(data)


class DirectoryTiles:
    """A tiled log copied into a directory, each file at its path under ``root``."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a directory")
        self.root = root

    def fetch(self, path: str) -> bytes | None:
        try:
            with (self.root / path).open("rb") as file:
                return file.read(MAX_RESOURCE + 1)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise SourceError(f"{self.root / path}: {e.strerror or e}") from None


def open_tiles(location: str, *, timeout: float = 30.0) -> TileSource:
    """``HttpTiles`` for an http(s) URL, else ``DirectoryTiles`` for a directory."""
    if urllib.parse.urlsplit(location).scheme in ("http", "https"):
        return HttpTiles(location, timeout=timeout)
    return DirectoryTiles(Path(location))


# --- reading and checking a copy --------------------------------------------------


@dataclass(frozen=True)
class TileFinding:
    """Something a copy's tiles get wrong, at the first entry it affects.

    Kinds: ``unavailable`` (the copy lacks a file the checkpoint calls for),
    ``tile-mismatch`` (a tile or bundle is malformed, or a hash in it is not the one
    the entries determine), ``checkpoint-mismatch`` (the checkpoint's root is not the
    entries' root; only ``verify_tiled_log`` reports it).
    """

    index: int
    kind: str
    detail: str


Expected = tuple[bytes | None, bool]
"""A hash as the entries give it (None where they could not be read), and whether a
finding below it already explains a disagreement, so that a changed entry is reported
once, at level 0, rather than again in every tile above it."""


def _subtree(hashes: Sequence[Expected], reported: bool) -> Expected:
    """The root over a full tile's hashes, known only if each of them is."""
    known = [h for h, _ in hashes if h is not None]
    whole = root(known) if len(known) == len(hashes) else None
    return whole, reported or any(r for _, r in hashes)


@dataclass
class TiledLog:
    """A tiled copy of a log whose checkpoint verified; ``entries()`` reads the rest.

    Open one with ``TiledLog.open``. ``findings`` fills as ``entries()`` is read;
    ``root`` is the entries' root once all were read, None if some could not be.
    """

    source: TileSource
    note: str
    checkpoint: Checkpoint
    findings: list[TileFinding] = field(default_factory=list)
    root: bytes | None = None

    @classmethod
    def open(cls, source: TileSource, verifier: Verifier) -> TiledLog:
        """Read and verify the copy's checkpoint with the log's key.

        Raises SourceError if the copy has no checkpoint or cannot be read, and
        VerificationError (NoteError, SignatureError, CheckpointError) if the checkpoint
        does not verify: then nothing else in the copy may be fetched on its word.
        """
        data = source.fetch(CHECKPOINT_PATH)
        if data is None:
            raise SourceError("the copy has no checkpoint")
        try:
            note = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("the checkpoint is not UTF-8 text") from None
        return cls(source, note, verify_checkpoint(note, verifier))

    @property
    def size(self) -> int:
        return self.checkpoint.size

    def _find(self, index: int, kind: str, detail: str) -> None:
        self.findings.append(TileFinding(index, kind, detail))

    def _check_tile(self, tile: Tile, expected: Sequence[Expected]) -> bool:
        """Fetch a level tile and compare it with the hashes the entries give; True if it
        disagrees where nothing below explains it (a finding is then recorded)."""
        data = self.source.fetch(tile.path())
        if data is None:
            self._find(tile.start, "unavailable", f"the copy has no {tile.path()}")
            return False
        try:
            served = _hashes(data, tile)
        except TileError as e:
            self._find(tile.start, "tile-mismatch", str(e))
            return False
        wrong = [
            i
            for i, (h, reported) in enumerate(expected)
            if h is not None and not reported and h != served[i]
        ]
        if not wrong:
            return False
        first = tile.start + wrong[0] * tile.span
        if tile.span == 1:
            which = f"the entries' leaf hashes (the first is entry {first}'s)"
        else:
            which = f"those of the entries (the first covers {first} to {first + tile.span - 1})"
        self._find(
            first,
            "tile-mismatch",
            f"{tile.path()}: {len(wrong)} of its {tile.width} hashes are not {which}",
        )
        return True

    def _bundle(self, tile: Tile) -> list[bytes] | None:
        data = self.source.fetch(tile.path())
        if data is None:
            self._find(tile.start, "unavailable", f"the copy has no {tile.path()}")
            return None
        try:
            return decode_bundle(data, tile.width)
        except TileError as e:
            self._find(tile.start, "tile-mismatch", f"{tile.path()}: {e}")
            return None

    def _carry(self, pending: list[list[Expected]], index: int, subtree: Expected) -> None:
        """Add the root of full bundle ``index`` to the level-1 tile being filled; check
        each tile it completes, whose root then goes one level up, and so on."""
        level = 1
        while True:
            pending[level].append(subtree)
            if len(pending[level]) < TILE_WIDTH:
                return
            index //= TILE_WIDTH
            found = self._check_tile(Tile(level, index), pending[level])
            subtree = _subtree(pending[level], found)
            pending[level] = []
            level += 1

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """(index, exact bytes) of every entry the checkpoint covers that the copy holds,
        in index order, checking every tile on the way; read it once."""
        size = self.size
        pending: list[list[Expected]] = [[] for _ in range(MAX_LEVEL + 2)]
        """pending[k]: the hashes of the level-k tile being filled (k >= 1)."""
        frontier: list[bytes] = []
        complete = True
        for bundle in (t for t in tiles_for(size) if t.level is None):
            entries = self._bundle(bundle)
            if entries is None:
                leaves: list[Expected] = [(None, True)] * bundle.width
                complete = False
            else:
                leaves = []
                for offset, entry in enumerate(entries):
                    leaf = leaf_hash(entry)
                    leaves.append((leaf, False))
                    if complete:  # the root needs every leaf before this one
                        frontier = frontier_append(frontier, bundle.start + offset, leaf)
                    yield bundle.start + offset, entry
            found = self._check_tile(Tile(0, bundle.index, bundle.width), leaves)
            if bundle.full:
                self._carry(pending, bundle.index, _subtree(leaves, found))
        for tile in tiles_for(size):
            if tile.level is not None and tile.level >= 1 and not tile.full:
                self._check_tile(tile, pending[tile.level])
        self.root = frontier_root(frontier, size) if complete else None


def verify_tiled_log(source: TileSource, verifier: Verifier) -> list[TileFinding]:
    """Check a copy's tree on its own: checkpoint signature, every tile, the root.

    What the entries say (their format, signatures, chains) is the caller's to check;
    the service's ``verify-log --tiles`` does. Raises as ``TiledLog.open``.
    """
    log = TiledLog.open(source, verifier)
    for _ in log.entries():
        pass
    if log.root is not None and log.root != log.checkpoint.root_hash:
        log.findings.append(
            TileFinding(
                log.size - 1,
                "checkpoint-mismatch",
                f"the checkpoint of size {log.size} does not sign the entries' root",
            )
        )
    return sorted(log.findings, key=lambda f: f.index)
