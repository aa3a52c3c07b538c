"""A world for the remedies, over HTTP on both databases: a person with records, their
provider, a court, a bank holding a consent, an operator, and a clock the remedies go by."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role
from policies.access import CHINA_STANDARD_TIME
from service.audit_log.models import AuditEntryRow
from service.http.app import create_app
from service.records.models import CreditRecord
from service.remedies.clock import CLOCK_STATE_KEY
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for
from tests.service.query.conftest import add_record

PDF = b"%PDF-1.4\n% evidence of payment, remedies test\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def pdf_evidence() -> list[dict[str, str]]:
    return [{"media_type": "application/pdf", "content": b64(PDF)}]


def china_now() -> datetime:
    return datetime.now(UTC)


def at(day: date, hour: int = 10) -> datetime:
    """That China date at ``hour`` o'clock, as an aware UTC datetime."""
    return datetime.combine(day, time(hour), tzinfo=CHINA_STANDARD_TIME).astimezone(UTC)


def today() -> date:
    return datetime.now(CHINA_STANDARD_TIME).date()


@dataclass
class Clock:
    """The remedies' clock: the wall clock until a test sets a day."""

    fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)

    def set(self, day: date) -> None:
        self.fixed = at(day)


@dataclass
class World:
    http: TestClient[Any]
    services: Services
    clock: Clock
    person: Caller
    market: Caller
    court: Caller
    bank: Caller
    operator: Caller
    extra: dict[str, Any] = field(default_factory=dict)

    # --- records --------------------------------------------------------------------------

    def record(self, item_code: str = "admin_penalty_general", decided: date | None = None, *,
               provider: Caller | None = None, subject_id: str | None = None, **kw: Any) -> str:
        """A record about the person (or ``subject_id``), stored as registration stores it."""
        who = provider or self.market
        assert who.provider is not None
        return add_record(self.services, subject_id or str(self.person.subject_id), who.provider.id, item_code,
                          decided or today() - timedelta(days=30), **kw)

    def row(self, record_id: str) -> CreditRecord:
        with self.services.session() as s:
            row = s.get(CreditRecord, record_id)
        assert row is not None
        return row

    # --- the three views of a record -------------------------------------------------------------

    def own(self, person: Caller | None = None, **params: str) -> dict[str, dict[str, Any]]:
        """The person's own report, by record id."""
        resp = self.http.get("/v1/me/report", headers=(person or self.person).headers, params=params)
        assert resp.status_code == 200, resp.text
        return {r["id"]: r for r in resp.json()["report"]["records"]}

    def consent(self, person: Caller | None = None, categories: list[str] | None = None) -> str:
        who = person or self.person
        body = {"id_number": who.id_number, "purpose": "loan_approval",
                "categories": categories or ["identity", "administrative_penalty", "judicial_enforcement", "tax"],
                "valid_days": 30, "max_queries": 3, "reason": "贷款审批"}
        req = self.http.post("/v1/consent-requests", headers=self.bank.headers, json=body)
        assert req.status_code == 201, req.text
        granted = self.http.post(f"/v1/me/consent-requests/{req.json()['id']}/grant", headers=who.headers)
        assert granted.status_code == 201, granted.text
        return str(granted.json()["consent"]["id"])

    def institution(self, person: Caller | None = None) -> dict[str, dict[str, Any]]:
        """What the bank sees of the person under a fresh consent, by record id."""
        consent_id = self.consent(person)
        resp = self.http.post("/v1/queries", headers=self.bank.headers,
                              json={"consent_id": consent_id, "purpose": "loan_approval"})
        assert resp.status_code == 200, resp.text
        return {r["id"]: r for r in resp.json()["report"]["records"]}

    def public(self, **params: Any) -> dict[str, Any]:
        resp = self.http.get("/v1/public/serious-list", params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def public_ids(self, **params: Any) -> set[str]:
        return {i["record_id"] for i in self.public(per_page=50, **params)["items"]}

    # --- the remedies ------------------------------------------------------------------------------

    def object(self, record_id: str, reason: str = "处罚所认定的经营场所并非本人经营，请求核实。",
               person: Caller | None = None, **extra: Any) -> Any:
        return self.http.post("/v1/me/objections", headers=(person or self.person).headers,
                              json={"record_id": record_id, "reason": reason, **extra})

    def decide(self, objection_id: str, outcome: str, provider: Caller | None = None, **extra: Any) -> Any:
        return self.http.post(f"/v1/objections/{objection_id}/decision", headers=(provider or self.market).headers,
                              json={"outcome": outcome, "reasons": "经核查，处罚决定认定事实清楚、证据确凿。", **extra})

    def audit(self, action: str | None = None, *, refusals: bool = False) -> list[dict[str, Any]]:
        """Audit entries (of ``action``), in order: what was done, or (``refusals``) what was refused."""
        with self.services.session() as s:
            bodies = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()  # type: ignore[call-overload]
            entries = [json.loads(bytes(b)) for b in bodies]
        return [e for e in entries if (action is None or e["action"] == action)
                and (e["decision"] == "deny") == refusals]


@pytest.fixture
def world(services: Services) -> Iterator[World]:
    clock = Clock()
    app = create_app(services=services)
    app.state[CLOCK_STATE_KEY] = clock
    with TestClient(app, raise_server_exceptions=False) as http:
        yield World(
            http=http, services=services, clock=clock,
            person=issue_token_for(services, Role.SUBJECT),
            market=issue_token_for(services, Role.PROVIDER, provider_type="market_regulation"),
            court=issue_token_for(services, Role.PROVIDER, provider_type="court"),
            bank=issue_token_for(services, Role.INSTITUTION, institution_type="bank"),
            operator=issue_token_for(services, Role.OPERATOR),
        )
