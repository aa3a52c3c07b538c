"""Field encryption with per-subject data keys: the single place personal data is decrypted.

Free text that may describe a person but is not tied to a subject's key (a
consent request's reason: the person may not be known yet) is sealed under a
shared text key instead (``text_keys``), with the same envelope and associated
data, and opened only with a grant for the subject it is about.
"""

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
    envelope_key_id,
    field_associated_data,
    open_envelope,
    seal_envelope,
    wrap_associated_data,
)
from service.crypto.keys import KEY_BYTES, KekProvider
from service.crypto.models import SubjectKey, TextKey
from service.db.raw import RawConnection
from service.gate.grant import check

_SELECT_KEY = "SELECT id, kek_id, wrapped_key FROM subject_keys WHERE subject_id = ?"
_SELECT_TEXT_KEY = "SELECT id, kek_id, wrapped_key FROM text_keys WHERE id = ?"
TEXT_KEYS = "text_keys"


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
    #: Sealed under a shared text key (see the module docstring), not the subject's.
    shared: bool = False


class FieldVault:
    """Encrypts personal fields under the subject's data key; decrypts only with a grant."""

    def __init__(self, keks: KekProvider) -> None:
        self._keks = keks

    def _wrap(self, dek_id: str, dek: bytes) -> tuple[str, bytes]:
        kek_id, kek = self._keks.active()
        return kek_id, seal_envelope(kek, kek_id, dek, wrap_associated_data(dek_id, kek_id))

    def _unwrap(self, dek_id: str, kek_id: str, wrapped: bytes, table: str = "subject_keys") -> bytes:
        kek = self._keks.get(kek_id)
        return open_envelope(kek, wrapped, wrap_associated_data(dek_id, kek_id, table))

    def _text_key(self, session: Session) -> tuple[str, bytes]:
        """The newest text key, created on first use. Two processes creating one at
        the same moment leave two keys, which is harmless: each envelope names its key."""
        row = session.execute(
            select(TextKey).order_by(TextKey.created_at.desc()).limit(1)  # type: ignore[attr-defined]
        ).scalar_one_or_none()
        if row is not None:
            return row.id, self._unwrap(row.id, row.kek_id, row.wrapped_key, TEXT_KEYS)
        key_id = uuid.uuid4().hex
        key = os.urandom(KEY_BYTES)
        kek_id, kek = self._keks.active()
        wrapped = seal_envelope(kek, kek_id, key, wrap_associated_data(key_id, kek_id, TEXT_KEYS))
        session.add(TextKey(id=key_id, kek_id=kek_id, wrapped_key=wrapped))
        session.flush()
        return key_id, key

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
        return self._seal(*self._data_key(session, subject_id), values)

    def encrypt_text(self, session: Session, values: Iterable[tuple[FieldPlace, str | None]]) -> list[bytes | None]:
        """Encrypt free text for its place with the shared text key; open it with a
        :class:`SealedField` marked ``shared``."""
        return self._seal(*self._text_key(session), values)

    @staticmethod
    def _seal(dek_id: str, dek: bytes, values: Iterable[tuple[FieldPlace, str | None]]) -> list[bytes | None]:
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
        subject_key: tuple[str, AESGCM] | None = None
        if any(s.blob is not None and not s.shared for s in fields.values()):
            row = db.one(_SELECT_KEY, (subject_id,))
            if row is None:
                raise KeyShredded("no data key for this subject")
            subject_key = row[0], AESGCM(self._unwrap(row[0], row[1], bytes(row[2])))
        shared: dict[str, AESGCM] = {}
        out: dict[str, str | None] = {}
        for name, sealed in fields.items():
            if sealed.blob is None:
                out[name] = None
                continue
            if sealed.shared:
                key_id = envelope_key_id(sealed.blob)
                if key_id not in shared:
                    shared[key_id] = self._shared_key(db, key_id)
                key = shared[key_id]
            else:
                assert subject_key is not None
                key_id, key = subject_key
            p = sealed.place
            ad = field_associated_data(p.table, p.column, p.row_id, key_id)
            out[name] = open_envelope(key, sealed.blob, ad, key_id).decode("utf-8")
        return out

    def _shared_key(self, db: RawConnection, key_id: str) -> AESGCM:
        row = db.one(_SELECT_TEXT_KEY, (key_id,))
        if row is None:
            raise DecryptionError("no such text key")
        return AESGCM(self._unwrap(row[0], row[1], bytes(row[2]), TEXT_KEYS))

    def shred(self, session: Session, subject_id: str) -> bool:
        """Delete the subject's data key: every field of theirs becomes unreadable for good."""
        result = session.execute(delete(SubjectKey).where(SubjectKey.subject_id == subject_id))  # type: ignore[arg-type]
        return bool(result.rowcount)  # type: ignore[attr-defined]
