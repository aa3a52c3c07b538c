"""What the remedy routes share: request bodies, id checks and the translation of domain
errors into problem responses (every refusal has a stable ``code``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

import msgspec

from policies import InvalidIdentifier, Role
from policies.records import RecordRuleError
from service.audit_log.writer import AuditEvent
from service.fields import InvalidField
from service.http.context import current_request_id
from service.http.fields import field_problem
from service.http.problems import ProblemError
from service.identity.guards import require_roles
from service.identity.principal import Principal
from service.remedies.common import RemedyNotFound, RemedyRefused
from service.remedies.evidence import Attachment, InvalidEvidence
from service.runtime import Services

T = TypeVar("T")

PEOPLE = [require_roles(Role.SUBJECT, Role.GUARDIAN, scope="me")]
PROVIDERS = [require_roles(Role.PROVIDER, scope="records:write")]
OPERATORS = [require_roles(Role.OPERATOR, scope="admin")]

_ID = re.compile(r"[0-9a-f]{32}")
# Upper bounds for decoding only; the policy limits (remedies.toml) give the specific codes.
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]
Id = Annotated[str, msgspec.Meta(max_length=64)]


class EvidenceBody(msgspec.Struct, forbid_unknown_fields=True):
    """One attachment: its media type and its content in standard base64."""

    media_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=4 * 1024 * 1024)]


Evidence = Annotated[list[EvidenceBody], msgspec.Meta(max_length=20)]


class DocumentBody(msgspec.Struct, forbid_unknown_fields=True):
    """The decision document of a listing: its type, number and date (the provider issues it)."""

    type: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    date: dt.date


def attachments(items: list[EvidenceBody]) -> tuple[Attachment, ...]:
    """The attachments of a body, for the domain."""
    return tuple(Attachment(e.media_type, e.content) for e in items)


def checked_id(value: str, field: str = "id") -> str:
    """A 32-hex-digit id, or ``400 invalid_id``."""
    if _ID.fullmatch(value) is None:
        raise ProblemError(400, "invalid_id", f"{field} must be 32 lowercase hex characters")
    return value


def ward(principal: Principal, subject: str | None) -> str | None:
    """The person a ``/v1/me`` listing is about: ``None`` for everyone the caller acts for."""
    if subject is None:
        return None
    checked_id(subject, "subject")
    mine = subject == principal.subject_id or subject in principal.wards
    if not mine:
        raise ProblemError(404, "not_found", "no such resource")
    return subject


def invalid(field: str, message: str) -> ProblemError:
    """``400 validation_error`` naming the field."""
    return ProblemError(400, "validation_error", "the request is not valid; see errors",
                        errors=[{"field": field, "source": "body", "message": message}])


def problem_for(exc: Exception) -> ProblemError | None:
    """The problem response answering a domain refusal, or None for anything else."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, RemedyNotFound):
        return ProblemError(404, "not_found", "no such resource")
    if isinstance(exc, RemedyRefused):
        return ProblemError(exc.status, exc.code, exc.detail)
    if isinstance(exc, RecordRuleError):
        return ProblemError(exc.status, exc.code, str(exc))
    if isinstance(exc, InvalidField):
        return field_problem(exc)
    if isinstance(exc, InvalidEvidence):
        where = "evidence" if exc.index is None else f"evidence[{exc.index}]"
        return ProblemError(400, exc.code, exc.detail,
                            errors=[{"field": where, "source": "body", "message": exc.detail}])
    if isinstance(exc, InvalidIdentifier):
        return ProblemError(400, exc.code, str(exc))
    return None


def answer(services: Services, principal: Principal, action: str, fn: Callable[[], T]) -> T:
    """Run a domain call; answer its refusals as problem responses, each one audited as a
    denial of ``action`` by the caller (the code only: no input is kept)."""
    try:
        return fn()
    except Exception as exc:
        problem = problem_for(exc)
        if problem is None:
            raise
        services.writer.append(AuditEvent(
            actor_type=principal.role.value, actor_id=principal.actor_id, action=action, decision="deny",
            reason=problem.code, request_id=current_request_id(), details={"status": problem.status},
        ))
        problem.audited = True  # the edge must not write it a second time
        raise problem from None


ObjectionState = Literal["open", "upheld", "rejected", "unconfirmed"]
RepairState = Literal["open", "approved", "rejected", "revoked"]
ComplaintState = Literal["open", "upheld", "rejected"]
NoticeState = Literal["notified", "listed", "withdrawn"]
