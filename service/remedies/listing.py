"""The serious dishonesty list procedure (严重失信主体名单): notice, objection window, decision.

Only items of nature ``serious`` listed by notice (the four fields of
国办发〔2020〕49号), only a provider registered at county level or above, never
a minor (``policies.remedies.check_listing_notice``). The provider first gives
notice: the reasons (事由), the basis (依据) and the subject's rights; the
subject sees it and may object until the window closes (working days, policy
data). The decision is refused before the window has closed and while an
objection (or a complaint after one) is open. A decision to list states the
reasons, the basis, the measures that follow, the removal conditions and
procedure, and the remedies; it registers the listing record (its document is
the decision) in the same transaction. An upheld objection withdraws the
notice. A listing ends on repair, at the end of its period, or when an
objection or complaint about it is upheld.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from policies import age_on, load_catalog, parse_resident_id
from policies.remedies import check_listing_notice, check_notice_decision, load_remedy_rules
from service.crypto.vault import SealedField
from service.db.types import china_today, iso_z
from service.fields import clean_field
from service.identity.models import ACTIVE, Provider
from service.identity.principal import Principal
from service.records.service import MINOR_AGE, NewRecord, RecordDocument, RecordService, prepare, record_view
from service.remedies.common import (
    RemedyNotFound,
    RemedyRefused,
    event,
    new_id,
    provider_rows,
    read_for_people,
    seal,
    sealed_texts,
)
from service.remedies.deadlines import due_after, period_view
from service.remedies.models import ListingNotice, Objection
from service.remedies.objections import dispute_open
from service.runtime import Services
from service.subjects.repository import SubjectData, find_subject_id, register_subject

#: What a decision to list must state, in this order.
DECISION_PARTS = ("reasons", "basis", "measures", "removal", "remedies")


@dataclass(frozen=True)
class NewNotice:
    """A prior notice as the provider sent it (schema-checked)."""

    id_number: str
    name: str
    item_code: str
    reasons: str
    basis: str


@dataclass(frozen=True)
class ListingDecision:
    """The provider's decision: ``list`` with the decision document and every part of
    :data:`DECISION_PARTS`, or ``withdraw`` with its reasons."""

    outcome: str
    reasons: str
    id_number: str | None = None
    name: str | None = None
    document: RecordDocument | None = None
    decision_date: date | None = None
    basis: str | None = None
    measures: str | None = None
    removal: str | None = None
    remedies: str | None = None


def notice_texts(n: ListingNotice) -> dict[str, SealedField]:
    """The notice's reasons and basis, and its decision once made, sealed, for the gate."""
    return sealed_texts("notice", "listing_notices", n.id, n.category, {
        "reasons": ("reasons_ct", n.reasons_ct), "basis": ("basis_ct", n.basis_ct),
        "decision": ("decision_ct", n.decision_ct)})


