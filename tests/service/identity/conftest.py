"""Fixtures for the identity tests: an HTTP client on a started app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from service.audit_log.models import AuditEntryRow
from service.http.app import create_app
from service.runtime import Services

REDIRECT_URI = "http://127.0.0.1:8000/app/callback"


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    app = create_app(services=services)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def audit_entries(services: Services, action: str | None = None) -> list[dict[str, Any]]:
    """Decoded audit entries, optionally only one action, in seq order."""
    with services.engine.connect() as conn:
        rows = conn.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[arg-type,call-overload]
    entries = [json.loads(bytes(body)) for body in rows]
    return [e for e in entries if action is None or e["action"] == action]
