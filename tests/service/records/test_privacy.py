"""Registered records hold no plaintext personal data: not in the response, the audit log,
the SQLite file or a PostgreSQL dump; the sealed columns open only at their own place."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Decision, Role
from service.crypto.envelope import DecryptionError
from service.crypto.vault import FieldPlace, SealedField
from service.db.raw import of_session
from service.gate.grant import GateViolation, issue
from service.http.app import create_app
from service.records.models import RECORD_SEALED_COLUMNS, CreditRecord
from service.runtime import Services
from tests.service.identity.tokens import issue_token_for, new_resident_id
from tests.service.records.helpers import audit_bodies, court_body, with_document
from tests.service.subjects.test_plaintext_scan import _postgres_dump, _sqlite_bytes

PEOPLE = [
    ("欧阳震华", "（2026）京0105执77123号", "被执行人欧阳某隐匿财产规避执行，涉及房产一处与车辆两辆。"),
    ("司马相如", "（2025）京0105执80111号", "被执行人拒不申报财产，执行标的四十二万零七百元整。"),
    ("上官婉儿", "（2026）京0105执90007号", "被执行人转移存款三十一万元以逃避履行判决确定的义务。"),
]


def _grant_for(record: CreditRecord, categories: frozenset[str]) -> Any:
    decision = Decision(allowed=True, reason="self", subject_id=record.subject_id, role=Role.SUBJECT,
                        categories=categories, fields=frozenset(), consent_id=None, purpose=None)
    return issue(decision)


def _sealed(record: CreditRecord, place_id: str | None = None) -> dict[str, SealedField]:
    return {
        column.removesuffix("_ct"): SealedField(
            FieldPlace("credit_records", column, place_id or record.id), getattr(record, column),
            f"category:{record.category}",
        )
        for column in RECORD_SEALED_COLUMNS
    }


def test_no_plaintext_reaches_the_response_the_audit_log_or_the_database(services: Services) -> None:
    court = issue_token_for(services, Role.PROVIDER, provider_type="court")
    needles: list[str] = []
    responses: list[str] = []
    with TestClient(create_app(services=services)) as http:
        for n, (name, number, facts) in enumerate(PEOPLE):
            id_number = new_resident_id(30 + n)
            body = with_document(court_body(id_number=id_number, name=name, facts=facts), number=number)
            resp = http.post("/v1/records", headers={**court.headers, "Idempotency-Key": f"scan-{n}"}, json=body)
            assert resp.status_code == 201, resp.text
            responses.append(resp.text)
            needles += [id_number, id_number[:14], name, number, facts]
    services.writer.checkpoint_now()
    audit = json.dumps(audit_bodies(services), ensure_ascii=False)
    stored = (_sqlite_bytes(services.settings.database_url) if services.settings.is_sqlite
              else _postgres_dump(services))
    for needle in needles:
        assert needle not in audit
        assert all(needle not in text for text in responses)
        raw = needle.encode("utf-8")
        assert raw not in stored and raw.hex().encode() not in stored, needle
    # The scan can see clear text: the item code, the authority and the audit action are stored in clear.
    for marker in ("court_dishonest_judgment_debtor", "record.register", "示范市朝阳区人民法院"):
        raw = marker.encode("utf-8")
        assert raw in stored or raw.hex().encode() in stored


def test_sealed_details_open_only_for_their_category_and_place(services: Services) -> None:
    court = issue_token_for(services, Role.PROVIDER, provider_type="court")
    name, number, facts = PEOPLE[0]
    body = with_document(court_body(name=name, facts=facts), number=f"  {number} ")
    with TestClient(create_app(services=services)) as http:
        view = http.post("/v1/records", headers=court.headers, json=body).json()
    with services.session() as s:
        record = s.get(CreditRecord, view["id"])
        assert record is not None
        opened = services.vault.decrypt(_grant_for(record, frozenset({"judicial_enforcement"})), of_session(s),
                                        record.subject_id, _sealed(record))
        assert opened == {"document_number": number, "facts": facts}
        with pytest.raises(GateViolation):
            services.vault.decrypt(_grant_for(record, frozenset({"tax"})), of_session(s), record.subject_id,
                                   _sealed(record))
        with pytest.raises(DecryptionError):
            services.vault.decrypt(_grant_for(record, frozenset({"judicial_enforcement"})), of_session(s),
                                   record.subject_id, _sealed(record, place_id="0" * 32))


def test_created_at_is_now_and_the_state_is_active(services: Services) -> None:
    court = issue_token_for(services, Role.PROVIDER, provider_type="court")
    before = datetime.now(UTC)
    with TestClient(create_app(services=services)) as http:
        view = http.post("/v1/records", headers=court.headers, json=court_body()).json()
    with services.session() as s:
        record = s.get(CreditRecord, view["id"])
    assert record is not None and record.state == "active"
    assert before <= record.created_at <= datetime.now(UTC)
