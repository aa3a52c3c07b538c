"""Operator registration over HTTP: validation, duplicates, credentials shown once, audit, no personal data out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from policies import Role, make_uscc
from service.audit_log.models import AuditEntryRow
from service.identity.credentials import hash_client_secret
from service.identity.models import Account, Guardianship, Institution, OAuthClient, Provider
from service.runtime import Services
from service.subjects.repository import find_subject_id
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import (
    basic_auth,
    issue_token_for,
    make_account,
    new_client_key,
    new_resident_id,
    new_uscc,
)

PERSON_NAME = "欧阳娜娜"




def _audit(services: Services) -> list[dict[str, Any]]:
    with services.engine.connect() as conn:
        bodies = conn.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars().all()  # type: ignore[arg-type,call-overload]
    return [json.loads(bytes(b)) for b in bodies]




def _institution(**over: Any) -> dict[str, Any]:
    return {"name": "招商测试银行", "uscc": new_uscc(), "type": "bank",
            "permitted_purposes": ["loan_approval", "credit_card_approval"], **over}


# --- institutions -------------------------------------------------------------------------------


def test_register_institution_shows_the_secret_once(client: TestClient[Any], services: Services,
                                                    op: dict[str, str]) -> None:
    resp = client.post("/v1/admin/institutions", json=_institution(), headers=op)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "active" and body["type"] == "bank"
    assert body["permitted_purposes"] == ["credit_card_approval", "loan_approval"]
    creds = body["client"]
    assert creds["auth_method"] == "client_secret_basic" and len(creds["client_secret"]) >= 43
    with services.session() as s:
        stored = s.get(OAuthClient, creds["client_id"])
        assert stored is not None
    # Only the hash is kept.
    assert stored.secret_hash == hash_client_secret(creds["client_secret"])
    assert creds["client_secret"].encode() not in bytes(stored.secret_hash)
    # And it works at the token endpoint.
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic_auth(creds["client_id"], creds["client_secret"]))
    assert token.status_code == 200
    entry = [e for e in _audit(services) if e["action"] == "admin.institution.register"][-1]
    assert entry["details"]["institution_id"] == body["id"] and entry["actor_type"] == "operator"
    assert creds["client_secret"] not in json.dumps(_audit(services))


def test_register_institution_with_a_public_key(client: TestClient[Any], services: Services,
                                                op: dict[str, str]) -> None:
    key = new_client_key()
    resp = client.post("/v1/admin/institutions", headers=op,
                       json=_institution(auth_method="private_key_jwt", jwk=key.as_dict(private=False)))
    assert resp.status_code == 201, resp.text
    assert "client_secret" not in resp.json()["client"]
    private = client.post("/v1/admin/institutions", headers=op,
                          json=_institution(auth_method="private_key_jwt", jwk=key.as_dict(private=True)))
    assert_problem(private, 400, "private_key_material")
    assert_problem(client.post("/v1/admin/institutions", headers=op, json=_institution(auth_method="private_key_jwt")),
             400, "jwk_required")
    rsa = {"kty": "RSA", "n": "abc", "e": "AQAB"}
    assert_problem(client.post("/v1/admin/institutions", headers=op,
                         json=_institution(auth_method="private_key_jwt", jwk=rsa)), 400, "unsupported_key_type")


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"uscc": "91110105MA01ABCDE"}, "uscc_format"),
        ({"uscc": make_uscc("91110105MA01ABCDE")[:-1] + ("0" if make_uscc("91110105MA01ABCDE")[-1] != "0"
                                                           else "1")}, "uscc_checksum"),
        ({"type": "casino"}, "unknown_institution_type"),
        ({"permitted_purposes": ["mind_reading"]}, "unknown_purpose"),
        ({"permitted_purposes": ["employment_screening"]}, "purpose_not_permitted"),
        ({"permitted_purposes": []}, "permitted_purposes_required"),
        ({"name": "   "}, "text_blank"),
        ({"name": "\u200b\u200d \ufeff"}, "text_blank"),  # nothing visible
        ({"name": "示例\u202e行银"}, "text_bidi_control"),  # would display reversed
        ({"name": "示例\u2066银行\u2069"}, "text_bidi_control"),
        ({"name": "示例\x00银行"}, "text_control_character"),
        ({"name": "示例银行\n分行"}, "text_control_character"),
        ({"name": "示例银行 510107195703202817"}, "name_contains_identifier"),  # shown publicly
        ({"name": "示例银行（联系 13800138000）"}, "name_contains_identifier"),
        ({"name": "示例银行 １３８００１３８０００"}, "name_contains_identifier"),  # full-width digits too
        ({"auth_method": "client_secret_basic", "jwk": {"kty": "OKP"}}, "jwk_not_expected"),
    ],
)
def test_institution_validation(client: TestClient[Any], services: Services, op: dict[str, str],
                                over: dict[str, Any], code: str) -> None:
    assert_problem(client.post("/v1/admin/institutions", json=_institution(**over), headers=op), 400, code)
    with services.session() as s:
        assert s.execute(select(func.count()).select_from(Institution)).scalar_one() == 0  # nothing was written


def test_provider_names_follow_the_same_rules(client: TestClient[Any], services: Services,
                                             op: dict[str, str]) -> None:
    body = {"name": "示例区人民法院", "uscc": new_uscc(), "provider_type": "court"}
    for name, code in (("法院\u202e", "text_bidi_control"), ("  ", "text_blank"),
                       ("法院 11010519491231002X", "name_contains_identifier")):
        assert_problem(client.post("/v1/admin/providers", json={**body, "name": name}, headers=op), 400, code)
    with services.session() as s:
        assert s.execute(select(func.count()).select_from(Provider)).scalar_one() == 0


def test_names_are_stored_in_normal_form_c(client: TestClient[Any], services: Services, op: dict[str, str]) -> None:
    decomposed = "Cafe\u0301 Bank  "  # "Café Bank" spelled with a combining accent, trailing blanks
    resp = client.post("/v1/admin/institutions", json=_institution(name=decomposed), headers=op)
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "Caf\u00e9 Bank"
    with services.session() as s:
        assert s.get(Institution, resp.json()["id"]).name == "Caf\u00e9 Bank"  # type: ignore[union-attr]


def test_malformed_bodies_are_400(client: TestClient[Any], op: dict[str, str]) -> None:
    for body in (_institution(extra="x"), {"name": "x"}, _institution(auth_method="client_secret_post")):
        assert_problem(client.post("/v1/admin/institutions", json=body, headers=op), 400, "validation_error")


def test_duplicate_uscc_is_409_and_suspension(client: TestClient[Any], services: Services,
                                              op: dict[str, str]) -> None:
    data = _institution()
    first = client.post("/v1/admin/institutions", json=data, headers=op)
    assert first.status_code == 201
    assert_problem(client.post("/v1/admin/institutions", json={**data, "uscc": data["uscc"].lower()}, headers=op), 409,
             "institution_exists")
    inst_id = first.json()["id"]
    suspended = client.post(f"/v1/admin/institutions/{inst_id}/suspend", headers=op)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    again = client.post(f"/v1/admin/institutions/{inst_id}/suspend", headers=op)
    assert again.status_code == 200 and again.json()["status"] == "suspended"
    back = client.post(f"/v1/admin/institutions/{inst_id}/reactivate", headers=op)
    assert back.json()["status"] == "active"
    actions = [e["action"] for e in _audit(services) if e["details"].get("institution_id") == inst_id]
    assert actions == ["admin.institution.register", "admin.institution.suspend", "admin.institution.reactivate"]
    assert_problem(client.post("/v1/admin/institutions/nope/suspend", headers=op), 404, "institution_not_found")


# --- providers ----------------------------------------------------------------------------------


def test_register_provider(client: TestClient[Any], op: dict[str, str]) -> None:
    data = {"name": "某市中级人民法院", "uscc": new_uscc(), "provider_type": "court"}
    resp = client.post("/v1/admin/providers", json=data, headers=op)
    assert resp.status_code == 201 and resp.json()["client"]["client_secret"]
    assert_problem(client.post("/v1/admin/providers", json=data, headers=op), 409, "provider_exists")
    assert_problem(client.post("/v1/admin/providers", json={**data, "uscc": new_uscc(), "provider_type": "oracle"},
                         headers=op), 400, "unknown_provider_type")
    assert_problem(client.post("/v1/admin/providers/missing/suspend", headers=op), 404, "provider_not_found")


# --- accounts -----------------------------------------------------------------------------------


def test_register_subject_account_keeps_no_personal_data_in_clear(
    client: TestClient[Any], services: Services, op: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    number = new_resident_id(age=40)
    resp = client.post("/v1/admin/accounts", headers=op, json={
        "username": "li.na-2026", "password": "a long enough passphrase", "role": "subject",
        "id_number": number, "name": PERSON_NAME})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert number not in resp.text and PERSON_NAME not in resp.text
    assert body["role"] == "subject" and body["subject_id"] and body["username"] == "li.na-2026"
    with services.session() as s:
        assert find_subject_id(s, services.blind_index, number) == body["subject_id"]
        account = s.get(Account, body["id"])
        assert account is not None and account.subject_id == body["subject_id"]
    # A second account for the same person is refused.
    dup = client.post("/v1/admin/accounts", headers=op, json={
        "username": "li.na-again", "password": "a long enough passphrase", "role": "subject",
        "id_number": number, "name": PERSON_NAME})
    assert_problem(dup, 409, "subject_has_account")
    assert number not in dup.text and PERSON_NAME not in dup.text
    audit = json.dumps(_audit(services), ensure_ascii=False)
    assert number not in audit and PERSON_NAME not in audit
    assert body["subject_id"] in audit
    logs = capsys.readouterr()
    assert number not in logs.out + logs.err and PERSON_NAME not in logs.out + logs.err
    assert "a long enough passphrase" not in logs.out + logs.err


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"username": "ab", "role": "auditor"}, 400, "invalid_username"),
        ({"username": "Zhang San", "role": "auditor"}, 400, "invalid_username"),
        ({"username": "u13800138000", "role": "auditor"}, 400, "invalid_username"),
        ({"username": "auditor-one", "role": "auditor", "password": "short"}, 400, "weak_password"),
        ({"username": "auditor-one", "role": "auditor", "password": "auditor-one-password"}, 400, "weak_password"),
        ({"username": "subject-one", "role": "subject"}, 400, "subject_identity_required"),
        ({"username": "subject-one", "role": "subject", "id_number": "110105194912310021", "name": "王五"},
         400, "id_number_checksum"),
        ({"username": "subject-one", "role": "subject", "id_number": "12345", "name": "王五"}, 400,
         "id_number_format"),
        ({"username": "guardian-one", "role": "guardian", "id_number": "11010519491231002X"}, 400,
         "unexpected_subject_identity"),
        ({"username": "x-one", "role": "institution"}, 400, "validation_error"),
    ],
)
def test_account_validation(client: TestClient[Any], services: Services, op: dict[str, str], body: dict[str, Any],
                            status: int, code: str) -> None:
    payload = {"password": "a long enough passphrase", **body}
    resp = client.post("/v1/admin/accounts", json=payload, headers=op)
    assert_problem(resp, status, code)
    for value in (payload.get("id_number"), payload.get("name"), payload["password"]):
        if value:
            assert value not in resp.text
    with services.session() as s:
        # Only the operator of the fixture.
        assert s.execute(select(func.count()).select_from(Account)).scalar_one() == 1


def test_duplicate_username_and_disable(client: TestClient[Any], services: Services, op: dict[str, str]) -> None:
    data = {"username": "auditor-zhao", "password": "a long enough passphrase", "role": "auditor"}
    created = client.post("/v1/admin/accounts", json=data, headers=op)
    assert created.status_code == 201
    assert_problem(client.post("/v1/admin/accounts", json=data, headers=op), 409, "username_taken")
    account_id = created.json()["id"]
    assert client.post(f"/v1/admin/accounts/{account_id}/disable", headers=op).json()["status"] == "disabled"
    assert client.post(f"/v1/admin/accounts/{account_id}/enable", headers=op).json()["status"] == "active"
    assert_problem(client.post("/v1/admin/accounts/unknown/disable", headers=op), 404, "account_not_found")


# --- guardianships ------------------------------------------------------------------------------


def test_guardianship_rules(client: TestClient[Any], services: Services, op: dict[str, str]) -> None:
    parent = make_account(services, Role.GUARDIAN)
    child = new_resident_id(age=9)
    unknown = client.post("/v1/admin/guardianships", headers=op,
                          json={"guardian_account_id": parent.id, "ward_id_number": child})
    assert_problem(unknown, 404, "subject_not_found")
    resp = client.post("/v1/admin/guardianships", headers=op,
                       json={"guardian_account_id": parent.id, "ward_id_number": child, "ward_name": PERSON_NAME})
    assert resp.status_code == 201, resp.text
    assert child not in resp.text and PERSON_NAME not in resp.text
    link = resp.json()
    with services.session() as s:
        assert find_subject_id(s, services.blind_index, child) == link["ward_subject_id"]
    assert_problem(client.post("/v1/admin/guardianships", headers=op,
                         json={"guardian_account_id": parent.id, "ward_id_number": child}), 409,
             "guardianship_exists")
    adult = new_resident_id(age=14)
    assert_problem(client.post("/v1/admin/guardianships", headers=op,
                         json={"guardian_account_id": parent.id, "ward_id_number": adult, "ward_name": "x"}), 422,
             "ward_not_minor")
    almost = new_resident_id(age=13)
    ok = client.post("/v1/admin/guardianships", headers=op,
                     json={"guardian_account_id": parent.id, "ward_id_number": almost, "ward_name": "小红"})
    assert ok.status_code == 201
    not_guardian = make_account(services, Role.AUDITOR)
    assert_problem(client.post("/v1/admin/guardianships", headers=op,
                         json={"guardian_account_id": not_guardian.id, "ward_id_number": child}), 409,
             "account_not_guardian")
    assert_problem(client.post("/v1/admin/guardianships", headers=op,
                         json={"guardian_account_id": "nobody", "ward_id_number": child}), 404, "account_not_found")
    assert_problem(client.post("/v1/admin/guardianships", headers=op,
                         json={"guardian_account_id": parent.id, "ward_id_number": "110105201501010000"}), 400,
             "id_number_checksum")
    ended = client.post(f"/v1/admin/guardianships/{link['id']}/end", headers=op)
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert_problem(client.post(f"/v1/admin/guardianships/{link['id']}/end", headers=op), 409, "guardianship_ended")
    # After it ended, the same pair can be linked again.
    again = client.post("/v1/admin/guardianships", headers=op,
                        json={"guardian_account_id": parent.id, "ward_id_number": child})
    assert again.status_code == 201
    with services.session() as s:
        assert len(s.execute(select(Guardianship).filter_by(ward_subject_id=link["ward_subject_id"])).all()) == 2
    audit = json.dumps(_audit(services), ensure_ascii=False)
    assert child not in audit and PERSON_NAME not in audit


# --- clients ------------------------------------------------------------------------------------


def test_auditor_tool_and_rotation(client: TestClient[Any], services: Services, op: dict[str, str]) -> None:
    auditor = make_account(services, Role.AUDITOR)
    tool = client.post("/v1/admin/clients", headers=op,
                       json={"owner_type": "auditor_tool", "owner_id": auditor.id})
    assert tool.status_code == 201, tool.text
    creds = tool.json()
    token = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic_auth(creds["client_id"], creds["client_secret"]))
    assert token.status_code == 200
    claims = services.tokens.verify(token.json()["access_token"])
    assert claims["role"] == "auditor" and claims["scope"] == "audit:read"
    assert_problem(client.post("/v1/admin/clients", headers=op,
                         json={"owner_type": "auditor_tool", "owner_id": make_account(services, "guardian").id}),
             409, "account_not_auditor")
    revoked = client.post(f"/v1/admin/clients/{creds['client_id']}/revoke", headers=op)
    assert revoked.json()["status"] == "revoked"
    refused = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                          headers=basic_auth(creds["client_id"], creds["client_secret"]))
    assert refused.status_code == 401
    assert_problem(client.post("/v1/admin/clients", headers=op, json={"owner_type": "institution", "owner_id": "zz"}),
             404, "institution_not_found")


def test_an_admin_token_without_the_admin_scope_is_refused(client: TestClient[Any], services: Services) -> None:
    from tests.service.identity.tokens import token_for_account

    operator = make_account(services, Role.OPERATOR)
    narrow = token_for_account(services, operator, scope="me")
    assert_problem(client.post("/v1/admin/institutions", json=_institution(), headers=narrow.headers), 403,
             "insufficient_scope")
    bank = issue_token_for(services, Role.INSTITUTION)
    assert_problem(client.post("/v1/admin/institutions", json=_institution(), headers=bank.headers), 403,
             "forbidden_role")
