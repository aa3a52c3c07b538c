"""Consent requests and consents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow

REQUEST_STATES = ("pending", "granted", "rejected", "expired")
CONSENT_STATES = ("active", "revoked", "expired", "exhausted")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ConsentRequest(SQLModel, table=True):
    """An institution's request. The person is named only by the blind index of the ID
    number, so a request for someone the service does not know looks the same as any other."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        CheckConstraint(_in("state", REQUEST_STATES), name="ck_consent_requests_state"),
        CheckConstraint(
            "(valid_days IS NULL) <> (valid_until IS NULL)", name="ck_consent_requests_one_validity"
        ),
        CheckConstraint("max_queries >= 1", name="ck_consent_requests_max_queries"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    institution_id: str = Field(sa_column=Column(String(32), ForeignKey("institutions.id"), nullable=False, index=True))
    subject_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False, index=True))
    purpose: str = Field(sa_column=Column(String(64), nullable=False))
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    valid_days: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    valid_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    max_queries: int = Field(sa_column=Column(Integer, nullable=False))
    # The institution's free-text reason, sealed with a text key (it may describe the
    # person). Always written; nullable only because the column was added to a live table.
    reason_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    decided_by: str | None = Field(default=None, sa_column=Column(String(32), ForeignKey("accounts.id"), nullable=True))
    consent_id: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))


class Consent(SQLModel, table=True):
    """A granted consent: one purpose, a finite window, a finite number of uses."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_in("state", CONSENT_STATES), name="ck_consents_state"),
        CheckConstraint("max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name="ck_consents_uses"),
        CheckConstraint("valid_until > valid_from", name="ck_consents_window"),
    )

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    request_id: str = Field(
        sa_column=Column(String(32), ForeignKey("consent_requests.id"), nullable=False, unique=True)
    )
    institution_id: str = Field(sa_column=Column(String(32), ForeignKey("institutions.id"), nullable=False, index=True))
    subject_id: str = Field(sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False, index=True))
    purpose: str = Field(sa_column=Column(String(64), nullable=False))
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))
    valid_from: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    valid_until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    max_uses: int = Field(sa_column=Column(Integer, nullable=False))
    uses: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    granted_by: str = Field(sa_column=Column(String(32), ForeignKey("accounts.id"), nullable=False))
    granted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state_changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    terms_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    receipt: str = Field(sa_column=Column(Text, nullable=False))
