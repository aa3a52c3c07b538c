"""The OAuth 2.0 authorization server, on authlib's framework-neutral core.

authlib ships Flask and Django integrations only. This module is the Litestar
one: request wrappers (:class:`LitestarOAuth2Request`), the client model, the
grants and :class:`CreditGateAuthorizationServer`, whose hooks
(``query_client``, ``save_token``, ``create_oauth2_request``,
``create_json_request``, ``handle_response``, ``send_signal``) do what authlib's
Flask integration does, against our tables. The HTTP routes are in
:mod:`service.identity.routes`; everything here is synchronous and runs in a
worker thread.

Grants:

- ``client_credentials`` for institutions, providers and auditors' tools,
  authenticated with ``client_secret_basic`` or ``private_key_jwt`` (RFC 7523:
  ``EdDSA`` or ``ES256`` only; ``aud`` = token endpoint or issuer; ``exp``
  required and at most 5 minutes ahead; ``jti`` required and single-use);
- ``authorization_code`` for people, through the public client
  ``creditgate-web``, with PKCE ``S256`` required (``plain`` refused), exact
  redirect URI match and single-use codes living 60 seconds.

No refresh tokens: access tokens live at most 15 minutes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, ClientCredentialsGrant
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError
from sqlalchemy import CursorResult, Result, delete, select, update
from sqlalchemy.exc import IntegrityError

from policies import Role
from service.audit_log.writer import AuditEvent
from service.db.engine import IMMEDIATE
from service.db.types import utcnow
from service.http.context import current_request_id
from service.identity.credentials import check_client_secret, load_client_keys
from service.identity.jose import StrictJWSRegistry
from service.identity.models import (
    ACTIVE,
    OWNER_AUDITOR_TOOL,
    OWNER_INSTITUTION,
    OWNER_PROVIDER,
    PRIVATE_KEY_JWT,
    SECRET_BASIC,
    Account,
    AuthorizationCode,
    Institution,
    OAuthClient,
    Provider,
    UsedJti,
)
from service.identity.policy import (
    ACCESS_TOKEN_MAX_TTL,
    ALL_SCOPES,
    ASSERTION_ALGORITHMS,
    ASSERTION_MAX_LIFETIME,
    AUTHORIZATION_CODE_TTL,
    CLOCK_LEEWAY,
    WEB_CLIENT_ID,
    scopes_for,
)
from service.identity.revocation import CODE_REPLAYED, revoke_token
from service.observability.logging import get_logger
from service.runtime import Services

log = get_logger("creditgate.oauth")

_ASSERTION_REGISTRY = StrictJWSRegistry(ASSERTION_ALGORITHMS)
_OWNER_ROLE = {OWNER_INSTITUTION: Role.INSTITUTION, OWNER_PROVIDER: Role.PROVIDER, OWNER_AUDITOR_TOOL: Role.AUDITOR}
PEOPLE_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(
    s for role in (Role.SUBJECT, Role.GUARDIAN, Role.AUDITOR, Role.OPERATOR) for s in scopes_for(role)
))
# Stands in the code's token_jti when the code was replayed before its token was linked.
REPLAYED_MARK = "(replayed)"
#: The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
AUTHORIZATION_PARAMS = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
)


# --- requests -----------------------------------------------------------------------------------


class LitestarPayload(OAuth2Payload):
    """Request parameters as authlib wants them: first values and all values."""

    def __init__(self, params: Mapping[str, Sequence[str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list, {k: list(v) for k, v in params.items()})
        self._data = {k: v[0] for k, v in self._datalist.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class LitestarOAuth2Request(OAuth2Request):
    """An authlib request built from a Litestar request's parts.

    ``uri`` is the public URL (issuer + path + query), which is what authlib's
    transport check and any audience comparison must see behind a proxy. The
    payload is either the query (authorization GET) or the form body (token
    endpoint, login form POST), never both.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        *,
        query: Mapping[str, Sequence[str]] | None = None,
        form: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = {k: v[0] for k, v in (query or {}).items() if v}
        self._form = {k: v[0] for k, v in (form or {}).items() if v}
        self.payload = LitestarPayload(form if form is not None else (query or {}))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class LitestarJsonPayload(JsonPayload):
    """A parsed JSON body."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = dict(body)

    @property
    def data(self) -> dict[str, Any]:
        return self._body


class LitestarJsonRequest(JsonRequest):
    """An authlib JSON request (used by JSON endpoints such as RFC 7591 registration)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> None:
        super().__init__(method, uri, headers)
        self.payload = LitestarJsonPayload(body)


