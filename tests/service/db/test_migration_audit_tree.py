"""Migrating a log written before stored subtree roots and search columns: both are
filled in, the log still verifies and stays append-only, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from audit import AuditEntry, MerkleFrontier, encode_entry, key_id_for, leaf_hash, sign_checkpoint
from service.audit_log.store import verify_database
from service.audit_log.tree import LogTree
from service.crypto.keys import init_key_file, load_keyring
from service.db.engine import make_engine
from service.db.migrate import upgrade
from service.db.raw import raw_connection
from tests.conftest import PG_URL, REQUIRE_PG, _pg_admin
from tests.rfc9162 import inclusion_ok

N = 600


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("CREDITGATE_REQUIRE_PG=1 but CREDITGATE_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL server")
    name = f"cg_mig_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _old_log(engine: Engine, key: object) -> list[AuditEntry]:
    """Entries and checkpoints as the writer stored them before revision 0007."""
    frontier = MerkleFrontier()
    entries = []
    with engine.begin() as conn:
        for seq in range(1, N + 1):
            entry = AuditEntry(seq=seq, ts=f"2026-11-{1 + seq // 100:02d}T08:00:00.{seq:06d}Z",
                               actor_type="institution", actor_id=f"{seq % 3:032x}", action="query",
                               subject=f"{seq:032x}", purpose=None if seq % 5 == 0 else "loan_approval",
                               consent_id=None,
                               decision="deny" if seq % 4 == 0 else "allow",
                               reason="consent_revoked" if seq % 4 == 0 else "consent", request_id=None,
                               details={"seq": seq})
            body = encode_entry(entry)
            frontier.append(leaf_hash(body))
            conn.execute(text(
                "INSERT INTO audit_entries (seq, ts, actor_type, actor_id, action, subject, consent_id, decision, "
                "body, leaf_hash) VALUES (:seq, :ts, :at, :ai, :a, :s, NULL, :d, :b, :lh)"
            ), {"seq": seq, "ts": entry.ts, "at": entry.actor_type, "ai": entry.actor_id, "a": entry.action,
                "s": entry.subject, "d": entry.decision, "b": body, "lh": leaf_hash(body)})
            entries.append(entry)
            if seq % 100 == 0:
                cp = sign_checkpoint(key, seq, frontier.root(), entry.ts)  # type: ignore[arg-type]
                conn.execute(text(
                    "INSERT INTO audit_checkpoints (tree_size, root_hash, ts, key_id, signature, frontier) "
                    "VALUES (:n, :r, :ts, :k, :sig, :f)"
                ), {"n": seq, "r": cp.root_hash, "ts": cp.ts, "k": cp.key_id, "sig": cp.signature,
                    "f": frontier.to_bytes()})
        conn.execute(text("UPDATE audit_head SET size = :n, frontier = :f, checkpoint_size = :n WHERE id = 1"),
                     {"n": N, "f": frontier.to_bytes()})
    return entries


def test_an_old_log_gets_nodes_and_columns(empty_url: str, tmp_path: Path) -> None:
    upgrade(empty_url, "0005")
    key_file = tmp_path / "keys.json"
    init_key_file(key_file)
    key = load_keyring(key_file).signing_key("audit")
    engine = make_engine(empty_url)
    try:
        entries = _old_log(engine, key)
        upgrade(empty_url)
        with raw_connection(engine) as db:
            columns = db.all("SELECT seq, purpose, reason FROM audit_entries ORDER BY seq")
            assert [(p, r) for _, p, r in columns] == [(e.purpose, e.reason) for e in entries]
            nodes = db.all("SELECT level, idx FROM audit_nodes ORDER BY level, idx")
            assert [(int(a), int(b)) for a, b in nodes] == [(8, 0), (8, 1), (9, 0)]
            assert db.one("SELECT last_ts FROM audit_head WHERE id = 1") == (entries[-1].ts,)
            root = db.one("SELECT root_hash FROM audit_checkpoints WHERE tree_size = ?", (N,))
            assert root is not None
            tree = LogTree(db)
            for index in (0, 255, 256, 511, 599):
                proof = tree.inclusion(index, N)
                assert inclusion_ok(encode_entry(entries[index]), index, N, proof, bytes(root[0]))
        pk = key.public_key()
        assert verify_database(engine, {key_id_for(pk): pk}).ok
        for statement in ("UPDATE audit_entries SET reason = 'x' WHERE seq = 1", "DELETE FROM audit_nodes"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()