def notice_view(n: ListingNotice, today: date, texts: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A notice as its subject and its provider see it; ``texts`` fill in what it says."""
    rules = load_remedy_rules()
    opened = texts or {}
    item = load_catalog().get(n.item_code)
    decision = opened.get(f"notice:{n.id}:decision")
    return {
        "id": n.id,
        "subject_id": n.subject_id,
        "item_code": n.item_code,
        "item_name": item.name_zh if item else None,
        "serious_list_field": item.serious_list_field if item else None,
        "state": n.state,
        "notified_at": iso_z(n.notified_at),
        "reasons": opened.get(f"notice:{n.id}:reasons"),
        "basis": opened.get(f"notice:{n.id}:basis"),
        "rights": rules.rights_until(n.window_closes),
        "objection_window_closes": n.window_closes.isoformat(),
        "objection_window_provisional": n.window_provisional,
        "objection_window_open": n.state == "notified" and today <= n.window_closes,
        "decided_at": iso_z(n.decided_at) if n.decided_at else None,
        "decision": json.loads(decision) if decision else None,
        "record_id": n.record_id,
    }


class ListingService:
    """The listing procedure for one process; stateless apart from ``services``."""

    def __init__(self, services: Services) -> None:
        self._svc = services

    def _provider(self, principal: Principal) -> Provider:
        with self._svc.session() as s:
            provider = s.get(Provider, principal.provider_id)
        if provider is None or provider.status != ACTIVE:
            raise RemedyNotFound
        return provider

    def notify(self, principal: Principal, new: NewNotice, request_id: str | None, now: datetime) -> dict[str, Any]:
        """Give prior notice of a listing. Raises InvalidIdentifier, RecordRuleError, InvalidField."""
        rules = load_remedy_rules()
        today = china_today(now)
        resident = parse_resident_id(new.id_number, today)
        name = clean_field(new.name, "name", max_chars=64)
        reasons = clean_field(new.reasons, "reasons", max_chars=rules.text.decision_chars, multiline=True)
        basis = clean_field(new.basis, "basis", max_chars=rules.text.decision_chars, multiline=True)
        provider = self._provider(principal)
        item = check_listing_notice(load_catalog().get(new.item_code), provider.provider_type, provider.level,
                                    minor=age_on(resident.birth_date, today) < MINOR_AGE)
        window = due_after(today, rules.notice_objection)
        with self._svc.write_session() as s, s.begin():
            subject_id, created = register_subject(s, self._svc.vault, self._svc.blind_index,
                                                   SubjectData(id_number=resident.number, name=name))
            notice_id = new_id()
            notice = ListingNotice(
                id=notice_id, subject_id=subject_id, provider_id=provider.id, item_code=item.code,
                category=item.category, state="notified",
                reasons_ct=seal(self._svc, s, subject_id, "listing_notices", "reasons_ct", notice_id, reasons),
                basis_ct=seal(self._svc, s, subject_id, "listing_notices", "basis_ct", notice_id, basis),
                notified_at=now, notified_on=today, window_closes=window.due, window_provisional=window.provisional,
            )
            s.add(notice)
            s.flush()
            events = []
            if created:
                events.append(event(principal, "subject.register", subject=subject_id, request_id=request_id,
                                    details={}, reason="listing_notice"))
            events.append(event(
                principal, "serious_list.notice", subject=subject_id, request_id=request_id,
                details={"notice": notice_id, "item_code": item.code, "field": item.serious_list_field,
                         "window_closes": window.due.isoformat(), "window_provisional": window.provisional},
            ))
            self._svc.writer.append_in(s.connection(), *events)
        view = notice_view(notice, today, {f"notice:{notice_id}:reasons": reasons,
                                           f"notice:{notice_id}:basis": basis})
        view["objection_period"] = period_view(rules.notice_objection)
        return view

    def decide(self, principal: Principal, notice_id: str, decision: ListingDecision, request_id: str | None,
               now: datetime, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Decide a notice once its window has closed and no objection is open: list (registering
        the listing record, under ``idempotency_key`` if given) or withdraw. Raises RemedyNotFound,
        RecordRuleError, RemedyRefused, InvalidIdentifier, InvalidField."""
        rules = load_remedy_rules()
        today = china_today(now)
        limit = rules.text.decision_chars
        stated = {part: clean_field(getattr(decision, part) or "", part, max_chars=limit, multiline=True)
                  for part in (DECISION_PARTS if decision.outcome == "list" else ("reasons",))}
        provider = self._provider(principal)
        recorder = RecordService(self._svc)
        with self._svc.write_session() as s, s.begin():
            notice = s.execute(
                select(ListingNotice).where(ListingNotice.id == notice_id).with_for_update()  # type: ignore[arg-type]
            ).scalar_one_or_none()
            if notice is None or notice.provider_id != provider.id:
                raise RemedyNotFound
            check_notice_decision(notice.state, notice.window_closes, today,
                                  objection_open=dispute_open(s, notice_id=notice.id))
            events = []
            record = None
            if decision.outcome == "list":
                prepared, digest = self._listing_record(s, notice, provider, decision, stated["reasons"], today)
                record, staged = recorder.stage(
                    s, provider_id=provider.id, prepared=prepared, idempotency_key=idempotency_key, digest=digest,
                    now=now,
                    request_id=request_id, reason="serious_list_decision",
                )
                events += staged
                notice.state, notice.record_id = "listed", record.id
            else:
                notice.state = "withdrawn"
            notice.decided_at = now
            notice.decision_ct = seal(self._svc, s, notice.subject_id, "listing_notices", "decision_ct", notice.id,
                                      json.dumps({"outcome": decision.outcome, **stated}, ensure_ascii=False))
            s.flush()
            events.append(event(
                principal, "serious_list.decide", subject=notice.subject_id, request_id=request_id,
                reason=decision.outcome,
                details={"notice": notice.id, "outcome": decision.outcome, "record": notice.record_id,
                         "item_code": notice.item_code},
            ))
            self._svc.writer.append_in(s.connection(), *events)
        view = notice_view(notice, today, {f"notice:{notice.id}:decision": json.dumps(
            {"outcome": decision.outcome, **stated}, ensure_ascii=False)})
        view["record"] = record_view(record) if record is not None else None
        return view

    def _listing_record(self, s: Any, notice: ListingNotice, provider: Provider, decision: ListingDecision,
                        reasons: str, today: date) -> tuple[Any, str]:
        if None in (decision.id_number, decision.name, decision.document, decision.decision_date):
            raise RemedyRefused("decision_incomplete", "a decision to list names the person and its document", 400)
        assert decision.id_number and decision.name and decision.document and decision.decision_date
        resident = parse_resident_id(decision.id_number, today)
        if find_subject_id(s, self._svc.blind_index, resident.number) != notice.subject_id:
            raise RemedyRefused("subject_mismatch", "the decision names another person than the notice")
        new = NewRecord(
            id_number=resident.number, name=decision.name, item_code=notice.item_code,
            document=RecordDocument(type=decision.document.type, number=decision.document.number,
                                    authority=provider.name, date=decision.document.date),
            decision_date=decision.decision_date, facts=reasons, procedure="general",
            first_violation_corrected=False,
        )
        prepared = prepare(new, resident, provider.provider_type, today, provider_level=provider.level,
                           via_notice=True)
        return prepared, RecordService(self._svc).digest(new)

    def for_person(self, principal: Principal, request_id: str | None, now: datetime,
                   subject: str | None = None) -> list[dict[str, Any]]:
        """Every notice addressed to the caller (or their wards), with what it says, newest first."""
        today = china_today(now)

        def load(s: Session, subject_id: str) -> tuple[list[ListingNotice], dict[str, SealedField], Any]:
            notices = list(s.execute(
                select(ListingNotice).where(ListingNotice.subject_id == subject_id)  # type: ignore[arg-type]
            ).scalars())
            sealed: dict[str, SealedField] = {}
            for n in notices:
                sealed.update(notice_texts(n))
            objections = {o.notice_id: o for o in s.execute(
                select(Objection).where(col(Objection.notice_id).in_([n.id for n in notices]))
            ).scalars()}
            return notices, sealed, objections

        out: list[dict[str, Any]] = []
        for notices, texts, objections in read_for_people(self._svc, principal, subject, action="notices.read",
                                                          request_id=request_id, now=now, load=load):
            for n in notices:
                view = notice_view(n, today, texts)
                o = objections.get(n.id)
                view["objection"] = None if o is None else {"id": o.id, "state": o.state}
                out.append(view)
        out.sort(key=lambda v: v["notified_at"], reverse=True)
        return out

    def for_provider(self, principal: Principal, state: str | None, request_id: str | None,
                     now: datetime) -> list[dict[str, Any]]:
        """The caller's notices (no texts): when each window closes, and whether it may be decided."""
        today = china_today(now)
        notices = provider_rows(self._svc, principal, ListingNotice, state, order=ListingNotice.window_closes,
                                action="notices.list", request_id=request_id, today=today)
        views = []
        with self._svc.session() as s:
            for n in notices:
                view = notice_view(n, today)
                for hidden in ("reasons", "basis", "decision"):
                    del view[hidden]
                view["decidable"] = (n.state == "notified" and today > n.window_closes
                                     and not dispute_open(s, notice_id=n.id))
                views.append(view)
        return views


__all__ = ["DECISION_PARTS", "ListingDecision", "ListingService", "NewNotice", "notice_texts", "notice_view"]
