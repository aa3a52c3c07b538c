"""Per-request context: the request id, on every response and every log line."""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import structlog

from service.observability.logging import get_logger
from service.observability.metrics import HTTP_LATENCY, HTTP_METHODS, HTTP_REQUESTS, child

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
log = get_logger("creditgate.http")


def current_request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


def _incoming_id(scope: dict[str, Any]) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            candidate = value.decode("latin-1")
            # A caller-chosen id is kept only if it cannot smuggle anything into logs.
            if _VALID_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex


async def with_request_context(app: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Run ``app`` for one HTTP request with an id bound, echoed and logged with timing."""
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
