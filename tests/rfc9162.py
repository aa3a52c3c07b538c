"""A minimal RFC 9162 (Certificate Transparency 2.0) Merkle tree checker, written for
the tests only and on purpose unlike ``audit.merkle``.

``audit.merkle`` verifies proofs with the RFC's iterative bit-twiddling
algorithms (sections 2.1.3.2 and 2.1.4.2). This module follows the recursive
definitions of section 2.1 instead: MTH splits a list at the largest power of
two smaller than its length, PATH and SUBPROOF append the sibling subtree's hash
after the deeper part of the proof. Verifying a proof here means running those
definitions backwards, consuming the proof from its end. Two independent
readings of the RFC that agree on every tree size are unlikely to share a bug.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data* (RFC 9162 2.1.1), by the recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf_hash: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that PATH(index, D[size]) and the leaf hash imply, or None if the path
    has the wrong length for that tree."""
    if size == 1:
        return leaf_hash if not path else None
    if not path:
        return None
    k = _split(size)
    *deeper, sibling = path
    if index < k:
        below = root_from_path(leaf_hash, index, k, deeper)
        return None if below is None else _node(below, sibling)
    below = root_from_path(leaf_hash, index - k, size - k, deeper)
    return None if below is None else _node(sibling, below)


def inclusion_ok(leaf_data: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Is ``leaf_data`` the leaf ``index`` of the tree of ``size`` leaves with ``root``?"""
    if not 0 <= index < size or any(len(p) != 32 for p in path):
        return False
    leaf = hashlib.sha256(b"\x00" + leaf_data).digest()
    return root_from_path(leaf, index, size, list(path)) == root


def _subproof(m: int, n: int, complete: bool, proof: list[bytes], old_root: bytes) -> tuple[bytes, bytes] | None:
    # Runs SUBPROOF(m, D[n], b) backwards: returns (MTH(D[0:m]) as seen here, MTH(D[n]))
    # and consumes exactly the elements that SUBPROOF would have produced.
    if m == n:
        if complete:
            return old_root, old_root  # the verifier knows this subtree: it is the old tree
        if not proof:
            return None
        own = proof.pop()
        return own, own
    if not proof:
        return None
    k = _split(n)
    sibling = proof.pop()
    if m <= k:
        inner = _subproof(m, k, complete, proof, old_root)
        return None if inner is None else (inner[0], _node(inner[1], sibling))
    inner = _subproof(m - k, n - k, False, proof, old_root)
    return None if inner is None else (_node(sibling, inner[0]), _node(sibling, inner[1]))


def consistency_ok(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Does the tree of ``new_size`` leaves with ``new_root`` extend the tree of ``old_size``
    leaves with ``old_root`` (RFC 9162 2.1.4, 0 < old_size <= new_size)?"""
    if not 0 < old_size <= new_size or any(len(p) != 32 for p in proof):
        return False
    remaining = list(proof)
    rebuilt = _subproof(old_size, new_size, True, remaining, old_root)
    return rebuilt is not None and not remaining and rebuilt == (old_root, new_root)
