"""Consent endpoints over HTTP: bad input, no enumeration, isolation between institutions, minors."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role, make_resident_id
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import Caller, issue_token_for, new_resident_id

GOOD = {"purpose": "loan_approval", "categories": ["identity"], "valid_days": 30, "max_queries": 3,
        "reason": "贷款审批"}





def _count(services: Services) -> int:
    from sqlalchemy import func, select

    from service.consent.models import ConsentRequest

    with services.session() as s:
        return int(s.execute(select(func.count()).select_from(ConsentRequest)).scalar_one())


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"purpose": ["loan_approval", "credit_card_approval"]}, 400, "one_purpose_per_consent"),
        ({"purposes": ["loan_approval"]}, 400, "validation_error"),
        ({"valid_days": None}, 400, "validity_required"),
        ({"valid_days": 31}, 400, "validity_exceeds_maximum"),
        ({"valid_days": None, "valid_until": "2099-01-01T00:00:00Z"}, 400, "validity_exceeds_maximum"),
        ({"valid_days": None, "valid_until": "2026-12-01T00:00:00"}, 400, "validation_error"),
        ({"max_queries": 4}, 400, "queries_exceed_maximum"),
        ({"max_queries": "3"}, 400, "validation_error"),
        ({"purpose": "employment_screening"}, 403, "purpose_not_permitted"),
        ({"categories": ["tax_secrets"]}, 400, "category_not_permitted"),
        ({"categories": ["identity", "张三 13800138000"]}, 400, "category_not_permitted"),
        ({"id_number": make_resident_id("110105", date(2099, 1, 1), 1, "male")}, 400, "id_number_birth_date"),
        ({"id_number": "110105198503091234"}, 400, "id_number_checksum"),
        ({"reason": ""}, 400, "validation_error"),
        ({"reason": "   "}, 400, "text_blank"),
        ({"reason": "\u200b\u2060"}, 400, "text_blank"),
        ({"reason": "贷款\u202e审批"}, 400, "text_bidi_control"),
        ({"reason": "贷款\x00审批"}, 400, "text_control_character"),
        ({"reason": "贷款\x1b[31m审批"}, 400, "text_control_character"),
        ({"extra": 1}, 400, "validation_error"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    http: TestClient[Any], services: Services, change: dict[str, Any], status: int, code: str
) -> None:
    bank = issue_token_for(services, Role.INSTITUTION, permitted_purposes=["loan_approval", "credit_card_approval"])
    # A None in ``change`` means "leave the field out".
    body = {k: v for k, v in {**GOOD, "id_number": new_resident_id(), **change}.items() if v is not None}
    resp = http.post("/v1/consent-requests", headers=bank.headers, json=body)
    assert_problem(resp, status, code)
    assert body["id_number"] not in resp.text
    for category in body.get("categories", []):
        assert category == "identity" or category not in resp.text  # never echoed
    assert _count(services) == 0


def test_known_and_unknown_people_get_the_same_answer(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    person = issue_token_for(services, Role.SUBJECT)
    known = http.post("/v1/consent-requests", headers=bank.headers, json={**GOOD, "id_number": person.id_number})
    unknown = http.post("/v1/consent-requests", headers=bank.headers, json={**GOOD, "id_number": new_resident_id()})
    assert known.status_code == unknown.status_code == 201
    a, b = known.json(), unknown.json()
    assert set(a) == set(b)
    for volatile in ("id", "created_at", "expires_at"):
        a.pop(volatile), b.pop(volatile)
    assert a == b


def _granted(http: TestClient[Any], bank: Caller, person: Caller) -> tuple[str, str]:
    req = http.post("/v1/consent-requests", headers=bank.headers, json={**GOOD, "id_number": person.id_number})
    rid = req.json()["id"]
    consent = http.post(f"/v1/me/consent-requests/{rid}/grant", headers=person.headers)
    assert consent.status_code == 201, consent.text
    return rid, consent.json()["consent"]["id"]


def test_institutions_see_only_their_own(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    rival = issue_token_for(services, Role.INSTITUTION)
    person = issue_token_for(services, Role.SUBJECT)
    rid, cid = _granted(http, bank, person)
    assert_problem(http.get(f"/v1/consent-requests/{rid}", headers=rival.headers), 404, "not_found")
    assert_problem(http.get(f"/v1/consents/{cid}", headers=rival.headers), 404, "not_found")
    assert_problem(http.get("/v1/consents/not-an-id", headers=bank.headers), 400, "invalid_id")
    assert_problem(http.get(f"/v1/consents/{'0' * 32}", headers=bank.headers), 404, "not_found")
    assert http.get(f"/v1/consents/{cid}", headers=bank.headers).json()["state"] == "active"


def test_people_act_only_on_their_own(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    person = issue_token_for(services, Role.SUBJECT)
    other = issue_token_for(services, Role.SUBJECT)
    req = http.post("/v1/consent-requests", headers=bank.headers, json={**GOOD, "id_number": person.id_number})
    rid = req.json()["id"]
    assert http.get("/v1/me/consent-requests", headers=other.headers).json()["items"] == []
    assert_problem(http.post(f"/v1/me/consent-requests/{rid}/grant", headers=other.headers), 404, "not_found")
    assert_problem(http.post(f"/v1/me/consent-requests/{rid}/grant", headers=person.headers, json={"max_queries": 9}),
             400, "consent_widening_refused")
    assert_problem(http.post(f"/v1/me/consent-requests/{rid}/grant", headers=person.headers, json={"bogus": 1}),
             400, "validation_error")
    ok = http.post(f"/v1/me/consent-requests/{rid}/reject", headers=person.headers)
    assert ok.status_code == 200 and ok.json()["state"] == "rejected"
    again = http.post(f"/v1/me/consent-requests/{rid}/grant", headers=person.headers)
    assert_problem(again, 409, "request_not_pending")
    assert http.get(f"/v1/consent-requests/{rid}", headers=bank.headers).json()["state"] == "rejected"


def test_minor_cannot_grant_and_guardian_can(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    minor_number = new_resident_id(age=10)
    parent = issue_token_for(services, Role.GUARDIAN, wards=[minor_number])
    minor = issue_token_for(services, Role.SUBJECT, id_number=minor_number)
    req = http.post("/v1/consent-requests", headers=bank.headers, json={**GOOD, "id_number": minor_number})
    rid = req.json()["id"]
    assert_problem(http.post(f"/v1/me/consent-requests/{rid}/grant", headers=minor.headers), 403, "subject_is_minor")
    items = http.get("/v1/me/consent-requests", headers=parent.headers).json()["items"]
    assert [i["id"] for i in items] == [rid] and items[0]["for"] == "ward"
    granted = http.post(f"/v1/me/consent-requests/{rid}/grant", headers=parent.headers)
    assert granted.status_code == 201, granted.text
    cid = granted.json()["consent"]["id"]
    # Revoking is never harder than granting: the minor may revoke too.
    assert http.post(f"/v1/me/consents/{cid}/revoke", headers=minor.headers).json()["state"] == "revoked"
