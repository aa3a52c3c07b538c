"""Per-request context: the request id, on every response and every log line."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import structlog

from policies.text import personal_identifier_in
from service.observability.logging import get_logger
from service.observability.metrics import HTTP_LATENCY, HTTP_METHODS, HTTP_REQUESTS, child

REQUEST_ID_HEADER = "x-request-id"
# A caller's request id is kept only if it is a UUID (with or without hyphens) with no
# run of 11 or more digits, so that it cannot carry an ID, mobile or card number, even
# padded with digits: it is echoed, logged and stored in audit entries, which are
# permanent. Anything else gets an id of ours.
_VALID_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_DIGIT_RUN = re.compile(r"[0-9]{11,}")
#: Called as each response starts, with the scope and the status (refusal auditing).
ResponseStartHook = Callable[[dict[str, Any], int], Awaitable[None]]
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
log = get_logger("creditgate.http")


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


def accepted_request_id(candidate: str) -> str | None:
    """A caller's request id, normalised to lowercase, if it may be kept (see ``_VALID_ID``)."""
    value = candidate.strip().lower()
    if _VALID_ID.fullmatch(value) is None or _DIGIT_RUN.search(value) or personal_identifier_in(value):
        return None
    return value


def _incoming_id(scope: dict[str, Any]) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            accepted = accepted_request_id(value.decode("latin-1"))
            if accepted is not None:
                return accepted
            break
    return uuid.uuid4().hex


async def with_request_context(app: Any, scope: dict[str, Any], receive: Any, send: Any,
                               on_response_start: ResponseStartHook | None = None) -> None:
    """Run ``app`` for one HTTP request with an id bound, echoed and logged with timing.
    ``on_response_start`` runs before the status goes out (it may audit a refusal)."""
    rid = _incoming_id(scope)
    token = _request_id.set(rid)
    structlog.contextvars.bind_contextvars(request_id=rid)
    started = time.perf_counter()
    status = 500

    header = (b"x-request-id", rid.encode("ascii"))

    async def send_with_id(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            # No handler sets this header; the one we add is the only one.
            message["headers"] = [*message.get("headers", ()), header]
            if on_response_start is not None:
                await on_response_start(scope, status)
        await send(message)

    try:
        await app(scope, receive, send_with_id)
    finally:
        elapsed = time.perf_counter() - started
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "")
        counted = method if method in HTTP_METHODS else "OTHER"
        child(HTTP_REQUESTS, counted, route, str(status)).inc()
        child(HTTP_LATENCY, counted, route).observe(elapsed)
        log.info("request", method=method, route=route, path=scope.get("path", ""), status=status,
                 duration_ms=round(elapsed * 1000, 2))
        structlog.contextvars.unbind_contextvars("request_id")
        _request_id.reset(token)
