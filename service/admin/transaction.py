"""One transaction per registration, holding its state change and its audit entry.

An administrative change and the entry that records it commit together or not
at all: if the entry cannot be written, nothing of the change stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from service.admin.actor import Actor
from service.admin.errors import NotFound
from service.audit_log.writer import AuditEvent, AuditUnavailable
from service.http.context import current_request_id
from service.runtime import Services

T = TypeVar("T")


def new_id() -> str:
    """A random row id (32 lowercase hex characters)."""
    return uuid.uuid4().hex


@dataclass
class AdminWrite:
    """The open transaction of one registration and the entries it will commit with."""

    session: Session
    actor: Actor
    events: list[AuditEvent] = field(default_factory=list)

    def locked(self, model: type[T], row_id: str, kind: str) -> T:
        """The row ``row_id`` of ``model``, locked for this transaction; ``<kind>_not_found``
        when there is none."""
        row = self.session.get(model, row_id, with_for_update=True)
        if row is None:
            raise NotFound(f"{kind}_not_found", f"no {kind} with this id")
        return row

    def record(self, action: str, reason: str, *, subject: str | None = None, **details: Any) -> None:
        """Audit ``action`` in this transaction; ``details`` name ids, never personal data."""
        self.events.append(AuditEvent(
            actor_type=self.actor.actor_type, actor_id=self.actor.actor_id, action=action, decision="record",
            reason=reason, subject=subject, request_id=current_request_id(), details=details,
        ))


@contextmanager
def audited_write(services: Services, actor: Actor) -> Iterator[AdminWrite]:
    """A write transaction (SQLite: BEGIN IMMEDIATE) whose recorded entries are appended
    inside it, just before it commits."""
    with services.write_session() as session, session.begin():
        write = AdminWrite(session, actor)
        yield write
        if write.events:
            session.flush()
            try:
                services.writer.append_in(session.connection(), *write.events)
            except Exception as exc:  # the driver's own errors too: the append runs on its cursor
                # The change rolls back with its entry: nothing stays unrecorded.
                raise AuditUnavailable("the change could not be recorded") from exc
