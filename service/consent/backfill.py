"""Encrypting the reasons of consent requests stored before reasons were encrypted.

Run once, by the schema upgrade that replaced ``consent_requests.reason`` with
``reason_ct`` (revision 0008, through ``creditgate db upgrade``), before the
plaintext column is dropped.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from service.consent.reasons import reason_place
from service.crypto.vault import FieldVault

_PENDING = text("SELECT id, reason FROM consent_requests WHERE reason_ct IS NULL ORDER BY id")
_STORE = text("UPDATE consent_requests SET reason_ct = :sealed WHERE id = :id")


def seal_reasons(conn: Connection, vault: FieldVault) -> int:
    """Seal every plaintext reason under the text key, in ``conn``'s transaction; how many."""
    rows = conn.execute(_PENDING).all()
    blobs = vault.encrypt_text(Session(bind=conn), [(reason_place(rid), reason) for rid, reason in rows])
    for (request_id, _), blob in zip(rows, blobs, strict=True):
        conn.execute(_STORE, {"sealed": blob, "id": request_id})
    return len(rows)
