"""``/metrics`` counts refusals per route: it answers operator tokens only on the API
port, and anyone who can reach the separate listener (``CREDITGATE_METRICS_LISTEN``)."""

from __future__ import annotations

import urllib.request
from dataclasses import replace
from typing import Any

from litestar.testing import TestClient

from policies import Role
from service.http.app import create_app
from service.http.system import MetricsListener
from service.runtime import Services
from tests.http_helpers import assert_problem
from tests.service.identity.tokens import issue_token_for


def test_metrics_on_the_api_port_need_an_operator_token(http: TestClient[Any], services: Services) -> None:
    assert_problem(http.get("/metrics"), 401, "unauthorized")
    for role in (Role.INSTITUTION, Role.SUBJECT, Role.AUDITOR):
        assert_problem(http.get("/metrics", headers=issue_token_for(services, role).headers), 403, "forbidden_role")
    answer = http.get("/metrics", headers=issue_token_for(services, Role.OPERATOR).headers)
    assert answer.status_code == 200 and "creditgate_http_requests_total" in answer.text


def test_the_separate_listener_serves_metrics_without_a_token(services: Services) -> None:
    services.settings = replace(services.settings, metrics_listen=("127.0.0.1", 0))
    app = create_app(services=services)
    with TestClient(app, raise_server_exceptions=False) as http:
        http.get("/health/live")
        listener = app.metrics_listener
        assert listener is not None and listener.address is not None
        host, port = listener.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as scraped:
            body = scraped.read().decode()
        assert 'route="/health/live"' in body
    assert listener.address is None  # stopped with the app, the port released


def test_no_listener_without_an_address() -> None:
    listener = MetricsListener(None)
    listener.start()
    assert listener.address is None
    listener.stop()

