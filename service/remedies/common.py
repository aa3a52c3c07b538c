"""Pieces every remedy shares: who acts for whom, the record as the rules see it, sealed
texts, audit events, and the suspension of a record's measures.

Suspension. Filing an objection or a complaint about a record marks it
``disputed`` and stops the clock of its measures from that day
(``suspended_since``). An upheld outcome settles the record (corrected or
revoked). A final rejection, or an objection the provider can neither confirm nor
refute, lets the measures resume on the day of the answer: the end moves later by
exactly the suspended time (:func:`policies.records.suspended_end`), kept as
``suspended_days`` so the window the catalog computes includes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies import Role, age_on, decide_case_read, load_catalog, load_consent_settings
from policies.catalog import CatalogItem
from policies.records import (
    DisclosureWindow,
    RecordState,
    disclosure_window,
    effective_record_state,
    suspended_end,
    visible_to_subject,
)
from service.audit_log.writer import AuditEvent
from service.crypto.vault import FieldPlace, SealedField
from service.db.raw import of_session
from service.db.types import iso_z
from service.errors import CodedError
from service.gate.access import AccessDenied
from service.identity.principal import Principal
from service.records.models import CreditRecord
from service.runtime import Services


class RemedyNotFound(Exception):
    """Unknown id, or one the caller may not see (the two get the same answer)."""


class RemedyRefused(CodedError):
    """A remedy cannot go ahead in the state things are in; ``status`` is the HTTP status."""

    def __init__(self, code: str, detail: str, status: int = 409) -> None:
        super().__init__(code, detail)
        self.status = status


def new_id() -> str:
    """A random 32-hex-digit id."""
    return uuid.uuid4().hex


def people_of(principal: Principal) -> list[str]:
    """The subjects a person may act for: themselves, or their wards."""
    if principal.role is Role.SUBJECT and principal.subject_id:
        return [principal.subject_id]
    if principal.role is Role.GUARDIAN:
        return sorted(principal.wards)
    return []


def acts_for(services: Services, session: Session, principal: Principal, subject_id: str, today: date) -> bool:
    """Whether ``principal`` may file for ``subject_id``: the subject, or a guardian of a ward
    still under the guardianship age in China today (the age comes from the gate)."""
    if principal.role is Role.SUBJECT:
        return principal.subject_id == subject_id
    if principal.role is not Role.GUARDIAN or subject_id not in principal.wards:
        return False
    birth = services.gate.birth_date(of_session(session), principal.viewer(), subject_id)
    return birth is not None and age_on(birth, today) < load_consent_settings().guardianship_age


def event(principal: Principal, action: str, *, subject: str | None, request_id: str | None,
          details: dict[str, Any], reason: str = "recorded") -> AuditEvent:
    """An audit event of a remedy: who acted, on whose record, ids and outcomes only."""
    return AuditEvent(actor_type=principal.role.value, actor_id=principal.actor_id, action=action,
                      decision="record", reason=reason, subject=subject, request_id=request_id, details=details)


def seal(services: Services, session: Session, subject_id: str, table: str, column: str, row_id: str,
         text: str) -> bytes:
    """``text`` encrypted under the subject's data key at ``table|column|row_id``."""
    (blob,) = services.vault.encrypt(session, subject_id, [(FieldPlace(table, column, row_id), text)])
    assert blob is not None
    return blob


@dataclass(frozen=True)
class RecordFacts:
    """A stored record with its catalog item, its window in force and its state today."""

    row: CreditRecord
    item: CatalogItem
    window: DisclosureWindow
    state: RecordState


def record_facts(row: CreditRecord, today: date) -> RecordFacts | None:
    """The rules' view of a record; None when its item left the catalog."""
    item = load_catalog().get(row.item_code)
    if item is None:
        return None
    window = disclosure_window(item, row.decision_date, row.severity, row.suspended_days)
    return RecordFacts(row, item, window, effective_record_state(row.state, window, today))


def lock_record(session: Session, record_id: str) -> CreditRecord | None:
    """The record, locked for this transaction (PostgreSQL; SQLite's writer lock is taken at BEGIN)."""
    return session.execute(
        select(CreditRecord).where(CreditRecord.id == record_id).with_for_update()  # type: ignore[arg-type]
    ).scalar_one_or_none()


def subjects_record(services: Services, session: Session, principal: Principal, record_id: str,
                    today: date) -> RecordFacts:
    """A record the caller may act on: theirs (or a ward's) and shown to them today (not
    expired); anything else is :class:`RemedyNotFound`. Locked for the transaction."""
    row = lock_record(session, record_id)
    facts = record_facts(row, today) if row is not None else None
    if facts is None or not acts_for(services, session, principal, facts.row.subject_id, today):
        raise RemedyNotFound
    if not visible_to_subject(facts.state.value, facts.window, today):
        raise RemedyNotFound
    return facts


def suspend(row: CreditRecord, today: date, now: datetime) -> None:
    """Mark the record disputed and stop its measures' clock (if not stopped already)."""
    if row.state in (RecordState.ACTIVE.value, RecordState.DISPUTED.value):
        row.state = RecordState.DISPUTED.value
        row.suspended_since = row.suspended_since or today
        row.state_changed_at = now


