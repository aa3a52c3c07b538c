"""AES-GCM envelopes: round trip, header, and every way a ciphertext must fail to open."""

from __future__ import annotations

import os

import pytest

from service.crypto.envelope import (
    DecryptionError,
    envelope_key_id,
    field_associated_data,
    open_envelope,
    seal_envelope,
)

KEY = os.urandom(32)
AD = field_associated_data("subjects", "name_ct", "row1", "dek1")


def test_round_trip_and_header() -> None:
    blob = seal_envelope(KEY, "dek1", "张三丰".encode(), AD)
    assert blob[0] == 1
    assert envelope_key_id(blob) == "dek1"
    assert open_envelope(KEY, blob, AD).decode() == "张三丰"
    assert "张三丰".encode() not in blob


def test_nonces_are_fresh() -> None:
    a = seal_envelope(KEY, "dek1", b"same", AD)
    b = seal_envelope(KEY, "dek1", b"same", AD)
    assert a != b


@pytest.mark.parametrize(
    "other_ad",
    [
        field_associated_data("subjects", "name_ct", "row2", "dek1"),  # another row
        field_associated_data("subjects", "address_ct", "row1", "dek1"),  # another column
        field_associated_data("records", "name_ct", "row1", "dek1"),  # another table
        field_associated_data("subjects", "name_ct", "row1", "dek2"),  # another key version
    ],
)
def test_moved_ciphertext_fails(other_ad: bytes) -> None:
    blob = seal_envelope(KEY, "dek1", b"secret", AD)
    with pytest.raises(DecryptionError):
        open_envelope(KEY, blob, other_ad)


def test_any_flipped_byte_fails() -> None:
    blob = seal_envelope(KEY, "dek1", b"secret value", AD)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(DecryptionError):
            open_envelope(KEY, bytes(tampered), AD)


def test_wrong_key_and_truncation_fail() -> None:
    blob = seal_envelope(KEY, "dek1", b"secret", AD)
    with pytest.raises(DecryptionError):
        open_envelope(os.urandom(32), blob, AD)
    with pytest.raises(DecryptionError):
        open_envelope(KEY, blob[:20], AD)
    with pytest.raises(DecryptionError):
        open_envelope(KEY, b"\x02" + blob[1:], AD)
