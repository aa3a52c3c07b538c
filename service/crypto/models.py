"""Data keys, stored wrapped by a KEK version: one per subject, and shared text keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, LargeBinary, String
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow


class SubjectKey(SQLModel, table=True):
    """One data-encryption key per subject; deleting the row shreds their data."""

    __tablename__ = "subject_keys"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    subject_id: str = Field(
        sa_column=Column(String(32), ForeignKey("subjects.id"), nullable=False, unique=True)
    )
    kek_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    rewrapped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class TextKey(SQLModel, table=True):
    """A data key for free text that is not tied to one subject's key (a consent
    request may name a person the service does not hold). Rotated like subject keys."""

    __tablename__ = "text_keys"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    kek_id: str = Field(sa_column=Column(String(32), nullable=False, index=True))
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    rewrapped_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
