"""Signed documents the service hands out (consent receipts, reports): compact JWS, EdDSA.

Anyone can verify them with the ``documents`` key published at ``/oauth/jwks``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws

from service.crypto.keys import Keyring
from service.identity.jose import StrictJWSRegistry, kid_for, okp_key

_REGISTRY = StrictJWSRegistry(["EdDSA"])
_CANONICAL = msgspec.json.Encoder(order="sorted", enc_hook=str)
# Per signing key and document type: the encoded protected header, whose key
# thumbprint costs more to derive than the signature itself. Keys live as long as
# the process's keyring.
_HEADERS: dict[tuple[int, str], tuple[Ed25519PrivateKey, bytes]] = {}


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _encoded_header(key: Ed25519PrivateKey, typ: str) -> bytes:
    cached = _HEADERS.get((id(key), typ))
    if cached is None or cached[0] is not key:
        header = canonical_json({"alg": "EdDSA", "kid": kid_for(key), "typ": typ})
        cached = (key, _b64(header))
        _HEADERS[(id(key), typ)] = cached
    return cached[1]


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
    # RFC 7515 compact serialization, made here rather than by joserfc: a report is
    # signed on every query, and the library's generic path (header validation, key
    # lookup, JSON and base64 helpers) costs twice the Ed25519 signature. Verification
    # stays with joserfc (verify_document), and the tests verify what this makes.
    key = keyring.signing_key("documents")
    signing_input = _encoded_header(key, typ) + b"." + _b64(canonical_json(payload))
    return (signing_input + b"." + _b64(key.sign(signing_input))).decode("ascii")


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
