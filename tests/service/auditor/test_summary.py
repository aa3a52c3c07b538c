"""GET /v1/audit/reports/summary: counts per institution and purpose, consents from the
real flows, institutions flagged against their own history, JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from audit import format_ts
from policies import Role
from policies.access import CHINA_STANDARD_TIME
from service.audit_log.bulk import bulk_append
from service.audit_log.writer import AuditEvent, AuditWriter
from service.db.types import china_today
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.auditor.conftest import Desk
from tests.service.identity.tokens import issue_token_for
from tests.service.query.conftest import Scene, scene  # noqa: F401  (the fixture)

A, B, C, D = (f"{n:032x}" for n in (0xA, 0xB, 0xC, 0xD))


def _noon(day: date) -> str:
    return format_ts(datetime.combine(day, time(12), CHINA_STANDARD_TIME).astimezone(UTC))


def _queries(institution: str, n: int, denied: int = 0, reason: str = "consent_revoked") -> list[AuditEvent]:
    return [AuditEvent(actor_type="institution", actor_id=institution, action="query",
                       decision="deny" if i < denied else "allow", reason=reason if i < denied else "consent",
                       subject=f"{i % 50:032x}", purpose="loan_approval") for i in range(n)]


@pytest.fixture
def history(services: Services) -> date:
    """Forty days of queries by four institutions, written before anything else (entry
    times never go backwards); returns the last day, on which A and B jump."""
    today = china_today()
    clock = [""]
    writer = AuditWriter(services.engine, services.keyring.signing_key("audit"), clock=lambda: clock[0])
    for back in range(40, 1, -1):
        day = today - timedelta(days=back)
        clock[0] = _noon(day)
        bulk_append(writer, [*_queries(A, 30), *_queries(B, 40, denied=2), *_queries(C, 25)])
    last = today - timedelta(days=1)
    clock[0] = _noon(last)
    bulk_append(writer, [*_queries(A, 150), *_queries(B, 40, denied=20, reason="consent_expired"),
                         *_queries(C, 27), *_queries(D, 100)])
    return last


@pytest.fixture
def seat(history: date, services: Services, http: TestClient[Any]) -> Desk:
    return Desk(http, services, issue_token_for(services, Role.AUDITOR))


def _rows(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["institution_id"]: row for row in summary["institutions"]}


def test_counts_and_flags_against_each_institutions_history(seat: Desk, history: date) -> None:
    day = history.isoformat()
    resp = seat.get("/v1/audit/reports/summary", {"from": day, "to": day})
    assert resp.status_code == 200, resp.text
    summary = resp.json()
    rows = _rows(summary)
    assert set(rows) == {A, B, C, D}
    assert (rows[A]["queries_allowed"], rows[A]["queries_denied"], rows[A]["distinct_subjects"]) == (150, 0, 50)
    assert (rows[B]["queries_allowed"], rows[B]["denied_by_reason"]) == (20, {"consent_expired": 20})
    assert rows[C]["queries_allowed"] == 27 and rows[D]["queries_allowed"] == 100
    assert all(r["purpose"] == "loan_approval" for r in rows.values())
    flags = {(f["institution_id"], f["measure"]): f for f in summary["flagged"]}
    assert set(flags) == {(A, "daily_queries"), (B, "denial_rate")}
    assert flags[(A, "daily_queries")]["day"] == day
    assert (flags[(A, "daily_queries")]["value"], flags[(A, "daily_queries")]["median"]) == (150, 30)
    assert flags[(B, "denial_rate")]["value"] == 0.5 and flags[(B, "denial_rate")]["median"] == 0.05
    assert all(f["robust_z"] >= 3.5 and f["history_days"] == 30 for f in flags.values())
    assert summary["method"]["z_threshold"] == 3.5
    # Steady days are never flagged; the range then sums every day.
    earlier = seat.get("/v1/audit/reports/summary",
                       {"from": (history - timedelta(days=30)).isoformat(),
                        "to": (history - timedelta(days=1)).isoformat()}).json()
    assert earlier["flagged"] == []
    assert _rows(earlier)[B]["denied_by_reason"] == {"consent_revoked": 60}
    record = seat.recorded("audit.report.summary")[-1]
    assert record["decision"] == "allow"
    assert record["details"]["format"] == "json" and record["details"]["rows"] == 3


def test_csv_has_the_same_numbers(seat: Desk, history: date) -> None:
    day = history.isoformat()
    params = {"from": day, "to": day}
    as_json = seat.get("/v1/audit/reports/summary", params).json()
    resp = seat.get("/v1/audit/reports/summary", params, Accept="text/csv")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(resp.text)))
    counts = {(r["institution_id"], r["measure"]): int(r["value"]) for r in lines if r["kind"] == "count"}
    for row in as_json["institutions"]:
        assert counts[(row["institution_id"], "queries_allowed")] == row["queries_allowed"]
        for reason, n in row["denied_by_reason"].items():
            assert counts[(row["institution_id"], f"denied:{reason}")] == n
    flags = {(r["institution_id"], r["measure"], r["day"]) for r in lines if r["kind"] == "flag"}
    assert flags == {(f["institution_id"], f["measure"], f["day"]) for f in as_json["flagged"]}
    assert seat.recorded("audit.report.summary")[-1]["details"]["format"] == "csv"
    preferred = seat.get("/v1/audit/reports/summary", params, Accept="text/csv;q=0.5, application/json")
    assert preferred.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("params", "accept", "status", "code"), [
    ({"from": "2026-12-01"}, None, 400, "missing_parameter"),
    ({"from": "2026-12-01", "to": "2026-13-01"}, None, 400, "invalid_parameter"),
    ({"from": "2026-12-02", "to": "2026-12-01"}, None, 400, "invalid_range"),
    ({"from": "2025-01-01", "to": "2026-12-01"}, None, 400, "invalid_range"),
    ({"from": "2026-12-01", "to": "2026-12-01", "format": "csv"}, None, 400, "unknown_parameter"),
    ({"from": "2026-12-01", "to": "2026-12-01"}, "application/xml", 406, "not_acceptable"),
])
def test_bad_summary_requests(desk: Desk, params: dict[str, str], accept: str | None, status: int,
                              code: str) -> None:
    headers = {"Accept": accept} if accept else {}
    assert_problem(desk.get("/v1/audit/reports/summary", params, **headers), status, code)
    assert desk.recorded("audit.report.summary")[-1]["reason"] == code


def test_consents_and_queries_of_the_real_flows(scene: Scene) -> None:  # noqa: F811
    auditor = issue_token_for(scene.services, Role.AUDITOR)
    desk = Desk(scene.http, scene.services, auditor)
    consent = scene.consent()
    assert scene.query(consent).status_code == 200
    revoked = scene.http.post(f"/v1/me/consents/{consent}/revoke", headers=scene.person.headers)
    assert revoked.status_code == 200
    assert scene.query(consent).status_code == 403
    today = china_today().isoformat()
    rows = _rows(desk.get("/v1/audit/reports/summary", {"from": today, "to": today}).json())
    assert scene.bank.institution is not None
    bank = rows[scene.bank.institution.id]
    assert bank == {"institution_id": scene.bank.institution.id, "purpose": "loan_approval", "queries_allowed": 1,
                    "queries_denied": 1, "denied_by_reason": {"consent_revoked": 1}, "distinct_subjects": 1,
                    "consents_granted": 1, "consents_revoked": 1}
