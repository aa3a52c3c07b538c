"""Credit repair (信用修复, NDRC Order 36): free of charge, decided by who decided the record.

The subject (or a guardian) applies with a signed credit commitment (信用承诺书)
and evidence that the obligations were fulfilled. Refused, with a stable code,
when the item cannot be repaired by law, the record is settled already, an
application is open, a revoked repair bars a new one, or the minimum period has
not passed (``policies.remedies.check_repair``). The provider decides within a
period in working days. Approved: the record becomes ``repaired``; it leaves the
serious list, is no longer shared with institutions nor published, and the
subject sees it marked repaired. A repair obtained with false materials is
revoked: the record is in force again and a new application is barred for a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from policies.periods import add_months
from policies.records import RecordState
from policies.remedies import check_repair, load_remedy_rules
from service.audit_log.writer import AuditEvent
from service.crypto.vault import SealedField
from service.db.types import china_today, iso_z
from service.fields import clean_field
from service.identity.principal import Principal
from service.records.models import CreditRecord
from service.remedies.common import (
    RemedyNotFound,
    RemedyRefused,
    event,
    filed,
    lock_record,
    new_id,
    provider_case_read,
    provider_rows,
    read_for_people,
    seal,
    sealed_texts,
    settle,
    subjects_record,
    timing_view,
)
from service.remedies.deadlines import due_after, period_view
from service.remedies.evidence import (
    Attachment,
    check_evidence,
    evidence_of,
    evidence_view,
    sealed_evidence,
    store_evidence,
)
from service.remedies.models import Repair
from service.runtime import Services


@dataclass(frozen=True)
class NewRepair:
    """A repair application as the person sent it (schema-checked)."""

    record_id: str
    commitment: str
    evidence: Sequence[Attachment] = field(default_factory=tuple)


def repair_texts(r: Repair) -> dict[str, SealedField]:
    """The commitment, the provider's answer and any revocation reasons, sealed, for the gate."""
    return sealed_texts("repair", "remedy_repairs", r.id, r.category, {
        "commitment": ("commitment_ct", r.commitment_ct), "answer": ("answer_ct", r.answer_ct),
        "revocation": ("revocation_ct", r.revocation_ct)})


