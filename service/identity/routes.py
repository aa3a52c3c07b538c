"""OAuth 2.0 endpoints: token, authorization (login page), metadata, JWKS.

The token endpoint answers RFC 6749 §5.2 JSON errors (that is the OAuth
contract); the authorization endpoint redirects errors back to the client when
the client and redirect URI are known good (RFC 6749 §4.1.2.1) and shows an
error page otherwise. Redirects carry ``iss`` (RFC 9207).
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs

import anyio
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Error
from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from policies import Role
from service.http.client import client_address
from service.http.problems import note_refusal
from service.identity.client_failures import CHALLENGE, FAILED_DESCRIPTION, claimed_client, record_failure
from service.identity.jose import published_jwks
from service.identity.login import LOGIN_FAILED_MESSAGE, authenticate_password
from service.identity.loginpage import (
    FORM_COOKIE,
    FORM_TTL_SECONDS,
    FormTokens,
    render_error,
    render_login,
    security_headers,
)
from service.identity.models import PRIVATE_KEY_JWT
from service.identity.oauth import (
    AUTHORIZATION_PARAMS,
    CreditGateAuthorizationServer,
    LitestarOAuth2Request,
    OAuthResponse,
    granted_scope,
)
from service.identity.policy import ALL_SCOPES, ASSERTION_ALGORITHMS, WEB_CLIENT_ID, valid_username
from service.runtime import Services

_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_FIELDS = 32
_CLIENT_NAMES = {WEB_CLIENT_ID: "个人信用信息服务 · creditgate web"}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class _BadForm(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _parse_form(content_type: str | None, body: bytes) -> dict[str, list[str]]:
    if (content_type or "").split(";")[0].strip().lower() != _FORM_TYPE:
        raise _BadForm(f"The request body must be {_FORM_TYPE}.")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise _BadForm("The request body could not be parsed.") from None


def _public_uri(services: Services, request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return services.settings.issuer + request.url.path + (f"?{query}" if query else "")


def _oauth_json_error(status: int, error: str, description: str) -> Response[bytes]:
    body = json.dumps({"error": error, "error_description": description}).encode()
    return Response(body, status_code=status, media_type="application/json", headers=_NO_STORE)


def _to_response(result: OAuthResponse, services: Services) -> Response[bytes]:
    headers = {k: v for k, v in result.headers if k.lower() != "content-type"}
    if result.status == 302:
        # RFC 9207: tell the client which issuer answered, against mix-up attacks.
        headers["Location"] = add_params_to_uri(headers["Location"], [("iss", services.settings.issuer)])
        headers.update(_NO_STORE)
        return Response(b"", status_code=302, headers=headers)
    body = result.body
    content = json.dumps(body).encode() if isinstance(body, dict) else str(body or "").encode()
    return Response(content, status_code=result.status, headers=headers,
                    media_type=result.header("content-type") or "application/json")


# --- token endpoint -------------------------------------------------------------------------------


@post("/oauth/token", tags=["oauth"], summary="OAuth 2.0 token endpoint (RFC 6749 §3.2)", status_code=200)
async def token_endpoint(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[bytes]:
    """``client_credentials`` (client_secret_basic, private_key_jwt) and
    ``authorization_code`` with PKCE; errors are RFC 6749 §5.2 JSON."""
    try:
        form = _parse_form(request.headers.get("content-type"), await request.body())
    except _BadForm as exc:
        return _oauth_json_error(400, "invalid_request", exc.description)
    repeated = sorted(k for k, v in form.items() if len(v) > 1)
    if repeated:
        return _oauth_json_error(400, "invalid_request", f"Parameter '{repeated[0]}' is repeated.")
    if request.headers.get("authorization") and "client_assertion" in form:
        return _oauth_json_error(400, "invalid_request", "Use exactly one client authentication method.")
    if "client_secret" in form:
        return _oauth_json_error(400, "invalid_request",
                                 "client_secret_post is not supported; use HTTP Basic or private_key_jwt.")
    oauth_request = LitestarOAuth2Request("POST", _public_uri(services, request), request.headers, form=form)
    server = CreditGateAuthorizationServer(services)
    result: OAuthResponse = await anyio.to_thread.run_sync(server.create_token_response, oauth_request)
    if isinstance(result.body, dict) and result.body.get("error") == "invalid_client":
        # 401 for every failed client authentication. An unknown client and a wrong secret
        # get the same words; a known client's bad assertion keeps its reason (the caller
        # holds the private key and needs to know what to fix).
        claimed, method = claimed_client(request.headers.get("authorization"), form)
        audited = await anyio.to_thread.run_sync(record_failure, services, claimed, method)
        note_refusal(request.scope, "invalid_client", audited=audited)  # type: ignore[arg-type]
        specific = audited and method == PRIVATE_KEY_JWT
        description = str(result.body.get("error_description") or FAILED_DESCRIPTION)
        response = _oauth_json_error(401, "invalid_client", description if specific else FAILED_DESCRIPTION)
        response.headers["WWW-Authenticate"] = CHALLENGE
        return response
    return _to_response(result, services)


# --- authorization endpoint -----------------------------------------------------------------------


def _html(content: str, status: int, nonce: str) -> Response[str]:
    return Response(content, status_code=status, media_type="text/html",  # Litestar adds the charset
                    headers=security_headers(nonce))


def _validate(server: CreditGateAuthorizationServer, req: LitestarOAuth2Request) -> tuple[Any, OAuthResponse | None]:
    try:
        return server.get_consent_grant(req), None
    except OAuth2Error as error:
        return None, server.handle_error_response(req, error)


def _error_page(result: OAuthResponse, services: Services) -> Response[Any]:
    if result.status == 302:
        return _to_response(result, services)
    body = result.body if isinstance(result.body, dict) else {}
    nonce = secrets.token_urlsafe(12)
    page = render_error(error=str(body.get("error", "invalid_request")),
                        description=str(body.get("error_description", "")), style_nonce=nonce)
    return _html(page, result.status if result.status >= 400 else 400, nonce)


def _login_page(
    services: Services, grant: Any, params: dict[str, str], status: int = 200,
    error: str | None = None, username: str = "",
) -> Response[str]:
    cookie, form_token = FormTokens(services.keyring.index_secret).issue()
    nonce = secrets.token_urlsafe(12)
    client_id = grant.request.client.get_client_id()
    scope = grant.request.scope or ""
    page = render_login(
        client_name=_CLIENT_NAMES.get(client_id, client_id), scopes=scope.split(), params=params,
        form_token=form_token, style_nonce=nonce, error=error, username=username,
    )
    response = _html(page, status, nonce)
    response.set_cookie(
        FORM_COOKIE, cookie, path="/oauth/authorize", max_age=FORM_TTL_SECONDS, httponly=True,
        samesite="strict", secure=services.settings.issuer.startswith("https://"),
    )
    return response


def _first(values: dict[str, list[str]], key: str) -> str:
    found = values.get(key) or [""]
    return found[0]


@get("/oauth/authorize", tags=["oauth"], summary="Authorization endpoint: the login page")
async def authorize_page(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[Any]:
    """Validate the authorization request (PKCE S256 required) and show the login form."""
    # Async with an explicit worker thread: Litestar double-wraps a sync_to_thread handler
    # that shares its path with another method's handler.
    query = parse_qs(request.url.query or "", keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    uri = _public_uri(services, request)
    return await anyio.to_thread.run_sync(_authorize_page, services, uri, dict(request.headers), query)


def _authorize_page(services: Services, uri: str, headers: dict[str, str],
                    query: dict[str, list[str]]) -> Response[Any]:
    oauth_request = LitestarOAuth2Request("GET", uri, headers, query=query)
    server = CreditGateAuthorizationServer(services)
    grant, error = _validate(server, oauth_request)
    if error is not None:
        return _error_page(error, services)
    params = {k: _first(query, k) for k in AUTHORIZATION_PARAMS}
    return _login_page(services, grant, params)


@post("/oauth/authorize", tags=["oauth"], summary="Authorization endpoint: sign in and get a code",
      status_code=302)
async def authorize_submit(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[Any]:
    """Check the login form, authenticate the person, then redirect with a code (or an error)."""
    try:
        form = _parse_form(request.headers.get("content-type"), await request.body())
    except _BadForm as exc:
        nonce = secrets.token_urlsafe(12)
        return _html(render_error(error="invalid_request", description=exc.description, style_nonce=nonce),
                     400, nonce)
    cookie = request.cookies.get(FORM_COOKIE)
    address = client_address(request.scope, services.settings.trusted_proxies)  # type: ignore[arg-type]
    return await anyio.to_thread.run_sync(_authorize_submit, services, _public_uri(services, request),
                                          dict(request.headers), form, cookie, address)


def _authorize_submit(
    services: Services, uri: str, headers: dict[str, str], form: dict[str, list[str]], cookie: str | None,
    address: str,
) -> Response[Any]:
    oauth_form = {k: v for k, v in form.items() if k in AUTHORIZATION_PARAMS}
    oauth_request = LitestarOAuth2Request("POST", uri, headers, form=oauth_form)
    server = CreditGateAuthorizationServer(services)
    grant, error = _validate(server, oauth_request)
    if error is not None:
        return _error_page(error, services)
    params = {k: _first(oauth_form, k) for k in AUTHORIZATION_PARAMS}
    if not FormTokens(services.keyring.index_secret).check(cookie, _first(form, "form_token")):
        return _login_page(services, grant, params, status=400,
                           error="登录表单已过期，请重新输入。The sign-in form expired; please sign in again.")
    if _first(form, "action") == "cancel":
        result = server.create_authorization_response(oauth_request, grant_user=None, grant=grant)
        return _finish(result, services)
    username = _first(form, "username")
    outcome = authenticate_password(services, username, _first(form, "password"), client_address=address)
    if outcome.account is None:
        # Echo the handle back only if it is one: never whatever else was typed (an ID number, say).
        handle = username.strip().lower()
        return _login_page(services, grant, params, error=LOGIN_FAILED_MESSAGE,
                           username=handle if valid_username(handle) else "")
    account = outcome.account
    if not granted_scope(Role(account.role), oauth_request.payload.scope):
        denied = AccessDeniedError(
            description="This account cannot be granted the requested scope.",
            redirect_uri=grant.redirect_uri, state=oauth_request.payload.state,
        )
        return _finish(server.handle_error_response(oauth_request, denied), services)
    result = server.create_authorization_response(oauth_request, grant_user=account, grant=grant)
    return _finish(result, services)


def _finish(result: OAuthResponse, services: Services) -> Response[Any]:
    response = _error_page(result, services) if result.status != 302 else _to_response(result, services)
    response.delete_cookie(FORM_COOKIE, path="/oauth/authorize")
    return response


# --- discovery ----------------------------------------------------------------------------------


@get("/.well-known/oauth-authorization-server", tags=["oauth"], summary="RFC 8414 metadata",
     sync_to_thread=False)
def metadata(services: NamedDependency[Services]) -> dict[str, Any]:
    """Authorization server metadata."""
    issuer = services.settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/oauth/authorize",
        "token_endpoint": issuer + "/oauth/token",
        "jwks_uri": issuer + "/oauth/jwks",
        "scopes_supported": list(ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "authorization_response_iss_parameter_supported": True,
    }


@get("/oauth/jwks", tags=["oauth"], summary="Public signing keys (tokens, documents, audit checkpoints)",
     sync_to_thread=False)
def jwks(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    """The JWK set of the service's Ed25519 verification keys."""
    return Response(published_jwks(services.keyring), headers={"Cache-Control": "public, max-age=300"})


ROUTES = [token_endpoint, authorize_page, authorize_submit, metadata, jwks]
