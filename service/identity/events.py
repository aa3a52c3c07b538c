"""Audit entries for identity events (logins, tokens, registrations).

Entries name actors by id only (account, institution, provider or client id),
never by a person's name or ID number; details stay minimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit import AuditEntry
from service.audit_log.writer import AuditEvent, AuditWriter
from service.http.context import current_request_id

#: actor_id used when the caller could not be identified (never the input they sent).
UNKNOWN_ACTOR = "unknown"


def record(
    writer: AuditWriter,
    *,
    actor_type: str,
    actor_id: str,
    action: str,
    decision: str,
    reason: str,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry and wait until it is durable (raises AuditUnavailable)."""
    return writer.append(
        AuditEvent(
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            decision=decision,
            reason=reason,
            subject=subject,
            request_id=current_request_id(),
            details=dict(details or {}),
        )
    )
