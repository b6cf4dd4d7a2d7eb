"""Merkle tree hashing and proofs of RFC 9162 section 2.1 (SHA-256).

This is what lets an auditor check, with no trust in the log operator, that an
entry is in the log (inclusion proof) and that the log only ever grew by
appending (consistency proof). It also holds the generating side of both
proofs and a compact "frontier" so that the service appending to the log
computes its roots with the very same code the auditor runs.

Rules, which follow RFC 9162 and the transparency-dev reference verifier:

* every hash handed to a verifier (leaf hash, roots, each proof element) must
  be exactly 32 bytes;
* a proof must have exactly the length the tree shape requires: a padded or
  truncated proof is rejected even if the extra hashes would not change the
  result;
* ``index >= size`` fails; ``size2 < size1`` fails; equal sizes need an empty
  proof and equal roots;
* a consistency proof from ``size1 == 0`` fails, as in the transparency-dev
  reference verifier's original rule: "consistent with the empty tree" proves
  nothing, and an auditor always holds a non-empty checkpoint to compare with;
* sizes and indices are integers in [0, 2**64), as in every tlog format.

A proof checks a leaf or an old tree against a (size, root) *pair*. The root
alone does not pin the size (the same hashes can describe a tree of n leaves
and one of n + 1 if a leaf hash stands where a node would be), so both must
come from the same verified checkpoint, which signs them together.

Verifiers return ``None`` or raise ``ProofError``; they must never return a
boolean (which a caller could forget to check) and never raise anything else
for bad evidence. Generators raise ``FormatError`` for bad arguments. This
module must never import anything beyond the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from audit.errors import FormatError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "InclusionVerifier",
    "consistency_proof",
    "frontier_append",
    "frontier_from_leaves",
    "frontier_join",
    "frontier_root",
    "frontiers_of_prefixes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Size in bytes of every hash in the tree (SHA-256)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}): the root hash of the tree with no leaves, SHA-256 of the empty string."""


# --- hashing ---------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: SHA-256(0x00 || data).

    The 0x00 prefix (versus 0x01 for interior nodes) is the domain separation
    that stops an interior node from being passed off as a leaf.
    """
    return hashlib.sha256(_LEAF_PREFIX + bytes(data)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right).

    Both children must be 32-byte hashes; anything else is a caller mistake.
    """
    _require_hash(left, "left child")
    _require_hash(right, "right child")
    return _node(bytes(left), bytes(right))


def _require_hash(value: object, what: str) -> None:
    """Generator-side check: raise FormatError unless ``value`` is a 32-byte hash."""
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise FormatError(f"{what} must be a {HASH_SIZE}-byte hash")


def _require_hashes(values: Sequence[bytes], what: str) -> list[bytes]:
    out: list[bytes] = []
    for i, value in enumerate(values):
        _require_hash(value, f"{what}[{i}]")
        out.append(bytes(value))
    return out


def _largest_power_of_two_below(n: int) -> int:
    """k of RFC 9162: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for 1 <= hi - lo, from leaf hashes, by the RFC's recursive definition."""
    n = hi - lo
    if n == 1:
        return hashes[lo]
    k = _largest_power_of_two_below(n)
    return _node(_mth(hashes, lo, lo + k), _mth(hashes, lo + k, hi))


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the tree whose leaves have these hashes (RFC 9162 section 2.1.1).

    Written from the recursive definition, independently of the frontier code
    below, so that each can be tested against the other.
    """
    hashes = _require_hashes(leaf_hashes, "leaf_hashes")
    if not hashes:
        return EMPTY_ROOT
    return _mth(hashes, 0, len(hashes))


# --- generating proofs (RFC 9162 2.1.3.1 and 2.1.4.1) -----------------------


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]): the inclusion proof of leaf ``index``, bottom hash first."""
    hashes = _require_hashes(leaf_hashes, "leaf_hashes")
    if not 0 <= index < len(hashes):
        raise FormatError(f"index {index} out of range for a tree of {len(hashes)} leaves")
    out: list[bytes] = []
    _path(hashes, index, 0, len(hashes), out)
    return out


