"""Objections (异议): filed by the subject or a guardian, answered by the provider.

An objection is about a record, or about a listing notice before the listing is
decided. Filing one about a record marks it ``disputed`` at once and suspends
its measures; institutions see the mark. The provider that registered the
record (or gave the notice) answers within the item's period
(``policies.remedies.objection_period``), in writing:

- ``upheld``: the record is corrected (optionally with corrected facts) or
  revoked, and leaves every report and the public list; for a notice, the
  notice is withdrawn;
- ``rejected``: the measures resume and their end moves later by the suspended
  time; the subject may then complain to the operator;
- ``unconfirmed``: the facts could be neither confirmed nor refuted; the record
  stays and the objection is kept beside it, shown to whoever sees the record
  (《征信业管理条例》第二十五条); the measures resume as after a rejection.

Every filing and answer commits together with its audit entry (ids, outcome,
dates; never the texts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from policies import load_catalog
from policies.records import RecordRuleError, RecordState
from policies.remedies import check_notice_objection, check_objection, load_remedy_rules, objection_period
from service.crypto.vault import SealedField
from service.db.types import china_today, iso_z
from service.fields import clean_field
from service.identity.principal import Principal
from service.records.models import CreditRecord
from service.remedies.common import (
    RemedyNotFound,
    RemedyRefused,
    acts_for,
    event,
    filed,
    lock_record,
    new_id,
    provider_case_read,
    provider_rows,
    read_for_people,
    resume,
    seal,
    sealed_texts,
    settle,
    subjects_record,
    suspend,
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
from service.remedies.models import Complaint, ListingNotice, Objection
from service.runtime import Services

OUTCOMES = ("upheld", "rejected", "unconfirmed")
RECORD_ACTIONS = ("corrected", "revoked")


@dataclass(frozen=True)
class NewObjection:
    """An objection as the person sent it (schema-checked): exactly one of ``record_id`` and
    ``notice_id``."""

    reason: str
    record_id: str | None = None
    notice_id: str | None = None
    evidence: Sequence[Attachment] = field(default_factory=tuple)


@dataclass(frozen=True)
class Answer:
    """The answer to an objection (the provider's) or to a complaint (the operator's), schema-checked:
    ``upheld`` with a ``record_action`` (and, when corrected, optionally the corrected facts),
    ``rejected``, or (objections only) ``unconfirmed``; always with written reasons."""

    outcome: str
    reasons: str
    record_action: str | None = None
    corrected_facts: str | None = None


def checked_answer(answer: Answer, *, about_record: bool) -> str | None:
    """Check the answer's record action; the corrected facts, cleaned, if any. An upheld answer
    about a record corrects or revokes it (``record_action_required``); nothing else may
    (``record_action_not_applicable``)."""
    upheld_record = answer.outcome == "upheld" and about_record
    if upheld_record and answer.record_action is None:
        raise RemedyRefused("record_action_required", "an upheld answer corrects or revokes the record", 400)
    if not upheld_record and (answer.record_action is not None or answer.corrected_facts is not None):
        raise RemedyRefused("record_action_not_applicable", "only an upheld answer about a record corrects or "
                                                            "revokes it", 400)
    if answer.corrected_facts is None:
        return None
    if answer.record_action != "corrected":
        raise RemedyRefused("record_action_not_applicable", "corrected facts go with record_action corrected", 400)
    return clean_field(answer.corrected_facts, "corrected_facts", max_chars=2000, multiline=True)


def answer_view(d: Objection | Complaint, kind: str, texts: dict[str, str | None]) -> dict[str, Any] | None:
    """The decision on an objection or a complaint, once there is one."""
    if d.decided_at is None:
        return None
    return {
        "outcome": d.state,
        "decided_at": iso_z(d.decided_at),
        "reasons": texts.get(f"{kind}:{d.id}:answer"),
        "record_action": d.record_action,
        "measures_end_moved_days": d.suspended_days,
    }


def dispute_open(session: Session, *, record_id: str | None = None, notice_id: str | None = None) -> bool:
    """Whether an objection, or a complaint after one, is open about the record or notice."""
    target = col(Objection.record_id) == record_id if record_id else col(Objection.notice_id) == notice_id
    objection = session.execute(
        select(col(Objection.id)).where(target, col(Objection.state) == "open").limit(1)
    ).first()
    if objection is not None:
        return True
    complaint = session.execute(
        select(col(Complaint.id)).join(Objection, col(Objection.id) == Complaint.objection_id)
        .where(target, col(Complaint.state) == "open").limit(1)
    ).first()
    return complaint is not None


def texts_of(objection: Objection) -> dict[str, SealedField]:
    """The objection's reason and answer, sealed, for the gate."""
    return sealed_texts("objection", "remedy_objections", objection.id, objection.category,
                        {"reason": ("reason_ct", objection.reason_ct), "answer": ("answer_ct", objection.answer_ct)})


