"""Audit checkpoints keep the Merkle frontier of their tree.

A verifier splitting a large log across processes starts each part from the
frontier stored with the checkpoint at the split, after checking that it hashes
to that checkpoint's signed root, instead of rehashing every earlier leaf.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Older checkpoints have none; verifiers then rebuild the frontier from the leaves.
    op.add_column("audit_checkpoints", sa.Column("frontier", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_column("frontier")
