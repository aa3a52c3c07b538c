"""Signed checkpoints: payload format, signing, verification, JSON form, key loading."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit.checkpoint import (
    Checkpoint,
    checkpoint_from_json,
    checkpoint_to_json,
    key_id_for,
    load_public_key,
    public_key_bytes,
    sign_checkpoint,
    signing_payload,
    verify_checkpoint,
)
from audit.merkle import EMPTY_ROOT
from tests.audit.logkit import ATTACKER_KEY, LOG_KEY

ROOT = hashlib.sha256(b"some root").digest()
TS = "2026-11-21T22:16:06.123456Z"


def test_key_id_is_first_8_bytes_of_sha256_of_raw_key() -> None:
    public = LOG_KEY.public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert public_key_bytes(public) == raw
    assert key_id_for(public) == hashlib.sha256(raw).digest()[:8].hex()
    assert len(key_id_for(public)) == 16
    assert key_id_for(public) != key_id_for(ATTACKER_KEY.public_key())


def test_signing_payload_is_the_documented_text() -> None:
    payload = signing_payload(1000, EMPTY_ROOT, TS, "0123456789abcdef")
    assert payload == (
        b"creditgate-audit-checkpoint/v1\n"
        b"0123456789abcdef\n"
        b"1000\n"
        b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        b"2026-11-21T22:16:06.123456Z\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        (-1, ROOT, TS, "0123456789abcdef"),
        (True, ROOT, TS, "0123456789abcdef"),
        (1, ROOT[:31], TS, "0123456789abcdef"),
        (1, ROOT, TS + "\n1", "0123456789abcdef"),
        (1, ROOT, TS, "0123456789abcdef\n"),
        (1, ROOT, TS, "0123456789ABCDEF"),
        (1, ROOT, "yesterday", "0123456789abcdef"),
    ],
)
def test_signing_payload_rejects_malformed_fields(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        signing_payload(*args)


def test_sign_and_verify() -> None:
    cp = sign_checkpoint(LOG_KEY, 42, ROOT, TS)
    assert cp.tree_size == 42 and cp.root_hash == ROOT and cp.ts == TS
    assert cp.key_id == key_id_for(LOG_KEY.public_key())
    assert len(cp.signature) == 64
    assert verify_checkpoint(cp, LOG_KEY.public_key())
    # An auditor re-implementing the payload can check the signature directly.
    LOG_KEY.public_key().verify(cp.signature, signing_payload(42, ROOT, TS, cp.key_id))


def test_verification_fails_with_another_key() -> None:
    cp = sign_checkpoint(LOG_KEY, 42, ROOT, TS)
    assert not verify_checkpoint(cp, ATTACKER_KEY.public_key())
    # Even when the forger also claims the right key id.
    forged = sign_checkpoint(ATTACKER_KEY, 42, ROOT, TS)
    forged = dataclasses.replace(
        forged,
        key_id=cp.key_id,
        signature=ATTACKER_KEY.sign(signing_payload(42, ROOT, TS, cp.key_id)),
    )
    assert not verify_checkpoint(forged, LOG_KEY.public_key())


@pytest.mark.parametrize(
    "changes",
    [
        {"tree_size": 43},
        {"tree_size": 0},
        {"root_hash": hashlib.sha256(b"other root").digest()},
        {"ts": "2026-11-21T22:16:06.123457Z"},
        {"key_id": "0000000000000000"},
        {"signature": bytes(64)},
        {"signature": b"short"},
        {"root_hash": b"short"},
        {"tree_size": -1},
        {"ts": "not a time"},
    ],
)
def test_verification_fails_when_a_field_changes(changes: dict[str, Any]) -> None:
    cp = sign_checkpoint(LOG_KEY, 42, ROOT, TS)
    assert not verify_checkpoint(dataclasses.replace(cp, **changes), LOG_KEY.public_key())


def test_every_single_bit_of_the_signature_matters() -> None:
    cp = sign_checkpoint(LOG_KEY, 7, ROOT, TS)
    for bit in range(0, 512, 37):
        sig = bytearray(cp.signature)
        sig[bit // 8] ^= 1 << (bit % 8)
        assert not verify_checkpoint(dataclasses.replace(cp, signature=bytes(sig)), LOG_KEY.public_key())


def test_json_round_trip() -> None:
    cp = sign_checkpoint(LOG_KEY, 42, ROOT, TS)
    data = checkpoint_to_json(cp)
    assert data == {
        "tree_size": 42,
        "root_hash": base64.b64encode(ROOT).decode(),
        "ts": TS,
        "key_id": cp.key_id,
        "signature": base64.b64encode(cp.signature).decode(),
    }
    back = checkpoint_from_json({**data, "type": "checkpoint"})
    assert back == cp
    assert verify_checkpoint(back, LOG_KEY.public_key())


@pytest.mark.parametrize(
    "changes",
    [
        {"tree_size": "42"},
        {"tree_size": True},
        {"tree_size": -5},
        {"tree_size": None},
        {"root_hash": "not base64!"},
        {"root_hash": base64.b64encode(b"x" * 31).decode()},
        {"signature": base64.b64encode(b"x" * 63).decode()},
        {"signature": 12},
        {"ts": 5},
        {"key_id": None},
    ],
)
def test_json_parsing_rejects_bad_fields(changes: dict[str, Any]) -> None:
    data = checkpoint_to_json(sign_checkpoint(LOG_KEY, 42, ROOT, TS))
    data.update(changes)
    with pytest.raises(ValueError):
        checkpoint_from_json(data)


def test_json_parsing_requires_every_field() -> None:
    data = checkpoint_to_json(sign_checkpoint(LOG_KEY, 42, ROOT, TS))
    for name in data:
        partial = {k: v for k, v in data.items() if k != name}
        with pytest.raises(ValueError):
            checkpoint_from_json(partial)


def test_load_public_key_from_base64_and_pem() -> None:
    public = LOG_KEY.public_key()
    raw_b64 = base64.b64encode(public_key_bytes(public)) + b"\n"
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert public_key_bytes(load_public_key(raw_b64)) == public_key_bytes(public)
    assert public_key_bytes(load_public_key(pem)) == public_key_bytes(public)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not base64 at all!",
        base64.b64encode(b"x" * 31),
        X25519PrivateKey.from_private_bytes(bytes(range(32)))
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n",
    ],
    ids=["empty", "text", "31-bytes", "x25519-pem", "bad-pem"],
)
def test_load_public_key_rejects_other_data(data: bytes) -> None:
    with pytest.raises(ValueError):
        load_public_key(data)


def test_checkpoint_is_immutable() -> None:
    cp = Checkpoint(1, ROOT, TS, "0123456789abcdef", bytes(64))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cp.tree_size = 2  # type: ignore[misc]
