"""The bundle reader's limits on memory: the file, the member count, each member and the
sum of all members, each refused (naming the limit) before the bytes it concerns are read.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from audit import bundle
from audit.bundle.reader import ReadLimits
from audit.errors import BundleFormatError
from tests.audit.test_audit_bundle import World, make_world, member, rewrite

FIXED = (bundle.MANIFEST, bundle.CHECKPOINT, bundle.LOG_KEY, bundle.PROOFS, bundle.KEYS)
_CENTRAL = b"PK\x01\x02"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)


def unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make reading any member's bytes fail the test: a refusal must come before."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a member was read before the limits were checked")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


def padded_bundle(path: Path, entries: int, size: int) -> Path:
    """A zip with a bundle's member names: the fixed members and `entries` entry members
    of `size` bytes each (none of it valid evidence: the limits come first)."""
    members = dict.fromkeys(FIXED, b"{}")
    members |= {bundle.entry_name(i): b"x" * size for i in range(entries)}
    bundle.zip_members(path, members)
    return path


def with_directory_sizes(path: Path, size: int) -> Path:
    """The same zip with every entry member's uncompressed size in the central directory
    set to `size`: a directory that claims far more than the file holds."""
    data = bytearray(path.read_bytes())
    at = data.find(_CENTRAL)
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        name = bytes(data[at + 46 : at + 46 + name_length])
        if name.startswith(b"entries/"):
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(_CENTRAL, at + 46)
    out = path.with_name("claims.zip")
    out.write_bytes(bytes(data))
    return out


def test_members_each_under_the_cap_but_together_over_the_total_are_refused(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = padded_bundle(tmp_path / "big.zip", entries=20, size=60_000)
    limits = ReadLimits(total_bytes=1_000_000)
    assert 60_000 < limits.entry_bytes  # each member is within its own limit
    unread(monkeypatch)
    with pytest.raises(BundleFormatError, match=r"limit of 1000000 bytes .*\(total_bytes\)"):
        bundle.verify(path, log_key=world.key, limits=limits)


def test_the_default_total_is_checked_from_the_directory_before_reading(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4,200 entries of 65,000 bytes each (under the entry limit) claim 273 MB in all,
    beyond the default 256 MiB: refused from the directory, nothing read, although the
    file itself is small."""
    claims = with_directory_sizes(padded_bundle(tmp_path / "b.zip", 4200, 1), 65_000)
    assert claims.stat().st_size < 2_000_000
    unread(monkeypatch)
    with pytest.raises(BundleFormatError, match=r"\(total_bytes\)"):
        bundle.verify(claims, log_key=world.key)


def test_one_entry_beyond_the_longest_the_log_holds_is_refused_unread(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = padded_bundle(tmp_path / "long.zip", entries=1, size=0xFFFF + 1)
    unread(monkeypatch)
    with pytest.raises(BundleFormatError, match=r"65535 \(entry_bytes\)"):
        bundle.verify(path, log_key=world.key)


def test_too_many_members_are_refused_before_the_directory_is_parsed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[object] = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: parsed.append(self))
    with pytest.raises(BundleFormatError, match=r"limit of 5 members \(members\)"):
        bundle.verify(world.path, log_key=world.key, limits=ReadLimits(members=5))
    assert not parsed


def test_a_directory_larger_than_its_members_need_is_refused(world: World, tmp_path: Path) -> None:
    """The end record's count may lie; Python's reader parses as many directory bytes as
    the end record says, so their number is held to what the member limit needs."""
    data = bytearray(world.path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 1)  # the count says one member
    lying = tmp_path / "lying.zip"
    lying.write_bytes(bytes(data))
    with pytest.raises(BundleFormatError, match=r"holds 1 members in \d+ bytes.*\(members\)"):
        bundle.verify(lying, log_key=world.key, limits=ReadLimits(members=2))


def test_a_file_beyond_the_bundle_limit_is_refused(world: World) -> None:
    size = world.path.stat().st_size
    with pytest.raises(BundleFormatError, match=rf"limit of {size - 1} bytes \(bundle_bytes\)"):
        bundle.verify(world.path, log_key=world.key, limits=ReadLimits(bundle_bytes=size - 1))


def test_a_member_longer_than_its_directory_says_is_not_taken(world: World, tmp_path: Path) -> None:
    """A directory that understates a member: the reader takes no more than it says and
    the member's checksum then fails, so the bundle is unusable."""
    name = bundle.entry_name(world.stored)
    original = member(world.path, name)
    data = bytearray(world.path.read_bytes())
    at = data.find(_CENTRAL)
    while bytes(data[at + 46 : at + 46 + len(name)]) != name.encode():
        at = data.find(_CENTRAL, at + 46)
    struct.pack_into("<I", data, at + 24, len(original) // 2)
    short = tmp_path / "short.zip"
    short.write_bytes(bytes(data))
    with pytest.raises(BundleFormatError, match=name):
        bundle.verify(short, log_key=world.key)


def test_a_clean_bundle_reads_within_limits_just_its_size(world: World) -> None:
    with zipfile.ZipFile(world.path) as z:
        infos = z.infolist()
    entry = max(i.file_size for i in infos if i.filename.startswith("entries/"))
    limits = ReadLimits(
        bundle_bytes=world.path.stat().st_size,
        members=len(infos),
        entry_bytes=entry,
        total_bytes=sum(i.file_size for i in infos),
    )
    assert bundle.verify(world.path, log_key=world.key, limits=limits).ok
    # and a bundle rewritten by hand in the same layout still reads
    assert bundle.verify(rewrite(world.path, {}), log_key=world.key).ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], []),
        (["ab" * 32], [bytes.fromhex("ab" * 32)]),
        (["ab" * 32, "0f" * 32], [bytes.fromhex("ab" * 32), bytes.fromhex("0f" * 32)]),
        (["AB" * 32], None),  # uppercase
        (["ab" * 31 + "a"], None),  # 63 digits
        (["ab" * 31 + "a", "ab" * 32 + "a"], None),  # lengths that add up, items that do not
        (["ab" * 31 + "g0"], None),
        ([" " + "ab" * 31 + "a"], None),  # fromhex would skip the space
        (["ab" * 31 + "a\t"], None),
        (["ab" * 31 + "\u00e9a"], None),  # not ASCII
        (["ab" * 31 + "aB"], None),  # one uppercase digit
        (["ab" * 32, "AB" * 32], None),
        (["ab" * 32, 7], None),
        ("ab" * 32, None),
        (None, None),
    ],
)
def test_proof_hashes_are_read_strictly(value: object, expected: list[bytes] | None) -> None:
    from audit.bundle.reader import _hashes

    assert _hashes(value) == expected
