"""Identity: institutions, providers, OAuth clients, accounts, guardianships,
authorization codes and used client-assertion ids.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("permitted_purposes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uscc"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_institutions_status"),
    )
    op.create_table(
        "providers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("provider_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uscc"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_providers_status"),
    )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("scopes", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
        sa.CheckConstraint(
            "owner_type IN ('institution', 'provider', 'auditor_tool')", name="ck_oauth_clients_owner_type"
        ),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_oauth_clients_status"),
        sa.CheckConstraint(
            "(auth_method = 'client_secret_basic' AND secret_hash IS NOT NULL AND jwks IS NULL) OR "
            "(auth_method = 'private_key_jwt' AND jwks IS NOT NULL AND secret_hash IS NULL)",
            name="ck_oauth_clients_credentials",
        ),
    )
    op.create_index("ix_oauth_clients_owner", "oauth_clients", ["owner_type", "owner_id"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("subject_id"),
        sa.CheckConstraint("role IN ('subject', 'guardian', 'auditor', 'operator')", name="ck_accounts_role"),
        sa.CheckConstraint("status IN ('active', 'disabled')", name="ck_accounts_status"),
        sa.CheckConstraint(
            "(role = 'subject' AND subject_id IS NOT NULL) OR (role <> 'subject' AND subject_id IS NULL)",
            name="ck_accounts_subject_link",
        ),
        sa.CheckConstraint("failed_logins >= 0", name="ck_accounts_failed_logins"),
    )
    op.create_table(
        "guardianships",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("guardian_account_id", sa.String(length=32), nullable=False),
        sa.Column("ward_subject_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["guardian_account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["ward_subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_guardianships_open", "guardianships", ["guardian_account_id", "ward_subject_id"], unique=True,
        sqlite_where=sa.text("ended_at IS NULL"), postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index("ix_guardianships_ward", "guardianships", ["ward_subject_id"])
    op.create_table(
        "oauth_authorization_codes",
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    op.create_index(
        "ix_oauth_authorization_codes_expires_at", "oauth_authorization_codes", ["expires_at"]
    )
    op.create_table(
        "used_jtis",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.client_id"]),
        sa.PrimaryKeyConstraint("client_id", "jti", name="pk_used_jtis"),
    )
    op.create_index("ix_used_jtis_expires_at", "used_jtis", ["expires_at"])


def downgrade() -> None:
    op.drop_table("used_jtis")
    op.drop_table("oauth_authorization_codes")
    op.drop_table("guardianships")
    op.drop_table("accounts")
    op.drop_table("oauth_clients")
    op.drop_table("providers")
    op.drop_table("institutions")
