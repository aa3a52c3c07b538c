"""Credit records. Details that can identify or describe the person are
ciphertext under the subject's data key; what policy needs to decide (item,
dates, state) is stored in the clear because it is not personal on its own."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow

RECORD_STATES = ("active", "disputed", "repaired", "corrected", "revoked", "expired")
SEVERITIES = ("light", "ordinary", "severe")
# Personal or identifying record details, encrypted; each opens only with a grant for the record's category.
RECORD_SEALED_COLUMNS = ("document_number_ct", "facts_ct")
#: The subject's own statement on the record (《征信业管理条例》第十六条), sealed like the details.
STATEMENT_COLUMN = "statement_ct"


class CreditRecord(SQLModel, table=True):
    """One registered record, grounded in a legal-effect document."""

    __tablename__ = "credit_records"
    __table_args__ = (
        CheckConstraint("state IN ('" + "', '".join(RECORD_STATES) + "')", name="ck_credit_records_state"),
        CheckConstraint("procedure IN ('general', 'simplified')", name="ck_credit_records_procedure"),
        CheckConstraint("severity IS NULL OR severity IN ('" + "', '".join(SEVERITIES) + "')",
                        name="ck_credit_records_severity"),
        CheckConstraint("suspended_days >= 0", name="ck_credit_records_suspended_days"),
        Index("ux_credit_records_idempotency", "provider_id", "idempotency_key", unique=True),
        Index("ix_credit_records_subject_state", "subject_id", "state"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    subject_id: str = Field(sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False))
    provider_id: str = Field(sa_column=Column(String(32), ForeignKey("providers.id"), nullable=False, index=True))
    item_code: str = Field(sa_column=Column(String(64), nullable=False))
    category: str = Field(sa_column=Column(String(64), nullable=False))
    nature: str = Field(sa_column=Column(String(16), nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    decision_date: date = Field(sa_column=Column(Date, nullable=False))
    #: The last day the record is shown (inclusive), its suspensions included.
    disclosure_ends: date = Field(sa_column=Column(Date, nullable=False))
    document_type: str = Field(sa_column=Column(String(32), nullable=False))
    #: The deciding authority's public name: kept in clear (shown with the record and on the
    #: public list); registration refuses ID-, mobile- and card-shaped numbers in it.
    document_authority: str = Field(sa_column=Column(String(200), nullable=False))
    document_date: date = Field(sa_column=Column(Date, nullable=False))
    document_number_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    facts_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    procedure: str = Field(sa_column=Column(String(16), nullable=False))
    first_violation_corrected: bool = Field(sa_column=Column(Boolean, nullable=False))
    leniency: list[str] = Field(sa_column=Column(JSON, nullable=False))
    #: HMAC-SHA256 (hex) of the provider's ``Idempotency-Key``, never the key itself.
    idempotency_key: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    request_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    state_changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    #: Class of dishonesty information (NDRC Order 36); None for basic and positive items
    #: and for records registered before classes existed (the item's default applies).
    severity: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    #: A minor's record: never shared with institutions, never published.
    sealed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    #: Published (公示) as the item or the deciding department requires.
    published: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=false()))
    #: While an objection or complaint is open: the day its measures were suspended.
    suspended_since: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    #: Days the end moved later after finally rejected objections and complaints.
    suspended_days: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    statement_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    statement_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
