"""Tests of audit.merkle: known answers, round trips against an independent root, and
corrupted proofs that must all be rejected with ProofError."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audit import merkle
from audit.errors import FormatError, ProofError, VerificationError

ASSETS = Path(__file__).parent / "assets"
VECTORS: dict[str, Any] = json.loads((ASSETS / "merkle_vectors.json").read_text("utf-8"))
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaves"]]
LEAF_HASHES = [merkle.leaf_hash(d) for d in LEAVES]
EMPTY = hashlib.sha256(b"").digest()


# --- an independent reference, written from RFC 9162 2.1.1 over raw leaf data --------


def ref_mth(data: list[bytes]) -> bytes:
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:])).digest()


MAX_N = 70
DATA = [f"entry {i}".encode() for i in range(MAX_N)]
HASHES = [merkle.leaf_hash(d) for d in DATA]
REF_ROOTS = [ref_mth(DATA[:n]) for n in range(MAX_N + 1)]


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


BITS = (0, 7, 8 * 13 + 5, 255)


# --- known answers -------------------------------------------------------------


def test_known_answers_from_the_specification() -> None:
    leaves = [
        bytes.fromhex(h)
        for h in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    hashes = [merkle.leaf_hash(d) for d in leaves]
    assert (
        merkle.root(hashes[:3]).hex()
        == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    )
    assert (
        merkle.root(hashes).hex()
        == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert (
        merkle.leaf_hash(b"").hex()
        == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]) == EMPTY == merkle.EMPTY_ROOT
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_node_hash_definition() -> None:
    a, b = LEAF_HASHES[1], LEAF_HASHES[2]
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


def test_reference_roots() -> None:
    for size, want in VECTORS["roots"].items():
        assert merkle.root(LEAF_HASHES[: int(size)]).hex() == want


def test_reference_inclusion_proofs() -> None:
    for vec in VECTORS["inclusion"]:
        index, size = vec["index"], vec["size"]
        proof = [bytes.fromhex(h) for h in vec["proof"]]
        root = bytes.fromhex(VECTORS["roots"][str(size)])
        assert merkle.inclusion_proof(LEAF_HASHES[:size], index) == proof
        merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, root)


def test_reference_consistency_proofs() -> None:
    for vec in VECTORS["consistency"]:
        size1, size2 = vec["size1"], vec["size2"]
        proof = [bytes.fromhex(h) for h in vec["proof"]]
        root1 = bytes.fromhex(VECTORS["roots"][str(size1)])
        root2 = bytes.fromhex(VECTORS["roots"][str(size2)])
        assert merkle.consistency_proof(LEAF_HASHES[:size2], size1) == proof
        merkle.verify_consistency(size1, size2, proof, root1, root2)


# --- round trips against the independent root ----------------------------------


def test_root_matches_reference_for_every_size() -> None:
    for n in range(MAX_N + 1):
        assert merkle.root(HASHES[:n]) == REF_ROOTS[n]


def test_inclusion_round_trip_all_sizes_and_indices() -> None:
    for n in range(1, MAX_N + 1):
        for i in range(n):
            proof = merkle.inclusion_proof(HASHES[:n], i)
            assert len(proof) <= n.bit_length()
            merkle.verify_inclusion(HASHES[i], i, n, proof, REF_ROOTS[n])


def test_consistency_round_trip_all_size_pairs() -> None:
    for n in range(MAX_N + 1):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(HASHES[:n], m)
            merkle.verify_consistency(m, n, proof, REF_ROOTS[m], REF_ROOTS[n])


# --- corrupted inclusion proofs ----------------------------------------------------

InclusionArgs = tuple[Any, Any, Any, Any, Any]


def inclusion_corruptions(i: int, n: int, proof: list[bytes]) -> Iterator[InclusionArgs]:
    leaf, root = HASHES[i], REF_ROOTS[n]
    # Wrong index.
    for j in {i - 1, i + 1, i ^ 2, n, n + 5, -1}:
        if j != i:
            yield leaf, j, n, proof, root
    # Wrong tree size. Sizes one off are not here on purpose: the same hashes
    # can describe (i, n) and (i, n +- 1) when a leaf hash stands where an
    # interior node would be; a root pins its size only through the signed
    # checkpoint, which binds both.
    for m in {n * 2, n // 2, 0}:
        if m != n:
            yield leaf, i, m, proof, root
    # Wrong leaf or root.
    yield HASHES[(i + 1) % MAX_N], i, n, proof, root
    yield merkle.leaf_hash(leaf), i, n, proof, root
    yield DATA[i], i, n, proof, root
    yield leaf, i, n, proof, REF_ROOTS[n - 1]
    yield leaf, i, n, proof, EMPTY
    yield leaf, i, n, proof, flip(root, 0)
    # Wrong lengths of the leaf, root and proof hashes.
    for bad in (leaf[:31], leaf + b"\x00", b"", leaf.hex()):
        yield bad, i, n, proof, root
    for bad in (root[:31], root + b"\x00", b"", root.hex()):
        yield leaf, i, n, proof, bad
    # Padded and truncated proofs.
    for extra in (root, leaf, bytes(32), b""):
        yield leaf, i, n, [*proof, extra], root
        yield leaf, i, n, [extra, *proof], root
    if proof:
        yield leaf, i, n, proof[:-1], root
        yield leaf, i, n, proof[1:], root
        yield leaf, i, n, [proof[0], *proof], root
    for j, h in enumerate(proof):
        for bit in BITS:
            yield leaf, i, n, [*proof[:j], flip(h, bit), *proof[j + 1 :]], root
        for bad in (h[:31], h + b"\x00", h.hex()):
            yield leaf, i, n, [*proof[:j], bad, *proof[j + 1 :]], root
        if j + 1 < len(proof) and proof[j] != proof[j + 1]:
            swapped = list(proof)
            swapped[j], swapped[j + 1] = swapped[j + 1], swapped[j]
            yield leaf, i, n, swapped, root


def test_corrupted_inclusion_proofs_are_rejected() -> None:
    count = 0
    for n in range(1, 25):
        for i in range(n):
            proof = merkle.inclusion_proof(HASHES[:n], i)
            merkle.verify_inclusion(HASHES[i], i, n, proof, REF_ROOTS[n])
            for args in inclusion_corruptions(i, n, proof):
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(*args)
                count += 1
    assert count > 5000


def test_inclusion_edge_cases() -> None:
    h = merkle.leaf_hash(b"data")
    # A one-leaf tree: the root is the leaf hash and the proof is empty.
    merkle.verify_inclusion(h, 0, 1, [], h)
    cases: list[InclusionArgs] = [
        (h, 0, 0, [], EMPTY),  # nothing is in the empty tree
        (h, 1, 1, [], h),
        (h, 2, 1, [], h),
        (h, 0, 1, [], b""),
        (b"", 0, 1, [], h),
        (h, True, 2, [h], h),  # booleans are not indices
        (h, 0, 1.0, [], h),
        (h, 0, "1", [], h),
        (h, 0, 2**64, [h] * 64, h),  # beyond any tlog size
        (h, 0, 1, None, h),  # not a sequence of hashes
        (h, 0, 2, h + h, h),
        (h, 0, 2, h.hex(), h),
        (h, 0, 2, [h[:31]], h),  # a list of bytes, one of the wrong length
        (h, 0, 2, [h + b"\x00"], h),
        (h, 0, 2, [h.hex()], h),
        (h, 0, 2, [memoryview(h)], h),
        (h, 0, 3, [h, bytes(32)[:-1] + b"\x01" + b"\x00"], h),
    ]
    for args in cases:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)


def test_inclusion_proofs_of_bytearrays_and_tuples_verify_as_lists_of_bytes() -> None:
    # Lists of bytes take a shortcut past the hash-by-hash check; other sequences of
    # 32-byte hashes are still proofs.
    for n in (2, 7, 16):
        for i in range(n):
            proof = merkle.inclusion_proof(HASHES[:n], i)
            merkle.verify_inclusion(HASHES[i], i, n, tuple(proof), REF_ROOTS[n])
            merkle.verify_inclusion(HASHES[i], i, n, [bytearray(p) for p in proof], REF_ROOTS[n])


# --- corrupted consistency proofs --------------------------------------------------

ConsistencyArgs = tuple[Any, Any, Any, Any, Any]


def consistency_corruptions(m: int, n: int, proof: list[bytes]) -> Iterator[ConsistencyArgs]:
    r1, r2 = REF_ROOTS[m], REF_ROOTS[n]
    # Wrong sizes (the reference's set: see the inclusion note on sizes one off).
    for s1 in {m - 1, m + 1, m ^ 2, 0, n + 1}:
        if s1 != m:
            yield s1, n, proof, r1, r2
    for s2 in {n * 2, n // 2, m - 1}:
        if s2 != n:
            yield m, s2, proof, r1, r2
    # Wrong or swapped roots.
    yield m, n, proof, r2, r1
    yield m, n, proof, flip(r1, 3), r2
    yield m, n, proof, r1, flip(r2, 3)
    yield m, n, proof, EMPTY, r2
    yield m, n, proof, r1, REF_ROOTS[n - 1]
    for bad in (r1[:31], r1 + b"\x00", b""):
        yield m, n, proof, bad, r2
        yield m, n, proof, r1, bad
    # Empty, padded and truncated proofs.
    yield m, n, [], r1, r2
    for extra in (r1, r2, bytes(32), proof[0], b""):
        yield m, n, [*proof, extra], r1, r2
        yield m, n, [extra, *proof], r1, r2
    yield m, n, proof[:-1], r1, r2
    yield m, n, proof[1:], r1, r2
    for j, h in enumerate(proof):
        for bit in BITS:
            yield m, n, [*proof[:j], flip(h, bit), *proof[j + 1 :]], r1, r2
        for bad in (h[:31], h + b"\x00"):
            yield m, n, [*proof[:j], bad, *proof[j + 1 :]], r1, r2
        if j + 1 < len(proof) and proof[j] != proof[j + 1]:
            swapped = list(proof)
            swapped[j], swapped[j + 1] = swapped[j + 1], swapped[j]
            yield m, n, swapped, r1, r2


def test_corrupted_consistency_proofs_are_rejected() -> None:
    count = 0
    for n in range(2, 25):
        for m in range(1, n):
            proof = merkle.consistency_proof(HASHES[:n], m)
            merkle.verify_consistency(m, n, proof, REF_ROOTS[m], REF_ROOTS[n])
            for args in consistency_corruptions(m, n, proof):
                with pytest.raises(ProofError):
                    merkle.verify_consistency(*args)
                count += 1
    assert count > 5000


def test_consistency_edge_cases() -> None:
    r1, r2 = REF_ROOTS[1], REF_ROOTS[2]
    # Accepted: equal sizes with equal roots and an empty proof.
    merkle.verify_consistency(1, 1, [], r1, r1)
    rejected: list[ConsistencyArgs] = [
        (0, 0, [], EMPTY, EMPTY),  # from size 0 always fails (issue 3, reference rule)
        (0, 2, [], EMPTY, r2),
        (0, 0, [], EMPTY, r2),  # equal sizes, different roots
        (1, 1, [], r1, r2),
        (0, 0, [EMPTY], EMPTY, EMPTY),  # equal sizes, non-empty proof
        (1, 1, [r1], r1, r1),
        (0, 2, [r1], EMPTY, r2),  # from the empty tree, non-empty proof
        (0, 2, [], r1, r2),  # "empty" tree whose root is not SHA-256("")
        (0, 0, [], r1, r1),
        (1, 0, [], r1, EMPTY),  # going back in time
        (2, 1, [], r2, r1),
        (1, 2, [], r1, r2),  # a real step needs a proof
        (-1, 2, [], r1, r2),
        (1, 2.0, [HASHES[1]], r1, r2),
        (True, 2, [HASHES[1]], r1, r2),
        (1, 2**64, [HASHES[1]], r1, r2),
        (1, 2, None, r1, r2),
        (1, 2, HASHES[1], r1, r2),
    ]
    for args in rejected:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    # The right proof for (1, 2) is the second leaf hash.
    merkle.verify_consistency(1, 2, [HASHES[1]], r1, r2)


def test_proof_errors_are_verification_errors() -> None:
    assert issubclass(ProofError, VerificationError)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(HASHES[0], 0, 1, [], EMPTY)


# --- generators ------------------------------------------------------------------


def test_generators_reject_bad_arguments() -> None:
    calls: list[Callable[[], object]] = [
        lambda: merkle.inclusion_proof(HASHES[:3], 3),
        lambda: merkle.inclusion_proof(HASHES[:3], -1),
        lambda: merkle.inclusion_proof([], 0),
        lambda: merkle.consistency_proof(HASHES[:3], 4),
        lambda: merkle.consistency_proof(HASHES[:3], -1),
        lambda: merkle.root([HASHES[0], HASHES[1][:31]]),
        lambda: merkle.node_hash(HASHES[0], b"short"),
        lambda: merkle.frontier_root([HASHES[0]], 3),
        lambda: merkle.frontier_root([], 1),
        lambda: merkle.frontier_append([], 0, b"short"),
        lambda: merkle.frontier_append([HASHES[0]], -1, HASHES[1]),
    ]
    for call in calls:
        with pytest.raises(FormatError):
            call()
    assert issubclass(FormatError, ValueError)


def test_generated_proofs_have_no_edge_padding() -> None:
    assert merkle.consistency_proof(HASHES[:5], 0) == []
    assert merkle.consistency_proof(HASHES[:5], 5) == []
    assert merkle.inclusion_proof(HASHES[:1], 0) == []


# --- frontier ----------------------------------------------------------------------


def test_frontier_matches_root_for_every_size_up_to_300() -> None:
    data = [f"frontier {i}".encode() for i in range(300)]
    hashes = [merkle.leaf_hash(d) for d in data]
    frontier: list[bytes] = []
    assert merkle.frontier_root(frontier, 0) == EMPTY
    for size in range(300):
        frontier = merkle.frontier_append(frontier, size, hashes[size])
        assert len(frontier) == (size + 1).bit_count()
        assert merkle.frontier_root(frontier, size + 1) == merkle.root(hashes[: size + 1])
    assert merkle.frontier_from_leaves(hashes) == frontier
    assert merkle.frontier_root(frontier, 300) == ref_mth(data)


def test_frontier_append_does_not_mutate() -> None:
    frontier = merkle.frontier_from_leaves(HASHES[:3])
    copy = list(frontier)
    merkle.frontier_append(frontier, 3, HASHES[3])
    assert frontier == copy


def test_frontiers_of_prefixes_match_frontier_append() -> None:
    hashes = [merkle.leaf_hash(f"prefix {i}".encode()) for i in range(70)]
    sizes = list(range(71))
    frontiers = merkle.frontiers_of_prefixes(hashes, sizes)
    assert sorted(frontiers) == sizes
    for size in sizes:
        assert frontiers[size] == merkle.frontier_from_leaves(hashes[:size])
    assert merkle.frontiers_of_prefixes(hashes, []) == {}
    assert merkle.frontiers_of_prefixes([], [0]) == {0: []}


@pytest.mark.parametrize("sizes", [[-1], [4], [True], [1.0]])
def test_frontiers_of_prefixes_refuse_sizes_outside_the_leaves(sizes: list[Any]) -> None:
    with pytest.raises(FormatError):
        merkle.frontiers_of_prefixes(HASHES[:3], sizes)


def test_frontiers_of_prefixes_refuse_bad_leaf_hashes() -> None:
    with pytest.raises(FormatError):
        merkle.frontiers_of_prefixes([HASHES[0], b"short"], [2])


def test_frontier_join_places_aligned_runs_in_the_whole_tree() -> None:
    """Every split of up to 40 leaves where the right part starts at a multiple of the
    largest power of two in its length (how verify-log cuts the log into runs)."""
    hashes = [merkle.leaf_hash(f"join {i}".encode()) for i in range(40)]
    joined = 0
    for left in range(41):
        for right in range(41 - left):
            if right and left % (1 << (right.bit_length() - 1)):
                continue
            frontier = merkle.frontier_join(
                merkle.frontier_from_leaves(hashes[:left]),
                left,
                merkle.frontier_from_leaves(hashes[left : left + right]),
                right,
            )
            assert frontier == merkle.frontier_from_leaves(hashes[: left + right])
            assert merkle.frontier_root(frontier, left + right) == ref_root(left + right, hashes)
            joined += 1
    assert joined > 200


def ref_root(size: int, hashes: list[bytes]) -> bytes:
    return merkle.root(hashes[:size]) if size else EMPTY


def test_frontier_join_refuses_runs_that_are_not_whole_subtrees() -> None:
    f = merkle.frontier_from_leaves
    calls: list[Callable[[], object]] = [
        lambda: merkle.frontier_join(f(HASHES[:1]), 1, f(HASHES[1:3]), 2),  # 2 leaves at 1
        lambda: merkle.frontier_join(f(HASHES[:2]), 2, f(HASHES[2:6]), 4),  # 4 leaves at 2
        lambda: merkle.frontier_join(f(HASHES[:3]), 3, f(HASHES[3:6]), 3),
        lambda: merkle.frontier_join(f(HASHES[:2]), 3, f(HASHES[2:3]), 1),  # wrong length
        lambda: merkle.frontier_join(f(HASHES[:2]), 2, [], 1),
        lambda: merkle.frontier_join(f(HASHES[:2]), 2, [b"short"], 1),
    ]
    for call in calls:
        with pytest.raises(FormatError):
            call()
