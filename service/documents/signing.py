"""Signed documents the service hands out (consent receipts, reports): compact JWS, EdDSA.

Anyone can verify them with the ``documents`` key published at ``/oauth/jwks``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.jwk import OKPKey

from service.crypto.keys import Keyring
from service.identity.jose import StrictJWSRegistry, kid_for, okp_key

_REGISTRY = StrictJWSRegistry(["EdDSA"])
_CANONICAL = msgspec.json.Encoder(order="sorted", enc_hook=str)
# Per signing key: its joserfc form and thumbprint, which cost more to derive than
# the signature itself. Keys live as long as the process's keyring.
_SIGNERS: dict[int, tuple[Ed25519PrivateKey, OKPKey, str]] = {}


def _signer(key: Ed25519PrivateKey) -> tuple[OKPKey, str]:
    cached = _SIGNERS.get(id(key))
    if cached is None or cached[0] is not key:
        cached = (key, okp_key(key), kid_for(key))
        _SIGNERS[id(key)] = cached
    return cached[1], cached[2]


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the bytes that hashes and signatures cover.

    For the JSON values the service signs this is byte for byte
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    (tests/service/documents check it), made by msgspec at a tenth of the cost.
    """
    return _CANONICAL.encode(value)


def sha256_hex(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def sign_document(keyring: Keyring, payload: dict[str, Any], typ: str) -> str:
    """A compact JWS over ``payload`` with the documents key; ``typ`` names the document kind."""
    jwk, kid = _signer(keyring.signing_key("documents"))
    header = {"alg": "EdDSA", "kid": kid, "typ": typ}
    return jws.serialize_compact(header, canonical_json(payload), jwk, registry=_REGISTRY)


def verify_document(token: str, public_key: Ed25519PublicKey, typ: str) -> dict[str, Any]:
    """Verify a document signed by :func:`sign_document`; raises ValueError when it does not verify."""
    try:
        obj = jws.deserialize_compact(token, okp_key(public_key), registry=_REGISTRY)
    except Exception as exc:
        raise ValueError("document signature does not verify") from exc
    if obj.headers().get("typ") != typ:
        raise ValueError("unexpected document type")
    payload: dict[str, Any] = json.loads(obj.payload)
    return payload
