"""Desensitization (policies/data/masking.toml) of every personal field, over HTTP.

People are registered with all five fields through ``POST /v1/admin/accounts``
and a minor's guardian through ``POST /v1/admin/guardianships``; then each
field is checked, character by character, as an institution (under a consent
with and without ``identity``), as the subject and as the guardian sees it.
Names of two and three characters and addresses of 2, 6 and 11 characters
cover the short-value rules. The report signatures are verified with the key
published at ``/oauth/jwks`` only.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import OKPKey
from litestar.testing import TestClient

from policies import Role, make_resident_id
from service.http.app import create_app
from service.runtime import Services
from tests.service.admin.people import caller, link_ward, register_guardian, register_person, years_before
from tests.service.identity.tokens import Caller, issue_token_for, make_provider
from tests.service.query.conftest import add_record, china_today

# Bank cards with valid Luhn check digits: 19, 16 and 12 digits.
CARD_19 = "6225887654321098765"
CARD_16 = "6217001234567893"
CARD_12 = "601100000012"


@dataclass
class Person:
    account: dict[str, Any]
    id_number: str
    caller: Caller

    @property
    def subject_id(self) -> str:
        return str(self.account["subject_id"])


@dataclass
class World:
    http: TestClient[Any]
    services: Services
    bank: Caller
    zhuge: Person  # three-character name, 11-character address, 19-digit card
    li: Person  # two-character name, 6-character address, 16-digit card
    ward: Person  # a minor: three-character name, 2-character address, 12-digit card
    guardian: Caller
    records: dict[str, str]

    def consent(self, person: Person, categories: list[str], granted_by: Caller | None = None) -> str:
        req = self.http.post("/v1/consent-requests", headers=self.bank.headers, json={
            "id_number": person.id_number, "purpose": "loan_approval", "categories": categories,
            "valid_days": 30, "max_queries": 3, "reason": "贷款审批"})
        assert req.status_code == 201, req.text
        grant = self.http.post(f"/v1/me/consent-requests/{req.json()['id']}/grant",
                               headers=(granted_by or person.caller).headers)
        assert grant.status_code == 201, grant.text
        return str(grant.json()["consent"]["id"])

    def query(self, consent_id: str) -> dict[str, Any]:
        resp = self.http.post("/v1/queries", headers=self.bank.headers,
                              json={"consent_id": consent_id, "purpose": "loan_approval"})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def own_report(self, who: Caller, subject: str | None = None) -> dict[str, Any]:
        resp = self.http.get("/v1/me/report", headers=who.headers, params={"subject": subject} if subject else None)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body


def _birth(age: int) -> date:
    """A birth date making someone ``age`` today (their birthday 100 days ago)."""
    return years_before(china_today(), age) - timedelta(days=100)


@pytest.fixture
def world(services: Services) -> Iterator[World]:
    operator = issue_token_for(services, Role.OPERATOR).headers
    with TestClient(create_app(services=services), raise_server_exceptions=False) as http:
        zhuge_id = make_resident_id("110105", _birth(41), 31, "male")
        li_id = make_resident_id("310101", _birth(29), 52, "female")
        ward_id = make_resident_id("440106", _birth(10), 7, "male")
        zhuge = register_person(http, operator, id_number=zhuge_id, name="诸葛亮", mobile="13912345678",
                                address="北京市朝阳区建国路1号", bank_card=CARD_19)
        li = register_person(http, operator, id_number=li_id, name="李娜", mobile="18600001234",
                             address="上海市黄浦区", bank_card=CARD_16)
        ward = register_person(http, operator, id_number=ward_id, name="王小明", mobile="13500005678",
                               address="北京", bank_card=CARD_12)
        guardian = register_guardian(http, operator)
        link = link_ward(http, operator, guardian["id"], ward_id)
        assert link["ward_subject_id"] == ward["subject_id"]
        market = make_provider(services, provider_type="market_regulation").id
        records = {
            who: add_record(services, person["subject_id"], market, "admin_penalty_general",
                            china_today() - timedelta(days=30))
            for who, person in (("zhuge", zhuge), ("li", li), ("ward", ward))
        }
        yield World(
            http, services, issue_token_for(services, Role.INSTITUTION, institution_type="bank"),
            Person(zhuge, zhuge_id, caller(services, zhuge, zhuge_id)),
            Person(li, li_id, caller(services, li, li_id)),
            Person(ward, ward_id, caller(services, ward, ward_id)),
            caller(services, guardian), records,
        )


# --- (a) institutions ---------------------------------------------------------------------------


def test_institution_sees_name_and_id_number_masked_under_an_identity_consent(world: World) -> None:
    # Contact fields (mobile, bank card, address) are not catalog information: an institution
    # never sees them, whatever the consent names.
    zhuge = world.query(world.consent(world.zhuge, ["identity", "administrative_penalty"]))["report"]
    n = world.zhuge.id_number
    assert zhuge["subject"] == {
        "id_number": n[:3] + "***********" + n[-4:],  # first 3 + last 4
        "name": "诸*亮",  # first + last character
    }
    assert [r["id"] for r in zhuge["records"]] == [world.records["zhuge"]]
    li = world.query(world.consent(world.li, ["identity", "administrative_penalty"]))["report"]
    m = world.li.id_number
    assert li["subject"] == {
        "id_number": m[:3] + "***********" + m[-4:],
        "name": "李*",  # a two-character name keeps its first character only
    }
    # The ward's consent is granted by the guardian; the institution sees the institution masking.
    ward = world.query(world.consent(world.ward, ["identity"], granted_by=world.guardian))["report"]
    w = world.ward.id_number
    assert ward["subject"] == {
        "id_number": w[:3] + "***********" + w[-4:],
        "name": "王*明",
    }
    for report in (zhuge, li, ward):
        assert len(report["subject"]["id_number"]) == 18
        for contact in ("139", "186", "135", "6225", "6217", "6011", "北京市", "上海市"):
            assert contact not in str(report["subject"])


def test_no_personal_field_without_the_identity_category(world: World) -> None:
    body = world.query(world.consent(world.zhuge, ["administrative_penalty", "judicial_enforcement"]))
    report = body["report"]
    assert report["subject"] == {}
    assert report["consent"]["categories"] == ["administrative_penalty", "judicial_enforcement"]
    assert [r["id"] for r in report["records"]] == [world.records["zhuge"]]  # records, but nobody named
    text = json.dumps(body["report"], ensure_ascii=False)
    n = world.zhuge.id_number
    # Neither the values nor their masked forms are anywhere in the report.
    for fragment in ("诸葛亮", "诸*亮", "13912345678", "139****5678", CARD_19, "622588*********8765",
                     "北京市朝阳区建国路1号", "北京市朝阳区*****", n, n[:3] + "*" * 11 + n[-4:]):
        assert fragment not in text
    signed = _verified(world, body["signature"], "credit-report+jwt")
    assert signed["subject"] == {}


# --- (b) the subject ----------------------------------------------------------------------------


def test_the_subject_sees_their_own_fields_with_subject_masking(world: World) -> None:
    n = world.zhuge.id_number
    assert world.own_report(world.zhuge.caller)["report"]["subject"] == {
        "id_number": n[:6] + "********" + n[-4:],  # first 6 + last 4
        "name": "诸葛亮",
        "mobile": "13912345678",
        "bank_card": "622588*********8765",
        "address": "北京市朝阳区建国路1号",
    }
    m = world.li.id_number
    assert world.own_report(world.li.caller)["report"]["subject"] == {
        "id_number": m[:6] + "********" + m[-4:],
        "name": "李娜",
        "mobile": "18600001234",
        "bank_card": "621700******7893",
        "address": "上海市黄浦区",
    }
    # A minor reading their own report is a subject too.
    w = world.ward.id_number
    assert world.own_report(world.ward.caller)["report"]["subject"] == {
        "id_number": w[:6] + "********" + w[-4:], "name": "王小明", "mobile": "13500005678",
        "bank_card": "601100**0012", "address": "北京",
    }


# --- (c) the guardian ---------------------------------------------------------------------------


def test_the_guardian_sees_the_ward_with_guardian_masking(world: World) -> None:
    w = world.ward.id_number
    expected = {
        "id_number": w[:6] + "********" + w[-4:],  # first 6 + last 4
        "name": "王小明",  # full
        "mobile": "135****5678",  # first 3 + last 4
        "bank_card": "601100**0012",  # first 6 + last 4
        "address": "北*",  # first 6 characters + mask; a 2-character address keeps one
    }
    body = world.own_report(world.guardian, subject=world.ward.subject_id)
    assert body["report"]["subject"] == expected
    assert [r["id"] for r in body["report"]["records"]] == [world.records["ward"]]
    assert world.own_report(world.guardian)["report"]["subject"] == expected  # the only ward, implied


# --- the signatures, with the published key only ------------------------------------------------


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


def _verified(world: World, token: str, typ: str) -> dict[str, Any]:
    """Verify ``token`` with the JWK from /oauth/jwks whose kid is in its header, and nothing else."""
    jwks = world.http.get("/oauth/jwks")
    assert jwks.status_code == 200
    header = _header(token)
    assert header == {"alg": "EdDSA", "kid": header["kid"], "typ": typ}
    matching = [k for k in jwks.json()["keys"] if k["kid"] == header["kid"]]
    assert len(matching) == 1
    jwk = matching[0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "d" not in jwk
    key = OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x")})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SecurityWarning)  # RFC 9864 prefers "Ed25519"; same algorithm
        obj = jws.deserialize_compact(token, key, algorithms=["EdDSA"])
    payload: dict[str, Any] = json.loads(obj.payload)
    return payload


def _refused_by_other_keys(world: World, token: str) -> None:
    kid = _header(token)["kid"]
    others = [k for k in world.http.get("/oauth/jwks").json()["keys"] if k["kid"] != kid]
    assert len(others) == 2  # the token and audit keys
    for jwk in others:
        key = OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x")})
        with warnings.catch_warnings(), pytest.raises(BadSignatureError):
            warnings.filterwarnings("ignore", category=SecurityWarning)
            jws.deserialize_compact(token, key, algorithms=["EdDSA"])


def test_report_signatures_verify_with_the_published_key(world: World) -> None:
    body = world.query(world.consent(world.zhuge, ["identity", "administrative_penalty"]))
    assert _verified(world, body["signature"], "credit-report+jwt") == body["report"]
    _refused_by_other_keys(world, body["signature"])
    own = world.own_report(world.zhuge.caller)
    assert _verified(world, own["signature"], "credit-self-report+jwt") == own["report"]
    guardian = world.own_report(world.guardian, subject=world.ward.subject_id)
    assert _verified(world, guardian["signature"], "credit-self-report+jwt") == guardian["report"]
    # A report altered after signing does not verify.
    head, payload, sig = body["signature"].split(".")
    forged = dict(body["report"], subject={**body["report"]["subject"], "name": "诸葛*"})
    forged_payload = base64.urlsafe_b64encode(
        json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).rstrip(b"=").decode()
    assert forged_payload != payload
    with pytest.raises(BadSignatureError):
        _verified(world, f"{head}.{forged_payload}.{sig}", "credit-report+jwt")