def resume(row: CreditRecord, today: date, now: datetime) -> int:
    """The dispute ended without upholding it: the measures resume today and their end moves
    later by the suspended time. Returns the days it moved (0 when nothing was suspended)."""
    if row.state != RecordState.DISPUTED.value or row.suspended_since is None:
        return 0
    facts = record_facts(row, today)
    moved = 0
    if facts is not None:
        later = suspended_end(facts.window.last_day, row.suspended_since, today)
        moved = (later - facts.window.last_day).days
        row.suspended_days += moved
        row.disclosure_ends = later
    row.state = RecordState.ACTIVE.value
    row.suspended_since = None
    row.state_changed_at = now
    return moved


def settle(row: CreditRecord, state: RecordState, now: datetime) -> None:
    """A decision set the record aside (repaired, corrected or revoked): the dispute, if any,
    ends with it."""
    row.state = state.value
    row.suspended_since = None
    row.state_changed_at = now


def sealed_texts(kind: str, table: str, row_id: str, category: str,
                 columns: Mapping[str, tuple[str, bytes | None]]) -> dict[str, SealedField]:
    """A row's encrypted texts for the gate, named ``<kind>:<row id>:<name>`` and opened only
    with a grant for the record's category; ``columns`` maps each name to (column, ciphertext),
    and a text not written yet is left out."""
    need = f"category:{category}"
    return {f"{kind}:{row_id}:{name}": SealedField(FieldPlace(table, column, row_id), blob, need)
            for name, (column, blob) in columns.items() if blob is not None}


R = TypeVar("R")


def read_for_people(
    services: Services, principal: Principal, subject: str | None, *, action: str, request_id: str | None,
    now: datetime, load: Callable[[Session, str], tuple[list[R], dict[str, SealedField], Any]],
) -> list[tuple[list[R], dict[str, str | None], Any]]:
    """For the caller (or each of their wards, or the one named): ``load`` the rows and their
    sealed texts, and open the texts through the gate, one audited read per person. A person
    the gate refuses (a ward who has come of age) is left out; the refusal is audited."""
    out: list[tuple[list[R], dict[str, str | None], Any]] = []
    with services.session() as s:
        for subject_id in [subject] if subject is not None else people_of(principal):
            rows, sealed, context = load(s, subject_id)
            if not rows:
                continue
            try:
                result = services.gate.read_subject(
                    of_session(s), viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
                    action=action, now=now, only_fields=frozenset(), texts=sealed,
                    details={"rows": [getattr(r, "id", None) for r in rows]},
                )
            except AccessDenied:
                continue
            out.append((rows, dict(result.texts), context))
    return out


def provider_rows(services: Services, principal: Principal, model: Any, state: str | None, *, order: Any,
                  action: str, request_id: str | None, today: date) -> list[Any]:
    """The rows of ``model`` that concern the calling provider (in one state, if given), in
    ``order``; reading the list is audited as ``action`` (ids, and how many are overdue)."""
    query = select(model).where(model.provider_id == principal.provider_id)
    if state is not None:
        query = query.where(model.state == state)
    with services.session() as s:
        rows = list(s.execute(query.order_by(order, model.id)).scalars())
    overdue = sum(1 for r in rows if r.state == "open" and today > getattr(r, "due_on", today))
    services.writer.append(event(principal, action, subject=None, request_id=request_id,
                                 details={"rows": [r.id for r in rows], "state": state, "overdue": overdue}))
    return rows


def provider_case_read(services: Services, session: Session, principal: Principal, row: Any, *, action: str,
                       texts: dict[str, SealedField], now: datetime, request_id: str | None) -> Any:
    """What was filed about one of the caller's records, opened through the gate with the
    provider's own decision (``policies.decide_case_read``); another provider's is not found."""
    if row is None or row.provider_id != principal.provider_id:
        raise RemedyNotFound
    decision = decide_case_read(principal.viewer(), row.subject_id, record_provider_id=row.provider_id,
                                category=row.category)
    try:
        return services.gate.read_subject(
            of_session(session), viewer=principal.viewer(), subject_id=row.subject_id, request_id=request_id,
            action=action, now=now, decision=decision, texts=texts, details={"row": row.id},
        )
    except AccessDenied:
        raise RemedyNotFound from None


def filed(principal: Principal, now: datetime, today: date, due: Any) -> dict[str, Any]:
    """The filing columns of a new objection, complaint or repair application (open, due then)."""
    return {"filed_by": principal.account_id or principal.actor_id, "filed_by_role": principal.role.value,
            "state": "open", "filed_at": now, "filed_on": today, "due_on": due.due,
            "due_provisional": due.provisional}


def timing_view(case: Any, today: date, due_key: str) -> dict[str, Any]:
    """When a case was filed, when it is due (``<due_key>``, and whether that date is
    provisional), and whether it is overdue."""
    return {"filed_at": iso_z(case.filed_at), due_key: case.due_on.isoformat(),
            f"{due_key}_provisional": case.due_provisional,
            "overdue": case.state == "open" and today > case.due_on}