def _path(hashes: Sequence[bytes], m: int, lo: int, hi: int, out: list[bytes]) -> None:
    n = hi - lo
    if n == 1:
        return
    k = _largest_power_of_two_below(n)
    if m < k:
        _path(hashes, m, lo, lo + k, out)
        out.append(_mth(hashes, lo + k, hi))
    else:
        _path(hashes, m - k, lo + k, hi, out)
        out.append(_mth(hashes, lo, lo + k))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(size1, D[n]): proves the first ``size1`` leaves are a prefix of the tree.

    For ``size1 == n`` the proof is empty. ``size1 == 0`` also gives an empty
    list, but ``verify_consistency`` refuses every proof from the empty tree.
    """
    hashes = _require_hashes(leaf_hashes, "leaf_hashes")
    if not 0 <= size1 <= len(hashes):
        raise FormatError(f"size1 {size1} out of range for a tree of {len(hashes)} leaves")
    out: list[bytes] = []
    if 0 < size1 < len(hashes):
        _subproof(hashes, size1, 0, len(hashes), True, out)
    return out


def _subproof(
    hashes: Sequence[bytes], m: int, lo: int, hi: int, whole: bool, out: list[bytes]
) -> None:
    """SUBPROOF(m, D[lo:hi], whole) of RFC 9162 2.1.4.1."""
    n = hi - lo
    if m == n:
        if not whole:
            out.append(_mth(hashes, lo, hi))
        return
    k = _largest_power_of_two_below(n)
    if m <= k:
        _subproof(hashes, m, lo, lo + k, whole, out)
        out.append(_mth(hashes, lo + k, hi))
    else:
        _subproof(hashes, m - k, lo + k, hi, False, out)
        out.append(_mth(hashes, lo, lo + k))


# --- verifying proofs (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------


def _evidence_hash(value: object, what: str) -> bytes:
    """Verifier-side check: a hash that is not 32 bytes is a bad proof."""
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")
    return bytes(value)


_MAX_SIZE = 2**64 - 1


def _evidence_size(value: object, what: str) -> int:
    # bool is an int subclass; a proof that says "size: true" is malformed.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_SIZE:
        raise ProofError(f"{what} is not an integer in [0, 2**64)")
    return value


def _evidence_path(proof: object) -> list[bytes]:
    # A list of 32-byte bytes objects, the usual proof, is taken as it is after two passes
    # in C (the types, the lengths): checking and copying each hash in Python, with its
    # name for the message, cost a verifier nearly a tenth of a signature check per proof.
    # Anything else is checked hash by hash, for the message.
    if (
        type(proof) is list
        and set(map(type, proof)) <= {bytes}
        and set(map(len, proof)) <= {HASH_SIZE}
    ):
        return proof
    if not isinstance(proof, Sequence) or isinstance(proof, str | bytes | bytearray):
        raise ProofError("proof is not a sequence of hashes")
    return [_evidence_hash(p, f"proof[{i}]") for i, p in enumerate(proof)]


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    while fn & 1 == 0 and fn != 0:
        fn >>= 1
        sn >>= 1
    return fn, sn


def _walk(fn: int, sn: int) -> list[bool]:
    """The loop shared by RFC 9162 2.1.3.2 step 4 and 2.1.4.2 step 6, without hashing.

    ``fn`` and ``sn`` are the RFC's positions of the path node and of the last
    node on the current level. Returns, for each proof element bottom up,
    True if the element is hashed on the left of the running hash (and, in a
    consistency proof, also into the old root), False if on the right. Its
    length is the only proof length the RFC's algorithm accepts: it fails a
    longer proof when ``sn`` reaches 0 early and a shorter one when ``sn`` is
    not 0 at the end.
    """
    plan: list[bool] = []
    while sn > 0:
        if fn & 1 or fn == sn:
            plan.append(True)
            if not fn & 1:
                fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            plan.append(False)
        fn >>= 1
        sn >>= 1
    return plan


def _inclusion_plan(index: int, size: int) -> list[bool]:
    """RFC 9162 2.1.3.2 steps 2-4, for 0 <= index < size."""
    return _walk(index, size - 1)


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with ``root``.

    Returns None on success; raises ProofError otherwise.
    """
    leaf = _evidence_hash(leaf_hash, "leaf hash")
    expected_root = _evidence_hash(root, "root")
    path = _evidence_path(proof)
    index = _evidence_size(index, "index")
    size = _evidence_size(size, "size")
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    plan = _inclusion_plan(index, size)
    if len(path) != len(plan):
        raise ProofError(f"inclusion proof has {len(path)} hashes, expected {len(plan)}")
    r = leaf
    for p, on_left in zip(path, plan, strict=True):
        r = _node(p, r) if on_left else _node(r, p)
    if not hmac.compare_digest(r, expected_root):
        raise ProofError("inclusion proof does not lead to the given root")


