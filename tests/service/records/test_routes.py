"""POST /v1/records over HTTP: success, every refusal code, strict bodies, roles, leniency for minors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role, add_months, load_catalog, make_resident_id
from service.admin.registry import Actor, set_provider_status
from service.records.models import CreditRecord
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import Caller, issue_token_for, new_resident_id
from tests.service.records.helpers import (
    audit_bodies,
    china_today,
    court_body,
    days_ago,
    market_body,
    record_count,
    with_document,
)

VIEW_KEYS = {"id", "subject_id", "item_code", "category", "nature", "severity", "state", "decision_date",
             "disclosure_ends", "leniency", "sealed", "published"}



@pytest.fixture
def market(services: Services) -> Caller:
    return issue_token_for(services, Role.PROVIDER, provider_type="market_regulation")




def test_a_court_registers_a_dishonest_judgment_debtor(
    http: TestClient[Any], services: Services, court: Caller
) -> None:
    body = court_body()
    resp = http.post("/v1/records", headers=court.headers, json=body)
    assert resp.status_code == 201, resp.text
    view = resp.json()
    assert set(view) == VIEW_KEYS
    item = load_catalog()["court_dishonest_judgment_debtor"]
    assert view["item_code"] == item.code and view["category"] == item.category == "judicial_enforcement"
    assert view["nature"] == "serious" and view["state"] == "active" and view["leniency"] == []
    assert view["severity"] == "severe" and view["published"] is True and view["sealed"] is False
    assert view["decision_date"] == body["decision_date"]
    # Severe information: 36 calendar months from the decision, the last day included.
    assert view["disclosure_ends"] == add_months(china_today() - timedelta(days=30), 36).isoformat()
    with services.session() as s:
        row = s.get(CreditRecord, view["id"])
    assert row is not None and row.subject_id == view["subject_id"] and row.provider_id == court.actor_id
    assert row.document_type == "enforcement_ruling" and row.document_authority == "示范市朝阳区人民法院"
    assert row.idempotency_key is None and len(row.request_sha256) == 64
    entries = audit_bodies(services, "record.register")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["actor_type"], entry["actor_id"], entry["subject"]) == ("provider", court.actor_id, row.subject_id)
    assert entry["details"] == {"record": row.id, "item_code": item.code, "category": item.category,
                                "severity": "severe", "sealed": False, "published": True}
    # The person was unknown, so they were registered too, in the same transaction.
    assert [e["subject"] for e in audit_bodies(services, "subject.register")] == [row.subject_id]


def test_a_known_person_is_found_by_blind_index(http: TestClient[Any], services: Services, court: Caller) -> None:
    person = issue_token_for(services, Role.SUBJECT)
    resp = http.post("/v1/records", headers=court.headers, json=court_body(id_number=person.id_number.lower()))
    assert resp.status_code == 201, resp.text
    assert resp.json()["subject_id"] == person.subject_id
    assert audit_bodies(services, "subject.register") == []


def test_without_a_key_every_post_creates_a_record(http: TestClient[Any], services: Services, court: Caller) -> None:
    body = court_body()
    first = http.post("/v1/records", headers=court.headers, json=body)
    second = http.post("/v1/records", headers=court.headers, json=body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["subject_id"] == second.json()["subject_id"]
    assert record_count(services) == 2


def _market(**changes: Any) -> dict[str, Any]:
    return market_body(**changes)


def _refusals() -> list[tuple[str, str, Any, int, str]]:
    """(provider, case, body, status, code). Built when each test runs, not at import:
    the dates are relative to today in China, and a run may cross midnight."""
    return [
        # check_registration, in its order
        ("court", "unknown item", court_body(item_code="no_such_item"), 400, "item_unknown"),
        ("court", "provider type not allowed", court_body(item_code="admin_penalty_general"), 403,
         "provider_not_allowed"),
        ("court", "procedure unknown", court_body(procedure="summary"), 400, "procedure_unknown"),
        ("court", "document type not accepted", with_document(court_body(), type="court_judgment"), 400,
         "document_type_not_accepted"),
        ("court", "document type outside the catalog", with_document(court_body(), type="letter"), 400,
         "document_type_not_accepted"),
        ("court", "decision date in the future", court_body(decision_date=days_ago(-1)), 400,
         "decision_date_in_future"),
        ("market", "simplified procedure", _market(procedure="simplified"), 400, "simplified_procedure_excluded"),
        ("market", "minor first violation corrected", _market(first_violation_corrected=True), 400,
         "minor_first_violation_exempt"),
        # the service's own date rules
        ("court", "document dated in the future",
         with_document(court_body(decision_date=days_ago(0)), date=days_ago(-2)), 400, "document_date_in_future"),
        ("court", "document after the decision", with_document(court_body(), date=days_ago(5)), 400,
         "document_date_after_decision"),
        ("court", "decision before birth",
         court_body(id_number=new_resident_id(1), decision_date=days_ago(800),
                    document={"type": "enforcement_ruling", "number": "（2024）京0105执1号",
                              "authority": "示范市朝阳区人民法院", "date": days_ago(800)}), 400,
         "decision_before_birth"),
        ("court", "window already over",
         with_document(court_body(decision_date=days_ago(1100)), date=days_ago(1100)), 400, "disclosure_period_ended"),
        ("market", "ordinary window already over (12 months)",
         with_document(market_body(decision_date=days_ago(370)), date=days_ago(370)), 400, "disclosure_period_ended"),
        # identifiers
        ("court", "ID checksum", court_body(id_number="110105198503091234"), 400, "id_number_checksum"),
        ("court", "ID format", court_body(id_number="11010519850309"), 400, "id_number_format"),
        ("court", "ID birth date", court_body(id_number=make_resident_id("110105", china_today() + timedelta(days=3), 1,
                                                                         "male")), 400, "id_number_birth_date"),
        # strict bodies
        ("court", "unknown top-level field", court_body(extra=1), 400, "validation_error"),
        ("court", "unknown document field", with_document(court_body(), seal="x"), 400, "validation_error"),
        ("court", "missing field", {k: v for k, v in court_body().items() if k != "facts"}, 400, "validation_error"),
        ("court", "missing document field", {**court_body(), "document": {"type": "enforcement_ruling"}}, 400,
         "validation_error"),
        ("court", "boolean as a string", court_body(first_violation_corrected="false"), 400, "validation_error"),
        ("court", "boolean as a number", court_body(first_violation_corrected=0), 400, "validation_error"),
        ("court", "date in another format", court_body(decision_date="2026/01/01"), 400, "validation_error"),
        ("court", "date as a number", court_body(decision_date=20260101), 400, "validation_error"),
        ("court", "leniency not a list", court_body(leniency="slight"), 400, "validation_error"),
        ("court", "unknown leniency flag", court_body(leniency=["youth"]), 400, "validation_error"),
        ("court", "repeated leniency flag", court_body(leniency=["slight", "slight"]), 400, "validation_error"),
        ("court", "facts too long", court_body(facts="事" * 2001), 400, "validation_error"),
        ("court", "empty facts", court_body(facts=""), 400, "validation_error"),
        ("court", "blank facts", court_body(facts="   "), 400, "validation_error"),
        ("court", "blank name", court_body(name=" \t "), 400, "validation_error"),
        ("court", "name too long", court_body(name="张" * 65), 400, "validation_error"),
        ("court", "ID number not a string", court_body(id_number=110105198503091234), 400, "validation_error"),
        ("court", "document number too long", with_document(court_body(), number="9" * 65), 400, "validation_error"),
        ("court", "body is a list", [court_body()], 400, "validation_error"),
    ]


REFUSALS = [(provider, case, status, code) for provider, case, _, status, code in _refusals()]


@pytest.mark.parametrize(("provider", "case", "status", "code"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_refusals_have_stable_codes_and_change_nothing(
    http: TestClient[Any], services: Services, court: Caller, market: Caller,
    provider: str, case: str, status: int, code: str,
) -> None:
    body = next(r[2] for r in _refusals() if r[1] == case)
    caller = court if provider == "court" else market
    resp = http.post("/v1/records", headers=caller.headers, json=body)
    problem = assert_problem(resp, status, code)
    assert record_count(services) == 0
    assert audit_bodies(services, "record.register") == []
    assert audit_bodies(services, "subject.register") == []
    if isinstance(body, dict) and isinstance(body.get("id_number"), str):
        assert body["id_number"] not in resp.text
    if isinstance(body, dict) and isinstance(body.get("facts"), str) and body["facts"].strip():
        assert body["facts"] not in resp.text
    assert "张三丰" not in resp.text
    if code == "validation_error":
        assert problem["errors"] and problem["errors"][0]["source"] == "body"


def test_facts_of_exactly_2000_characters_are_accepted(
    http: TestClient[Any], services: Services, court: Caller
) -> None:
    resp = http.post("/v1/records", headers=court.headers, json=court_body(facts="事" * 2000))
    assert resp.status_code == 201, resp.text


def test_malformed_json_and_missing_body(http: TestClient[Any], court: Caller) -> None:
    headers = {**court.headers, "content-type": "application/json"}
    assert_problem(http.post("/v1/records", headers=headers, content=b"{not json"), 400, "malformed_body")
    assert_problem(http.post("/v1/records", headers=headers, content=b""), 400, "validation_error")


@pytest.mark.parametrize("role", [Role.INSTITUTION, Role.SUBJECT, Role.GUARDIAN, Role.AUDITOR, Role.OPERATOR])
def test_other_roles_are_refused(http: TestClient[Any], services: Services, role: Role) -> None:
    caller = issue_token_for(services, role)
    assert_problem(http.post("/v1/records", headers=caller.headers, json=court_body()), 403, "forbidden_role")
    assert record_count(services) == 0


def test_a_call_without_a_token_is_refused(http: TestClient[Any], services: Services) -> None:
    assert_problem(http.post("/v1/records", json=court_body()), 401, "unauthorized")
    assert record_count(services) == 0


def test_a_suspended_provider_is_refused_at_once(http: TestClient[Any], services: Services, court: Caller) -> None:
    assert http.post("/v1/records", headers=court.headers, json=court_body()).status_code == 201
    set_provider_status(services, actor=Actor("operator", "test"), provider_id=court.actor_id, status="suspended")
    resp = http.post("/v1/records", headers=court.headers, json=court_body())
    assert_problem(resp, 403, "provider_suspended")
    assert record_count(services) == 1


def test_leniency_flags_are_kept_in_a_fixed_order(http: TestClient[Any], court: Caller) -> None:
    resp = http.post("/v1/records", headers=court.headers, json=court_body(leniency=["slight", "force_majeure"]))
    assert resp.status_code == 201, resp.text
    assert resp.json()["leniency"] == ["force_majeure", "slight"]


def test_minors_get_the_minor_leniency_flag_and_their_penalties_are_sealed(
    http: TestClient[Any], services: Services, market: Caller
) -> None:
    # Sixteen today, decided ten days ago: a minor on the decision date.
    minor = http.post("/v1/records", headers=market.headers,
                      json=market_body(id_number=new_resident_id(16), leniency=["not_intentional"], published=True))
    assert minor.status_code == 201, minor.text
    assert minor.json()["leniency"] == ["minor", "not_intentional"]
    # Sealed whatever the provider asked: never shared, never published.
    assert minor.json()["sealed"] is True and minor.json()["published"] is False
    # Eighteen today (the birthday at most 300 days ago), seventeen when decided 330 days ago.
    then = days_ago(330)
    young_id = new_resident_id(18)
    young = http.post("/v1/records", headers=market.headers, json=with_document(
        market_body(id_number=young_id, decision_date=then), date=then))
    assert young.status_code == 201, young.text
    assert young.json()["leniency"] == ["minor"] and young.json()["sealed"] is True
    # An adult at the decision gets no flag; stating "minor" is still possible, and seals it too.
    adult = http.post("/v1/records", headers=market.headers, json=market_body(id_number=new_resident_id(25)))
    assert adult.json()["leniency"] == [] and adult.json()["sealed"] is False
    stated = http.post("/v1/records", headers=market.headers, json=market_body(leniency=["minor"]))
    assert stated.json()["leniency"] == ["minor"] and stated.json()["sealed"] is True
    with services.session() as s:
        stored = {r.id: (r.leniency, r.sealed) for r in s.execute(select(CreditRecord)).scalars()}
    assert stored[minor.json()["id"]] == (["minor", "not_intentional"], True)
    assert stored[adult.json()["id"]] == ([], False)


def test_a_minor_is_never_listed_as_a_dishonest_judgment_debtor(
    http: TestClient[Any], services: Services, court: Caller
) -> None:
    for body in (court_body(id_number=new_resident_id(16)), court_body(leniency=["minor"])):
        assert_problem(http.post("/v1/records", headers=court.headers, json=body), 409, "minor_not_listable")
    assert record_count(services) == 0


def test_serious_lists_by_notice_are_not_registered_directly(http: TestClient[Any], services: Services) -> None:
    for provider_type, item_code in (("tax", "tax_major_violation"),
                                     ("human_resources", "wage_arrears_dishonesty_list"),
                                     ("market_regulation", "market_serious_violation_list")):
        caller = issue_token_for(services, Role.PROVIDER, provider_type=provider_type)
        body = with_document(court_body(item_code=item_code), type="admin_ruling", authority="示范机关")
        assert_problem(http.post("/v1/records", headers=caller.headers, json=body), 409, "listing_requires_notice")
    assert record_count(services) == 0


@pytest.mark.parametrize("level", ["township", None])
def test_only_county_level_or_above_lists(http: TestClient[Any], services: Services, level: str | None) -> None:
    low = issue_token_for(services, Role.PROVIDER, provider_type="court", provider_level=level)
    assert_problem(http.post("/v1/records", headers=low.headers, json=court_body()), 403,
                   "provider_level_not_permitted")
    assert record_count(services) == 0


def test_class_and_publication_per_record(http: TestClient[Any], services: Services, market: Caller) -> None:
    light = http.post("/v1/records", headers=market.headers, json=market_body(severity="light"))
    assert light.status_code == 201, light.text
    decided = china_today() - timedelta(days=10)
    assert light.json()["severity"] == "light" and light.json()["published"] is False
    assert light.json()["disclosure_ends"] == add_months(decided, 3).isoformat()
    ordinary = http.post("/v1/records", headers=market.headers, json=market_body(published=True))
    assert ordinary.json()["severity"] == "ordinary" and ordinary.json()["published"] is True
    assert ordinary.json()["disclosure_ends"] == add_months(decided, 12).isoformat()
    assert_problem(http.post("/v1/records", headers=market.headers, json=market_body(severity="dire")), 400,
                   "validation_error")
    edu = issue_token_for(services, Role.PROVIDER, provider_type="education")
    loan = with_document(court_body(item_code="student_loan_default", severity="severe"), type="court_judgment",
                         authority="示范法院")
    assert_problem(http.post("/v1/records", headers=edu.headers, json=loan), 400, "severity_not_allowed")
    assert_problem(http.post("/v1/records", headers=edu.headers,
                             json={**loan, "severity": None, "published": True}), 400, "publication_not_allowed")
    volunteer = issue_token_for(services, Role.PROVIDER, provider_type="civil_affairs")
    kind = with_document(court_body(item_code="volunteer_service", severity="light"), type="other_statutory",
                         authority="示范民政局")
    assert_problem(http.post("/v1/records", headers=volunteer.headers, json=kind), 400, "severity_not_applicable")
    assert record_count(services) == 2


@pytest.mark.parametrize(("field", "value", "code"), [
    ("authority", "示范市场监督管理局 13912345678", "personal_identifier_not_allowed"),
    ("authority", "示范局 110105194912310021", "personal_identifier_not_allowed"),
    ("authority", "示范局\u202e", "validation_error"),
    ("number", "京罚\u0000001号", "validation_error"),
])
def test_document_texts_are_clean_and_the_authority_names_no_person(
    http: TestClient[Any], services: Services, market: Caller, field: str, value: str, code: str
) -> None:
    body = with_document(market_body(), **{field: value})
    problem = assert_problem(http.post("/v1/records", headers=market.headers, json=body), 400, code)
    assert problem["errors"][0]["field"] == f"document.{field}"
    assert "13912345678" not in str(problem) and "1101051949" not in str(problem)
    assert record_count(services) == 0


def test_texts_are_normalised_before_storage(http: TestClient[Any], services: Services, market: Caller) -> None:
    decomposed = "示范市朝阳区市场监督管理局 Cafe\u0301"
    resp = http.post("/v1/records", headers=market.headers,
                     json=with_document(market_body(facts="  当事人违规经营。\n已责令改正。  "), authority=decomposed))
    assert resp.status_code == 201, resp.text
    with services.session() as s:
        row = s.get(CreditRecord, resp.json()["id"])
    assert row is not None and row.document_authority.endswith("Café")  # NFC


@pytest.mark.parametrize(
    ("provider_type", "item_code", "document_type"),
    [
        ("education", "exam_cheating", "admin_ruling"),
        ("court", "exam_cheating", "court_judgment"),
        ("civil_affairs", "volunteer_service", "other_statutory"),
        ("fire_rescue", "admin_penalty_fire_safety", "admin_penalty_decision"),
    ],
)
def test_other_providers_register_their_items(
    http: TestClient[Any], services: Services, provider_type: str, item_code: str, document_type: str
) -> None:
    caller = issue_token_for(services, Role.PROVIDER, provider_type=provider_type)
    body = with_document(court_body(item_code=item_code), type=document_type, authority="示范机关")
    resp = http.post("/v1/records", headers=caller.headers, json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["category"] == load_catalog()[item_code].category
