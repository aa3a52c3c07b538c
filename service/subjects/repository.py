"""Finding and registering subjects by ID number, through the blind index only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from policies import parse_resident_id
from service.crypto.blind_index import BlindIndex
from service.crypto.vault import FieldPlace, FieldVault
from service.db.raw import RawConnection, as_bytes
from service.db.types import china_today
from service.subjects.models import SUBJECT_FIELD_COLUMNS, Subject

_SEALED = tuple(SUBJECT_FIELD_COLUMNS.values())
# Built from constant column names only.
_SELECT_SUBJECT = "SELECT " + ", ".join(_SEALED) + " FROM subjects WHERE id = ?"  # noqa: S608


@dataclass(frozen=True, slots=True)
class SubjectRow:
    """A subject's stored ciphertexts, as the access gate reads them."""

    id: str
    id_number_ct: bytes | None
    name_ct: bytes | None
    mobile_ct: bytes | None
    address_ct: bytes | None
    bank_card_ct: bytes | None
    birth_date_ct: bytes | None


def load_subject(db: RawConnection, subject_id: str) -> SubjectRow | None:
    """The subject's sealed fields, or None for an unknown id."""
    row = db.one(_SELECT_SUBJECT, (subject_id,))
    if row is None:
        return None
    return SubjectRow(subject_id, *(as_bytes(v) for v in row))


@dataclass(frozen=True)
class SubjectData:
    """Plaintext personal fields of a new subject (held only until encrypted)."""

    id_number: str
    name: str
    mobile: str | None = None
    address: str | None = None
    bank_card: str | None = None


def find_subject_id(session: Session, index: BlindIndex, id_number: str) -> str | None:
    """The pseudonymous subject id for an ID number, or None. Raises InvalidIdentifier."""
    key = index.compute(parse_resident_id(id_number).number)
    return session.execute(
        select(col(Subject.id)).where(col(Subject.id_number_index) == key)
    ).scalar_one_or_none()


def register_subject(session: Session, vault: FieldVault, index: BlindIndex, data: SubjectData) -> tuple[str, bool]:
    """Return (subject id, created). An existing subject is found by blind index and
    left unchanged; a new one is stored with every personal field encrypted, and with
    the birth date sealed apart so that age rules never need the ID number."""
    resident = parse_resident_id(data.id_number, china_today())
    number = resident.number
    existing = find_subject_id(session, index, number)
    if existing is not None:
        return existing, False
    subject_id = uuid.uuid4().hex
    plain = {"id_number": number, "name": data.name, "mobile": data.mobile,
             "address": data.address, "bank_card": data.bank_card, "birth_date": resident.birth_date.isoformat()}
    kinds = list(SUBJECT_FIELD_COLUMNS)
    subject = Subject(id=subject_id, id_number_index=index.compute(number), id_number_ct=b"", name_ct=b"")
    try:
        with session.begin_nested():
            # The row goes in first so the data key's foreign key has something to point at.
            session.add(subject)
            session.flush()
            blobs = vault.encrypt(
                session, subject_id,
                [(FieldPlace("subjects", SUBJECT_FIELD_COLUMNS[k], subject_id), plain[k]) for k in kinds],
            )
            for kind, blob in zip(kinds, blobs, strict=True):
                setattr(subject, SUBJECT_FIELD_COLUMNS[kind], blob)
            session.flush()
    except IntegrityError:
        # Someone registered the same person concurrently; theirs wins.
        found = find_subject_id(session, index, number)
        if found is None:
            raise
        return found, False
    return subject_id, True
