"""Credit records.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 23:29:24.532318
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_records",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("nature", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("disclosure_ends", sa.Date(), nullable=False),
        sa.Column("document_type", sa.String(length=32), nullable=False),
        sa.Column("document_authority", sa.String(length=200), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("document_number_ct", sa.LargeBinary(), nullable=False),
        sa.Column("facts_ct", sa.LargeBinary(), nullable=False),
        sa.Column("procedure", sa.String(length=16), nullable=False),
        sa.Column("first_violation_corrected", sa.Boolean(), nullable=False),
        sa.Column("leniency", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("state_changed_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("procedure IN ('general', 'simplified')", name="ck_credit_records_procedure"),
        sa.CheckConstraint(
            "state IN ('active', 'disputed', 'repaired', 'corrected', 'revoked', 'expired')",
            name="ck_credit_records_state",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_records_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index("ix_credit_records_subject_state", ["subject_id", "state"], unique=False)
        batch_op.create_index("ux_credit_records_idempotency", ["provider_id", "idempotency_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_index("ux_credit_records_idempotency")
        batch_op.drop_index("ix_credit_records_subject_state")
        batch_op.drop_index(batch_op.f("ix_credit_records_provider_id"))

    op.drop_table("credit_records")
