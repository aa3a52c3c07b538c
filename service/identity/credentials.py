"""Machine-client credentials: ids, secrets and the public keys of private_key_jwt clients.

A client secret is 32 random bytes, shown once, and stored as SHA-256: with
256 bits of entropy nothing can be guessed, so a slow password hash would only
cost CPU on every token request. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey

CLIENT_ID_PREFIX = "cg_"
_SECRET_BYTES = 32
# Members that only a private key has (RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ALLOWED_KEYS = {("OKP", "Ed25519"), ("EC", "P-256")}
_KEY_MEMBERS = {"kty", "crv", "x", "y", "kid", "use", "alg", "key_ops"}


class InvalidClientKey(ValueError):
    """A submitted JWK is unusable; ``code`` is a stable problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def new_client_id() -> str:
    """A random, URL-safe client identifier (not a secret)."""
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(18)


def new_client_secret() -> str:
    """A new 256-bit secret, URL-safe base64 without padding."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def hash_client_secret(secret: str) -> bytes:
    """SHA-256 of the secret, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def check_client_secret(stored: bytes | None, presented: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    if not stored:
        return False
    return hmac.compare_digest(bytes(stored), hash_client_secret(presented))


def validate_public_jwk(jwk: Any) -> dict[str, Any]:
    """Check a client's public signing key and return the JWK set to store.

    Accepts one public key: Ed25519 (``OKP``) for ``EdDSA`` or P-256 (``EC``)
    for ``ES256``. Private key material is refused outright (and never stored).
    The stored key always carries a ``kid`` (its thumbprint unless given) and
    ``alg``, so that an assertion is checked with exactly one algorithm.
    """
    if not isinstance(jwk, dict):
        raise InvalidClientKey("invalid_jwk", "jwk must be a JSON object")
    if _PRIVATE_MEMBERS & set(jwk):
        raise InvalidClientKey("private_key_material", "submit the public key only; private key members were found")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if (kty, crv) not in _ALLOWED_KEYS:
        raise InvalidClientKey("unsupported_key_type", "the key must be an Ed25519 (OKP) or P-256 (EC) public key")
    unknown = set(jwk) - _KEY_MEMBERS
    if unknown:
        raise InvalidClientKey("invalid_jwk", f"unsupported JWK members: {', '.join(sorted(unknown))}")
    alg = "EdDSA" if kty == "OKP" else "ES256"
    if jwk.get("alg") not in (None, alg):
        raise InvalidClientKey("invalid_jwk", f"alg must be {alg} for this key type")
    if jwk.get("use") not in (None, "sig"):
        raise InvalidClientKey("invalid_jwk", "use must be 'sig'")
    try:
        key = (OKPKey if kty == "OKP" else ECKey).import_key({k: v for k, v in jwk.items() if k != "key_ops"})
    except (JoseError, ValueError, TypeError):
        raise InvalidClientKey("invalid_jwk", "the key could not be imported") from None
    if key.is_private:
        raise InvalidClientKey("private_key_material", "submit the public key only")
    public = key.as_dict(private=False)
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 1 <= len(kid) <= 128):
        raise InvalidClientKey("invalid_jwk", "kid must be a string of 1 to 128 characters")
    public.update({"kid": kid or key.thumbprint(), "alg": alg, "use": "sig"})
    return {"keys": [public]}


def load_client_keys(jwks: dict[str, Any]) -> KeySet:
    """The stored JWK set as a joserfc key set."""
    return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
