"""Every error is RFC 9457 problem+json with a stable code; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import post
from litestar.params import JSONBody
from litestar.testing import TestClient
from sqlalchemy import text

from service.db.migrate import head_revision
from service.http.app import create_app
from service.http.problems import ProblemError
from service.runtime import Services


class Echo(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: int


@post("/test/echo", sync_to_thread=False)
def echo(data: JSONBody[Echo]) -> dict[str, Any]:
    return {"count": data.count}


@post("/test/conflict", sync_to_thread=False)
def conflict() -> None:
    raise ProblemError(409, "already_exists", "that resource exists")


@post("/test/crash", sync_to_thread=False)
def crash() -> None:
    raise RuntimeError("boom with 11010519491231002X inside")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    app = create_app(services=services, extra_handlers=[echo, conflict, crash])
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _is_problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["code"] == code and body["status"] == status
    assert body["type"].endswith("/" + code) and body["title"]
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


def test_404_405(client: TestClient[Any]) -> None:
    _is_problem(client.get("/no/such/route"), 404, "not_found")
    body = _is_problem(client.delete("/health"), 405, "method_not_allowed")
    assert "GET" in client.delete("/health").headers.get("allow", "GET")
    assert body["detail"]


def test_validation_errors_name_fields_not_values(client: TestClient[Any]) -> None:
    resp = client.post("/test/echo", json={"name": "张三丰", "count": "11010519491231002X"})
    body = _is_problem(resp, 400, "validation_error")
    assert "11010519491231002X" not in resp.text and "张三丰" not in resp.text
    assert body["errors"] and "count" in body["errors"][0]["message"] + body["errors"][0]["field"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b'{"name": "a", "count": 1, "extra": true}', "validation_error"),  # unknown field
        (b'{"name": "a"}', "validation_error"),  # missing field
        (b'{"name": 5, "count": 1}', "validation_error"),  # wrong type
        (b"[]", "validation_error"),  # wrong shape
        (b"{not json", "malformed_body"),
        (b"", "validation_error"),
    ],
)
def test_bad_bodies_are_400(client: TestClient[Any], payload: bytes, code: str) -> None:
    resp = client.post("/test/echo", content=payload, headers={"content-type": "application/json"})
    _is_problem(resp, 400, code)


def test_oversized_body_is_413(client: TestClient[Any], services: Services) -> None:
    big = b'{"name": "' + b"a" * (services.settings.max_body_bytes + 10) + b'", "count": 1}'
    resp = client.post("/test/echo", content=big, headers={"content-type": "application/json"})
    _is_problem(resp, 413, "payload_too_large")


def test_own_problem_and_unexpected_error(client: TestClient[Any]) -> None:
    _is_problem(client.post("/test/conflict"), 409, "already_exists")
    resp = client.post("/test/crash")
    _is_problem(resp, 500, "internal_error")
    assert "11010519491231002X" not in resp.text and "boom" not in resp.text


def test_request_id_is_echoed_or_generated(client: TestClient[Any]) -> None:
    mine = client.get("/health", headers={"x-request-id": "0F8C3C7E-2D3B-4C1A-9E2A-5B6D7C8E9F01"})
    assert mine.headers["x-request-id"] == "0f8c3c7e-2d3b-4c1a-9e2a-5b6d7c8e9f01"  # a UUID, kept (lowercased)
    assert client.get("/health", headers={"x-request-id": "0f8c3c7e2d3b4c1a9e2a5b6d7c8e9f01"}).headers[
        "x-request-id"] == "0f8c3c7e2d3b4c1a9e2a5b6d7c8e9f01"
    for refused in ("bad id\twith 13800138000", "client-chosen-123", "510107195703202817",
                    # UUID-shaped, but carrying an ID number, a card number or a mobile number
                    "51010719570320281700000000000000", "6222021234567890123400000000000a",
                    "abcdefab-cdef-abcd-efab-a13800138000"):
        answer = client.get("/health", headers={"x-request-id": refused})
        assert answer.headers["x-request-id"] != refused.lower()
        assert len(answer.headers["x-request-id"]) == 32


def test_health_metrics_schema(client: TestClient[Any], services: Services) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok", "schema": head_revision("sqlite://")}
    assert client.get("/health/live").json() == {"status": "ok"}
    metrics = client.get("/metrics", headers=_operator(services))
    assert metrics.status_code == 200
    assert "creditgate_http_requests_total" in metrics.text
    assert client.get("/schema").status_code == 200
    spec = client.get("/schema/openapi.json").json()
    assert "/health" in spec["paths"]


def _count(text: str, method: str, route: str, status: str) -> float:
    line = f'creditgate_http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    found = [float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


def _operator(services: Services) -> dict[str, str]:
    from policies import Role
    from tests.service.identity.tokens import issue_token_for

    return issue_token_for(services, Role.OPERATOR).headers


def test_requests_are_counted_by_route_template_and_invented_methods_as_other(client: TestClient[Any],
                                                                              services: Services) -> None:
    operator = _operator(services)
    before = client.get("/metrics", headers=operator).text
    for _ in range(3):
        client.get("/health/live")
    client.get("/no/such/route")
    client.request("BREW", "/health/live")
    after = client.get("/metrics", headers=operator).text
    assert _count(after, "GET", "/health/live", "200") - _count(before, "GET", "/health/live", "200") == 3
    assert _count(after, "GET", "unmatched", "404") - _count(before, "GET", "unmatched", "404") == 1
    assert sum(_count(after, "OTHER", r, s) - _count(before, "OTHER", r, s)
               for r in ("/health/live", "unmatched") for s in ("404", "405")) == 1
    assert 'method="BREW"' not in after


def test_health_reports_a_dead_database(services: Services) -> None:
    app = create_app(services=services)
    with TestClient(app, raise_server_exceptions=False) as c:
        services.engine.dispose()
        services.engine.pool._creator = lambda *a: (_ for _ in ()).throw(OSError("down"))  # type: ignore[attr-defined]
        _is_problem(c.get("/health"), 503, "database_unavailable")


def test_health_fails_readiness_when_the_schema_is_not_at_head(services: Services) -> None:
    with TestClient(create_app(services=services), raise_server_exceptions=False) as c:
        assert c.get("/health").status_code == 200
        with services.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
        body = _is_problem(c.get("/health"), 503, "schema_outdated")
        assert "creditgate db upgrade" in body["detail"]
