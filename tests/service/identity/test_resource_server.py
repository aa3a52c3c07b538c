"""The resource server: bearer token checks, live caller state, the principal handed to handlers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OctKey
from litestar import get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role
from service.admin.registry import (
    Actor,
    end_guardianship,
    revoke_client,
    set_account_status,
    set_institution_status,
    set_provider_status,
)
from service.db.types import utcnow
from service.http.app import create_app
from service.identity.guards import authenticate, require_roles
from service.identity.jose import StrictJWSRegistry, okp_key
from service.identity.login import authenticate_password
from service.identity.models import Guardianship
from service.identity.policy import ACCOUNT_SOURCE_THROTTLE
from service.identity.principal import Principal
from service.identity.revocation import revoke_token
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for, new_resident_id

ALL = (Role.SUBJECT, Role.GUARDIAN, Role.INSTITUTION, Role.PROVIDER, Role.AUDITOR, Role.OPERATOR)
OP = Actor("operator", "test")


async def authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    # Authentication only: which roles and scopes a route admits is the route table's concern.
    await authenticate(connection)


@get("/test/whoami", guards=[authenticated], sync_to_thread=False)
def whoami(principal: NamedDependency[Principal]) -> dict[str, Any]:
    return {
        "role": principal.role.value, "actor_id": principal.actor_id, "client_id": principal.client_id,
        "account_id": principal.account_id, "subject_id": principal.subject_id,
        "institution_id": principal.institution_id, "institution_type": principal.institution_type,
        "provider_id": principal.provider_id, "permitted_purposes": sorted(principal.permitted_purposes),
        "wards": sorted(principal.wards), "scopes": sorted(principal.scopes), "token_id": principal.token_id,
        "active": principal.active,
    }


@get("/test/auditor-with-scope", guards=[require_roles(Role.AUDITOR, scope="audit:read")], sync_to_thread=False)
def auditor_only() -> dict[str, str]:
    return {"ok": "yes"}


@get("/test/institution", guards=[require_roles(Role.INSTITUTION, scope="consent:read")], sync_to_thread=False)
def institution_only() -> dict[str, str]:
    return {"ok": "yes"}


@get("/test/provider", guards=[require_roles(Role.PROVIDER, scope="records:write")], sync_to_thread=False)
def provider_only() -> dict[str, str]:
    return {"ok": "yes"}


@get("/test/careless", sync_to_thread=False)
def careless(principal: NamedDependency[Principal]) -> dict[str, str]:
    # Asks for the caller but declares no role guard: must fail closed.
    return {"actor": principal.actor_id}


@pytest.fixture
def api(services: Services) -> Iterator[TestClient[Any]]:
    handlers = [whoami, auditor_only, institution_only, provider_only, careless]
    app = create_app(services=services, extra_handlers=handlers)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c




def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_principal_of_each_kind(api: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION, institution_type="bank", permitted_purposes=["loan_approval"])
    me = api.get("/test/whoami", headers=bank.headers).json()
    assert me["role"] == "institution" and me["actor_id"] == bank.institution.id  # type: ignore[union-attr]
    assert me["institution_type"] == "bank" and me["permitted_purposes"] == ["loan_approval"]
    assert me["client_id"] == bank.client_id and me["scopes"] == ["consent:read", "consent:request", "query"]
    assert me["token_id"] == bank.claims["jti"]
    court = api.get("/test/whoami", headers=issue_token_for(services, Role.PROVIDER).headers).json()
    assert court["role"] == "provider" and court["provider_id"] == court["actor_id"]
    person = issue_token_for(services, Role.SUBJECT)
    mine = api.get("/test/whoami", headers=person.headers).json()
    assert mine["subject_id"] == person.subject_id and mine["account_id"] == person.actor_id and mine["wards"] == []
    kids = [new_resident_id(age=5), new_resident_id(age=12)]
    parent = issue_token_for(services, Role.GUARDIAN, wards=kids)
    theirs = api.get("/test/whoami", headers=parent.headers).json()
    assert theirs["wards"] == sorted(parent.ward_subject_ids) and len(theirs["wards"]) == 2
    assert theirs["subject_id"] is None
    # Ending a guardianship takes the ward away at the next request.
    with services.session() as s:
        link = s.execute(select(Guardianship).filter_by(ward_subject_id=parent.ward_subject_ids[0])).scalar_one()
    end_guardianship(services, actor=OP, guardianship_id=link.id)
    after = api.get("/test/whoami", headers=parent.headers).json()
    assert after["wards"] == [parent.ward_subject_ids[1]]


def test_missing_or_malformed_authorization(api: TestClient[Any]) -> None:
    assert_problem(api.get("/test/whoami"), 401, "unauthorized")
    for header in ("Basic abc", "Bearer", "Bearer a b", "bearer"):
        assert_problem(api.get("/test/whoami", headers={"Authorization": header}), 401, "unauthorized")
    assert_problem(api.get("/test/whoami", headers={"Authorization": "Bearer not-a-jwt"}), 401, "token_invalid")


def test_expired_token(api: TestClient[Any], services: Services) -> None:
    old = issue_token_for(services, Role.SUBJECT, now=int(time.time()) - 3600)
    assert_problem(api.get("/test/whoami", headers=old.headers), 401, "token_expired")
    assert 'error="invalid_token"' in api.get("/test/whoami", headers=old.headers).headers["www-authenticate"]
    # Inside the clock-skew leeway it still works; beyond it, it does not.
    edge = issue_token_for(services, Role.SUBJECT, ttl=60, now=int(time.time()) - 75)
    assert api.get("/test/whoami", headers=edge.headers).status_code == 200


def test_forged_tokens_are_rejected(api: TestClient[Any], services: Services) -> None:
    real = issue_token_for(services, Role.OPERATOR)
    claims = dict(real.claims)
    registry = StrictJWSRegistry(["EdDSA"])
    kid = services.tokens.kid
    other_key = okp_key(Ed25519PrivateKey.generate())
    forgeries = {
        "another key, same kid": jwt.encode({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, claims, other_key,
                                            registry=registry),
        "alg none": f"{_b64({'typ': 'at+jwt', 'alg': 'none', 'kid': kid})}.{_b64(claims)}.",
        "HS256 with the public key": jwt.encode(
            {"typ": "at+jwt", "alg": "HS256", "kid": kid}, claims,
            OctKey.import_key(services.tokens._public.as_dict(private=False)["x"].encode()), algorithms=["HS256"]),
        "payload swapped": real.token.split(".")[0] + "." + _b64({**claims, "role": "operator", "sub": "x"})
        + "." + real.token.split(".")[2],
        "signature stripped": real.token.rsplit(".", 1)[0] + ".",
    }
    signer = services.tokens._private
    wrong_claims = {
        "typ JWT": ({"typ": "JWT", "alg": "EdDSA", "kid": kid}, claims),
        "other kid": ({"typ": "at+jwt", "alg": "EdDSA", "kid": "another"}, claims),
        "other issuer": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, {**claims, "iss": "https://evil.example"}),
        "other audience": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, {**claims, "aud": "other-api"}),
        "unknown role": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, {**claims, "role": "public"}),
        "no jti": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, {k: v for k, v in claims.items() if k != "jti"}),
        "too long-lived": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid},
                           {**claims, "exp": claims["iat"] + 24 * 3600}),
        "not yet valid": ({"typ": "at+jwt", "alg": "EdDSA", "kid": kid},
                          {**claims, "nbf": int(time.time()) + 600, "iat": int(time.time()) + 600,
                           "exp": int(time.time()) + 900}),
    }
    for name, (header, body) in wrong_claims.items():
        forgeries[name] = jwt.encode(header, body, signer, registry=registry)
    assert api.get("/test/whoami", headers=real.headers).status_code == 200
    for name, token in forgeries.items():
        resp = api.get("/test/whoami", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, name
        assert resp.json()["code"] == "token_invalid", name


def test_suspension_takes_effect_at_once(api: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    assert api.get("/test/institution", headers=bank.headers).status_code == 200
    set_institution_status(services, actor=OP, institution_id=bank.actor_id, status="suspended")
    assert_problem(api.get("/test/institution", headers=bank.headers), 403, "institution_suspended")
    assert api.get("/test/whoami", headers=bank.headers).json()["active"] is False
    set_institution_status(services, actor=OP, institution_id=bank.actor_id, status="active")
    assert api.get("/test/institution", headers=bank.headers).status_code == 200
    court = issue_token_for(services, Role.PROVIDER)
    assert api.get("/test/provider", headers=court.headers).status_code == 200
    set_provider_status(services, actor=OP, provider_id=court.actor_id, status="suspended")
    assert_problem(api.get("/test/provider", headers=court.headers), 403, "provider_suspended")


def test_revoked_client_or_disabled_account(api: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    revoke_client(services, actor=OP, client_id=bank.client_id)
    assert_problem(api.get("/test/whoami", headers=bank.headers), 401, "unauthorized")
    auditor = issue_token_for(services, Role.AUDITOR)
    set_account_status(services, actor=OP, account_id=auditor.actor_id, status="disabled")
    assert_problem(api.get("/test/whoami", headers=auditor.headers), 401, "unauthorized")
    set_account_status(services, actor=OP, account_id=auditor.actor_id, status="active")
    assert api.get("/test/whoami", headers=auditor.headers).status_code == 200
    # Failed logins are not a reason to stop a token: they only slow down their own source.
    person = issue_token_for(services, Role.SUBJECT)
    assert person.account is not None
    for _ in range(ACCOUNT_SOURCE_THROTTLE.free_failures + 3):
        authenticate_password(services, person.account.username, "wrong password!!", client_address="192.0.2.1")
    assert api.get("/test/whoami", headers=person.headers).status_code == 200


def test_a_revoked_token_is_refused_at_once(api: TestClient[Any], services: Services) -> None:
    for caller in (issue_token_for(services, Role.SUBJECT), issue_token_for(services, Role.INSTITUTION)):
        assert api.get("/test/whoami", headers=caller.headers).status_code == 200
        with services.write_session() as s, s.begin():
            revoke_token(s, caller.claims["jti"], utcnow() + timedelta(minutes=15), "test")
        assert_problem(api.get("/test/whoami", headers=caller.headers), 401, "unauthorized")


def test_role_claim_must_match_the_live_account(api: TestClient[Any], services: Services) -> None:
    person = issue_token_for(services, Role.SUBJECT)
    lying = services.tokens.issue(subject=person.actor_id, client_id="creditgate-web", role="operator",
                                  scope="admin")
    assert_problem(api.get("/test/whoami", headers={"Authorization": f"Bearer {lying.access_token}"}), 401,
             "unauthorized")


def test_scope_requirement(api: TestClient[Any], services: Services) -> None:
    full = issue_token_for(services, Role.AUDITOR)
    assert api.get("/test/auditor-with-scope", headers=full.headers).status_code == 200
    assert full.account is not None
    from tests.service.identity.tokens import token_for_account

    narrow = token_for_account(services, full.account, scope="me")
    assert_problem(api.get("/test/auditor-with-scope", headers=narrow.headers), 403, "insufficient_scope")
    assert_problem(api.get("/test/auditor-with-scope", headers=issue_token_for(services, Role.OPERATOR).headers), 403,
             "forbidden_role")


def test_principal_without_a_guard_fails_closed(api: TestClient[Any], services: Services) -> None:
    person = issue_token_for(services, Role.SUBJECT)
    resp = api.get("/test/careless", headers=person.headers)
    assert resp.status_code == 500 and person.actor_id not in resp.text


def test_require_roles_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        require_roles(scope="me")
    with pytest.raises(ValueError):
        require_roles(Role.PUBLIC, scope="me")
    with pytest.raises(ValueError, match="never carry scope"):
        require_roles(Role.SUBJECT, Role.INSTITUTION, scope="me")