@dataclass(frozen=True)
class OAuthResponse:
    """What authlib answers: status, body (dict or str) and headers."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive)."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


# --- clients ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Client(ClientMixin):
    """An OAuth client as authlib sees it (a machine client or ``creditgate-web``)."""

    client_id: str
    auth_method: str
    role: Role | None
    scopes: tuple[str, ...]
    grant_types: frozenset[str]
    owner_type: str | None = None
    owner_id: str | None = None
    secret_hash: bytes | None = field(default=None, repr=False)
    jwks: dict[str, Any] | None = None
    redirect_uris: tuple[str, ...] = ()

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Always require redirect_uri explicitly: nothing is implied.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = scope_to_list(scope) or []
        if any(s not in self.scopes for s in requested):
            return None
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison (RFC 6749 §3.1.2.3, OAuth 2.1): no prefix or pattern matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.auth_method == SECRET_BASIC and check_client_secret(self.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def web_client(services: Services) -> Client:
    """The people's public web client, configured by settings (not stored)."""
    uris = services.settings.web_redirect_uris or (services.settings.issuer + "/app/callback",)
    return Client(
        client_id=WEB_CLIENT_ID, auth_method="none", role=None, scopes=PEOPLE_SCOPES,
        grant_types=frozenset({"authorization_code"}), redirect_uris=tuple(uris),
    )


def load_client(services: Services, client_id: str) -> Client | None:
    """An active client whose owner is active, or None."""
    if client_id == WEB_CLIENT_ID:
        return web_client(services)
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        return None
    with services.session() as session:
        row = session.get(OAuthClient, client_id)
        if row is None or row.status != ACTIVE or row.owner_type not in _OWNER_ROLE:
            return None
        if row.owner_type == OWNER_INSTITUTION:
            owner: Any = session.get(Institution, row.owner_id)
        elif row.owner_type == OWNER_PROVIDER:
            owner = session.get(Provider, row.owner_id)
        else:
            owner = session.get(Account, row.owner_id)
            if owner is not None and owner.role != Role.AUDITOR.value:
                owner = None
        if owner is None or owner.status != ACTIVE:
            return None
        return Client(
            client_id=row.client_id, auth_method=row.auth_method, role=_OWNER_ROLE[row.owner_type],
            scopes=tuple(row.scopes.split()), grant_types=frozenset({"client_credentials"}),
            owner_type=row.owner_type, owner_id=row.owner_id,
            secret_hash=row.secret_hash, jwks=row.jwks,
        )


