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
PROBLEM_BASE = "https://creditgate.example/problems/"
log = get_logger("creditgate.errors")

# Stable codes for errors raised by the framework itself.
_STATUS_CODES = {
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
    """Raise to answer with a problem response; ``detail`` must hold no personal data."""

    def __init__(self, status: int, code: str, detail: str | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem(status: int, code: str, detail: str | None = None, **extra: Any) -> Response[dict[str, Any]]:
    """Build a problem+json response."""
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
    headers = {"Allow": extra.pop("_allow")} if "_allow" in extra else None
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


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


def handle_problem(_: Request[Any, Any, Any], exc: ProblemError) -> Response[dict[str, Any]]:
    """Our own errors."""
    return problem(exc.status, exc.code, exc.detail, **exc.extra)


def handle_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Framework errors: validation, 404, 405, 413 and the like."""
    status = exc.status_code
    if isinstance(exc, ValidationException):
        detail = "the request is not valid; see errors"
        return problem(400, "validation_error", detail, errors=_validation_errors(exc))
    if status == 400:
        # Litestar raises a plain 400 when the body cannot be decoded at all.
        return problem(400, "malformed_body", "the request body could not be decoded as JSON")
    code = _STATUS_CODES.get(status, "http_error")
    detail = {
        404: "no such resource",
        405: "method not allowed for this resource",
        413: "request body is larger than the service accepts",
    }.get(status, "request failed")
    resp = problem(status, code, detail)
    if status == 405 and exc.headers and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    return resp


def handle_audit_unavailable(_: Request[Any, Any, Any], exc: AuditUnavailable) -> Response[dict[str, Any]]:
    """Fail closed: without a durable audit entry, nothing is returned."""
    log.error("audit_unavailable")
    return problem(503, "audit_unavailable", "the access could not be recorded; no data was returned")


def handle_unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Anything else: log the type only (messages can carry data), answer 500."""
    log.error("unhandled_error", error=type(exc).__name__)
    return problem(500, "internal_error", "an internal error occurred")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: handle_problem,
    HTTPException: handle_http,
    AuditUnavailable: handle_audit_unavailable,
    Exception: handle_unexpected,
}
