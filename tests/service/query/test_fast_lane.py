"""The fast lane answers POST /v1/queries exactly as the Litestar handler does.

Every request is sent to two apps over the same database: one with the lane
(the default) and one with ``fast_lane`` off, where Litestar's own handler,
guard and error handling answer. Status, problem code, media type and the
authentication challenge must agree; for successful queries, the report too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role
from service.http.app import create_app
from tests.service.identity.tokens import issue_token_for
from tests.service.query.conftest import Scene


@pytest.fixture
def plain(scene: Scene) -> Iterator[TestClient[Any]]:
    settings = replace(scene.services.settings, fast_lane=False)
    app = create_app(settings=settings, services=scene.services)
    assert app.fast_lane is None
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def _shape(resp: Any) -> tuple[Any, ...]:
    media = resp.headers.get("content-type", "").split(";")[0]
    body = resp.json()
    if resp.status_code == 200:
        report = dict(body["report"])
        for volatile in ("query_id", "audit_seq", "generated_at"):
            report.pop(volatile)
        report["consent"] = {k: v for k, v in report["consent"].items() if k != "uses"}
        return resp.status_code, media, report, "signature" in body
    return (resp.status_code, media, body["code"], "www-authenticate" in resp.headers,
            sorted(e["field"] for e in body.get("errors", [])))


def test_lane_and_litestar_agree_on_every_kind_of_request(scene: Scene, plain: TestClient[Any]) -> None:
    lane = scene.http
    assert lane.app.fast_lane is not None  # type: ignore[attr-defined]
    consent = scene.consent(max_queries=3)
    rivals = scene.consent(bank=scene.rival)
    narrow = issue_token_for(scene.services, Role.INSTITUTION, scope="consent:read").headers
    person = scene.person.headers
    good = {"consent_id": consent, "purpose": "loan_approval"}
    bank = scene.bank.headers
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, dict[str, str], Any]] = [
        ("query", bank, good),
        ("no token", {}, good),
        ("garbage token", {"Authorization": "Bearer not-a-token"}, good),
        ("not bearer", {"Authorization": "Basic abc"}, good),
        ("subject token", person, good),
        ("scope lacking", narrow, good),
        ("unknown field", bank, {**good, "extra": 1}),
        ("wrong type", bank, {"consent_id": 5, "purpose": "loan_approval"}),
        ("missing field", bank, {"consent_id": consent}),
        ("malformed json", {**bank, **json_type}, b"{not json"),
        ("empty body", {**bank, **json_type}, b""),
        ("oversized body", {**bank, **json_type}, b'{"consent_id": "' + b"a" * 70_000 + b'"}'),
        ("bad consent id", bank, {"consent_id": "../etc", "purpose": "loan_approval"}),
        ("unknown consent", bank, {"consent_id": "0" * 32, "purpose": "loan_approval"}),
        ("wrong purpose", bank, {"consent_id": consent, "purpose": "credit_card_approval"}),
        ("another's consent", bank, {"consent_id": rivals, "purpose": "loan_approval"}),
    ]
    for name, headers, body in cases:
        kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
        a = lane.post("/v1/queries", headers=headers, **kwargs)
        b = plain.post("/v1/queries", headers=headers, **kwargs)
        assert _shape(a) == _shape(b), name
        assert a.headers.get("x-request-id") and b.headers.get("x-request-id"), name
    # Three uses in all: one each for the two good queries, then the consent is exhausted on both paths.
    third = _shape(lane.post("/v1/queries", headers=bank, json=good))
    assert third[0] == 200
    assert _shape(plain.post("/v1/queries", headers=bank, json=good))[:3] == (403, "application/problem+json",
                                                                             "consent_exhausted")
