"""Tables of the remedies: objections, complaints, credit repairs, evidence, listing notices.

Free text a person or a provider writes about a person (reasons, answers,
commitments, the reasons and basis of a listing) and every evidence file are
ciphertext under the subject's data key, at ``<table>|<column>|<row id>``, and
open only through the access gate with a grant for the record's category.
What the rules decide on (states, dates, ids, the category) is in clear: it is
not personal on its own.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Column, Date, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow

OBJECTION_STATES = ("open", "upheld", "rejected", "unconfirmed")
COMPLAINT_STATES = ("open", "upheld", "rejected")
REPAIR_STATES = ("open", "approved", "rejected", "revoked")
NOTICE_STATES = ("notified", "listed", "withdrawn")
RECORD_ACTIONS = ("corrected", "revoked")
EVIDENCE_OWNERS = ("objection", "complaint", "repair")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Case(SQLModel):
    """What objections, complaints and repair applications share: whose, filed by whom and
    when, the record's category (the grant that opens their texts), the state, the due date
    and the decision with its encrypted answer."""

    subject_id: str = Field(sa_type=String(32), foreign_key="subjects.id", nullable=False)
    category: str = Field(sa_type=String(64), nullable=False)
    filed_by: str = Field(sa_type=String(32), nullable=False)
    filed_by_role: str = Field(sa_type=String(16), nullable=False)
    state: str = Field(sa_type=String(16), nullable=False)
    filed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    filed_on: date = Field(sa_type=Date, nullable=False)
    due_on: date = Field(sa_type=Date, nullable=False)
    due_provisional: bool = Field(sa_type=Boolean, nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    decided_on: date | None = Field(default=None, sa_type=Date, nullable=True)
    answer_ct: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)


class Dispute(Case):
    """An objection or a complaint: the reason given, what the decision did to the record, and
    how many days the record's end moved later on it (after a rejection or no confirmation)."""

    reason_ct: bytes = Field(sa_type=LargeBinary, nullable=False)
    record_action: str | None = Field(default=None, sa_type=String(16), nullable=True)
    suspended_days: int | None = Field(default=None, sa_type=Integer, nullable=True)


class Objection(Dispute, table=True):
    """An objection (异议) to a record, or to a listing notice before the listing."""

    __tablename__ = "remedy_objections"
    __table_args__ = (
        CheckConstraint(_in("state", OBJECTION_STATES), name="ck_remedy_objections_state"),
        CheckConstraint("record_action IS NULL OR " + _in("record_action", RECORD_ACTIONS),
                        name="ck_remedy_objections_record_action"),
        CheckConstraint("(record_id IS NULL) <> (notice_id IS NULL)", name="ck_remedy_objections_target"),
        Index("ix_remedy_objections_provider_state", "provider_id", "state"),
        Index("ix_remedy_objections_subject", "subject_id"),
        Index("ix_remedy_objections_record", "record_id"),
        Index("ix_remedy_objections_notice", "notice_id"),
        # One open objection per record and per notice, even under concurrency.
        Index("ux_remedy_objections_open_record", "record_id", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
        Index("ux_remedy_objections_open_notice", "notice_id", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    provider_id: str = Field(sa_column=Column(String(32), ForeignKey("providers.id"), nullable=False))
    record_id: str | None = Field(default=None, sa_column=Column(String(32), ForeignKey("credit_records.id"),
                                                                 nullable=True))
    notice_id: str | None = Field(default=None, sa_column=Column(String(32), ForeignKey("listing_notices.id"),
                                                                 nullable=True))


class Complaint(Dispute, table=True):
    """A complaint (投诉) to the operator after an objection was rejected; one per objection."""

    __tablename__ = "remedy_complaints"
    __table_args__ = (
        CheckConstraint(_in("state", COMPLAINT_STATES), name="ck_remedy_complaints_state"),
        CheckConstraint("record_action IS NULL OR " + _in("record_action", RECORD_ACTIONS),
                        name="ck_remedy_complaints_record_action"),
        Index("ix_remedy_complaints_state", "state"),
        Index("ix_remedy_complaints_subject", "subject_id"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    objection_id: str = Field(sa_column=Column(String(32), ForeignKey("remedy_objections.id"), nullable=False,
                                               unique=True))
    decided_by: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class Repair(Case, table=True):
    """A credit-repair application (信用修复): free of charge, decided by the record's provider."""

    __tablename__ = "remedy_repairs"
    __table_args__ = (
        CheckConstraint(_in("state", REPAIR_STATES), name="ck_remedy_repairs_state"),
        Index("ix_remedy_repairs_provider_state", "provider_id", "state"),
        Index("ix_remedy_repairs_subject", "subject_id"),
        # One open application per record, even under concurrency.
        Index("ux_remedy_repairs_open", "record_id", unique=True,
              sqlite_where=text("state = 'open'"), postgresql_where=text("state = 'open'")),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    record_id: str = Field(sa_column=Column(String(32), ForeignKey("credit_records.id"), nullable=False))
    provider_id: str = Field(sa_column=Column(String(32), ForeignKey("providers.id"), nullable=False))
    commitment_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revocation_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    #: After a revocation for false materials: no new application for the record before this day.
    barred_until: date | None = Field(default=None, sa_column=Column(Date, nullable=True))


class Evidence(SQLModel, table=True):
    """One attachment to an objection, a complaint or a repair application, encrypted."""

    __tablename__ = "remedy_evidence"
    __table_args__ = (
        CheckConstraint(_in("owner_type", EVIDENCE_OWNERS), name="ck_remedy_evidence_owner_type"),
        CheckConstraint("size_bytes > 0", name="ck_remedy_evidence_size"),
        Index("ix_remedy_evidence_owner", "owner_type", "owner_id"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False))
    owner_type: str = Field(sa_column=Column(String(16), nullable=False))
    owner_id: str = Field(sa_column=Column(String(32), nullable=False))
    media_type: str = Field(sa_column=Column(String(64), nullable=False))
    size_bytes: int = Field(sa_column=Column(Integer, nullable=False))
    content_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ListingNotice(SQLModel, table=True):
    """Prior notice of a serious dishonesty listing (列入严重失信主体名单告知), and its decision.

    ``reasons_ct`` (事由) and ``basis_ct`` (依据) are what the subject is told; the decision's
    texts (reasons, basis, measures, removal conditions and procedure, remedies) are one
    encrypted JSON document, ``decision_ct``. A decision to list creates ``record_id``.
    """

    __tablename__ = "listing_notices"
    __table_args__ = (
        CheckConstraint(_in("state", NOTICE_STATES), name="ck_listing_notices_state"),
        Index("ix_listing_notices_provider_state", "provider_id", "state"),
        Index("ix_listing_notices_subject", "subject_id"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False))
    provider_id: str = Field(sa_column=Column(String(32), ForeignKey("providers.id"), nullable=False))
    item_code: str = Field(sa_column=Column(String(64), nullable=False))
    category: str = Field(sa_column=Column(String(64), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    reasons_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    basis_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    notified_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    notified_on: date = Field(sa_column=Column(Date, nullable=False))
    window_closes: date = Field(sa_column=Column(Date, nullable=False))
    window_provisional: bool = Field(sa_column=Column(Boolean, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    decision_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    record_id: str | None = Field(default=None, sa_column=Column(String(32), ForeignKey("credit_records.id"),
                                                                 nullable=True))
