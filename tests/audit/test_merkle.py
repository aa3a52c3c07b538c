"""RFC 9162 Merkle tree: hashes, roots, frontier, inclusion and consistency proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# Certificate Transparency reference vectors (merkle_tree_test.cc, reused by
# Trillian and transparency-dev): inputs, roots of the trees of 1..8 leaves,
# audit paths and consistency proofs.
CT_INPUTS = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
CT_PATHS = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]

MAX_N = 40


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def naive_mth(leaves: list[bytes]) -> bytes:
    """MTH written straight from RFC 9162 2.1.1 (recursive, independent of the code)."""
    n = len(leaves)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _sha(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 9162 2.1.3.1, recursive."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) from RFC 9162 2.1.4.1, recursive."""
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(f"leaf-{i}".encode()) for i in range(n)]


LEAVES = leaves_of(80)


def flip(value: bytes, bit: int = 0) -> bytes:
    data = bytearray(value)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


# --- hashes and roots -----------------------------------------------------------------


def test_leaf_and_node_hash_vectors() -> None:
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    left, right = leaf_hash(b""), leaf_hash(b"\x00")
    assert node_hash(left, right) == CT_ROOTS[1]
    assert node_hash(left, right) != node_hash(right, left)
    # Domain separation: a leaf over 64 bytes is not the node over the same bytes.
    assert leaf_hash(left + right) != node_hash(left, right)


def test_empty_root_is_hash_of_empty_string() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


def test_ct_reference_roots() -> None:
    hashes = [leaf_hash(x) for x in CT_INPUTS]
    for n in range(1, 9):
        assert root_from_leaf_hashes(hashes[:n]) == CT_ROOTS[n - 1]


@pytest.mark.parametrize("n", range(71))
def test_root_matches_naive_mth(n: int) -> None:
    assert root_from_leaf_hashes(LEAVES[:n]) == naive_mth(LEAVES[:n])


# --- frontier -------------------------------------------------------------------------


def test_frontier_root_matches_naive_at_every_size_and_survives_serialisation() -> None:
    frontier = MerkleFrontier()
    assert frontier.size == 0 and frontier.root() == EMPTY_ROOT
    for n in range(1, 71):
        frontier.append(LEAVES[n - 1])
        assert frontier.size == n
        assert frontier.root() == naive_mth(LEAVES[:n]), n
        data = frontier.to_bytes()
        assert len(data) == 8 + 32 * bin(n).count("1")
        restored = MerkleFrontier.from_bytes(data)
        assert restored == frontier
        assert restored.root() == frontier.root()
        # The restored frontier keeps growing into the same tree.
        restored.append(LEAVES[n])
        assert restored.root() == naive_mth(LEAVES[: n + 1])
        assert frontier.size == n  # and the original is untouched


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300))
def test_frontier_resumes_from_any_split(first: int, extra: int) -> None:
    leaves = leaves_of(first + extra)
    frontier = MerkleFrontier()
    for leaf in leaves[:first]:
        frontier.append(leaf)
    resumed = MerkleFrontier.from_bytes(frontier.to_bytes())
    for leaf in leaves[first:]:
        resumed.append(leaf)
    assert resumed.size == first + extra
    assert resumed.root() == root_from_leaf_hashes(leaves)


def test_frontier_copy_is_independent() -> None:
    frontier = MerkleFrontier()
    for leaf in LEAVES[:5]:
        frontier.append(leaf)
    clone = frontier.copy()
    clone.append(LEAVES[5])
    assert frontier.size == 5 and clone.size == 6
    assert frontier.root() == naive_mth(LEAVES[:5])
    assert clone.root() == naive_mth(LEAVES[:6])


def test_frontier_constructor_matches_appends() -> None:
    frontier = MerkleFrontier()
    for leaf in LEAVES[:13]:
        frontier.append(leaf)
    rebuilt = MerkleFrontier(13, frontier.hashes)
    assert rebuilt.root() == frontier.root()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 7,
        (1).to_bytes(8, "big"),  # size 1 needs one hash
        (3).to_bytes(8, "big") + b"\x00" * 32,  # size 3 needs two
        (0).to_bytes(8, "big") + b"\x00" * 32,  # size 0 needs none
        (1).to_bytes(8, "big") + b"\x00" * 31,  # not a multiple of 32
    ],
)
def test_frontier_from_bytes_rejects_inconsistent_data(data: bytes) -> None:
    with pytest.raises(ValueError):
        MerkleFrontier.from_bytes(data)


