"""Refusals of identified callers are audited; unauthenticated noise is logged and counted.

Over HTTP on both databases: cross-tenant 404s (an institution reading another's
request or consent, a person acting on somebody else's), role-guard 403s and
other refusals of a verified caller each leave one audit entry naming the
caller, the route and the reason; a refusal the access gate already audited is
not written twice; 401s leave no entry but a log line with the client address
and a count in /metrics.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from policies import Role
from service.audit_log.models import AuditEntryRow
from service.observability.logging import configure_logging
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import Caller, issue_token_for

ASK = {"purpose": "loan_approval", "categories": ["identity"], "valid_days": 30, "max_queries": 3,
       "reason": "贷款审批"}


def _entries(services: Services) -> list[dict[str, Any]]:
    with services.session() as s:
        bodies = s.execute(select(AuditEntryRow.body).order_by(AuditEntryRow.seq)).scalars()  # type: ignore[call-overload]
        return [json.loads(bytes(b)) for b in bodies]


def _refusals_since(services: Services, seq: int) -> list[dict[str, Any]]:
    return [e for e in _entries(services)[seq:] if e["action"] == "request.refused"]


def _ask(http: TestClient[Any], bank: Caller, person: Caller) -> str:
    resp = http.post("/v1/consent-requests", headers=bank.headers, json={**ASK, "id_number": person.id_number})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


@pytest.fixture
def logs_restored() -> Iterator[None]:
    yield
    configure_logging("INFO", sys.__stderr__)


def test_cross_tenant_reads_are_refused_and_audited(http: TestClient[Any], services: Services) -> None:
    bank, rival = (issue_token_for(services, Role.INSTITUTION) for _ in range(2))
    person, stranger = (issue_token_for(services, Role.SUBJECT) for _ in range(2))
    request_id = _ask(http, bank, person)
    grant = http.post(f"/v1/me/consent-requests/{request_id}/grant", headers=person.headers)
    consent_id = grant.json()["consent"]["id"]
    mark = len(_entries(services))
    attempts = [
        (rival, "GET", f"/v1/consent-requests/{request_id}", "/v1/consent-requests/{request_id}", "not_held"),
        (rival, "GET", f"/v1/consents/{consent_id}", "/v1/consents/{consent_id}", "not_held"),
        (rival, "GET", f"/v1/consents/{uuid.uuid4().hex}", "/v1/consents/{consent_id}", "unknown_id"),
        (stranger, "POST", f"/v1/me/consents/{consent_id}/revoke", "/v1/me/consents/{consent_id}/revoke",
         "not_held"),
    ]
    for caller, method, path, route, reason in attempts:
        assert_problem(http.request(method, path, headers=caller.headers), 404, "not_found")
        [entry] = _refusals_since(services, mark)
        assert (entry["actor_type"], entry["actor_id"], entry["decision"], entry["reason"]) == (
            caller.role.value, caller.actor_id, "deny", reason)
        assert entry["details"] == {"method": method, "route": route, "status": 404, "code": "not_found",
                                    "client_id": caller.client_id}
        mark = len(_entries(services))
    # The answer itself never told the rival which ids exist.
    assert http.get(f"/v1/consents/{consent_id}", headers=rival.headers).json()["detail"] == "no such resource"


def test_a_person_acting_on_someone_elses_request_is_refused_and_audited(http: TestClient[Any],
                                                                         services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    person, stranger = (issue_token_for(services, Role.SUBJECT) for _ in range(2))
    request_id = _ask(http, bank, person)
    for action in ("grant", "reject"):
        mark = len(_entries(services))
        assert_problem(http.post(f"/v1/me/consent-requests/{request_id}/{action}", headers=stranger.headers),
                       404, "not_found")
        [entry] = _refusals_since(services, mark)
        assert (entry["actor_id"], entry["reason"]) == (stranger.actor_id, "not_held")
        assert entry["details"]["route"] == f"/v1/me/consent-requests/{{request_id}}/{action}"
    # The request is untouched: the person can still decide it.
    assert http.post(f"/v1/me/consent-requests/{request_id}/reject", headers=person.headers).status_code == 200


def test_role_and_scope_refusals_are_audited(http: TestClient[Any], services: Services) -> None:
    person = issue_token_for(services, Role.SUBJECT)
    narrow = issue_token_for(services, Role.INSTITUTION, scope="consent:read")
    mark = len(_entries(services))
    assert_problem(http.post("/v1/admin/institutions", headers=person.headers, json={}), 403, "forbidden_role")
    assert_problem(http.post("/v1/consent-requests", headers=narrow.headers, json={}), 403, "insufficient_scope")
    entries = _refusals_since(services, mark)
    assert [(e["actor_id"], e["reason"], e["details"]["route"]) for e in entries] == [
        (person.actor_id, "forbidden_role", "/v1/admin/institutions"),
        (narrow.actor_id, "insufficient_scope", "/v1/consent-requests"),
    ]


def test_a_refusal_the_gate_audited_is_not_written_twice(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    mark = len(_entries(services))
    denied = http.post("/v1/queries", headers=bank.headers,
                       json={"consent_id": uuid.uuid4().hex, "purpose": "loan_approval"})
    body = assert_problem(denied, 403, "consent_not_held")
    new = _entries(services)[mark:]
    assert [(e["action"], e["decision"], e["seq"]) for e in new] == [("query", "deny", body["audit_seq"])]


def test_unauthenticated_refusals_are_logged_and_counted_not_audited(
    http: TestClient[Any], services: Services, capsys: pytest.CaptureFixture[str], logs_restored: None,
) -> None:
    configure_logging("INFO")  # onto this test's captured stderr
    operator = issue_token_for(services, Role.OPERATOR)
    line = 'creditgate_unauthenticated_refusals_total{code="token_invalid",route="/v1/me/consents"} '

    def counted() -> float:
        text = http.get("/metrics", headers=operator.headers).text
        return next((float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)), 0.0)

    before, mark = counted(), len(_entries(services))
    for garbage in ("Bearer not-a-token", "Bearer eyJhbGciOiJub25lIn0.e30."):
        assert_problem(http.get("/v1/me/consents", headers={"Authorization": garbage}), 401, "token_invalid")
    assert_problem(http.get("/v1/me/consents"), 401, "unauthorized")
    assert counted() - before == 2
    assert _entries(services)[mark:] == []
    logged = [json.loads(row) for row in capsys.readouterr().err.splitlines() if row.startswith("{")]
    refusals = [row for row in logged if row.get("event") == "unauthenticated_refusal"]
    assert [(r["code"], r["route"], r["client"]) for r in refusals] == [
        ("token_invalid", "/v1/me/consents", "testclient")] * 2 + [("unauthorized", "/v1/me/consents", "testclient")]
