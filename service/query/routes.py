"""Governed reads over HTTP: institution queries, the person's report and access log."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from policies import Role
from service.audit_log.tree import LogIncomplete
from service.db.types import utcnow
from service.gate.access import AccessDenied
from service.http.body import strict_body
from service.http.context import current_request_id
from service.http.fastlane import FastRoute
from service.http.problems import ProblemError
from service.identity.guards import provide_principal, require_roles
from service.identity.principal import Principal
from service.query.proof import ENTRY_NOT_FOUND, NOT_YET_CHECKPOINTED, access_log_proof
from service.query.service import QueryService, subject_for
from service.runtime import Services

Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
_ID = re.compile(r"^[0-9a-f]{32}$")
PEOPLE = [require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")]


class QueryBody(msgspec.Struct, forbid_unknown_fields=True):
    """A query names the consent it relies on and the purpose it serves."""

    consent_id: Annotated[str, msgspec.Meta(max_length=64)]
    purpose: Annotated[str, msgspec.Meta(max_length=64)]


def _checked_id(value: str, field: str) -> str:
    if not _ID.match(value):
        raise ProblemError(400, "invalid_id", f"{field} must be 32 lowercase hex characters")
    return value


def _denied(exc: AccessDenied) -> ProblemError:
    # A subject asking about somebody else learns nothing about whether they exist.
    if exc.reason in {"not_self", "not_guardian", "subject_unknown", ENTRY_NOT_FOUND}:
        return ProblemError(404, "not_found", "no such resource", audited=True)
    if exc.reason == NOT_YET_CHECKPOINTED:
        return ProblemError(409, NOT_YET_CHECKPOINTED, "the entry is not yet covered by a signed checkpoint; "
                            "retry in a second", headers={"Retry-After": "1"}, audit_seq=exc.audit_seq, audited=True)
    return ProblemError(403, exc.reason, "access denied by policy; the attempt was recorded", audited=True,
                        audit_seq=exc.audit_seq)


QUERY_GUARD = require_roles(Role.INSTITUTION, scope="query", admit_suspended=True)


async def answer_query(principal: Principal, services: Services, payload: QueryBody) -> dict[str, Any]:
    """The answer to ``POST /v1/queries``: one use of the consent, the signed report."""
    consent_id = _checked_id(payload.consent_id, "consent_id")
    try:
        report, jws = await QueryService(services).institution_query_async(
            principal, consent_id, payload.purpose, current_request_id(), utcnow()
        )
    except AccessDenied as exc:
        raise ProblemError(403, exc.reason, "access denied by policy; the attempt was recorded", audited=True,
                           audit_seq=exc.audit_seq) from None
    return {"report": report, "signature": jws}


@post("/v1/queries", guards=[QUERY_GUARD], status_code=200, dependencies={"payload": strict_body(QueryBody)},
      tags=["query"], summary="Read a person's credit report under a consent (one use)")
async def run_query(request: Request[Any, Any, Any], data: JSONBody[QueryBody],
                    payload: NamedDependency[QueryBody]) -> dict[str, Any]:
    """The report for this consent, masked for institutions and signed (JWS in ``signature``).

    The service normally answers this route in its fast lane (``service.http.fastlane``),
    with the same guard and :func:`answer_query`; this handler documents it in the
    OpenAPI schema and serves it when the lane is off (``CREDITGATE_FAST_LANE=0``).
    """
    return await answer_query(provide_principal(request), request.app.state["services"], payload)


def _subject(principal: Principal, subject: str | None) -> str:
    try:
        return subject_for(principal, _checked_id(subject, "subject") if subject else None)
    except ValueError:
        raise ProblemError(400, "subject_required", "name the ward with ?subject=<id>") from None


@get("/v1/me/report", guards=PEOPLE, sync_to_thread=True, tags=["me"],
     summary="My own full credit report (free, unlimited)")
def my_report(principal: Caller, services: Svc, subject: FromQuery[str | None] = None) -> dict[str, Any]:
    """All my records except expired ones, with their states, and the list and green-channel flags."""
    try:
        report, jws = QueryService(services).self_report(
            principal, _subject(principal, subject), current_request_id(), utcnow()
        )
    except AccessDenied as exc:
        raise _denied(exc) from None
    return {"report": report, "signature": jws}


@get("/v1/me/access-log", guards=PEOPLE, sync_to_thread=True, tags=["me"],
     summary="Every access to my data, newest first")
def my_access_log(
    principal: Caller,
    services: Svc,
    subject: FromQuery[str | None] = None,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    before: Annotated[int | None, Parameter(ge=1)] = None,
) -> dict[str, Any]:
    """Pages of audit entries about me; pass ``next_before`` as ``before`` for the next page."""
    try:
        return QueryService(services).access_log(
            principal, _subject(principal, subject), current_request_id(), utcnow(), limit, before
        )
    except AccessDenied as exc:
        raise _denied(exc) from None


_SEQ = re.compile(r"^[1-9][0-9]{0,17}$")


@get("/v1/me/access-log/{seq:str}/proof", guards=PEOPLE, sync_to_thread=True, tags=["me"],
     summary="Proof that an entry of my access log is in the signed audit log")
def my_access_log_proof(principal: Caller, services: Svc, seq: FromPath[str], subject: FromQuery[str | None] = None,
                        ) -> dict[str, Any]:
    """The entry (its canonical ``body``) and its RFC 9162 inclusion proof against the newest
    signed checkpoint, whose key is in ``/oauth/jwks``. Only entries about me (or my ward)."""
    if not _SEQ.match(seq):
        raise ProblemError(400, "invalid_parameter", "seq must be a positive integer", parameter="seq")
    try:
        return access_log_proof(services, principal, _subject(principal, subject), int(seq), current_request_id(),
                                utcnow())
    except AccessDenied as exc:
        raise _denied(exc) from None
    except LogIncomplete as exc:
        raise ProblemError(500, exc.code, exc.detail) from None


QUERY_HANDLERS = [run_query, my_report, my_access_log, my_access_log_proof]

# Served in the fast lane (service.http.fastlane), with the guard and handler above.
FAST_ROUTES = [FastRoute("POST", "/v1/queries", QUERY_GUARD, QueryBody, answer_query)]
