"""New machine clients: credentials issued once, stored only as a hash or a public key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from policies import Role
from service.admin.errors import InvalidRequest
from service.identity.credentials import (
    InvalidClientKey,
    hash_client_secret,
    new_client_id,
    new_client_secret,
    validate_public_jwk,
)
from service.identity.models import ACTIVE, CLIENT_AUTH_METHODS, SECRET_BASIC, OAuthClient
from service.identity.policy import scopes_for


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A new client's credentials; ``client_secret`` exists only in this object."""

    client_id: str
    auth_method: str
    client_secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For a response: the secret, when there is one, is shown this once."""
        out: dict[str, Any] = {"client_id": self.client_id, "auth_method": self.auth_method}
        if self.client_secret is not None:
            out["client_secret"] = self.client_secret
        return out


def _credentials(auth_method: str, jwk: Any) -> tuple[bytes | None, dict[str, Any] | None, str | None]:
    """(secret hash, stored JWK set, plaintext secret) for a new client."""
    if auth_method not in CLIENT_AUTH_METHODS:
        raise InvalidRequest("unsupported_auth_method", f"auth_method must be one of {', '.join(CLIENT_AUTH_METHODS)}")
    if auth_method == SECRET_BASIC:
        if jwk is not None:
            raise InvalidRequest("jwk_not_expected", "a public key is only used with private_key_jwt")
        secret = new_client_secret()
        return hash_client_secret(secret), None, secret
    if jwk is None:
        raise InvalidRequest("jwk_required", "private_key_jwt needs the client's public key as a JWK")
    try:
        return None, validate_public_jwk(jwk), None
    except InvalidClientKey as exc:
        raise InvalidRequest(exc.code, str(exc)) from None


def new_client(session: Session, owner_type: str, owner_id: str, role: Role, auth_method: str,
               jwk: Any) -> IssuedCredentials:
    """Add a client for an owner in ``session``; its secret (if any) is returned once."""
    secret_hash, jwks, secret = _credentials(auth_method, jwk)
    client = OAuthClient(
        client_id=new_client_id(), owner_type=owner_type, owner_id=owner_id, auth_method=auth_method,
        secret_hash=secret_hash, jwks=jwks, scopes=" ".join(scopes_for(role)), status=ACTIVE,
    )
    session.add(client)
    return IssuedCredentials(client.client_id, auth_method, secret)