def repair_view(r: Repair, today: date, texts: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A repair application's state, deadline, answer and revocation."""
    opened = texts or {}
    return {
        "id": r.id,
        "record_id": r.record_id,
        "subject_id": r.subject_id,
        "category": r.category,
        "state": r.state,
        "free_of_charge": True,
        **timing_view(r, today, "decide_by"),
        "commitment": opened.get(f"repair:{r.id}:commitment"),
        "answer": None if r.decided_at is None else {
            "outcome": "approved" if r.state in ("approved", "revoked") else r.state,
            "decided_at": iso_z(r.decided_at),
            "reasons": opened.get(f"repair:{r.id}:answer"),
        },
        "revocation": None if r.revoked_at is None else {
            "revoked_at": iso_z(r.revoked_at),
            "reasons": opened.get(f"repair:{r.id}:revocation"),
            "reapply_from": r.barred_until.isoformat() if r.barred_until else None,
        },
    }


class RepairService:
    """Credit repair for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def _barred_until(self, s: Session, record_id: str) -> date | None:
        value = s.execute(
            select(func.max(Repair.barred_until)).where(Repair.record_id == record_id)  # type: ignore[arg-type]
        ).scalar_one_or_none()
        return value if isinstance(value, date) else None

    def file(self, principal: Principal, new: NewRepair, request_id: str | None, now: datetime) -> dict[str, Any]:
        """Apply for repair of one of the caller's records. Raises RemedyNotFound,
        RecordRuleError, RemedyRefused, InvalidField, InvalidEvidence."""
        rules = load_remedy_rules()
        commitment = clean_field(new.commitment, "commitment", max_chars=rules.text.commitment_chars,
                                 multiline=True)
        checked = check_evidence(new.evidence)
        if not checked:
            raise RemedyRefused("evidence_required", "evidence that the obligations were fulfilled is required", 400)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            facts = subjects_record(self._svc, s, principal, new.record_id, today)
            row = facts.row
            open_repair = s.execute(
                select(col(Repair.id)).where(col(Repair.record_id) == row.id, col(Repair.state) == "open")
            ).first() is not None
            check_repair(facts.item, facts.window, facts.state, today, repair_open=open_repair,
                         barred_until=self._barred_until(s, row.id))
            due = due_after(today, rules.repair_decision)
            repair_id = new_id()
            repair = Repair(
                id=repair_id, record_id=row.id, subject_id=row.subject_id, provider_id=row.provider_id,
                category=row.category,
                commitment_ct=seal(self._svc, s, row.subject_id, "remedy_repairs", "commitment_ct", repair_id,
                                   commitment),
                **filed(principal, now, today, due),
            )
            s.add(repair)
            s.flush()
            store_evidence(self._svc, s, row.subject_id, "repair", repair_id, checked)
            self._svc.writer.append_in(s.connection(), event(
                principal, "repair.file", subject=row.subject_id, request_id=request_id,
                details={"repair": repair_id, "record": row.id, "item_code": row.item_code,
                         "due_on": due.due.isoformat(), "due_provisional": due.provisional,
                         "evidence": len(checked)},
            ))
        view = repair_view(repair, today, {f"repair:{repair_id}:commitment": commitment})
        view["decision_period"] = period_view(rules.repair_decision)
        view["evidence"] = [{"media_type": c.media_type, "size_bytes": c.size} for c in checked]
        return view

    def _step(self, principal: Principal, repair_id: str, reasons: str, request_id: str | None, now: datetime, *,
              expected: str, refusal: str, change: Callable[[Session, Repair, CreditRecord, str, date], AuditEvent],
              text_name: str) -> dict[str, Any]:
        """One provider decision on an application in state ``expected`` (``refusal`` otherwise):
        ``change`` updates the application and the record and returns the audit event."""
        rules = load_remedy_rules()
        text = clean_field(reasons, "reasons", max_chars=rules.text.decision_chars, multiline=True)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            repair = s.execute(
                select(Repair).where(Repair.id == repair_id).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
            if repair is None or repair.provider_id != principal.provider_id:
                raise RemedyNotFound
            if repair.state != expected:
                raise RemedyRefused(refusal, f"the application is {repair.state}")
            row = lock_record(s, repair.record_id)
            assert row is not None
            audit = change(s, repair, row, text, today)
            s.flush()
            self._svc.writer.append_in(s.connection(), audit)
        return repair_view(repair, today, {f"repair:{repair.id}:{text_name}": text})

    def decide(self, principal: Principal, repair_id: str, outcome: str, reasons: str, request_id: str | None,
               now: datetime) -> dict[str, Any]:
        """Approve or reject an open application about the caller's record."""

        def change(s: Session, repair: Repair, row: CreditRecord, text: str, today: date) -> AuditEvent:
            if outcome == "approved":
                if row.state not in (RecordState.ACTIVE.value, RecordState.DISPUTED.value):
                    raise RemedyRefused("record_not_active", f"the record is {row.state}")
                settle(row, RecordState.REPAIRED, now)
            repair.state = outcome
            repair.decided_at, repair.decided_on = now, today
            repair.answer_ct = seal(self._svc, s, repair.subject_id, "remedy_repairs", "answer_ct", repair.id, text)
            return event(principal, "repair.decide", subject=repair.subject_id, request_id=request_id,
                         reason=outcome, details={"repair": repair.id, "record": repair.record_id,
                                                  "outcome": outcome, "late": today > repair.due_on})

        return self._step(principal, repair_id, reasons, request_id, now, expected="open", refusal="repair_not_open",
                          change=change, text_name="answer")

    def revoke(self, principal: Principal, repair_id: str, reasons: str, request_id: str | None,
               now: datetime) -> dict[str, Any]:
        """Revoke an approved repair obtained with false materials: the record is in force again
        (while its window lasts) and a new application is barred for ``reapply_bar_months``."""
        bar = load_remedy_rules().reapply_bar_months

        def change(s: Session, repair: Repair, row: CreditRecord, text: str, today: date) -> AuditEvent:
            if row.state == RecordState.REPAIRED.value:
                settle(row, RecordState.ACTIVE, now)
            repair.state = "revoked"
            repair.revoked_at = now
            repair.revocation_ct = seal(self._svc, s, repair.subject_id, "remedy_repairs", "revocation_ct",
                                        repair.id, text)
            repair.barred_until = add_months(today, bar)
            return event(principal, "repair.revoke", subject=repair.subject_id, request_id=request_id,
                         reason="false_evidence", details={"repair": repair.id, "record": repair.record_id,
                                                           "reapply_from": repair.barred_until.isoformat()})

        return self._step(principal, repair_id, reasons, request_id, now, expected="approved",
                          refusal="repair_not_approved", change=change, text_name="revocation")

    def for_person(self, principal: Principal, request_id: str | None, now: datetime,
                   subject: str | None = None) -> list[dict[str, Any]]:
        """Every repair application of the caller (or their wards), newest first."""
        today = china_today(now)

        def load(s: Session, subject_id: str) -> tuple[list[Repair], dict[str, SealedField], Any]:
            repairs = list(s.execute(select(Repair).where(Repair.subject_id == subject_id)).scalars())  # type: ignore[arg-type]
            sealed: dict[str, SealedField] = {}
            for r in repairs:
                sealed.update(repair_texts(r))
            return repairs, sealed, None

        out = [repair_view(r, today, texts)
               for repairs, texts, _ in read_for_people(self._svc, principal, subject, action="repairs.read",
                                                        request_id=request_id, now=now, load=load)
               for r in repairs]
        out.sort(key=lambda v: v["filed_at"], reverse=True)
        return out

    def for_provider(self, principal: Principal, state: str | None, request_id: str | None,
                     now: datetime) -> list[dict[str, Any]]:
        """Applications about the caller's records (no texts), overdue ones marked; audited."""
        today = china_today(now)
        views = []
        for r in provider_rows(self._svc, principal, Repair, state, order=Repair.due_on, action="repairs.list",
                               request_id=request_id, today=today):
            view = repair_view(r, today)
            del view["commitment"]
            views.append(view)
        return views

    def for_provider_one(self, principal: Principal, repair_id: str, request_id: str | None,
                         now: datetime) -> dict[str, Any]:
        """One application with its commitment, evidence and the subject masked for a provider."""
        today = china_today(now)
        with self._svc.session() as s:
            repair = s.get(Repair, repair_id)
            evidence = evidence_of(s, "repair", [repair_id]).get(repair_id, []) if repair else []
            result = provider_case_read(
                self._svc, s, principal, repair, action="repair.read", now=now, request_id=request_id,
                texts={**repair_texts(repair), **sealed_evidence(evidence, repair.category)} if repair else {},
            )
        assert repair is not None  # provider_case_read refused a missing case
        view = repair_view(repair, today, dict(result.texts))
        view["subject"] = {k: v for k, v in result.fields.items() if v is not None}
        view["evidence"] = evidence_view(evidence, result.texts)
        return view


__all__ = ["NewRepair", "RepairService", "repair_texts", "repair_view"]
