"""Hardening: per-source login throttles, token revocation, a shared key for free
text, birth dates kept apart from ID numbers, consent reasons encrypted.

- ``login_throttles``: failed logins counted per (account, client source) and per
  source, in the database so that every service process sees the same counts.
- ``revoked_tokens``: access tokens revoked before their expiry (the token of an
  authorization code that was replayed); ``oauth_authorization_codes.token_jti``
  names the token each code was exchanged for.
- ``text_keys``: data keys for free text that is not tied to one subject's key
  (a consent request may name a person the service does not know).
- ``subjects.birth_date_ct``: the birth date, sealed under the subject's key, so
  that age rules never open the ID number.
- ``consent_requests.reason_ct`` replaces the plaintext ``reason``.

Existing subjects and consent requests are converted by data steps that need the
keys (``creditgate db upgrade`` passes them in); a database that has rows to
convert and no keys is refused rather than left half converted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from service.db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _data_steps(needed: str) -> Any:
    steps = context.config.attributes.get("data_steps")
    if steps is None:
        raise RuntimeError(
            f"this upgrade must convert existing {needed} and needs the keys for that: "
            "run `creditgate db upgrade` with the service's key file (or CREDITGATE_MASTER_KEY)"
        )
    return steps


def upgrade() -> None:
    conn = op.get_bind()
    # Decided before any change: SQLite runs schema changes outside a transaction, so a
    # refusal half way would leave a schema that is neither this revision nor the last.
    has_subjects = conn.execute(sa.text("SELECT 1 FROM subjects LIMIT 1")).first() is not None
    has_requests = conn.execute(sa.text("SELECT 1 FROM consent_requests LIMIT 1")).first() is not None
    steps = _data_steps("subjects and consent requests") if has_subjects or has_requests else None

    op.create_table(
        "login_throttles",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
        sa.Column("last_failure_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "source", name="pk_login_throttles"),
        sa.CheckConstraint("failures >= 0", name="ck_login_throttles_failures"),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.add_column("oauth_authorization_codes", sa.Column("token_jti", sa.String(length=64), nullable=True))
    op.create_table(
        "text_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("rewrapped_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_text_keys_kek_id", "text_keys", ["kek_id"])
    op.add_column("subjects", sa.Column("birth_date_ct", sa.LargeBinary(), nullable=True))
    op.add_column("consent_requests", sa.Column("reason_ct", sa.LargeBinary(), nullable=True))

    if steps is not None and has_subjects:
        steps.seal_birth_dates(conn)
    if steps is not None and has_requests:
        steps.seal_consent_reasons(conn)
    if conn.dialect.name == "sqlite":
        # Overwrite the freed space of the plaintext column instead of leaving it in the file.
        conn.exec_driver_sql("PRAGMA secure_delete = ON")
    op.drop_column("consent_requests", "reason")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM consent_requests LIMIT 1")).first() is not None:
        # The reasons exist only encrypted now: going back would put them in clear.
        raise RuntimeError("0008 cannot be downgraded while consent requests exist (their reasons are encrypted)")
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=500), nullable=False, server_default=""))
        batch.drop_column("reason_ct")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("birth_date_ct")
    op.drop_index("ix_text_keys_kek_id", table_name="text_keys")
    op.drop_table("text_keys")
    with op.batch_alter_table("oauth_authorization_codes") as batch:
        batch.drop_column("token_jti")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_table("login_throttles")
