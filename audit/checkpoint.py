"""Signed checkpoints: a tree size and root hash, signed with Ed25519.

Signed payload (auditors re-implement this, so it is fixed and documented):
the UTF-8 text of five lines, each terminated by a single ``\\n``::

    creditgate-audit-checkpoint/v1
    <key_id>
    <tree_size in decimal, no leading zeros>
    <root_hash in standard base64 with padding>
    <ts>

``key_id`` is the first 8 bytes, in lowercase hex, of SHA-256 over the raw
32-byte Ed25519 public key (:func:`key_id_for`); ``ts`` is the checkpoint time
as RFC 3339 UTC with microseconds and ``Z``. The Ed25519 signature (64 bytes)
is over exactly these bytes. Example payload::

    creditgate-audit-checkpoint/v1
    9f86d081884c7d65
    1000
    47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
    2026-11-21T22:16:06.123456Z

JSON form (HTTP and export): ``{"tree_size": int, "root_hash": base64,
"ts": str, "key_id": str, "signature": base64}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from audit._canonical import TS_PATTERN

__all__ = [
    "CHECKPOINT_HEADER",
    "Checkpoint",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "key_id_for",
    "load_public_key",
    "public_key_bytes",
    "sign_checkpoint",
    "signing_payload",
    "verify_checkpoint",
]

CHECKPOINT_HEADER = b"creditgate-audit-checkpoint/v1\n"
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SIGNATURE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the log had ``tree_size`` entries with ``root_hash``."""

    tree_size: int
    root_hash: bytes
    ts: str
    key_id: str
    signature: bytes


def public_key_bytes(public_key: Ed25519PublicKey) -> bytes:
    """Return the raw 32-byte encoding of an Ed25519 public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM or from base64 of the raw 32 bytes.

    Raises ValueError for anything else, including PEM keys of other types.
    """
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        key = load_pem_public_key(text)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("public key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """Return the key id: hex of the first 8 bytes of SHA-256(raw public key)."""
    return hashlib.sha256(public_key_bytes(public_key)).digest()[:8].hex()


def signing_payload(tree_size: int, root_hash: bytes, ts: str, key_id: str) -> bytes:
    """Return the exact bytes a checkpoint signature covers (see module docs).

    Raises ValueError for a negative or non-int size, a root that is not 32
    bytes, a malformed key id or timestamp; the checks keep a field from
    smuggling in an extra line.
    """
    if type(tree_size) is not int or tree_size < 0:
        raise ValueError("tree_size must be a non-negative int")
    if not isinstance(root_hash, bytes) or len(root_hash) != 32:
        raise ValueError("root_hash must be 32 bytes")
    if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
        raise ValueError("key_id must be 16 lowercase hex characters")
    if not isinstance(ts, str) or TS_PATTERN.fullmatch(ts) is None:
        raise ValueError("ts must look like 2026-11-21T22:16:06.123456Z")
    root_b64 = base64.b64encode(root_hash).decode("ascii")
    return CHECKPOINT_HEADER + f"{key_id}\n{tree_size}\n{root_b64}\n{ts}\n".encode("ascii")


def sign_checkpoint(
    private_key: Ed25519PrivateKey, tree_size: int, root_hash: bytes, ts: str
) -> Checkpoint:
    """Sign a checkpoint for the tree of ``tree_size`` leaves with ``root_hash``."""
    key_id = key_id_for(private_key.public_key())
    payload = signing_payload(tree_size, root_hash, ts, key_id)
    return Checkpoint(
        tree_size=tree_size,
        root_hash=root_hash,
        ts=ts,
        key_id=key_id,
        signature=private_key.sign(payload),
    )


def verify_checkpoint(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Tell whether ``cp`` is validly signed by ``public_key``.

    False also when ``cp.key_id`` does not name ``public_key`` or any field is
    malformed; never raises for bad checkpoint contents.
    """
    if cp.key_id != key_id_for(public_key):
        return False
    if not isinstance(cp.signature, bytes) or len(cp.signature) != _SIGNATURE_SIZE:
        return False
    try:
        payload = signing_payload(cp.tree_size, cp.root_hash, cp.ts, cp.key_id)
        public_key.verify(cp.signature, payload)
    except (ValueError, InvalidSignature):
        return False
    return True


def checkpoint_to_json(cp: Checkpoint) -> dict[str, Any]:
    """Return the JSON-ready form of a checkpoint (bytes as standard base64)."""
    return {
        "tree_size": cp.tree_size,
        "root_hash": base64.b64encode(cp.root_hash).decode("ascii"),
        "ts": cp.ts,
        "key_id": cp.key_id,
        "signature": base64.b64encode(cp.signature).decode("ascii"),
    }


def _b64_field(d: Mapping[str, Any], name: str, size: int) -> bytes:
    value = d.get(name)
    if not isinstance(value, str):
        raise ValueError(f"checkpoint {name} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"checkpoint {name} is not valid base64") from None
    if len(raw) != size:
        raise ValueError(f"checkpoint {name} must decode to {size} bytes")
    return raw


def checkpoint_from_json(d: Mapping[str, Any]) -> Checkpoint:
    """Parse the form produced by :func:`checkpoint_to_json`.

    Raises ValueError on missing or ill-typed fields. Keys it does not know
    (such as an export line's "type") are ignored: the signature does not
    cover them. The signature itself is not checked here.
    """
    if not isinstance(d, Mapping):
        raise ValueError("checkpoint must be a JSON object")
    tree_size = d.get("tree_size")
    if type(tree_size) is not int or tree_size < 0:
        raise ValueError("checkpoint tree_size must be a non-negative integer")
    ts = d.get("ts")
    if not isinstance(ts, str):
        raise ValueError("checkpoint ts must be a string")
    key_id = d.get("key_id")
    if not isinstance(key_id, str):
        raise ValueError("checkpoint key_id must be a string")
    return Checkpoint(
        tree_size=tree_size,
        root_hash=_b64_field(d, "root_hash", 32),
        ts=ts,
        key_id=key_id,
        signature=_b64_field(d, "signature", _SIGNATURE_SIZE),
    )
