"""Proofs from the stored log (subtree roots kept by the writer plus leaf hashes), checked by
the tests' own RFC 9162 reading against the signed checkpoints, on both databases."""

from __future__ import annotations

import random

from sqlalchemy import Engine, text

from audit import verify_checkpoint
from service.audit_log.bulk import bulk_append
from service.audit_log.proofs import checkpoint_at, stored_leaf
from service.audit_log.store import load_checkpoints
from service.audit_log.tree import LogTree
from service.audit_log.writer import AuditEvent, AuditWriter
from service.db.raw import raw_connection
from service.runtime import Services
from tests.rfc9162 import consistency_ok, inclusion_ok, mth
from tests.service.audit_log.test_tamper import _drop_triggers


def event(i: int) -> AuditEvent:
    return AuditEvent(actor_type="institution", actor_id=f"{i % 7:032x}", action="query", decision="allow",
                      reason="consent", subject=f"{i:032x}", purpose="loan_approval", details={"i": i})


def small_log(services: Services, n: int, node_level: int) -> list[bytes]:
    """``n`` entries, a checkpoint after every one; returns the bodies."""
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), checkpoint_every=1,
                         node_level=node_level)
    writer.start()
    for i in range(n):
        writer.append(event(i))
    writer.close()
    with raw_connection(services.engine) as db:
        return [bytes(body) for (body,) in db.all("SELECT body FROM audit_entries ORDER BY seq")]


def _nodes(engine: Engine) -> dict[tuple[int, int], bytes]:
    with raw_connection(engine) as db:
        return {(int(lvl), int(i)): bytes(h) for lvl, i, h in db.all("SELECT level, idx, hash FROM audit_nodes")}


def test_every_proof_of_every_size_from_1_to_70(services: Services) -> None:
    bodies = small_log(services, 70, node_level=2)
    pk = services.keyring.signing_key("audit").public_key()
    # The writer kept exactly the complete subtrees of 4 leaves and more.
    assert set(_nodes(services.engine)) == {(lvl, i) for lvl in range(2, 7) for i in range(70 >> lvl)}
    with raw_connection(services.engine) as db:
        tree = LogTree(db, node_level=2)
        for size in range(1, 71):
            cp = checkpoint_at(db, size)
            assert cp is not None and verify_checkpoint(cp, pk) and cp.root_hash == mth(bodies[:size])
            assert tree.root(size) == cp.root_hash
            for index in range(size):
                assert inclusion_ok(bodies[index], index, size, tree.inclusion(index, size), cp.root_hash)
            for old in range(1, size + 1):
                old_cp = checkpoint_at(db, old)
                assert old_cp is not None
                assert consistency_ok(old, size, old_cp.root_hash, cp.root_hash, tree.consistency(old, size))


def test_missing_nodes_are_rebuilt_from_their_children(services: Services) -> None:
    bodies = small_log(services, 37, node_level=2)
    _drop_triggers(services.engine)
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_nodes WHERE level >= 3"))
    with raw_connection(services.engine) as db:
        tree = LogTree(db, node_level=2)
        root = mth(bodies)
        assert tree.root(37) == root
        for index in (0, 17, 36):
            assert inclusion_ok(bodies[index], index, 37, tree.inclusion(index, 37), root)
        assert consistency_ok(9, 37, mth(bodies[:9]), root, tree.consistency(9, 37))


def test_a_large_log_loaded_in_bulk(services: Services) -> None:
    n = 5_000
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), checkpoint_every=1000,
                         checkpoint_seconds=3600)
    assert bulk_append(writer, (event(i) for i in range(n)), per_transaction=2_000) == n
    sizes = [cp.tree_size for cp in load_checkpoints(services.engine)]
    assert sizes == [1000, 2000, 3000, 4000, 5000]
    # One stored root per 256 entries and its ancestors: 19 + 9 + 4 + 2 + 1.
    assert len(_nodes(services.engine)) == 35
    rng = random.Random(5)
    with raw_connection(services.engine) as db:
        tree = LogTree(db)
        latest = checkpoint_at(db, n)
        assert latest is not None
        for seq in [1, 256, 257, n, *rng.sample(range(1, n + 1), 30)]:
            leaf = stored_leaf(db, seq)
            assert leaf is not None
            assert inclusion_ok(leaf.body, seq - 1, n, tree.inclusion(seq - 1, n), latest.root_hash)
        for old in sizes:
            old_cp = checkpoint_at(db, old)
            assert old_cp is not None
            assert consistency_ok(old, n, old_cp.root_hash, latest.root_hash, tree.consistency(old, n))