class InclusionVerifier:
    """``verify_inclusion`` for many leaves of one tree: the same checks, the same answers,
    and less hashing, for a verifier that checks thousands of entries against one
    checkpoint.

    It remembers each node it computed on a path that led to the root, with the rest of
    that path. A later proof that reaches the same node (the same range of leaves) with
    the same hash, and whose remaining hashes are the same as that path's, is proven
    there: the leaves below a node share every sibling above it, and a node's hash found
    on a verified path is that node's (another would take a SHA-256 collision). Anything
    else is computed to the root as ``verify_inclusion`` does; so a proof must still have
    exactly the length the tree's shape requires, 32-byte hashes, and no hash that
    differs from the tree's, whether or not it would change the root.
    """

    def __init__(self, size: int, root: bytes) -> None:
        self._size = _evidence_size(size, "size")
        self._root = _evidence_hash(root, "root")
        self._proven: dict[tuple[int, int], tuple[bytes, list[bytes]]] = {}
        """(first leaf, level) of a node -> its hash and the proof hashes above it."""

    def verify(self, leaf_hash: bytes, index: int, proof: Sequence[bytes]) -> None:
        """``verify_inclusion(leaf_hash, index, size, proof, root)``: None, or ProofError."""
        leaf = _evidence_hash(leaf_hash, "leaf hash")
        path = _evidence_path(proof)
        index = _evidence_size(index, "index")
        size = self._size
        if index >= size:
            raise ProofError(f"index {index} is not below tree size {size}")
        plan = _inclusion_plan(index, size)
        if len(path) != len(plan):
            raise ProofError(f"inclusion proof has {len(path)} hashes, expected {len(plan)}")
        proven = self._proven
        seen: list[tuple[tuple[int, int], bytes, int]] = []
        # The walk of RFC 9162 2.1.3.2 (as in _walk), keeping the level: after each
        # step, r is the hash of the node at (level, fn), whose leaves start at
        # fn << level (nodes on the tree's right edge stand in for their parents).
        fn, sn, level, r = index, size - 1, 0, leaf
        for k, on_left in enumerate(plan):
            p = path[k]
            if on_left:
                r = _node(p, r)
                if not fn & 1:
                    fn, sn, shifted = _shift_counting(fn, sn)
                    level += shifted
            else:
                r = _node(r, p)
            fn >>= 1
            sn >>= 1
            level += 1
            key = (fn << level, level)
            known = proven.get(key)
            if known is not None and known[0] == r and known[1] == path[k + 1 :]:
                break  # this path is now proven to the root: so is every node below
            seen.append((key, r, k))
        else:
            if not hmac.compare_digest(r, self._root):
                raise ProofError("inclusion proof does not lead to the given root")
        for key, node, k in seen:
            proven.setdefault(key, (node, path[k + 1 :]))


def _shift_counting(fn: int, sn: int) -> tuple[int, int, int]:
    shifted = 0
    while fn & 1 == 0 and fn != 0:
        fn >>= 1
        sn >>= 1
        shifted += 1
    return fn, sn, shifted


