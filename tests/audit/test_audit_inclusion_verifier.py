"""audit.merkle.InclusionVerifier: verify_inclusion for many leaves of one tree, with the
nodes it has proven remembered. It must accept exactly what verify_inclusion accepts,
however warm its memory, and what it remembers must be the tree's own nodes."""

from __future__ import annotations

import random

import pytest

from audit.errors import ProofError
from audit.merkle import InclusionVerifier, inclusion_proof, leaf_hash, root, verify_inclusion


def tree(size: int) -> list[bytes]:
    return [leaf_hash(f"leaf {i}".encode()) for i in range(size)]


def accepts(check: InclusionVerifier, leaf: bytes, index: int, proof: list[bytes]) -> bool:
    try:
        check.verify(leaf, index, proof)
    except ProofError:
        return False
    return True


def reference(leaf: bytes, index: int, size: int, proof: list[bytes], head: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, head)
    except ProofError:
        return False
    return True


def tampered(leaves: list[bytes], index: int) -> list[tuple[bytes, int, list[bytes]]]:
    """Every way of getting one leaf's claim wrong: each proof hash changed, the proof
    one longer or shorter, another leaf at this index, this leaf at another index."""
    proof = inclusion_proof(leaves, index)
    leaf = leaves[index]
    size = len(leaves)
    out = []
    for k in range(len(proof)):
        changed = list(proof)
        changed[k] = bytes(32)
        out.append((leaf, index, changed))
    out.append((leaf, index, [*proof, bytes(32)]))
    if proof:
        out.append((leaf, index, proof[:-1]))
    out.append((leaf_hash(b"another"), index, proof))
    for other in {0, index - 1, index + 1, size - 1, size}:
        if other != index and other >= 0:
            out.append((leaf, other, proof))
            if other < size:
                out.append((leaf, other, inclusion_proof(leaves, other)))
    return out


@pytest.mark.parametrize("size", [*range(1, 40), 63, 64, 65, 100, 257])
def test_it_answers_as_verify_inclusion_cold_and_warm(size: int) -> None:
    leaves = tree(size)
    head = root(leaves)
    warm = InclusionVerifier(size, head)
    order = list(range(size))
    random.Random(size).shuffle(order)
    for index in order:
        assert accepts(warm, leaves[index], index, inclusion_proof(leaves, index))
    for index in range(size):
        for leaf, at, proof in tampered(leaves, index):
            expected = reference(leaf, at, size, proof, head)
            assert accepts(InclusionVerifier(size, head), leaf, at, proof) == expected
            assert accepts(warm, leaf, at, proof) == expected, (size, index, at)


@pytest.mark.parametrize("size", [*range(1, 34), 100, 1000, 1025])
def test_every_node_it_remembers_is_the_trees_node_at_that_place(size: int) -> None:
    leaves = tree(size)
    check = InclusionVerifier(size, root(leaves))
    for index in range(size):
        check.verify(leaves[index], index, inclusion_proof(leaves, index))
    for (first, level), (node, above) in check._proven.items():
        assert node == root(leaves[first : min(first + (1 << level), size)])
        # and the hashes above it are those of every leaf below it
        assert above == inclusion_proof(leaves, first)[-len(above) :] if above else True


def test_another_root_proves_nothing_and_a_malformed_one_is_refused() -> None:
    leaves = tree(10)
    check = InclusionVerifier(10, root(tree(11)[1:]))
    assert not any(accepts(check, leaves[i], i, inclusion_proof(leaves, i)) for i in range(10))
    with pytest.raises(ProofError):
        InclusionVerifier(10, b"short")
