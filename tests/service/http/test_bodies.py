"""One strict decoder for every JSON body: depth-limited, JSON media types only, and a
413 that closes the connection it did not read to the end. Over HTTP on both databases,
on every route that takes a JSON body, in the fast lane and through Litestar."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from policies import Role
from service.http.app import create_app
from service.http.body import MAX_JSON_DEPTH, too_deep
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for

JSON_ROUTES = [
    ("/v1/consent-requests", Role.INSTITUTION),
    ("/v1/me/consent-requests/{id}/grant", Role.SUBJECT),
    ("/v1/records", Role.PROVIDER),
    ("/v1/queries", Role.INSTITUTION),
    ("/v1/admin/institutions", Role.OPERATOR),
    ("/v1/admin/providers", Role.OPERATOR),
    ("/v1/admin/accounts", Role.OPERATOR),
    ("/v1/admin/guardianships", Role.OPERATOR),
    ("/v1/admin/clients", Role.OPERATOR),
]


def _deep(levels: int) -> bytes:
    return b'{"categories": ' + b"[" * levels + b"1" + b"]" * levels + b"}"


@pytest.fixture(params=[True, False], ids=["fast_lane", "litestar"])
def lanes(request: pytest.FixtureRequest, services: Services) -> Any:
    from dataclasses import replace

    services.settings = replace(services.settings, fast_lane=request.param)
    with TestClient(create_app(services=services), raise_server_exceptions=False) as c:
        yield c


def test_the_depth_check_ignores_brackets_inside_strings() -> None:
    assert not too_deep(b'{"reason": "' + b"[" * 500 + b'"}')
    assert not too_deep(b'{"reason": "\\"' + b"{" * 500 + b'"}')
    assert too_deep(_deep(MAX_JSON_DEPTH + 1)) and not too_deep(_deep(MAX_JSON_DEPTH - 1))


@pytest.mark.parametrize(("path", "role"), JSON_ROUTES, ids=[p for p, _ in JSON_ROUTES])
def test_deeply_nested_json_is_400_malformed_body(lanes: TestClient[Any], services: Services, path: str,
                                                  role: Role) -> None:
    headers = {**issue_token_for(services, role).headers, "Content-Type": "application/json"}
    target = path.replace("{id}", uuid.uuid4().hex)
    for body in (_deep(1000), b'{"jwk": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001):
        assert_problem(lanes.post(target, content=body, headers=headers), 400, "malformed_body")


@pytest.mark.parametrize(("path", "role"), JSON_ROUTES, ids=[p for p, _ in JSON_ROUTES])
def test_bodies_not_sent_as_json_are_415(lanes: TestClient[Any], services: Services, path: str, role: Role) -> None:
    headers = issue_token_for(services, role).headers
    target = path.replace("{id}", uuid.uuid4().hex)
    for content_type, body in (("text/plain", b'{"purpose": "loan_approval"}'),
                               ("application/x-www-form-urlencoded", b"purpose=loan_approval"),
                               ("application/xml", b"<purpose>loan_approval</purpose>"),
                               ("multipart/form-data; boundary=x", b"--x\r\n\r\n{}\r\n--x--\r\n"),
                               (None, b'{"purpose": "loan_approval"}')):
        sent = {**headers, "Content-Type": content_type} if content_type else headers
        assert_problem(lanes.post(target, content=body, headers=sent), 415, "unsupported_media_type")


def test_json_media_types_with_parameters_and_suffixes_are_accepted(http: TestClient[Any], services: Services) -> None:
    bank = issue_token_for(services, Role.INSTITUTION)
    for content_type in ("application/json; charset=utf-8", "application/problem+json"):
        resp = http.post("/v1/queries", content=b'{"consent_id": "' + uuid.uuid4().hex.encode() + b'", "purpose": '
                         b'"loan_approval"}', headers={**bank.headers, "Content-Type": content_type})
        assert_problem(resp, 403, "consent_not_held")


def test_an_unread_oversized_body_closes_the_connection(lanes: TestClient[Any], services: Services) -> None:
    limit = services.settings.max_body_bytes
    for path, role in (("/v1/queries", Role.INSTITUTION), ("/v1/admin/institutions", Role.OPERATOR)):
        headers = {**issue_token_for(services, role).headers, "Content-Type": "application/json"}
        resp = lanes.post(path, content=b" " * (limit + 1), headers=headers)
        assert_problem(resp, 413, "payload_too_large")
        assert resp.headers["connection"] == "close"
