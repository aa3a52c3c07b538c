"""Storing the birth date apart for subjects registered before it was kept apart.

Run once, by the schema upgrade that added ``subjects.birth_date_ct`` (revision
0008, through ``creditgate db upgrade``). Each subject's ID number is opened
under its own decision (``policies.decide_birth_date_sealing``), the birth date
in it is sealed under the subject's key, and an audit entry for that subject
records the opening in the same transaction, so the person sees it in their
access log.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from policies import InvalidIdentifier, decide_birth_date_sealing, parse_resident_id
from service.audit_log.writer import AuditEvent, AuditWriter
from service.crypto.envelope import DecryptionError
from service.crypto.vault import FieldPlace, FieldVault, SealedField
from service.db.raw import RawConnection, as_bytes
from service.gate.grant import issue
from service.subjects.models import SUBJECT_FIELD_COLUMNS

_PENDING = text("SELECT id, id_number_ct FROM subjects WHERE birth_date_ct IS NULL ORDER BY id")
_STORE = text("UPDATE subjects SET birth_date_ct = :sealed WHERE id = :id")


def seal_birth_dates(conn: Connection, vault: FieldVault, writer: AuditWriter,
                     progress: Callable[[int], None] | None = None) -> int:
    """Seal the birth date of every subject that has none yet, in ``conn``'s transaction;
    how many were sealed. A subject whose ID number cannot be opened (their key was
    shredded) keeps no birth date: age rules then treat their age as unknown."""
    session = Session(bind=conn)
    raw = RawConnection(conn.connection.dbapi_connection, conn.dialect.name)
    sealed_count = 0
    events: list[AuditEvent] = []
    for subject_id, id_number_ct in conn.execute(_PENDING).all():
        decision = decide_birth_date_sealing(subject_id)
        place = FieldPlace("subjects", SUBJECT_FIELD_COLUMNS["id_number"], subject_id)
        try:
            opened = vault.decrypt(issue(decision), raw, subject_id,
                                   {"id_number": SealedField(place, as_bytes(id_number_ct))})
            birth = parse_resident_id(opened["id_number"] or "").birth_date
        except (InvalidIdentifier, DecryptionError):
            continue  # a shredded key (or a number that never parsed) leaves the row as it is
        [blob] = vault.encrypt(session, subject_id,
                               [(FieldPlace("subjects", SUBJECT_FIELD_COLUMNS["birth_date"], subject_id),
                                 birth.isoformat())])
        conn.execute(_STORE, {"sealed": blob, "id": subject_id})
        events.append(AuditEvent(
            actor_type="operator", actor_id="schema-upgrade", action="subject.birth_date.seal", decision="allow",
            reason=decision.reason, subject=subject_id, details={"fields": ["id_number"]},
        ))
        sealed_count += 1
        if progress is not None:
            progress(1)
    if events:
        writer.append_in(conn, *events)
    return sealed_count
