"""Complaints (投诉): after a rejected objection, the subject asks the operator to decide.

The operator stands for the leading group that convenes the departments. While a
complaint is open the record is disputed again and its measures are suspended;
``upheld`` corrects or revokes the record (or withdraws the notice); ``rejected``
is final, and the measures' end moves later by the time this complaint kept
them suspended. No text found sets a deadline for the decision: the service's
own (``remedies.toml``) is shown with every complaint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from policies import decide_complaint_review
from policies.remedies import check_complaint, load_remedy_rules
from service.db.raw import of_session
from service.db.types import china_today
from service.fields import clean_field
from service.gate.access import AccessDenied
from service.identity.principal import Principal
from service.remedies.common import (
    RemedyNotFound,
    RemedyRefused,
    acts_for,
    event,
    filed,
    lock_record,
    new_id,
    seal,
    suspend,
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
from service.remedies.models import Complaint, Objection
from service.remedies.objections import (
    Answer,
    answer_dispute,
    complaint_texts,
    complaint_view,
    objection_view,
    texts_of,
)
from service.runtime import Services


@dataclass(frozen=True)
class NewComplaint:
    """A complaint as the person sent it (schema-checked)."""

    reason: str
    evidence: Sequence[Attachment] = field(default_factory=tuple)


class ComplaintService:
    """Complaints for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def file(self, principal: Principal, objection_id: str, new: NewComplaint, request_id: str | None,
             now: datetime) -> dict[str, Any]:
        """Complain about a rejected objection. Raises RemedyNotFound, RecordRuleError,
        InvalidField, InvalidEvidence."""
        rules = load_remedy_rules()
        reason = clean_field(new.reason, "reason", max_chars=rules.text.reason_chars, multiline=True)
        checked = check_evidence(new.evidence)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            objection = s.execute(
                select(Objection).where(Objection.id == objection_id).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
            if objection is None or not acts_for(self._svc, s, principal, objection.subject_id, today):
                raise RemedyNotFound
            exists = s.execute(
                select(col(Complaint.id)).where(Complaint.objection_id == objection.id)
            ).first() is not None
            check_complaint(objection.state, complaint_exists=exists)
            due = due_after(today, rules.complaint_decision)
            complaint_id = new_id()
            complaint = Complaint(
                id=complaint_id, objection_id=objection.id, subject_id=objection.subject_id,
                category=objection.category,
                reason_ct=seal(self._svc, s, objection.subject_id, "remedy_complaints", "reason_ct", complaint_id,
                               reason),
                **filed(principal, now, today, due),
            )
            s.add(complaint)
            s.flush()
            store_evidence(self._svc, s, objection.subject_id, "complaint", complaint_id, checked)
            if objection.record_id is not None:
                row = lock_record(s, objection.record_id)
                assert row is not None
                suspend(row, today, now)
            s.flush()
            self._svc.writer.append_in(s.connection(), event(
                principal, "complaint.file", subject=objection.subject_id, request_id=request_id,
                details={"complaint": complaint_id, "objection": objection.id, "record": objection.record_id,
                         "notice": objection.notice_id, "due_on": due.due.isoformat(),
                         "due_provisional": due.provisional, "evidence": len(checked)},
            ))
        view = complaint_view(complaint, today, {f"complaint:{complaint_id}:reason": reason})
        view["decision_period"] = period_view(rules.complaint_decision)
        view["measures_suspended"] = objection.record_id is not None
        return view

    def decide(self, principal: Principal, complaint_id: str, decision: Answer, request_id: str | None,
               now: datetime) -> dict[str, Any]:
        """The operator's decision on an open complaint. Raises RemedyNotFound, RemedyRefused,
        InvalidField."""
        rules = load_remedy_rules()
        reasons = clean_field(decision.reasons, "reasons", max_chars=rules.text.decision_chars, multiline=True)
        today = china_today(now)
        with self._svc.write_session() as s, s.begin():
            complaint = s.execute(
                select(Complaint).where(Complaint.id == complaint_id).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
            if complaint is None:
                raise RemedyNotFound
            if complaint.state != "open":
                raise RemedyRefused("complaint_not_open", f"the complaint is {complaint.state}")
            objection = s.get(Objection, complaint.objection_id)
            assert objection is not None
            complaint.decided_by = principal.account_id or principal.actor_id
            moved = answer_dispute(self._svc, s, complaint, decision, reasons, today, now)
            self._svc.writer.append_in(s.connection(), event(
                principal, "complaint.decide", subject=complaint.subject_id, request_id=request_id,
                reason=decision.outcome,
                details={"complaint": complaint.id, "objection": objection.id, "record": objection.record_id,
                         "notice": objection.notice_id, "outcome": decision.outcome,
                         "record_action": complaint.record_action, "measures_end_moved_days": moved,
                         "late": today > complaint.due_on},
            ))
        return complaint_view(complaint, today, {f"complaint:{complaint.id}:answer": reasons})

    def open_for_operator(self, principal: Principal, state: str | None, request_id: str | None,
                          now: datetime) -> list[dict[str, Any]]:
        """Complaints (all, or in one state), overdue ones marked, each with the objection behind
        it and its texts, read through the gate for the operator's review (one audited read per
        person concerned)."""
        today = china_today(now)
        query = select(Complaint)
        if state is not None:
            query = query.where(Complaint.state == state)  # type: ignore[arg-type]
        out: list[dict[str, Any]] = []
        with self._svc.session() as s:
            complaints = list(s.execute(query.order_by(Complaint.due_on, Complaint.id)).scalars())  # type: ignore[arg-type]
            by_subject: dict[str, list[Complaint]] = {}
            for c in complaints:
                by_subject.setdefault(c.subject_id, []).append(c)
            for subject_id, theirs in by_subject.items():
                objections = {o.id: o for o in s.execute(
                    select(Objection).where(Objection.id.in_([c.objection_id for c in theirs]))  # type: ignore[attr-defined]
                ).scalars()}
                evidence = evidence_of(s, "complaint", [c.id for c in theirs])
                for category in sorted({c.category for c in theirs}):
                    mine = [c for c in theirs if c.category == category]
                    sealed = {}
                    for c in mine:
                        sealed.update(complaint_texts(c))
                        sealed.update(texts_of(objections[c.objection_id]))
                        sealed.update(sealed_evidence(evidence.get(c.id, []), category))
                    decision = decide_complaint_review(principal.viewer(), subject_id, category=category)
                    try:
                        result = self._svc.gate.read_subject(
                            of_session(s), viewer=principal.viewer(), subject_id=subject_id, request_id=request_id,
                            action="complaints.review", now=now, decision=decision, texts=sealed,
                            details={"complaints": [c.id for c in mine]},
                        )
                    except AccessDenied:
                        continue
                    for c in mine:
                        view = complaint_view(c, today, dict(result.texts))
                        view["objection"] = objection_view(objections[c.objection_id], today, dict(result.texts))
                        view["evidence"] = evidence_view(evidence.get(c.id, []), result.texts)
                        out.append(view)
        out.sort(key=lambda v: (v["decide_by"], v["id"]))
        return out


__all__ = ["ComplaintService", "NewComplaint"]
