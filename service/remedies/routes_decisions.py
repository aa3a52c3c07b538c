"""The deciding side of the remedies: providers answer objections, decide repairs and run the
listing procedure; the operator decides complaints. A provider sees and decides only what
concerns its own records and notices; anything else is 404."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from service.http.body import strict_body
from service.http.context import current_request_id
from service.identity.principal import Principal
from service.records.service import RecordDocument
from service.remedies.clock import now_of
from service.remedies.complaints import ComplaintService
from service.remedies.http import (
    OPERATORS,
    PROVIDERS,
    ComplaintState,
    DocumentBody,
    LongText,
    NoticeState,
    ObjectionState,
    RepairState,
    answer,
    checked_id,
)
from service.remedies.listing import ListingDecision, ListingService, NewNotice
from service.remedies.objections import Answer, ObjectionService
from service.remedies.repairs import RepairService
from service.runtime import Services

Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
_TAGS = ["remedies"]
RecordAction = Literal["corrected", "revoked"]


class ObjectionDecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    """``upheld`` (with ``record_action``; ``corrected_facts`` optional when corrected),
    ``rejected`` or ``unconfirmed``, always with written reasons."""

    outcome: Literal["upheld", "rejected", "unconfirmed"]
    reasons: LongText
    record_action: RecordAction | None = None
    corrected_facts: LongText | None = None


class RepairDecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    """``approved`` or ``rejected``, with reasons."""

    outcome: Literal["approved", "rejected"]
    reasons: LongText


class RevocationBody(msgspec.Struct, forbid_unknown_fields=True):
    """Why an approved repair is revoked (false materials found later)."""

    reasons: LongText


class NoticeBody(msgspec.Struct, forbid_unknown_fields=True):
    """Prior notice of a serious listing: the person, the item, the reasons (事由) and the basis (依据)."""

    id_number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    item_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    reasons: LongText
    basis: LongText


class NoticeDecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    """``list``: the person as the decision names them, its document and date, and the reasons,
    basis, measures, removal conditions and procedure, and remedies; ``withdraw``: reasons."""

    reasons: LongText
    outcome: Literal["list", "withdraw"] = "list"
    id_number: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    name: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    document: DocumentBody | None = None
    decision_date: dt.date | None = None
    basis: LongText | None = None
    measures: LongText | None = None
    removal: LongText | None = None
    remedies: LongText | None = None


class ComplaintDecisionBody(msgspec.Struct, forbid_unknown_fields=True):
    """``upheld`` (with ``record_action`` for a record; ``corrected_facts`` optional when
    corrected) or ``rejected``, with reasons."""

    outcome: Literal["upheld", "rejected"]
    reasons: LongText
    record_action: RecordAction | None = None
    corrected_facts: LongText | None = None


# --- objections -------------------------------------------------------------------------------


@get("/v1/objections", guards=PROVIDERS, sync_to_thread=True, tags=_TAGS,
     summary="Objections about my records and notices (overdue ones marked)")
def provider_objections(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                        wanted: Annotated[ObjectionState | None, QueryParameter(name="state")] = None,
) -> dict[str, Any]:
    """Each objection's state, answer-by date and whether it is overdue; no texts."""
    items = ObjectionService(services).for_provider(principal, wanted, current_request_id(), now_of(request))
    return {"items": items}


@get("/v1/objections/{objection_id:str}", guards=PROVIDERS, sync_to_thread=True, tags=_TAGS,
     summary="One objection with its reason, evidence and the subject masked for a provider")
def provider_objection(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                       objection_id: FromPath[str]) -> dict[str, Any]:
    """Read through the access gate and audited."""
    return answer(services, principal, "objection.read", lambda: ObjectionService(services).for_provider_one(
        principal, checked_id(objection_id, "objection_id"), current_request_id(), now_of(request)))


@post("/v1/objections/{objection_id:str}/decision", guards=PROVIDERS, sync_to_thread=True, status_code=200,
      tags=_TAGS, dependencies={"payload": strict_body(ObjectionDecisionBody)},
      summary="Answer an objection: upheld, rejected or unconfirmed, with reasons")
def decide_objection(request: Request[Any, Any, Any], principal: Caller, services: Svc, objection_id: FromPath[str],
                     data: JSONBody[ObjectionDecisionBody],
                     payload: NamedDependency[ObjectionDecisionBody]) -> dict[str, Any]:
    """The objection with its answer; for a rejection, how many days the measures' end moved."""
    del data
    decision = Answer(payload.outcome, payload.reasons, payload.record_action, payload.corrected_facts)
    return answer(services, principal, "objection.decide", lambda: ObjectionService(services).decide(
        principal, checked_id(objection_id, "objection_id"), decision, current_request_id(), now_of(request)))


# --- repairs ----------------------------------------------------------------------------------


@get("/v1/repairs", guards=PROVIDERS, sync_to_thread=True, tags=_TAGS,
     summary="Repair applications about my records (overdue ones marked)")
def provider_repairs(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                     wanted: Annotated[RepairState | None, QueryParameter(name="state")] = None,
) -> dict[str, Any]:
    """Each application's state and decide-by date; no texts."""
    return {"items": RepairService(services).for_provider(principal, wanted, current_request_id(), now_of(request))}


@get("/v1/repairs/{repair_id:str}", guards=PROVIDERS, sync_to_thread=True, tags=_TAGS,
     summary="One repair application with its commitment and evidence")
def provider_repair(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                    repair_id: FromPath[str]) -> dict[str, Any]:
    """Read through the access gate and audited."""
    return answer(services, principal, "repair.read", lambda: RepairService(services).for_provider_one(
        principal, checked_id(repair_id, "repair_id"), current_request_id(), now_of(request)))


