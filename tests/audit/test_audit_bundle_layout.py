"""The bundle layout written directly (audit.bundle.layout) is byte for byte what the
standard library's zipfile and json.dumps write for the same content: bundles written
before (through zipfile and json.dumps) still verify, and any writer that follows the
documented layout with those tools makes the same bytes."""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Mapping, Sequence

import pytest

from audit.bundle import layout
from audit.bundle.layout import Consistency, entry_name


def zipfile_bytes(members: Mapping[str, bytes]) -> bytes:
    """The layout as documented, made with zipfile (how bundles were first written)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def json_proofs(
    size: int | None,
    inclusion: Mapping[int, Sequence[bytes] | None],
    consistency: Consistency | None,
) -> bytes:
    value = {
        "size": size,
        "inclusion": {
            str(i): None if p is None else [h.hex() for h in p] for i, p in inclusion.items()
        },
        "consistency": None
        if consistency is None
        else {
            "size1": consistency.size1,
            "root1": consistency.root1.hex(),
            "proof": [h.hex() for h in consistency.proof],
        },
    }
    return (json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def random_hashes(rng: random.Random, n: int) -> tuple[bytes, ...]:
    return tuple(rng.randbytes(32) for _ in range(n))


@pytest.mark.parametrize("count", [0, 1, 7, 300])
def test_the_zip_is_zipfiles(count: int) -> None:
    rng = random.Random(count)
    members = {name: rng.randbytes(rng.randrange(0, 2000)) for name in layout.FIXED_MEMBERS}
    for _ in range(count):
        members[entry_name(rng.randrange(10**12))] = rng.randbytes(rng.randrange(600))
    assert layout.zip_bytes(members) == zipfile_bytes(members)


@pytest.mark.slow
def test_the_zip_of_more_than_65535_members_has_zipfiles_zip64_end_records() -> None:
    members = {entry_name(i): b"{}" for i in range(65_536)}
    made = layout.zip_bytes(members)
    assert made == zipfile_bytes(members)
    assert b"PK\x06\x06" in made[-200:]


def test_a_name_that_is_not_ascii_is_refused() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        layout.zip_bytes({"entrées/x": b""})


@pytest.mark.parametrize("seed", range(12))
def test_proofs_json_is_json_dumps(seed: int) -> None:
    rng = random.Random(seed)
    indices = rng.sample(range(0, 10 ** rng.randrange(1, 7)), rng.randrange(0, 40))
    inclusion: dict[int, tuple[bytes, ...] | None] = {
        i: None if rng.random() < 0.1 else random_hashes(rng, rng.randrange(0, 5)) for i in indices
    }
    consistency = (
        None
        if seed % 3 == 0
        else Consistency(rng.randrange(1, 100), rng.randbytes(32), random_hashes(rng, seed % 4))
    )
    size = None if seed % 5 == 0 else rng.randrange(10**9)
    assert layout._proofs_bytes(size, inclusion, consistency) == json_proofs(
        size, inclusion, consistency
    )