def objection_view(o: Objection, today: date, texts: dict[str, str | None] | None = None) -> dict[str, Any]:
    """An objection's state, deadline and answer; ``texts`` (opened by the gate) fill in the
    reason and the provider's answer."""
    opened = texts or {}
    return {
        "id": o.id,
        "record_id": o.record_id,
        "notice_id": o.notice_id,
        "subject_id": o.subject_id,
        "category": o.category,
        "state": o.state,
        **timing_view(o, today, "answer_by"),
        "reason": opened.get(f"objection:{o.id}:reason"),
        "answer": answer_view(o, "objection", opened),
    }


class ObjectionService:
    """Objections for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    # --- filing ------------------------------------------------------------------------------

    def file(self, principal: Principal, new: NewObjection, request_id: str | None, now: datetime) -> dict[str, Any]:
        """File an objection; answers its view with the answer-by date. Raises RemedyNotFound,
        RecordRuleError, InvalidField, InvalidEvidence."""
        rules = load_remedy_rules()
        reason = clean_field(new.reason, "reason", max_chars=rules.text.reason_chars, multiline=True)
        checked = check_evidence(new.evidence)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            if new.record_id is not None:
                facts = subjects_record(self._svc, s, principal, new.record_id, today)
                row = facts.row
                check_objection(facts.state, dispute_open=dispute_open(s, record_id=row.id))
                period = objection_period(facts.item)
                subject_id, provider_id, category = row.subject_id, row.provider_id, row.category
            else:
                assert new.notice_id is not None
                notice = s.execute(
                    select(ListingNotice).where(ListingNotice.id == new.notice_id).with_for_update()  # type: ignore[arg-type]
                ).scalar_one_or_none()
                if notice is None or not acts_for(self._svc, s, principal, notice.subject_id, today):
                    raise RemedyNotFound
                check_notice_objection(notice.state, notice.window_closes, today)
                if dispute_open(s, notice_id=notice.id):
                    raise RecordRuleError("objection_open", "an objection to this notice is still open", 409)
                period = rules.objection_answer
                subject_id, provider_id, category = notice.subject_id, notice.provider_id, notice.category
            due = due_after(today, period)
            objection_id = new_id()
            objection = Objection(
                id=objection_id, subject_id=subject_id, provider_id=provider_id, record_id=new.record_id,
                notice_id=new.notice_id, category=category,
                reason_ct=seal(self._svc, s, subject_id, "remedy_objections", "reason_ct", objection_id, reason),
                **filed(principal, now, today, due),
            )
            s.add(objection)
            s.flush()
            store_evidence(self._svc, s, subject_id, "objection", objection_id, checked)
            if new.record_id is not None:
                suspend(facts.row, today, now)
            s.flush()
            self._svc.writer.append_in(s.connection(), event(
                principal, "objection.file", subject=subject_id, request_id=request_id,
                details={"objection": objection_id, "record": new.record_id, "notice": new.notice_id,
                         "due_on": due.due.isoformat(), "due_provisional": due.provisional,
                         "evidence": len(checked)},
            ))
        view = objection_view(objection, today, {f"objection:{objection_id}:reason": reason})
        view["answer_period"] = period_view(period)
        view["measures_suspended"] = new.record_id is not None
        view["evidence"] = [{"media_type": c.media_type, "size_bytes": c.size} for c in checked]
        return view

    # --- the provider's answer -------------------------------------------------------------

    def decide(self, principal: Principal, objection_id: str, answer: Answer, request_id: str | None,
               now: datetime) -> dict[str, Any]:
        """Answer an objection about one of the caller's records or notices. Raises
        RemedyNotFound (another provider's), RemedyRefused, InvalidField."""
        rules = load_remedy_rules()
        reasons = clean_field(answer.reasons, "reasons", max_chars=rules.text.decision_chars, multiline=True)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            objection = s.execute(
                select(Objection).where(Objection.id == objection_id).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
            if objection is None or objection.provider_id != principal.provider_id:
                raise RemedyNotFound
            if objection.state != "open":
                raise RemedyRefused("objection_not_open", f"the objection is {objection.state}")
            moved = answer_dispute(self._svc, s, objection, answer, reasons, today, now)
            self._svc.writer.append_in(s.connection(), event(
                principal, "objection.decide", subject=objection.subject_id, request_id=request_id,
                reason=answer.outcome,
                details={"objection": objection.id, "record": objection.record_id, "notice": objection.notice_id,
                         "outcome": answer.outcome, "record_action": objection.record_action,
                         "measures_end_moved_days": moved, "late": today > objection.due_on},
            ))
        return objection_view(objection, today, {f"objection:{objection.id}:answer": reasons})

    # --- reading ---------------------------------------------------------------------------

    def for_person(self, principal: Principal, request_id: str | None, now: datetime,
                   subject: str | None = None) -> list[dict[str, Any]]:
        """Every objection of the caller (or their wards), newest first, with its complaint;
        read through the gate (one audited read per person)."""
        today = china_today(now)

        def load(s: Session, subject_id: str) -> tuple[list[Objection], dict[str, SealedField], Any]:
            objections = list(s.execute(
                select(Objection).where(Objection.subject_id == subject_id)  # type: ignore[arg-type]
            ).scalars())
            complaints = {c.objection_id: c for c in s.execute(
                select(Complaint).where(Complaint.objection_id.in_([o.id for o in objections]))  # type: ignore[attr-defined]
            ).scalars()}
            sealed: dict[str, SealedField] = {}
            for o in objections:
                sealed.update(texts_of(o))
            for c in complaints.values():
                sealed.update(complaint_texts(c))
            return objections, sealed, complaints

        out: list[dict[str, Any]] = []
        for objections, texts, complaints in read_for_people(
            self._svc, principal, subject, action="objections.read", request_id=request_id, now=now, load=load,
        ):
            for o in objections:
                view = objection_view(o, today, texts)
                complaint = complaints.get(o.id)
                view["complaint"] = None if complaint is None else complaint_view(complaint, today, texts)
                out.append(view)
        out.sort(key=lambda v: v["filed_at"], reverse=True)
        return out

    def for_provider(self, principal: Principal, state: str | None, request_id: str | None,
                     now: datetime) -> list[dict[str, Any]]:
        """Objections about the caller's records and notices (no texts), overdue ones marked;
        the listing is audited."""
        today = china_today(now)
        views = [objection_view(o, today) for o in provider_rows(
            self._svc, principal, Objection, state, order=Objection.due_on, action="objections.list",
            request_id=request_id, today=today)]
        for view in views:
            del view["reason"]
            if view["answer"] is not None:
                del view["answer"]["reasons"]
        return views

    def for_provider_one(self, principal: Principal, objection_id: str, request_id: str | None,
                         now: datetime) -> dict[str, Any]:
        """One objection about the caller's record, with the reason, the evidence and the
        subject's name and ID number masked for a provider: read through the gate."""
        today = china_today(now)
        with self._svc.session() as s:
            objection = s.get(Objection, objection_id)
            evidence = evidence_of(s, "objection", [objection_id]).get(objection_id, []) if objection else []
            result = provider_case_read(
                self._svc, s, principal, objection, action="objection.read", now=now, request_id=request_id,
                texts={**texts_of(objection), **sealed_evidence(evidence, objection.category)} if objection else {},
            )
            assert objection is not None  # provider_case_read refused a missing case
            record = s.get(CreditRecord, objection.record_id) if objection.record_id else None
        view = objection_view(objection, today, dict(result.texts))
        view["subject"] = {k: v for k, v in result.fields.items() if v is not None}
        view["evidence"] = evidence_view(evidence, result.texts)
        if record is not None:
            item = load_catalog().get(record.item_code)
            view["record"] = {"id": record.id, "item_code": record.item_code,
                              "item_name": item.name_zh if item else None, "state": record.state,
                              "decision_date": record.decision_date.isoformat()}
        return view


def answer_dispute(services: Services, session: Session, dispute: Objection | Complaint, answer: Answer,
                   reasons: str, today: date, now: datetime) -> int | None:
    """Record the answer to an open objection or complaint, and do what it does to the record or
    notice behind it (in the caller's transaction). Returns the days the record's end moved."""
    objection = dispute if isinstance(dispute, Objection) else session.get(Objection, dispute.objection_id)
    assert objection is not None
    corrected = checked_answer(answer, about_record=objection.record_id is not None)
    moved = apply_outcome(services, session, objection.record_id, objection.notice_id, answer.outcome,
                          answer.record_action, today, now, corrected_facts=corrected)
    table = "remedy_objections" if isinstance(dispute, Objection) else "remedy_complaints"
    dispute.state = answer.outcome
    dispute.decided_at, dispute.decided_on = now, today
    dispute.answer_ct = seal(services, session, dispute.subject_id, table, "answer_ct", dispute.id, reasons)
    dispute.record_action = answer.record_action if answer.outcome == "upheld" else None
    dispute.suspended_days = moved
    session.flush()
    return moved


def apply_outcome(services: Services, session: Session, record_id: str | None, notice_id: str | None,
                  outcome: str, record_action: str | None, today: date, now: datetime, *,
                  corrected_facts: str | None = None) -> int | None:
    """What an answer does to the record or notice: upheld settles the record (corrected or
    revoked) or withdraws the notice; otherwise the record's measures resume. Returns the
    days the record's end moved later (None when upheld or for a notice)."""
    if record_id is not None:
        row = lock_record(session, record_id)
        assert row is not None
        if outcome == "upheld":
            assert record_action in RECORD_ACTIONS
            if corrected_facts is not None:
                row.facts_ct = seal(services, session, row.subject_id, "credit_records", "facts_ct", row.id,
                                    corrected_facts)
            if row.state in (RecordState.ACTIVE.value, RecordState.DISPUTED.value):
                settle(row, RecordState(record_action), now)
            return None
        return resume(row, today, now)
    if outcome == "upheld" and notice_id is not None:
        notice = session.get(ListingNotice, notice_id)
        assert notice is not None
        if notice.state == "notified":
            notice.state = "withdrawn"
            notice.decided_at = now
    return None


def complaint_texts(complaint: Complaint) -> dict[str, SealedField]:
    """The complaint's reason and the operator's answer, sealed, for the gate."""
    return sealed_texts("complaint", "remedy_complaints", complaint.id, complaint.category,
                        {"reason": ("reason_ct", complaint.reason_ct), "answer": ("answer_ct", complaint.answer_ct)})


def complaint_view(c: Complaint, today: date, texts: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A complaint's state, deadline and the operator's answer."""
    opened = texts or {}
    return {
        "id": c.id,
        "objection_id": c.objection_id,
        "subject_id": c.subject_id,
        "state": c.state,
        **timing_view(c, today, "decide_by"),
        "reason": opened.get(f"complaint:{c.id}:reason"),
        "answer": answer_view(c, "complaint", opened),
    }


__all__ = [
    "Answer",
    "NewObjection",
    "ObjectionService",
    "answer_dispute",
    "answer_view",
    "apply_outcome",
    "checked_answer",
    "complaint_texts",
    "complaint_view",
    "dispute_open",
    "objection_view",
    "texts_of",
]
