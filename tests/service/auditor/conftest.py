"""An auditor over HTTP, and helpers to read what the log recorded about the calls."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar.testing import TestClient

from audit import Checkpoint, checkpoint_from_json, decode_entry, verify_checkpoint
from policies import Role
from service.runtime import Services
from tests.service.identity.tokens import Caller, issue_token_for


@dataclass
class Desk:
    """An auditor's seat: the HTTP client, the auditor, the service behind them."""

    http: TestClient[Any]
    services: Services
    auditor: Caller
    _key: Ed25519PublicKey | None = None

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.http.get(path, params=params, headers={**self.auditor.headers, **headers})

    def entries(self, **params: Any) -> dict[str, Any]:
        resp = self.get("/v1/audit/entries", params=params)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def checkpoint_key(self) -> Ed25519PublicKey:
        """The checkpoint key as anyone finds it: in /oauth/jwks, by its kid (looked up once)."""
        if self._key is not None:
            return self._key
        latest = self.get("/v1/audit/checkpoints/latest").json()
        jwks = self.http.get("/oauth/jwks").json()
        (jwk,) = [k for k in jwks["keys"] if k.get("kid") == latest["key_id"]]
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        self._key = Ed25519PublicKey.from_public_bytes(raw)
        return self._key

    def signed(self, cp_json: dict[str, Any]) -> Checkpoint:
        cp = checkpoint_from_json(cp_json)
        assert verify_checkpoint(cp, self.checkpoint_key())
        return cp

    def recorded(self, action: str) -> list[dict[str, Any]]:
        """Every entry of ``action`` (read straight from the table)."""
        with self.services.reads() as db:
            rows = db.all("SELECT body FROM audit_entries WHERE action = ? ORDER BY seq", (action,))
        return [json.loads(bytes(body)) for (body,) in rows]


@pytest.fixture
def desk(services: Services, http: TestClient[Any]) -> Desk:
    return Desk(http, services, issue_token_for(services, Role.AUDITOR))


def body_fields(body: str) -> dict[str, Any]:
    """The fields of a canonical entry body."""
    entry = decode_entry(body.encode("utf-8"), require_canonical=True)
    return {"seq": entry.seq, "subject": entry.subject, "action": entry.action}
