"""Consent endpoints: institutions ask, people decide."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from policies import InvalidIdentifier, Role
from policies.consent import MAX_REASON_CHARS, ConsentRuleError
from policies.text import TextRefused
from service.consent.models import Consent
from service.consent.reasons import clean_reason
from service.consent.service import (
    ConsentConflict,
    ConsentForbidden,
    ConsentNotFound,
    ConsentService,
    Narrowing,
    NewRequest,
    consent_view,
    request_for_institution,
    shown_terms,
)
from service.db.types import iso_z, utcnow
from service.http.body import strict_body
from service.http.context import current_request_id
from service.http.problems import ProblemError
from service.identity.guards import require_roles
from service.identity.principal import Principal
from service.runtime import Services

# Injected by name (Litestar 3 drops inference): the caller and the process's services.
Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
_ID = re.compile(r"^[0-9a-f]{32}$")
Categories = Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=32)]


class ConsentRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    """An institution's request for consent. ``purpose`` names exactly one purpose."""

    id_number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    purpose: str | list[str]
    categories: Categories
    max_queries: int
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_CHARS)]
    valid_days: int | None = None
    valid_until: datetime | None = None


class GrantBody(msgspec.Struct, forbid_unknown_fields=True):
    """Optional narrowing: fewer categories, a shorter window, fewer queries."""

    categories: Categories | None = None
    valid_days: int | None = None
    valid_until: datetime | None = None
    max_queries: int | None = None


def _check_id(value: str) -> str:
    if not _ID.match(value):
        raise ProblemError(400, "invalid_id", "ids are 32 lowercase hex characters")
    return value


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ProblemError(
            400,
            "validation_error",
            f"{field} must include a UTC offset",
            errors=[{"field": field, "source": "body", "message": "timezone required"}],
        )
    return value


def _run(call: Any) -> Any:
    """Translate consent-domain outcomes into problem responses."""
    try:
        return call()
    except ConsentNotFound as exc:
        raise ProblemError(404, "not_found", "no such resource", audit_reason=exc.reason) from None
    except ConsentForbidden as exc:
        raise ProblemError(403, exc.code, exc.detail) from None
    except ConsentConflict as exc:
        raise ProblemError(409, exc.code, exc.detail) from None
    except ConsentRuleError as exc:
        raise ProblemError(exc.status, exc.code, str(exc)) from None
    except InvalidIdentifier as exc:
        raise ProblemError(400, exc.code, str(exc)) from None
    except TextRefused as exc:
        raise ProblemError(400, exc.code, f"reason: {exc.message}",
                           errors=[{"field": "reason", "source": "body", "message": exc.message}]) from None


@post(
    "/v1/consent-requests",
    dependencies={"payload": strict_body(ConsentRequestBody)},
    guards=[require_roles(Role.INSTITUTION, scope="consent:request")],
    sync_to_thread=True,
    tags=["consent"],
    summary="Ask a person for consent (one purpose, bounded validity and uses)",
)
def create_consent_request(
    principal: Caller,
    services: Svc,
    data: JSONBody[ConsentRequestBody],
    payload: NamedDependency[ConsentRequestBody],
) -> Response[dict[str, Any]]:
    """Create a pending request. The answer never reveals whether the person is known."""
    data = payload  # the strictly decoded twin of ``data`` (see service.http.body)
    purposes = data.purpose if isinstance(data.purpose, list) else [data.purpose]
    if len(purposes) != 1:
        raise ProblemError(400, "one_purpose_per_consent", "a consent names exactly one purpose (单独同意)")
    now = utcnow()
    new = NewRequest(
        id_number=data.id_number,
        purpose=purposes[0],
        categories=data.categories,
        valid_days=data.valid_days,
        valid_until=_aware(data.valid_until, "valid_until"),
        max_queries=data.max_queries,
        reason=data.reason,
    )
    req = _run(lambda: ConsentService(services).create_request(principal, new, current_request_id(), now))
    # The reason is stored encrypted for the person; the institution sees it echoed here only.
    return Response(request_for_institution(req, now, reason=clean_reason(data.reason)), status_code=201)


@get(
    "/v1/consent-requests/{request_id:str}",
    guards=[require_roles(Role.INSTITUTION, scope="consent:read")],
    sync_to_thread=True,
    tags=["consent"],
    summary="One of this institution's consent requests",
)
def get_consent_request(principal: Caller, services: Svc, request_id: FromPath[str]) -> dict[str, Any]:
    """The request and, once granted, the id of its consent."""
    now = utcnow()
    req = _run(lambda: ConsentService(services).institution_request(principal, _check_id(request_id), now))
    return request_for_institution(req, now)


