"""Merkle tree hashing, proofs and verification as in RFC 9162 section 2.1.

Leaves are always given as *leaf hashes* (``leaf_hash(data)``), 32 bytes each.
Verification functions never raise on bad input: a malformed proof, size or
hash simply does not verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleFrontier",
    "Subtree",
    "SubtreeRoot",
    "consistency_proof",
    "consistency_proof_from",
    "consistency_subtrees",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_subtrees",
    "leaf_hash",
    "node_hash",
    "range_subtrees",
    "root_from",
    "root_from_leaf_hashes",
    "root_subtrees",
    "verify_consistency",
    "verify_inclusion",
]

#: A perfect, aligned subtree ``(level, index)``: the ``2**level`` leaves
#: ``[index << level, (index + 1) << level)``. Level 0 is a single leaf.
Subtree = tuple[int, int]
#: Returns the root hash of a perfect subtree given as ``(level, index)``.
SubtreeRoot = Callable[[int, int], bytes]

HASH_SIZE = 32
_sha256 = hashlib.sha256

#: MTH({}) — the root of the empty tree is the hash of the empty string.
EMPTY_ROOT: bytes = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Return SHA-256(0x00 || data), the RFC 9162 leaf hash."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), the RFC 9162 interior node hash."""
    return _sha256(b"\x01" + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return type(value) is int and value >= 0


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (MTH) of the given leaf hashes."""
    if not leaves:
        return EMPTY_ROOT
    # Pairing level by level and carrying an odd last node upwards yields the
    # same tree as RFC 9162's "split at the largest power of two" recursion.
    level = list(leaves)
    while len(level) > 1:
        paired = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleFrontier:
    """The compact range [0, size) of a growing Merkle tree.

    It keeps one hash per set bit of ``size``: the roots of the perfect
    subtrees that make up the tree, largest (leftmost) first. That is all that
    is needed to append further leaves and to compute the current root.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Start from ``size`` leaves summarised by their subtree ``hashes``."""
        if not _is_size(size):
            raise ValueError("size must be a non-negative int")
        if size >= 1 << 64:
            raise ValueError("size does not fit in 64 bits")
        hash_list = list(hashes)
        if len(hash_list) != size.bit_count():
            raise ValueError("a frontier of size n needs exactly popcount(n) hashes")
        if not all(_is_hash(h) for h in hash_list):
            raise ValueError("frontier hashes must be 32-byte values")
        self._size = size
        self._hashes = hash_list

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Subtree root hashes, largest subtree first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Append one leaf *hash* (32 bytes, see :func:`leaf_hash`)."""
        if not _is_hash(leaf):
            raise ValueError("append takes a 32-byte leaf hash, not leaf data")
        hashes = self._hashes
        size = self._size
        node = leaf
        # Each trailing 1 bit of the old size is a complete subtree of the
        # same height as the one being carried: merge them, like binary
        # addition. Amortised, that is one node hash per append.
        while size & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            size >>= 1
        hashes.append(node)
        self._size += 1

    def append_completed(self, leaf: bytes, min_level: int) -> list[tuple[int, int, bytes]]:
        """:meth:`append`, also returning the perfect subtrees of level >= ``min_level``
        that this leaf completes, as ``(level, index, root hash)``, smallest first.

        A log that keeps these (they never change once complete) can build any
        proof from O(log n) stored hashes plus fewer than ``2**min_level`` leaves.
        Only a leaf that makes the size a multiple of ``2**min_level`` completes one.
        """
        if not _is_hash(leaf):
            raise ValueError("append takes a 32-byte leaf hash, not leaf data")
        hashes = self._hashes
        size = self._size
        end = size + 1
        done: list[tuple[int, int, bytes]] = [(0, size, leaf)] if min_level <= 0 else []
        node = leaf
        level = 0
        while size & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            size >>= 1
            level += 1
            if level >= min_level:
                done.append((level, (end >> level) - 1, node))
        hashes.append(node)
        self._size = end
        return done

    def root(self) -> bytes:
        """Return the Merkle tree hash of all leaves appended so far."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        node = hashes[-1]
        for left in reversed(hashes[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node

    def to_bytes(self) -> bytes:
        """Serialise as an 8-byte big-endian size followed by the hashes."""
        return self._size.to_bytes(8, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> MerkleFrontier:
        """Inverse of :meth:`to_bytes`; ValueError if the data is inconsistent."""
        if len(data) < 8 or (len(data) - 8) % HASH_SIZE:
            raise ValueError("frontier bytes must be 8 + 32*k long")
        size = int.from_bytes(data[:8], "big")
        hashes = [bytes(data[i : i + HASH_SIZE]) for i in range(8, len(data), HASH_SIZE)]
        return cls(size, hashes)

    def copy(self) -> MerkleFrontier:
        """Return an independent copy."""
        clone = MerkleFrontier.__new__(MerkleFrontier)
        clone._size = self._size
        clone._hashes = list(self._hashes)
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MerkleFrontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"MerkleFrontier(size={self._size})"


def _check_leaves(leaves: Sequence[bytes], size: int) -> None:
    if not _is_size(size):
        raise ValueError("size must be a non-negative int")
    if size > len(leaves):
        raise ValueError("fewer leaves than the requested tree size")


def range_subtrees(start: int, end: int) -> list[Subtree]:
    """The perfect subtrees that make up leaves ``[start, end)``, largest first.

    Every range a proof or a root needs has this shape: ``start`` is a multiple
    of the largest piece, so each piece is aligned. Raises ValueError for a range
    that cannot be cut into aligned pieces this way.
    """
    if not (_is_size(start) and _is_size(end)) or start > end:
        raise ValueError("a range needs 0 <= start <= end")
    pieces: list[Subtree] = []
    pos, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        if pos & ((1 << level) - 1):
            raise ValueError("the range does not split into aligned subtrees")
        pieces.append((level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return pieces


def _range_hash(subtree_root: SubtreeRoot, start: int, end: int) -> bytes:
    # MTH of a range: its pieces folded from the right (RFC 9162 splits a range at
    # the largest power of two below its length, which is its first piece).
    pieces = range_subtrees(start, end)
    if not pieces:
        return EMPTY_ROOT
    node = subtree_root(*pieces[-1])
    for level, index in reversed(pieces[:-1]):
        node = _sha256(b"\x01" + subtree_root(level, index) + node).digest()
    return node


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    if type(index) is not int or type(size) is not int or not 0 <= index < size:
        raise ValueError("index must satisfy 0 <= index < size")
    ranges: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    # RFC 9162 2.1.3.1 PATH(m, D[n]), unrolled: walk down from the root and
    # collect the sibling range of every step; the path is bottom-up.
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        raise ValueError("old_size must satisfy 0 <= old_size <= new_size")
    if old_size == 0 or old_size == new_size:
        return []
    ranges: list[tuple[int, int]] = []
    # RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b), unrolled into a loop.
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _needed(ranges: Iterable[tuple[int, int]]) -> list[Subtree]:
    return list(dict.fromkeys(piece for a, b in ranges for piece in range_subtrees(a, b)))


def inclusion_subtrees(index: int, size: int) -> list[Subtree]:
    """The perfect subtrees whose roots :func:`inclusion_proof_from` asks for."""
    return _needed(_inclusion_ranges(index, size))


def consistency_subtrees(old_size: int, new_size: int) -> list[Subtree]:
    """The perfect subtrees whose roots :func:`consistency_proof_from` asks for."""
    return _needed(_consistency_ranges(old_size, new_size))


def root_subtrees(size: int) -> list[Subtree]:
    """The perfect subtrees whose roots :func:`root_from` asks for."""
    return range_subtrees(0, size)


def inclusion_proof_from(subtree_root: SubtreeRoot, index: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves,
    built from subtree roots (for example stored ones); O(log n) calls of
    ``subtree_root``, each for one of :func:`inclusion_subtrees`."""
    return [_range_hash(subtree_root, a, b) for a, b in _inclusion_ranges(index, size)]


def consistency_proof_from(subtree_root: SubtreeRoot, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 9162 consistency proof between trees of ``old_size`` and ``new_size``
    leaves, built from subtree roots (see :func:`consistency_subtrees`)."""
    return [_range_hash(subtree_root, a, b) for a, b in _consistency_ranges(old_size, new_size)]


def root_from(subtree_root: SubtreeRoot, size: int) -> bytes:
    """The root of the tree of ``size`` leaves, from its :func:`root_subtrees`."""
    return _range_hash(subtree_root, 0, size)


def _from_leaves(leaves: Sequence[bytes]) -> SubtreeRoot:
    def subtree_root(level: int, index: int) -> bytes:
        return root_from_leaf_hashes(leaves[index << level : (index + 1) << level])

    return subtree_root


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Return the audit path for leaf ``index`` (0-based) in the tree of ``size``.

    ``leaves`` are the leaf hashes of at least ``size`` leaves. Raises
    ValueError unless 0 <= index < size <= len(leaves).
    """
    _check_leaves(leaves, size)
    return inclusion_proof_from(_from_leaves(leaves), index, size)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 2.1.3.2) of leaf hash ``leaf``."""
    if not (_is_hash(leaf) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if not _is_hash(p) or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """Return the consistency proof between trees of ``old_size`` and ``new_size``.

    ``leaves`` are the leaf hashes of at least ``new_size`` leaves. The proof
    is empty when ``old_size`` is 0 or equals ``new_size``. Raises ValueError
    unless 0 <= old_size <= new_size <= len(leaves).
    """
    _check_leaves(leaves, new_size)
    return consistency_proof_from(_from_leaves(leaves), old_size, new_size)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof (RFC 9162 2.1.4.2).

    RFC 9162 covers 0 < old_size < new_size. For equal sizes the proof must be
    empty and the roots equal; for old_size 0 the proof must be empty and
    ``old_root`` must be the empty-tree root.
    """
    if not (_is_size(old_size) and _is_size(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)) or old_size > new_size:
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0 and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
