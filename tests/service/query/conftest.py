"""A person with records across states and windows, a bank with consent, over HTTP."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role
from policies.access import CHINA_STANDARD_TIME
from policies.catalog import load_catalog
from policies.records import disclosure_window
from service.crypto.vault import FieldPlace
from service.db.types import utcnow
from service.http.app import create_app
from service.records.models import CreditRecord
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for, make_provider


def china_today() -> date:
    return utcnow().astimezone(CHINA_STANDARD_TIME).date()


def add_record(services: Services, subject_id: str, provider_id: str, item_code: str, decision_date: date,
               state: str = "active", facts: str = "未按规定履行义务", number: str | None = None) -> str:
    """Store a record the way registration does: details encrypted under the subject's key."""
    item = load_catalog()[item_code]
    record_id = uuid.uuid4().hex
    number = number or f"京市监罚〔2026〕{uuid.uuid4().int % 10000}号"
    # A write transaction from the start: a deferred one reads the data key first and can
    # then find that the audit writer committed meanwhile (SQLite refuses the upgrade).
    with services.write_session() as s, s.begin():
        doc_ct, facts_ct = services.vault.encrypt(s, subject_id, [
            (FieldPlace("credit_records", "document_number_ct", record_id), number),
            (FieldPlace("credit_records", "facts_ct", record_id), facts),
        ])
        assert doc_ct is not None and facts_ct is not None
        s.add(CreditRecord(
            id=record_id, subject_id=subject_id, provider_id=provider_id, item_code=item_code,
            category=item.category, nature=item.nature, state=state, decision_date=decision_date,
            disclosure_ends=disclosure_window(item, decision_date).ends, document_type=sorted(item.document_types)[0],
            document_authority="北京市朝阳区市场监督管理局", document_date=decision_date,
            document_number_ct=doc_ct, facts_ct=facts_ct, procedure="general", first_violation_corrected=False,
            leniency=[], request_sha256=hashlib.sha256(record_id.encode()).hexdigest(),
        ))
    return record_id


@dataclass
class Scene:
    http: TestClient[Any]
    services: Services
    bank: Caller
    rival: Caller
    person: Caller
    records: dict[str, str]

    def consent(self, bank: Caller | None = None, **terms: Any) -> str:
        """A consent granted by ``person`` to ``bank`` (loan approval, all useful categories)."""
        bank = bank or self.bank
        body = {"id_number": self.person.id_number, "purpose": "loan_approval",
                "categories": ["identity", "administrative_penalty", "judicial_enforcement"],
                "valid_days": 30, "max_queries": 3, "reason": "贷款审批", **terms}
        req = self.http.post("/v1/consent-requests", headers=bank.headers, json=body)
        assert req.status_code == 201, req.text
        granted = self.http.post(f"/v1/me/consent-requests/{req.json()['id']}/grant", headers=self.person.headers)
        assert granted.status_code == 201, granted.text
        return str(granted.json()["consent"]["id"])

    def query(self, consent_id: str, purpose: str = "loan_approval", bank: Caller | None = None) -> Any:
        return self.http.post("/v1/queries", headers=(bank or self.bank).headers,
                              json={"consent_id": consent_id, "purpose": purpose})


@pytest.fixture
def scene(services: Services) -> Iterator[Scene]:
    bank = issue_token_for(services, Role.INSTITUTION, institution_type="bank")
    rival = issue_token_for(services, Role.INSTITUTION, institution_type="bank")
    person = issue_token_for(services, Role.SUBJECT)
    subject = person.subject_id
    assert subject
    market = make_provider(services, provider_type="market_regulation").id
    court = make_provider(services, provider_type="court").id
    tax = make_provider(services, provider_type="tax").id
    today = china_today()
    general = 1095  # admin_penalty_general shows for 1,095 days after the decision
    records = {
        "active": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=30)),
        "disputed": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=60),
                               state="disputed"),
        "repaired": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=400),
                               state="repaired"),
        "corrected": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=20),
                                state="corrected"),
        "revoked": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=10),
                              state="revoked"),
        # The window ends tomorrow (still shown), today (not shown) and yesterday (not shown).
        "ends_tomorrow": add_record(services, subject, market, "admin_penalty_general",
                                    today - timedelta(days=general - 1)),
        "ends_today": add_record(services, subject, market, "admin_penalty_general", today - timedelta(days=general)),
        "ended_yesterday": add_record(services, subject, market, "admin_penalty_general",
                                      today - timedelta(days=general + 1)),
        "court": add_record(services, subject, court, "court_dishonest_judgment_debtor", today - timedelta(days=5),
                            facts="有履行能力而拒不履行生效法律文书确定义务"),
        "tax": add_record(services, subject, tax, "tax_major_violation", today - timedelta(days=90)),
    }
    with TestClient(create_app(services=services), raise_server_exceptions=False) as http:
        yield Scene(http, services, bank, rival, person, records)
