"""authorization_code + PKCE S256 for people, through the login form of /oauth/authorize."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import TestClient
from sqlalchemy import select, update

from policies import Role
from service.db.types import utcnow
from service.identity.models import AuthorizationCode
from service.runtime import Services
from tests.service.identity.conftest import REDIRECT_URI, audit_entries
from tests.service.identity.tokens import (
    authorize,
    code_from,
    login_form_fields,
    login_token,
    make_account,
    pkce_pair,
)

WEB = "creditgate-web"


def _params(challenge: str | None, method: str | None = "S256", **extra: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": WEB, "redirect_uri": REDIRECT_URI, "state": "st-123"}
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    params.update(extra)
    return params


def _redirect_query(resp: Any) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _exchange(client: TestClient[Any], code: str, verifier: str | None, redirect_uri: str = REDIRECT_URI) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": WEB}
    if verifier is not None:
        data["code_verifier"] = verifier
    return client.post("/oauth/token", data=data)


def test_full_flow_for_a_subject(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    verifier, challenge = pkce_pair()
    page = client.get("/oauth/authorize", params=_params(challenge))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "creditgate web" in page.text and 'name="password"' in page.text
    fields = login_form_fields(page.text)
    assert fields["code_challenge"] == challenge and fields["state"] == "st-123" and fields["form_token"]
    fields.update({"username": person.username, "password": person.password, "action": "login"})
    resp = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    query = _redirect_query(resp)
    assert query["state"] == "st-123" and query["iss"] == services.settings.issuer
    token_resp = _exchange(client, query["code"], verifier)
    assert token_resp.status_code == 200, token_resp.text
    body = token_resp.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "me" and "refresh_token" not in body
    claims = services.tokens.verify(body["access_token"])
    assert claims["sub"] == person.id and claims["role"] == "subject" and claims["client_id"] == WEB
    # The code is stored hashed, never in clear.
    with services.session() as s:
        stored = s.execute(select(AuthorizationCode)).scalar_one()
    assert query["code"].encode() not in stored.code_hash and stored.used_at is not None
    assert stored.expires_at - stored.used_at <= timedelta(seconds=60)
    logins = audit_entries(services, "auth.login")
    assert logins[-1]["decision"] == "allow" and logins[-1]["actor_id"] == person.id
    assert audit_entries(services, "auth.token")[-1]["details"]["jti"] == claims["jti"]


def test_operator_gets_admin_scope_and_subject_cannot_ask_for_it(client: TestClient[Any],
                                                                   services: Services) -> None:
    operator = make_account(services, Role.OPERATOR)
    token = login_token(client, operator.username, operator.password, redirect_uri=REDIRECT_URI)
    assert services.tokens.verify(token)["scope"] == "admin"
    person = make_account(services, Role.SUBJECT)
    resp, _ = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI, scope="admin")
    query = _redirect_query(resp)
    assert query["error"] == "access_denied" and "code" not in query and query["state"] == "xyz-state"


@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        (None, None),  # no PKCE at all
        (None, "S256"),  # method without a challenge
        ("x" * 43, None),  # no method means plain
        ("x" * 43, "plain"),  # plain refused
        ("short", "S256"),  # malformed challenge
    ],
)
def test_pkce_s256_is_required(client: TestClient[Any], challenge: str | None, method: str | None) -> None:
    resp = client.get("/oauth/authorize", params=_params(challenge, method), follow_redirects=False)
    query = _redirect_query(resp)
    assert query["error"] == "invalid_request" and query["state"] == "st-123"
    assert "code" not in query


def test_wrong_verifier_is_refused_and_burns_the_code(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    resp, verifier = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    code = code_from(resp)
    other_verifier, _ = pkce_pair()
    bad = _exchange(client, code, other_verifier)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    # One attempt per code: the right verifier cannot use it afterwards.
    late = _exchange(client, code, verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_missing_verifier_is_refused(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    resp, _ = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    missing = _exchange(client, code_from(resp), None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_code_reuse_is_refused_audited_and_revokes_the_first_token(client: TestClient[Any],
                                                                   services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    resp, verifier = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    code = code_from(resp)
    first = _exchange(client, code, verifier)
    assert first.status_code == 200
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert client.get("/v1/me/consents", headers=bearer).status_code == 200
    again = _exchange(client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    replays = audit_entries(services, "auth.code_replay")
    assert replays and replays[-1]["actor_id"] == person.id and replays[-1]["decision"] == "deny"
    assert replays[-1]["details"]["token_revoked"] is True
    # RFC 6749 §4.1.2: the token issued for the code is revoked, at once.
    refused = client.get("/v1/me/consents", headers=bearer)
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    # A fresh login is not affected.
    fresh = login_token(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    assert client.get("/v1/me/consents", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_replay_before_the_first_exchange_stores_its_token_revokes_that_token(services: Services) -> None:
    """The race: the code is replayed after it was consumed but before the first exchange
    linked its token. The first exchange then revokes its own token."""
    from service.identity.oauth import AuthorizationCodeWithPKCE, CreditGateAuthorizationServer, IssuedCode, code_hash
    from service.identity.revocation import RevokedToken

    person = make_account(services, Role.SUBJECT)
    digest = code_hash("raced-code")
    with services.write_session() as s, s.begin():
        s.add(AuthorizationCode(code_hash=digest, client_id=WEB, account_id=person.id, redirect_uri=REDIRECT_URI,
                                scope="me", code_challenge="c", code_challenge_method="S256",
                                expires_at=utcnow() + timedelta(seconds=60), used_at=utcnow()))
    server = CreditGateAuthorizationServer(services)
    AuthorizationCodeWithPKCE(None, server)._replayed(digest, person.id, WEB)  # the replay comes first
    issued = services.tokens.issue(subject=person.id, client_id=WEB, role="subject", scope="me")

    class _Request:
        user = None
        client = type("C", (), {"client_id": WEB, "role": None, "owner_id": None})()
        payload = type("P", (), {"grant_type": "authorization_code"})()
        auth_method = "none"
        authorization_code = IssuedCode(person.id, WEB, REDIRECT_URI, "me", "c", "S256", code_hash=digest)

    server.save_token(issued.response(), _Request())  # type: ignore[arg-type]
    with services.session() as s:
        assert s.get(RevokedToken, issued.claims["jti"]) is not None


def test_expired_code_is_refused(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    resp, verifier = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
    with services.session() as s, s.begin():
        s.execute(update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    late = _exchange(client, code_from(resp), verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_exactly(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    # At the token endpoint: a different (or no) redirect_uri than the code was issued for.
    for wrong in (REDIRECT_URI + "/", "http://127.0.0.1:8000/app/other", ""):
        resp, verifier = authorize(client, person.username, person.password, redirect_uri=REDIRECT_URI)
        bad = _exchange(client, code_from(resp), verifier, redirect_uri=wrong)
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant", wrong
    # At the authorization endpoint: an unregistered URI is never redirected to.
    _, challenge = pkce_pair()
    for uri in ("https://evil.example/cb", REDIRECT_URI + "?x=1", REDIRECT_URI.upper()):
        page = client.get("/oauth/authorize", params=_params(challenge, redirect_uri=uri), follow_redirects=False)
        assert page.status_code == 400 and "location" not in page.headers, uri
        assert "invalid_request" in page.text and "evil.example/cb?" not in page.text


def test_unknown_client_is_not_redirected(client: TestClient[Any]) -> None:
    _, challenge = pkce_pair()
    page = client.get("/oauth/authorize", params=_params(challenge, client_id="cg_nobody"), follow_redirects=False)
    assert page.status_code in (400, 401) and "location" not in page.headers
    assert "invalid_client" in page.text


def test_confidential_client_cannot_use_the_code_flow(client: TestClient[Any], services: Services) -> None:
    from tests.service.identity.tokens import make_institution

    inst = make_institution(services)
    _, challenge = pkce_pair()
    page = client.get("/oauth/authorize", params=_params(challenge, client_id=inst.client_id),
                      follow_redirects=False)
    assert page.status_code == 400 and "location" not in page.headers


def test_login_form_needs_its_anti_forgery_token(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    _, challenge = pkce_pair()
    page = client.get("/oauth/authorize", params=_params(challenge))
    fields = login_form_fields(page.text)
    fields.update({"username": person.username, "password": person.password, "action": "login"})
    forged = {**fields, "form_token": fields["form_token"][:-4] + "abcd"}
    resp = client.post("/oauth/authorize", data=forged, follow_redirects=False)
    assert resp.status_code == 400 and "location" not in resp.headers
    client.cookies.clear()
    no_cookie = client.post("/oauth/authorize", data=fields, follow_redirects=False)
    assert no_cookie.status_code == 400 and "location" not in no_cookie.headers
    assert audit_entries(services, "auth.login") == []  # the password was never even checked


def test_cancel_redirects_with_access_denied(client: TestClient[Any]) -> None:
    _, challenge = pkce_pair()
    page = client.get("/oauth/authorize", params=_params(challenge))
    fields = {**login_form_fields(page.text), "action": "cancel"}
    query = _redirect_query(client.post("/oauth/authorize", data=fields, follow_redirects=False))
    assert query["error"] == "access_denied" and query["state"] == "st-123" and "code" not in query


def test_wrong_password_shows_the_form_again(client: TestClient[Any], services: Services) -> None:
    person = make_account(services, Role.SUBJECT)
    resp, _ = authorize(client, person.username, "not the right password", redirect_uri=REDIRECT_URI)
    assert resp.status_code == 200 and "location" not in resp.headers
    assert "username or password is incorrect" in resp.text
    assert login_form_fields(resp.text)["form_token"]
