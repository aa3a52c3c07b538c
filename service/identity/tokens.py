"""RFC 9068 access tokens: signed here with the keyring's ``tokens`` Ed25519 key,
verified here for the resource server.

Header ``{"typ": "at+jwt", "alg": "EdDSA", "kid": <thumbprint>}``; claims
``iss``, ``sub``, ``aud`` (``creditgate-api``), ``exp``, ``iat``, ``nbf``, ``jti``,
``client_id``, ``scope`` and ``role``. For client-credentials tokens ``sub`` is
the client id (RFC 9068 §2.2); for people it is the account id.

Verification accepts only ``EdDSA`` signatures by the current tokens key: a
token with ``alg: none``, an HMAC algorithm, another key or another ``kid`` is
invalid, whatever its claims say.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError

from service.config import Settings
from service.crypto.keys import Keyring
from service.identity.jose import StrictJWSRegistry, kid_for, okp_key
from service.identity.policy import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_MAX_TTL,
    CLOCK_LEEWAY,
    TOKEN_ALGORITHM,
    TOKEN_ROLES,
)

TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, RFC 9068)
_ACCEPTED_TYP = {"at+jwt", "application/at+jwt"}
_REGISTRY = StrictJWSRegistry([TOKEN_ALGORITHM])
_MAX_TOKEN_BYTES = 4096
# Verified tokens kept per process. A token is at most 15 minutes old, so this
# holds every live token of a few thousand clients; the oldest go first.
_VERIFIED_CACHE_SIZE = 8192


class TokenError(Exception):
    """The bearer token is unusable; ``code`` is ``token_invalid`` or ``token_expired``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed access token and what it says."""

    access_token: str
    expires_in: int
    scope: str
    claims: Mapping[str, Any]

    def response(self) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response body."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


class TokenService:
    """Issues and verifies access tokens for one issuer."""

    def __init__(self, settings: Settings, keyring: Keyring) -> None:
        self.issuer = settings.issuer
        self.audience = ACCESS_TOKEN_AUDIENCE
        self.ttl = min(settings.access_token_ttl, ACCESS_TOKEN_MAX_TTL)
        self._private = okp_key(keyring.signing_key("tokens"))
        self._public = okp_key(keyring.signing_key("tokens").public_key())
        self.kid = kid_for(keyring.signing_key("tokens"))
        # token -> claims of tokens whose signature and claims verified. The signature
        # covers every byte of the token, so the same string verifies the same way
        # again; only the clock-dependent checks are repeated on a hit. The caller's
        # live state (suspension, lock-out) is never cached: that is the resource
        # server's per-request database check.
        self._verified: dict[str, dict[str, Any]] = {}

    @property
    def token_endpoint(self) -> str:
        """The token endpoint URL (also an accepted client-assertion audience)."""
        return self.issuer + "/oauth/token"

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        role: str,
        scope: str,
        ttl: int | None = None,
        now: int | None = None,
    ) -> IssuedToken:
        """Sign a token for ``subject`` (account id, or client id for machine clients)."""
        if role not in TOKEN_ROLES:
            raise ValueError(f"no tokens for role {role!r}")
        lifetime = self.ttl if ttl is None else ttl
        if not 0 < lifetime <= ACCESS_TOKEN_MAX_TTL:
            raise ValueError("token lifetime must be between 1 second and 15 minutes")
        issued = int(time.time()) if now is None else now
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "exp": issued + lifetime,
            "iat": issued,
            "nbf": issued,
            "jti": uuid.uuid4().hex,
            "client_id": client_id,
            "scope": scope,
            "role": role,
        }
        header = {"typ": TOKEN_TYPE, "alg": TOKEN_ALGORITHM, "kid": self.kid}
        token = jwt.encode(header, claims, self._private, registry=_REGISTRY)
        return IssuedToken(access_token=token, expires_in=lifetime, scope=scope, claims=claims)

    def verify(self, token: str, *, now: int | None = None) -> dict[str, Any]:
        """The claims of a valid token; raise :class:`TokenError` otherwise."""
        cached = self._verified.get(token)
        if cached is not None:
            return _still_valid(cached, int(time.time()) if now is None else now)
        claims = self._verify_fully(token, now)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            # Dicts keep insertion order: drop the oldest eighth in one go.
            for stale in list(self._verified)[: _VERIFIED_CACHE_SIZE // 8]:
                self._verified.pop(stale, None)
        self._verified[token] = claims
        return dict(claims)

    def _verify_fully(self, token: str, now: int | None) -> dict[str, Any]:
        if not token or len(token) > _MAX_TOKEN_BYTES:
            raise TokenError("token_invalid", "malformed")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
            header = compact.headers()
        except (JoseError, ValueError, UnicodeError):
            raise TokenError("token_invalid", "malformed") from None
        if header.get("alg") != TOKEN_ALGORITHM:
            raise TokenError("token_invalid", "algorithm not accepted")
        if header.get("typ") not in _ACCEPTED_TYP:
            raise TokenError("token_invalid", "not an access token")
        if header.get("kid") != self.kid:
            raise TokenError("token_invalid", "unknown signing key")
        try:
            decoded = jwt.decode(token, self._public, registry=_REGISTRY)
        except JoseError:
            raise TokenError("token_invalid", "bad signature") from None
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
            role={"essential": True, "values": [str(role) for role in sorted(TOKEN_ROLES)]},
            scope={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise TokenError("token_expired", "expired") from None
        except JoseError:
            raise TokenError("token_invalid", "claims") from None
        # Defence in depth: never honour a token that claims a longer life than we issue.
        if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
            raise TokenError("token_invalid", "claims")
        if claims["exp"] - claims["iat"] > ACCESS_TOKEN_MAX_TTL:
            raise TokenError("token_invalid", "lifetime")
        for name in ("sub", "client_id", "scope", "jti"):
            if not isinstance(claims[name], str):
                raise TokenError("token_invalid", "claims")
        return claims


def _still_valid(claims: dict[str, Any], now: int) -> dict[str, Any]:
    """The clock checks of a verified token, as joserfc makes them, at ``now``."""
    if claims["exp"] <= now - CLOCK_LEEWAY:
        raise TokenError("token_expired", "expired")
    if claims.get("nbf", 0) > now + CLOCK_LEEWAY or claims["iat"] > now + CLOCK_LEEWAY:
        raise TokenError("token_invalid", "claims")
    return dict(claims)
