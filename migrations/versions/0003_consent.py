"""Consent requests and consents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:39:41.900138
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("subject_index", sa.LargeBinary(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=True),
        sa.Column("valid_until", UTCDateTime(), nullable=True),
        sa.Column("max_queries", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("consent_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'granted', 'rejected', 'expired')", name="ck_consent_requests_state"),
        sa.CheckConstraint("(valid_days IS NULL) <> (valid_until IS NULL)", name="ck_consent_requests_one_validity"),
        sa.CheckConstraint("max_queries >= 1", name="ck_consent_requests_max_queries"),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_requests_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_requests_subject_index"), ["subject_index"], unique=False)

    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=32), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("state_changed_at", UTCDateTime(), nullable=False),
        sa.Column("terms_sha256", sa.String(length=64), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.CheckConstraint("state IN ('active', 'revoked', 'expired', 'exhausted')", name="ck_consents_state"),
        sa.CheckConstraint("max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name="ck_consents_uses"),
        sa.CheckConstraint("valid_until > valid_from", name="ck_consents_window"),
        sa.ForeignKeyConstraint(
            ["granted_by"],
            ["accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["consent_requests.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consents_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_subject_id"))
        batch_op.drop_index(batch_op.f("ix_consents_institution_id"))

    op.drop_table("consents")
    with op.batch_alter_table("consent_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_requests_subject_index"))
        batch_op.drop_index(batch_op.f("ix_consent_requests_institution_id"))

    op.drop_table("consent_requests")
