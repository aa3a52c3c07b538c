"""Initial schema: subjects, data keys, the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_entries", "audit_checkpoints")


def _append_only_triggers() -> None:
    """Refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) in the database itself,
    so a bug or a stray session cannot rewrite history; only dropping the trigger
    can, and `creditgate audit verify` catches what happens after that."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION creditgate_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'creditgate: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION creditgate_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION creditgate_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'creditgate: {table} is append-only ({action} refused)'); END"
            )


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tree_size"),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("actor_type", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=True),
        sa.Column("consent_id", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_entries_actor_id", "audit_entries", ["actor_id"])
    op.create_index("ix_audit_entries_consent_id", "audit_entries", ["consent_id"])
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_unix_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The single head row always exists, so appenders only ever lock it, never race to create it.
    head = sa.table(
        "audit_head",
        sa.column("id", sa.Integer), sa.column("size", sa.BigInteger), sa.column("frontier", sa.LargeBinary),
        sa.column("checkpoint_size", sa.BigInteger), sa.column("checkpoint_unix_ms", sa.BigInteger),
    )
    op.bulk_insert(head, [{"id": 1, "size": 0, "frontier": bytes(8), "checkpoint_size": 0, "checkpoint_unix_ms": 0}])
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("id_number_index", sa.LargeBinary(length=16), nullable=False),
        sa.Column("id_number_ct", sa.LargeBinary(), nullable=False),
        sa.Column("name_ct", sa.LargeBinary(), nullable=False),
        sa.Column("mobile_ct", sa.LargeBinary(), nullable=True),
        sa.Column("address_ct", sa.LargeBinary(), nullable=True),
        sa.Column("bank_card_ct", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("id_number_index"),
    )
    op.create_table(
        "subject_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("rewrapped_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id"),
    )
    op.create_index("ix_subject_keys_kek_id", "subject_keys", ["kek_id"])
    _append_only_triggers()


def downgrade() -> None:
    op.drop_table("subject_keys")
    op.drop_table("subjects")
    op.drop_table("audit_head")
    op.drop_table("audit_entries")
    op.drop_table("audit_checkpoints")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS creditgate_append_only()")
