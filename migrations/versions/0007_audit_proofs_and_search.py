"""Audit log: stored subtree roots for proofs, search columns, monotonic entry times.

- ``audit_nodes`` keeps the root of every complete, aligned subtree of 256
  leaves or more, so that an inclusion or consistency proof on a large log
  needs O(log n) stored hashes and fewer than 512 leaf hashes. Append-only like
  the entries (triggers).
- ``audit_entries.purpose`` and ``.reason`` copy two more body fields for the
  auditors' search; verification compares them with the body like the others.
- ``audit_head.last_ts`` lets the writer keep entry times from going backwards,
  so that a time range maps to a seq range.
- The indexes on ``actor_id``, ``subject`` and ``consent_id`` gain ``seq`` as
  their second column, so that a page of one actor's entries in seq order is
  one index range (as many indexes as before, so appends cost the same).

Existing logs are filled in here: nodes from the stored leaf hashes, the two
columns from the bodies (the append-only trigger is lifted for that one
statement and put back as it was; bodies and hashes are not touched), and
``last_ts`` from the newest entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from audit import MerkleFrontier

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The writer's NODE_LEVEL (service/audit_log/tree.py) when this migration was written.
# Nodes are plain subtree roots, so a later change of that level leaves these valid.
NODE_LEVEL = 8
_PAGE = 20_000
_SEARCH_INDEXES = ("actor_id", "subject", "consent_id")


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # creditgate_append_only() comes from the initial migration.
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION creditgate_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION creditgate_append_only()")
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, 'creditgate: {table} is append-only ({action} refused)'); END")


def _field(body: bytes, name: str) -> Any:
    try:
        obj = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None  # a damaged body: left empty, and verification names that entry
    return obj.get(name) if isinstance(obj, dict) else None


def _fill_existing(conn: sa.Connection) -> None:
    frontier: MerkleFrontier | None = MerkleFrontier()
    after = 0
    last_ts = ""
    while True:
        rows = conn.execute(
            sa.text("SELECT seq, body, leaf_hash, ts FROM audit_entries WHERE seq > :after ORDER BY seq LIMIT :n"),
            {"after": after, "n": _PAGE},
        ).all()
        if not rows:
            break
        nodes: list[dict[str, Any]] = []
        columns: list[dict[str, Any]] = []
        for seq, body, lh, ts in rows:
            if frontier is not None and (seq != frontier.size + 1 or lh is None or len(lh) != 32):
                # A gap or a damaged hash: no nodes from here on. Proofs then fall back
                # to the leaves, and verification reports the damage.
                frontier = None
            if frontier is not None:
                nodes += [{"level": level, "idx": idx, "hash": h}
                          for level, idx, h in frontier.append_completed(bytes(lh), NODE_LEVEL)]
            columns.append({"seq": seq, "purpose": _field(body, "purpose"), "reason": _field(body, "reason")})
            last_ts = ts
        if nodes:
            conn.execute(sa.text("INSERT INTO audit_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"), nodes)
        conn.execute(sa.text("UPDATE audit_entries SET purpose = :purpose, reason = :reason WHERE seq = :seq"),
                     columns)
        after = rows[-1][0]
    conn.execute(sa.text("UPDATE audit_head SET last_ts = :ts WHERE id = 1"), {"ts": last_ts})


def _without_update_trigger(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
        _fill_existing(conn)
        conn.execute(sa.text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
        return
    found = conn.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_entries_no_update'"
    )).all()
    for name, _ in found:
        conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
    _fill_existing(conn)
    for _, sql in found:
        conn.execute(sa.text(sql))


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("purpose", sa.String(), nullable=True))
    op.add_column("audit_entries", sa.Column("reason", sa.String(), nullable=True))
    op.add_column("audit_head", sa.Column("last_ts", sa.String(length=32), nullable=False, server_default=""))
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    _without_update_trigger(op.get_bind())
    _append_only("audit_nodes")
    for column in _SEARCH_INDEXES:
        op.drop_index(f"ix_audit_entries_{column}", table_name="audit_entries")
        op.create_index(f"ix_audit_entries_{column}", "audit_entries", [column, "seq"])


def downgrade() -> None:
    for column in _SEARCH_INDEXES:
        op.drop_index(f"ix_audit_entries_{column}", table_name="audit_entries")
        op.create_index(f"ix_audit_entries_{column}", "audit_entries", [column])
    op.drop_table("audit_nodes")
    op.drop_column("audit_head", "last_ts")
    op.drop_column("audit_entries", "reason")
    op.drop_column("audit_entries", "purpose")
