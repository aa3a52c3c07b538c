"""The consent flow end to end over HTTP, on SQLite and on PostgreSQL.

An operator logs in and registers a bank (private_key_jwt) and a person; the bank
gets a token with a signed client assertion and asks for consent; the person logs
in through the authorization-code flow with PKCE, sees the request, grants it
narrowed and checks the receipt against the published key; the bank sees the
consent active; the person revokes it; the bank sees it revoked.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from litestar.testing import TestClient

from policies import Role
from service.identity.jose import StrictJWSRegistry
from service.runtime import Services
from tests.service.identity.tokens import (
    assertion_for,
    login_token,
    make_account,
    new_client_key,
    new_resident_id,
    new_uscc,
)

REDIRECT = "http://127.0.0.1:8000/app/callback"



def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_consent_flow_end_to_end(http: TestClient[Any], services: Services) -> None:
    # The operator is bootstrapped the way `creditgate accounts add` does it, then works over HTTP.
    operator = make_account(services, Role.OPERATOR)
    op = _bearer(login_token(http, operator.username, operator.password, redirect_uri=REDIRECT))

    key = new_client_key()
    bank = _ok(http.post("/v1/admin/institutions", headers=op, json={
        "name": "示例商业银行", "uscc": new_uscc(), "type": "bank",
        "permitted_purposes": ["loan_approval", "credit_card_approval"],
        "auth_method": "private_key_jwt", "jwk": key.as_dict(private=False),
        "contact": "客服热线 95500；北京市西城区金融大街示例号",
    }), 201)
    assert "client_secret" not in json.dumps(bank["client"]) or bank["client"].get("client_secret") is None
    client_id = bank["client"]["client_id"]

    id_number = new_resident_id(age=35)
    person = _ok(http.post("/v1/admin/accounts", headers=op, json={
        "username": "zhang.sanfeng", "password": "a long enough password", "role": "subject",
        "id_number": id_number, "name": "张三丰",
    }), 201)
    assert id_number not in json.dumps(person) and "张三丰" not in json.dumps(person)

    # The bank authenticates with a signed assertion (RFC 7523).
    meta = _ok(http.get("/.well-known/oauth-authorization-server"))
    assertion = assertion_for(client_id, key, meta["token_endpoint"])
    token = _ok(http.post("/oauth/token", data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }))
    inst = _bearer(token["access_token"])
    assert token["token_type"].lower() == "bearer" and token["expires_in"] <= 900

    request = _ok(http.post("/v1/consent-requests", headers=inst, json={
        "id_number": id_number, "purpose": "loan_approval",
        "categories": ["identity", "judicial_enforcement", "administrative_penalty"],
        "valid_days": 30, "max_queries": 3, "reason": "个人住房贷款审批",
    }), 201)
    assert request["state"] == "pending"

    # The person logs in with the authorization-code flow and PKCE S256.
    me = _bearer(login_token(http, "zhang.sanfeng", "a long enough password", redirect_uri=REDIRECT))
    pending = _ok(http.get("/v1/me/consent-requests", headers=me))["items"]
    assert [p["id"] for p in pending] == [request["id"]]
    shown = pending[0]
    assert shown["institution"]["name"] == "示例商业银行" and shown["purpose"]["name"] == "贷款审批"
    assert shown["max_queries"] == 3 and shown["for"] == "self"
    # The notice states what PIPL arts. 17 and 23 require, in one text whose hash the receipt carries.
    notice = shown["notice"]
    for part in ("示例商业银行", "客服热线 95500", "贷款审批", "个人住房贷款审批", "处理方式", "基本信息",
                 "保存期限", "撤回", "异议", "自授权之日起30日", "3次"):
        assert part in notice, part
    assert shown["notice_sha256"] == hashlib.sha256(notice.encode("utf-8")).hexdigest()

    granted = _ok(http.post(f"/v1/me/consent-requests/{request['id']}/grant", headers=me, json={
        "categories": ["identity", "judicial_enforcement"], "valid_days": 7, "max_queries": 1,
    }), 201)
    consent = granted["consent"]
    assert consent["state"] == "active" and consent["max_uses"] == 1
    assert consent["categories"] == ["identity", "judicial_enforcement"]

    # The receipt verifies with the documents key published in the JWKS, and states the narrowed terms.
    jwks = KeySet.import_key_set(_ok(http.get("/oauth/jwks")))
    receipt = jws.deserialize_compact(granted["receipt"], jwks, registry=StrictJWSRegistry(["EdDSA"]))
    claims = json.loads(receipt.payload)
    assert claims["consent_id"] == consent["id"] and claims["max_queries"] == 1
    assert claims["categories"] == ["identity", "judicial_enforcement"]
    assert claims["institution"]["id"] == bank["id"]
    assert claims["terms_sha256"] == hashlib.sha256(notice.encode("utf-8")).hexdigest()
    tampered = granted["receipt"][:-6] + ("A" if granted["receipt"][-6] != "A" else "B") + granted["receipt"][-5:]
    with pytest.raises(Exception):  # noqa: B017 - any verification failure will do
        jws.deserialize_compact(tampered, jwks, registry=StrictJWSRegistry(["EdDSA"]))

    # The bank sees its request granted and the consent active; nothing more about the person.
    seen = _ok(http.get(f"/v1/consent-requests/{request['id']}", headers=inst))
    assert seen["state"] == "granted" and seen["consent_id"] == consent["id"]
    assert _ok(http.get(f"/v1/consents/{consent['id']}", headers=inst))["state"] == "active"

    # Widening is refused; the bank cannot act for the person.
    assert http.post(f"/v1/me/consents/{consent['id']}/revoke", headers=inst).status_code == 403
    assert http.post(f"/v1/me/consent-requests/{request['id']}/grant", headers=inst).status_code == 403

    revoked = _ok(http.post(f"/v1/me/consents/{consent['id']}/revoke", headers=me))
    assert revoked["state"] == "revoked"
    assert _ok(http.get(f"/v1/consents/{consent['id']}", headers=inst))["state"] == "revoked"
    assert _ok(http.get("/v1/me/consents", headers=me))["items"][0]["state"] == "revoked"

    # Every consent event is in the audit log, without personal data.
    from sqlalchemy import select

    from service.audit_log.models import AuditEntryRow

    with services.session() as s:
        bodies = [json.loads(b) for b in s.execute(select(AuditEntryRow.body)).scalars()]  # type: ignore[call-overload]
    actions = [b["action"] for b in bodies]
    for action in ("consent.request", "consent.grant", "consent.revoke"):
        assert action in actions
    dump = json.dumps(bodies, ensure_ascii=False)
    assert id_number not in dump and "张三丰" not in dump
