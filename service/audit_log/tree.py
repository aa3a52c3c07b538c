"""Proofs and roots of the stored log's Merkle tree, from O(log n) stored hashes.

An RFC 9162 proof for a tree of n leaves is made of the roots of O(log n)
perfect, aligned subtrees (``audit.inclusion_subtrees`` and friends say
which). Since the log is append-only, a complete subtree never changes. The
writer stores the root of every complete subtree of ``2**NODE_LEVEL`` leaves
and more (table ``audit_nodes``, one row per 128 entries on average), in the
commit that completes it. A smaller subtree is hashed from its leaf hashes,
read by one range scan of fewer than ``2**NODE_LEVEL`` rows. A proof therefore
costs one node query, at most two short leaf scans and under 512 hashes,
whatever the size of the log.

Why 256 leaves (measured in bench/bench_audit.py and described in
docs/ARCHITECTURE.md): storing every level would add a row per entry to the
writer's commit; storing from 256 up adds about one row per 128 entries, and
hashing up to 255 leaves per proof side costs well under a millisecond.

A node that is missing (a log migrated with damage, or a table tampered with)
is replaced by its two children, down to the leaves: slower, never wrong. The
stored hashes are not trusted either way: a proof made from a changed hash
does not verify against the signed root.
"""

from __future__ import annotations

from collections.abc import Iterable

from audit import (
    Subtree,
    consistency_proof_from,
    consistency_subtrees,
    inclusion_proof_from,
    inclusion_subtrees,
    node_hash,
    root_from,
    root_from_leaf_hashes,
    root_subtrees,
)
from service.db.raw import RawConnection
from service.errors import CodedError

#: Subtrees of ``2**NODE_LEVEL`` leaves and more have their roots stored.
NODE_LEVEL = 8

_LEAVES = "SELECT seq, leaf_hash FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq"
_NODE_TERM = "(level = ? AND idx = ?)"


class LogIncomplete(CodedError):
    """The stored log lacks leaves the tree of the requested size needs: it was cut or
    damaged after that tree was signed (``creditgate audit verify`` says where)."""

    def __init__(self, detail: str) -> None:
        super().__init__("log_incomplete", detail)


class LogTree:
    """Roots and proofs of the log stored behind ``db`` (any size up to the log's)."""

    def __init__(self, db: RawConnection, node_level: int = NODE_LEVEL) -> None:
        self._db = db
        self._level = node_level

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf ``index`` (seq - 1) in the tree of ``size`` leaves."""
        roots = self.subtree_roots(inclusion_subtrees(index, size))
        return inclusion_proof_from(lambda level, idx: roots[(level, idx)], index, size)

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """The consistency proof from the tree of ``old_size`` leaves to ``new_size``."""
        roots = self.subtree_roots(consistency_subtrees(old_size, new_size))
        return consistency_proof_from(lambda level, idx: roots[(level, idx)], old_size, new_size)

    def root(self, size: int) -> bytes:
        """The root hash of the tree of the first ``size`` leaves."""
        roots = self.subtree_roots(root_subtrees(size))
        return root_from(lambda level, idx: roots[(level, idx)], size)

    def subtree_roots(self, wanted: Iterable[Subtree]) -> dict[Subtree, bytes]:
        """The root of each wanted subtree: stored ones read, small ones hashed from leaves."""
        found: dict[Subtree, bytes] = {}
        # A subtree's root comes from the table, or from its children (missing
        # nodes), or from its leaves; ``pending`` is what the next step resolves.
        pending = list(dict.fromkeys(wanted))
        plan: list[Subtree] = []  # subtrees to assemble from children, deepest last
        while pending:
            stored = [s for s in pending if s[0] >= self._level]
            small = [s for s in pending if s[0] < self._level]
            found.update(self._stored(stored))
            found.update(self._from_leaves(small))
            missing = [s for s in stored if s not in found]
            plan += missing
            pending = [child for level, idx in missing for child in ((level - 1, 2 * idx), (level - 1, 2 * idx + 1))]
            pending = [s for s in dict.fromkeys(pending) if s not in found]
        for level, idx in reversed(plan):
            found[(level, idx)] = node_hash(found[(level - 1, 2 * idx)], found[(level - 1, 2 * idx + 1)])
        return found

    def _stored(self, subtrees: list[Subtree]) -> dict[Subtree, bytes]:
        if not subtrees:
            return {}
        # Built from a constant term repeated; every value is a bound parameter.
        where = " OR ".join([_NODE_TERM] * len(subtrees))
        params = [v for s in subtrees for v in s]
        rows = self._db.all(f"SELECT level, idx, hash FROM audit_nodes WHERE {where}", params)  # noqa: S608
        return {(int(level), int(idx)): bytes(h) for level, idx, h in rows}

    def _from_leaves(self, subtrees: list[Subtree]) -> dict[Subtree, bytes]:
        # Leaf index i is seq i + 1. Overlapping or adjacent spans are read once.
        spans = sorted((idx << level, (idx + 1) << level) for level, idx in subtrees)
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        leaves: dict[int, bytes] = {}
        for start, end in merged:
            rows = self._db.all(_LEAVES, (start, end))
            if len(rows) != end - start or (rows and (rows[0][0] != start + 1 or rows[-1][0] != end)):
                raise LogIncomplete(f"leaves {start + 1}..{end} are not all stored")
            for offset, (_, lh) in enumerate(rows):
                leaves[start + offset] = bytes(lh)
        return {
            (level, idx): root_from_leaf_hashes([leaves[i] for i in range(idx << level, (idx + 1) << level)])
            for level, idx in subtrees
        }
