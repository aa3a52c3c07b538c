"""A bounded schemathesis run over the whole API: no generated request gets a 5xx.

Every operation of the service's own OpenAPI document is called with requests
generated from it (valid and invalid shapes alike), with a token of a role the
route admits and without one, on both databases. Bounded: a fixed number of
examples per operation, derandomised, so the run is repeatable and short.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from policies import Role
from service.http.app import create_app
from service.runtime import Services
from tests.service.identity.tokens import issue_token_for

EXAMPLES_PER_OPERATION = 12
# Which role's token goes with a path; anything else is called without one.
_ROLE_BY_PREFIX = (
    ("/v1/admin/", Role.OPERATOR), ("/metrics", Role.OPERATOR), ("/v1/me/", Role.SUBJECT),
    ("/v1/records", Role.PROVIDER), ("/v1/consent", Role.INSTITUTION), ("/v1/queries", Role.INSTITUTION),
)


def test_no_generated_request_gets_a_server_error(services: Services) -> None:
    app = create_app(services=services)
    tokens = {role: issue_token_for(services, role).headers for role in {r for _, r in _ROLE_BY_PREFIX}}
    failures: list[str] = []
    # The services are started by their fixture; the schemathesis client calls the app directly.
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the document should list every route"
    for operation in operations:
        role = next((r for prefix, r in _ROLE_BY_PREFIX if operation.path.startswith(prefix)), None)
        _exercise(operation, tokens[role] if role is not None else {}, failures)
    assert failures == []


def _exercise(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """Call ``operation`` with generated cases, with the token and without one."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def exercise(case: Any) -> None:
        for sent in (headers, {}):
            response = case.call(headers=sent)
            if response.status_code >= 500:
                failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code} "
                                f"{response.text[:200]}")

    exercise()
