"""Remedies: objections, complaints, credit repairs, evidence, listing notices; record classes.

Adds to ``credit_records`` the class of dishonesty information (NDRC Order 36),
the seal of a minor's record, publication, the suspension of measures, and the
subject's statement; to ``providers`` their administrative level; to
``institutions`` their public contact details (shown in the notice before a
grant). Idempotency keys are stored as keyed hashes from now on: keys stored
in clear before are dropped (a retry after the upgrade registers anew).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:27:40.567953
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remedy_evidence",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_ct", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("owner_type IN ('objection', 'complaint', 'repair')", name="ck_remedy_evidence_owner_type"),
        sa.CheckConstraint("size_bytes > 0", name="ck_remedy_evidence_size"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("remedy_evidence", schema=None) as batch_op:
        batch_op.create_index("ix_remedy_evidence_owner", ["owner_type", "owner_id"], unique=False)

    op.create_table(
        "listing_notices",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reasons_ct", sa.LargeBinary(), nullable=False),
        sa.Column("basis_ct", sa.LargeBinary(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=False),
        sa.Column("window_closes", sa.Date(), nullable=False),
        sa.Column("window_provisional", sa.Boolean(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_ct", sa.LargeBinary(), nullable=True),
        sa.Column("record_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("state IN ('notified', 'listed', 'withdrawn')", name="ck_listing_notices_state"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("listing_notices", schema=None) as batch_op:
        batch_op.create_index("ix_listing_notices_provider_state", ["provider_id", "state"], unique=False)
        batch_op.create_index("ix_listing_notices_subject", ["subject_id"], unique=False)

    op.create_table(
        "remedy_repairs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=32), nullable=False),
        sa.Column("filed_by_role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("commitment_ct", sa.LargeBinary(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("answer_ct", sa.LargeBinary(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_ct", sa.LargeBinary(), nullable=True),
        sa.Column("barred_until", sa.Date(), nullable=True),
        sa.CheckConstraint("state IN ('open', 'approved', 'rejected', 'revoked')", name="ck_remedy_repairs_state"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("remedy_repairs", schema=None) as batch_op:
        batch_op.create_index("ix_remedy_repairs_provider_state", ["provider_id", "state"], unique=False)
        batch_op.create_index("ix_remedy_repairs_subject", ["subject_id"], unique=False)
        batch_op.create_index(
            "ux_remedy_repairs_open",
            ["record_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    op.create_table(
        "remedy_objections",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("provider_id", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=True),
        sa.Column("notice_id", sa.String(length=32), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=32), nullable=False),
        sa.Column("filed_by_role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason_ct", sa.LargeBinary(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("answer_ct", sa.LargeBinary(), nullable=True),
        sa.Column("record_action", sa.String(length=16), nullable=True),
        sa.Column("suspended_days", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "record_action IS NULL OR record_action IN ('corrected', 'revoked')",
            name="ck_remedy_objections_record_action",
        ),
        sa.CheckConstraint("state IN ('open', 'upheld', 'rejected', 'unconfirmed')", name="ck_remedy_objections_state"),
        sa.CheckConstraint("(record_id IS NULL) <> (notice_id IS NULL)", name="ck_remedy_objections_target"),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["listing_notices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["credit_records.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("remedy_objections", schema=None) as batch_op:
        batch_op.create_index("ix_remedy_objections_notice", ["notice_id"], unique=False)
        batch_op.create_index("ix_remedy_objections_provider_state", ["provider_id", "state"], unique=False)
        batch_op.create_index("ix_remedy_objections_record", ["record_id"], unique=False)
        batch_op.create_index("ix_remedy_objections_subject", ["subject_id"], unique=False)
        batch_op.create_index(
            "ux_remedy_objections_open_notice",
            ["notice_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )
        batch_op.create_index(
            "ux_remedy_objections_open_record",
            ["record_id"],
            unique=True,
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )

    op.create_table(
        "remedy_complaints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("objection_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("filed_by", sa.String(length=32), nullable=False),
        sa.Column("filed_by_role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason_ct", sa.LargeBinary(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("answer_ct", sa.LargeBinary(), nullable=True),
        sa.Column("record_action", sa.String(length=16), nullable=True),
        sa.Column("suspended_days", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "record_action IS NULL OR record_action IN ('corrected', 'revoked')",
            name="ck_remedy_complaints_record_action",
        ),
        sa.CheckConstraint("state IN ('open', 'upheld', 'rejected')", name="ck_remedy_complaints_state"),
        sa.ForeignKeyConstraint(
            ["objection_id"],
            ["remedy_objections.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("objection_id"),
    )
    with op.batch_alter_table("remedy_complaints", schema=None) as batch_op:
        batch_op.create_index("ix_remedy_complaints_state", ["state"], unique=False)
        batch_op.create_index("ix_remedy_complaints_subject", ["subject_id"], unique=False)

    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("severity", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("sealed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("suspended_since", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("suspended_days", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("statement_ct", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("statement_at", UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(
            "ck_credit_records_severity", "severity IS NULL OR severity IN ('light', 'ordinary', 'severe')"
        )
        batch_op.create_check_constraint("ck_credit_records_suspended_days", "suspended_days >= 0")
    # Idempotency keys were stored in clear; they are keyed hashes now.
    op.execute("UPDATE credit_records SET idempotency_key = NULL")

    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact", sa.String(length=200), nullable=True))

    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("providers", schema=None) as batch_op:
        batch_op.drop_column("level")

    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("contact")

    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_constraint("ck_credit_records_suspended_days", type_="check")
        batch_op.drop_constraint("ck_credit_records_severity", type_="check")
        batch_op.drop_column("statement_at")
        batch_op.drop_column("statement_ct")
        batch_op.drop_column("suspended_days")
        batch_op.drop_column("suspended_since")
        batch_op.drop_column("published")
        batch_op.drop_column("sealed")
        batch_op.drop_column("severity")

    with op.batch_alter_table("remedy_complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_remedy_complaints_subject")
        batch_op.drop_index("ix_remedy_complaints_state")

    op.drop_table("remedy_complaints")
    with op.batch_alter_table("remedy_objections", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_remedy_objections_open_record",
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )
        batch_op.drop_index(
            "ux_remedy_objections_open_notice",
            sqlite_where=sa.text("state = 'open'"),
            postgresql_where=sa.text("state = 'open'"),
        )
        batch_op.drop_index("ix_remedy_objections_subject")
        batch_op.drop_index("ix_remedy_objections_record")
        batch_op.drop_index("ix_remedy_objections_provider_state")
        batch_op.drop_index("ix_remedy_objections_notice")

    op.drop_table("remedy_objections")
    with op.batch_alter_table("remedy_repairs", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_remedy_repairs_open", sqlite_where=sa.text("state = 'open'"), postgresql_where=sa.text("state = 'open'")
        )
        batch_op.drop_index("ix_remedy_repairs_subject")
        batch_op.drop_index("ix_remedy_repairs_provider_state")

    op.drop_table("remedy_repairs")
    with op.batch_alter_table("listing_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_listing_notices_subject")
        batch_op.drop_index("ix_listing_notices_provider_state")

    op.drop_table("listing_notices")
    with op.batch_alter_table("remedy_evidence", schema=None) as batch_op:
        batch_op.drop_index("ix_remedy_evidence_owner")

    op.drop_table("remedy_evidence")
