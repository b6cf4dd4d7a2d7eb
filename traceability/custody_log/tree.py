"""The Merkle tree as stored: leaf hashes in `log_entries`, complete subtrees in `log_nodes`.

Appending stores the O(log n) (amortised one) nodes that the new leaf completes, so
the tree is never rebuilt; any subtree hash, proof or old root is then a fold of at
most O(log n) stored hashes per RFC 9162 section 2.1. The stored nodes are a cache of
what the entries determine: verify-log never trusts them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlmodel import Session

from audit.merkle import node_hash
from traceability.errors import ConflictError
from traceability.storage.database import connection_of
from traceability.storage.models import LogEntryRow, LogNode

_ENTRIES = LogEntryRow.__table__  # type: ignore[attr-defined]
_NODES = LogNode.__table__  # type: ignore[attr-defined]
_LEAF = select(_ENTRIES.c.leaf_hash).where(_ENTRIES.c.idx == bindparam("idx"))
_NODE = select(_NODES.c.hash).where(
    _NODES.c.level == bindparam("level"), _NODES.c.idx == bindparam("idx")
)
"""Plain Core reads: a proof or a frontier reads O(log n) of them, and the append path
rebuilds its frontier whenever another process appended since."""


class TreeIntegrityError(ConflictError):
    """A stored node or leaf the tree needs is missing: the database was damaged."""


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


class StoredTree:
    """Reads and extends the tree inside one session (one unit of work)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._memo: dict[tuple[int, int], bytes] = {}

    def leaf(self, index: int) -> bytes:
        row = connection_of(self.session).execute(_LEAF, {"idx": index}).first()
        if row is None:
            raise TreeIntegrityError(f"leaf {index} is missing")
        return bytes(row[0])

    def node(self, level: int, index: int) -> bytes:
        """Root of the complete subtree of 2**level leaves starting at index << level."""
        if level == 0:
            return self.leaf(index)
        key = (level, index)
        if key not in self._memo:
            row = connection_of(self.session).execute(_NODE, {"level": level, "idx": index}).first()
            if row is None:
                raise TreeIntegrityError(f"tree node ({level}, {index}) is missing")
            self._memo[key] = bytes(row[0])
        return self._memo[key]

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for the ranges RFC 9162's recursion produces (always aligned)."""
        n = hi - lo
        if n & (n - 1) == 0:
            level = n.bit_length() - 1
            if lo % n:
                raise ValueError(f"unaligned subtree [{lo}, {hi})")
            return self.node(level, lo >> level)
        k = _largest_power_of_two_below(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def frontier(self, size: int) -> list[bytes]:
        """Roots of the complete subtrees of a tree of `size` leaves, largest first."""
        out: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append(self.node(level, start >> level))
                start += 1 << level
        return out

    def root(self, size: int) -> bytes:
        if size == 0:
            raise ValueError("the empty tree has no stored root")
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValueError(f"index {index} is not in a tree of {size} entries")
        return self._path(index, 0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if m < k:
            return [*self._path(m, lo, lo + k), self.subtree(lo + k, hi)]
        return [*self._path(m - k, lo + k, hi), self.subtree(lo, lo + k)]

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if not 0 < size1 <= size2:
            raise ValueError(f"no consistency proof from {size1} to {size2}")
        if size1 == size2:
            return []
        return self._subproof(size1, 0, size2, True)

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.subtree(lo, hi)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self.subtree(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.subtree(lo, lo + k)]


Node = tuple[int, int, bytes]
"""(level, index, hash) of a complete subtree's root."""


def extend(
    index: int, leaf_hash: bytes, frontier: Sequence[bytes]
) -> tuple[list[bytes], list[Node]]:
    """Add leaf `index` to a tree whose frontier is `frontier` (of size `index`).

    Returns the new frontier and the interior nodes the leaf completes (amortised one),
    which the caller stores. Pure: the append path inserts them with one statement.
    """
    stack = list(frontier)
    completed: list[Node] = []
    current = leaf_hash
    level, position = 0, index
    while position & 1:
        current = node_hash(stack.pop(), current)
        level += 1
        position >>= 1
        completed.append((level, position, current))
    stack.append(current)
    return stack, completed


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """Root of the tree whose complete subtrees are `frontier` (largest first)."""
    if not frontier:
        raise ValueError("the empty tree has no stored root")
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root