def test_frontier_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        MerkleFrontier(-1)
    with pytest.raises(ValueError):
        MerkleFrontier(2, [b"\x00" * 31])
    with pytest.raises(ValueError):
        MerkleFrontier().append(b"leaf data, not a leaf hash")


# --- inclusion ------------------------------------------------------------------------


def test_ct_reference_inclusion_paths() -> None:
    hashes = [leaf_hash(x) for x in CT_INPUTS]
    for index, size, path in CT_PATHS:
        expected = [bytes.fromhex(h) for h in path]
        assert inclusion_proof(hashes, index, size) == expected
        assert verify_inclusion(hashes[index], index, size, expected, CT_ROOTS[size - 1])


def test_inclusion_all_pairs_verify_and_match_rfc_path() -> None:
    for size in range(1, MAX_N + 1):
        leaves = LEAVES[:size]
        root = naive_mth(leaves)
        for index in range(size):
            proof = inclusion_proof(LEAVES, index, size)
            assert proof == naive_path(index, leaves), (index, size)
            assert verify_inclusion(LEAVES[index], index, size, proof, root), (index, size)


def test_inclusion_fails_for_any_flipped_proof_hash() -> None:
    for size in range(1, MAX_N + 1):
        root = naive_mth(LEAVES[:size])
        for index in range(size):
            proof = inclusion_proof(LEAVES, index, size)
            for j in range(len(proof)):
                bad = list(proof)
                bad[j] = flip(bad[j], j * 7 + index)
                assert not verify_inclusion(LEAVES[index], index, size, bad, root)
            assert not verify_inclusion(flip(LEAVES[index]), index, size, proof, root)
            assert not verify_inclusion(LEAVES[index], index, size, proof, flip(root))


def test_inclusion_fails_for_wrong_index() -> None:
    for size in range(1, MAX_N + 1):
        root = naive_mth(LEAVES[:size])
        for index in range(size):
            proof = inclusion_proof(LEAVES, index, size)
            for other in range(size):
                if other != index:
                    assert not verify_inclusion(LEAVES[index], other, size, proof, root)
            # Another leaf's hash at this position does not verify either.
            other_leaf = LEAVES[(index + 1) % size]
            if size > 1:
                assert not verify_inclusion(other_leaf, index, size, proof, root)


def test_inclusion_malformed_inputs_return_false() -> None:
    size, index = 7, 2
    root = naive_mth(LEAVES[:size])
    proof = inclusion_proof(LEAVES, index, size)
    leaf = LEAVES[index]
    assert verify_inclusion(leaf, index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof[1:], root)
    assert not verify_inclusion(leaf, index, size, [*proof, proof[0]], root)
    assert not verify_inclusion(leaf, size, size, proof, root)
    assert not verify_inclusion(leaf, size + 3, size, proof, root)
    assert not verify_inclusion(leaf, -1, size, proof, root)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, index, size, [*proof[:-1], proof[-1][:31]], root)
    assert not verify_inclusion(leaf, index, size, [*proof[:-1], "not bytes"], root)  # type: ignore[list-item]
    assert not verify_inclusion(leaf[:31], index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, root[:31])
    assert not verify_inclusion(leaf, True, size, proof, root)


def test_inclusion_proof_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES[:3], 3, 3)
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES[:3], 0, 4)
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES[:3], -1, 3)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_inclusion_property(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=600))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    leaves = leaves_of(size)
    root = root_from_leaf_hashes(leaves)
    proof = inclusion_proof(leaves, index, size)
    assert verify_inclusion(leaves[index], index, size, proof, root)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        bad = list(proof)
        bad[j] = flip(bad[j], bit)
        assert not verify_inclusion(leaves[index], index, size, bad, root)


