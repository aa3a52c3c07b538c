"""From the day a ward reaches the guardianship age (China's date), the former guardian
can do nothing for them: every ``/v1/me/...`` consent route treats them as a stranger.

Over HTTP on both databases, with a ward who turns 14 today and, for contrast, one
who turns 14 tomorrow (whose guardian still acts).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient

from policies import Role, make_resident_id
from service.admin.registry import Actor, register_guardianship
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.admin.people import caller, register_guardian, register_person, years_before
from tests.service.identity.tokens import Caller, issue_token_for

ASK = {"purpose": "loan_approval", "categories": ["identity"], "valid_days": 30, "max_queries": 3,
       "reason": "助学贷款资格审查"}


def _china_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def _ward_turning_14_on(birthday: date, sequence: int) -> str:
    born = years_before(birthday, 14)
    if (born.month, born.day) != (birthday.month, birthday.day):
        pytest.skip("a 29 February birthday has no 14th-birthday twin")
    return make_resident_id("110105", born, sequence, "male")


def _family(http: TestClient[Any], services: Services, operator: dict[str, str], birthday: date,
            sequence: int) -> tuple[Caller, str]:
    """A guardian linked two days ago, while the ward was 13; (guardian, ward's ID number)."""
    ward_number = _ward_turning_14_on(birthday, sequence)
    parent = register_guardian(http, operator)
    register_guardianship(services, actor=Actor("operator", "test-setup"), guardian_account_id=parent["id"],
                          ward_id_number=ward_number, ward_name="孙小乐", today=_china_today() - timedelta(days=2))
    return caller(services, parent), ward_number


def _ask(http: TestClient[Any], bank: Caller, id_number: str) -> str:
    resp = http.post("/v1/consent-requests", headers=bank.headers, json={**ASK, "id_number": id_number})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def test_a_former_guardian_is_a_stranger_on_every_consent_route(http: TestClient[Any], services: Services) -> None:
    operator = issue_token_for(services, Role.OPERATOR).headers
    bank = issue_token_for(services, Role.INSTITUTION)
    today = _china_today()
    still, minor_number = _family(http, services, operator, today + timedelta(days=1), 31)
    former, ward_number = _family(http, services, operator, today, 32)

    # The guardian of a ward who is 14 tomorrow still acts for them: the routes below do work.
    minor_request = _ask(http, bank, minor_number)
    listed = http.get("/v1/me/consent-requests", headers=still.headers).json()["items"]
    assert [(i["id"], i["reason"]) for i in listed] == [(minor_request, ASK["reason"])]

    # The ward who is 14 today gets a request; the former guardian sees nothing of it...
    request_id = _ask(http, bank, ward_number)
    assert http.get("/v1/me/consent-requests", headers=former.headers).json() == {"items": []}
    # ...and cannot decide it.
    for action in ("reject", "grant"):
        assert_problem(http.post(f"/v1/me/consent-requests/{request_id}/{action}", headers=former.headers),
                       404, "not_found")
    # The ward decides alone.
    ward = caller(services, register_person(http, operator, id_number=ward_number, name="孙小乐"))
    granted = http.post(f"/v1/me/consent-requests/{request_id}/grant", headers=ward.headers)
    assert granted.status_code == 201, granted.text
    consent_id = granted.json()["consent"]["id"]
    # The consent the ward granted alone is invisible to the former guardian, and out of reach.
    assert http.get("/v1/me/consents", headers=former.headers).json() == {"items": []}
    assert_problem(http.post(f"/v1/me/consents/{consent_id}/revoke", headers=former.headers), 404, "not_found")
    assert http.get(f"/v1/consents/{consent_id}", headers=bank.headers).json()["state"] == "active"
