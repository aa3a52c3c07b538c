"""Assertions shared by the HTTP tests."""

from __future__ import annotations

from typing import Any


def assert_problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    """``resp`` is an RFC 9457 problem with this status and stable code; its body.
    A 401 also carries the RFC 6750 challenge."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    if status == 401:
        assert resp.headers["www-authenticate"].startswith('Bearer realm="creditgate"')
    return body
