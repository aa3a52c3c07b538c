"""Keyed blind index for looking people up by ID number without storing it."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INDEX_BYTES = 16


class BlindIndex:
    """HMAC-SHA256 over the normalized value, truncated to 16 bytes.

    The HMAC key is derived with HKDF from the separate index secret, one key per
    kind of value, so an index of ID numbers cannot be matched against another.
    """

    def __init__(self, index_secret: bytes, kind: str = "resident_id") -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"creditgate/blind-index",
            info=f"creditgate/blind-index/v1/{kind}".encode(),
        ).derive(index_secret)

    def compute(self, normalized: str) -> bytes:
        """The index of an already normalized value (uppercase X for ID numbers)."""
        return hmac.new(self._key, normalized.encode("utf-8"), hashlib.sha256).digest()[:INDEX_BYTES]
