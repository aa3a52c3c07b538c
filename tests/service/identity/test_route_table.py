"""Every route, called with every kind of token: the allowed roles and the scope are
exactly those of the table below.

The table is the specification: the application's routes must be exactly the
ones listed (a route added later fails here until it is listed), each guarded
route must declare exactly the listed roles and scope, and each is called with
every role, with a token lacking its scope and with broken tokens.

The portal's pages (``/app``) authenticate by session cookie, never by bearer
token: they are listed apart, each as ``session`` (guarded by
``require_session``) or ``public``. Without a session every ``session`` route
sends the browser to sign in and does nothing, whatever token it is shown.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from litestar import Litestar, get
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from policies import Role
from service.http.app import create_app
from service.identity.guards import roles_of, scope_of
from service.identity.jose import StrictJWSRegistry, okp_key
from service.identity.policy import ALL_SCOPES, TOKEN_ROLES
from service.portal.web import session_guarded
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for

PUBLIC_PATHS = ("/", "/health", "/health/live")
PORTAL = "/app"
PUBLIC_PREFIXES = ("/schema", "/oauth/", "/.well-known/", "/v1/public/")

INST, PROV, OPER = frozenset({Role.INSTITUTION}), frozenset({Role.PROVIDER}), frozenset({Role.OPERATOR})
AUDITOR = frozenset({Role.AUDITOR})
PEOPLE = frozenset({Role.SUBJECT, Role.GUARDIAN})
ADMIN_PATHS = (
    "/v1/admin/institutions", "/v1/admin/institutions/{institution_id:str}/suspend",
    "/v1/admin/institutions/{institution_id:str}/reactivate", "/v1/admin/providers",
    "/v1/admin/providers/{provider_id:str}/suspend", "/v1/admin/providers/{provider_id:str}/reactivate",
    "/v1/admin/accounts", "/v1/admin/accounts/{account_id:str}/disable", "/v1/admin/accounts/{account_id:str}/enable",
    "/v1/admin/guardianships", "/v1/admin/guardianships/{guardianship_id:str}/end", "/v1/admin/clients",
    "/v1/admin/clients/{client_id:str}/revoke",
)
#: (method, path) -> (roles admitted, scope required), for every guarded route.
EXPECTED: dict[tuple[str, str], tuple[frozenset[Role], str]] = {
    ("POST", "/v1/consent-requests"): (INST, "consent:request"),
    ("GET", "/v1/consent-requests/{request_id:str}"): (INST, "consent:read"),
    ("GET", "/v1/consents/{consent_id:str}"): (INST, "consent:read"),
    ("POST", "/v1/queries"): (INST, "query"),
    ("POST", "/v1/records"): (PROV, "records:write"),
    ("GET", "/v1/me/consent-requests"): (PEOPLE, "me"),
    ("POST", "/v1/me/consent-requests/{request_id:str}/grant"): (PEOPLE, "me"),
    ("POST", "/v1/me/consent-requests/{request_id:str}/reject"): (PEOPLE, "me"),
    ("GET", "/v1/me/consents"): (PEOPLE, "me"),
    ("POST", "/v1/me/consents/{consent_id:str}/revoke"): (PEOPLE, "me"),
    ("GET", "/v1/me/report"): (PEOPLE, "me"),
    ("GET", "/v1/me/access-log"): (PEOPLE, "me"),
    ("GET", "/metrics"): (OPER, "admin"),
    # remedies: the person's side
    ("POST", "/v1/me/objections"): (PEOPLE, "me"),
    ("GET", "/v1/me/objections"): (PEOPLE, "me"),
    ("POST", "/v1/me/objections/{objection_id:str}/complaint"): (PEOPLE, "me"),
    ("POST", "/v1/me/repairs"): (PEOPLE, "me"),
    ("GET", "/v1/me/repairs"): (PEOPLE, "me"),
    ("POST", "/v1/me/records/{record_id:str}/statement"): (PEOPLE, "me"),
    ("GET", "/v1/me/serious-list/notices"): (PEOPLE, "me"),
    # remedies: the deciding side
    ("GET", "/v1/objections"): (PROV, "records:write"),
    ("GET", "/v1/objections/{objection_id:str}"): (PROV, "records:write"),
    ("POST", "/v1/objections/{objection_id:str}/decision"): (PROV, "records:write"),
    ("GET", "/v1/repairs"): (PROV, "records:write"),
    ("GET", "/v1/repairs/{repair_id:str}"): (PROV, "records:write"),
    ("POST", "/v1/repairs/{repair_id:str}/decision"): (PROV, "records:write"),
    ("POST", "/v1/repairs/{repair_id:str}/revocation"): (PROV, "records:write"),
    ("POST", "/v1/serious-list/notices"): (PROV, "records:write"),
    ("GET", "/v1/serious-list/notices"): (PROV, "records:write"),
    ("POST", "/v1/serious-list/notices/{notice_id:str}/decision"): (PROV, "records:write"),
    ("GET", "/v1/complaints"): (OPER, "admin"),
    ("POST", "/v1/complaints/{complaint_id:str}/decision"): (OPER, "admin"),
    ("GET", "/v1/me/access-log/{seq:str}/proof"): (PEOPLE, "me"),
    ("GET", "/v1/audit/entries"): (AUDITOR, "audit:read"),
    ("GET", "/v1/audit/checkpoints/latest"): (AUDITOR, "audit:read"),
    ("GET", "/v1/audit/checkpoints/{size:str}"): (AUDITOR, "audit:read"),
    ("GET", "/v1/audit/proofs/inclusion"): (AUDITOR, "audit:read"),
    ("GET", "/v1/audit/proofs/consistency"): (AUDITOR, "audit:read"),
    ("GET", "/v1/audit/reports/summary"): (AUDITOR, "audit:read"),
    ("GET", "/v1/me"): (PEOPLE, "me"),
    **{("POST", path): (OPER, "admin") for path in ADMIN_PATHS},
}
#: Every route open without a token.
EXPECTED_PUBLIC = {
    ("GET", "/"), ("GET", "/health"), ("GET", "/health/live"),
    ("POST", "/oauth/token"), ("GET", "/oauth/authorize"), ("POST", "/oauth/authorize"),
    ("GET", "/.well-known/oauth-authorization-server"), ("GET", "/oauth/jwks"),
    ("GET", "/v1/public/serious-list"),
}
#: The portal's routes: ``session`` ones need a signed-in session, ``public`` ones do not.
EXPECTED_PORTAL: dict[tuple[str, str], str] = {
    ("GET", "/app"): "public",
    ("GET", "/app/login"): "public",
    ("GET", "/app/callback"): "public",
    ("GET", "/app/lang/{code:str}"): "public",
    ("GET", "/app/static/{file_path:path}"): "public",
    ("POST", "/app/logout"): "session",
    ("GET", "/app/requests"): "session",
    ("GET", "/app/requests/{request_id:str}"): "session",
    ("POST", "/app/requests/{request_id:str}/grant"): "session",
    ("POST", "/app/requests/{request_id:str}/reject"): "session",
    ("GET", "/app/consents"): "session",
    ("POST", "/app/consents/{consent_id:str}/revoke"): "session",
    ("GET", "/app/consents/{consent_id:str}/receipt"): "session",
    ("GET", "/app/report"): "session",
    ("GET", "/app/access-log"): "session",
    ("POST", "/app/ward"): "session",
}
_PARAM = re.compile(r"\{[^}]+\}")
_GUARD_CODES = {"forbidden_role", "insufficient_scope"}
_AUTH_CODES = {"unauthorized", "token_invalid", "token_expired"}


def is_portal(path: str) -> bool:
    return path == PORTAL or path.startswith(PORTAL + "/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or is_portal(path)


def protected_routes(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    """(method, path template, handler) for every non-public route of ``app``."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or is_public(route.path):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method in ("OPTIONS", "HEAD"):
                    continue
                found.append((method, route.path, handler))
    return found