# --- consistency ----------------------------------------------------------------------


def test_ct_reference_consistency_proofs() -> None:
    hashes = [leaf_hash(x) for x in CT_INPUTS]
    for old, new, proof in CT_CONSISTENCY:
        expected = [bytes.fromhex(h) for h in proof]
        assert consistency_proof(hashes, old, new) == expected
        assert verify_consistency(old, new, CT_ROOTS[old - 1], CT_ROOTS[new - 1], expected)


def test_consistency_all_pairs_verify_and_match_rfc_proof() -> None:
    roots = [naive_mth(LEAVES[:n]) for n in range(MAX_N + 1)]
    for new in range(0, MAX_N + 1):
        for old in range(0, new + 1):
            proof = consistency_proof(LEAVES, old, new)
            if 0 < old < new:
                assert proof == naive_subproof(old, LEAVES[:new], True), (old, new)
            else:
                assert proof == []
            assert verify_consistency(old, new, roots[old], roots[new], proof), (old, new)


def test_consistency_fails_when_anything_is_changed() -> None:
    roots = [naive_mth(LEAVES[:n]) for n in range(MAX_N + 1)]
    for new in range(1, MAX_N + 1):
        for old in range(1, new + 1):
            proof = consistency_proof(LEAVES, old, new)
            for j in range(len(proof)):
                bad = list(proof)
                bad[j] = flip(bad[j], j + old)
                assert not verify_consistency(old, new, roots[old], roots[new], bad), (old, new, j)
            assert not verify_consistency(old, new, flip(roots[old]), roots[new], proof)
            assert not verify_consistency(old, new, roots[old], flip(roots[new]), proof)
            if old < new:
                # The old tree is a prefix of the new one only at the right size.
                assert not verify_consistency(old, new, roots[old - 1], roots[new], proof)


def test_consistency_malformed_inputs_return_false() -> None:
    roots = [naive_mth(LEAVES[:n]) for n in range(12)]
    proof = consistency_proof(LEAVES, 3, 11)
    assert verify_consistency(3, 11, roots[3], roots[11], proof)
    assert not verify_consistency(11, 3, roots[11], roots[3], proof)
    assert not verify_consistency(3, 11, roots[3], roots[11], proof[:-1])
    assert not verify_consistency(3, 11, roots[3], roots[11], [*proof, proof[0]])
    assert not verify_consistency(3, 11, roots[3], roots[11], [])
    assert not verify_consistency(3, 11, roots[3], roots[11], [*proof[:-1], proof[-1][:16]])
    assert not verify_consistency(-1, 11, roots[3], roots[11], proof)
    assert not verify_consistency(3, 11, roots[3][:31], roots[11], proof)
    # Equal sizes: only an empty proof between equal roots.
    assert verify_consistency(5, 5, roots[5], roots[5], [])
    assert not verify_consistency(5, 5, roots[5], roots[4], [])
    assert not verify_consistency(5, 5, roots[5], roots[5], [roots[5]])
    # From the empty tree: empty proof, and the old root must be the empty root.
    assert verify_consistency(0, 7, EMPTY_ROOT, roots[7], [])
    assert not verify_consistency(0, 7, roots[1], roots[7], [])
    assert not verify_consistency(0, 7, EMPTY_ROOT, roots[7], [roots[1]])


def test_consistency_proof_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        consistency_proof(LEAVES[:5], 6, 5)
    with pytest.raises(ValueError):
        consistency_proof(LEAVES[:5], 2, 6)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_consistency_property(data: st.DataObject) -> None:
    new = data.draw(st.integers(min_value=1, max_value=600))
    old = data.draw(st.integers(min_value=1, max_value=new))
    leaves = leaves_of(new)
    old_root = root_from_leaf_hashes(leaves[:old])
    new_root = root_from_leaf_hashes(leaves)
    proof = consistency_proof(leaves, old, new)
    assert verify_consistency(old, new, old_root, new_root, proof)
    if proof:
        j = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bad = list(proof)
        bad[j] = flip(bad[j], data.draw(st.integers(min_value=0, max_value=255)))
        assert not verify_consistency(old, new, old_root, new_root, bad)
