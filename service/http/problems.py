"""RFC 9457 problem responses with a stable ``code`` for every error the API returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from service.audit_log.writer import AuditUnavailable
from service.http.context import current_request_id
from service.observability.logging import get_logger
from service.observability.redaction import scrub_text

PROBLEM_JSON = "application/problem+json"
#: Where a refusal's code is noted on the ASGI scope for the edge (``service.http.refusals``).
REFUSAL_KEY = "creditgate.refusal"
PROBLEM_BASE = "https://creditgate.example/problems/"
log = get_logger("creditgate.errors")

# Stable codes for errors raised by the framework itself.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class ProblemError(Exception):
    """Raise to answer with a problem response; ``detail`` must hold no personal data.
    ``headers`` go on the response (a 401's ``WWW-Authenticate``, say).

    A refusal of an identified caller is audited at the edge (``service.http.refusals``)
    with ``code`` as its reason, or ``audit_reason`` when the domain knows more than it
    may tell the caller (``not_held`` behind a 404); ``audited`` says the domain has
    already written the refusal's entry (a gate denial)."""

    def __init__(self, status: int, code: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, audit_reason: str | None = None, audited: bool = False,
                 **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.audit_reason = audit_reason
        self.audited = audited
        self.extra = extra


def note_refusal(scope: dict[str, Any], code: str, audit_reason: str | None = None, *, audited: bool = False) -> None:
    """Remember on the request's scope why it is being refused, for the edge to audit
    (an identified caller) or log (anyone else) once the status goes out."""
    scope[REFUSAL_KEY] = (code, audit_reason or code, audited)


def problem_body(status: int, code: str, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 body of a problem response, with the request id."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = scrub_text(detail)
    rid = current_request_id()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    return body


def problem(status: int, code: str, detail: str | None = None, *, headers: dict[str, str] | None = None,
            **extra: Any) -> Response[dict[str, Any]]:
    """Build a problem+json response."""
    return Response(problem_body(status, code, detail, **extra), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers or None)


def problem_parts(exc: Exception, scope: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers answering ``exc``: our own errors, a failed audit append
    (fail closed), or anything else (500, logged by type only: messages can carry data).
    Framework errors have their own handler below. With ``scope``, the refusal is noted
    there for the edge to audit or log (``service.http.refusals``)."""
    if isinstance(exc, ProblemError):
        if scope is not None:
            note_refusal(scope, exc.code, exc.audit_reason, audited=exc.audited)
        headers = exc.headers
        if exc.status == 413:
            headers = {**headers, "Connection": "close"}
        return exc.status, problem_body(exc.status, exc.code, exc.detail, **exc.extra), headers
    if isinstance(exc, AuditUnavailable):
        log.error("audit_unavailable")
        detail = "the access could not be recorded; no data was returned"
        return 503, problem_body(503, "audit_unavailable", detail), {}
    log.error("unhandled_error", error=type(exc).__name__)
    return 500, problem_body(500, "internal_error", "an internal error occurred"), {}


def _validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        # Only the location and the message: the offending value may be personal data.
        errors.append(
            {
                "field": scrub_text(str(item.get("key", ""))),
                "source": str(item.get("source", "body")),
                "message": scrub_text(str(item.get("message", "invalid value"))),
            }
        )
    return errors


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Our own errors, audit failures and unexpected ones (see :func:`problem_parts`)."""
    status, body, headers = problem_parts(exc, request.scope)  # type: ignore[arg-type]
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Framework errors: validation, 404, 405, 413 and the like."""
    status = exc.status_code
    scope: dict[str, Any] = request.scope  # type: ignore[assignment]
    if isinstance(exc, ValidationException):
        note_refusal(scope, "validation_error")
        detail = "the request is not valid; see errors"
        return problem(400, "validation_error", detail, errors=_validation_errors(exc))
    if status == 400:
        # Litestar raises a plain 400 when the body cannot be decoded at all.
        note_refusal(scope, "malformed_body")
        return problem(400, "malformed_body", "the request body could not be decoded as JSON")
    code = STATUS_CODES.get(status, "http_error")
    note_refusal(scope, code)
    detail = {
        404: "no such resource",
        405: "method not allowed for this resource",
        413: "request body is larger than the service accepts",
    }.get(status, "request failed")
    resp = problem(status, code, detail)
    if status == 405 and exc.headers and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    if status == 413:
        # The body was not (or not wholly) read: the connection cannot carry another request.
        resp.headers["Connection"] = "close"
    return resp


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: handle_http,
    Exception: handle_exception,
}
