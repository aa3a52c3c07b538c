"""Field encryption with per-subject data keys: the single place personal data is decrypted."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.crypto.envelope import (
    DecryptionError,
    field_associated_data,
    open_envelope,
    seal_envelope,
    wrap_associated_data,
)
from service.crypto.keys import KEY_BYTES, KekProvider
from service.crypto.models import SubjectKey
from service.db.raw import RawConnection
from service.gate.grant import check

_SELECT_KEY = "SELECT id, kek_id, wrapped_key FROM subject_keys WHERE subject_id = ?"


class KeyShredded(DecryptionError):
    """The subject's data key is gone (crypto-shredded); their fields cannot be read."""


@dataclass(frozen=True, slots=True)
class FieldPlace:
    """Where a ciphertext lives; part of its associated data."""

    table: str
    column: str
    row_id: str


@dataclass(frozen=True, slots=True)
class SealedField:
    """A stored ciphertext, its place, and what a grant must cover to open it."""

    place: FieldPlace
    blob: bytes | None
    requires: str = field(default="")


class FieldVault:
    """Encrypts personal fields under the subject's data key; decrypts only with a grant."""

    def __init__(self, keks: KekProvider) -> None:
        self._keks = keks

    def _wrap(self, dek_id: str, dek: bytes) -> tuple[str, bytes]:
        kek_id, kek = self._keks.active()
        return kek_id, seal_envelope(kek, kek_id, dek, wrap_associated_data(dek_id, kek_id))

    def _unwrap(self, dek_id: str, kek_id: str, wrapped: bytes) -> bytes:
        kek = self._keks.get(kek_id)
        return open_envelope(kek, wrapped, wrap_associated_data(dek_id, kek_id))

    def _data_key(self, session: Session, subject_id: str) -> tuple[str, bytes]:
        """The subject's data key, created on first use."""
        row = session.execute(
            select(SubjectKey).where(SubjectKey.subject_id == subject_id)  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if row is None:
            dek_id = uuid.uuid4().hex
            dek = os.urandom(KEY_BYTES)
            kek_id, wrapped = self._wrap(dek_id, dek)
            session.add(SubjectKey(id=dek_id, subject_id=subject_id, kek_id=kek_id, wrapped_key=wrapped))
            session.flush()
            return dek_id, dek
        return row.id, self._unwrap(row.id, row.kek_id, row.wrapped_key)

    def encrypt(
        self, session: Session, subject_id: str, values: Iterable[tuple[FieldPlace, str | None]]
    ) -> list[bytes | None]:
        """Encrypt each value for its place with the subject's key (created on first use)."""
        dek_id, dek = self._data_key(session, subject_id)
        out: list[bytes | None] = []
        for place, value in values:
            if value is None:
                out.append(None)
                continue
            ad = field_associated_data(place.table, place.column, place.row_id, dek_id)
            out.append(seal_envelope(dek, dek_id, value.encode("utf-8"), ad))
        return out

    def decrypt(
        self, grant: object, db: RawConnection, subject_id: str, fields: Mapping[str, SealedField]
    ) -> dict[str, str | None]:
        """Open the given fields of one subject. ``grant`` must come from the access gate
        and cover every field's requirement; anything else raises before any key is touched.
        The data key is read afresh each time (never cached), so shredding is immediate."""
        for requirement in {sealed.requires or name for name, sealed in fields.items()}:
            check(grant, subject_id, requirement)
        if all(s.blob is None for s in fields.values()):
            return dict.fromkeys(fields)
        row = db.one(_SELECT_KEY, (subject_id,))
        if row is None:
            raise KeyShredded("no data key for this subject")
        dek_id = row[0]
        dek = AESGCM(self._unwrap(dek_id, row[1], bytes(row[2])))
        out: dict[str, str | None] = {}
        for name, sealed in fields.items():
            if sealed.blob is None:
                out[name] = None
                continue
            p = sealed.place
            ad = field_associated_data(p.table, p.column, p.row_id, dek_id)
            out[name] = open_envelope(dek, sealed.blob, ad, dek_id).decode("utf-8")
        return out

    def shred(self, session: Session, subject_id: str) -> bool:
        """Delete the subject's data key: every field of theirs becomes unreadable for good."""
        result = session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))  # type: ignore[arg-type]
        return bool(result.rowcount)  # type: ignore[attr-defined]