def _consistency_plan(size1: int, size2: int) -> list[bool]:
    """RFC 9162 2.1.4.2 steps 3-6, for 0 < size1 < size2: the elements after the seed."""
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    return _walk(fn, sn)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2).

    Returns None on success; raises ProofError otherwise. See the module
    docstring for the edge cases (equal sizes, size1 == 0 always fails).
    """
    first = _evidence_hash(root1, "root1")
    second = _evidence_hash(root2, "root2")
    path = _evidence_path(proof)
    size1 = _evidence_size(size1, "size1")
    size2 = _evidence_size(size2, "size2")
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if path:
            raise ProofError("proof must be empty when size1 == size2")
        if not hmac.compare_digest(first, second):
            raise ProofError("equal tree sizes with different roots")
        return

    plan = _consistency_plan(size1, size2)
    # Step 2: if size1 is a power of two its root is the seed and is not sent.
    seed_sent = size1 & (size1 - 1) != 0
    expected = len(plan) + (1 if seed_sent else 0)
    if len(path) != expected:
        raise ProofError(f"consistency proof has {len(path)} hashes, expected {expected}")
    if seed_sent:
        seed, rest = path[0], path[1:]
    else:
        seed, rest = first, path
    fr = sr = seed
    for c, both in zip(rest, plan, strict=True):
        if both:
            fr = _node(c, fr)
            sr = _node(c, sr)
        else:
            sr = _node(sr, c)
    if not hmac.compare_digest(fr, first):
        raise ProofError("consistency proof does not lead to root1")
    if not hmac.compare_digest(sr, second):
        raise ProofError("consistency proof does not lead to root2")


# --- frontier: O(log n) appends for the log service ------------------------


def _require_frontier(frontier: Sequence[bytes], size: int) -> list[bytes]:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FormatError("size must be a non-negative integer")
    hashes = _require_hashes(frontier, "frontier")
    if len(hashes) != size.bit_count():
        raise FormatError(
            f"a frontier of a {size}-leaf tree holds {size.bit_count()} hashes, not {len(hashes)}"
        )
    return hashes


def frontier_append(frontier: Sequence[bytes], size: int, leaf_hash: bytes) -> list[bytes]:
    """Return the frontier of the tree of ``size + 1`` leaves; ``frontier`` is not modified.

    The frontier of a tree of ``size`` leaves is the list of roots of the
    perfect subtrees its leaves split into, largest (leftmost) first: one per
    set bit of ``size``. Appending merges equal-sized subtrees like a binary
    carry, so it costs at most log2(size) + 1 hashes.
    """
    hashes = _require_frontier(frontier, size)
    _require_hash(leaf_hash, "leaf_hash")
    h = bytes(leaf_hash)
    carry = size
    while carry & 1:
        h = _node(hashes.pop(), h)
        carry >>= 1
    hashes.append(h)
    return hashes


def frontier_root(frontier: Sequence[bytes], size: int) -> bytes:
    """Root hash of the tree of ``size`` leaves whose frontier is ``frontier``."""
    hashes = _require_frontier(frontier, size)
    if not hashes:
        return EMPTY_ROOT
    r = hashes[-1]
    for h in reversed(hashes[:-1]):
        r = _node(h, r)
    return r


def frontier_from_leaves(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Frontier of the tree with these leaf hashes, e.g. to rebuild it after a restart."""
    frontier: list[bytes] = []
    for size, h in enumerate(leaf_hashes):
        frontier = frontier_append(frontier, size, h)
    return frontier


def frontiers_of_prefixes(
    leaf_hashes: Sequence[bytes], sizes: Iterable[int]
) -> dict[int, list[bytes]]:
    """The frontier of the tree of the first ``n`` of ``leaf_hashes``, for each ``n`` in ``sizes``.

    One pass over the leaves (about one hash each), for a verifier that checks a run of
    a long log elsewhere than where it keeps the tree: with ``frontier_join`` the
    frontiers place the run in the whole tree. Raises ``FormatError`` for a size
    outside ``[0, len(leaf_hashes)]`` or a leaf hash that is not 32 bytes.
    """
    wanted = set(sizes)
    for n in wanted:
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(leaf_hashes):
            raise FormatError(f"a prefix size must be in [0, {len(leaf_hashes)}], not {n!r}")
    out: dict[int, list[bytes]] = {0: []} if 0 in wanted else {}
    stack: list[bytes] = []
    for n, leaf in enumerate(leaf_hashes, 1):
        _require_hash(leaf, f"leaf_hashes[{n - 1}]")
        h = bytes(leaf)
        carry = n - 1
        while carry & 1:
            h = _node(stack.pop(), h)
            carry >>= 1
        stack.append(h)
        if n in wanted:
            out[n] = list(stack)
    return out


def frontier_join(
    left: Sequence[bytes], left_size: int, right: Sequence[bytes], right_size: int
) -> list[bytes]:
    """Frontier of the tree of ``left_size + right_size`` leaves, from the frontiers of its parts.

    ``left`` is the frontier of the first ``left_size`` leaves, ``right`` that of the
    next ``right_size`` leaves taken as a tree of their own. Their subtrees are subtrees
    of the whole tree only if ``left_size`` is a multiple of the largest power of two
    not above ``right_size`` (runs of a log cut at multiples of a power of two are);
    anything else raises ``FormatError``, as do frontiers of the wrong length.
    """
    hashes = _require_frontier(left, left_size)
    parts = _require_frontier(right, right_size)
    if right_size and left_size % (1 << (right_size.bit_length() - 1)):
        raise FormatError(
            f"a tree of {right_size} leaves cannot follow {left_size} leaves as whole subtrees"
        )
    size = left_size
    levels = [
        level for level in range(right_size.bit_length() - 1, -1, -1) if right_size >> level & 1
    ]
    for level, h in zip(levels, parts, strict=True):
        carry = size >> level
        while carry & 1:
            h = _node(hashes.pop(), h)
            carry >>= 1
        hashes.append(h)
        size += 1 << level
    return hashes