@get(
    "/v1/consents/{consent_id:str}",
    guards=[require_roles(Role.INSTITUTION, scope="consent:read")],
    sync_to_thread=True,
    tags=["consent"],
    summary="One of this institution's consents",
)
def get_consent(principal: Caller, services: Svc, consent_id: FromPath[str]) -> dict[str, Any]:
    """The consent with its current state (active, revoked, expired, exhausted)."""
    consent = _run(lambda: ConsentService(services).institution_consent(principal, _check_id(consent_id)))
    return consent_view(consent, utcnow())


@get(
    "/v1/me/consent-requests",
    guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")],
    sync_to_thread=True,
    tags=["me"],
    summary="Pending consent requests for me (or my wards)",
)
def my_consent_requests(principal: Caller, services: Svc) -> dict[str, Any]:
    """Each pending request with the terms shown and the time it lapses."""
    now = utcnow()
    items = []
    for req, institution, subject, reason in ConsentService(services).pending_for(principal, now,
                                                                                 current_request_id()):
        items.append(
            {
                **shown_terms(req, institution, reason),
                "id": req.id,
                "for": "self" if subject == principal.subject_id else "ward",
                "subject": subject,
                "created_at": iso_z(req.created_at),
                "expires_at": iso_z(req.expires_at),
            }
        )
    return {"items": items}


@post(
    "/v1/me/consent-requests/{request_id:str}/grant",
    dependencies={"payload": strict_body(GrantBody, optional=True)},
    guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")],
    sync_to_thread=True,
    tags=["me"],
    summary="Grant a request, optionally narrowed",
)
def grant_consent_request(
    principal: Caller,
    services: Svc,
    request_id: FromPath[str],
    payload: NamedDependency[GrantBody | None],
    data: JSONBody[GrantBody | None] = None,
) -> Response[dict[str, Any]]:
    """Create the consent and return it with its signed receipt."""
    body = payload or GrantBody()
    narrowing = Narrowing(
        categories=body.categories,
        valid_days=body.valid_days,
        valid_until=_aware(body.valid_until, "valid_until"),
        max_queries=body.max_queries,
    )
    now = utcnow()
    consent: Consent = _run(
        lambda: ConsentService(services).grant(principal, _check_id(request_id), narrowing, current_request_id(), now)
    )
    view = consent_view(consent, now, with_receipt=True)
    return Response({"consent": view, "receipt": consent.receipt}, status_code=201)


@post(
    "/v1/me/consent-requests/{request_id:str}/reject",
    guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")],
    sync_to_thread=True,
    tags=["me"],
    summary="Reject a request",
    status_code=200,
)
def reject_consent_request(principal: Caller, services: Svc, request_id: FromPath[str]) -> dict[str, Any]:
    """Refuse the request; the institution sees it as rejected."""
    now = utcnow()
    req = _run(lambda: ConsentService(services).reject(principal, _check_id(request_id), current_request_id(), now))
    return {"id": req.id, "state": req.state}


@get(
    "/v1/me/consents",
    guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")],
    sync_to_thread=True,
    tags=["me"],
    summary="My consents (and my wards'), every state, with receipts",
)
def my_consents(principal: Caller, services: Svc) -> dict[str, Any]:
    """All consents, newest first, each with its effective state, its receipt, the institution
    holding it and whose it is (``for``: self or ward, ``subject``: the pseudonym)."""
    now = utcnow()
    service = ConsentService(services)
    consents = service.consents_for(principal)
    holders = service.institutions({c.institution_id for c in consents})
    return {"items": [
        {**consent_view(c, now, with_receipt=True), "for": "self" if c.subject_id == principal.subject_id else "ward",
         "subject": c.subject_id, "institution": holders[c.institution_id]}
        for c in consents
    ]}


@post(
    "/v1/me/consents/{consent_id:str}/revoke",
    guards=[require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")],
    sync_to_thread=True,
    tags=["me"],
    summary="Revoke a consent, effective immediately",
    status_code=200,
)
def revoke_consent(principal: Caller, services: Svc, consent_id: FromPath[str]) -> dict[str, Any]:
    """One call, any time: every query that starts after this returns is refused."""
    now = utcnow()
    consent = _run(lambda: ConsentService(services).revoke(principal, _check_id(consent_id), current_request_id(), now))
    return consent_view(consent, now)


CONSENT_HANDLERS = [
    create_consent_request,
    get_consent_request,
    get_consent,
    my_consent_requests,
    grant_consent_request,
    reject_consent_request,
    my_consents,
    revoke_consent,
]