@post("/v1/repairs/{repair_id:str}/decision", guards=PROVIDERS, sync_to_thread=True, status_code=200, tags=_TAGS,
      dependencies={"payload": strict_body(RepairDecisionBody)}, summary="Approve or reject a repair application")
def decide_repair(request: Request[Any, Any, Any], principal: Caller, services: Svc, repair_id: FromPath[str],
                  data: JSONBody[RepairDecisionBody], payload: NamedDependency[RepairDecisionBody]) -> dict[str, Any]:
    """Approved: the record becomes repaired (off the list, no longer shared nor published)."""
    del data
    return answer(services, principal, "repair.decide", lambda: RepairService(services).decide(
        principal, checked_id(repair_id, "repair_id"), payload.outcome, payload.reasons, current_request_id(),
        now_of(request)))


@post("/v1/repairs/{repair_id:str}/revocation", guards=PROVIDERS, sync_to_thread=True, status_code=200,
      tags=_TAGS, dependencies={"payload": strict_body(RevocationBody)},
      summary="Revoke an approved repair obtained with false materials")
def revoke_repair(request: Request[Any, Any, Any], principal: Caller, services: Svc, repair_id: FromPath[str],
                  data: JSONBody[RevocationBody], payload: NamedDependency[RevocationBody]) -> dict[str, Any]:
    """The record is in force again; a new application is barred until ``reapply_from``."""
    del data
    return answer(services, principal, "repair.revoke", lambda: RepairService(services).revoke(
        principal, checked_id(repair_id, "repair_id"), payload.reasons, current_request_id(), now_of(request)))


# --- the listing procedure --------------------------------------------------------------------


@post("/v1/serious-list/notices", guards=PROVIDERS, sync_to_thread=True, status_code=201, tags=_TAGS,
      dependencies={"payload": strict_body(NoticeBody)},
      summary="Give prior notice of a serious dishonesty listing")
def give_notice(request: Request[Any, Any, Any], principal: Caller, services: Svc, data: JSONBody[NoticeBody],
                payload: NamedDependency[NoticeBody]) -> dict[str, Any]:
    """The notice with the subject's rights and the last day of the objection window."""
    del data
    new = NewNotice(payload.id_number, payload.name, payload.item_code, payload.reasons, payload.basis)
    return answer(services, principal, "serious_list.notice", lambda: ListingService(services).notify(
        principal, new, current_request_id(), now_of(request)))


@get("/v1/serious-list/notices", guards=PROVIDERS, sync_to_thread=True, tags=_TAGS,
     summary="My listing notices: windows, and which may be decided")
def provider_notices(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                     wanted: Annotated[NoticeState | None, QueryParameter(name="state")] = None,
) -> dict[str, Any]:
    """Each notice's state, window and whether it can be decided now; no texts."""
    return {"items": ListingService(services).for_provider(principal, wanted, current_request_id(), now_of(request))}


@post("/v1/serious-list/notices/{notice_id:str}/decision", guards=PROVIDERS, sync_to_thread=True,
      status_code=200, tags=_TAGS, dependencies={"payload": strict_body(NoticeDecisionBody)},
      summary="Decide a listing after the objection window (list or withdraw)")
def decide_notice(request: Request[Any, Any, Any], principal: Caller, services: Svc, notice_id: FromPath[str],
                  data: JSONBody[NoticeDecisionBody], payload: NamedDependency[NoticeDecisionBody]) -> dict[str, Any]:
    """The notice with its decision and, for a listing, the listing record."""
    del data
    doc = payload.document
    decision = ListingDecision(
        outcome=payload.outcome, reasons=payload.reasons, id_number=payload.id_number, name=payload.name,
        document=None if doc is None else RecordDocument(type=doc.type, number=doc.number, authority="",
                                                         date=doc.date),
        decision_date=payload.decision_date, basis=payload.basis, measures=payload.measures,
        removal=payload.removal, remedies=payload.remedies,
    )
    return answer(services, principal, "serious_list.decide", lambda: ListingService(services).decide(
        principal, checked_id(notice_id, "notice_id"), decision, current_request_id(), now_of(request)))


# --- complaints (the operator) -------------------------------------------------------------------


@get("/v1/complaints", guards=OPERATORS, sync_to_thread=True, tags=_TAGS,
     summary="Complaints to decide, with the objections behind them (overdue ones marked)")
def operator_complaints(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                        wanted: Annotated[ComplaintState | None, QueryParameter(name="state")] = None,
) -> dict[str, Any]:
    """Read through the access gate for review; no personal field is shown to the operator."""
    items = ComplaintService(services).open_for_operator(principal, wanted, current_request_id(), now_of(request))
    return {"items": items}


@post("/v1/complaints/{complaint_id:str}/decision", guards=OPERATORS, sync_to_thread=True, status_code=200,
      tags=_TAGS, dependencies={"payload": strict_body(ComplaintDecisionBody)},
      summary="Decide a complaint: upheld or rejected, with reasons")
def decide_complaint(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                     complaint_id: FromPath[str], data: JSONBody[ComplaintDecisionBody],
                     payload: NamedDependency[ComplaintDecisionBody]) -> dict[str, Any]:
    """Upheld corrects or revokes the record; rejected is final and the measures resume."""
    del data
    decision = Answer(payload.outcome, payload.reasons, payload.record_action, payload.corrected_facts)
    return answer(services, principal, "complaint.decide", lambda: ComplaintService(services).decide(
        principal, checked_id(complaint_id, "complaint_id"), decision, current_request_id(), now_of(request)))


DECISION_HANDLERS = [
    provider_objections, provider_objection, decide_objection, provider_repairs, provider_repair, decide_repair,
    revoke_repair, give_notice, provider_notices, decide_notice, operator_complaints, decide_complaint,
]
