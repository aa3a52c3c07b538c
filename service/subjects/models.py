"""The people the service holds data about. Every personal column is ciphertext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, String
from sqlmodel import Field, SQLModel

from service.db.types import UTCDateTime, utcnow


class Subject(SQLModel, table=True):
    """A natural person. ``id`` is a random pseudonym, the only identifier used in audit."""

    __tablename__ = "subjects"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    id_number_index: bytes = Field(sa_column=Column(LargeBinary(16), nullable=False, unique=True))
    id_number_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    name_ct: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    mobile_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    address_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    bank_card_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # The birth date (ISO date), sealed apart from the ID number so that age rules open
    # only the date. Null only for a row the 0008 upgrade could not read: age unknown.
    birth_date_ct: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


# Which encrypted column holds which kind of personal field (policies.FieldKind values).
SUBJECT_FIELD_COLUMNS: dict[str, str] = {
    "id_number": "id_number_ct",
    "name": "name_ct",
    "mobile": "mobile_ct",
    "address": "address_ct",
    "bank_card": "bank_card_ct",
    "birth_date": "birth_date_ct",
}
