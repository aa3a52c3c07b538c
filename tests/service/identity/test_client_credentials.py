"""client_credentials at POST /oauth/token: client_secret_basic and private_key_jwt (RFC 7523)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from litestar.testing import TestClient

from policies import Role
from service.admin.registry import Actor, set_institution_status
from service.identity.jose import StrictJWSRegistry
from service.runtime import Services
from tests.service.identity.conftest import audit_entries
from tests.service.identity.tokens import (
    assertion_for,
    basic_auth,
    make_institution,
    make_provider,
    new_client_key,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _oauth_error(resp: Any, status: int, error: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["error"] == error, body
    assert "access_token" not in body
    return body


def _jwt_grant(client: TestClient[Any], client_id: str, assertion: str, **extra: str) -> Any:
    return client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion, **extra,
    })


# --- client_secret_basic ------------------------------------------------------------------------


def test_secret_basic_issues_an_rfc9068_token(client: TestClient[Any], services: Services) -> None:
    inst = make_institution(services, institution_type="bank", permitted_purposes=["loan_approval"])
    assert inst.client_secret
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic_auth(inst.client_id, inst.client_secret))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert body["scope"] == "consent:request consent:read query"
    token = body["access_token"]
    header = jwt.decode(token, services.tokens._public, registry=StrictJWSRegistry(["EdDSA"])).header
    assert header == {"typ": "at+jwt", "alg": "EdDSA", "kid": services.tokens.kid}
    claims = services.tokens.verify(token)
    assert claims["iss"] == "http://127.0.0.1:8000" and claims["aud"] == "creditgate-api"
    assert claims["sub"] == inst.client_id and claims["client_id"] == inst.client_id
    assert claims["role"] == "institution"
    assert claims["exp"] - claims["iat"] == 600 and len(claims["jti"]) == 32
    issued = audit_entries(services, "auth.token")
    assert issued[-1]["actor_id"] == inst.id and issued[-1]["details"]["jti"] == claims["jti"]
    assert issued[-1]["details"]["auth_method"] == "client_secret_basic"
    assert issued[-1]["request_id"] == resp.headers["x-request-id"]


def test_provider_token_has_provider_scope(client: TestClient[Any], services: Services) -> None:
    prov = make_provider(services)
    assert prov.client_secret
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic_auth(prov.client_id, prov.client_secret))
    assert resp.status_code == 200, resp.text
    claims = services.tokens.verify(resp.json()["access_token"])
    assert claims["role"] == "provider" and claims["scope"] == "records:write"


def test_scope_can_be_narrowed_never_widened(client: TestClient[Any], services: Services) -> None:
    inst = make_institution(services)
    assert inst.client_secret
    auth = basic_auth(inst.client_id, inst.client_secret)
    narrow = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "query"}, headers=auth)
    assert narrow.status_code == 200 and narrow.json()["scope"] == "query"
    wide = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "query admin"},
                       headers=auth)
    _oauth_error(wide, 400, "invalid_scope")
    other = client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "records:write"},
                        headers=auth)
    _oauth_error(other, 400, "invalid_scope")


def test_bad_secret_and_unknown_client_are_invalid_client(client: TestClient[Any], services: Services) -> None:
    inst = make_institution(services)
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic_auth(inst.client_id, "x" * 43))
    _oauth_error(wrong, 401, "invalid_client")
    assert wrong.headers["www-authenticate"].startswith("Basic ")
    unknown = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                          headers=basic_auth("cg_nobody", "x" * 43))
    _oauth_error(unknown, 401, "invalid_client")
    missing = client.post("/oauth/token", data={"grant_type": "client_credentials"})
    _oauth_error(missing, 401, "invalid_client")
    # One answer for an unknown client and a wrong secret: nothing tells them apart.
    assert wrong.json() == unknown.json() == missing.json()
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]
    # The known client's failure is audited against its owner; the unknown one is only logged.
    [failed] = audit_entries(services, "auth.client")
    assert (failed["actor_type"], failed["actor_id"], failed["decision"]) == ("institution", inst.id, "deny")
    assert failed["details"] == {"client_id": inst.client_id, "auth_method": "client_secret_basic"}
    assert "cg_nobody" not in str(audit_entries(services))


def test_invalid_assertions_get_401(client: TestClient[Any], services: Services,
                                    jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    stranger = assertion_for("cg_nobody", key, services.tokens.token_endpoint)
    unknown = _oauth_error(_jwt_grant(client, "cg_nobody", stranger), 401, "invalid_client")
    assert unknown["error_description"] == "Client authentication failed."
    garbage = _oauth_error(_jwt_grant(client, inst.client_id, "not.a.jwt"), 401, "invalid_client")
    assert garbage["error_description"]


def test_suspended_institution_gets_no_token(client: TestClient[Any], services: Services) -> None:
    inst = make_institution(services)
    assert inst.client_secret
    set_institution_status(services, actor=Actor("operator", "t"), institution_id=inst.id, status="suspended")
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=basic_auth(inst.client_id, inst.client_secret))
    _oauth_error(resp, 401, "invalid_client")


@pytest.mark.parametrize(
    ("data", "content_type", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, None, "unsupported_grant_type"),
        ("grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded",
         "invalid_request"),
        ('{"grant_type": "client_credentials"}', "application/json", "invalid_request"),
    ],
)
def test_malformed_token_requests(client: TestClient[Any], services: Services, data: Any, content_type: str | None,
                                  error: str) -> None:
    inst = make_institution(services)
    assert inst.client_secret
    headers = basic_auth(inst.client_id, inst.client_secret)
    if content_type:
        headers["content-type"] = content_type
        resp = client.post("/oauth/token", content=data, headers=headers)
    else:
        resp = client.post("/oauth/token", data=data, headers=headers)
    _oauth_error(resp, 400, error)


def test_client_secret_post_is_refused(client: TestClient[Any], services: Services) -> None:
    inst = make_institution(services)
    assert inst.client_secret
    resp = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": inst.client_id,
                                             "client_secret": inst.client_secret})
    _oauth_error(resp, 400, "invalid_request")


# --- private_key_jwt ----------------------------------------------------------------------------


@pytest.fixture
def jwt_client(services: Services) -> tuple[Any, Any]:
    key = new_client_key()
    inst = make_institution(services, auth_method="private_key_jwt", jwk=key.as_dict(private=False))
    assert inst.client_secret is None
    return inst, key


def test_private_key_jwt_success(client: TestClient[Any], services: Services, jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    for audience in (services.tokens.token_endpoint, services.tokens.issuer):
        resp = _jwt_grant(client, inst.client_id, assertion_for(inst.client_id, key, audience))
        assert resp.status_code == 200, resp.text
        claims = services.tokens.verify(resp.json()["access_token"])
        assert claims["sub"] == inst.client_id and claims["role"] == "institution"
    assert audit_entries(services, "auth.token")[-1]["details"]["auth_method"] == "private_key_jwt"


def test_private_key_jwt_es256(client: TestClient[Any], services: Services) -> None:
    key = ECKey.generate_key("P-256", auto_kid=True)
    prov = make_provider(services, auth_method="private_key_jwt", jwk=key.as_dict(private=False))
    resp = _jwt_grant(client, prov.client_id,
                      assertion_for(prov.client_id, key, services.tokens.token_endpoint, alg="ES256"))
    assert resp.status_code == 200, resp.text
    assert services.tokens.verify(resp.json()["access_token"])["role"] == Role.PROVIDER.value


def test_wrong_audience_is_refused(client: TestClient[Any], services: Services, jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    for audience in ("https://elsewhere.example/oauth/token", "creditgate-api"):
        resp = _jwt_grant(client, inst.client_id, assertion_for(inst.client_id, key, audience))
        _oauth_error(resp, 401, "invalid_client")


def test_expired_assertion_is_refused(client: TestClient[Any], services: Services,
                                      jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    old = assertion_for(inst.client_id, key, services.tokens.token_endpoint, now=int(time.time()) - 600)
    body = _oauth_error(_jwt_grant(client, inst.client_id, old), 401, "invalid_client")
    assert "expired" in body["error_description"]


def test_assertion_valid_too_long_is_refused(client: TestClient[Any], services: Services,
                                             jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    long_lived = assertion_for(inst.client_id, key, services.tokens.token_endpoint, lifetime=3600)
    body = _oauth_error(_jwt_grant(client, inst.client_id, long_lived), 401, "invalid_client")
    assert "too far" in body["error_description"]


def test_missing_exp_or_jti_is_refused(client: TestClient[Any], services: Services,
                                       jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    registry = StrictJWSRegistry(["EdDSA"])
    now = int(time.time())
    base = {"iss": inst.client_id, "sub": inst.client_id, "aud": services.tokens.token_endpoint}
    no_exp = jwt.encode({"alg": "EdDSA", "kid": key.kid}, {**base, "jti": uuid.uuid4().hex}, key, registry=registry)
    no_jti = jwt.encode({"alg": "EdDSA", "kid": key.kid}, {**base, "exp": now + 60}, key, registry=registry)
    for assertion in (no_exp, no_jti):
        _oauth_error(_jwt_grant(client, inst.client_id, assertion), 401, "invalid_client")


def test_replayed_jti_is_refused(client: TestClient[Any], services: Services, jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    assertion = assertion_for(inst.client_id, key, services.tokens.token_endpoint)
    assert _jwt_grant(client, inst.client_id, assertion).status_code == 200
    body = _oauth_error(_jwt_grant(client, inst.client_id, assertion), 401, "invalid_client")
    assert "replay" in body["error_description"]
    # A new assertion with the same jti is a replay too.
    same_jti = assertion_for(inst.client_id, key, services.tokens.token_endpoint,
                             jti=jwt.decode(assertion, key, registry=StrictJWSRegistry(["EdDSA"])).claims["jti"])
    _oauth_error(_jwt_grant(client, inst.client_id, same_jti), 401, "invalid_client")


def test_assertion_signed_by_another_key_is_refused(client: TestClient[Any], services: Services,
                                                    jwt_client: tuple[Any, Any]) -> None:
    inst, _ = jwt_client
    stranger = new_client_key()
    forged = assertion_for(inst.client_id, stranger, services.tokens.token_endpoint)
    _oauth_error(_jwt_grant(client, inst.client_id, forged), 401, "invalid_client")
    # Nor may one client sign for another with its own (registered) key.
    other_key = new_client_key()
    other = make_institution(services, auth_method="private_key_jwt", jwk=other_key.as_dict(private=False))
    impersonation = assertion_for(inst.client_id, other_key, services.tokens.token_endpoint)
    _oauth_error(_jwt_grant(client, inst.client_id, impersonation), 401, "invalid_client")
    assert other.client_id != inst.client_id


def test_hmac_and_none_algorithms_are_refused(client: TestClient[Any], services: Services,
                                              jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    now = int(time.time())
    claims = {"iss": inst.client_id, "sub": inst.client_id, "aud": services.tokens.token_endpoint,
              "exp": now + 60, "jti": uuid.uuid4().hex}
    # Key confusion: HMAC "signed" with the public key's bytes.
    hmac_key = OctKey.import_key(key.as_dict(private=False)["x"].encode())
    hs256 = jwt.encode({"alg": "HS256"}, claims, hmac_key, algorithms=["HS256"])
    import base64
    import json as _json

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(_json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64(claims)}."
    for assertion in (hs256, unsigned):
        _oauth_error(_jwt_grant(client, inst.client_id, assertion), 401, "invalid_client")


def test_secret_client_cannot_use_assertions_and_vice_versa(client: TestClient[Any], services: Services,
                                                            jwt_client: tuple[Any, Any]) -> None:
    inst, key = jwt_client
    secret_inst = make_institution(services)
    assertion = assertion_for(secret_inst.client_id, key, services.tokens.token_endpoint)
    _oauth_error(_jwt_grant(client, secret_inst.client_id, assertion), 401, "invalid_client")
    basic = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers=basic_auth(inst.client_id, "anything-at-all-here"))
    _oauth_error(basic, 401, "invalid_client")
    both = client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion_for(inst.client_id, key, services.tokens.token_endpoint),
    }, headers=basic_auth(inst.client_id, "anything-at-all-here"))
    _oauth_error(both, 400, "invalid_request")