# --- RFC 7523 client assertions ---------------------------------------------------------------


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication with strict checks and jti replay protection."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self, services: Services) -> None:
        super().__init__(validate_jti=True, leeway=CLOCK_LEEWAY)
        self._services = services

    def get_audiences(self) -> list[str]:
        tokens = self._services.tokens
        return [tokens.token_endpoint, tokens.issuer]

    def resolve_client_public_key(self, client: Client) -> Any:
        if client.auth_method != PRIVATE_KEY_JWT or not client.jwks:
            raise InvalidClientError(description="The client does not authenticate with private_key_jwt.")
        return load_client_keys(client.jwks)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, registry=_ASSERTION_REGISTRY)
        except JoseError:
            raise InvalidClientError(description="The client assertion signature is not valid.") from None
        claims = dict(token.claims)
        self.verify_claims(claims)
        return claims

    def verify_claims(self, claims: Any) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True},
            sub={"essential": True},
            aud={"essential": True, "values": self.get_audiences()},
            exp={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidClientError(description="The client assertion has expired.") from None
        except JoseError as exc:
            claim = getattr(exc, "claim", None) or "claims"
            raise InvalidClientError(description=f"The client assertion is not valid ({claim}).") from None
        if claims["sub"] != claims["iss"]:
            raise InvalidClientError(description="Issuer and subject of the client assertion must match.")
        now = registry.now
        if claims["exp"] > now + ASSERTION_MAX_LIFETIME + self.leeway:
            raise InvalidClientError(description="The client assertion expires too far in the future.")
        jti = claims["jti"]
        if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
            raise InvalidClientError(description="The client assertion jti is not valid.")
        if not self.validate_jti(claims, jti):
            raise InvalidClientError(description="The client assertion was already used (jti replay).")

    def validate_jti(self, claims: Mapping[str, Any], jti: str) -> bool:
        """Record (client, jti) until the assertion's expiry; False if it was seen before."""
        now = utcnow()
        expires = now + timedelta(seconds=int(claims["exp"]) - int(now.timestamp()) + self.leeway)
        try:
            with self._services.session() as session, session.begin():
                session.connection(execution_options=IMMEDIATE)
                # Forget assertions that could no longer be accepted anyway.
                session.execute(delete(UsedJti).where(UsedJti.expires_at < now))  # type: ignore[arg-type]
                session.add(UsedJti(client_id=claims["sub"], jti=jti, expires_at=expires))
        except IntegrityError:
            return False
        return True


# --- grants -------------------------------------------------------------------------------------


class ClientCredentials(ClientCredentialsGrant):
    """``client_credentials`` for machine clients; the scope is at most the role's."""

    TOKEN_ENDPOINT_AUTH_METHODS = [SECRET_BASIC, PRIVATE_KEY_JWT]  # noqa: RUF012 (authlib's API)

    def validate_requested_scope(self) -> None:
        super().validate_requested_scope()
        client: Client = self.request.client
        if client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError(description="The client may not request this scope.")


@dataclass(frozen=True)
class IssuedCode(AuthorizationCodeMixin):
    """A consumed authorization code, as authlib's grant needs it."""

    account_id: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    code_hash: bytes = field(default=b"", repr=False)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


def granted_scope(role: Role, requested: str | None) -> str:
    """What a person of ``role`` gets: their role's scope, narrowed to what was asked."""
    mine = scopes_for(role)
    asked = scope_to_list(requested) or []
    if not asked:
        return " ".join(mine)
    return " ".join(s for s in dict.fromkeys(asked) if s in mine)


def code_hash(code: str) -> bytes:
    """How a code is stored: SHA-256."""
    return hashlib.sha256(code.encode("utf-8")).digest()


class AuthorizationCodeWithPKCE(AuthorizationCodeGrant):
    """``authorization_code`` for the public web client; see :class:`StrictPKCE`."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (authlib's API)
    RESPONSE_TYPES = {"code"}  # noqa: RUF012 (authlib's API)

    @property
    def services(self) -> Services:
        return self.server.services  # type: ignore[no-any-return]

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        account: Account = request.user
        data = request.payload.data
        with self.services.session() as session, session.begin():
            session.connection(execution_options=IMMEDIATE)
            now = utcnow()
            session.execute(
                delete(AuthorizationCode).where(
                    AuthorizationCode.expires_at < now - timedelta(hours=1)  # type: ignore[arg-type]
                )
            )
            session.add(
                AuthorizationCode(
                    code_hash=code_hash(code),
                    client_id=request.client.get_client_id(),
                    account_id=account.id,
                    redirect_uri=data["redirect_uri"],
                    scope=granted_scope(Role(account.role), request.payload.scope),
                    code_challenge=data["code_challenge"],
                    code_challenge_method=data["code_challenge_method"],
                    expires_at=now + AUTHORIZATION_CODE_TTL,
                )
            )

    def query_authorization_code(self, code: str, client: Client) -> IssuedCode | None:
        """Consume the code: a conditional update makes it single-use even under races."""
        if not isinstance(code, str) or len(code) > 256:
            return None
        digest = code_hash(code)
        now = utcnow()
        table = AuthorizationCode.__table__  # type: ignore[attr-defined]
        with self.services.session() as session, session.begin():
            session.connection(execution_options=IMMEDIATE)
            consumed = _rows_changed(session.execute(
                update(table)
                .where(table.c.code_hash == digest, table.c.client_id == client.client_id,
                       table.c.used_at.is_(None), table.c.expires_at > now)
                .values(used_at=now)
            ))
            row = session.execute(select(table).where(table.c.code_hash == digest)).one_or_none()
        if consumed != 1 or row is None:
            if row is not None and row.used_at is not None:
                self._replayed(digest, row.account_id, client.client_id)
            return None
        return IssuedCode(
            account_id=row.account_id, client_id=row.client_id, redirect_uri=row.redirect_uri,
            scope=row.scope, code_challenge=row.code_challenge, code_challenge_method=row.code_challenge_method,
            code_hash=digest,
        )

    def _replayed(self, digest: bytes, account_id: str, client_id: str) -> None:
        """RFC 6749 §4.1.2: a code presented twice may have been stolen, so the token
        issued for it is revoked (or, if that exchange has not stored its token yet,
        the code is marked so that the exchange revokes its own token)."""
        table = AuthorizationCode.__table__  # type: ignore[attr-defined]
        with self.services.write_session() as session, session.begin():
            marked = _rows_changed(session.execute(
                update(table).where(table.c.code_hash == digest, table.c.token_jti.is_(None))
                .values(token_jti=REPLAYED_MARK)
            ))
            jti = None if marked else session.execute(
                select(table.c.token_jti).where(table.c.code_hash == digest)
            ).scalar_one_or_none()
            if jti is not None and jti != REPLAYED_MARK:
                revoke_token(session, jti, utcnow() + timedelta(seconds=ACCESS_TOKEN_MAX_TTL), CODE_REPLAYED)
            self.services.writer.append_in(session.connection(), AuditEvent(
                actor_type="account", actor_id=account_id, action="auth.code_replay", decision="deny",
                reason="code_reused", request_id=current_request_id(),
                details={"client_id": client_id, "token_revoked": bool(jti is not None and jti != REPLAYED_MARK)},
            ))

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        # Already marked used when it was consumed; the row stays until it is purged,
        # so that a replay is recognised as one.
        return None

    def authenticate_user(self, authorization_code: IssuedCode) -> Account | None:
        with self.services.session() as session:
            account = session.get(Account, authorization_code.account_id)
        # Failed logins elsewhere never matter here: they slow down their own source only.
        if account is None or account.status != ACTIVE:
            return None
        return account


class StrictPKCE(CodeChallenge):
    """PKCE with ``S256`` only, required at both endpoints (``plain`` is refused)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's API)

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256; plain is not accepted.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        if grant.request.authorization_code.code_challenge_method != "S256":
            raise InvalidGrantError("The authorization code was not bound with S256.")
        super().validate_code_verifier(grant, result)


# --- the server ---------------------------------------------------------------------------------


class CreditGateAuthorizationServer(AuthorizationServer):
    """authlib's AuthorizationServer wired to our tables, keys and audit log."""

    def __init__(self, services: Services) -> None:
        super().__init__(scopes_supported=list(ALL_SCOPES))
        self.services = services
        self.register_token_generator("default", self._generate_token)
        self.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT(services))
        self.register_grant(ClientCredentials)
        self.register_grant(AuthorizationCodeWithPKCE, [StrictPKCE()])

    # hooks authlib requires of an integration

    def query_client(self, client_id: str) -> Client | None:
        return load_client(self.services, client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Tokens are self-contained JWTs, so nothing is stored but the link from an
        authorization code to its token (for revocation on replay); the issue is audited."""
        claims = json.loads(jws.extract_compact(token["access_token"].encode("ascii")).payload)
        client: Client = request.client
        if request.user is not None:
            actor_type, actor_id = request.user.role, request.user.id
        else:
            actor_type = client.role.value if client.role else "client"
            actor_id = client.owner_id or client.client_id
        event = AuditEvent(
            actor_type=actor_type, actor_id=actor_id, action="auth.token",
            decision="allow", reason=request.payload.grant_type or "token", request_id=current_request_id(),
            details={"client_id": client.client_id, "jti": claims["jti"], "scope": claims["scope"],
                     "auth_method": request.auth_method or "none"},
        )
        code: IssuedCode | None = getattr(request, "authorization_code", None)
        if code is None:
            self.services.writer.append(event)
            return
        table = AuthorizationCode.__table__  # type: ignore[attr-defined]
        with self.services.write_session() as session, session.begin():
            linked = _rows_changed(session.execute(
                update(table).where(table.c.code_hash == code.code_hash, table.c.token_jti.is_(None))
                .values(token_jti=claims["jti"])
            ))
            if not linked:
                # The code was replayed while this exchange ran: its token is revoked at once.
                revoke_token(session, claims["jti"], utcnow() + timedelta(seconds=ACCESS_TOKEN_MAX_TTL),
                             CODE_REPLAYED)
            self.services.writer.append_in(session.connection(), event)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        raise TypeError("build a LitestarOAuth2Request in the route and pass it in")

    def create_json_request(self, request: Any) -> JsonRequest:
        if isinstance(request, JsonRequest):
            return request
        raise TypeError("build a LitestarJsonRequest in the route and pass it in")

    def handle_response(self, status: int, body: Any, headers: Iterable[tuple[str, str]]) -> OAuthResponse:
        return OAuthResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        if name == "after_authenticate_client":
            client = kwargs.get("client")
            log.info("oauth_client_authenticated", client_id=getattr(client, "client_id", None))

    # token generation

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Account | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if user is not None:
            role = Role(user.role)
            granted = scope if scope else " ".join(scopes_for(role))
            issued = self.services.tokens.issue(subject=user.id, client_id=client.client_id, role=role.value,
                                                scope=granted)
        else:
            if client.role is None:
                raise InvalidClientError(description="This client cannot use client credentials.")
            granted = client.get_allowed_scope(scope) or " ".join(client.scopes)
            issued = self.services.tokens.issue(subject=client.client_id, client_id=client.client_id,
                                                role=client.role.value, scope=granted)
        return issued.response()


def _rows_changed(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (its result is always a cursor result)."""
    return cast("CursorResult[Any]", result).rowcount
