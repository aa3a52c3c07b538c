"""Signed documents: the hand-made compact JWS is what a standard JOSE library accepts."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from joserfc import jws

from service.crypto.keys import load_keyring
from service.documents.signing import sign_document, verify_document
from service.identity.jose import StrictJWSRegistry, kid_for, okp_key

REPORT = {"type": "credit-report", "query_id": "q1", "subject": {"name": "王*"}, "records": [{"n": 1}], "uses": 3}


def _segment(token: str, n: int) -> dict[str, object]:
    part = token.split(".")[n]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def test_a_signed_document_verifies_with_joserfc_and_names_its_key(key_file: Path) -> None:
    keyring = load_keyring(key_file)
    public = keyring.signing_key("documents").public_key()
    token = sign_document(keyring, REPORT, "credit-report+jwt")

    obj = jws.deserialize_compact(token, okp_key(public), registry=StrictJWSRegistry(["EdDSA"]))
    assert json.loads(obj.payload) == REPORT
    assert obj.headers() == {"alg": "EdDSA", "kid": kid_for(public), "typ": "credit-report+jwt"}
    assert verify_document(token, public, "credit-report+jwt") == REPORT
    # No padding anywhere: compact serialization uses unpadded base64url.
    assert "=" not in token and token.count(".") == 2


def test_each_document_type_gets_its_own_header(key_file: Path) -> None:
    keyring = load_keyring(key_file)
    public = keyring.signing_key("documents").public_key()
    report = sign_document(keyring, REPORT, "credit-report+jwt")
    receipt = sign_document(keyring, REPORT, "consent-receipt+jwt")
    assert _segment(report, 0)["typ"] == "credit-report+jwt"
    assert _segment(receipt, 0)["typ"] == "consent-receipt+jwt"
    with pytest.raises(ValueError, match="unexpected document type"):
        verify_document(receipt, public, "credit-report+jwt")


def test_a_changed_payload_or_another_key_does_not_verify(key_file: Path, tmp_path: Path) -> None:
    from service.crypto.keys import init_key_file

    keyring = load_keyring(key_file)
    token = sign_document(keyring, REPORT, "credit-report+jwt")
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**REPORT, "uses": 1}).encode()).rstrip(b"=").decode()
    public = keyring.signing_key("documents").public_key()
    with pytest.raises(ValueError, match="does not verify"):
        verify_document(f"{header}.{forged}.{signature}", public, "credit-report+jwt")

    other_file = tmp_path / "other" / "keys.json"
    init_key_file(other_file)
    other = load_keyring(other_file).signing_key("documents").public_key()
    with pytest.raises(ValueError, match="does not verify"):
        verify_document(token, other, "credit-report+jwt")
