"""JOSE helpers on joserfc: an algorithm allow-list, key ids, published key sets.

Access tokens, receipts, reports and audit checkpoints are all signed with
Ed25519 keys from the keyring. Their JWS ``alg`` is ``EdDSA`` (RFC 8037), the
identifier every JOSE library verifies today. joserfc warns that RFC 9864
deprecates ``EdDSA`` in favour of the fully specified ``Ed25519``; the two name
the same signature over Ed25519 keys, and the only curve we accept is Ed25519,
so the warning's concern (an ambiguous curve) does not apply here. The
registry below therefore allows exactly the algorithms asked for and skips
that warning; it never allows ``none`` or an HMAC algorithm.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

from audit import key_id_for
from service.crypto.keys import Keyring

_NEVER = frozenset({"none", "HS256", "HS384", "HS512"})


class StrictJWSRegistry(JWSRegistry):
    """A JWS registry that accepts only the given algorithms, without exceptions."""

    def __init__(self, algorithms: Iterable[str]) -> None:
        allowed = frozenset(algorithms)
        if allowed & _NEVER or not allowed:
            raise ValueError("refusing to allow 'none' or a symmetric algorithm")
        super().__init__(algorithms=sorted(allowed), strict_check_header=True)
        self._allowed_set = allowed

    def get_alg(self, name: str) -> Any:
        if name not in self._allowed_set or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


def okp_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> OKPKey:
    """A joserfc key for an Ed25519 key from the keyring."""
    return OKPKey.import_key(key)


def kid_for(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The key id we publish for an Ed25519 key: its RFC 7638 JWK thumbprint."""
    return okp_key(key.public_key() if isinstance(key, Ed25519PrivateKey) else key).thumbprint()


def public_jwk(key: Ed25519PrivateKey | Ed25519PublicKey, kid: str | None = None) -> dict[str, Any]:
    """The public JWK of an Ed25519 key, with ``kid``, ``use`` and ``alg``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    jwk = okp_key(public).as_dict(private=False)
    return {
        "kty": jwk["kty"],
        "crv": jwk["crv"],
        "x": jwk["x"],
        "kid": kid or kid_for(public),
        "use": "sig",
        "alg": "EdDSA",
    }


def published_jwks(keyring: Keyring) -> dict[str, Any]:
    """The service's public keys: access tokens, signed documents (receipts and
    reports) and audit checkpoints.

    Tokens and documents use the JWK thumbprint as ``kid``. The audit key's
    ``kid`` is the checkpoint ``key_id`` (``audit.key_id_for``), so a verifier can
    match a checkpoint to its key directly.
    """
    audit_key = keyring.signing_key("audit").public_key()
    keys = [
        public_jwk(keyring.signing_key("tokens")),
        public_jwk(keyring.signing_key("documents")),
        public_jwk(audit_key, kid=key_id_for(audit_key)),
    ]
    return {"keys": keys}
