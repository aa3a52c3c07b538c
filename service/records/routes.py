"""Record registration by providers: ``POST /v1/records``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, JSONBody

from policies import InvalidIdentifier, RecordRuleError, Role
from service.db.types import utcnow
from service.fields import InvalidField
from service.http.body import strict_body
from service.http.context import current_request_id
from service.http.fields import field_problem
from service.http.problems import ProblemError
from service.identity.guards import AuthenticationRequired, require_roles
from service.identity.principal import Principal
from service.records.service import (
    MAX_FACTS_CHARS,
    NewRecord,
    ProviderInactive,
    RecordConflict,
    RecordDocument,
    RecordService,
    check_idempotency_key,
    record_view,
)
from service.runtime import Services

Caller = NamedDependency[Principal]
Svc = NamedDependency[Services]
Leniency = Literal["minor", "force_majeure", "not_intentional", "slight"]
Severity = Literal["light", "ordinary", "severe"]


class DocumentBody(msgspec.Struct, forbid_unknown_fields=True):
    """The legal-effect document: its type (catalog document type), number, issuing authority and date."""

    type: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    authority: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    date: dt.date


class RecordBody(msgspec.Struct, forbid_unknown_fields=True):
    """A record registration. ``leniency`` holds distinct flags; ``minor`` is added by the service
    when the person was under 18 on the decision date. ``severity`` is the class of dishonesty
    information (NDRC Order 36) where the item admits several (its default otherwise);
    ``published`` says whether the deciding department publishes it, for items published by
    decision (《行政处罚法》第四十八条)."""

    id_number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    item_code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    document: DocumentBody
    decision_date: dt.date
    facts: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FACTS_CHARS)]
    procedure: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]
    first_violation_corrected: bool
    leniency: Annotated[list[Leniency], msgspec.Meta(max_length=4)] = msgspec.field(default_factory=list)
    severity: Severity | None = None
    published: bool | None = None


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(400, "validation_error", "the request is not valid; see errors",
                        errors=[{"field": field, "source": "body", "message": message}])


def _new_record(body: RecordBody) -> NewRecord:
    if len(set(body.leniency)) != len(body.leniency):
        raise _invalid("leniency", "leniency flags must be distinct")
    doc = body.document
    return NewRecord(
        id_number=body.id_number, name=body.name, item_code=body.item_code,
        document=RecordDocument(type=doc.type, number=doc.number, authority=doc.authority, date=doc.date),
        decision_date=body.decision_date, facts=body.facts, procedure=body.procedure,
        first_violation_corrected=body.first_violation_corrected, leniency=tuple(body.leniency),
        severity=body.severity, published=body.published,
    )


@post(
    "/v1/records",
    dependencies={"payload": strict_body(RecordBody)},
    guards=[require_roles(Role.PROVIDER, scope="records:write")],
    sync_to_thread=True,
    tags=["records"],
    summary="Register a credit record grounded in a legal-effect document",
    description=(
        "Send `Idempotency-Key` to make retries safe: the same key and body return the original record "
        "(200), the same key with another body is refused (409 idempotency_key_reused)."
    ),
)
def register_record(
    principal: Caller,
    services: Svc,
    data: JSONBody[RecordBody],
    payload: NamedDependency[RecordBody],
    idempotency_key: Annotated[
        str | None,
        HeaderParameter(name="Idempotency-Key", required=False,
                        description="1-128 of A-Z a-z 0-9 . _ : -; same key and body replay the first answer"),
    ] = None,
) -> Response[dict[str, Any]]:
    """Register one record; 201 with its pseudonymous view, or 200 for an idempotent replay."""
    del data  # ``payload`` is the strictly decoded twin (see service.http.body)
    try:
        key = check_idempotency_key(idempotency_key)
    except ValueError as exc:
        raise ProblemError(400, "invalid_idempotency_key", str(exc)) from None
    assert principal.provider_id
    new = _new_record(payload)
    try:
        record, created = RecordService(services).register(
            principal.provider_id, new, idempotency_key=key, request_id=current_request_id(), now=utcnow()
        )
    except InvalidIdentifier as exc:
        raise ProblemError(400, exc.code, str(exc)) from None
    except RecordRuleError as exc:
        raise ProblemError(exc.status, exc.code, str(exc)) from None
    except InvalidField as exc:
        raise field_problem(exc) from None
    except RecordConflict as exc:
        raise ProblemError(409, exc.code, exc.detail) from None
    except ProviderInactive:
        raise AuthenticationRequired("unauthorized", "the caller is not allowed to act", "invalid_token") from None
    headers = {} if created else {"Idempotent-Replayed": "true"}
    return Response(record_view(record), status_code=201 if created else 200, headers=headers)


RECORD_HANDLERS = [register_record]
