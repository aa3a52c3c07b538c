"""RFC 8414 metadata and the published JWK set."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jwt
from joserfc.jwk import KeySet

from audit import key_id_for
from service.identity.jose import StrictJWSRegistry, kid_for
from service.runtime import Services


def test_metadata(client: Any, services: Services) -> None:
    resp = client.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200
    meta = resp.json()
    issuer = services.settings.issuer
    assert meta["issuer"] == issuer == "http://127.0.0.1:8000"
    assert meta["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert meta["token_endpoint"] == issuer + "/oauth/token"
    assert meta["jwks_uri"] == issuer + "/oauth/jwks"
    assert meta["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "private_key_jwt", "none"}
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["EdDSA", "ES256"]
    assert {"me", "admin", "audit:read", "query", "records:write"} <= set(meta["scopes_supported"])
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_jwks_publishes_the_three_verification_keys(client: Any, services: Services) -> None:
    resp = client.get("/oauth/jwks")
    assert resp.status_code == 200
    keys = resp.json()["keys"]
    assert len(keys) == 3
    for key in keys:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["use"] == "sig" and key["alg"] == "EdDSA"
        assert "d" not in key and key["kid"]
    by_kid = {k["kid"]: k for k in keys}
    ring = services.keyring
    tokens_kid = kid_for(ring.signing_key("tokens"))
    documents_kid = kid_for(ring.signing_key("documents"))
    audit_public = ring.signing_key("audit").public_key()
    assert set(by_kid) == {tokens_kid, documents_kid, key_id_for(audit_public)}
    # Each published key is the public half of the key the service really uses.
    import base64

    def raw(jwk: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def raw_of(name: str) -> bytes:
        public: Ed25519PublicKey = ring.signing_key(name).public_key()
        return public.public_bytes(Encoding.Raw, PublicFormat.Raw)

    assert raw(by_kid[tokens_kid]) == raw_of("tokens")
    assert raw(by_kid[documents_kid]) == raw_of("documents")
    assert raw(by_kid[key_id_for(audit_public)]) == raw_of("audit")


def test_a_token_verifies_against_the_published_key(client: Any, services: Services) -> None:
    issued = services.tokens.issue(subject="someone", client_id="cg_x", role="auditor", scope="audit:read")
    keyset = KeySet.import_key_set(client.get("/oauth/jwks").json())
    decoded = jwt.decode(issued.access_token, keyset, registry=StrictJWSRegistry(["EdDSA"]))
    assert decoded.header["kid"] == kid_for(services.keyring.signing_key("tokens"))
    assert decoded.claims["sub"] == "someone"
