"""The proofs of ``audit.merkle`` checked by the tests' own RFC 9162 reading (tests/rfc9162.py):
every leaf and every pair of sizes of every tree from 1 to 70 leaves, and samples of a
large tree; proofs from stored subtree roots equal proofs from the leaves."""

from __future__ import annotations

import random

import pytest

from audit.merkle import (
    MerkleFrontier,
    consistency_proof,
    consistency_proof_from,
    consistency_subtrees,
    inclusion_proof,
    inclusion_proof_from,
    inclusion_subtrees,
    leaf_hash,
    range_subtrees,
    root_from,
    root_from_leaf_hashes,
    root_subtrees,
)
from tests.rfc9162 import consistency_ok, inclusion_ok, mth

DATA = [f"entry {i}".encode() for i in range(70)]
LEAVES = [leaf_hash(d) for d in DATA]
ROOTS = {n: mth(DATA[:n]) for n in range(1, 71)}


def perfect_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Roots of every complete aligned subtree, level by level (level 0: the leaves)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([root_from_leaf_hashes(below[i:i + 2]) for i in range(0, len(below) - 1, 2)])
    return levels


def test_the_reference_agrees_with_audit_on_roots() -> None:
    for n in range(1, 71):
        assert root_from_leaf_hashes(LEAVES[:n]) == ROOTS[n]


@pytest.mark.parametrize("size", range(1, 71))
def test_every_inclusion_proof_of_every_size_verifies(size: int) -> None:
    levels = perfect_levels(LEAVES[:size])
    for index in range(size):
        proof = inclusion_proof(LEAVES, index, size)
        assert inclusion_ok(DATA[index], index, size, proof, ROOTS[size])
        # The same proof from subtree roots alone, asking only for what it declares.
        wanted = set(inclusion_subtrees(index, size))
        asked: list[tuple[int, int]] = []

        def root(level: int, idx: int, asked: list[tuple[int, int]] = asked,
                 levels: list[list[bytes]] = levels) -> bytes:
            asked.append((level, idx))
            return levels[level][idx]

        assert inclusion_proof_from(root, index, size) == proof
        assert set(asked) == wanted
        # A proof does not verify for another leaf, another index or another root.
        assert not inclusion_ok(DATA[index] + b"x", index, size, proof, ROOTS[size])
        if size > 1:
            assert not inclusion_ok(DATA[index], (index + 1) % size, size, proof, ROOTS[size])
            assert not inclusion_ok(DATA[index], index, size, proof[:-1], ROOTS[size])


@pytest.mark.parametrize("new", range(1, 71))
def test_every_consistency_proof_of_every_size_verifies(new: int) -> None:
    levels = perfect_levels(LEAVES[:new])
    for old in range(1, new + 1):
        proof = consistency_proof(LEAVES, old, new)
        assert consistency_ok(old, new, ROOTS[old], ROOTS[new], proof), (old, new)
        assert consistency_proof_from(lambda level, idx, lv=levels: lv[level][idx], old, new) == proof
        assert {s for s in consistency_subtrees(old, new)} <= {
            (lvl, i) for lvl, row in enumerate(levels) for i in range(len(row))
        }
        if old < new:
            # A forked old tree (one leaf changed) is not consistent with the new one.
            forked = mth([*DATA[: old - 1], b"forged"])
            assert not consistency_ok(old, new, forked, ROOTS[new], proof)
            assert not consistency_ok(old, new, ROOTS[old], ROOTS[new], proof[:-1])


def test_roots_from_subtrees_and_frontier_nodes() -> None:
    frontier = MerkleFrontier()
    completed: dict[tuple[int, int], bytes] = {}
    for leaf in LEAVES:
        for level, idx, h in frontier.append_completed(leaf, 2):
            completed[(level, idx)] = h
    levels = perfect_levels(LEAVES)
    # Exactly the complete subtrees of 4 leaves and more, with their roots.
    assert completed == {(lvl, i): h for lvl, row in enumerate(levels) if lvl >= 2 for i, h in enumerate(row)}
    assert frontier.root() == ROOTS[70]
    for n in range(1, 71):
        assert root_from(lambda level, idx: levels[level][idx], n) == ROOTS[n]
        assert sum(1 << level for level, _ in root_subtrees(n)) == n


def test_ranges_that_do_not_split_into_aligned_subtrees_are_refused() -> None:
    assert range_subtrees(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError):
        range_subtrees(3, 7)
    with pytest.raises(ValueError):
        inclusion_subtrees(5, 5)


def test_samples_of_a_large_tree() -> None:
    size = (1 << 17) + 12_345
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    levels = perfect_levels(leaves)
    root = root_from_leaf_hashes(leaves)
    rng = random.Random(9162)
    for index in [0, size - 1, 1 << 16, *rng.sample(range(size), 60)]:
        proof = inclusion_proof_from(lambda level, idx: levels[level][idx], index, size)
        assert len(proof) <= 18
        assert inclusion_ok(index.to_bytes(4, "big"), index, size, proof, root)
    frontier = MerkleFrontier()
    old_roots = {}
    olds = sorted({1, 1 << 16, size - 1, *rng.sample(range(1, size), 40)})
    for i, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        if i in olds:
            old_roots[i] = frontier.root()
    for old in olds:
        proof = consistency_proof_from(lambda level, idx: levels[level][idx], old, size)
        assert consistency_ok(old, size, old_roots[old], root, proof)


def test_the_reference_accepts_the_certificate_transparency_vectors() -> None:
    from tests.audit.test_merkle import CT_CONSISTENCY, CT_INPUTS, CT_PATHS, CT_ROOTS

    for index, size, path in CT_PATHS:
        assert inclusion_ok(CT_INPUTS[index], index, size, [bytes.fromhex(h) for h in path], CT_ROOTS[size - 1])
    for old, new, proof in CT_CONSISTENCY:
        assert consistency_ok(old, new, CT_ROOTS[old - 1], CT_ROOTS[new - 1], [bytes.fromhex(h) for h in proof])
