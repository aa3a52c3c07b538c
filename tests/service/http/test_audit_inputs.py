"""Nothing a client chooses reaches the append-only audit log unvalidated.

A request id is kept only in a strict format (else the service makes one), a
purpose only when the policy knows it (else a fixed marker), on both databases.
And the log redaction works by field: it never cuts into an id the service
generated, however many digits it happens to hold.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from litestar.testing import TestClient
from sqlalchemy import select

from policies import UNKNOWN_PURPOSE, Role
from service.audit_log.models import AuditEntryRow
from service.observability.redaction import REDACTED, redaction_processor
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for

ID_NUMBER = "510107195703202817"


def _bodies(services: Services) -> list[bytes]:
    with services.session() as s:
        return [bytes(b) for b in s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()]  # type: ignore[call-overload]


def test_client_values_never_reach_an_audit_entry(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    mark = len(_bodies(services))
    for purpose in (ID_NUMBER, "loan_approval"):
        resp = http.post("/v1/queries", headers={**bank.headers, "X-Request-Id": ID_NUMBER},
                         json={"consent_id": uuid.uuid4().hex, "purpose": purpose})
        assert_problem(resp, 403, "consent_not_held")
        assert resp.headers["x-request-id"] != ID_NUMBER
    entries = [json.loads(b) for b in _bodies(services)[mark:]]
    assert [(e["action"], e["purpose"]) for e in entries] == [("query", UNKNOWN_PURPOSE), ("query", "loan_approval")]
    assert all(e["request_id"] and e["request_id"] != ID_NUMBER for e in entries)
    assert not any(ID_NUMBER.encode() in body for body in _bodies(services))


def test_a_well_formed_request_id_is_kept_in_the_audit_entry(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    rid = str(uuid.UUID("3f2c1a4b-5d6e-4f70-8a9b-0c1d2e3f4a5b"))
    http.post("/v1/queries", headers={**bank.headers, "X-Request-Id": rid},
              json={"consent_id": uuid.uuid4().hex, "purpose": "loan_approval"})
    assert json.loads(_bodies(services)[-1])["request_id"] == rid


def test_redaction_never_cuts_into_a_generated_id() -> None:
    generated = "f74f" + "6222021234567890" + "c4a3b2e1d0f9e8d7"  # a uuid4 hex can hold a card-shaped run
    line = redaction_processor(None, "info", {"event": "request", "request_id": generated, "source": generated,
                                              "path": f"/v1/x/{generated}", "note": "card 6222021234567890"})
    assert line["request_id"] == line["source"] == generated
    # Values the caller could have chosen are still scrubbed.
    assert REDACTED in line["path"] and line["note"] == f"card {REDACTED}"
