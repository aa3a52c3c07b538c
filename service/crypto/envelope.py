"""AES-256-GCM envelopes with a self-describing header.

Layout: ``version (1 byte) | key-id length (1 byte) | key id | nonce (12) | ciphertext+tag``.
The key id lets several key versions live side by side; associated data binds
each ciphertext to its place so that moving it elsewhere makes it undecryptable.

Only :mod:`service.crypto.vault` (personal fields) and
:mod:`service.crypto.rotation` (rewrapping data keys) may call :func:`open_envelope`;
a test enforces that.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_V1 = 1
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext failed to open: wrong key, wrong place, tampered or malformed."""


def seal_envelope(key: bytes, key_id: str, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key`` with a fresh random 96-bit nonce."""
    kid = key_id.encode("ascii")
    if len(kid) > 255:
        raise ValueError("key id too long")
    nonce = os.urandom(NONCE_BYTES)
    header = bytes((FORMAT_V1, len(kid))) + kid
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + associated_data)


def envelope_key_id(blob: bytes) -> str:
    """The key id named in an envelope's header."""
    if len(blob) < 2 or blob[0] != FORMAT_V1:
        raise DecryptionError("unknown ciphertext format")
    end = 2 + blob[1]
    if len(blob) < end + NONCE_BYTES + 16:
        raise DecryptionError("truncated ciphertext")
    return blob[2:end].decode("ascii", errors="replace")


def open_envelope(key: bytes | AESGCM, blob: bytes, associated_data: bytes, key_id: str | None = None) -> bytes:
    """Decrypt and authenticate an envelope; the header is authenticated too.
    ``key`` may be an :class:`AESGCM` made once for opening many fields; with
    ``key_id``, an envelope naming another key is refused before any decryption."""
    named = envelope_key_id(blob)
    if key_id is not None and named != key_id:
        raise DecryptionError("ciphertext was made with another data key")
    end = 2 + blob[1]
    header, nonce, body = blob[:end], blob[end : end + NONCE_BYTES], blob[end + NONCE_BYTES :]
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    try:
        return aead.decrypt(nonce, body, header + associated_data)
    except InvalidTag:
        raise DecryptionError("ciphertext failed authentication") from None


def field_associated_data(table: str, column: str, row_id: str, key_version: str) -> bytes:
    """``table|column|row id|key version``: where a field ciphertext belongs."""
    return f"{table}|{column}|{row_id}|{key_version}".encode()


def wrap_associated_data(dek_id: str, kek_id: str, table: str = "subject_keys") -> bytes:
    """Binds a wrapped data key to its table, row and KEK version."""
    return field_associated_data(table, "wrapped_key", dek_id, kek_id)
