"""Refusals at the edge: audited for identified callers, logged and counted for the rest.

Every 4xx answer to a caller whose token was verified and checked (a principal
on the scope) is written to the audit log before the answer goes out: the
caller, the route template, the status and the reason (a cross-tenant 404, a
403 from a role guard, a 409, bad input). Refusals the domain has audited itself
(the access gate's denials) are not written twice.

401 answers come from callers nobody could identify (no token, a forged or
expired one, an unknown client): anyone can cause them at any rate, so they
give one structured log line with the client address and a count in
``/metrics`` (``creditgate_unauthenticated_refusals_total``) instead, and
cannot flood the append-only log.

Nothing the caller chose reaches the entry: the route is the server's template,
the method one of a fixed set, the reason a code of the service.
"""

from __future__ import annotations

from typing import Any

from service.audit_log.writer import AuditEvent, AuditUnavailable
from service.http.client import client_address
from service.http.context import current_request_id
from service.http.problems import REFUSAL_KEY, STATUS_CODES
from service.identity.principal import Principal
from service.observability.logging import get_logger
from service.observability.metrics import HTTP_METHODS, UNAUTHENTICATED_REFUSALS, child
from service.runtime import Services

log = get_logger("creditgate.refusals")



class RefusalRecorder:
    """Called by the request context as each response starts (see the module docstring)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def __call__(self, scope: dict[str, Any], status: int) -> None:
        """Audit, or log and count, the refusal that ``status`` answers, if it is one."""
        if not 400 <= status < 500:
            return
        code, reason, audited = scope.get(REFUSAL_KEY) or (STATUS_CODES.get(status, "http_error"),) * 2 + (False,)
        route = scope.get("path_template") or "unmatched"
        method = scope.get("method", "")
        method = method if method in HTTP_METHODS else "OTHER"
        principal = scope.get("user")
        if status == 401 or not isinstance(principal, Principal):
            if status == 401:
                child(UNAUTHENTICATED_REFUSALS, route, code).inc()
                log.info("unauthenticated_refusal", route=route, method=method, code=code,
                         client=client_address(scope, self._services.settings.trusted_proxies))
            return
        if audited:
            return
        event = AuditEvent(
            actor_type=principal.role.value, actor_id=principal.actor_id, action="request.refused", decision="deny",
            reason=reason, request_id=current_request_id(),
            details={"method": method, "route": route, "status": status, "code": code,
                     "client_id": principal.client_id},
        )
        try:
            await self._services.writer.append_async(event)
        except (AuditUnavailable, ValueError):
            # The caller is refused either way and receives no data; the log keeps the trace.
            log.error("refusal_not_audited", route=route, status=status, code=code)