def unguarded(app: Litestar) -> list[str]:
    return [f"{m} {p}" for m, p, h in protected_routes(app) if not roles_of(h)]


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda _: uuid.uuid4().hex, path)


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _call(client: TestClient[Any], method: str, path: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}
    return client.request(method, path, **kwargs)


def _code(resp: Any) -> str | None:
    try:
        return resp.json().get("code")
    except ValueError:
        return None


def _all_routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            found.update((m, route.path) for m in handler.http_methods if m not in ("OPTIONS", "HEAD"))
    return found


def portal_routes(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    """(method, path template, handler) for every portal route of ``app``."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not is_portal(route.path):
            continue
        for handler in route.route_handlers:
            found.extend((m, route.path, handler) for m in sorted(handler.http_methods) if m not in ("OPTIONS", "HEAD"))
    return found


def test_the_routes_are_exactly_the_table(services: Services) -> None:
    app = create_app(services=services)
    assert _all_routes(app) == set(EXPECTED) | EXPECTED_PUBLIC | set(EXPECTED_PORTAL)
    declared = {(m, p): (roles_of(h), scope_of(h)) for m, p, h in protected_routes(app)}
    assert declared == EXPECTED
    assert unguarded(app) == []
    # Portal routes: a session guard exactly where the table says, and never a bearer-token guard.
    portal = {(m, p): ("session" if session_guarded(h) else "public") for m, p, h in portal_routes(app)}
    assert portal == EXPECTED_PORTAL
    assert all(roles_of(h) is None for _, _, h in portal_routes(app))


def test_portal_routes_need_a_session_not_a_token(services: Services, callers: dict[Role, Caller]) -> None:
    """Without a session cookie every session route sends the browser to sign in, even
    with a valid bearer token of any role; a POST does nothing."""
    app = create_app(services=services)
    failures: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for (method, template), kind in sorted(EXPECTED_PORTAL.items()):
            if kind != "session":
                continue
            path = _concrete(template)
            for caller in [None, *callers.values()]:
                headers = {"Authorization": f"Bearer {caller.token}"} if caller else {}
                resp = client.request(method, path, headers=headers, data={"csrf": "x"} if method == "POST" else None,
                                      follow_redirects=False)
                location = resp.headers.get("location", "")
                if resp.status_code != 303 or not location.startswith("/app?"):
                    failures.append(f"{method} {template} with {caller.role if caller else 'nothing'}: "
                                    f"{resp.status_code} {location}")
    assert failures == []


def test_an_unguarded_route_is_caught(services: Services) -> None:
    @get("/v1/forgot-the-guard", sync_to_thread=False)
    def forgot() -> dict[str, str]:
        return {}

    app = create_app(services=services, extra_handlers=[forgot])
    assert unguarded(app) == ["GET /v1/forgot-the-guard"]


@pytest.fixture
def callers(services: Services) -> dict[Role, Caller]:
    return {role: issue_token_for(services, role, wards=[]) for role in sorted(TOKEN_ROLES)}


def test_each_route_admits_exactly_its_roles(services: Services, callers: dict[Role, Caller]) -> None:
    app = create_app(services=services)
    operator = callers[Role.OPERATOR]
    claims = dict(operator.claims)
    kid = services.tokens.kid
    bad_tokens = {
        "expired": (issue_token_for(services, Role.OPERATOR, now=int(time.time()) - 3600).token, "token_expired"),
        "other key": (jwt.encode({"typ": "at+jwt", "alg": "EdDSA", "kid": kid}, claims,
                                 okp_key(Ed25519PrivateKey.generate()), registry=StrictJWSRegistry(["EdDSA"])),
                      "token_invalid"),
        "alg none": (f"{_b64({'typ': 'at+jwt', 'alg': 'none', 'kid': kid})}.{_b64(claims)}.", "token_invalid"),
        "no token": (None, "unauthorized"),
    }
    checked = 0
    failures: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, template, handler in protected_routes(app):
            allowed = roles_of(handler)
            if not allowed:
                failures.append(f"{method} {template}: no require_roles guard")
                continue
            path = _concrete(template)
            for name, (token, code) in bad_tokens.items():
                resp = _call(client, method, path, token)
                if resp.status_code != 401 or _code(resp) != code:
                    failures.append(f"{method} {template} with {name}: {resp.status_code} {_code(resp)}")
            for role in allowed:
                # A token of an admitted role that lacks the route's scope.
                lacking = _lacking_scope(services, callers[role], EXPECTED[(method, template)][1])
                resp = _call(client, method, path, lacking)
                if resp.status_code != 403 or _code(resp) != "insufficient_scope":
                    failures.append(f"{method} {template} admitted {role} without its scope: {resp.status_code}")
            for role, caller in callers.items():
                resp = _call(client, method, path, caller.token)
                code = _code(resp)
                if role in allowed:
                    if resp.status_code == 401 or (resp.status_code == 403 and code in _GUARD_CODES):
                        failures.append(f"{method} {template} refused allowed role {role}: {resp.status_code} {code}")
                elif resp.status_code != 403 or code != "forbidden_role":
                    failures.append(f"{method} {template} admitted role {role}: {resp.status_code} {code}")
                else:
                    assert code not in _AUTH_CODES
            checked += 1
    assert failures == []
    assert checked == len(EXPECTED)


def _lacking_scope(services: Services, caller: Caller, scope: str) -> str:
    claims = caller.claims
    others = [s for s in ALL_SCOPES if s != scope]
    # The caller's own scopes minus this one, or (for single-scope roles) an unrelated one.
    kept = [s for s in str(claims["scope"]).split() if s != scope] or others[:1]
    return services.tokens.issue(subject=str(claims["sub"]), client_id=str(claims["client_id"]),
                                 role=str(claims["role"]), scope=" ".join(kept)).access_token


def test_audit_routes_are_auditor_only(services: Services) -> None:
    app = create_app(services=services)
    audit = [(m, p, h) for m, p, h in protected_routes(app) if p.startswith("/v1/audit/")]
    assert len(audit) == 6
    assert all(roles_of(h) == AUDITOR and scope_of(h) == "audit:read" for _, _, h in audit)


def test_admin_routes_are_operator_only(services: Services) -> None:
    app = create_app(services=services)
    admin = [(m, p, h) for m, p, h in protected_routes(app) if p.startswith("/v1/admin/")]
    assert len(admin) == 13
    assert all(roles_of(h) == frozenset({Role.OPERATOR}) for _, _, h in admin)
