"""``/v1/me/...`` remedies for the subject or a guardian: objections, complaints, repairs,
statements, and the listing notices addressed to them."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from service.http.body import strict_body
from service.http.context import current_request_id
from service.identity.principal import Principal
from service.remedies.clock import now_of
from service.remedies.complaints import ComplaintService, NewComplaint
from service.remedies.evidence import EVIDENCE_BODY_BYTES
from service.remedies.http import PEOPLE, Evidence, Id, LongText, answer, attachments, checked_id, invalid, ward
from service.remedies.listing import ListingService
from service.remedies.objections import NewObjection, ObjectionService
from service.remedies.repairs import NewRepair, RepairService
from service.remedies.statements import add_statement
from service.runtime import Services

Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
_TAGS = ["me", "remedies"]


class ObjectionBody(msgspec.Struct, forbid_unknown_fields=True):
    """An objection to a record (``record_id``) or to a listing notice (``notice_id``): exactly one."""

    reason: LongText
    record_id: Id | None = None
    notice_id: Id | None = None
    evidence: Evidence = msgspec.field(default_factory=list)


class ComplaintBody(msgspec.Struct, forbid_unknown_fields=True):
    """A complaint about a rejected objection."""

    reason: LongText
    evidence: Evidence = msgspec.field(default_factory=list)


class RepairBody(msgspec.Struct, forbid_unknown_fields=True):
    """A credit-repair application: the record, the signed commitment (信用承诺书) and evidence
    that the obligations were fulfilled (at least one attachment)."""

    record_id: Id
    commitment: LongText
    evidence: Evidence = msgspec.field(default_factory=list)


class StatementBody(msgspec.Struct, forbid_unknown_fields=True):
    """The subject's own statement on a record."""

    text: LongText


@post("/v1/me/objections", guards=PEOPLE, sync_to_thread=True, status_code=201, tags=_TAGS,
      dependencies={"payload": strict_body(ObjectionBody)}, request_max_body_size=EVIDENCE_BODY_BYTES,
      summary="Object to a record or a listing notice (the record is marked disputed at once)")
def file_objection(request: Request[Any, Any, Any], principal: Caller, services: Svc, data: JSONBody[ObjectionBody],
                   payload: NamedDependency[ObjectionBody]) -> dict[str, Any]:
    """The objection with its answer-by date (``answer_by_provisional`` when the calendar of that
    year is not official yet). Its measures are suspended until the answer."""
    del data

    def file() -> dict[str, Any]:
        if (payload.record_id is None) == (payload.notice_id is None):
            raise invalid("record_id", "name exactly one of record_id and notice_id")
        new = NewObjection(
            reason=payload.reason,
            record_id=checked_id(payload.record_id, "record_id") if payload.record_id else None,
            notice_id=checked_id(payload.notice_id, "notice_id") if payload.notice_id else None,
            evidence=attachments(payload.evidence),
        )
        return ObjectionService(services).file(principal, new, current_request_id(), now_of(request))

    return answer(services, principal, "objection.file", file)


@get("/v1/me/objections", guards=PEOPLE, sync_to_thread=True, tags=_TAGS,
     summary="My objections: state, answer-by date and answer, with any complaint")
def my_objections(request: Request[Any, Any, Any], principal: Caller, services: Svc,
                  subject: FromQuery[str | None] = None) -> dict[str, Any]:
    """Every objection of mine (or my wards'), newest first."""
    return answer(services, principal, "objections.read", lambda: {"items": ObjectionService(services).for_person(
        principal, current_request_id(), now_of(request), ward(principal, subject))})


@post("/v1/me/objections/{objection_id:str}/complaint", guards=PEOPLE, sync_to_thread=True, status_code=201,
      tags=_TAGS, dependencies={"payload": strict_body(ComplaintBody)}, request_max_body_size=EVIDENCE_BODY_BYTES,
      summary="Complain to the operator about a rejected objection")
def file_complaint(request: Request[Any, Any, Any], principal: Caller, services: Svc, objection_id: FromPath[str],
                   data: JSONBody[ComplaintBody], payload: NamedDependency[ComplaintBody]) -> dict[str, Any]:
    """The complaint with its decide-by date; the record's measures are suspended again."""
    del data
    new = NewComplaint(reason=payload.reason, evidence=attachments(payload.evidence))
    return answer(services, principal, "complaint.file", lambda: ComplaintService(services).file(
        principal, checked_id(objection_id, "objection_id"), new, current_request_id(), now_of(request)))


@post("/v1/me/repairs", guards=PEOPLE, sync_to_thread=True, status_code=201, tags=_TAGS,
      dependencies={"payload": strict_body(RepairBody)}, request_max_body_size=EVIDENCE_BODY_BYTES,
      summary="Apply for credit repair of a record (free of charge)")
def file_repair(request: Request[Any, Any, Any], principal: Caller, services: Svc, data: JSONBody[RepairBody],
                payload: NamedDependency[RepairBody]) -> dict[str, Any]:
    """The application with its decide-by date."""
    del data
    return answer(services, principal, "repair.file", lambda: RepairService(services).file(
        principal, NewRepair(record_id=checked_id(payload.record_id, "record_id"), commitment=payload.commitment,
                             evidence=attachments(payload.evidence)), current_request_id(), now_of(request)))


@get("/v1/me/repairs", guards=PEOPLE, sync_to_thread=True, tags=_TAGS, summary="My credit-repair applications")
def my_repairs(request: Request[Any, Any, Any], principal: Caller, services: Svc,
               subject: FromQuery[str | None] = None) -> dict[str, Any]:
    """Every application of mine (or my wards'), newest first, with the answers."""
    return answer(services, principal, "repairs.read", lambda: {"items": RepairService(services).for_person(
        principal, current_request_id(), now_of(request), ward(principal, subject))})


@post("/v1/me/records/{record_id:str}/statement", guards=PEOPLE, sync_to_thread=True, status_code=200,
      tags=_TAGS, dependencies={"payload": strict_body(StatementBody)},
      summary="Attach my statement to a record (shown with it)")
def put_statement(request: Request[Any, Any, Any], principal: Caller, services: Svc, record_id: FromPath[str],
                  data: JSONBody[StatementBody], payload: NamedDependency[StatementBody]) -> Response[dict[str, Any]]:
    """The statement as stored; a new one replaces the old."""
    del data
    body = answer(services, principal, "record.statement", lambda: add_statement(
        services, principal, checked_id(record_id, "record_id"), payload.text, current_request_id(), now_of(request)))
    return Response(body, status_code=200)


@get("/v1/me/serious-list/notices", guards=PEOPLE, sync_to_thread=True, tags=_TAGS,
     summary="Listing notices addressed to me: reasons, basis, my rights, the window, the decision")
def my_notices(request: Request[Any, Any, Any], principal: Caller, services: Svc,
               subject: FromQuery[str | None] = None) -> dict[str, Any]:
    """Every notice of a serious listing about me (or my wards), newest first."""
    return answer(services, principal, "notices.read", lambda: {"items": ListingService(services).for_person(
        principal, current_request_id(), now_of(request), ward(principal, subject))})


PEOPLE_HANDLERS = [file_objection, my_objections, file_complaint, file_repair, my_repairs, put_statement, my_notices]
